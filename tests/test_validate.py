"""Validator tests on the hand-built fixture ``tests/fixtures/intake_clean``.

Each planted error is a single cell changed in a copy of the clean fixture; the
expected outcome was worked out by hand from the contract (the comment on each
case says why the rule fires). Row numbers are CSV source rows (header = 1).
"""

from __future__ import annotations

import json
import stat

import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import CLEAN, copy_clean, plant, read_text_table, write_text_table

from evaluation import cli
from evaluation.intake.read import IntakeError, read_intake
from evaluation.validation.validate import (
    ISSUE_COLUMNS,
    bsn_like,
    normalise_column_name,
    validate_intake,
    write_validation_outputs,
)


def _check_reconciliation(res) -> None:
    r = res.reconciliation
    assert (r["rows_read"] == r["rows_accepted"] + r["rows_quarantined"]).all()
    for row in r.itertuples():
        assert len(res.tables[row.table]) == row.rows_accepted
        assert len(res.quarantine.get(row.table, [])) == row.rows_quarantined


def test_clean_fixture_has_no_issues():
    res = validate_intake(CLEAN)
    assert res.ok and not res.blocking
    assert res.issues.empty
    assert list(res.issues.columns) == ISSUE_COLUMNS
    _check_reconciliation(res)
    # every row of every file is accepted: 4 participants, ..., 3 costs rows (counted by hand)
    expected = {"participants": 4, "volunteers": 3, "matches": 3, "contacts": 6, "volunteer_support": 4,
                "justice_events": 3, "detention_periods": 3, "rj_sessions": 2, "costs": 3}
    assert dict(zip(res.reconciliation["table"], res.reconciliation["rows_accepted"], strict=True)) == expected
    assert res.cutoff_date == pd.Timestamp("2026-09-30")
    assert [p["programme_id"] for p in res.programmes] == ["P1", "RJ1"]
    p = res.tables["participants"]
    assert p["risk_score"].tolist()[:3] == [12.5, 30.0, 14.25]
    assert p["_row"].tolist() == [2, 3, 4, 5]
    assert p.loc[0, "intake_date"] == pd.Timestamp("2025-01-15")
    assert p["detained_at_intake"].tolist() == [False, True, False, False]


