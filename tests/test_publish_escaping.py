"""Supplier-controlled text reaching a report: HTML escaped, CSV formulas neutralised, figures literal.

A data supplier controls column headers, codes, programme ids and the keys of ``fidelity_targets``
in programmes.yaml. Each test plants such text and checks the published artefact: no live HTML
element (escaped text is fine), no spreadsheet formula, and a figure that draws ``$...$`` as text.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _intake_fixtures import copy_clean, read_text_table, write_text_table  # noqa: E402
from test_fidelity import CUTOFF, PROGRAMMES, _tables  # noqa: E402

from evaluation.analyses.fidelity import fidelity_table  # noqa: E402
from evaluation.publish.fidelity_outputs import fidelity_outputs  # noqa: E402
from evaluation.publish.labels import html_table  # noqa: E402

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
LIVE = re.compile(r"<(img|script)\b", re.IGNORECASE)


def _programmes_with_key(key: str) -> list[dict]:
    progs = copy.deepcopy(PROGRAMMES)
    progs[0]["fidelity_targets"] = {**progs[0]["fidelity_targets"], key: 0.5}
    return progs


def test_html_table_escapes_headers_and_cells():
    html = html_table(pd.DataFrame({IMG: [SCRIPT], "note": ["ok"]}), "en").to_html()
    assert not LIVE.search(html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;" in html


def test_fidelity_target_key_is_escaped_neutralised_and_drawn_literally(tmp_path):
    for key, name in ((SCRIPT, "script"), ('=HYPERLINK("x")', "formula"), (r"$\undefinedmacro$", "mathtext")):
        table = fidelity_table(_tables(), _programmes_with_key(key), CUTOFF)
        out = tmp_path / name
        outputs = fidelity_outputs(table, out, language="nl")  # draws and saves the figure: must not raise
        assert (out / "fidelity.png").stat().st_size > 1000
        published = pd.read_csv(out / "fidelity_table.csv", dtype=str)
        if name == "formula":
            # the cell starts with an apostrophe: no spreadsheet evaluates it
            assert "'=HYPERLINK(\"x\")" in set(published["indicator"])
            assert not published["indicator"].str.startswith("=").any()
        else:
            assert key in set(published["indicator"])
        html = html_table(outputs["table"], "nl").to_html()
        assert not LIVE.search(html)


def test_unknown_column_header_is_not_a_live_element_in_the_data_quality_report(tmp_path):
    """End to end: an intake whose contacts.csv has an unknown column named like an HTML element; the
    data-quality notebook runs and its rendered report shows the name as text."""
    import papermill as pm

    from evaluation.publish.report import render_html

    folder = copy_clean(tmp_path)
    contacts = read_text_table(folder, "contacts")
    contacts[IMG] = "x"
    write_text_table(folder, "contacts", contacts)
    nb_path = Path(__file__).resolve().parent.parent / "evaluation" / "pipeline" / "notebooks" / "00_data_quality.ipynb"
    executed = tmp_path / "executed.ipynb"
    pm.execute_notebook(str(nb_path), str(executed), kernel_name="python3", progress_bar=False,
                        cwd=str(nb_path.parent),
                        parameters={"intake_dir": str(folder), "output_dir": str(tmp_path / "out"), "language": "en"})
    shown = "".join(str(o.get("data", {}).get("text/html", "")) for c in nbformat.read(executed, 4).cells
                    if c.cell_type == "code" for o in c.get("outputs", []))
    assert "onerror" in shown  # the premise: the header reaches a displayed table
    html = render_html(executed, tmp_path / "report.html", language="en").read_text(encoding="utf-8")
    assert not re.search(r"<img[^>]*onerror", html, re.IGNORECASE)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("text", [SCRIPT, r"$\undefinedmacro$"])
def test_completeness_heatmap_and_km_labels_are_literal(text, tmp_path):
    from evaluation.publish.figures import plot_km
    from evaluation.publish.quality_outputs import completeness_heatmap
    from evaluation.publish.writer import write_figure

    comp = pd.DataFrame({"table": ["contacts"], "field": [text], "programme_id": [text], "share_filled": [0.5]})
    write_figure(tmp_path, "heat", completeness_heatmap(comp, "nl"))
    km = pd.DataFrame({"programme_id": text, "time": range(1, 41), "event": [1] * 20 + [0] * 20})
    write_figure(tmp_path, "km", plot_km(km, title=text))
    assert (tmp_path / "km.png").stat().st_size > 1000
