"""A hostile supplier against the publishing step: markup, formulas, keys and 9-digit numbers.

Every free-text field a supplier controls (programmes.yaml: programme ids, names, descriptors,
fidelity_targets keys; extract.yaml fields; codes and notes; column headers and file names) is
planted with an HTML payload and spreadsheet formulas, and the outputs are built with the real
functions. Expected, for every payload and field:

- HTML: parsed with :mod:`html.parser`, no ``img`` or ``script`` element comes from the payload
  and no element has an ``on*`` attribute (escaped text is fine);
- CSV (and the results store): no cell starts with ``=``, ``+``, ``-``, ``@``, tab or CR unless
  neutralised with a leading apostrophe; a plain number such as ``-0.5`` stays a number.

Also: keys that do not look random are refused, publish never records the hash of a key-named
file, and the identifier scan reads manifest numbers with their context and says where and why.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _intake_fixtures import copy_clean, read_text_table, write_text_table  # noqa: E402
from test_fidelity import CUTOFF, PROGRAMMES, _tables  # noqa: E402

from evaluation.analyses.fidelity import fidelity_table  # noqa: E402
from evaluation.contract.identifiers import is_bsn  # noqa: E402
from evaluation.contract.results import make_results  # noqa: E402
from evaluation.intake import pseudonymise as ps  # noqa: E402
from evaluation.publish.cells import DisclosureError  # noqa: E402
from evaluation.publish.fidelity_outputs import fidelity_outputs  # noqa: E402
from evaluation.publish.identifiers import assert_no_identifiers, scan_outputs  # noqa: E402
from evaluation.publish.labels import html_table  # noqa: E402
from evaluation.publish.report import render_html  # noqa: E402
from evaluation.publish.safe_html import inert_notebook, sanitise_html  # noqa: E402
from evaluation.publish.site import build_site  # noqa: E402
from evaluation.publish.writer import (  # noqa: E402
    publish_outputs,
    write_json,
    write_notebook,
    write_parquet,
    write_table,
)

IMG = "<img src=x onerror=alert(1)>"
PAYLOADS = [IMG, "<script>alert(1)</script>", '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)",
            "-2+3", "\t=1+1", "\r=1+1"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d*)?(?:[eE][+-]?\d+)?$")


# --------------------------------------------------------------------------- checks


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text.append(data)


def live_html(text: str, strict: bool = True) -> list[str]:
    """Live elements and handlers in ``text``.

    ``strict``: no ``img`` or ``script`` element at all (site pages, tables), except the site's own figure:
    an ``img`` whose ``src`` is a relative, percent-encoded ``./NAME.png`` written by the publisher. Otherwise (a rendered
    notebook, whose template carries its own scripts and whose figures are ``data:`` images): no
    image from anywhere but a ``data:image/`` URI and no script holding the payload.
    """
    p = _Elements()
    p.feed(text)
    p.close()
    bad = []
    for tag, attrs in p.elements:
        bad += [f"<{tag} {a}=...>" for a in attrs if a.lower().startswith("on")]
        bad += [f"<{tag} {a}='{v}'>" for a, v in attrs.items() if a in ("href", "src") and v
                and re.match(r"\s*(?:javascript|vbscript|data:text)", v, re.IGNORECASE)]
        site_figure = tag == "img" and re.fullmatch(r"\./[A-Za-z0-9%._-]+\.png", str(attrs.get("src") or ""))
        if tag in ("img", "script", "iframe", "object", "embed") and strict and not site_figure:
            bad.append(f"<{tag}>")
        elif tag == "img" and not site_figure and not str(attrs.get("src") or "").startswith("data:image/"):
            bad.append(f"<img src={attrs.get('src')!r}>")
    if not strict:
        bad += [f"<script>{s[:40]}" for s in p.script_text if "alert(" in s]
    return bad


def formula_cells(cells) -> list[str]:
    """Text cells a spreadsheet would evaluate (plain numbers such as -0.5 are fine)."""
    return [c for c in cells if isinstance(c, str) and c.startswith(FORMULA_START) and not PLAIN_NUMBER.match(c)]


def csv_cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh) for c in row]


def all_csv_cells(folder: Path) -> dict[str, list[str]]:
    return {str(p.relative_to(folder)): formula_cells(csv_cells(p)) for p in sorted(folder.rglob("*.csv"))}


def test_the_checks_catch_what_they_look_for():
    assert live_html(f"<p>{IMG}</p>") and live_html("<p onclick='x'>a</p>") and live_html("<a href='javascript:x'>")
    assert not live_html("<p>&lt;img src=x onerror=alert(1)&gt;</p>")
    assert formula_cells(["=1", "-2+3", "@SUM(1)", "\t=1", "'=1", "-0.5", "+3", "x"]) == ["=1", "-2+3", "@SUM(1)", "\t=1"]


# --------------------------------------------------------------------------- the fields, one by one


def _results(**text) -> pd.DataFrame:
    row = {"programme_id": "P1", "analysis": "fidelity", "estimand": "share", "group": "programme",
           "estimate": -0.5, "ci_lower": -0.9, "ci_upper": 0.1, "n": 40, "events": 20, "causal": False,
           "method": "wilson", "note": ""}
    return make_results([row | text])


def _index(folder: Path, programme_id: str = "P1", names: dict | None = None) -> str:
    """Every page of the quarter site (overview, programme summary, detail page), joined."""
    jobs = [{"programme_id": programme_id, "notebook": "nb", "title": "t", "folder": "job", "status": "ok",
             "error": ""}]
    build_site(folder, "2026Q3", jobs, language="en", programme_names=names)
    pages = sorted(folder.rglob("index.html"))
    assert len(pages) >= 3, pages  # overview, programme summary and detail page
    return "".join(p.read_text(encoding="utf-8") for p in pages)


def _fidelity_key(payload, out):
    progs = copy.deepcopy(PROGRAMMES)
    progs[0]["fidelity_targets"] = {**progs[0]["fidelity_targets"], payload: 0.5}
    outputs = fidelity_outputs(fidelity_table(_tables(), progs, CUTOFF), out / "job", language="en")
    return [html_table(outputs["table"], "en").to_html(), _index(out)]


def _programme_id(payload, out):
    publish_outputs(out / "job", _results(programme_id=payload),
                    {"status": "ok", "title": "t", "sentences": ["s"]}, {"per_programme": _results(programme_id=payload)})
    return [_index(out, programme_id=payload), html_table(_results(programme_id=payload), "en").to_html()]


def _programme_name(payload, out):
    publish_outputs(out / "job", _results(), {"status": "ok", "title": "t", "sentences": ["s"]})
    return [_index(out, names={"P1": payload})]


def _descriptor(payload, out):
    # descriptors (organisation, TIDieR items) reach outputs as table cells
    table = pd.DataFrame({"programme_id": ["P1"], "organisation": [payload], "brief_name": [payload], "n": [40]})
    publish_outputs(out / "job", _results(), {"status": "ok", "title": "t", "sentences": ["s"]}, {"programmes": table})
    return [html_table(table, "en").to_html(), _index(out)]


def _code_and_note(payload, out):
    # a code or a note that reached a results row: results.csv, the index table
    publish_outputs(out / "job", _results(group=payload, note=payload, endpoint=payload, estimand=payload),
                    {"status": "warning", "title": payload, "sentences": [payload]})
    return [_index(out), html_table(_results(group=payload, note=payload), "en").to_html()]


def _column_header(payload, out):
    table = pd.DataFrame({payload: [payload], "n": [40]})
    publish_outputs(out / "job", _results(), {"status": "ok", "title": "t", "sentences": ["s"]}, {"issues": table})
    return [html_table(table, "en").to_html(), _index(out)]


def _file_name(payload, out):
    if "/" in payload:
        pytest.skip("a file name cannot hold '/'")
    publish_outputs(out / "job", _results(), {"status": "ok", "title": "t", "sentences": ["s"]},
                    {f"issues_{payload}": pd.DataFrame({"file": [f"{payload}.csv"], "n": [40]})})
    return [_index(out)]


FIELDS = {
    "fidelity_targets key": _fidelity_key,
    "programme_id": _programme_id,
    "programme name": _programme_name,
    "programme descriptor": _descriptor,
    "code, note, headline": _code_and_note,
    "column header": _column_header,
    "file name": _file_name,
}


@pytest.mark.parametrize("payload", PAYLOADS, ids=["img", "script", "hyperlink", "dde", "at", "minus", "tab", "cr"])
@pytest.mark.parametrize("field", list(FIELDS))
def test_payload_in_every_field_is_inert(field, payload, tmp_path):
    pages = FIELDS[field](payload, tmp_path)
    for page in pages:
        assert live_html(page) == [], (field, page[:400])
    cells = all_csv_cells(tmp_path)
    assert cells and all(v == [] for v in cells.values()), cells
    # the payload is still there, as text: in a CSV cell behind an apostrophe, or escaped on a page
    published = "".join("".join(csv_cells(p)) for p in tmp_path.rglob("*.csv"))
    published += "".join(html.unescape(page) for page in pages)
    if field != "file name":
        assert payload.replace("\r", "\n") in published or payload in published


def test_results_store_partition_is_neutralised_and_numbers_stay(tmp_path):
    df = _results(programme_id="=HYPERLINK(\"http://x\",\"y\")", group="@SUM(1)", note="-2+3")
    df["quarter"], df["run_id"] = "2026Q3", "r1"
    write_parquet(tmp_path / "part.parquet", df)
    back = pd.read_parquet(tmp_path / "part.parquet")
    assert back.loc[0, "programme_id"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert back.loc[0, "group"] == "'@SUM(1)" and back.loc[0, "note"] == "'-2+3"
    assert back.loc[0, "estimate"] == -0.5 and back.loc[0, "ci_lower"] == -0.9  # numbers untouched
    assert formula_cells(back.astype(str).to_numpy().ravel().tolist()) == []


def test_plain_negative_numbers_stay_numbers_in_csv(tmp_path):
    write_table(tmp_path / "t.csv", pd.DataFrame({"a": ["-0.5", "-2+3", "-1e-3"], "b": [-0.5, 1.0, 2.0]}))
    assert csv_cells(tmp_path / "t.csv") == ["a", "b", "-0.5", "-0.5", "'-2+3", "1.0", "-1e-3", "2.0"]


def test_categorical_text_is_neutralised(tmp_path):
    write_table(tmp_path / "t.csv", pd.DataFrame({"a": pd.Categorical(["=1+1", "x"])}))
    assert csv_cells(tmp_path / "t.csv") == ["a", "'=1+1", "x"]


def test_index_links_to_a_programme_folder_stay_relative(tmp_path):
    (tmp_path / "javascript:alert").mkdir()
    publish_outputs(tmp_path / "javascript:alert" / "nb", _results(), {"status": "ok", "title": "t", "sentences": ["s"]},
                    {"t": pd.DataFrame({"n": [40]})})
    jobs = [{"programme_id": "javascript:alert", "notebook": "nb", "title": "t", "folder": "javascript:alert/nb",
             "status": "ok", "error": ""}]
    page = build_site(tmp_path, "2026Q3", jobs, language="en").read_text(encoding="utf-8")
    page += (tmp_path / "javascript:alert" / "nb" / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r"""href=['"]([^'"]*)['"]""", page)
    assert "./javascript%3Aalert/index.html" in hrefs and "./t.csv" in hrefs
    assert not any(h.lower().startswith("javascript") for h in hrefs)


# --------------------------------------------------------------------------- notebook outputs


def test_raw_html_and_markdown_outputs_are_rebuilt_inert(tmp_path):
    """Defence in depth: even a notebook output that is raw HTML or Markdown (not an escaped table)
    reaches report.html without a live element."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": f"<table><tr><td onclick='x()'>{IMG}</td></tr>"
                                                                  "</table><script>alert(1)</script>",
                                                     "text/plain": "t"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": f"**{IMG}**", "text/plain": "m"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": "j"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Report"), cell]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    page = render_html(tmp_path / "nb.ipynb", tmp_path / "report.html", language="en").read_text(encoding="utf-8")
    assert live_html(page, strict=False) == []
    assert "onerror" not in page.replace("onerror=alert(1)&gt;", "")  # only as escaped text, if at all