# (table, source row, field, planted value, rule, severity, other (rule) ids that must also fire)
CASES = [
    # birth_year "19x0" is not an integer
    ("participants", 2, "birth_year", "19x0", "type", "error", set()),
    ("participants", 3, "intake_date", "2025-02-30", "type", "error", set()),  # no 30 February
    ("participants", 4, "detained_at_intake", "misschien", "type", "error", set()),
    ("volunteers", 3, "expense_allowance_eur_month", "12.5.1", "type", "error", set()),
    ("participants", 3, "sex", "", "required", "error", set()),
    ("participants", 2, "group", "control", "enum", "error", set()),
    ("participants", 2, "prior_cases", "-1", "minimum", "error", set()),
    ("participants", 3, "risk_score", "250", "maximum", "error", set()),
    ("matches", 3, "circle_id", "c 1", "pattern", "error", set()),
    # c002 renamed c001: the later row (3) is the duplicate
    ("contacts", 3, "contact_id", "c001", "unique", "error", set()),
    ("contacts", 4, "match_id", "m99", "foreign_key", "error", set()),
    # follow-up 2025-01-01 before intake 2025-01-15
    ("participants", 2, "follow_up_start", "2025-01-01", "participants_follow_up_after_intake", "error", set()),
    # end date filled, reason empty
    ("participants", 3, "programme_end_date", "2025-10-01", "participants_end_reason_required", "error", set()),
    ("participants", 2, "programme_end_reason", "", "participants_end_reason_required", "error", set()),
    ("volunteers", 3, "end_date", "", "volunteers_end_date_required", "error", set()),
    # role circle_member without circle_id
    ("matches", 2, "role", "circle_member", "matches_circle_required", "error", set()),
    # risk signal "other" but reported_to_supervisor empty: warning
    ("contacts", 6, "reported_to_supervisor", "", "contacts_signal_reported", "warning", set()),
    ("rj_sessions", 3, "agreement_fulfilled", "true", "rj_fulfilled_needs_agreement", "error", set()),
    ("rj_sessions", 3, "victim_satisfaction", "3", "rj_satisfaction_needs_victim", "warning", set()),
    ("participants", 4, "programme_end_date", "2025-12-01", "participants_comparison_no_programme_end", "warning",
     {"participants_end_reason_required"}),
    ("costs", 4, "programme_id", "P9", "costs_programme_known", "error", set()),
    # a value that breaks its pattern is not looked up in programmes.yaml as well (no cascade)
    ("participants", 2, "programme_id", "P 1", "pattern", "error", set()),
    # volunteer born 2012, started 2024: age 12 < 16
    ("volunteers", 2, "birth_year", "2012", "volunteers_age_at_start", "error", set()),
    # participant born 2013 (within field bounds), intake 2025: age 12 is allowed; 2014 -> 11 is not
    # (and age 11 is below p004's age at first case, 22: a warning)
    ("participants", 5, "birth_year", "2014", "participants_age_at_intake", "error", {"participants_age_first_case"}),
    # age at first case 40 > age at intake 35
    ("participants", 2, "age_first_case", "40", "participants_age_first_case", "warning", set()),
    ("volunteers", 2, "expense_allowance_eur_month", "300", "volunteers_allowance_tax_free", "warning", set()),
    ("justice_events", 4, "registration_date", "2026-10-01", "justice_not_after_cutoff", "error", set()),
    # costs cutoff rule is a warning
    ("costs", 2, "period_start", "2026-10-01", "costs_not_after_cutoff", "warning", {"costs_period_order"}),
    # m02 matched to p003, a comparison person
    ("matches", 3, "participant_id", "p003", "matches_participant_in_programme", "error", set()),
    # m01 starts 2025-01-10, before p001's intake 2025-01-15: warning only
    ("matches", 2, "start_date", "2025-01-10", "matches_after_intake", "warning", set()),
    # m01 starts 2024-05-01, before v01 started (2024-06-01): also before intake (warning)
    ("matches", 2, "start_date", "2024-05-01", "matches_volunteer_active", "error", {"matches_after_intake"}),
    # v02 stopped 2026-02-01; support on 2026-03-01
    ("volunteer_support", 4, "event_date", "2026-03-01", "support_within_volunteer_period", "error", set()),
    # v03 started 2024-01-01; tolerance 365 days -> earliest 2023-01-01
    ("volunteer_support", 5, "event_date", "2022-12-31", "support_within_volunteer_period", "error", set()),
    # m03 ended 2025-08-01; contact on 2025-09-01
    ("contacts", 7, "contact_date", "2025-09-01", "contacts_within_match", "error", set()),
    # p001 born 1990; offence 1985
    ("justice_events", 2, "offence_date", "1985-01-01", "justice_after_birth", "error",
     {"justice_registration_after_offence"} - {"justice_registration_after_offence"}),
    ("detention_periods", 3, "end_date", "2025-11-01", "detention_end_after_start", "error", set()),
    # p002's first period now lasts to 2026-03-01 and overlaps the period starting 2026-02-01 (row 4)
    ("detention_periods", 2, "end_date", "2026-03-01", "detention_no_overlap", "warning", set()),
    ("detention_periods", 4, "start_date", "2024-11-01", "primary_key", "error", {"detention_no_overlap"}),
]


@pytest.mark.parametrize("table,row,field,value,rule,severity,also", CASES,
                         ids=[f"{c[4]}-{c[0]}-{c[2]}" for c in CASES])
def test_planted_error_is_found(tmp_path, table, row, field, value, rule, severity, also):
    folder = copy_clean(tmp_path)
    plant(folder, table, row, field, value)
    res = validate_intake(folder)
    _check_reconciliation(res)
    iss = res.issues
    # where the rule reports (the row of the planted cell unless the rule reports the later period)
    report_row = 4 if rule == "detention_no_overlap" else row
    report_field = {"detention_no_overlap": "start_date", "primary_key": "participant_id,start_date",
                    "matches_circle_required": "circle_id", "participants_end_reason_required": "programme_end_reason",
                    "volunteers_end_date_required": "end_date", "participants_age_at_intake": "birth_year",
                    "volunteers_age_at_start": "birth_year", "matches_participant_in_programme": "participant_id",
                    "participants_comparison_no_programme_end": "programme_end_date",
                    "contacts_signal_reported": "reported_to_supervisor"}.get(rule, field)
    hit = iss[(iss["table"] == table) & (iss["row"] == report_row) & (iss["rule"] == rule)]
    assert len(hit) == 1, iss.to_string()
    assert hit["field"].iloc[0] == report_field
    assert hit["severity"].iloc[0] == severity
    assert hit["level"].iloc[0] == "row"
    assert hit["message"].iloc[0]
    # nothing else than the planted error (and the rules it necessarily also breaks) is reported
    assert set(iss["rule"]) == {rule} | also, iss.to_string()
    quarantined = set(res.quarantine.get(table, pd.DataFrame({"_row": []}))["_row"])
    row_errors = iss[(iss["table"] == table) & (iss["row"] == report_row) & (iss["severity"] == "error")]
    if severity == "error" or len(row_errors):
        assert report_row in quarantined
        q = res.quarantine[table]
        assert set(q.loc[q["_row"] == report_row, "_rules"].iloc[0].split("; ")) == set(row_errors["rule"])
        assert report_row not in set(res.tables[table]["_row"])
        assert not res.ok
    else:
        assert report_row in set(res.tables[table]["_row"])
        assert res.ok


