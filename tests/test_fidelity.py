"""Implementation fidelity on a small hand-built intake, with hand-worked numbers.

Wilson intervals are R ``prop.test(k, n, correct = FALSE)$conf.int`` (R 4.x),
printed to 10 decimals; tolerance 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses import fidelity as fd

CUTOFF = "2025-12-31"
NA = pd.NA
WILSON = {  # (k, n): R prop.test(k, n, correct = FALSE)$conf.int
    (1, 3): (0.0614919447, 0.7923403992),
    (1, 4): (0.0455872608, 0.6993581574),
    (3, 4): (0.3006418426, 0.9544127392),
    (2, 3): (0.2076596008, 0.9385080553),
    (1, 2): (0.0945312057, 0.9054687943),
    (1, 1): (0.2065493144, 1.0),
}

PROGRAMMES = [
    {
        "programme_id": "P",
        "programme_type": "mentoring",
        "organisation": "Org",
        "organisation_model": "employer",
        "training": {"basic_mandatory": True, "basic_within_months": 3},
        "supervision": {"first_within_months": 1},
        "target_group": {"risk_levels": ["low", "medium"], "sexual_offenders_excluded": True, "same_sex_matching": True},
        "reporting": {"risk_signals_to_supervisor": True, "target_share_signals_reported": 0.9},
        "planned_dosage": {"contacts_per_month": 2, "duration_months": 12},
        "fidelity_targets": {"volunteers_trained_within_3_months": 0.8, "matched_within_6_weeks": 0.5,
                             "unknown_key": 0.5},
        "tidier": {"brief_name": "x", "why": "x", "what_materials": "x", "what_procedures": "x", "who_provides": "x",
                   "how": "x", "where": "x", "when_and_how_much": "x", "tailoring": "  ", "modifications": None,
                   "how_well_planned": "x"},
    },
    {
        "programme_id": "R",
        "programme_type": "restorative_justice",
        "organisation": "Org",
        "organisation_model": "contractor",
        "target_group": {"risk_levels": ["low", "medium", "high"]},
        "planned_dosage": {"contacts_per_month": 1, "duration_months": 3},
        "fidelity_targets": {"agreement_reached": 0.7},
        "tidier": {},
    },
]


def _tables():
    volunteers = pd.DataFrame(
        {
            "volunteer_id": ["T1", "T2", "T3", "T4"],
            "programme_id": ["P"] * 4,
            "sex": ["male", "female", "female", "male"],
            "start_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01", "2025-11-01"]),
        }
    )
    support = pd.DataFrame(
        {
            "volunteer_id": ["T1", "T1", "T2", "T2"],
            "event_date": pd.to_datetime(["2025-02-01", "2025-01-20", "2025-06-01", "2025-02-15"]),
            "kind": ["basic_training", "individual_supervision", "basic_training", "group_supervision"],
        }
    )
    participants = pd.DataFrame(
        {
            "participant_id": ["p1", "p2", "p3", "p4", "c1", "r1", "r2"],
            "programme_id": ["P"] * 5 + ["R", "R"],
            "group": ["programme"] * 4 + ["comparison", "programme", "programme"],
            "sex": ["male", "male", "female", "male", "male", "male", "female"],
            "risk_level": ["low", "medium", "high", "low", "high", "low", "low"],
            "index_offence_category": ["property", "violence", "sexual", "drugs", "sexual", "property", "violence"],
            "intake_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-01", "2025-12-01", "2025-01-01",
                                           "2025-01-01", "2025-01-01"]),
        }
    )
    matches = pd.DataFrame(
        {
            "match_id": ["M1", "M2", "M3"],
            "participant_id": ["p1", "p2", "p3"],
            "volunteer_id": ["T1", "T2", "T3"],
            "circle_id": [None, None, None],
            "start_date": pd.to_datetime(["2025-01-20", "2025-03-01", "2025-02-01"]),
            "end_date": pd.to_datetime(["2025-03-21", "2025-03-31", "2025-02-10"]),
        }
    )
    contacts = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(5)],
            "match_id": ["M1", "M1", "M1", "M1", "M2"],
            "contact_date": pd.to_datetime(["2025-01-25", "2025-02-01", "2025-02-20", "2025-03-10", "2025-03-15"]),
            "risk_signal": ["none", "suicide", "reoffending_risk", "none", "child_safety"],
            "reported_to_supervisor": pd.array([NA, True, False, NA, NA], dtype="boolean"),
        }
    )
    rj = pd.DataFrame(
        {
            "session_id": ["s1", "s2", "s3"],
            "participant_id": ["r1", "r1", "r2"],
            "agreement_reached": pd.array([True, False, True], dtype="boolean"),
            "agreement_fulfilled": pd.array([True, NA, NA], dtype="boolean"),
            "victim_participated": pd.array([True, False, True], dtype="boolean"),
        }
    )
    return {"volunteers": volunteers, "volunteer_support": support, "participants": participants,
            "matches": matches, "contacts": contacts, "rj_sessions": rj}


def _check_share(row, k, n):
    assert (row["numerator"], row["n"]) == (k, n)
    assert row["observed"] == pytest.approx(k / n)
    lo, hi = WILSON[(k, n)]
    assert row["ci_lower"] == pytest.approx(lo, abs=1e-9) and row["ci_upper"] == pytest.approx(hi, abs=1e-9)


@pytest.fixture(scope="module")
def table():
    return fd.fidelity_table(_tables(), PROGRAMMES, CUTOFF).set_index(["programme_id", "indicator"])


def test_training_and_supervision_in_time(table):
    # training window 3 months = 91.3 days: T1 trained day 31 (yes), T2 day 151 (no), T3 never (no);
    # T4 started 2025-11-01, window ends after the cutoff -> not assessed
    r = table.loc[("P", "basic_training_in_time")]
    _check_share(r, 1, 3)
    assert r["target"] == 0.8 and r["target_source"] == "fidelity_targets.volunteers_trained_within_3_months"
    assert "fewer than 10 volunteers started too recently" in r["note"] and r["meets_target"] == False  # noqa: E712
    # supervision window 1 month = 30.4 days: T1 day 19 (yes), T2 day 45 (no), T3 never, T4 never (window ended
    # 2025-12-01, before the cutoff) -> 1 of 4; target 1 from the description
    r = table.loc[("P", "supervision_in_time")]
    _check_share(r, 1, 4)
    assert (r["target"], r["target_source"]) == (1.0, "programme description")


def test_matching_rules(table):
    # same sex: M1 male/male, M2 male/female, M3 female/female -> 2 of 3
    _check_share(table.loc[("P", "same_sex_matching")], 2, 3)
    # risk level in [low, medium]: p1 low, p2 medium, p3 high, p4 low -> 3 of 4 (comparison c1 not counted)
    _check_share(table.loc[("P", "risk_level_in_target")], 3, 4)
    # sexual offenders excluded: p3 has a sexual index offence -> 3 of 4
    _check_share(table.loc[("P", "sexual_offenders_excluded")], 3, 4)
    # matched within 6 weeks (42 days): p1 day 19 yes, p2 day 59 no, p3 day 31 yes; p4 too recent
    r = table.loc[("P", "matched_within_6_weeks")]
    _check_share(r, 2, 3)
    assert r["target"] == 0.5 and r["meets_target"] == True  # noqa: E712


def test_dosage_ratio_estimator(table):
    # M1: 4 contacts over 60 days, M2: 1 over 30 days; M3 (9 days) too short to assess.
    # rate = 5 / (90 / 30.4375) = 1.690972 contacts a month; linearised SE with n/(n-1):
    # residuals c_i - r t_i = +-2/3 -> se = sqrt(2 * 8/9) / (90 / 30.4375) = 0.450926;
    # CI = r * exp(-+1.96 se / r) = (1.002650, 2.851829)
    r = table.loc[("P", "contacts_per_month")]
    assert r["observed"] == pytest.approx(1.6909722222, abs=1e-9)
    assert r["ci_lower"] == pytest.approx(1.0026500857, abs=1e-8)
    assert r["ci_upper"] == pytest.approx(2.8518294639, abs=1e-8)
    assert (r["n"], r["numerator"], r["target"]) == (2, 5, 2.0)
    assert "1 match(es) observed for less than 28 days" in r["note"]
    # M1 2.03 a month >= 2 (met), M2 1.01 (not met)
    _check_share(table.loc[("P", "share_matches_dosage_met")], 1, 2)
    assert table.loc[("P", "planned_contacts_delivered"), "observed"] == pytest.approx(1.6909722222 / 2)


def test_risk_signals_reported(table):
    # three signals: suicide reported, reoffending risk not reported, child safety not recorded -> 1 of 3
    r = table.loc[("P", "risk_signals_reported")]
    _check_share(r, 1, 3)
    assert r["target"] == 0.9 and "1 signal(s) without a recorded report" in r["note"]


def test_restorative_agreements(table):
    _check_share(table.loc[("R", "rj_agreement_reached")], 2, 3)
    assert table.loc[("R", "rj_agreement_reached"), "target_source"] == "fidelity_targets.agreement_reached"
    _check_share(table.loc[("R", "rj_victim_participation")], 2, 3)
    r = table.loc[("R", "rj_agreement_fulfilled")]
    _check_share(r, 1, 1)
    assert "1 agreement(s) without a recorded outcome" in r["note"]
    assert ("P", "rj_agreement_reached") not in table.index


def test_tidier_completeness_and_unassessed_targets(table):
    r = table.loc[("P", "tidier_complete")]
    # 12 items, tailoring blank, modifications null, how_well_actual absent -> 9 of 12
    assert r["observed"] == 0.75 and r["numerator"] == 9
    assert r["note"] == "missing: tailoring, modifications, how_well_actual"
    assert table.loc[("R", "tidier_complete"), "observed"] == 0
    u = table.loc[("P", "unknown_key")]
    assert math.isnan(u["observed"]) and "no indicator" in u["note"]


def test_results_shape_and_bad_input():
    t = fd.fidelity_table(_tables(), PROGRAMMES, CUTOFF, programme_id="P")
    assert set(t["programme_id"]) == {"P"}
    res = fd.fidelity_results(t)
    from evaluation.contract.results import RESULT_COLUMNS

    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert (res["causal"] == False).all() and (res["analysis"] == "fidelity").all()  # noqa: E712
    assert np.isfinite(res["target"].astype(float)).sum() >= 8
    with pytest.raises(ValueError, match="programme_id 'X' is not described"):
        fd.fidelity_table(_tables(), PROGRAMMES, CUTOFF, programme_id="X")
    bad = _tables()
    bad["contacts"].loc[0, "match_id"] = "M9"
    with pytest.raises(ValueError, match=r"table 'contacts', row 0, field 'match_id': match 'M9' not in matches"):
        fd.dosage(bad["matches"], bad["contacts"], bad["participants"], PROGRAMMES, CUTOFF)
