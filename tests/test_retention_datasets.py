"""Retention analysis datasets on small hand-built intakes, checked against hand-worked numbers.

Every expected number below is worked out by hand in the comment next to it
(day counts between dates, split points of the time-varying rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses import retention as rt
from evaluation.analyses import retention_cox as cox
from evaluation.datasets import retention as rds
from evaluation.publish import figures as figs
from evaluation.publish import workforce as wfo

CUTOFF = "2025-12-31"
NA = pd.NA


def _volunteers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "volunteer_id": ["V1", "V2", "V3", "V4", "V6"],
            "programme_id": ["P1", "P1", "P1", "P2", "P2"],
            "sex": ["male", "female", "male", "female", "male"],
            "lived_experience": pd.array([True, False, False, True, False], dtype="boolean"),
            "recruitment_channel": ["local_network", "website_social_media", "local_network", "education", "local_network"],
            "start_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-06-01", "2025-03-01", "2025-02-01"]),
            "end_date": pd.to_datetime(["2025-04-11", None, "2026-02-01", "2025-03-01", "2025-05-02"]),
            "end_reason": ["time_constraints", None, "moved", "health", "dissatisfied"],
            "_row": [2, 3, 4, 5, 6],
        }
    )


def _support() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E3", "E4", "E5", "E6"],
            "volunteer_id": ["V1", "V1", "V1", "V6", "V6", "V2"],
            "event_date": pd.to_datetime(
                ["2025-01-31", "2025-03-02", "2025-02-15", "2024-12-01", "2025-05-02", "2025-12-01"]
            ),
            "kind": ["basic_training", "group_supervision", "basic_training", "basic_training", "recognition",
                     "recognition"],
        }
    )


def test_tenure_times_censoring_and_reasons():
    ten = rds.volunteer_tenure(_volunteers(), CUTOFF).set_index("volunteer_id")
    # V1: 2025-01-01 -> 2025-04-11 = 31 + 28 + 31 + 10 = 100 days, stopped
    assert ten.loc["V1", "time"] == 100 and ten.loc["V1", "event"] == 1 and ten.loc["V1", "cnsr"] == 0
    assert ten.loc["V1", "end_reason"] == "time_constraints"
    # V2: still active, censored at the cutoff: 2025-01-01 -> 2025-12-31 = 364 days
    assert ten.loc["V2", "time"] == 364 and ten.loc["V2", "event"] == 0 and ten.loc["V2", "cnsr"] == 1
    assert ten.loc["V2", "end_reason"] == "censored"
    # V3 stops after the cutoff: not yet known at the cutoff -> censored, 2025-06-01 -> 2025-12-31 = 213 days
    assert ten.loc["V3", "time"] == 213 and ten.loc["V3", "event"] == 0 and ten.loc["V3", "end_reason"] == "censored"
    # V4 stops on its start day: half a day
    assert ten.loc["V4", "time"] == 0.5 and ten.loc["V4", "event"] == 1
    # V6: 2025-02-01 -> 2025-05-02 = 28 + 31 + 30 + 1 = 90 days
    assert ten.loc["V6", "time"] == 90


def test_tenure_start_after_cutoff_is_left_out_with_a_warning():
    v = pd.concat([_volunteers(), pd.DataFrame({"volunteer_id": ["V5"], "programme_id": ["P1"],
                                                "start_date": pd.to_datetime(["2026-01-15"]),
                                                "end_date": pd.to_datetime([None]), "end_reason": [None],
                                                "_row": [7]})], ignore_index=True)
    with pytest.warns(UserWarning, match="1 row"):
        ten = rds.volunteer_tenure(v, CUTOFF)
    assert "V5" not in set(ten["volunteer_id"]) and len(ten) == 5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"end_date": pd.Timestamp("2024-12-01")}, r"row 2, field 'end_date': end_date lies before start_date"),
        ({"start_date": pd.NaT}, r"row 2, field 'start_date': date is missing"),
        ({"volunteer_id": "V2"}, r"row 2, field 'volunteer_id'.*more than once"),
        ({"end_reason": None}, r"row 2, field 'end_reason'"),
    ],
)
def test_tenure_bad_input_names_table_row_and_field(change, message):
    v = _volunteers()
    for k, val in change.items():
        v.loc[0, k] = val
    with pytest.raises(ValueError, match=message):
        rds.volunteer_tenure(v, CUTOFF)


def test_episodes_split_at_first_support_dates():
    ep = rds.volunteer_episodes(_volunteers(), _support(), CUTOFF)
    v1 = ep.loc[ep["volunteer_id"] == "V1"].reset_index(drop=True)
    # first basic training 2025-01-31 = day 30 (the later E3 training is ignored); first supervision
    # 2025-03-02 = day 60; stop day 100. Rows (0,30] untrained, (30,60] trained, (60,100] trained+supervised.
    assert v1[["start", "stop"]].to_numpy().tolist() == [[0, 30], [30, 60], [60, 100]]
    assert v1["basic_training"].tolist() == [0, 1, 1]
    assert v1["supervision"].tolist() == [0, 0, 1]
    assert v1["recognition"].tolist() == [0, 0, 0]
    assert v1["event"].tolist() == [0, 0, 1]
    # the volunteer trained on day 30 contributes 30 untrained days before it
    untrained = ep.loc[(ep["volunteer_id"] == "V1") & (ep["basic_training"] == 0)]
    assert (untrained["stop"] - untrained["start"]).sum() == 30
    # V6 trained before the start -> trained from day 0; recognition on the stop day changes nothing
    v6 = ep.loc[ep["volunteer_id"] == "V6"]
    assert v6[["start", "stop", "basic_training", "recognition", "event"]].to_numpy().tolist() == [[0, 90, 1, 0, 1]]
    # V2 recognised on 2025-12-01 = day 334, censored at day 364
    v2 = ep.loc[ep["volunteer_id"] == "V2"]
    assert v2[["start", "stop", "recognition", "event"]].to_numpy().tolist() == [[0, 334, 0, 0], [334, 364, 1, 0]]
    # one event per stopped volunteer, total time preserved
    ten = rds.volunteer_tenure(_volunteers(), CUTOFF)
    assert ep.groupby("volunteer_id")["event"].sum().sum() == ten["event"].sum() == 3
    np.testing.assert_allclose(
        (ep["stop"] - ep["start"]).groupby(ep["volunteer_id"]).sum().sort_index().to_numpy(),
        ten.set_index("volunteer_id")["time"].sort_index().to_numpy(),
    )


def test_naive_coding_counts_later_training_from_the_start():
    nv = rds.naive_baseline_coding(_volunteers(), _support(), CUTOFF).set_index("volunteer_id")
    # V1 was trained on day 30 but the naive coding calls the whole 100 days "trained"
    assert nv.loc["V1", "basic_training"] == 1 and nv.loc["V1", "start"] == 0 and nv.loc["V1", "stop"] == 100
    # recognition on the stop day (V6) is not before the stop
    assert nv.loc["V6", "recognition"] == 0
    assert nv.loc["V3", "basic_training"] == 0


def test_landmark_dataset_keeps_only_those_at_risk():
    ten = rds.volunteer_tenure(_volunteers(), CUTOFF)
    first = rds._first_support_dates(_support(), pd.Timestamp(CUTOFF))["basic_training"]
    lm = rds.landmark_dataset(ten, first, 91.0, exposure_name="trained")
    # at risk after day 91: V1 (100), V2 (364), V3 (213); V4 (0.5) and V6 (90) ended before
    assert sorted(lm["volunteer_id"]) == ["V1", "V2", "V3"]
    assert lm.attrs["excluded_before_landmark"] == 2
    lmi = lm.set_index("volunteer_id")
    assert lmi.loc["V1", "time"] == 9 and lmi.loc["V1", "trained"] == 1  # 100 - 91, trained on day 30
    assert lmi.loc["V2", "trained"] == 0


def test_workforce_flow_hand_worked():
    v = pd.DataFrame(
        {
            "volunteer_id": ["A", "B", "C", "D"],
            "programme_id": ["P1"] * 4,
            "start_date": pd.to_datetime(["2025-01-10", "2024-12-01", "2025-02-01", "2025-05-01"]),
            "end_date": pd.to_datetime([None, "2025-02-15", "2025-08-01", None]),
        }
    )
    f = rds.workforce_flow(v, "2025-09-30", by=None).set_index("quarter")
    assert list(f.index) == ["2024Q4", "2025Q1", "2025Q2", "2025Q3"]
    exp = {  # quarter: active_start, joiners, leavers, active_end
        "2024Q4": (0, 1, 0, 1),  # B joins
        "2025Q1": (1, 2, 1, 2),  # A, C join; B leaves
        "2025Q2": (2, 1, 0, 3),  # D joins
        "2025Q3": (3, 0, 1, 2),  # C leaves
    }
    for q, e in exp.items():
        assert tuple(f.loc[q, ["active_start", "joiners", "leavers", "active_end"]]) == e
    # turnover over the last 4 quarters: 2 leavers / mean stock ((0+1)/2 + (1+2)/2 + (2+3)/2 + (3+2)/2)/4 = 1.75
    assert f.loc["2025Q3", "annual_turnover"] == pytest.approx(2 / 1.75)
    assert np.isnan(f.loc["2025Q2", "annual_turnover"])
    assert f["warning"].eq("").all()  # one falling quarter only


def test_workforce_warning_when_stock_falls():
    v = pd.DataFrame(
        {
            "volunteer_id": ["A", "B", "C"],
            "programme_id": ["P1"] * 3,
            "start_date": pd.to_datetime(["2024-01-01"] * 3),
            "end_date": pd.to_datetime([None, "2024-05-01", "2024-08-01"]),
        }
    )
    f = rds.workforce_flow(v, "2025-03-31", by="programme_id")
    a = f.loc[f["group"] == "all"].set_index("quarter")
    # 2024Q2: 3 -> 2, 2024Q3: 2 -> 1: two consecutive falls
    assert "2 consecutive quarters" in a.loc["2024Q3", "warning"]
    assert a.loc["2024Q2", "warning"] == ""
    # 2025Q1 end stock 1 against 3 a year earlier: fell by 67%
    assert "fell by 67% over four quarters" in a.loc["2025Q1", "warning"]
    # The published warnings come from the published (rounded) table: with 3 volunteers every published
    # stock is 0 (true 0..9), so no fall is certain and no sentence is given. The old sentence
    # "fell by 67%" revealed the exact stocks 3 -> 1 of this programme.
    assert wfo.workforce_warnings(f) == []
    assert wfo.workforce_warnings(f, language="nl") == []
    # stock identity in every quarter
    assert (f["active_end"] == f["active_start"] + f["joiners"] - f["leavers"]).all()


PROGRAMMES = [
    {"programme_id": "P1", "programme_type": "mentoring", "organisation": "Org A", "organisation_model": "employer",
     "planned_dosage": {"contacts_per_month": 2, "duration_months": 12}},
    {"programme_id": "C1", "programme_type": "cosa", "organisation": "Org B", "organisation_model": "commissioner",
     "planned_dosage": {"contacts_per_month": 4, "duration_months": 12}},
]


def _match_tables():
    participants = pd.DataFrame(
        {
            "participant_id": ["p1", "p2", "p3", "p4", "p5", "p6", "k1", "k2"],
            "programme_id": ["P1"] * 6 + ["C1"] * 2,
            "sex": ["male", "male", "female", "male", "male", "unknown", "male", "male"],
        }
    )
    volunteers = pd.DataFrame(
        {
            "volunteer_id": ["v1", "v2", "v3", "v4", "v5", "v6", "v7"],
            "sex": ["male", "female", "female", "male", "male", "male", "female"],
            "lived_experience": pd.array([True, False, True, NA, False, True, False], dtype="boolean"),
        }
    )
    matches = pd.DataFrame(
        {
            "match_id": ["M1", "M2", "M3", "M4", "M5", "M6", "K1a", "K1b", "K1c", "K2a"],
            "participant_id": ["p1", "p2", "p3", "p4", "p5", "p6", "k1", "k1", "k1", "k2"],
            "volunteer_id": ["v1", "v2", "v3", "v4", "v5", "v6", "v5", "v6", "v7", "v7"],
            "role": ["mentor"] * 6 + ["circle_member"] * 4,
            "circle_id": [None] * 6 + ["K1", "K1", "K1", "K2"],
            "start_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01", "2025-10-01", "2025-02-01",
                                          "2025-01-01", "2025-01-01", "2025-01-01", "2025-01-01", "2025-03-01"]),
            "planned_end_date": pd.to_datetime(["2025-07-01", None, "2025-04-01", None, "2025-03-01", "2025-12-01",
                                                "2025-12-31", "2025-12-31", "2025-12-31", None]),
            "end_date": pd.to_datetime(["2025-03-01", "2025-06-01", "2025-05-01", None, None, "2025-11-20",
                                        "2025-03-01", "2025-05-01", "2025-06-01", None]),
            "end_reason": ["volunteer_withdrew", "participant_reoffended", "planned_completion", None, None,
                           "planned_completion", "other", "participant_withdrew",
                           "volunteer_withdrew", None],
            "goals_agreed": pd.array([True, False, True, NA, True, True, True, True, True, False], dtype="boolean"),
        }
    )
    return matches, participants, volunteers


def test_match_duration_hand_worked():
    m, p, v = _match_tables()
    md = rds.match_duration(m, p, v, PROGRAMMES, CUTOFF).set_index("match_id")
    # M1: ends 2025-03-01 (day 59) before its planned end 2025-07-01: early, by the volunteer
    assert (md.loc["M1", "time"], md.loc["M1", "event"], md.loc["M1", "cnsr"]) == (59, 1, 0)
    assert md.loc["M1", "early_cause"] == "volunteer_withdrew"
    # M2: no planned date -> start + 12 * 30.4375 = 365.25 days -> 2026-01-01; ends day 151: early
    assert md.loc["M2", "planned_end"] == pd.Timestamp("2026-01-01")
    assert (md.loc["M2", "time"], md.loc["M2", "event"], md.loc["M2", "early_cause"]) == (151, 1, "participant_reoffended")
    # M3: ended after its planned end (day 90): not early, followed until the planned end
    assert (md.loc["M3", "time"], md.loc["M3", "event"], md.loc["M3", "cnsr"]) == (90, 0, 2)
    # M4: running at the cutoff, 2025-10-01 -> 2025-12-31 = 91 days
    assert (md.loc["M4", "time"], md.loc["M4", "event"], md.loc["M4", "cnsr"]) == (91, 0, 1)
    # M5: still running after its planned end 2025-03-01 (day 28): reached the planned end
    assert (md.loc["M5", "time"], md.loc["M5", "cnsr"]) == (28, 2)
    # M6: planned completion 11 days before the planned date is not an early end
    assert (md.loc["M6", "time"], md.loc["M6", "event"], md.loc["M6", "cnsr"]) == (323, 0, 2)
    # same-sex: p1 male/v1 male = 1, p2 male/v2 female = 0, p6 unknown = NaN
    assert md.loc["M1", "same_sex"] == 1 and md.loc["M2", "same_sex"] == 0 and np.isnan(md.loc["M6", "same_sex"])
    assert np.isnan(md.loc["M4", "lived_experience"]) and md.loc["M3", "lived_experience"] == 1
    assert md.loc["K1a", "programme_id"] == "C1"


def test_circle_level_duration():
    m, p, v = _match_tables()
    md = rds.match_duration(m, p, v, PROGRAMMES, CUTOFF)
    c = rds.circle_duration(md, CUTOFF).set_index("circle_id")
    # K1: members end 2025-03-01, 05-01, 06-01 -> circle ends with the last, 2025-06-01 = day 151,
    # before its planned end 2025-12-31: early; cause = reason of the last member (volunteer_withdrew)
    assert (c.loc["K1", "time"], c.loc["K1", "event"], c.loc["K1", "early_cause"]) == (151, 1, "volunteer_withdrew")
    assert c.loc["K1", "n_members"] == 3
    # share of members with lived experience: v5 False, v6 True, v7 False = 1/3
    assert c.loc["K1", "share_lived_experience"] == pytest.approx(1 / 3)
    # K2: running; planned 2025-03-01 + 365 days = 2026-03-01 > cutoff; censored at 2025-12-31 = day 305
    assert (c.loc["K2", "time"], c.loc["K2", "event"], c.loc["K2", "cnsr"]) == (305, 0, 1)


def test_contacts_landmark_counts_first_60_days():
    m, p, v = _match_tables()
    md = rds.match_duration(m, p, v, PROGRAMMES, CUTOFF)
    contacts = pd.DataFrame(
        {
            "match_id": ["M2", "M2", "M2", "M1"],
            "contact_date": pd.to_datetime(["2025-01-05", "2025-03-01", "2025-03-05", "2025-01-10"]),
        }
    )
    lm = rds.contacts_landmark(md, contacts, landmark_days=60).set_index("match_id")
    # M1 ended on day 59 -> not at risk at day 60; M5 reached its planned end on day 28 -> out
    assert "M1" not in lm.index and "M5" not in lm.index
    # M2: contacts on day 4 and 59 (2025-03-01) are in the first 60 days, day 63 is not:
    # 2 contacts / (60 / 30.4375) months = 1.0146
    assert lm.loc["M2", "contacts_per_month_early"] == pytest.approx(2 / (60 / 30.4375))
    assert lm.loc["M2", "time"] == 151 - 60
    assert lm.loc["M3", "contacts_per_month_early"] == 0


def test_participant_retention_and_completion_shares():
    p = pd.DataFrame(
        {
            "participant_id": [f"q{i}" for i in range(6)] + ["c0"],
            "programme_id": ["P1"] * 7,
            "group": ["programme"] * 6 + ["comparison"],
            "risk_level": ["low", "low", "high", "high", "high", "medium", "low"],
            "intake_date": pd.to_datetime(["2025-01-01"] * 7),
            "programme_end_date": pd.to_datetime(["2025-03-01", "2025-12-01", "2025-02-01", "2025-04-01", None,
                                                  "2025-06-01", None]),
            "programme_end_reason": ["dropped_out", "completed", "dropped_out", "moved", None, "completed", None],
        }
    )
    pr = rds.participant_retention(p, CUTOFF).set_index("participant_id")
    assert "c0" not in pr.index  # comparison people are not programme participants
    assert pr.loc["q0", "time"] == 59 and pr.loc["q0", "end_cause"] == "dropped_out"
    assert pr.loc["q3", "end_cause"] == "other_end"
    assert pr.loc["q4", "time"] == 364 and pr.loc["q4", "event"] == 0
    sh = rt.completion_proportions(pr.reset_index()).set_index(["group", "estimand"])
    # among the 5 who ended: 2 completed, 2 dropped out; Wilson CI for 2/5 from R
    # prop.test(2, 5, correct = FALSE)$conf.int = 0.1176208, 0.7692757
    r = sh.loc[("all", "share_completed")]
    assert (r["estimate"], r["n"], r["events"]) == (0.4, 5, 2)
    assert r["ci_lower"] == pytest.approx(0.1176208, abs=1e-6) and r["ci_upper"] == pytest.approx(0.7692757, abs=1e-6)
    # high risk: q2 dropped out, q3 moved -> 1/2 dropped out
    assert sh.loc[("risk_level=high", "share_dropped_out"), "estimate"] == 0.5


def test_wilson_interval_matches_r_prop_test():
    # R: prop.test(k, n, correct = FALSE)$conf.int (stats 4.x); tolerance 1e-9 (printed to 10 decimals)
    for (k, n), (lo, hi) in {
        (1, 3): (0.0614919447, 0.7923403992),
        (2, 3): (0.2076596008, 0.9385080553),
        (7, 20): (0.1811918241, 0.5671457233),
    }.items():
        got = rt.wilson_interval(k, n)
        assert got[0] == pytest.approx(lo, abs=1e-9) and got[1] == pytest.approx(hi, abs=1e-9)
    assert all(np.isnan(rt.wilson_interval(0, 0)))


def test_support_for_unknown_volunteer_and_match_errors_name_the_row():
    s = _support()
    s.loc[2, "volunteer_id"] = "V99"
    s["_row"] = [2, 3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match=r"table 'volunteer_support', row 4, field 'volunteer_id': volunteer 'V99'"):
        rds.volunteer_episodes(_volunteers(), s, CUTOFF)
    m, p, v = _match_tables()
    m.loc[1, "participant_id"] = "nobody"
    with pytest.raises(ValueError, match=r"table 'matches', row index 1, field 'participant_id': not in participants"):
        rds.match_duration(m, p, v, PROGRAMMES, CUTOFF)
    m, p, v = _match_tables()
    m.loc[0, "end_date"] = pd.Timestamp("2024-01-01")
    with pytest.raises(ValueError, match=r"field 'end_date': end_date lies before start_date"):
        rds.match_duration(m, p, v, PROGRAMMES, CUTOFF)
    with pytest.raises(ValueError, match="lies after the extract's cutoff"):
        rds.analysis_cutoff("2025-12-31", "2026-01-31")
    assert rds.analysis_cutoff("2025-12-31", "2025-06-30") == pd.Timestamp("2025-06-30")


def test_km_and_cuminc_figures_leave_out_curves_that_would_count_fewer_than_10_endings():
    """Hand-made: programme A has 30 volunteers of whom 5 stopped (5 steps: the curve would count them),
    B has 30 of whom 20 stopped at distinct times; only B is drawn, A gets a legend entry."""
    a = pd.DataFrame({"programme_id": "A", "time": np.arange(1, 31) * 20.0, "event": [1] * 5 + [0] * 25})
    b = pd.DataFrame({"programme_id": "B", "time": np.arange(1, 31) * 20.0, "event": [1] * 20 + [0] * 10})
    ax = figs.plot_km(pd.concat([a, b]), "programme_id", min_at_risk=10).axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["A: not shown (fewer than 10 endings)", "B (n=30)"]
    assert [len(line.get_xdata()) > 0 for line in ax.get_lines()] == [False, True]
    curves = pd.DataFrame({"reason": ["moved"] * 3 + ["burnout"] * 12, "time": np.arange(1, 16) * 10.0,
                           "estimate": np.r_[np.arange(1, 4) / 40, np.arange(1, 13) / 40]})
    labels = figs.plot_cuminc(curves, min_at_risk=10).axes[0].get_legend_handles_labels()[1]
    assert labels == ["moved: not shown (fewer than 10 endings)", "burnout"]
    # a reason whose total of all programmes is withheld (withhold_pooled) is not drawn either
    ax = figs.plot_cuminc(curves, min_at_risk=10, withheld={"burnout"}, withheld_label="{group}: withheld").axes[0]
    assert ax.get_legend_handles_labels()[1] == ["moved: not shown (fewer than 10 endings)", "burnout: withheld"]
    assert not any(len(line.get_xdata()) for line in ax.get_lines())


def test_a_covariate_level_without_stops_gives_no_hazard_ratio():
    """Hand-made: the 15 volunteers with x = 1 never stop, so the partial likelihood is monotone in x and
    its log hazard ratio runs off to minus infinity; a number like HR 0.000 (0.000-0.000) must not be
    published, the row says it is not estimable instead. z is an ordinary covariate and keeps its estimate."""
    import warnings

    from evaluation.stats.survival import CoxModel

    rng = np.random.default_rng(7)
    n = 45
    d = pd.DataFrame({"time": rng.integers(30, 700, n).astype(float), "x": [1] * 15 + [0] * 30,
                      "z": rng.normal(size=n)})
    d["stop"] = np.where(d["x"] == 1, 0, (rng.random(n) < 0.8).astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CoxModel().fit(d, "time", "stop", ["x", "z"])
    assert abs(float(model.summary_.set_index("term").loc["x", "coef"])) > 20  # the premise
    rows = cox._cox_rows(model, ["x", "z"], "P", "retention", "VOLUNTEER_STOP", "Cox", [], n)
    rows = rows[rows["estimand"] == "hazard_ratio"].set_index("group")
    assert rows.loc["x", ["estimate", "ci_lower", "ci_upper", "p_value"]].isna().all()
    assert "not estimable: the likelihood is monotone" in rows.loc["x", "note"]
    assert np.isfinite(rows.loc["z", "estimate"]) and "not estimable" not in rows.loc["z", "note"]
