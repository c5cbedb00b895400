"""Reports in one language: the prose of the data-quality, retention, fidelity and trends notebooks
comes in lang-en / lang-nl twin cells, their tables go through labels.html_table (labelled, HTML-escaped), and the
display helpers behind them (store.changes_excluding_no_change, the fidelity figure and headline)
speak the report's language.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from evaluation.contract.results import make_results
from evaluation.pipeline import store
from evaluation.publish import fidelity_outputs

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ["00_data_quality", "20_retention", "30_fidelity", "60_trends"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_prose_cells_are_language_twins(name):
    """Every markdown cell is tagged lang-en and directly followed by its lang-nl twin with the same
    heading level, so each report shows the whole text in one language and nothing twice."""
    nb = nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)
    cells = nb.cells
    md = [i for i, c in enumerate(cells) if c.cell_type == "markdown"]
    assert md, name
    for i in md:
        tags = cells[i].metadata.get("tags", [])
        assert tags in (["lang-en"], ["lang-nl"]), (name, i, tags)
        if tags == ["lang-en"]:
            twin = cells[i + 1]
            assert twin.cell_type == "markdown" and twin.metadata.get("tags") == ["lang-nl"], (name, i)
            level = lambda s: [len(m) for m in re.findall(r"^(#+) ", s, flags=re.M)]  # noqa: E731
            assert level(cells[i].source) == level(twin.source), (name, i)
            assert cells[i].source != twin.source
        else:
            assert cells[i - 1].metadata.get("tags") == ["lang-en"], (name, i)
    # no bilingual headings left ("Dutch / English")
    for i in md:
        for heading in re.findall(r"^#+ (.*)$", cells[i].source, flags=re.M):
            assert " / " not in heading, (name, heading)
    # every table the notebook shows is relabelled for the reader
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "html_table(" in code and "display_table(" not in code, name  # labelled and HTML-escaped
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c.cell_type == "code")


def test_changes_excluding_no_change_hand_worked():
    """Differences are compared with 0, ratios (hazard_ratio) with 1; a missing limit is never selected."""
    ch = make_results([
        {"estimand": "change_retention_12m", "estimate": -0.10, "ci_lower": -0.18, "ci_upper": -0.02},  # < 0
        {"estimand": "change_retention_12m", "estimate": -0.05, "ci_lower": -0.12, "ci_upper": 0.02},  # spans 0
        {"estimand": "change_hazard_ratio", "estimate": 0.80, "ci_lower": 0.70, "ci_upper": 0.95},  # < 1
        {"estimand": "change_hazard_ratio", "estimate": 0.90, "ci_lower": 0.20, "ci_upper": 0.99},  # < 1 but > 0
        {"estimand": "change_hazard_ratio", "estimate": 1.10, "ci_lower": 0.90, "ci_upper": 1.30},  # spans 1
        {"estimand": "change_share_completed", "estimate": 0.03, "ci_lower": 0.01, "ci_upper": float("nan")},
    ])
    got = store.changes_excluding_no_change(ch)
    assert got.index.tolist() == [0, 2, 3]
    assert store.changes_excluding_no_change(ch.iloc[0:0]).empty


def test_fidelity_figure_and_headline_in_words():
    table = pd.DataFrame([
        {"programme_id": "P1", "indicator": "supervision_in_time", "target": 1.0,
         "target_source": "programme description", "observed": 0.5, "ci_lower": 0.3, "ci_upper": 0.7,
         "numerator": 10, "n": 20, "unit": "share", "meets_target": False, "note": ""},
    ])
    head = fidelity_outputs.fidelity_headline(table, "nl")
    # 0.5 against 1.0: 50% observed, target 100%; the indicator is named in words, not by its code
    assert "Het verst onder het doel: vrijwilligers op tijd begeleid bij P1 (50% gemeten tegen een doel van 100%)." \
        in head["sentences"]
    assert "volunteers supervised in time in P1" in " ".join(fidelity_outputs.fidelity_headline(table, "en")["sentences"])
    fig = fidelity_outputs.plot_fidelity(table, "t", "x", language="nl")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gemeten", "doel"]
    assert ax.get_yticklabels()[0].get_text() == "P1 - vrijwilligers op tijd begeleid"
    machine = fidelity_outputs.plot_fidelity(table).axes[0]  # no language: machine names, as before
    assert machine.get_yticklabels()[0].get_text() == "P1 - supervision_in_time"


def test_quality_headline_counts_with_thousands_separator():
    """Hand-worked: 12,000 of 12,345 rows accepted = 97.205% -> 97.2 (one decimal); 1,234 warnings."""
    from types import SimpleNamespace

    from evaluation.publish import quality_outputs

    rec = pd.DataFrame({"table": ["contacts", "matches"], "rows_read": [12000, 345], "rows_accepted": [11700, 300],
                        "rows_quarantined": [300, 45], "blocking": [False, False]})
    counts = pd.DataFrame({"table": ["contacts"], "rule": ["enum"], "severity": ["error"], "n_issues": [1500],
                           "n_rows": [1300]})
    result = SimpleNamespace(reconciliation=rec, ok=False, blocking=False, counts_by_rule=lambda: counts,
                             issues_all=pd.DataFrame({"severity": ["warning"] * 1234}), language="nl")
    nl = quality_outputs.quality_headline(result, language="nl")["sentences"]
    assert nl[0] == "Van de 12.345 aangeleverde rijen in 2 tabellen zijn er 12.000 (97,2%) goedgekeurd en 345 in quarantaine geplaatst."
    assert "Meest voorkomende fout: enum in contacts (1.300 rijen)." in nl and "1.234 waarschuwingen (rijen wel gebruikt)." in nl
    en = quality_outputs.quality_headline(result, language="en")["sentences"]
    assert en[0] == "Of 12,345 rows delivered in 2 tables, 12,000 (97.2%) passed validation and 345 were quarantined."