def test_quarantined_parent_does_not_cascade(tmp_path):
    # m01 gets a type error: it is quarantined, but contacts c001-c003 still find it (it exists in the file)
    folder = copy_clean(tmp_path)
    plant(folder, "matches", 2, "goals_agreed", "misschien")
    res = validate_intake(folder)
    assert set(res.quarantine) == {"matches"}
    assert res.quarantine["matches"]["_row"].tolist() == [2]
    assert len(res.tables["contacts"]) == 6
    assert "foreign_key" not in set(res.issues["rule"])


def test_parent_missing_from_file_is_foreign_key_error(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "matches")
    write_text_table(folder, "matches", df[df["match_id"] != "m01"])
    res = validate_intake(folder)
    fk = res.issues[res.issues["rule"] == "foreign_key"]
    assert fk["row"].tolist() == [2, 3, 4] and set(fk["table"]) == {"contacts"}
    assert set(fk["value"]) == {"m01"}
    assert res.quarantine["contacts"]["_row"].tolist() == [2, 3, 4]


def test_several_errors_in_one_row_are_all_listed(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "contacts", 2, "minutes", "0")
    plant(folder, "contacts", 2, "mode", "brief")
    res = validate_intake(folder)
    q = res.quarantine["contacts"]
    assert q["_row"].tolist() == [2]
    assert q["_rules"].iloc[0].split("; ") == ["minimum", "enum"]
    assert res.reconciliation.set_index("table").loc["contacts", "rows_quarantined"] == 1


def test_unique_keeps_first_occurrence_and_flags_every_later_one(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "contacts", 4, "contact_id", "c001")
    plant(folder, "contacts", 6, "contact_id", "c001")
    res = validate_intake(folder)
    u = res.issues[res.issues["rule"] == "unique"]
    assert u["row"].tolist() == [4, 6]
    assert "c001" in set(res.tables["contacts"]["contact_id"])


# ------------------------------------------------------------------ table level


def test_identifier_column_is_refused(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "participants")
    df["Achter-naam"] = ["Jansen", "de Vries", "Bakker", "Visser"]
    write_text_table(folder, "participants", df)
    res = validate_intake(folder, language="nl")
    assert res.blocking and not res.ok
    iss = res.issues[res.issues["rule"] == "identifier_column"]
    assert iss["field"].tolist() == ["Achter-naam"] and iss["level"].iloc[0] == "table"
    assert "evaluation pseudonymise" in iss["message"].iloc[0]
    assert "pseudonimiseren" in iss["message"].iloc[0]
    rec = res.reconciliation.set_index("table").loc["participants"]
    assert (rec["rows_read"], rec["rows_accepted"], rec["rows_quarantined"], rec["blocking"]) == (4, 0, 4, True)
    # the names themselves are not kept in the quarantine
    assert "Achter-naam" not in res.quarantine["participants"].columns
    assert set(res.quarantine["participants"]["_rules"]) == {"identifier_column"}
    # children are not cascaded into foreign-key errors: a table-level warning says they were not checked
    assert "foreign_key" not in set(res.errors["rule"])
    w = res.warnings[(res.warnings["table"] == "matches") & (res.warnings["rule"] == "foreign_key")]
    assert len(w) == 1 and w["level"].iloc[0] == "table"


def test_normalise_column_name():
    assert normalise_column_name(" Geboorte.Datum ") == "geboortedatum"
    assert normalise_column_name("E-mail_adres") == "emailadres"


def test_bsn_eleven_check_hand_worked():
    # 111222333: 9+8+7+2*6+2*5+2*4+3*3+3*2-3 = 66 = 6*11 -> valid
    # 123456782: 9+16+21+24+25+24+21+16-2 = 154 = 14*11 -> valid
    # 123456789: 9+16+21+24+25+24+21+16-9 = 147 -> not divisible by 11
    s = pd.Series(["111222333", "123456782", "123456789", "12345678", "000000000", "abcdefghi", ""])
    assert bsn_like(s).tolist() == [True, True, False, False, False, False, False]


