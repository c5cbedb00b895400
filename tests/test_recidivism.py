"""Tests for evaluation.analyses.recidivism.RecidivismAnalysis.

Reference values: R survival 3.5 (tests/r/recidivism_reference.R ->
recidivism_reference.csv) on the analysis data this module builds; hand-worked
numbers in comments; the simulator's known truth (tests/recidivism_sim.py).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import recidivism_sim as rs  # noqa: E402

from evaluation.analyses.recidivism import (  # noqa: E402
    RecidivismAnalysis,
    rate_per_person_year,
    wilson_interval,
)
from evaluation.contract.results import RESULT_COLUMNS  # noqa: E402

R_DIR = Path(__file__).parent / "r"


def _fit(design, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return RecidivismAnalysis(design, **kw).fit(data, "P1", data["cutoff_date"])


def _row(res, estimand, group, endpoint="GENERAL"):
    r = res[(res["estimand"] == estimand) & (res["group"] == group) & (res["endpoint"] == endpoint)]
    assert len(r) == 1, (estimand, group, endpoint, len(r))
    return r.iloc[0]


@pytest.fixture(scope="module")
def rct():
    return _fit("rct", rs.simulate(3, n=500, design="rct"), programme_type="mentoring")


@pytest.mark.parametrize("weighting", ["matching", "ipw"])
def test_matched_analysis_agrees_with_r(weighting):
    ref = pd.read_csv(R_DIR / "recidivism_reference.csv")
    ref = ref[ref["weighting"] == weighting].set_index("quantity")["value"]
    a = _fit("matched", rs.simulate(7, n=400, design="observational"), endpoints=("GENERAL",), weighting=weighting)
    res = a.results_
    hr = _row(res, "hazard_ratio", "difference")
    # R: coxph(Surv(time, event) ~ treated, weights = weight, cluster = cluster, ties = "efron");
    # survival.py matches coxph to ~1e-10, the weights to 1e-12 (CSV rounding): tolerance 1e-6
    assert hr["estimate"] == pytest.approx(ref["hr"], rel=1e-6)
    assert hr["ci_lower"] == pytest.approx(ref["hr_lower"], rel=1e-6)
    assert hr["ci_upper"] == pytest.approx(ref["hr_upper"], rel=1e-6)
    # R: 1 - summary(survfit(Surv(time, event) ~ treated, weights = weight), times = c(365, 730))$surv
    for h in (365, 730):
        for g, lab in (("programme", "programme"), ("comparison", "comparison")):
            est = _row(res, f"prevalence_{h}d_km", g)["estimate"]
            assert est == pytest.approx(ref[f"km{h}_{lab}"], abs=1e-9)
    assert a.n_programme_ > 0 and "subclass" not in res.columns


def test_result_shape_and_no_row_level_output(rct):
    res = rct.results_
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert "headline_eligible" in res.columns
    assert (res["analysis"] == "recidivism").all() and (res["programme_id"] == "P1").all()
    ids = set(rct.dataset_["participant_id"])
    assert not res.astype(str).isin(ids).any().any()
    for est in ("prevalence_365d_crude", "prevalence_730d_km", "hazard_ratio", "hazard_ratio_adjusted",
                "rmst_730d", "rate_ratio", "cases_per_person_year", "ph_test", "hazard_ratio_at_risk_clock"):
        assert est in set(res["estimand"]), est
    # randomised: no E-value (unmeasured confounding is what randomisation rules out; issue 17 item 11)
    assert not res["estimand"].isin(["e_value", "e_value_ci"]).any()
    # every difference estimate has its interval
    diff = res[(res["group"] == "difference") & res["estimand"].str.match("prevalence|hazard|rmst|rate_ratio")]
    assert diff[["ci_lower", "ci_upper"]].notna().all().all()
    assert (diff["ci_lower"] <= diff["estimate"]).all() and (diff["estimate"] <= diff["ci_upper"]).all()
    assert res["causal"].all()  # randomised


def test_crude_prevalence_by_hand(rct):
    e = rct.dataset_[(rct.dataset_["endpoint"] == "GENERAL") & (rct.dataset_["group"] == "programme")]
    full = e["origin_date"] + pd.Timedelta(days=365) <= rct.cutoff_date_
    k = int(((e["cnsr"] == 0) & (e["time"] <= 365))[full].sum())
    n = int(full.sum())
    r = _row(rct.results_, "prevalence_365d_crude", "programme")
    assert r["estimate"] == pytest.approx(k / n) and r["n"] == n and r["events"] == k
    lo, hi = wilson_interval(k, n)
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((lo, hi))


def test_wilson_and_rate_hand_worked():
    # Wilson score interval, k=10, n=50: R prop.test(10, 50, correct=FALSE)$conf.int = 0.1124375002 0.3303710593
    assert wilson_interval(10, 50) == pytest.approx((0.1124375002, 0.3303710593), abs=1e-9)
    # rate: counts 1, 0, 3 over 1, 1, 2 years: r = 4/4 = 1; residuals 0, -1, 1 -> var = 2/16, se = 0.35355;
    # log-scale CI: 1 * exp(+-1.959964 * 0.353553) = exp(+-0.692952) = 0.500098 .. 1.999610
    r, lo, hi = rate_per_person_year(np.array([1, 0, 3.0]), np.array([1, 1, 2.0]), np.ones(3))
    assert r == 1 and lo == pytest.approx(0.500098, abs=1e-6) and hi == pytest.approx(1.999610, abs=1e-6)


def test_small_sample_and_few_events_gates():
    data = rs.simulate(5, n=80, design="rct")
    a = _fit("rct", data, endpoints=("GENERAL", "VERY_SERIOUS"))
    assert a.n_programme_ < 60
    assert any("fewer than 60" in w or "at least 60" in w for w in a.warnings_)
    assert a.results_["note"].str.contains("WARNING fewer than 60 participants").all()
    vs = a.results_[(a.results_["endpoint"] == "VERY_SERIOUS") & (a.results_["estimand"] == "hazard_ratio")]
    ev = int(((a.dataset_["endpoint"] == "VERY_SERIOUS") & (a.dataset_["group"] == "programme")
              & (a.dataset_["cnsr"] == 0)).sum())
    assert ev < 30 and not vs["headline_eligible"].any()
    assert any("VERY_SERIOUS" in w and "fewer than 30" in w for w in a.warnings_)
    # warnings can reach the executed notebook: counts below 10 never appear in them
    import re

    assert not any(re.search(r"(?<![\w.])[1-9] (programme )?participants", w) for w in a.warnings_)
    with pytest.warns(UserWarning, match="RecidivismAnalysis \\(P1\\): .* warning"):
        RecidivismAnalysis("rct", endpoints=("GENERAL",)).fit(data, "P1", data["cutoff_date"])


def test_descriptive_is_not_causal():
    data = rs.simulate(2, n=300, design="rct")
    a = _fit("descriptive", data, reference_rate=0.35, reference_ci=(0.30, 0.40), endpoints=("GENERAL",))
    res = a.results_
    assert not res["causal"].any()
    assert res["note"].str.contains("not causal").all()
    assert set(res["group"]) == {"programme", "reference", "difference_vs_reference"}
    p = _row(res, "prevalence_365d_crude", "programme")["estimate"]
    d = _row(res, "prevalence_365d_crude", "difference_vs_reference")
    assert d["estimate"] == pytest.approx(p - 0.35)
    # SE combines the programme's binomial SE and the reference's (0.40 - 0.30) / (2 * 1.96)
    n = _row(res, "prevalence_365d_crude", "programme")["n"]
    se = np.sqrt(p * (1 - p) / n + (0.1 / (2 * 1.959964)) ** 2)
    assert d["ci_upper"] - d["estimate"] == pytest.approx(1.959964 * se, rel=1e-5)
    # without a reference rate (the quarterly run passes none): programme rates only, with a warning
    b = _fit("descriptive", data, endpoints=("GENERAL",))
    assert set(b.results_["group"]) == {"programme"}
    assert any("without a reference rate" in w for w in b.warnings_)


def test_reference_rate_applies_to_its_endpoint_and_horizon_only():
    data = rs.simulate(2, n=300, design="rct")
    a = _fit("descriptive", data, reference_rate=0.45, reference_ci=(0.40, 0.50), reference_horizon=730,
             reference_source="WODC table X", endpoints=("GENERAL", "SERIOUS"))
    ref = a.results_[a.results_["group"].isin(["reference", "difference_vs_reference"])]
    # a published two-year general rate says nothing about serious reoffending or the one-year rate
    assert set(zip(ref["endpoint"], ref["estimand"], strict=True)) == {("GENERAL", "prevalence_730d_crude")}
    assert ref["note"].str.endswith("reference: WODC table X").all()
    # the headline of a descriptive programme with a reference is given at the reference's horizon
    from evaluation.publish import recidivism_outputs as ro

    head = ro.make_headline(a, "en")
    assert any(s.startswith("The reference rate is 45 per 100 (95% CI 40 to 50); source: WODC table X")
               for s in head["sentences"]), head
    assert any("reoffended within two years" in s for s in head["sentences"]), head
    with pytest.raises(ValueError, match="must contain reference_rate"):
        RecidivismAnalysis("descriptive", reference_rate=0.45, reference_ci=(0.46, 0.50))
    with pytest.raises(ValueError, match="reference_horizon 180 is not one of the horizons"):
        RecidivismAnalysis("descriptive", reference_rate=0.45, reference_horizon=180)
    with pytest.raises(ValueError, match="reference_endpoint 'ANY'"):
        RecidivismAnalysis("descriptive", reference_rate=0.45, reference_endpoint="ANY")


def test_design_errors():
    data = rs.simulate(2, n=100, design="observational")
    with pytest.raises(ValueError, match="randomised"):
        _fit("rct", data)
    with pytest.raises(ValueError, match="no rows for programme_id"):
        RecidivismAnalysis("rct").fit(data, "NOPE", data["cutoff_date"])
    with pytest.raises(ValueError, match="weighting"):
        RecidivismAnalysis("matched", weighting="psm")


def test_subgroups_and_cosa_special(rct):
    res = rct.results_
    sub = res[res["group"].str.startswith("subgroup risk_level=")]
    assert set(sub["group"]) == {"subgroup risk_level=low", "subgroup risk_level=medium",
                                 "subgroup risk_level=high"}
    it = _row(res, "interaction_test", "by risk_level")
    assert 0 <= it["p_value"] <= 1 and "2 df" in it["method"]
    data = rs.simulate(4, n=300, design="rct")
    rj = _fit("rct", data, programme_type="restorative_justice", endpoints=("GENERAL",))
    assert {"subgroup index_offence_category=drugs", "subgroup index_offence_category=other"} <= set(
        rj.results_["group"])
    assert "1 df" in _row(rj.results_, "interaction_test", "by index_offence_category")["method"]
    # COSA: SPECIAL = new sexual offence whatever the index offence
    cosa = _fit("rct", data, programme_type="cosa", endpoints=("SPECIAL",))
    ev = data["justice_events"].set_index("event_id")
    ids = ";".join(cosa.dataset_["source_event_ids"]).split(";")
    cats = ev.loc[[i for i in ids if i], "offence_category"]
    assert len(cats) > 0 and (cats == "sexual").all()


def test_cumulative_incidence_competing(rct):
    cif = rct.cif_
    assert {"endpoint", "group", "cause", "time", "estimate"} <= set(cif.columns)
    g = cif[(cif["endpoint"] == "GENERAL") & (cif["cause"] == 1)]
    # the competing-risk CIF never exceeds 1 - KM (which treats deaths as censored)
    km = rct.results_
    for grp in ("programme", "comparison"):
        f = g[(g["group"] == grp) & (g["time"] <= 730)]["estimate"].max()
        assert f <= _row(km, "prevalence_730d_km", grp)["estimate"] + 1e-12
        # the results row at 730 days is the step function's value there
        assert _row(km, "cumulative_incidence_730d", grp)["estimate"] == pytest.approx(f)
    gray = _row(km, "gray_test", "difference")
    assert 0 <= gray["p_value"] <= 1 and "1 df" in gray["method"]


def test_figures_leave_out_curves_whose_steps_would_count_fewer_than_10_new_cases():
    """A Kaplan-Meier or cumulative-incidence curve with 1-9 steps shows how many new cases there were,
    which the results tables show as "<10"; such a curve is replaced by a legend entry."""
    from evaluation.publish import recidivism_outputs as ro

    data = rs.simulate(2, n=60, design="rct")
    a = _fit("rct", data, endpoints=("GENERAL", "SPECIAL"))
    # seed 2, n = 60: GENERAL has 16 and 15 visible steps, SPECIAL 7 and 8 (counted from a.km_ below)
    for endpoint, drawn in [("GENERAL", True), ("SPECIAL", False)]:
        fig = ro.km_figure(a, endpoint, "en")
        ax = fig.axes[0]
        labels = ax.get_legend_handles_labels()[1]
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 0]
        for g, label in [("programme", "participants"), ("comparison", "comparison group")]:
            k = a.km_[(a.km_["endpoint"] == endpoint) & (a.km_["group"] == g)]
            assert (int((k["n_event"] > 0).sum()) >= 10) == drawn
            assert (label in labels) == drawn
            assert (f"{label}: not shown (fewer than 10 new cases)" in labels) == (not drawn)
        assert len(curves) == (2 if drawn else 0)
        cif = ro.cif_figure(a, endpoint, "nl").axes[0]
        assert ("deelnemers: niet getoond (minder dan 10 nieuwe zaken)" in cif.get_legend_handles_labels()[1]) == (
            not drawn)


def test_fit_without_summary_warning_keeps_warnings_for_the_caller():
    data = rs.simulate(2, n=40, design="rct")  # fewer than 60 participants: there are warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = RecidivismAnalysis("rct", endpoints=("GENERAL",)).fit(data, "P1", data["cutoff_date"], warn=False)
    assert a.warnings_  # still there for the notebook to print, in the report's language
    assert not [c for c in caught if "RecidivismAnalysis (P1)" in str(c.message)]


def test_cumulative_incidence_counts_its_new_cases_and_is_blanked_with_fewer_than_10():
    """The cumulative incidence at a horizon times the group size gives its number of new cases back,
    so its results row carries them (counted here from the analysis dataset: cnsr 0 with time <= h)
    and the published table blanks the values whose row is suppressed."""
    from evaluation.publish import recidivism_outputs as ro

    data = rs.simulate(2, n=60, design="rct")
    a = _fit("rct", data, endpoints=("GENERAL", "SPECIAL"))
    d = a.dataset_
    seen = set()
    for r in a.results_[a.results_["estimand"].str.startswith("cumulative_incidence_")].itertuples():
        h = int(r.estimand.split("_")[-1][:-1])
        e = d[(d["endpoint"] == r.endpoint) & (d["group"] == r.group)]
        assert r.events == int(((e["cnsr"] == 0) & (e["time"] <= h)).sum())
        seen.add((r.endpoint, r.group, h, r.events < 10))
    assert {s[3] for s in seen} == {True, False}  # this seed has both kinds (SPECIAL has fewer than 10)
    table = ro.cumulative_incidence_at(a)
    for ep, g, h, few in seen:
        row = table[(table["endpoint"] == ep) & (table["group"] == g) & (table["time"] == h)].iloc[0]
        assert np.isnan(row["estimate"]) == few and np.isnan(row["ci_upper"]) == few


def test_pooled_curves_and_rows_withheld_when_the_programmes_would_give_a_count_back():
    """The report of all programmes (programme_id "all", hand-built programme rows): SPECIAL's new
    cases within 365 days are hidden for P2 ("<10") and shown for P1; the total minus P1 gives P2's
    count back when the line adds up, so the total is withheld, and so are its SPECIAL curves."""
    from evaluation.publish import disclosure
    from evaluation.publish import recidivism_outputs as ro

    data = rs.simulate(4, n=200, design="rct")
    data["participants"]["programme_id"] = "P1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pooled = RecidivismAnalysis("descriptive", endpoints=("GENERAL", "SPECIAL")).fit(
            data, "all", data["cutoff_date"])
    row = _row(pooled.results_, "prevalence_365d_crude", "programme", "SPECIAL")
    total = int(row["events"])
    assert total == 11  # (seed 4): P1 shows 10, so P2 = 11 - 10 = 1 exactly
    progs = pd.DataFrame([dict(row[["analysis", "estimand", "endpoint", "group", "n"]]) | {
        "programme_id": pid, "events": ev} for pid, ev in [("P1", total - 1), ("P2", "<10")]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = RecidivismAnalysis("descriptive", endpoints=("GENERAL", "SPECIAL")).fit(
            data, "all", data["cutoff_date"])
    ro.withhold_pooled_counts(again, progs)
    pub = disclosure.protect_results(again.results_)
    special = pub[(pub["estimand"] == "prevalence_365d_crude") & (pub["endpoint"] == "SPECIAL")].iloc[0]
    assert special["events"] == "c" and bool(special["suppressed"]) and np.isnan(special["estimate"])
    general = pub[(pub["estimand"] == "prevalence_365d_crude") & (pub["endpoint"] == "GENERAL")].iloc[0]
    assert not bool(general["suppressed"])
    labels = ro.km_figure(again, "SPECIAL", "en").axes[0].get_legend_handles_labels()[1]
    assert any("not shown (with the programmes' own figures" in lab for lab in labels)
    assert "participants" in ro.km_figure(again, "GENERAL", "en").axes[0].get_legend_handles_labels()[1]
    # without the programmes' rows nothing is withheld
    assert not disclosure.protect_results(pooled.results_)["suppressed"][
        lambda s: pooled.results_["endpoint"].eq("SPECIAL") & pooled.results_["estimand"].eq("prevalence_365d_crude")
    ].any()
