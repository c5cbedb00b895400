"""Derivation tests for evaluation.datasets.recidivism on hand-built typed tables.

Every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from evaluation.datasets.recidivism import ENDPOINTS, recidivism_endpoints

D = pd.Timestamp
CUTOFF = "2024-12-31"


def _participants() -> pd.DataFrame:
    base = dict(
        group="programme", assignment="observational", sex="male", birth_year=1990, intake_date=D("2023-01-01"),
        follow_up_start=D("2023-01-01"), risk_level="medium", index_offence_category="violence", prior_cases=2,
        prior_custodial_sentences=1, age_first_case=18, employed_at_intake=True, stable_housing_at_intake=True,
        substance_problem=False, psychiatric_problem=pd.NA, death_date=pd.NaT, emigration_date=pd.NaT,
        programme_id="MENT1",
    )
    rows = [
        dict(base, participant_id="P1"),
        dict(base, participant_id="P2", group="comparison", death_date=D("2023-07-01")),
        dict(base, participant_id="P3", emigration_date=D("2024-01-01")),
        dict(base, participant_id="P4"),
        dict(base, participant_id="P5", programme_id="COSA1", index_offence_category="property"),
    ]
    df = pd.DataFrame(rows)
    df["_row"] = range(2, 2 + len(df))
    df["employed_at_intake"] = df["employed_at_intake"].astype("boolean")
    df["psychiatric_problem"] = df["psychiatric_problem"].astype("boolean")
    return df


def _events() -> pd.DataFrame:
    rows = [
        # P1: E1 on the start day (counted only with count_start_day=True)
        ("E1", "P1", "2023-01-01", "property", 4.0, False, "conviction", 0),
        ("E2", "P1", "2023-03-01", "violence", 8.0, True, "acquittal", 0),  # never counts
        ("E3", "P1", "2023-06-01", "violence", 8.0, True, "policy_dismissal", 30),
        ("E4", "P1", "2023-09-01", "property", 2.0, True, "prosecutor_sanction", 0),  # serious by flag only
        ("E5", "P2", "2023-07-01", "drugs", 1.0, False, "conviction", None),  # same day as death
        ("E6", "P3", "2024-06-01", "violence", 8.0, True, "conviction", 10),  # after emigration
        ("E7", "P5", "2023-04-01", "property", 4.0, False, "pending", 0),
        ("E8", "P5", "2023-05-01", "sexual", 8.0, True, "technical_dismissal", 0),  # never counts
        ("E9", "P5", "2023-08-01", "sexual", 6.0, True, "conviction", 0),
    ]
    df = pd.DataFrame(
        rows,
        columns=["event_id", "participant_id", "offence_date", "offence_category", "max_penalty_years",
                 "pretrial_detention_allowed", "disposal", "custodial_days"],
    )
    df["offence_date"] = pd.to_datetime(df["offence_date"])
    df["custodial_days"] = df["custodial_days"].astype("Int64")
    df["pretrial_detention_allowed"] = df["pretrial_detention_allowed"].astype("boolean")
    df["_row"] = range(2, 2 + len(df))
    return df


def _detention() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["P1", "P4", "P1"],
            "start_date": [D("2023-02-01"), D("2024-12-01"), D("2022-06-01")],
            "end_date": [D("2023-02-11"), pd.NaT, D("2022-12-31")],  # P4 still detained; P1's first before start
            "_row": [2, 3, 4],
        }
    )


def _derive(**kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = recidivism_endpoints(
            _participants(), _events(), _detention(), CUTOFF, special_categories={"COSA1": "sexual"}, **kw
        )
    return ds.set_index(["participant_id", "endpoint"])


def test_one_row_per_person_and_endpoint_with_documented_columns():
    ds = _derive().reset_index()
    assert len(ds) == 5 * len(ENDPOINTS)
    for col in ("participant_id", "programme_id", "group", "endpoint", "origin_date", "end_date", "time", "cnsr",
                "event_desc", "time_at_risk", "n_events", "source_event_ids", "age_at_intake", "risk_level"):
        assert col in ds.columns
    assert not ds.duplicated(["participant_id", "endpoint"]).any()


def test_general_recidivism_wodc_rules():
    ds = _derive()
    r = ds.loc[("P1", "GENERAL")]
    # E1 on the start day does not count, E2 is an acquittal: first event E3 on 2023-06-01.
    # time = Jan 31 + Feb 28 + Mar 31 + Apr 30 + May 31 = 151 days
    assert r["cnsr"] == 0 and r["time"] == 151
    assert r["end_date"] == D("2023-06-01")
    # detention 2023-02-01 .. release 2023-02-11: detained days Feb 1..Feb 10 = 10 days;
    # the detention in 2022 lies before the start and does not count.
    assert r["time_at_risk"] == 141
    # counted cases in the whole follow-up: E3, E4 (E1 start day, E2 acquittal excluded)
    assert r["n_events"] == 2 and r["source_event_ids"] == "E3;E4"
    # follow-up 2023-01-01 .. 2024-12-31 = 365 + 365 = 730 days, minus 10 detained
    assert r["fu_days"] == 730 and r["exposure_days"] == 720


def test_count_start_day_parameter():
    ds = _derive(count_start_day=True)
    r = ds.loc[("P1", "GENERAL")]
    assert r["cnsr"] == 0 and r["time"] == 0 and r["n_events"] == 3
    assert r["source_event_ids"] == "E1;E3;E4"
    # E1 (penalty 4, pretrial False) is serious at threshold 4: first serious event now also on the start day
    assert ds.loc[("P1", "SERIOUS"), "time"] == 0
    # very serious (>= 8) still E3
    assert ds.loc[("P1", "VERY_SERIOUS"), "time"] == 151


def test_serious_very_serious_special_custodial():
    ds = _derive()
    assert ds.loc[("P1", "SERIOUS"), "n_events"] == 2  # E3 (8 years) and E4 (2 years but pretrial allowed)
    assert ds.loc[("P1", "VERY_SERIOUS"), "n_events"] == 1
    assert ds.loc[("P1", "SPECIAL"), "source_event_ids"] == "E3"  # index violence; E4 is property
    assert ds.loc[("P1", "CUSTODIAL"), "source_event_ids"] == "E3"
    # COSA: SPECIAL means sexual (override), not the index category property; E8 technical dismissal excluded
    r = ds.loc[("P5", "SPECIAL")]
    assert r["cnsr"] == 0 and r["source_event_ids"] == "E9"
    assert r["time"] == (D("2023-08-01") - D("2023-01-01")).days  # 212
    assert ds.loc[("P5", "GENERAL"), "source_event_ids"] == "E7;E9"  # pending counts
    # thresholds are parameters: with serious at 7 years, E4 still counts by its pretrial flag and E3 by 8 >= 7
    ds7 = _derive(serious_threshold_years=7, very_serious_threshold_years=9)
    assert ds7.loc[("P1", "SERIOUS"), "n_events"] == 2
    assert ds7.loc[("P1", "VERY_SERIOUS"), "n_events"] == 0
    assert ds7.loc[("P5", "SERIOUS"), "source_event_ids"] == "E9"  # E7: 4 < 7, no pretrial flag


def test_competing_events_and_cutoff():
    ds = _derive()
    # P2: offence on the day of death counts as the event
    r = ds.loc[("P2", "GENERAL")]
    assert r["cnsr"] == 0 and r["time"] == 181
    # for SERIOUS (E5 has 1 year, no pretrial) the death ends follow-up: competing, code 2
    r = ds.loc[("P2", "SERIOUS")]
    assert r["cnsr"] == 2 and r["time"] == 181 and r["n_events"] == 0
    # P3 emigrated on 2024-01-01; E6 after emigration is outside follow-up
    r = ds.loc[("P3", "GENERAL")]
    assert r["cnsr"] == 3 and r["time"] == 365 and r["n_events"] == 0 and r["source_event_ids"] == ""
    # P4: censored at the cutoff; open detention from 2024-12-01 removes Dec 1..31 = 31 days
    r = ds.loc[("P4", "GENERAL")]
    assert r["cnsr"] == 1 and r["time"] == 730 and r["time_at_risk"] == 699


def test_missing_custodial_days_warns():
    with pytest.warns(UserWarning, match="lack custodial_days"):
        recidivism_endpoints(_participants(), _events(), _detention(), CUTOFF)


def test_covariates_carried():
    ds = _derive()
    r = ds.loc[("P1", "GENERAL")]
    assert r["age_at_intake"] == 33  # 2023 - 1990
    assert r["employed_at_intake"] == 1.0
    assert pd.isna(r["psychiatric_problem"])  # missing stays missing


def test_errors_name_table_row_field():
    ev = _events()
    ev.loc[3, "participant_id"] = "NOBODY"
    with pytest.raises(ValueError, match=r"justice_events.*row 5.*participant_id"):
        recidivism_endpoints(_participants(), ev, _detention(), CUTOFF)
    ev = _events()
    ev.loc[0, "offence_date"] = pd.NaT
    with pytest.raises(ValueError, match=r"justice_events.*row 2.*offence_date"):
        recidivism_endpoints(_participants(), ev, _detention(), CUTOFF)
    p = _participants()
    p.loc[2, "follow_up_start"] = D("2025-03-01")
    with pytest.raises(ValueError, match=r"participants.*row 4.*follow_up_start.*after the cutoff"):
        recidivism_endpoints(p, _events(), _detention(), CUTOFF)
    p = _participants()
    p.loc[1, "death_date"] = D("2022-01-01")
    with pytest.raises(ValueError, match=r"participants.*row 3.*death_date"):
        recidivism_endpoints(p, _events(), _detention(), CUTOFF)
    with pytest.raises(ValueError, match="unknown endpoint"):
        recidivism_endpoints(_participants(), _events(), None, CUTOFF, endpoints=("GENERAL", "ANY"))



def test_derive_design_from_participants():
    # hand-worked: A randomised both groups -> rct; B observational comparison -> matched; C no comparison
    from evaluation.datasets.design import derive_design

    df = pd.DataFrame({"programme_id": ["A", "A", "B", "B", "C"],
                       "group": ["programme", "comparison", "programme", "comparison", "programme"],
                       "assignment": ["randomised", "randomised", "observational", "observational", "observational"]})
    assert derive_design(df, "A") == "rct"
    assert derive_design(df, "B") == "matched"
    assert derive_design(df, "C") == "descriptive"
    mixed = df.assign(assignment=["randomised", "observational", "x", "x", "x"])
    assert derive_design(mixed, "A") == "matched"
    assert derive_design(None, "A") == "descriptive"


def test_other_after_other_is_not_special_recidivism():
    # hand-worked (issue 17 item 15): P1's index offence becomes 'other' and its violence case E3
    # becomes 'other' too; a residual category is no evidence of the same kind of offence, so P1
    # has no SPECIAL case, while GENERAL is unchanged (E3;E4)
    p, ev = _participants(), _events()
    p.loc[p["participant_id"] == "P1", "index_offence_category"] = "other"
    ev.loc[ev["event_id"] == "E3", "offence_category"] = "other"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = recidivism_endpoints(p, ev, _detention(), CUTOFF, special_categories={"COSA1": "sexual"})
    ds = ds.set_index(["participant_id", "endpoint"])
    assert ds.loc[("P1", "SPECIAL"), "cnsr"] == 1 and ds.loc[("P1", "SPECIAL"), "n_events"] == 0
    assert ds.loc[("P1", "GENERAL"), "source_event_ids"] == "E3;E4"