def test_bsn_values_are_refused_even_under_an_innocent_name(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "participants")
    df["reference"] = ["111222333", "123456782", "", "999999990"]  # 3 of 3 filled: 2 pass, 999999990? see below
    # 999999990: 9*(9+8+7+6+5+4+3+2) - 0 = 396 = 36*11 -> passes; so 3 of 3 filled cells look like BSNs
    write_text_table(folder, "participants", df)
    res = validate_intake(folder, language="en")
    iss = res.issues[res.issues["rule"] == "identifier_column"]
    assert iss["field"].tolist() == ["reference"]
    assert "3 of 3" in iss["message"].iloc[0]


def test_pseudonyms_that_are_occasionally_bsn_like_are_not_refused(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "participants")
    df["reference"] = ["111222333", "123456789", "987654321", "x"]  # 1 of 4 passes -> not most
    write_text_table(folder, "participants", df)
    res = validate_intake(folder)
    assert set(res.issues["rule"]) == {"unknown_column"}
    assert res.ok


def test_missing_required_column_blocks_table(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "contacts").drop(columns="mode")
    write_text_table(folder, "contacts", df)
    res = validate_intake(folder)
    iss = res.issues[res.issues["rule"] == "missing_column"]
    assert iss["field"].tolist() == ["mode"] and iss["table"].tolist() == ["contacts"]
    assert res.reconciliation.set_index("table").loc["contacts", "rows_quarantined"] == 6
    assert res.tables["contacts"].empty and "mode" in res.tables["contacts"].columns


def test_missing_optional_column_is_added_as_missing(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "contacts").drop(columns="minutes")
    write_text_table(folder, "contacts", df)
    res = validate_intake(folder)
    assert res.ok and res.issues.empty
    assert res.tables["contacts"]["minutes"].isna().all()
    assert str(res.tables["contacts"]["minutes"].dtype) == "Int64"


def test_missing_required_table_and_optional_table(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "detention_periods.csv").unlink()
    (folder / "costs.csv").unlink()
    res = validate_intake(folder)
    assert res.blocking
    assert res.errors[["table", "rule"]].values.tolist() == [["detention_periods", "missing_table"]]
    assert "costs" not in set(res.reconciliation["table"])
    assert res.tables["costs"].empty


def test_unknown_column_is_a_warning_and_dropped(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "contacts")
    df["opmerking"] = "x"
    write_text_table(folder, "contacts", df)
    res = validate_intake(folder)
    assert res.ok
    assert res.warnings[["table", "field", "rule"]].values.tolist() == [["contacts", "opmerking", "unknown_column"]]
    assert "opmerking" not in res.tables["contacts"].columns


def test_unreadable_file_blocks_its_table(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "contacts.csv").write_bytes(b"contact_id,match_id\n\x81\x8d,m01\n")  # invalid in UTF-8 and cp1252
    res = validate_intake(folder)
    iss = res.issues[res.issues["rule"] == "unreadable"]
    assert iss["table"].tolist() == ["contacts"] and "contacts.csv" in iss["message"].iloc[0]
    assert res.blocking
    with pytest.raises(IntakeError, match="contacts.csv"):
        read_intake(folder)


def test_unknown_file_is_reported(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "notes.csv").write_text("a,b\n1,2\n")
    res = validate_intake(folder)
    assert res.ok
    assert res.warnings[["field", "rule"]].values.tolist() == [["notes.csv", "unknown_table"]]


# ----------------------------------------------------------- outputs and language


def test_messages_in_both_languages(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "participants", 2, "group", "control")
    en = validate_intake(folder, language="en")
    nl = validate_intake(folder, language="nl")
    assert "not one of the allowed codes" in en.issues["message"].iloc[0]
    assert "geen toegestane code" in nl.issues["message"].iloc[0]
    assert "Errors" in en.summary() and "Fouten" in nl.summary()
    assert "quarantaine" in en.summary("nl")
    with pytest.raises(ValueError, match="language"):
        validate_intake(folder, language="de")


