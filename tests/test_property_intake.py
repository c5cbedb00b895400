"""Property tests: validation of intakes of many shapes (issue 16, "Tested on data it did not make").

Each example starts from the hand-built clean intake (tests/fixtures/intake_clean) and changes its
shape: optional tables dropped, the volunteer side emptied, original persons removed (tiny groups),
extra persons with no events, all with events, tied dates or everything on one day, extreme but
valid covariates, odd but valid spellings (Dutch dates, ja/nee, missing-value tokens, padded
cells), optional columns left out; then it plants invalid cells in random rows. The expected
outcome of every planted cell comes from the contract (datapackage.json), not from the validator.

Properties
----------
* Validation returns a result; the only exception allowed is the documented ``IntakeError``
  whose message names the file (for files that cannot be read at all).
* For every table, rows read = the data rows written = accepted + quarantined, and the accepted
  and quarantined frames have those lengths.
* Every planted invalid cell is reported as an error at its table, source row (header = 1) and
  field, and that row is in the quarantine, not among the accepted rows.
* An example without planted cells and with a readable valid shape has no errors at all.

Deterministic in CI: ``derandomize=True``, no example database, ``deadline=None``; the number of
examples is bounded (``HYPOTHESIS_EXAMPLES`` raises it locally).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.intake.read import IntakeError
from evaluation.validation.validate import validate_intake

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "tests" / "fixtures" / "intake_clean"
PACKAGE = json.loads((ROOT / "evaluation" / "contract" / "data_schema" / "datapackage.json").read_text("utf-8"))
RESOURCES = {r["name"]: r for r in PACKAGE["resources"]}
FIELDS = {name: {f["name"]: f for f in r["schema"]["fields"]} for name, r in RESOURCES.items()}
OPTIONAL_TABLES = tuple(PACKAGE["x_optional_tables"])
VOLUNTEER_SIDE = ("volunteers", "matches", "contacts", "volunteer_support")
MISSING_TOKENS = ("NA", "nvt", "-", "?", "n.v.t.", "NULL")
CUTOFF = dt.date(2026, 9, 30)
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "30"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _clean_tables() -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(CLEAN.glob("*.csv"))}


def _required(table: str, field: str) -> bool:
    return bool(FIELDS[table][field].get("constraints", {}).get("required"))


def _invalid_values(table: str, field: str) -> list[str]:
    """Values that break a field-level check of the contract, whatever the rest of the row holds."""
    f = FIELDS[table][field]
    c = f.get("constraints", {})
    out = []
    if f["type"] == "integer":
        out += ["abc", "1.5", "12x"]
    elif f["type"] == "number":
        out += ["12.5.1", "veel"]
    elif f["type"] == "date":
        out += ["2025-02-30", "31-13-2025", "gisteren"]
    elif f["type"] == "boolean":
        out += ["misschien", "2"]
    if "enum" in c:
        out.append("zzz_no_such_code")
    if "pattern" in c:
        out.append("bad id!")
    if "minimum" in c and f["type"] in ("integer", "number"):
        out.append(str(int(c["minimum"]) - 1))
    if "maximum" in c and f["type"] in ("integer", "number"):
        out.append(str(int(c["maximum"]) + 1))
    if c.get("required"):
        out.append("")
    return out


def _plantable(table: str, columns) -> list[str]:
    return [c for c in columns if c in FIELDS[table] and _invalid_values(table, c)]


# ----------------------------------------------------------------------------------------- shapes


def _day(draw, lo: dt.date, hi: dt.date) -> dt.date:
    return draw(st.dates(min_value=lo, max_value=max(lo, hi)))


def _extra_persons(draw, tables: dict[str, pd.DataFrame]) -> None:
    """Append new valid persons (and their justice events) to participants and justice_events."""
    n = draw(st.integers(0, 8))
    if not n:
        return
    one_day = draw(st.booleans())
    events = draw(st.sampled_from(["none", "all", "some", "tied"]))
    day0 = _day(draw, dt.date(2018, 1, 1), CUTOFF)
    tie_day = _day(draw, day0, CUTOFF)
    people, cases = [], []
    for i in range(n):
        intake = day0 if one_day else _day(draw, dt.date(2018, 1, 1), CUTOFF)
        start = intake if one_day else _day(draw, intake, min(CUTOFF, intake + dt.timedelta(days=200)))
        birth = draw(st.integers(max(1920, intake.year - 100), min(2015, intake.year - 12)))
        pid = f"x{i:03d}"
        people.append({
            "participant_id": pid, "programme_id": draw(st.sampled_from(["P1", "RJ1"])),
            "group": draw(st.sampled_from(["programme", "comparison"])),
            "assignment": draw(st.sampled_from(["randomised", "observational"])),
            "sex": draw(st.sampled_from(["male", "female", "other", "unknown"])), "birth_year": str(birth),
            "intake_date": intake.isoformat(), "follow_up_start": start.isoformat(),
            "risk_level": draw(st.sampled_from(["low", "medium", "high", "unknown"])),
            "risk_score": draw(st.sampled_from(["", "-10", "200", "0", "199.999", "1e2"])),
            "index_offence_category": draw(st.sampled_from(sorted(FIELDS["participants"]["index_offence_category"]
                                                                    ["constraints"]["enum"]))),
            "prior_cases": draw(st.sampled_from(["0", "500", "1", "+3"])),
            "prior_custodial_sentences": draw(st.sampled_from(["", "0", "300"])),
            "detained_at_intake": "true" if start > intake else draw(st.sampled_from(["", "false"])),
        })
        k = {"none": 0, "all": draw(st.integers(1, 3)), "some": draw(st.integers(0, 2)), "tied": 2}[events]
        for j in range(k):
            if one_day:
                day = start
            elif events == "tied":
                day = tie_day if tie_day.year >= birth else start
            else:
                day = _day(draw, max(start - dt.timedelta(days=400), dt.date(birth, 1, 1)), CUTOFF)
            cases.append({
                "event_id": f"e{i:03d}{j}", "participant_id": pid, "offence_date": day.isoformat(),
                "registration_date": draw(st.sampled_from(["", day.isoformat()])),
                "offence_category": draw(st.sampled_from(["violence", "sexual", "drugs", "other"])),
                "max_penalty_years": draw(st.sampled_from(["", "0", "99", "4"])),
                "disposal": draw(st.sampled_from(sorted(FIELDS["justice_events"]["disposal"]["constraints"]["enum"]))),
                "custodial_days": draw(st.sampled_from(["", "0", "36500"])),
            })
    tables["participants"] = pd.concat([tables["participants"], pd.DataFrame(people)], ignore_index=True).fillna("")
    if cases:
        tables["justice_events"] = pd.concat([tables["justice_events"], pd.DataFrame(cases)],
                                             ignore_index=True).fillna("")


def _drop_persons(draw, tables: dict[str, pd.DataFrame]) -> None:
    """Remove some of the clean fixture's persons and everything that refers to them."""
    ids = tables["participants"]["participant_id"].tolist()
    gone = set(draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids))))
    if not gone:
        return
    tables["participants"] = tables["participants"][~tables["participants"]["participant_id"].isin(gone)]
    for name in ("justice_events", "detention_periods", "rj_sessions", "matches"):
        if name in tables:
            tables[name] = tables[name][~tables[name]["participant_id"].isin(gone)]
    if "contacts" in tables and "matches" in tables:
        tables["contacts"] = tables["contacts"][tables["contacts"]["match_id"].isin(set(tables["matches"]["match_id"]))]


