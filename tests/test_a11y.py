"""Accessibility of the published pages: axe-core (WCAG 2.1 A and AA rules and its best-practice rules)
in headless Chromium, through tests/a11y.py. Skipped when no Chromium is installed.

The harness is checked on two hand-made pages (a page with known defects must show them, a clean
page none). The quarter test builds a small quarter from the fixture notebooks of tests/test_run.py
(fake validator, tiny intake) and runs axe over every page a reader opens (the audit trail
``report.html`` excepted): issue 18 asks for 0 violations. The real pages of a generated quarter
are checked the same way in tests/test_unseen_seeds.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import a11y  # noqa: E402

from evaluation.pipeline import quarter  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
sys.path.insert(0, str(FIXTURES))
from fake_validator import fake_validate  # noqa: E402

needs_chromium = pytest.mark.skipif(a11y.find_chromium() is None, reason="no Chromium on this machine "
                                    "(install chromium or set $CHROMIUM to run axe-core)")

BAD = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body>
<img src="a.png"><table><tr><th></th><td>1</td></tr></table><p style="color:#f0a000">oranje tekst</p></body></html>"""
CLEAN = """<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"><title>MENT-RDM, 2026Q3</title></head><body>
<main><h1>Maatje na detentie Rijnmond</h1><p>Deelnemers hadden minder vaak een nieuwe zaak.</p>
<table><caption>Uitkomst</caption><tr><th scope="col">Maat</th><th scope="col">Schatting</th></tr>
<tr><td>hazardratio</td><td>0,82</td></tr></table></main></body></html>"""


@needs_chromium
def test_axe_harness_reports_known_defects_and_passes_a_clean_page(tmp_path):
    (tmp_path / "bad.html").write_text(BAD, encoding="utf-8")
    (tmp_path / "clean.html").write_text(CLEAN, encoding="utf-8")
    bad = a11y.counts_by_rule(a11y.run_axe(tmp_path / "bad.html"))
    # hand-checked: no lang, an img without alt, an empty header cell, orange text on white (2.1:1), no <main>
    assert {"html-has-lang", "image-alt", "empty-table-header", "color-contrast", "landmark-one-main"} <= set(bad)
    assert a11y.run_axe(tmp_path / "clean.html") == []
    assert (tmp_path / "clean.html").read_text(encoding="utf-8") == CLEAN  # the page itself is not changed


@pytest.fixture(scope="module")
def small_quarter(tmp_path_factory) -> Path:
    """A quarter of one programme (and all together) from the fixture notebook ``ok`` (as in tests/test_run.py)."""
    root = tmp_path_factory.mktemp("a11y")
    intake = root / "intake"
    intake.mkdir()
    (intake / "participants.csv").write_text(
        "participant_id,programme_id,group,assignment\nPX-1001,P1,programme,randomised\n"
        "PX-1002,P1,programme,randomised\nPX-1003,P1,comparison,randomised\nPX-2001,P2,programme,observational\n",
        encoding="utf-8")
    (intake / "programmes.yaml").write_text(yaml.safe_dump({"programmes": [
        {"programme_id": "P1", "name": "Mentor Noord"}, {"programme_id": "P2", "name": "COSA Zuid"}]}))
    (intake / "extract.yaml").write_text(yaml.safe_dump({"cutoff_date": "2026-09-30", "format": "csv"}))
    registry = root / "registry.yaml"
    registry.write_text(yaml.safe_dump({"notebooks": [
        {"id": "ok", "file": "ok.ipynb", "scope": "both", "timeout": 120, "derived": ["design"],
         "title": {"nl": "Telling", "en": "Count"}}]}), encoding="utf-8")
    result = quarter.run_quarter(intake, "2026Q3", root / "reports", notebooks_dir=FIXTURES, registry=registry,
                                 validator=fake_validate, progress=False, jobs=1, programmes="P1")
    assert result.exit_code == 0, result.messages
    return root / "reports" / "2026Q3"


@needs_chromium
def test_axe_finds_no_violation_on_the_pages_of_a_quarter(small_quarter):
    pages = a11y.pages_of(small_quarter)
    assert small_quarter / "index.html" in pages
    found = {str(p.relative_to(small_quarter)): a11y.counts_by_rule(a11y.run_axe(p)) for p in pages}
    assert not any(found.values()), found