def test_published_notebook_copy_has_inert_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": f"<p>{IMG}</p>", "text/plain": "t",
                                                                 "application/javascript": "alert(1)"})]
    nb.cells = [cell]
    out = json.loads(inert_notebook(nbformat.writes(nb)))
    assert json.loads(write_notebook(tmp_path / "notebook.ipynb", nbformat.writes(nb)).read_text(encoding="utf-8")) == out
    data = out["cells"][0]["outputs"][0]["data"]
    assert data == {"text/html": "<p></p>", "text/plain": ["t"]}  # nbformat stores text as a list of lines
    nbformat.validate(nbformat.from_dict(out))


def test_sanitise_html_keeps_tables_and_drops_the_rest():
    assert sanitise_html('<td class="x" onclick="f()">a &lt; b<img src=x onerror=alert(1)></td>') == '<td class="x">a &lt; b</td>'
    assert sanitise_html("<p>1<script>alert(1)</script>2<svg><script>x</script></svg>3</p>") == "<p>123</p>"
    assert sanitise_html("<a href='javascript:x'>link</a>") == "link"
    assert sanitise_html("<style>td{color:red}</style>") == "<style>td{color:red}</style>"


def test_data_quality_report_of_a_hostile_intake(tmp_path):
    """End to end: payloads in programmes.yaml (name, organisation, fidelity_targets key), extract.yaml
    (supplier, notes), an unknown column header, an unknown file and a code; the data-quality notebook
    runs and neither its report nor its CSV files carry a live element or a formula."""
    import papermill as pm

    folder = copy_clean(tmp_path)
    progs = yaml.safe_load((folder / "programmes.yaml").read_text(encoding="utf-8"))
    progs["programmes"][0]["name"] = IMG
    progs["programmes"][0]["organisation"] = '=HYPERLINK("http://x","y")'
    progs["programmes"][0]["fidelity_targets"] = {IMG: 0.5, "+cmd|' /C calc'!A0": 0.5}
    (folder / "programmes.yaml").write_text(yaml.safe_dump(progs), encoding="utf-8")
    extract = yaml.safe_load((folder / "extract.yaml").read_text(encoding="utf-8"))
    extract |= {"supplier": IMG, "notes": "@SUM(1) " + IMG}
    (folder / "extract.yaml").write_text(yaml.safe_dump(extract), encoding="utf-8")
    contacts = read_text_table(folder, "contacts")
    contacts[IMG] = "=1+1"
    contacts["=HYPERLINK(\"http://x\",\"y\")"] = "x"
    write_text_table(folder, "contacts", contacts)
    participants = read_text_table(folder, "participants")
    code_col = next(c for c in ("risk_level", "sex") if c in participants.columns)
    participants.loc[0, code_col] = IMG
    write_text_table(folder, "participants", participants)
    (folder / f"{IMG}.csv").write_text("a\n1\n", encoding="utf-8")

    nb_path = Path(__file__).resolve().parent.parent / "evaluation" / "pipeline" / "notebooks" / "00_data_quality.ipynb"
    out = tmp_path / "out"
    pm.execute_notebook(str(nb_path), str(tmp_path / "executed.ipynb"), kernel_name="python3", progress_bar=False,
                        cwd=str(nb_path.parent),
                        parameters={"intake_dir": str(folder), "output_dir": str(out), "language": "en"})
    shown = json.dumps(nbformat.read(tmp_path / "executed.ipynb", 4).dict())
    assert "onerror" in shown  # the premise: payloads reach the displayed tables
    page = render_html(tmp_path / "executed.ipynb", tmp_path / "report.html", language="en").read_text(encoding="utf-8")
    assert live_html(page, strict=False) == []
    cells = all_csv_cells(out)
    assert cells and all(v == [] for v in cells.values()), cells