def _odd_spellings(draw, tables: dict[str, pd.DataFrame]) -> None:
    """Valid but unusual spellings of dates, booleans and missing values, and padded cells."""
    for name, df in tables.items():
        if df.empty or not draw(st.booleans()):
            continue
        df = df.copy()
        for col in df.columns:
            kind = FIELDS[name][col]["type"] if col in FIELDS[name] else "string"
            how = draw(st.sampled_from(["keep", "odd", "pad"]))
            if how == "keep":
                continue
            filled = df[col] != ""
            if how == "pad":
                df.loc[filled, col] = " " + df.loc[filled, col] + "  "
            elif kind == "date":
                df.loc[filled, col] = pd.to_datetime(df.loc[filled, col]).dt.strftime("%d-%m-%Y")
            elif kind == "boolean":
                yes, no = draw(st.sampled_from([("ja", "nee"), ("J", "N"), ("1", "0"), ("WAAR", "ONWAAR"),
                                                ("Yes", "no")]))
                df.loc[df[col] == "true", col] = yes
                df.loc[df[col] == "false", col] = no
            elif not _required(name, col):
                df.loc[~filled, col] = draw(st.sampled_from(MISSING_TOKENS))
        tables[name] = df


@st.composite
def intakes(draw, plant: bool = True):
    """(tables to write, planted cells {(table, source row, field): value})."""
    tables = _clean_tables()
    for name in draw(st.lists(st.sampled_from(OPTIONAL_TABLES), unique=True)):
        tables.pop(name, None)  # (participant_covariates is not in the clean fixture)
    if draw(st.booleans()):
        for name in VOLUNTEER_SIDE:
            if name in tables:
                tables[name] = tables[name].iloc[0:0]
    _drop_persons(draw, tables)
    _extra_persons(draw, tables)
    if draw(st.booleans()):
        optional = [c for c in tables["participants"].columns if not _required("participants", c)]
        drop = set(draw(st.lists(st.sampled_from(optional), unique=True, max_size=4)))
        # a column whose filled value makes another one required goes with it (required_with rules)
        pairs = [(r["field"], r["when_present"]) for r in RESOURCES["participants"]["rules"]
                 if r["kind"] == "required_with"]
        while any(f in drop and w not in drop for f, w in pairs):
            drop |= {w for f, w in pairs if f in drop}
        tables["participants"] = tables["participants"].drop(columns=sorted(drop))
    _odd_spellings(draw, tables)
    tables = {k: v.reset_index(drop=True) for k, v in tables.items()}
    planted: dict[tuple[str, int, str], str] = {}
    if plant:
        candidates = [k for k, v in tables.items() if len(v) and _plantable(k, v.columns)]
        for _ in range(draw(st.integers(1, 4)) if candidates else 0):  # (every table may be empty now)
            name = draw(st.sampled_from(candidates))
            i = draw(st.integers(0, len(tables[name]) - 1))
            col = draw(st.sampled_from(_plantable(name, tables[name].columns)))
            value = draw(st.sampled_from(_invalid_values(name, col)))
            tables[name].loc[i, col] = value
            planted[(name, i + 2, col)] = value
    return tables, planted


