"""Tests of evaluation.analyses.costs on hand-built tables with hand-worked answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.analyses import costs
from evaluation.contract.results import RESULT_COLUMNS

D = pd.Timestamp


def tables():
    c = pd.DataFrame(
        {
            "programme_id": ["A", "A", "B"],
            "period_start": [D("2026-01-01"), D("2026-01-01"), D("2026-01-01")],
            "period_end": [D("2026-03-31"), D("2026-06-30"), D("2026-03-31")],
            "category": ["coordination_staff", "training", "volunteer_expenses"],
            "amount_eur": [9000.0, 1810.0, 500.0],
            "_row": [2, 3, 4],
        }
    )
    p = pd.DataFrame(
        {
            "participant_id": ["p1", "p2", "p3", "p4", "p5", "b1"],
            "programme_id": ["A", "A", "A", "A", "A", "B"],
            "group": ["programme", "programme", "programme", "comparison", "programme", "programme"],
            "intake_date": [D("2025-12-01"), D("2026-02-10"), D("2026-04-05"), D("2026-01-01"), D("2026-01-15"), D("2026-01-05")],
            "programme_end_date": [pd.NaT, D("2026-03-20"), D("2026-06-30"), pd.NaT, D("2026-05-01"), pd.NaT],
            "programme_end_reason": [None, "completed", "dropped_out", None, "completed", None],
        }
    )
    v = pd.DataFrame({"volunteer_id": ["v1", "v2", "v3"], "programme_id": ["A", "A", "B"]})
    m = pd.DataFrame({"match_id": ["m1", "m2", "m3"], "participant_id": ["p1", "p2", "b1"], "volunteer_id": ["v1", "v2", "v3"]})
    k = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(6)],
            "match_id": ["m1", "m1", "m2", "m2", "m1", "m3"],
            "contact_date": [D("2026-01-10"), D("2026-02-10"), D("2026-03-01"), D("2026-04-02"), D("2026-05-05"), D("2026-01-20")],
            "minutes": pd.array([90, 60, 30, None, 45, 120], dtype="Int64"),
            "_row": [2, 3, 4, 5, 6, 7],
        }
    )
    s = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "volunteer_id": ["v1", "v2"],
            "event_date": [D("2026-01-05"), D("2026-04-01")],
            "kind": ["basic_training", "group_supervision"],
            "hours": [8.0, 1.5],
        }
    )
    return c, p, v, m, k, s


def test_quarterly_costs_pro_rata_by_days():
    # training 1810 over 2026-01-01..06-30 = 181 days: Q1 90 days -> 900, Q2 91 days -> 910
    c = tables()[0]
    q = costs.quarterly_costs(c).set_index(["programme_id", "quarter", "category"])["amount_eur"]
    assert q[("A", "2026Q1", "training")] == pytest.approx(900.0)
    assert q[("A", "2026Q2", "training")] == pytest.approx(910.0)
    assert q[("A", "2026Q1", "coordination_staff")] == pytest.approx(9000.0)
    assert q.sum() == pytest.approx(c["amount_eur"].sum())  # nothing lost


def test_quarterly_costs_after_cutoff_kept_separately():
    # cutoff 2026-05-15: May 16..Jun 30 = 46 days of 181 -> 1810 * 46 / 181 = 460 after cutoff
    c = tables()[0]
    q = costs.quarterly_costs(c, cutoff_date="2026-05-15").set_index(["programme_id", "quarter", "category"])["amount_eur"]
    assert q[("A", "after_cutoff", "training")] == pytest.approx(460.0)
    assert q[("A", "2026Q2", "training")] == pytest.approx(450.0)
    assert q.sum() == pytest.approx(c["amount_eur"].sum())


def test_volunteer_hours_hand_computed():
    c, p, v, m, k, s = tables()
    h = costs.volunteer_hours(k, m, v, s).set_index(["programme_id", "quarter"])
    # A Q1: (90 + 60 + 30) / 60 = 3.0 h; Q2: 45 / 60 = 0.75 h with one contact lacking minutes
    assert h.loc[("A", "2026Q1"), "contact_hours"] == pytest.approx(3.0)
    assert h.loc[("A", "2026Q2"), "contact_hours"] == pytest.approx(0.75)
    assert h.loc[("A", "2026Q2"), "contacts_missing_minutes"] == 1
    assert h.loc[("A", "2026Q1"), "support_hours"] == pytest.approx(8.0)
    assert h.loc[("A", "2026Q2"), "support_hours"] == pytest.approx(1.5)
    assert h.loc[("B", "2026Q1"), "contact_hours"] == pytest.approx(2.0)
    assert h.loc[("A", "2026Q1"), "volunteers_active"] == 2


def _get(res, pid, period, estimand, group="all"):
    if period != "total":  # quarter rows name their quarter in `group` (the store keeps only RESULT_COLUMNS)
        group = f"quarter={period}" if group == "all" else f"quarter={period}; {group}"
    r = res[(res.programme_id == pid) & (res.period == period) & (res.estimand == estimand) & (res.group == group)]
    assert len(r) == 1, (pid, period, estimand, group)
    return r.iloc[0]


def test_cost_summary_hand_computed():
    c, p, v, m, k, s = tables()
    res = costs.cost_summary(c, p, k, m, v, s, hourly_rate_eur=15.0)
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    # Q1 A: cost 9000 + 900 = 9900; active p1, p2, p5 = 3 -> 3300; completed p2 -> 9900
    r = _get(res, "A", "2026Q1", "cost_per_active_participant_eur")
    assert r["estimate"] == pytest.approx(3300.0) and r["n"] == 3
    r = _get(res, "A", "2026Q1", "cost_per_completed_trajectory_eur")
    assert r["estimate"] == pytest.approx(9900.0) and r["events"] == 1
    # Q2 A: cost 910; active p1, p3, p5 = 3; completed p5
    assert _get(res, "A", "2026Q2", "cost_per_active_participant_eur")["estimate"] == pytest.approx(910 / 3)
    # total A: 10810 over distinct active p1, p2, p3, p5 = 4 -> 2702.5; 2 completed -> 5405
    assert _get(res, "A", "total", "cost_per_active_participant_eur")["estimate"] == pytest.approx(2702.5)
    assert _get(res, "A", "total", "cost_per_completed_trajectory_eur")["estimate"] == pytest.approx(5405.0)
    # value of volunteer time, A Q1: 3.0 contact hours x 15 = 45 (support not valued by default)
    assert _get(res, "A", "2026Q1", "volunteer_time_value_eur")["estimate"] == pytest.approx(45.0)
    assert _get(res, "A", "2026Q1", "cost_eur", "training")["estimate"] == pytest.approx(900.0)
    # missing minutes are reported, not hidden
    assert "1 contacts without minutes" in _get(res, "A", "2026Q2", "volunteer_contact_hours")["note"]
    # rows stay distinct on the fixed columns alone (what the results store keeps)
    assert not res.duplicated(["programme_id", "analysis", "estimand", "endpoint", "group"]).any()
    # all programmes: 11310 over 5 distinct active participants
    assert _get(res, "all", "total", "cost_per_active_participant_eur")["estimate"] == pytest.approx(11310 / 5)
    assert not res["causal"].any()


def test_cost_summary_support_hours_valued_when_asked():
    c, p, v, m, k, s = tables()
    res = costs.cost_summary(c, p, k, m, v, s, hourly_rate_eur=15.0, include_support_in_value=True)
    # (3.0 contact + 8.0 support) x 15 = 165
    assert _get(res, "A", "2026Q1", "volunteer_time_value_eur")["estimate"] == pytest.approx(165.0)
    # default rate and its source are shown
    res = costs.cost_summary(c, p, k, m, v, s)
    note = _get(res, "A", "2026Q1", "volunteer_time_value_eur")["note"]
    assert "minimum wage" in note and "14.71" in note


def test_bad_cost_rows_name_table_row_and_field():
    c = tables()[0]
    c.loc[1, "amount_eur"] = np.nan
    with pytest.raises(ValueError, match=r"'costs'.*'amount_eur'.*\[3\]"):
        costs.quarterly_costs(c)
    c = tables()[0]
    c.loc[2, "period_end"] = D("2025-01-01")
    with pytest.raises(ValueError, match=r"'costs'.*row\(s\) \[4\]"):
        costs.quarterly_costs(c)
    _, p, v, m, k, s = tables()
    k.loc[0, "match_id"] = "m9"
    with pytest.raises(ValueError, match=r"'contacts'.*'match_id'.*\[2\]"):
        costs.volunteer_hours(k, m, v)


def test_cost_per_reoffence_avoided_hand_worked():
    # C = 2000, RD = -0.10, 95% CI (-0.18, -0.02): se = 0.16 / 3.92 = 0.0408.
    # Ratio is monotone in RD, so its percentiles are C / 0.18 = 11 111 and C / 0.02 = 100 000,
    # median C / 0.10 = 20 000. Monte Carlo error of the 2.5%/97.5% quantiles of RD with 1e5
    # draws is about 3.5e-4, i.e. ~1.7% of the upper limit -> tolerance 5% there, 1% elsewhere.
    r = costs.cost_per_reoffence_avoided(2000, -0.10, -0.18, -0.02, cost_per_reoffence_eur=50_000)
    assert r["significant"]
    assert r["estimate"] == pytest.approx(20_000, rel=0.01)
    assert r["ci_lower"] == pytest.approx(2000 / 0.18, rel=0.01)
    assert r["ci_upper"] == pytest.approx(100_000, rel=0.05)
    # break-even: reduction needed 2000 / 50 000 = 0.04; P(-RD >= 0.04) = Phi(0.06 / se)
    se = 0.16 / (2 * stats.norm.ppf(0.975))
    assert r["break_even_risk_reduction"] == pytest.approx(0.04)
    assert r["probability_break_even"] == pytest.approx(stats.norm.cdf(0.06 / se), abs=0.005)
    # net benefit per participant: median 0.10 x 50 000 - 2000 = 3000
    assert r["net_benefit_median"] == pytest.approx(3000, rel=0.02)


def test_non_significant_effect_gives_no_point_ratio():
    # RD -0.05, CI (-0.12, 0.02): se = 0.14 / 3.92; P(reduction) = Phi(0.05 / se) = 0.919
    r = costs.cost_per_reoffence_avoided(2000, -0.05, -0.12, 0.02, cost_per_reoffence_eur=50_000)
    assert not r["significant"] and np.isnan(r["estimate"])
    assert np.isinf(r["ci_upper"])
    assert "not statistically significant" in r["note"]
    se = 0.14 / (2 * stats.norm.ppf(0.975))
    assert r["probability_beneficial"] == pytest.approx(stats.norm.cdf(0.05 / se), abs=0.005)
    # a harmful point estimate: no ratio either
    r = costs.cost_per_reoffence_avoided(2000, 0.03, -0.02, 0.08)
    assert np.isnan(r["estimate"]) and "no reduction" in r["note"]
    assert np.isnan(r["probability_break_even"])


def test_cost_interval_covers_truth_over_seeds():
    # Truth: C = 2000, RD = -0.10, se = 0.04 -> true cost per reoffender avoided 20 000.
    # Each seed draws an estimated RD ~ N(-0.10, 0.04) with its Wald CI; the simulation
    # interval should cover 20 000 in ~95% of seeds. 200 seeds: 99.9% binomial band.
    truth, se, n = 20_000, 0.04, 200
    z = stats.norm.ppf(0.975)
    cover = 0
    for seed in range(n):
        rd = np.random.default_rng(seed).normal(-0.10, se)
        r = costs.cost_per_reoffence_avoided(2000, rd, rd - z * se, rd + z * se, n_sim=20_000, seed=seed)
        cover += r["ci_lower"] <= truth <= r["ci_upper"]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n, 0.95)
    assert lo <= cover <= hi, f"coverage {cover}/{n}"


def test_cost_effectiveness_rows():
    c, p, v, m, k, s = tables()
    cs = costs.cost_summary(c, p, k, m, v, s)
    eff = pd.DataFrame(
        {
            "programme_id": ["A"],
            "estimand": ["prevalence_730d_crude"],
            "endpoint": ["GENERAL"],
            "group": ["difference"],
            "estimate": [-0.10],
            "ci_lower": [-0.18],
            "ci_upper": [-0.02],
            "causal": [True],
        }
    )
    ce = costs.cost_effectiveness(cs, eff, cost_per_reoffence_eur=50_000, n_sim=20_000)
    a = ce[(ce.programme_id == "A") & (ce.estimand == "cost_per_reoffender_avoided_eur")].iloc[0]
    assert a["estimate"] == pytest.approx(2702.5 / 0.10, rel=0.02)
    assert bool(a["causal"])
    b = ce[(ce.programme_id == "B") & (ce.estimand == "cost_per_reoffender_avoided_eur")].iloc[0]
    assert np.isnan(b["estimate"]) and "not estimable" in b["note"]
    assert set(ce["estimand"]) >= {"break_even_risk_reduction", "probability_break_even", "net_benefit_per_participant_eur"}


def test_costs_analysis_without_costs_is_not_estimable():
    c, p, v, m, k, s = tables()
    data = {"tables": {"costs": c, "participants": p, "contacts": k, "matches": m, "volunteers": v},
            "programmes": []}
    out = _report(data, "C")
    assert out["headline"]["status"] == "not_estimable" and "(C)" in out["headline"]["title"]
    assert out["headline"]["sentences"] == ["Costs not measured: the costs table has no rows for this programme."]
    assert out["results"]["note"].tolist() == ["not estimable: the costs table has no rows for this programme"]
    out = _report(data, "A", "nl")
    assert out["headline"]["status"] == "warning"  # fewer than 10 participants: no per-participant cost shown
    assert not any("per deelnemer (" in x for x in out["headline"]["sentences"])
    assert np.isnan(out["tables"]["unit_costs"]["cost_per_active_participant_eur"].iloc[0])


def test_zero_width_effect_interval_is_not_estimable_not_an_error():
    """Tiny data with no reoffences in either group give RD = 0 with CI [0, 0]
    (seen in a quarterly run at scale 0.1); the programme is listed as not
    estimable instead of stopping the notebook."""
    from evaluation.analyses.costs import cost_effectiveness
    from evaluation.contract.results import make_results

    cost = make_results([{"programme_id": "P1", "analysis": "costs", "estimand": "cost_per_active_participant_eur",
                          "group": "programme", "estimate": 1200.0, "n": 40}])
    effect = make_results([{"programme_id": "P1", "analysis": "recidivism", "estimand": "prevalence_730d_crude",
                            "endpoint": "GENERAL", "group": "difference", "estimate": 0.0, "ci_lower": 0.0,
                            "ci_upper": 0.0, "n": 40}])
    out = cost_effectiveness(cost, effect, cost_per_reoffence_eur=20000)
    assert len(out) == 1
    assert np.isnan(out["estimate"].iloc[0])
    assert "zero-width" in out["note"].iloc[0]


def test_total_of_all_programmes_withheld_when_it_gives_a_small_programme_back():
    """Hand-worked: A has 4 active participants (shown "<10"), B gets 12 more (13 active); all
    programmes 17, and 17 - 13 = A's 4. The unit-cost table and the headline of all programmes then
    show no cost per participant of all programmes, and results.csv withholds its n ("c")."""
    from evaluation.publish import disclosure

    c, p, v, m, k, s = tables()
    extra = pd.DataFrame({"participant_id": [f"b{i}" for i in range(2, 14)], "programme_id": "B", "group": "programme",
                          "intake_date": D("2026-01-05"), "programme_end_date": pd.NaT, "programme_end_reason": None})
    p = pd.concat([p, extra], ignore_index=True)
    data = {"tables": {"costs": c, "participants": p, "contacts": k, "matches": m, "volunteers": v},
            "programmes": []}
    out = _report(data, "all")
    unit = out["tables"]["unit_costs"].set_index("programme_id")
    assert unit["participants_active"].to_dict() == {"A": "fewer than 10", "B": "13", "all": "c"}
    assert np.isnan(unit.loc["all", "cost_per_active_participant_eur"])
    assert unit.loc["B", "cost_per_active_participant_eur"] == pytest.approx(500 / 13)
    assert out["headline"]["status"] == "warning"
    assert any("would reveal a small number" in x for x in out["headline"]["sentences"])
    assert not any("per participant (" in x for x in out["headline"]["sentences"])
    pub = disclosure.protect_results(out["results"])
    row = pub[(pub.programme_id == "all") & (pub.estimand == "cost_per_active_participant_eur")
              & (pub.group == "all")].iloc[0]
    assert row["n"] == "c" and np.isnan(row["estimate"]) and row["suppressed"]
    # B alone: nothing to withhold in its own report
    own = _report(data, "B")
    assert "would reveal" not in " ".join(own["headline"]["sentences"])


def _report(data, programme_id, language="en"):
    """The costs report as the notebook makes it: CostsAnalysis, then the publishing step."""
    from evaluation.publish.costs_outputs import costs_outputs

    analysis = costs.CostsAnalysis(with_effects=False).fit(data, programme_id, "2026-09-30")
    return costs_outputs(analysis, language)
