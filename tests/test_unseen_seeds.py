"""The real quarterly job end to end on generator seeds that no other test uses (issue 16).

The bench (`make bench`, scripts/bench_seeds.py) runs 20 such seeds at scale 1; here one small
intake per seed keeps `make test` fast. What is asserted: exit 0, every notebook ok, the
publication check finds nothing blocking, and rows read = accepted + quarantined per table.
"""

from __future__ import annotations

import json

import pytest

from evaluation.pipeline import quarter
from evaluation.synth import generate


@pytest.mark.parametrize(("seed", "scale", "programmes"), [
    (5521, 0.1, "PEER-ZH"),  # a small programme: matched comparison on few people
    pytest.param(5522, 0.2, "RJ-CONF,COSA-TRIAL", marks=pytest.mark.slow),  # RJ sessions and a trial
])
def test_quarter_on_an_unseen_seed_completes(tmp_path, seed, scale, programmes):
    intake = generate.generate_intake(tmp_path / "intake", seed=seed, scale=scale)
    out = tmp_path / "reports"
    result = quarter.run_quarter(intake, "2026Q3", out, programmes=programmes, jobs=2, progress=False)
    failed = [(j.folder, j.status, j.error) for j in result.jobs if j.status != "ok"]
    assert result.exit_code == 0 and not failed, (result.messages, failed)
    manifest = json.loads((out / "2026Q3" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["publication_check"]["blocking"] == 0
    for rec in manifest["reconciliation"]:
        assert rec["rows_read"] == rec["rows_accepted"] + rec["rows_quarantined"], rec
