"""The real quarterly job end to end on generator seeds that no other test uses (issue 16).

The bench (`make bench`, scripts/bench_seeds.py) runs 20 such seeds at scale 1; here one small
intake per seed keeps `make test` fast. What is asserted: exit 0, every notebook ok, the
publication check finds nothing blocking, rows read = accepted + quarantined per table, the static page
check finds nothing, and (when Chromium is installed) axe-core finds no WCAG 2.1 A/AA or best-practice
violation on any page a reader opens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from evaluation.pipeline import quarter
from evaluation.publish.page_check import check_pages
from evaluation.synth import generate

sys.path.insert(0, str(Path(__file__).parent))
import a11y  # noqa: E402


@pytest.mark.parametrize(("seed", "scale", "programmes"), [
    (5521, 0.1, "PEER-ZH"),  # a small programme: matched comparison on few people
    pytest.param(5522, 0.2, "RJ-CONF,COSA-TRIAL", marks=pytest.mark.slow),  # RJ sessions and a trial
])
def test_quarter_on_an_unseen_seed_completes(tmp_path, seed, scale, programmes):
    intake = generate.generate_intake(tmp_path / "intake", seed=seed, scale=scale)
    out = tmp_path / "reports"
    # both languages (issue 18): the page checks below scan the Dutch and the English version
    result = quarter.run_quarter(intake, "2026Q3", out, programmes=programmes, jobs=2, progress=False,
                                 language="nl,en")
    failed = [(j.folder, j.status, j.error) for j in result.jobs if j.status != "ok"]
    assert result.exit_code == 0 and not failed, (result.messages, failed)
    manifest = json.loads((out / "2026Q3" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["publication_check"]["blocking"] == 0
    for rec in manifest["reconciliation"]:
        assert rec["rows_read"] == rec["rows_accepted"] + rec["rows_quarantined"], rec
    # the pages a reader opens (issue 18): the static check finds nothing on data it did not make; it is
    # the same check the run records in the manifest
    qdir = out / "2026Q3"
    findings = check_pages(qdir)
    assert findings.empty, findings.to_dict("records")[:10]
    assert len(list((qdir / "en").rglob("index.html"))) == len(list(qdir.rglob("index.html"))) / 2
    assert manifest["page_check"]["findings"] == 0
    if a11y.find_chromium() is not None:  # axe-core, WCAG 2.1 A/AA and best practice, in headless Chromium
        # every Dutch page, and the English overview and summaries (the same templates: the static check
        # above already read every English page); `make demo` plus tests/a11y.py covers every page of both
        pages = [qdir / "index.html", *sorted(p for p in qdir.glob("*/index.html") if p.parent.name != "en"),
                 *sorted(p for p in qdir.glob("*/*/index.html") if p.parent.parent.name != "en"),
                 qdir / "en" / "index.html", *sorted(qdir.glob("en/*/index.html"))]
        found = {str(p.relative_to(qdir)): a11y.counts_by_rule(a11y.run_axe(p)) for p in pages}
        assert not any(found.values()), {k: v for k, v in found.items() if v}