# --------------------------------------------------------------------------- D6: keys


def _key_file(tmp_path: Path, content: bytes, name: str = "k.key") -> Path:
    d = tmp_path / "keys"
    d.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    return d / name


@pytest.mark.parametrize(("content", "reason"), [
    (b"00" * 32, "every byte is 0x00"),
    (b"ff" * 32 + b"\n", "every byte is 0xff"),
    (b"\x00" * 32, "every byte is 0x00"),
    (b"deadbeef" * 8, "only 4 distinct byte values"),
    ("".join(f"{i:02x}" for i in range(32)).encode(), "a counting sequence"),
    (bytes([7, 201, 33, 90, 14, 250, 61, 128, 177, 3, 99, 45, 212, 160, 81, 19]) * 3, "a pattern of 16 bytes repeated"),
    (b"correct horse battery staple and more words", "printable text, like a passphrase"),
    (b"geheim", "6 bytes, fewer than 32|at least 32"),
])
def test_weak_keys_are_refused_with_the_reason(tmp_path, content, reason):
    key = _key_file(tmp_path, content)
    with pytest.raises(ValueError, match=reason) as exc:
        ps.load_key(key)
    assert "secrets.token_hex(32)" in str(exc.value)


def test_random_keys_are_accepted(tmp_path):
    import secrets

    assert len(ps.load_key(_key_file(tmp_path, secrets.token_hex(32).encode() + b"\n", "hex.key"))) == 32
    raw = secrets.token_bytes(48)
    while raw.decode("latin-1").isprintable() or raw != raw.strip():  # pragma: no cover - p < 1e-20
        raw = secrets.token_bytes(48)
    assert ps.load_key(_key_file(tmp_path, raw, "bin.key")) == raw


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("pseudonym.key", b"anything", "its name"),
    ("sleutel.txt", b"x", "its name"),
    ("notes.txt", b"4f" * 20 + b"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4\n", "hex characters"),
    ("blob.txt", b"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83=\n", "base64"),
    ("id_ed25519", b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "PEM"),
    ("contacts.csv", b"contact_id,match_id\nC1,M1\n", None),
])
def test_looks_like_key_file(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    why = ps.looks_like_key_file(tmp_path / name)
    assert (why is None) if expected is None else (expected in why)


def test_publish_never_writes_the_hash_of_a_key_named_file(tmp_path):
    manifest = {"intake": {"files": [{"file": "contacts.csv", "bytes": 10, "sha256": "ab" * 32},
                                     {"file": "sub/pseudonym.key", "bytes": 65, "sha256": "cd" * 32}]}}
    with pytest.raises(DisclosureError, match=r"\$\.intake\.files\[1\] \(sub/pseudonym\.key\)"):
        write_json(tmp_path / "manifest.json", manifest)
    assert not (tmp_path / "manifest.json").exists()
    del manifest["intake"]["files"][1]
    write_json(tmp_path / "manifest.json", manifest)  # other files keep their hash


# --------------------------------------------------------------------------- D8: 9-digit numbers in a manifest


def test_file_size_passing_the_eleven_test_is_no_finding(tmp_path):
    size = 123456782
    # hand-worked eleven-test: 9*1+8*2+7*3+6*4+5*5+4*6+3*7+2*8-1*2 = 154 = 14 * 11
    assert sum(w * int(d) for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2, -1), str(size), strict=True)) == 154 == 14 * 11
    assert is_bsn(str(size))
    manifest = {"intake": {"files": [{"file": "contacts.csv", "bytes": size, "size": size, "sha256": "ab" * 32}]},
                "reconciliation": [{"table": "contacts", "rows_read": size, "rows_accepted": size}],
                "duration_seconds": size, "privacy_scan": {"identifier_values": size}}
    write_json(tmp_path / "manifest.json", manifest)
    assert scan_outputs(tmp_path, {}).empty
    assert_no_identifiers(tmp_path, {})


