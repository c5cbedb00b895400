"""The data-quality notebook (papermill) and the quality tables behind it.

Expected numbers are counted by hand on the fixture ``tests/fixtures/intake_clean``
(4 participants, 3 volunteers, 3 matches, 6 contacts, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import CLEAN, copy_clean, plant

from evaluation.analyses import quality
from evaluation.contract.results import RESULT_COLUMNS
from evaluation.publish import quality_outputs
from evaluation.validation.validate import validate_intake

NB = Path(__file__).resolve().parent.parent / "notebooks" / "00_data_quality.ipynb"


def test_wilson_interval_matches_r():
    # R 4.x: print(prop.test(8, 10, correct = FALSE)$conf.int, digits = 10) -> 0.4901624715 0.9433178485
    #        print(prop.test(0, 5, correct = FALSE)$conf.int, digits = 10)  -> 0.0000000000 0.4344824648
    lo, hi = quality.wilson_interval(np.array([8, 0]), np.array([10, 5]))
    # tolerance: R printed 10 significant digits
    np.testing.assert_allclose(lo, [0.4901624715, 0.0], atol=1e-9)
    np.testing.assert_allclose(hi, [0.9433178485, 0.4344824648], atol=1e-9)
    lo, hi = quality.wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_quality_tables_on_planted_error(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "contacts", 5, "mode", "brief")  # c004 belongs to m02 -> p002 -> programme P1
    res = validate_intake(folder)
    r = quality.quality_results(res)
    assert list(r.columns) == RESULT_COLUMNS
    c = r[r["group"] == "contacts"].iloc[0]
    assert (c["estimate"], c["n"], c["events"], c["causal"]) == (5 / 6, 6, 1, False)
    total = r[r["group"] == "(all tables)"].iloc[0]
    assert total["n"] == 31 and total["events"] == 1  # 4+3+3+6+4+3+3+2+3 rows
    assert c["ci_lower"] < c["estimate"] < c["ci_upper"]
    rec = quality.reconciliation_table(res, by_programme=True)
    rc = rec[rec["table"] == "contacts"].set_index("programme_id")
    # contacts: m01 (3, p001 P1), m02 (2, p002 P1), m03 (1, p004 RJ1); the quarantined one is in P1
    assert rc.loc["P1", ["rows_read", "rows_accepted", "rows_quarantined"]].tolist() == [5, 4, 1]
    assert rc.loc["RJ1", ["rows_read", "rows_accepted", "rows_quarantined"]].tolist() == [1, 1, 0]
    by_rule = quality.issues_by_rule(res)
    assert by_rule[["table", "rule", "severity", "n_issues", "n_rows"]].values.tolist() == [
        ["contacts", "enum", "error", 1, 1]
    ]
    comp = quality.completeness(res)
    rts = comp[(comp["table"] == "contacts") & (comp["field"] == "reported_to_supervisor")].iloc[0]
    # accepted contacts c001,c002,c003,c005,c006: reported_to_supervisor filled for c003 and c005
    assert (rts["n_rows"], rts["n_filled"]) == (5, 2)
    compp = quality.completeness(res, by_programme=True)
    m = compp[(compp["table"] == "participants") & (compp["field"] == "programme_end_date")].set_index("programme_id")
    assert m.loc["P1", "n_filled"] == 1 and m.loc["P1", "n_rows"] == 3 and m.loc["RJ1", "n_filled"] == 1
    head = quality_outputs.quality_headline(res, language="en")
    assert head["status"] == "warning"
    assert "30 (96.8%) passed validation" in head["sentences"][0]


def test_programme_filter_and_unknown_programmes(tmp_path):
    res = validate_intake(CLEAN)
    comp = quality.completeness(res, programme_id="RJ1")
    assert set(comp.loc[comp["table"] == "participants", "n_rows"]) == {1}
    with pytest.raises(ValueError, match="programmes.yaml"):
        quality.completeness(res, programme_id="NOPE")
    folder = copy_clean(tmp_path)
    plant(folder, "costs", 2, "programme_id", "Jan Jansen")  # free text in a key field
    res = validate_intake(folder)
    rec = quality.reconciliation_table(res, by_programme=True)
    assert "Jan Jansen" not in set(rec["programme_id"])
    assert "(unknown)" in set(rec["programme_id"])


def _run(intake, out, tmp_path, **params):
    import papermill as pm

    p = {"intake_dir": str(intake), "output_dir": str(out), **params}
    pm.execute_notebook(str(NB), str(tmp_path / "executed.ipynb"), parameters=p, kernel_name="python3",
                        progress_bar=False, cwd=str(NB.parent))


def test_notebook_is_stored_clean():
    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    for line in code[0].source.splitlines():
        compile(line, "parameters", "exec")  # one literal assignment per line
        assert "=" in line and "(" not in line


def test_notebook_runs_and_writes_aggregates_only(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "contacts", 5, "mode", "brief")
    out = tmp_path / "out"
    _run(folder, out, tmp_path, programme_id="all", language="en", cutoff_date="2026-06-30")
    res = pd.read_csv(out / "results.csv")
    assert list(res.columns) == RESULT_COLUMNS
    share = res.set_index("group").loc["contacts", "estimate"]
    assert share == pytest.approx(5 / 6, abs=1e-12)
    head = json.loads((out / "headline.json").read_text(encoding="utf-8"))
    assert head["status"] == "warning" and any("2026-06-30" in s for s in head["sentences"])
    for name in ("reconciliation", "reconciliation_by_programme", "issues_by_rule", "completeness",
                 "completeness_by_programme"):
        assert (out / f"{name}.csv").stat().st_size > 0
    for ext in ("png", "svg"):
        assert (out / f"completeness_heatmap.{ext}").stat().st_size > 1000
    # no identifiers or row-level values in any output
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir() if p.suffix in {".csv", ".json"})
    for token in ("p001", "p002", "c004", "m02", "v01", "brief"):
        assert token not in text


def test_notebook_per_programme_in_dutch(tmp_path):
    out = tmp_path / "out"
    _run(CLEAN, out, tmp_path, programme_id="RJ1", language="nl")
    res = pd.read_csv(out / "results.csv")
    assert (res["programme_id"] == "RJ1").all()
    # RJ1: 1 participant, 1 volunteer, 1 match, 1 contact, 1 support event, 0 justice events,
    # 0 detention periods, 2 RJ sessions, 1 cost row
    n = res.set_index("group")["n"]
    assert n["participants"] == 1 and n["rj_sessions"] == 2 and n["(all tables)"] == 8
    head = json.loads((out / "headline.json").read_text(encoding="utf-8"))
    assert head["status"] == "ok" and head["title"] == "Datakwaliteit van de intake"
