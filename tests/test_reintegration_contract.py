"""Issue 19 contract: assessments, goals, circumstances and volunteer outcomes (planted errors).

The clean fixture (tests/fixtures/intake_clean) gets the four optional tables written by
:func:`with_reintegration` below (hand-built, every row valid); each planted error then changes
one cell, and the expected rule, field and severity were worked out by hand from the contract
(the comment on each case says why the rule fires). Row numbers are CSV source rows (header = 1).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _intake_fixtures import copy_clean, plant, read_text_table, write_text_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.contract.instruments import builtin_instruments, instrument_specs
from evaluation.contract.schema import load_contract
from evaluation.datasets.reintegration import reintegration_frames
from evaluation.intake.read import IntakeError
from evaluation.validation.validate import validate_intake

NEW_TABLES = ("assessments", "goals", "circumstances", "volunteer_outcomes")

# fixture participants: p001 (P1, programme, intake 2025-01-15, end 2025-12-20), p002 (P1, programme,
# intake 2025-03-01, no end), p003 (P1, comparison, intake 2025-02-10), p004 (RJ1); volunteers v01 (no
# lived experience), v02 (lived experience, 2024-09-01 .. 2026-02-01), v03; matches m01 (p001, v01),
# m02 (p002, v02), m03 (p004, v03)
ROWS = {
    "assessments": (
        "assessment_id,participant_id,assessment_date,occasion,instrument,domain,score,assessed_by",
        ["a01,p001,2025-01-20,intake,zrm_2017,housing,2,professional",       # row 2
         "a02,p001,2025-06-01,interim,zrm_2017,housing,3,volunteer",         # row 3
         "a03,p001,2025-12-15,end,zrm_2017,housing,4,professional",          # row 4
         "a04,p001,2026-07-01,follow_up,zrm_2017,housing,4,self",            # row 5
         "a05,p001,2025-01-20,intake,zrm_2017,finances,3,professional",      # row 6
         "a06,p001,2025-12-15,end,zrm_2017,finances,3,professional",         # row 7
         "a07,p003,2025-02-15,intake,zrm_2017,housing,3,professional",       # row 8
         "a08,p003,2026-02-10,end,zrm_2017,housing,3,professional",          # row 9
         "a09,p002,2025-03-05,intake,zrm_2017,housing,1,"]),                 # row 10
    "goals": (
        "goal_id,match_id,domain,agreed_date,reviewed_date,status",
        ["g01,m01,housing,2025-02-01,2025-12-15,achieved",                   # row 2
         "g02,m01,finances,2025-02-01,2025-12-15,partly",                    # row 3
         "g03,m02,work_education,2025-05-01,,"]),                            # row 4
    "circumstances": (
        "participant_id,occasion,observation_date,employment,housing,income",
        ["p001,intake,2025-01-15,unemployed,temporary,benefits",             # row 2
         "p001,follow_up,2026-07-01,paid_work,stable,wages",                 # row 3
         "p003,intake,2025-02-10,paid_work,,wages"]),                        # row 4
    "volunteer_outcomes": (
        "outcome_id,volunteer_id,consent_to_linkage,consent_date,observation_date,measure,value",
        ["o01,v02,true,2024-09-01,2024-10-01,work_status,unemployed",        # row 2
         "o02,v02,ja,2024-09-01,2025-09-01,work_status,paid_work",           # row 3
         "o03,v02,true,2024-09-01,2025-11-15,new_justice_case,"]),           # row 4
}


def with_reintegration(tmp_path: Path) -> Path:
    folder = copy_clean(tmp_path)
    for table, (header, rows) in ROWS.items():
        (folder / f"{table}.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return folder


def _declare(folder: Path, instruments: list[dict]) -> None:
    ex = yaml.safe_load((folder / "extract.yaml").read_text(encoding="utf-8"))
    ex["instruments"] = instruments
    (folder / "extract.yaml").write_text(yaml.safe_dump(ex, sort_keys=False), encoding="utf-8")


def _check_reconciliation(res) -> None:
    r = res.reconciliation
    assert (r["rows_read"] == r["rows_accepted"] + r["rows_quarantined"]).all()
    for row in r.itertuples():
        assert len(res.tables[row.table]) == row.rows_accepted
        assert len(res.quarantine.get(row.table, [])) == row.rows_quarantined


# ----------------------------------------------------------------- contract as data

def test_zrm_instruments_are_data_in_the_contract():
    """ZRM 2010 has 11 domains, ZRM 2017 13 (issue 19 / the ZRM manuals); both 1..5, sufficient from 4."""
    inst = builtin_instruments()
    assert sorted(inst) == ["zrm_2010", "zrm_2017"]
    assert len(inst["zrm_2010"].domains) == 11 and len(inst["zrm_2017"].domains) == 13
    assert "daytime_activities" in inst["zrm_2010"].domains and "daytime_activities" not in inst["zrm_2017"].domains
    assert {(i.score_min, i.score_max, i.sufficient_from) for i in inst.values()} == {(1, 5, 4)}
    spec = load_contract().package["x_instruments"]["instruments"]
    for s in spec:
        for d in s["domains"] + s["score_labels"]:
            assert d["label_en"].strip() and d["label_nl"].strip()
    goals_domains = load_contract().resources["goals"].field("domain")["constraints"]["enum"]
    assert goals_domains == [*inst["zrm_2017"].domains, "other"]


def test_new_tables_are_optional_and_the_old_fixture_is_unchanged():
    c = load_contract()
    assert set(NEW_TABLES) <= set(c.optional_tables)
    res = validate_intake(Path(__file__).parent / "fixtures" / "intake_clean", "en")
    assert res.ok and res.issues_all.empty
    assert not set(NEW_TABLES) & set(res.reconciliation["table"])


def test_clean_tables_validate_without_any_issue(tmp_path):
    res = validate_intake(with_reintegration(tmp_path), "en")
    _check_reconciliation(res)
    assert res.ok and res.issues_all.empty, res.issues_all.to_string()
    counts = dict(zip(res.reconciliation["table"], res.reconciliation["rows_accepted"], strict=True))
    assert [counts[t] for t in NEW_TABLES] == [9, 3, 3, 3]
    assert res.tables["volunteer_outcomes"]["consent_to_linkage"].tolist() == [True, True, True]  # "ja" is true


# (table, source row, field, planted value, rule, severity, other rules that must also fire)
CASES = [
    ("assessments", 2, "participant_id", "p999", "foreign_key", "error", set()),
    ("assessments", 3, "score", "3.5", "type", "error", set()),
    ("assessments", 3, "occasion", "baseline", "enum", "error", set()),
    # ZRM scores 1..5
    ("assessments", 3, "score", "6", "assessments_score_in_range", "error", set()),
    ("assessments", 3, "score", "0", "assessments_score_in_range", "error", set()),
    # daytime_activities is a ZRM 2010 domain, not a 2017 one
    ("assessments", 3, "domain", "daytime_activities", "assessments_domain_of_instrument", "error", set()),
    ("assessments", 3, "instrument", "eigen_matrix", "assessments_instrument_declared", "error", set()),
    # end assessment of p001/housing on 2025-01-10, before its intake assessment of 2025-01-20
    ("assessments", 4, "assessment_date", "2025-01-10", "assessments_not_before_intake", "error", set()),
    # a06 becomes a second intake of p001/finances (a05 is the first): a warning on the later row
    ("assessments", 7, "occasion", "intake", "assessments_one_intake_and_end", "warning", set()),
    ("assessments", 5, "assessment_date", "2026-10-01", "assessments_not_after_cutoff", "error", set()),
    ("goals", 2, "match_id", "m99", "foreign_key", "error", set()),
    ("goals", 2, "domain", "daytime_activities", "enum", "error", set()),
    ("goals", 3, "status", "", "goals_status_with_review", "error", set()),
    ("goals", 4, "status", "achieved", "goals_status_needs_review", "error", set()),
    ("goals", 2, "reviewed_date", "2025-01-15", "goals_review_after_agreement", "error", set()),
    ("goals", 4, "agreed_date", "2026-10-05", "goals_not_after_cutoff", "error", set()),
    ("circumstances", 2, "housing", "caravan", "enum", "error", set()),
    # p001's follow-up on 2025-01-01, before the intake observation of 2025-01-15
    ("circumstances", 3, "observation_date", "2025-01-01", "circumstances_follow_up_not_before_intake", "error", set()),
    ("circumstances", 3, "observation_date", "2026-10-02", "circumstances_not_after_cutoff", "error", set()),
    ("circumstances", 3, "occasion", "intake", "primary_key", "error", set()),
    ("volunteer_outcomes", 2, "volunteer_id", "v99", "foreign_key", "error", set()),
    ("volunteer_outcomes", 2, "consent_to_linkage", "false", "volunteer_outcomes_consent", "error", set()),
    ("volunteer_outcomes", 2, "consent_to_linkage", "nee", "volunteer_outcomes_consent", "error", set()),
    # an empty consent is refused twice: the field is required, and the consent rule says why
    ("volunteer_outcomes", 2, "consent_to_linkage", "", "volunteer_outcomes_consent", "error", {"required"}),
    # v01 has lived_experience false
    ("volunteer_outcomes", 2, "volunteer_id", "v01", "volunteer_outcomes_lived_experience", "error", set()),
    ("volunteer_outcomes", 3, "value", "", "volunteer_outcomes_value_required", "error", set()),
    ("volunteer_outcomes", 4, "value", "paid_work", "volunteer_outcomes_value_absent", "error", set()),
    ("volunteer_outcomes", 4, "observation_date", "2026-10-03", "volunteer_outcomes_not_after_cutoff", "error", set()),
]


@pytest.mark.parametrize("table,row,field,value,rule,severity,also", CASES,
                         ids=[f"{c[4]}-{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_planted_error_is_found(tmp_path, table, row, field, value, rule, severity, also):
    folder = with_reintegration(tmp_path)
    plant(folder, table, row, field, value)
    res = validate_intake(folder, "en")
    _check_reconciliation(res)
    iss = res.issues
    report_field = {"primary_key": "participant_id,occasion"}.get(rule, field)
    hit = iss[(iss["table"] == table) & (iss["row"] == row) & (iss["rule"] == rule)]
    assert len(hit) == 1, iss.to_string()
    assert hit["field"].iloc[0] == report_field
    assert hit["severity"].iloc[0] == severity
    assert hit["message"].iloc[0]
    assert set(iss["rule"]) == {rule} | also, iss.to_string()
    if severity == "error":
        assert row in set(res.quarantine[table]["_row"])
        assert row not in set(res.tables[table]["_row"])
    else:
        assert row in set(res.tables[table]["_row"]) and res.ok


def test_consent_message_says_rows_must_not_be_delivered(tmp_path):
    folder = with_reintegration(tmp_path)
    plant(folder, "volunteer_outcomes", 2, "consent_to_linkage", "false")
    for lang, words in (("en", "must not be delivered"), ("nl", "niet te worden aangeleverd")):
        iss = validate_intake(folder, lang).issues
        msg = iss.loc[iss["rule"] == "volunteer_outcomes_consent", "message"].iloc[0]
        assert words in msg


def test_a_missing_consent_column_refuses_the_table(tmp_path):
    folder = with_reintegration(tmp_path)
    vo = read_text_table(folder, "volunteer_outcomes").drop(columns="consent_to_linkage")
    write_text_table(folder, "volunteer_outcomes", vo)
    res = validate_intake(folder, "en")
    assert res.reconciliation.set_index("table").loc["volunteer_outcomes", "blocking"]
    assert len(res.tables["volunteer_outcomes"]) == 0


def test_custom_instrument_declared_in_extract(tmp_path):
    """A declared 0..10 instrument: 10 is accepted, 11 breaks its range, an undeclared domain is refused."""
    folder = with_reintegration(tmp_path)
    _declare(folder, [{"name": "eigen_matrix", "domains": ["wonen", "werk"], "score_min": 0, "score_max": 10,
                       "sufficient_from": 6, "higher_is_better": True}])
    a = read_text_table(folder, "assessments")
    extra = pd.DataFrame([["b01", "p002", "2025-03-05", "intake", "eigen_matrix", "wonen", "10", ""],
                          ["b02", "p002", "2025-03-05", "intake", "eigen_matrix", "werk", "11", ""],
                          ["b03", "p002", "2025-03-05", "intake", "eigen_matrix", "housing", "5", ""]],
                         columns=a.columns)
    write_text_table(folder, "assessments", pd.concat([a, extra], ignore_index=True))
    res = validate_intake(folder, "en")
    iss = res.issues
    assert sorted(zip(iss["row"], iss["rule"], strict=True)) == [
        (12, "assessments_score_in_range"), (13, "assessments_domain_of_instrument")]
    specs = instrument_specs(res.extract)
    assert (specs["eigen_matrix"].score_min, specs["eigen_matrix"].sufficient_from) == (0, 6)


@pytest.mark.parametrize("bad,words", [
    ({"name": "zrm_2017", "domains": ["a"], "score_min": 1, "score_max": 5, "sufficient_from": 4,
      "higher_is_better": True}, "already defined"),
    ({"name": "x", "domains": ["a"], "score_min": 1, "score_max": 5, "sufficient_from": 6,
      "higher_is_better": True}, "sufficient_from"),
    ({"name": "x", "domains": ["a"], "score_min": 1, "score_max": 5, "sufficient_from": 4,
      "higher_is_better": False}, "does not match"),
])
def test_bad_instrument_declarations_are_refused(tmp_path, bad, words):
    folder = with_reintegration(tmp_path)
    _declare(folder, [bad])
    with pytest.raises(IntakeError, match=words):
        validate_intake(folder, "en")


# ----------------------------------------------------------------- property: never a crash, counts add up

PROFILE = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "25")), deadline=None,
                   derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CELL = st.sampled_from(["", "NA", "0", "5", "9", "-1", "3.5", "x", "2025-06-01", "2027-01-01", "01-06-2025",
                        "intake", "end", "follow_up", "interim", "zrm_2010", "zrm_2017", "housing", "justice",
                        "true", "false", "nee", "p001", "p003", "p999", "m01", "v02", "v01", "achieved",
                        "work_status", "new_justice_case", "paid_work", "stable"])


@PROFILE
@given(edits=st.lists(st.tuples(st.sampled_from(NEW_TABLES), st.integers(0, 20), st.integers(0, 20), CELL),
                      max_size=12),
       drop=st.sets(st.sampled_from(NEW_TABLES), max_size=2))
def test_new_tables_never_crash_and_counts_add_up(tmp_path_factory, edits, drop):
    folder = with_reintegration(tmp_path_factory.mktemp("prop"))
    for table in drop:
        (folder / f"{table}.csv").unlink()
    for table, r, c, value in edits:
        if table in drop:
            continue
        df = read_text_table(folder, table)
        df.iloc[r % len(df), c % df.shape[1]] = value
        write_text_table(folder, table, df)
    res = validate_intake(folder, "en")
    _check_reconciliation(res)
    rec = res.reconciliation.set_index("table")
    for table in NEW_TABLES:
        if table in drop:
            assert table not in rec.index
        else:
            assert rec.loc[table, "rows_read"] == len(ROWS[table][1])
    frames = reintegration_frames(res.tables, "all", res.cutoff_date, res.extract)
    a = res.tables.get("assessments")
    if a is not None and len(a):
        used = len(frames.scores) + int(frames.scores["end"].notna().sum()) + int(frames.scores["follow_up"].notna().sum())
        excluded = int((frames.excluded["table"] == "assessments").sum())
        assert used + excluded == len(a)
    g = res.tables.get("goals")
    if g is not None:
        assert len(frames.goals) + int((frames.excluded["table"] == "goals").sum()) == len(g)
    vo = res.tables.get("volunteer_outcomes")
    if vo is not None:
        assert set(frames.peer_mentors["volunteer_id"]) <= {"v02"}
        assert int((frames.excluded["table"] == "volunteer_outcomes").sum()) <= len(vo)
