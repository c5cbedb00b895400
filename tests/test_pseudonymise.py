"""Keyed pseudonymisation of raw exports (evaluation/pseudonymise.py).

Fixture: tests/fixtures/raw_export_identifiers (fictitious people with names,
BSNs, dates of birth and addresses; see its README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from evaluation.intake import pseudonymise as ps

RAW = Path(__file__).parent / "fixtures" / "raw_export_identifiers"
# the openssl reference key below is a counting sequence, which load_key refuses as a key file;
# key files in these tests hold random keys (made once with secrets.token_hex(32))
OPENSSL_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
KEY_HEX = "2b362fa9222913b3a48d5c7e4a384531f1c58991a6ed9bb9195c513455b54ddb"
OTHER_KEY_HEX = "780bf1ee7f143caa0fa068c7cf0f5bb687e17da7d29db554fb48c74ef14d719f"
IDENTIFYING_VALUES = [
    "Jan de Vries", "Fatima El Amrani", "Bakker", "Sem Jansen", "111222333", "111222345",
    "Dorpsstraat", "Kerkweg", "1234 AB", "03-04-1990", "broer Piet", "Anna", "Smit", "anna@example.org",
    "1970-05-06",
]


def _key(tmp_path: Path, hexkey: str = KEY_HEX, name: str = "k.key") -> Path:
    d = tmp_path / "keys"
    d.mkdir(mode=0o700, exist_ok=True)
    p = d / name
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(hexkey + "\n")
    return p


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    ps.configure_parser(parser)
    return ps.main(parser.parse_args(argv))


def _read(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)


def test_pseudonym_matches_openssl_hmac():
    # Reference from an independent implementation:
    #   echo -n "participants:p001" | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1e1f
    #   -> 6c1156310c4c7d13e3fc...;  "volunteers:v01" -> 3a136bd3594e97eb...
    key = bytes.fromhex(OPENSSL_KEY_HEX)
    assert ps.pseudonym("p001", "participants", key) == "P-6c1156310c4c7d13"
    assert ps.pseudonym(" p001 ", "participants", key) == "P-6c1156310c4c7d13"  # surrounding spaces ignored
    assert ps.pseudonym("v01", "volunteers", key) == "V-3a136bd3594e97eb"
    # the same source value in another entity gets another pseudonym
    assert ps.pseudonym("p001", "volunteers", key) != "V-6c1156310c4c7d13"


def test_pseudonymised_intake_is_stable_linked_and_key_dependent(tmp_path):
    key = _key(tmp_path)
    out1, out2 = tmp_path / "q1", tmp_path / "q1_again"
    ps.pseudonymise_intake(RAW, out1, key)
    ps.pseudonymise_intake(RAW, out2, key)
    for table in ("participants", "volunteers", "matches", "contacts", "justice_events"):
        assert (out1 / f"{table}.csv").read_bytes() == (out2 / f"{table}.csv").read_bytes()
    parts, matches, events = _read(out1, "participants"), _read(out1, "matches"), _read(out1, "justice_events")
    raw_parts = ps.read_tables(RAW)["participants"]
    expected = {ps.pseudonym(v, "participants", bytes.fromhex(KEY_HEX)) for v in raw_parts["participant_id"]}
    assert set(parts["participant_id"]) == expected
    assert all(p.startswith("P-") and len(p) == 18 for p in parts["participant_id"])
    # linkage: every match and justice event refers to a pseudonymised participant, as in the raw data
    raw_matches = pd.read_csv(RAW / "matches.csv", dtype=str)
    assert matches["participant_id"].tolist() == [
        ps.pseudonym(v, "participants", bytes.fromhex(KEY_HEX)) for v in raw_matches["participant_id"]
    ]
    assert set(events["participant_id"]) <= set(parts["participant_id"])
    assert set(_read(out1, "contacts")["match_id"]) <= set(matches["match_id"])
    # support events and justice events both use "event_id" but are different entities
    assert all(e.startswith("J-") for e in events["event_id"])
    assert all(e.startswith("S-") for e in _read(out1, "volunteer_support")["event_id"])
    # another key -> other pseudonyms (none shared)
    out3 = tmp_path / "q1_other_key"
    ps.pseudonymise_intake(RAW, out3, _key(tmp_path, OTHER_KEY_HEX, "other.key"))
    assert not set(_read(out3, "participants")["participant_id"]) & set(parts["participant_id"])
    # the report's key fingerprint tells whether two intakes used the same key (and is not the key)
    fp = [json.loads((o / ps.REPORT_FILE).read_text())["key_fingerprint"] for o in (out1, out2, out3)]
    assert fp[0] == fp[1] != fp[2] and fp[0] not in KEY_HEX


def test_same_person_same_pseudonym_in_a_later_quarter(tmp_path):
    key = _key(tmp_path)
    q2_raw = tmp_path / "raw_q2"
    shutil.copytree(RAW, q2_raw)
    # next quarter: the export lists participants in another order and one fewer
    p = pd.read_csv(q2_raw / "participants.csv", sep=";", dtype=str, keep_default_na=False, encoding="cp1252")
    p = p.iloc[[2, 0, 1]]
    p.to_csv(q2_raw / "participants.csv", sep=";", index=False, encoding="cp1252")
    ps.pseudonymise_intake(RAW, tmp_path / "q1", key)
    ps.pseudonymise_intake(q2_raw, tmp_path / "q2", key)
    q1 = _read(tmp_path / "q1", "participants").set_index("birth_year")["participant_id"]
    q2 = _read(tmp_path / "q2", "participants").set_index("birth_year")["participant_id"]
    for year in q2.index:
        assert q2[year] == q1[year]


def test_identifiers_dropped_birth_year_derived_and_report(tmp_path):
    out = tmp_path / "out"
    report = ps.pseudonymise_intake(RAW, out, _key(tmp_path))
    parts = _read(out, "participants")
    vols = _read(out, "volunteers")
    # 03-04-1990 -> 1990, etc. (dd-mm-YYYY, a contract date format)
    assert parts["birth_year"].tolist() == ["1990", "1985", "1992", "2000"]
    assert vols["birth_year"].tolist() == ["1970", "1980", "1965"]
    assert "Naam" not in parts.columns and "opmerkingen" not in parts.columns
    # decimal comma of the ';' export became a decimal point in the ',' output
    assert parts["risk_score"].tolist() == ["12.5", "30", "14.25", ""]
    text = "\n".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    for value in IDENTIFYING_VALUES:
        assert value not in text, value
    assert "p001" not in text and "v01" not in text and "m01" not in text
    counts = report.set_index(["table", "column", "action"])["count"]
    assert counts[("participants", "BSN", "dropped_identifier")] == 4
    assert counts[("participants", "Geboortedatum", "reduced_to_birth_year")] == 4
    assert counts[("participants", "opmerkingen", "dropped_unknown_column")] == 2
    assert counts[("volunteers", "e-mail", "dropped_identifier")] == 2
    assert counts[("contacts", "contact_id", "pseudonymised")] == 6
    assert counts[("matches", "circle_id", "pseudonymised")] == 0
    assert (out / ps.REPORT_FILE).exists()


def test_raw_export_refused_by_validation_and_accepted_after(tmp_path):
    validate = pytest.importorskip("evaluation.validation.validate")
    raw = validate.validate_intake(RAW)
    refused = raw.issues[raw.issues["rule"] == "identifier_column"]
    assert {"Naam", "BSN", "Geboortedatum", "adres", "voornaam", "e-mail"} <= set(refused["field"])
    assert raw.reconciliation.set_index("table").loc["participants", "blocking"]
    out = tmp_path / "out"
    ps.pseudonymise_intake(RAW, out, _key(tmp_path))
    ok = validate.validate_intake(out)
    assert not (ok.issues["severity"] == "error").any(), ok.issues.to_string()
    assert not ok.reconciliation["blocking"].any()
    assert ok.reconciliation.set_index("table").loc["participants", "rows_accepted"] == 4


def test_outputs_are_owner_only(tmp_path):
    out = tmp_path / "out"
    ps.pseudonymise_intake(RAW, out, _key(tmp_path))
    assert stat.S_IMODE(out.stat().st_mode) & 0o077 == 0
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p.name


def test_key_never_in_outputs_or_logs(tmp_path, capsys):
    key = _key(tmp_path)
    out = tmp_path / "out"
    assert _run_cli([str(RAW), str(out), "--key-file", str(key)]) == 0
    captured = capsys.readouterr()
    assert KEY_HEX not in captured.out + captured.err
    for p in out.iterdir():
        data = p.read_bytes()
        assert KEY_HEX.encode() not in data and bytes.fromhex(KEY_HEX) not in data, p.name
    # a refused run does not echo the key either
    assert _run_cli([str(RAW), str(out), "--key-file", str(key)]) == 2  # out already holds tables
    captured = capsys.readouterr()
    assert "already holds" in captured.err and KEY_HEX not in captured.out + captured.err


def test_missing_key_refused_with_instructions(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"secrets.token_hex\(32\)"):
        ps.pseudonymise_intake(RAW, tmp_path / "out", None)
    with pytest.raises(FileNotFoundError, match="chmod 600"):
        ps.pseudonymise_intake(RAW, tmp_path / "out", tmp_path / "nope.key")
    assert _run_cli([str(RAW), str(tmp_path / "out")]) == 2
    assert "secrets.token_hex(32)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_key_inside_data_folders_refused(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    inside = raw / "pseudonym.key"
    inside.write_text(KEY_HEX)
    with pytest.raises(ValueError, match="inside the data folder"):
        ps.pseudonymise_intake(raw, tmp_path / "out", inside)
    out = tmp_path / "out"
    out.mkdir()
    (out / "k.key").write_text(KEY_HEX)
    with pytest.raises(ValueError, match="inside the data folder"):
        ps.pseudonymise_intake(raw, out, out / "k.key")


def test_group_readable_key_warns_and_weak_key_refused(tmp_path):
    key = _key(tmp_path)
    os.chmod(key, 0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        ps.load_key(key)
    weak = tmp_path / "keys" / "weak.key"
    weak.write_text("geheim")
    os.chmod(weak, 0o600)
    with pytest.raises(ValueError, match="at least 32"):
        ps.load_key(weak)


def test_new_key_file(tmp_path, capsys):
    path = tmp_path / "cfg" / "evaluation" / "pseudonym.key"
    old = os.umask(0)
    try:
        assert _run_cli(["--new-key", str(path)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    key_text = path.read_text().strip()
    assert len(key_text) == 64 and len(ps.load_key(path)) == 32
    assert key_text not in capsys.readouterr().out
    assert _run_cli(["--new-key", str(path)]) == 2  # never overwritten
    assert path.read_text().strip() == key_text


def test_bad_date_of_birth_names_file_row_field(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    p = pd.read_csv(raw / "participants.csv", sep=";", dtype=str, keep_default_na=False, encoding="cp1252")
    p.loc[2, "Geboortedatum"] = "31-02-19xx"
    p.to_csv(raw / "participants.csv", sep=";", index=False, encoding="cp1252")
    with pytest.raises(ValueError, match=r"participants.csv, row 4, field 'Geboortedatum'"):
        ps.pseudonymise_intake(raw, tmp_path / "out", _key(tmp_path))


def test_birth_year_disagreeing_with_date_of_birth_refused(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    v = pd.read_csv(raw / "volunteers.csv", dtype=str, keep_default_na=False)
    v.loc[1, "birth_year"] = "1981"
    v.to_csv(raw / "volunteers.csv", index=False)
    with pytest.raises(ValueError, match=r"volunteers.csv, row 3, field 'birth_year': 1981 disagrees"):
        ps.pseudonymise_intake(raw, tmp_path / "out", _key(tmp_path))


def test_output_folder_must_differ_from_input(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    with pytest.raises(ValueError, match="is the input folder"):
        ps.pseudonymise_intake(raw, raw, _key(tmp_path))


def test_identifier_names_normalised_as_the_validator_does():
    validate = pytest.importorskip("evaluation.validation.validate")
    for name in ["Geboorte-datum", "E_mail", " BSN ", "date.of.birth", "Post code", "participant_id"]:
        assert ps.normalise_name(name) == validate.normalise_column_name(name)


def test_synthetic_intake_with_identifiers_keeps_its_structure(tmp_path):
    # End-to-end on a small synthetic intake (evaluation.synth.generate), with direct identifiers
    # added as a source system would export them; linkage must survive exactly:
    # the number of matches, events and contacts per person is unchanged.
    synth = pytest.importorskip("evaluation.synth.generate")
    raw = tmp_path / "raw"
    synth.generate_intake(raw, seed=3, scale=0.04)
    if hasattr(synth, "add_identifier_columns"):
        synth.add_identifier_columns(raw)
    else:
        p = pd.read_csv(raw / "participants.csv", dtype=str, keep_default_na=False)
        p.insert(1, "naam", [f"Persoon {i}" for i in range(len(p))])
        p.insert(2, "bsn", [f"{100000000 + i:09d}" for i in range(len(p))])
        p.to_csv(raw / "participants.csv", index=False)
    out = tmp_path / "out"
    ps.pseudonymise_intake(raw, out, _key(tmp_path))
    before = {t: pd.read_csv(raw / f"{t}.csv", dtype=str, keep_default_na=False) for t in ("participants", "matches", "justice_events", "contacts")}
    after = {t: _read(out, t) for t in before}
    assert "naam" not in after["participants"].columns and "bsn" not in after["participants"].columns
    for table, col in [("matches", "participant_id"), ("justice_events", "participant_id"), ("contacts", "match_id")]:
        assert sorted(before[table][col].value_counts().tolist()) == sorted(after[table][col].value_counts().tolist())
        assert not set(before[table][col]) & set(after[table][col])
    # same rows, same order, non-id columns unchanged
    pd.testing.assert_series_equal(before["justice_events"]["offence_date"], after["justice_events"]["offence_date"])
    validate = pytest.importorskip("evaluation.validation.validate")
    res = validate.validate_intake(out)
    assert not res.reconciliation["blocking"].any()
    assert not (res.issues["rule"] == "identifier_column").any()


def test_excel_export_gives_the_same_pseudonyms_as_csv(tmp_path):
    # the same export delivered as one workbook (sheet per table) -> identical output tables
    tables = ps.read_tables(RAW)
    xdir = tmp_path / "raw_xlsx"
    xdir.mkdir()
    with pd.ExcelWriter(xdir / "export.xlsx") as xw:
        for name, df in tables.items():
            df.drop(columns=["_row"]).to_excel(xw, sheet_name=name, index=False)
    shutil.copy(RAW / "programmes.yaml", xdir / "programmes.yaml")
    (xdir / "extract.yaml").write_text((RAW / "extract.yaml").read_text().replace("format: csv", "format: xlsx"))
    key = _key(tmp_path)
    ps.pseudonymise_intake(RAW, tmp_path / "from_csv", key)
    ps.pseudonymise_intake(xdir, tmp_path / "from_xlsx", key)
    # the output is CSV, so extract.yaml says so (the rest of it is kept)
    import yaml

    extract = yaml.safe_load((tmp_path / "from_xlsx" / "extract.yaml").read_text())
    assert extract == {"cutoff_date": "2026-09-30", "supplier": "fixture", "format": "csv", "synthetic": True}
    for name in ("participants", "volunteers", "matches", "contacts", "justice_events"):
        pd.testing.assert_frame_equal(_read(tmp_path / "from_csv", name), _read(tmp_path / "from_xlsx", name))