def _write(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    for p in CLEAN.glob("*.yaml"):
        (folder / p.name).write_bytes(p.read_bytes())
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)


def _check_reconciliation(res, tables: dict[str, pd.DataFrame]) -> None:
    rec = res.reconciliation.set_index("table")
    for name in RESOURCES:
        if name not in tables and name in OPTIONAL_TABLES and name not in rec.index:
            continue  # an absent optional table is not reconciled
        written = len(tables[name]) if name in tables else 0
        row = rec.loc[name]
        assert row["rows_read"] == written, (name, row.to_dict(), written)
        assert row["rows_read"] == row["rows_accepted"] + row["rows_quarantined"], name
        assert len(res.tables[name]) == row["rows_accepted"], name
        assert len(res.quarantine.get(name, [])) == row["rows_quarantined"], name


# ----------------------------------------------------------------------------------------- tests


@PROFILE
@given(case=intakes())
def test_planted_cells_are_quarantined_where_they_were_planted(case):
    tables, planted = case
    with tempfile.TemporaryDirectory() as tmp:
        _write(tables, Path(tmp))
        res = validate_intake(Path(tmp), language="en")
    _check_reconciliation(res, tables)
    assert not res.reconciliation["blocking"].any(), res.issues.to_string()
    iss = res.issues
    for (table, row, field), value in planted.items():
        hit = iss[(iss["table"] == table) & (iss["row"] == row) & (iss["field"] == field)
                  & (iss["severity"] == "error")]
        assert len(hit) >= 1, f"{table} row {row} {field}={value!r} not reported:\n{iss.to_string()}"
        assert row in set(res.quarantine[table]["_row"]), (table, row, field, value)
        assert row not in set(res.tables[table]["_row"]), (table, row, field, value)


@PROFILE
@given(case=intakes(plant=False))
def test_valid_shapes_validate_without_errors(case):
    tables, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        _write(tables, Path(tmp))
        res = validate_intake(Path(tmp), language="en")
    _check_reconciliation(res, tables)
    errors = res.issues[res.issues["severity"] == "error"]
    assert errors.empty, errors.to_string()
    assert int(res.reconciliation["rows_quarantined"].sum()) == 0


GARBAGE = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"\xff\xfe\x00", b"programmes: [", b"cutoff_date: 2026-13-45\n", b"a: &x [*x]\n",
                     b"participant_id\n\x00\x00", b'"unclosed,quote\n1,2\n', b"programmes:\n  - 1\n  - 1\n"]),
)


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None, derandomize=True, database=None)
@given(target=st.sampled_from(sorted(p.name for p in CLEAN.iterdir())), payload=GARBAGE)
def test_unreadable_file_gives_a_result_or_an_intake_error_naming_it(target, payload):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tables = _clean_tables()
        _write(tables, folder)
        (folder / target).write_bytes(payload)
        try:
            res = validate_intake(folder, language="en")
        except IntakeError as exc:
            assert target in str(exc), str(exc)
            return
    rec = res.reconciliation
    assert (rec["rows_read"] == rec["rows_accepted"] + rec["rows_quarantined"]).all()
    for row in rec.itertuples():
        assert len(res.tables[row.table]) == row.rows_accepted
        assert len(res.quarantine.get(row.table, [])) == row.rows_quarantined
