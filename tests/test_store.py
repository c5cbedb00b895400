"""Tests of the results store (evaluation.pipeline.store) and the trends notebook (notebooks/60_trends.ipynb).

Reference values are hand-worked (written out in each test).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from evaluation.contract.results import make_results
from evaluation.pipeline import store

Z = 1.959963984540054  # 97.5% normal quantile


def rows(quarter_shift: float = 0.0) -> pd.DataFrame:
    return make_results([
        {"programme_id": "P1", "analysis": "recidivism", "estimand": "prevalence_1y", "endpoint": "GENERAL",
         "group": "programme", "estimate": 0.30 - quarter_shift, "ci_lower": 0.20 - quarter_shift * 0.3,
         "ci_upper": 0.40 - quarter_shift * 1.7, "n": 120, "events": 36, "method": "KM", "causal": False, "note": ""},
        {"programme_id": "P1", "analysis": "recidivism", "estimand": "hazard_ratio", "endpoint": "GENERAL",
         "group": "difference", "estimate": 0.8, "ci_lower": 0.64, "ci_upper": 1.0, "p_value": 0.05, "n": 240,
         "events": 70, "method": "Cox", "causal": True, "note": ""},
    ]).assign(notebook="recidivism")


def put(reports: Path, quarter: str, results: pd.DataFrame, run_id: str) -> Path:
    """Stage and publish a quarter's partition, as a quarterly run does."""
    staged = store.stage_partition(reports / f"staged-{quarter}.parquet", quarter, results, run_id)
    return store.publish_partition(staged, reports, quarter)


def test_publish_read_roundtrip_and_replace(tmp_path):
    put(tmp_path, "2026Q2", rows(), "run-a")
    put(tmp_path, "2026Q3", rows(0.05), "run-b")
    part = tmp_path / "results_store" / "quarter=2026Q3" / "part.parquet"
    assert part.is_file() and part.stat().st_mode & 0o777 == 0o644  # published: readable by others
    assert (tmp_path / "staged-2026Q3.parquet").stat().st_mode & 0o777 == 0o600  # staged: private
    s = store.read_store(tmp_path)
    assert list(s.columns) == store.STORE_COLUMNS
    assert list(s["quarter"]) == ["2026Q2", "2026Q2", "2026Q3", "2026Q3"]
    assert str(s["causal"].dtype) == "boolean" and s["causal"].tolist() == [True, False, True, False]
    assert s["estimate"].dtype == "float64"
    assert s["n"].tolist() == ["240", "120", "240", "120"]  # counts kept as published text
    # replacing a quarter (a --force rerun) does not append
    put(tmp_path, "2026Q3", rows(0.10).iloc[:1], "run-c")
    s = store.read_store(tmp_path)
    assert len(s) == 3 and set(s.loc[s.quarter == "2026Q3", "run_id"]) == {"run-c"}
    assert store.read_store(tmp_path, quarters=["2026Q2"])["quarter"].unique().tolist() == ["2026Q2"]
    assert not list((tmp_path / "results_store").rglob(".part.parquet.tmp-*"))


def test_pending_partition_replaces_its_quarter(tmp_path):
    put(tmp_path, "2026Q2", rows(), "run-a")
    put(tmp_path, "2026Q3", rows(), "run-old")
    pending = store.stage_partition(tmp_path / "pending.parquet", "2026Q3", rows(0.05).iloc[:1], "run-new")
    s = store.read_store(tmp_path, pending=pending)
    assert len(s) == 3 and set(s.loc[s.quarter == "2026Q3", "run_id"]) == {"run-new"}


def test_suppressed_counts_are_kept_as_published(tmp_path):
    from evaluation.publish.disclosure import protect_results

    small = rows().assign(n=[8, 240], events=[3, 70])
    protected = protect_results(small)  # n < 10 -> estimate blanked, n shown as "<10"
    put(tmp_path, "2026Q3", protected, "r")
    s = store.read_store(tmp_path).set_index("estimand")
    assert s.loc["prevalence_1y", "n"] == "<10" and pd.isna(s.loc["prevalence_1y", "estimate"])
    assert s.loc["hazard_ratio", "n"] == "240" and s.loc["hazard_ratio", "events"] == "70"
    numbers = store.count_as_number(s["n"])
    assert pd.isna(numbers["prevalence_1y"]) and numbers["hazard_ratio"] == 240.0


def test_empty_store_and_bad_input(tmp_path):
    s = store.read_store(tmp_path)
    assert s.empty and list(s.columns) == store.STORE_COLUMNS
    bad = rows().astype({"estimate": object})
    bad.loc[1, "estimate"] = "about 0.8"
    with pytest.raises(ValueError, match=r"results: row 2, field 'estimate': 'about 0.8' is not a number"):
        store.normalise_results(bad, "2026Q3", "r")
    with pytest.raises(ValueError, match="missing result columns"):
        store.normalise_results(rows().drop(columns=["ci_lower"]), "2026Q3", "r")
    with pytest.raises(ValueError, match="2026Q3"):
        put(tmp_path, "2026-3", rows(), "r")


