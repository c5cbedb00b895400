"""reintegration_frames on the hand-built fixture with the issue-19 tables (hand-worked values).

The tables are those of tests/test_reintegration_contract.py (``ROWS``); the cutoff is
2026-09-30. Every expected value below was worked out by hand from those rows and the
fixture's participants, matches and contacts (the comments show the arithmetic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import read_text_table, write_text_table
from test_reintegration_contract import with_reintegration

from evaluation.datasets.recidivism import COVARIATES
from evaluation.datasets.reintegration import (
    CIRCUMSTANCE_COLUMNS,
    EXCLUDED_COLUMNS,
    GOAL_COLUMNS,
    PEER_COLUMNS,
    SCORE_COLUMNS,
    reintegration_frames,
)
from evaluation.validation.validate import validate_intake

CLEAN = Path(__file__).parent / "fixtures" / "intake_clean"


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    res = validate_intake(with_reintegration(tmp_path_factory.mktemp("ri")), "en")
    assert res.ok
    return res


def test_columns_are_the_shared_interface():
    assert SCORE_COLUMNS[:15] == ("participant_id", "programme_id", "group", "instrument", "domain", "score_min",
                                  "score_max", "sufficient_from", "baseline", "end", "follow_up", "end_due",
                                  "follow_up_due", "days_to_end", "days_to_follow_up")
    assert SCORE_COLUMNS[15:-3] == COVARIATES
    assert SCORE_COLUMNS[-3:] == ("contact_hours", "match_months", "cluster")
    assert CIRCUMSTANCE_COLUMNS[-len(COVARIATES):] == COVARIATES


def test_scores_hand_worked(validated):
    f = reintegration_frames(validated.tables, "all", validated.cutoff_date, validated.extract)
    s = f.scores
    assert list(s.columns) == list(SCORE_COLUMNS)
    assert list(zip(s.participant_id, s.domain, strict=True)) == [
        ("p001", "finances"), ("p001", "housing"), ("p002", "housing"), ("p003", "housing")]
    assert s.group.tolist() == ["programme", "programme", "programme", "comparison"]
    np.testing.assert_array_equal(s.baseline, [3, 2, 1, 3])
    np.testing.assert_array_equal(s.end, [3, 4, np.nan, 3])
    np.testing.assert_array_equal(s.follow_up, [np.nan, 4, np.nan, np.nan])
    # p001 ended 2025-12-20 (due; +180 = 2026-06-18 due); p002 has no end; p003 (comparison): intake
    # 2025-02-10 + 365 = 2026-02-10 due, + 180 = 2026-08-09 due
    assert s.end_due.tolist() == [True, True, False, True]
    assert s.follow_up_due.tolist() == [True, True, False, True]
    # 2025-01-20 -> 2025-12-15: 329 days; -> 2026-07-01: 527 days; 2025-02-15 -> 2026-02-10: 360 days
    np.testing.assert_array_equal(s.days_to_end, [329, 329, np.nan, 360])
    np.testing.assert_array_equal(s.days_to_follow_up, [np.nan, 527, np.nan, np.nan])
    assert (s.score_min == 1).all() and (s.score_max == 5).all() and (s.sufficient_from == 4).all()
    # contacts c001-c003 of m01: 60 + 45 + 90 = 195 min = 3.25 h; m02: 60 + 30 = 90 min = 1.5 h; p003 no match
    np.testing.assert_allclose(s.contact_hours, [3.25, 3.25, 1.5, np.nan])
    # m01 2025-01-20 .. 2025-12-20 = 334 days; m02 2025-04-15 .. cutoff 2026-09-30 = 533 days (months of 30.4375 days)
    np.testing.assert_allclose(s.match_months, [334 / 30.4375, 334 / 30.4375, 533 / 30.4375, np.nan])
    assert s.cluster.tolist() == ["v01", "v01", "v02", "p003"]
    assert s.age_at_intake.tolist() == [35.0, 35.0, 40.0, 33.0]  # 2025 - birth year
    # 9 rows: 4 intakes + 3 ends + 1 follow-up used, the interim a02 (row 3) excluded
    ex = f.excluded
    assert list(ex.columns) == list(EXCLUDED_COLUMNS)
    assert ex.values.tolist() == [["assessments", 3, "interim assessment (not used by the analysis)"]]


def test_goals_circumstances_peer_mentors_hand_worked(validated):
    f = reintegration_frames(validated.tables, "P1", validated.cutoff_date, validated.extract)
    g = f.goals
    assert list(g.columns) == list(GOAL_COLUMNS)
    assert g.values.tolist() == [
        ["g01", "m01", "p001", "P1", "housing", "achieved", True],
        ["g02", "m01", "p001", "P1", "finances", "partly", True],
        ["g03", "m02", "p002", "P1", "work_education", None, False]]
    c = f.circumstances
    assert list(c.columns) == list(CIRCUMSTANCE_COLUMNS)
    # p001: unemployed -> paid_work, temporary -> stable, benefits -> wages; p003: housing not recorded
    got = c[["participant_id", "measure", "intake", "intake_positive", "follow_up_positive", "follow_up_due"]]
    assert got.values.tolist()[:3] == [["p001", "employment", "unemployed", 0.0, 1.0, True],
                                       ["p001", "housing", "temporary", 0.0, 1.0, True],
                                       ["p001", "income", "benefits", 0.0, 1.0, True]]
    assert got.values.tolist()[3][:4] == ["p003", "employment", "paid_work", 1.0]
    assert got.values.tolist()[4][:4] == ["p003", "income", "wages", 1.0]
    assert c.follow_up_positive.iloc[3:].isna().all() and c.group.tolist() == ["programme"] * 3 + ["comparison"] * 2
    p = f.peer_mentors
    assert list(p.columns) == list(PEER_COLUMNS)
    # v02 started 2024-09-01; first new case 2025-11-15: 365 + 30 + 31 + 14 = 440 days; o01 (30 days after the
    # start) unemployed -> 0; latest work status o02 paid_work -> 1
    assert p.drop(columns="start_date").values.tolist() == [["v02", "P1", 440.0, 1, 0.0, 1.0]]
    assert f.excluded["table"].tolist() == ["assessments"]


def test_other_programme_and_missing_tables_give_empty_frames(validated):
    f = reintegration_frames(validated.tables, "RJ1", validated.cutoff_date)
    for name, cols in (("scores", SCORE_COLUMNS), ("goals", GOAL_COLUMNS), ("circumstances", CIRCUMSTANCE_COLUMNS),
                       ("peer_mentors", PEER_COLUMNS)):
        frame = getattr(f, name)
        assert frame.empty and list(frame.columns) == list(cols), name
    plain = validate_intake(CLEAN, "en")
    f = reintegration_frames(plain.tables, "all", plain.cutoff_date)
    assert f.scores.empty and f.goals.empty and f.circumstances.empty and f.peer_mentors.empty and f.excluded.empty
    assert list(f.scores.columns) == list(SCORE_COLUMNS)


def test_duplicate_occasions_use_earliest_intake_and_latest_end(tmp_path):
    folder = with_reintegration(tmp_path)
    a = read_text_table(folder, "assessments")
    extra = pd.DataFrame([["a10", "p001", "2025-12-18", "end", "zrm_2017", "housing", "5", ""],      # row 11
                          ["a11", "p001", "2025-01-25", "intake", "zrm_2017", "housing", "4", ""],   # row 12
                          ["a12", "p003", "2025-03-01", "end", "zrm_2017", "finances", "2", ""]],   # row 13
                         columns=a.columns)
    write_text_table(folder, "assessments", pd.concat([a, extra], ignore_index=True))
    res = validate_intake(folder, "en")
    assert set(res.issues["rule"]) == {"assessments_one_intake_and_end"}  # warnings: rows 11 and 12 are used
    f = reintegration_frames(res.tables, "all", res.cutoff_date)
    row = f.scores[(f.scores.participant_id == "p001") & (f.scores.domain == "housing")].iloc[0]
    assert (row.baseline, row.end) == (2.0, 5.0)  # intake a01 (2025-01-20, earlier), end a10 (2025-12-18, later)
    assert row.days_to_end == 332.0
    ex = f.excluded.sort_values("row_ref").values.tolist()
    assert ex == [["assessments", 3, "interim assessment (not used by the analysis)"],
                  ["assessments", 4, "another end assessment of the same person, instrument and domain is used"],
                  ["assessments", 12, "another intake assessment of the same person, instrument and domain is used"],
                  ["assessments", 13, "no intake assessment of the same person, instrument and domain"]]
    n_used = len(f.scores) + f.scores.end.notna().sum() + f.scores.follow_up.notna().sum()
    assert n_used + len(f.excluded) == len(res.tables["assessments"]) == 12


def test_unvalidated_rows_without_consent_or_lived_experience_are_excluded(validated):
    tables = dict(validated.tables)
    vo = tables["volunteer_outcomes"].copy()
    extra = vo.iloc[[0, 0]].copy()
    extra["outcome_id"] = ["o98", "o99"]
    extra["consent_to_linkage"] = pd.array([False, True], dtype="boolean")
    extra["volunteer_id"] = ["v02", "v01"]
    extra["_row"] = [98, 99]
    tables["volunteer_outcomes"] = pd.concat([vo, extra], ignore_index=True)
    f = reintegration_frames(tables, "all", validated.cutoff_date)
    ex = f.excluded[f.excluded.table == "volunteer_outcomes"].values.tolist()
    assert ex == [["volunteer_outcomes", 98, "no consent to linkage (such rows must not be delivered)"],
                  ["volunteer_outcomes", 99, "volunteer without lived experience"]]
    assert f.peer_mentors.volunteer_id.tolist() == ["v02"]


def test_input_checks(validated):
    with pytest.raises(ValueError, match="cutoff_date is required"):
        reintegration_frames(validated.tables, "all", None)
    with pytest.raises(ValueError, match="programme_id"):
        reintegration_frames(validated.tables, "", validated.cutoff_date)