def test_bsn_like_value_in_free_text_is_found_with_its_key_path(tmp_path):
    manifest = {"intake": {"folder": "2026Q3", "files": [{"file": "contacts.csv", "bytes": 123456782}],
                           "supplier": "Stichting X, dossier 123456782"},
                "bsn": 123456782}
    write_json(tmp_path / "manifest.json", manifest)
    found = scan_outputs(tmp_path, {})
    assert found[["file", "identifier_kind", "value", "location"]].values.tolist() == [
        ["manifest.json", "bsn_like", "12*******", "key $.bsn"],
        ["manifest.json", "bsn_like", "12*******", "key $.intake.supplier"],
    ]
    with pytest.raises(DisclosureError) as exc:
        assert_no_identifiers(tmp_path, {})
    assert ("manifest.json: 2 x bsn_like (a 9-digit number that passes the BSN eleven-test) "
            "at key $.bsn, key $.intake.supplier") in str(exc.value)
    assert "123456782" not in str(exc.value)


def test_json_that_does_not_parse_is_scanned_as_text(tmp_path):
    (tmp_path / "broken.json").write_text('{"size": 123456782,\n', encoding="utf-8")
    found = scan_outputs(tmp_path, {})
    assert found[["identifier_kind", "location"]].values.tolist() == [["bsn_like", "line 1"]]