def test_quarter_on_quarter_hand_worked(tmp_path):
    put(tmp_path, "2026Q2", rows(), "a")
    later = rows()
    later.loc[0, ["estimate", "ci_lower", "ci_upper"]] = [0.25, 0.17, 0.33]
    later.loc[1, ["estimate", "ci_lower", "ci_upper"]] = [0.70, 0.56, 0.875]
    put(tmp_path, "2026Q3", later, "b")
    ch = store.quarter_on_quarter(store.read_store(tmp_path)).set_index("estimand")
    # difference: SEs from the CIs: (0.40-0.20)/(2z) and (0.33-0.17)/(2z); independence
    se = math.sqrt((0.20 / (2 * Z)) ** 2 + (0.16 / (2 * Z)) ** 2)
    d = ch.loc["change_prevalence_1y"]
    assert d["estimate"] == pytest.approx(-0.05, abs=1e-12)
    assert d["ci_lower"] == pytest.approx(-0.05 - Z * se, abs=1e-12)
    assert d["ci_upper"] == pytest.approx(-0.05 + Z * se, abs=1e-12)
    assert not d["causal"]  # a change between quarters is descriptive
    # ratio: on the log scale, ratio of hazard ratios 0.70/0.80
    se_r = math.sqrt((math.log(1.0 / 0.64) / (2 * Z)) ** 2 + (math.log(0.875 / 0.56) / (2 * Z)) ** 2)
    r = ch.loc["change_hazard_ratio"]
    assert r["estimate"] == pytest.approx(0.875, rel=1e-12)
    assert r["ci_lower"] == pytest.approx(0.875 * math.exp(-Z * se_r), rel=1e-12)
    assert r["ci_upper"] == pytest.approx(0.875 * math.exp(Z * se_r), rel=1e-12)
    assert (r["quarter_from"], r["quarter_to"]) == ("2026Q2", "2026Q3")


def test_quarter_on_quarter_needs_two_quarters(tmp_path):
    put(tmp_path, "2026Q3", rows(), "a")
    assert store.quarter_on_quarter(store.read_store(tmp_path)).empty


def test_trends_notebook_on_a_two_quarter_store(tmp_path):
    import papermill as pm

    reports = tmp_path / "reports"
    put(reports, "2026Q2", rows(), "a")
    later = rows()
    later.loc[0, ["estimate", "ci_lower", "ci_upper"]] = [0.10, 0.05, 0.15]  # clearly lower
    pending = store.stage_partition(tmp_path / "pending.parquet", "2026Q3", later, "b")
    out = tmp_path / "out"
    nb_dir = Path(__file__).resolve().parent.parent / "notebooks"
    pm.execute_notebook(
        str(nb_dir / "60_trends.ipynb"), str(tmp_path / "executed.ipynb"), kernel_name="python3",
        parameters={"reports_dir": str(reports), "pending_results": str(pending), "output_dir": str(out),
                    "language": "en", "quarter": "2026Q3"},
        cwd=str(nb_dir), progress_bar=False, execution_timeout=120,
    )
    res = pd.read_csv(out / "results.csv")
    expected = store.quarter_on_quarter(store.read_store(reports, pending=pending))
    assert len(res) == 2 and set(res["analysis"]) == {"trends"}
    got = res.set_index("estimand")["estimate"]
    assert got["change_prevalence_1y"] == pytest.approx(-0.20, abs=1e-12)
    assert got["change_hazard_ratio"] == pytest.approx(expected.set_index("estimand").loc["change_hazard_ratio", "estimate"])
    headline = json.loads((out / "headline.json").read_text())
    # prevalence: -0.20 with SE sqrt((0.2/2z)^2+(0.1/2z)^2) -> upper limit < 0; HR unchanged -> 1 of 2 moved
    assert headline["status"] == "ok" and headline["sentences"][0].startswith("1 of 2 measures")
    for stem in ["trend_recidivism_prevalence_1y_general", "trend_recidivism_hazard_ratio_general"]:
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}.svg").is_file()
    table = pd.read_csv(out / "trend_table.csv")
    assert sorted(table["quarter"].unique()) == ["2026Q2", "2026Q3"] and "participant_id" not in table.columns


def test_notebook_is_stored_without_outputs_and_has_a_parameters_cell():
    import nbformat

    nb = nbformat.read(str(Path(__file__).resolve().parent.parent / "notebooks" / "60_trends.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    # parameters are literals only
    import ast

    for node in ast.parse(code[0].source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
