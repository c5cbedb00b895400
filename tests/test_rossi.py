"""The Rossi et al. (1980) trial, converted into the contract, against R on the original data.

Fixture: tests/fixtures/intake_rossi, made by scripts/make_rossi_intake.py from
lifelines' ``load_rossi`` (its docstring gives the mapping: one release date,
an arrest in week w dated release + 7w days, censoring at 52 weeks = 364 days
through the extract's cutoff). Reference: tests/r/rossi_reference.R, R 4.2.2
survival 3.5.3, ``coxph(Surv(week, arrest) ~ fin)`` and ``survfit`` on the
ORIGINAL data in weeks (tests/fixtures/survival_rossi.csv, the same 432 rows
as lifelines), output in tests/r/rossi_reference.csv.

Tolerances. The event times map exactly (days = 7 x weeks, checked person by
person), and a Cox partial likelihood and a Kaplan-Meier curve depend only on
the order of the times and their ties, which the factor 7 keeps. The
Kaplan-Meier estimates, Greenwood SEs and log-log limits are closed-form: they
agree to rounding (1e-12). The Cox estimate is found by Newton-Raphson on both
sides; R stops when the log-likelihood changes by less than 1e-9 (relative),
after which a quadratically converging step leaves the coefficient some
orders below that, so HR, CI and p agree to rtol 1e-9 (measured: about 1e-14).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses.recidivism import RecidivismAnalysis
from evaluation.cli import main as cli_main
from evaluation.publish.page_check import check_pages
from evaluation.validation.validate import validate_intake

ROOT = Path(__file__).resolve().parent.parent
INTAKE = ROOT / "tests" / "fixtures" / "intake_rossi"
ORIGINAL = ROOT / "tests" / "fixtures" / "survival_rossi.csv"
REFERENCE = ROOT / "tests" / "r" / "rossi_reference.csv"
WEEKS = (13, 26, 52)
PROGRAMME = "ROSSI-FIN"


@pytest.fixture(scope="module")
def validated():
    return validate_intake(INTAKE, language="en")


@pytest.fixture(scope="module")
def analysis(validated):
    return RecidivismAnalysis("rct", horizons=tuple(7 * w for w in WEEKS), endpoints=("GENERAL",)).fit(
        validated, PROGRAMME, warn=False)


@pytest.fixture(scope="module")
def reference():
    ref = pd.read_csv(REFERENCE)
    return ref


def _r(ref, quantity, arm="difference", week=None):
    rows = ref[(ref["quantity"] == quantity) & (ref["arm"] == arm)]
    if week is not None:
        rows = rows[rows["week"] == week]
    assert len(rows) == 1, (quantity, arm, week)
    return float(rows["value"].iloc[0])


def test_script_makes_the_checked_in_fixture(tmp_path):
    lifelines = pytest.importorskip("lifelines.datasets")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_rossi_intake", ROOT / "scripts" / "make_rossi_intake.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.convert(lifelines.load_rossi(), tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in INTAKE.iterdir())
    for name in made:
        assert (tmp_path / name).read_bytes() == (INTAKE / name).read_bytes(), name


def test_original_data_is_lifelines_copy():
    lifelines = pytest.importorskip("lifelines.datasets")
    original = pd.read_csv(ORIGINAL)
    pd.testing.assert_frame_equal(original, lifelines.load_rossi()[original.columns], check_dtype=False)


def test_validation_accepts_all_432_participants(validated):
    rec = validated.reconciliation.set_index("table")
    assert rec.loc["participants", "rows_read"] == rec.loc["participants", "rows_accepted"] == 432
    assert rec.loc["justice_events", "rows_read"] == rec.loc["justice_events", "rows_accepted"] == 114
    assert int(rec["rows_quarantined"].sum()) == 0 and not bool(rec["blocking"].any())
    assert validated.issues.empty, validated.issues.head().to_string()
    parts = validated.tables["participants"]
    assert (parts["group"] == "programme").sum() == 216 and (parts["group"] == "comparison").sum() == 216
    assert str(pd.Timestamp(validated.cutoff_date).date()) == "1971-01-04"


def test_event_times_in_days_are_seven_times_the_weeks(analysis):
    # person by person: participant rossi-pNNNN is row NNNN of the original data
    original = pd.read_csv(ORIGINAL)
    original.index = [f"rossi-p{i:04d}" for i in range(1, len(original) + 1)]
    ds = analysis.dataset_.set_index("participant_id").loc[original.index]
    np.testing.assert_array_equal(ds["time"].to_numpy(float), 7.0 * original["week"].to_numpy(float))
    np.testing.assert_array_equal((ds["cnsr"] == 0).to_numpy(int), original["arrest"].to_numpy(int))
    np.testing.assert_array_equal(ds["cnsr"][original["arrest"] == 0].unique(), [1])  # censored at the cutoff
    np.testing.assert_array_equal((ds["group"] == "programme").to_numpy(int), original["fin"].to_numpy(int))
    np.testing.assert_array_equal(ds["age_at_intake"].to_numpy(float), original["age"].to_numpy(float))


def test_hazard_ratio_equals_r_coxph(analysis, reference):
    res = analysis.results_
    hr = res[(res["estimand"] == "hazard_ratio") & (res["group"] == "difference")].iloc[0]
    for col, quantity in (("estimate", "hr"), ("ci_lower", "hr_lower"), ("ci_upper", "hr_upper"),
                          ("p_value", "p_wald")):
        assert hr[col] == pytest.approx(_r(reference, quantity), rel=1e-9, abs=0), col
    assert int(hr["n"]) == _r(reference, "n") and int(hr["events"]) == _r(reference, "events")
    assert bool(hr["causal"]) is True  # randomised: intention to treat


def test_adjusted_hazard_ratio_equals_r_full_model(analysis, reference):
    # hazard_ratio_adjusted adjusts for the intake covariates the data fill (age_at_intake = age,
    # prior_cases = prio; constant or empty ones are dropped) and the declared covariates race, wexp,
    # mar, paro: R's coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio), whose fin
    # coefficient is -0.3794 (Fox & Weisberg, Cox appendix). Tolerance 1e-7 relative: both fits stop at
    # a convergence criterion (R: relative change in loglik < 1e-9), so the last digits differ.
    res = analysis.results_
    hr = res[(res["estimand"] == "hazard_ratio_adjusted") & (res["group"] == "difference")].iloc[0]
    for col, quantity in (("estimate", "adj_hr"), ("ci_lower", "adj_hr_lower"), ("ci_upper", "adj_hr_upper"),
                          ("p_value", "adj_p_wald")):
        assert hr[col] == pytest.approx(_r(reference, quantity), rel=1e-7, abs=0), col
    method = hr["method"]
    for name in ("age_at_intake", "prior_cases", "race", "wexp", "mar", "paro"):
        assert name in method, method
    assert "6 covariates" in method, method


def test_kaplan_meier_equals_r_survfit(analysis, reference):
    res = analysis.results_
    km = analysis.km_[analysis.km_["endpoint"] == "GENERAL"]
    for arm in ("programme", "comparison"):
        for week in WEEKS:
            row = res[(res["estimand"] == f"prevalence_{7 * week}d_km") & (res["group"] == arm)].iloc[0]
            surv = _r(reference, "km_surv", arm, week)
            assert row["estimate"] == pytest.approx(1 - surv, abs=1e-12)
            # log-log limits of S, turned into limits of 1 - S
            assert row["ci_lower"] == pytest.approx(1 - _r(reference, "km_upper_loglog", arm, week), abs=1e-12)
            assert row["ci_upper"] == pytest.approx(1 - _r(reference, "km_lower_loglog", arm, week), abs=1e-12)
            step = km[(km["group"] == arm) & (km["time"] <= 7 * week)].iloc[-1]
            assert step["std_err"] == pytest.approx(_r(reference, "km_std_err", arm, week), abs=1e-12)
            at_risk = int((analysis.dataset_.query("group == @arm")["time"] >= 7 * week).sum())
            assert at_risk == _r(reference, "km_n_risk", arm, week)


def test_quarterly_run_on_rossi_completes(tmp_path):
    intake = tmp_path / "intake"
    shutil.copytree(INTAKE, intake)
    out = tmp_path / "reports"
    started = time.monotonic()
    code = cli_main(["run", "--intake", str(intake), "--quarter", "1971Q1", "--out", str(out), "--no-progress",
                     "--jobs", "2", "--language", "en"])
    manifest = json.loads((out / "1971Q1" / "manifest.json").read_text())
    failed = [f"{j['programme_id']}/{j['notebook']}: {j['error']}" for j in manifest["jobs"] if j["status"] != "ok"]
    assert not failed, failed
    assert code == 0
    # all programmes together are always descriptive, even when they are one randomised programme
    assert manifest["designs"] == {PROGRAMME: "rct", "all": "descriptive"}
    assert str(manifest["cutoff_date"]) == "1971-01-04"
    results = pd.read_csv(out / "1971Q1" / "results.csv", dtype=str)
    hr = results[(results["programme_id"] == PROGRAMME) & (results["estimand"] == "hazard_ratio")
                 & (results["endpoint"] == "GENERAL") & (results["group"] == "difference")].iloc[0]
    assert float(hr["estimate"]) == pytest.approx(_r(pd.read_csv(REFERENCE), "hr"), rel=1e-9)
    assert time.monotonic() - started < 600
    # 52 weeks of follow-up cannot give the default primary outcome (2 years): said as not estimable, not as
    # "withheld for small numbers" (issue 17 items 7-8, found on this data)
    head = json.loads((out / "1971Q1" / PROGRAMME / "recidivism" / "headline.json").read_text())
    assert head["status"] == "not_estimable"
    assert head["sentences"][0].startswith("The primary outcome (reoffending within two years) cannot be estimated")
    # the English pages pass the static page check (issue 18: no Dutch on English pages, no raw values)
    assert check_pages(out / "1971Q1").empty, check_pages(out / "1971Q1").to_dict("records")[:5]


def test_rmst_beyond_follow_up_is_not_estimable(analysis):
    # issue 17 item 3: 52 weeks (364 days) of follow-up cannot give the mean days free of reoffending in the
    # first 730 days (44.8 days were published, 30.4 of them from extending the curve flat over a year
    # nobody was observed); as survRM2, tau beyond the longest follow-up of a group is refused
    res = analysis.results_
    rows = res[res["estimand"] == f"rmst_{analysis.rmst_tau}d"]
    assert analysis.rmst_tau == 730
    assert len(rows) == 1 and rows["group"].iloc[0] == "difference"
    assert np.isnan(float(rows["estimate"].iloc[0]))
    assert ("not estimable: horizon of 730 days lies beyond the follow-up: "
            "the longest time observed in group") in rows["note"].iloc[0]
    assert "is 364 days" in rows["note"].iloc[0]