def test_outputs_and_permissions(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "participants", 2, "group", "control")
    res = validate_intake(folder)
    paths = write_validation_outputs(res, tmp_path / "out")
    report = json.loads(paths["report"].read_text())
    assert report["ok"] is False and report["n_errors"] == 1
    assert report["issues"][0]["row"] == 2 and report["issues"][0]["rule"] == "enum"
    q = paths["quarantine"] / "participants.csv"
    assert stat.S_IMODE(q.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths["quarantine"].stat().st_mode) == 0o700
    assert pd.read_csv(q)["_row"].tolist() == [2]
    assert "participants" in paths["summary"].read_text()
    # a second, clean run removes the stale quarantine file
    clean = validate_intake(CLEAN)
    write_validation_outputs(clean, tmp_path / "out")
    assert not q.exists()


def test_cli_exit_codes(tmp_path, capsys):
    folder = copy_clean(tmp_path)
    assert cli.main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "no errors" in out and str(folder / "_validation" / "validation_report.json") in out
    plant(folder, "contacts", 2, "minutes", "0")
    assert cli.main(["validate", str(folder), "--language", "nl", "--out", str(tmp_path / "v")]) == 2
    out = capsys.readouterr().out
    assert "minimum" in out and "Rapport" in out
    assert cli.main(["validate", str(folder), "--json", "--out", str(tmp_path / "v")]) == 2
    assert json.loads(capsys.readouterr().out)["n_errors"] == 1
    # warnings only -> 0
    folder2 = copy_clean(tmp_path / "w")
    plant(folder2, "volunteers", 2, "expense_allowance_eur_month", "300")
    assert cli.main(["validate", str(folder2)]) == 0
    capsys.readouterr()
    assert cli.main(["validate", str(tmp_path / "does_not_exist")]) == 2
    err = capsys.readouterr().err
    assert "does_not_exist" in err and "Traceback" not in err


def test_issue_values_are_the_delivered_text(tmp_path):
    folder = copy_clean(tmp_path)
    plant(folder, "participants", 3, "birth_year", " 19x5 ")
    res = validate_intake(folder)
    assert res.issues["value"].tolist() == [" 19x5 "]
    assert res.quarantine["participants"]["birth_year"].tolist() == [" 19x5 "]
    assert np.issubdtype(res.tables["participants"]["_row"].dtype, np.integer)


# ------------------------------------------------------ synthetic intakes (evaluation.synth.generate)


@pytest.fixture(scope="module")
def synth_intakes(tmp_path_factory):
    synth = pytest.importorskip("evaluation.synth.generate")
    base = tmp_path_factory.mktemp("synth")
    return {fmt: synth.generate_intake(base / fmt, seed=11, scale=0.05, fmt=fmt) for fmt in ("csv", "parquet", "xlsx")}


def test_clean_synthetic_intake_validates_in_every_format(synth_intakes):
    results = {fmt: validate_intake(path) for fmt, path in synth_intakes.items()}
    for fmt, res in results.items():
        assert res.ok, f"{fmt}: {res.errors.head(20).to_string()}"
        _check_reconciliation(res)
        assert res.reconciliation["rows_read"].sum() > 1000
    # the same data in three formats give identical typed tables
    for name in results["csv"].tables:
        pd.testing.assert_frame_equal(results["parquet"].tables[name], results["csv"].tables[name])
        pd.testing.assert_frame_equal(results["xlsx"].tables[name], results["csv"].tables[name])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_planted_synthetic_error_is_found(tmp_path, fmt):
    synth = pytest.importorskip("evaluation.synth.generate")
    pytest.importorskip("evaluation.synth.errors")
    folder = synth.generate_intake(tmp_path / "dirty", seed=5, scale=0.05, fmt=fmt, inject_errors=True)
    planted = pd.read_csv(folder / "planted_errors.csv", dtype={"value": str}, keep_default_na=False)
    res = validate_intake(folder)
    _check_reconciliation(res)
    found = {
        (t, (None if pd.isna(r) else int(r)), f, rule)
        for t, r, f, rule in res.issues[["table", "row", "field", "rule"]].itertuples(index=False)
    }

    def key(rec):
        row = None if rec.row in ("", None) or pd.isna(rec.row) else int(float(rec.row))
        return (rec.table, row, rec.field if rec.field != "" else None, rec.rule)

    expected = {key(r) for r in planted.itertuples(index=False)}
    missed = sorted(expected - found, key=str)
    assert not missed, f"{len(missed)} of {len(planted)} planted errors not found, e.g. {missed[:10]}"
    # and nothing else is reported at row level (no false alarms, no cascades)
    row_level = {k for k in found if k[1] is not None}
    assert row_level == expected, sorted(row_level - expected, key=str)[:10]
    assert len(planted) >= 10