def test_identifiers_of_the_intake_are_found_in_json_keys_and_values(tmp_path):
    (tmp_path / "headline.json").write_text(json.dumps({"P-5d81ba3013ca75f5": 1, "s": ["case P-5d81ba3013ca75f5"]}))
    found = scan_outputs(tmp_path, {"participant_id": {"P-5d81ba3013ca75f5"}})
    assert sorted(found["location"]) == ["key $.P-5d81ba3013ca75f5", "key $.s[0]"]


def test_csv_written_through_the_door_parses_back(tmp_path):
    # the apostrophe is the only change: the neutralised text reads back exactly
    df = pd.DataFrame({"a": PAYLOADS})
    write_table(tmp_path / "t.csv", df)
    back = pd.read_csv(io.StringIO((tmp_path / "t.csv").read_text(encoding="utf-8")), dtype=str, keep_default_na=False)
    assert [v[1:] if v.startswith("'") else v for v in back["a"]] == [v.replace("\r", "\n") for v in PAYLOADS]


def test_a_carriage_return_inside_a_cell_starts_no_row(tmp_path):
    write_table(tmp_path / "t.csv", pd.DataFrame({"a": ["x\r=2+2", "y\r\n@SUM(1)"], "b": [1, 2]}))
    rows = list(csv.reader(io.StringIO((tmp_path / "t.csv").read_text(encoding="utf-8"))))
    assert rows == [["a", "b"], ["x\n=2+2", "1"], ["y\n@SUM(1)", "2"]]
