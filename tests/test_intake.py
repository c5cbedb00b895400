"""Reading intakes: every dialect of the same data gives identical typed tables.

The reference is the clean hand-built fixture (UTF-8, comma, ISO dates,
empty = missing). Each variant rewrites the same cells in another dialect
(encoding, separator, decimal comma, Dutch dates, missing markers, ja/nee
booleans, Parquet, Excel); the validated typed tables must be equal to the
reference's (exact equality: no tolerance is needed, the values are the same
decimal strings).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import CLEAN, copy_clean, read_text_table

from evaluation.contract.schema import load_contract
from evaluation.intake.read import IntakeError, read_intake, sniff_separator
from evaluation.validation.validate import validate_intake

CONTRACT = load_contract()
REMARK = "geëvalueerd; café, één"  # non-ASCII text (and separators) in an extra column


def _reference():
    res = validate_intake(CLEAN)
    assert res.ok
    return res


def _delivered():
    """The contract's tables the clean fixture delivers (optional ones such as participant_covariates
    are not in it)."""
    return [n for n in CONTRACT.table_names if (CLEAN / f"{n}.csv").exists()]


def _tables(folder):
    return {n: read_text_table(folder, n) for n in _delivered()}


def _write_csv(folder, tables, sep=",", encoding="utf-8", transform=None):
    for name, df in tables.items():
        df = df.copy()
        if transform is not None:
            df = transform(name, df)
        text = df.to_csv(index=False, sep=sep, lineterminator="\r\n")
        (folder / f"{name}.csv").write_bytes(text.encode(encoding))


def _field_types(name):
    return {f["name"]: f["type"] for f in CONTRACT.resources[name].fields}


def _dutch(name, df, decimal_comma=True, dates=True, bools=True, markers=True):
    types = _field_types(name)
    for col in df.columns:
        t = types.get(col)
        filled = df[col] != ""
        if t == "number" and decimal_comma:
            df.loc[filled, col] = df.loc[filled, col].str.replace(".", ",", regex=False)
        if t == "date" and dates:
            d = pd.to_datetime(df.loc[filled, col], format="%Y-%m-%d")
            df.loc[filled, col] = d.dt.strftime("%d-%m-%Y")
        if t == "boolean" and bools:
            df.loc[filled, col] = df.loc[filled, col].map({"true": "ja", "false": "Nee"})
        if markers:
            cycle = np.array(["NA", "n.v.t.", "-", " ", "null", "?"], dtype=object)
            empty = np.flatnonzero(~filled.to_numpy())
            df.iloc[empty, df.columns.get_loc(col)] = cycle[np.arange(len(empty)) % len(cycle)]
    return df


def _assert_same_typed(res, ref):
    assert res.ok, res.issues.to_string()
    for name in _delivered():
        pd.testing.assert_frame_equal(res.tables[name], ref.tables[name], check_exact=True)


@pytest.fixture(scope="module")
def ref():
    return _reference()


@pytest.mark.parametrize(
    "sep,encoding,dutch",
    [
        (",", "utf-8", False),
        (",", "utf-8-sig", False),
        (",", "cp1252", False),
        (";", "utf-8", False),
        (";", "cp1252", True),  # Dutch Excel export: cp1252, ';', decimal comma, dd-mm-yyyy, ja/nee, markers
        (";", "utf-8-sig", True),
    ],
)
def test_csv_dialects_read_to_identical_typed_tables(tmp_path, ref, sep, encoding, dutch):
    folder = copy_clean(tmp_path)
    tables = _tables(folder)

    def transform(name, df):
        if dutch:
            df = _dutch(name, df)
        if name == "contacts":
            df["opmerking"] = REMARK
        return df

    _write_csv(folder, tables, sep=sep, encoding=encoding, transform=transform)
    raw = read_intake(folder)
    c = raw.tables["contacts"]
    assert c.separator == sep and c.decimal_comma == (sep == ";")
    assert c.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "cp1252": "cp1252"}[encoding]
    assert set(c.data["opmerking"]) == {REMARK}  # é/ë survive every encoding
    assert c.data["_row"].tolist() == [2, 3, 4, 5, 6, 7]
    res = validate_intake(raw)
    # the extra column is a warning and is dropped; otherwise identical
    assert set(res.issues["rule"]) == {"unknown_column"}
    _assert_same_typed(res, ref)


def test_dutch_cells_parse_as_expected():
    from evaluation.validation.validate import parse_column

    mv = CONTRACT.resources["participants"].descriptor["schema"]["missingValues"]
    num, miss, bad = parse_column(pd.Series(["12,5", "3", "-0,25", "1.234,5", "n.v.t.", "1e3"]), "number", CONTRACT, mv, True)
    assert num.tolist()[:3] == [12.5, 3.0, -0.25] and np.isnan(num.iloc[4]) and num.iloc[5] == 1000.0
    assert bad.tolist() == [False, False, False, True, False, False]  # thousands separators are refused
    assert miss.tolist() == [False, False, False, False, True, False]
    # a decimal comma in a comma-separated file is a type error
    _, _, bad = parse_column(pd.Series(["12,5"]), "number", CONTRACT, mv, False)
    assert bad.tolist() == [True]
    d, _, bad = parse_column(pd.Series(["2025-01-31", "31-01-2025", "31/01/2025", "2025/01/31", "31-13-2025", "2025-02-29"]), "date", CONTRACT, mv)
    assert d.iloc[:4].tolist() == [pd.Timestamp("2025-01-31")] * 4
    assert bad.tolist() == [False, False, False, False, True, True]
    b, _, bad = parse_column(pd.Series(["ja", "NEE", "1", "0", "Waar", "jawel"]), "boolean", CONTRACT, mv)
    assert b.iloc[:5].tolist() == [True, False, True, False, True] and bad.tolist() == [False] * 5 + [True]
    i, _, bad = parse_column(pd.Series(["12", "+3", "12.0", "1 000", " 7 "]), "integer", CONTRACT, mv)
    assert i.iloc[[0, 1, 4]].tolist() == [12, 3, 7] and bad.tolist() == [False, False, True, True, False]


def test_parquet_text_and_native_types_read_identically(tmp_path, ref):
    folder = copy_clean(tmp_path)
    tables = _tables(folder)
    for name, df in tables.items():
        (folder / f"{name}.csv").unlink()
        types = _field_types(name)
        native = {}
        for col in df.columns:
            s = df[col].replace("", None)
            if types[col] == "date":
                s = pd.to_datetime(s)
            elif types[col] == "number":
                s = pd.to_numeric(s)  # float64 with NaN
            elif types[col] == "integer":
                s = pd.to_numeric(s).astype("Int64") if name != "contacts" else pd.to_numeric(s)  # float with NaN too
            elif types[col] == "boolean":
                s = s.map({"true": True, "false": False}).astype("boolean")
            native[col] = s
        pd.DataFrame(native).to_parquet(folder / f"{name}.parquet", index=False)
    raw = read_intake(folder)
    assert raw.fmt == "parquet" and raw.tables["contacts"].data["_row"].tolist() == [2, 3, 4, 5, 6, 7]
    assert raw.tables["contacts"].data["minutes"].tolist()[:2] == ["60", "45"]  # float 60.0 read as "60"
    _assert_same_typed(validate_intake(raw), ref)


def test_excel_workbook_reads_identically(tmp_path, ref):
    import openpyxl

    folder = copy_clean(tmp_path)
    tables = _tables(folder)
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, df in tables.items():
        (folder / f"{name}.csv").unlink()
        types = _field_types(name)
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for rec in df.itertuples(index=False):
            cells = []
            for col, v in zip(df.columns, rec, strict=True):
                if v == "":
                    cells.append(None)
                elif types[col] == "date":
                    cells.append(dt.datetime.strptime(v, "%Y-%m-%d"))  # native Excel dates
                elif types[col] in {"integer", "number"}:
                    cells.append(float(v))
                elif types[col] == "boolean":
                    cells.append(v == "true")
                else:
                    cells.append(v)
            ws.append(cells)
        ws.append([None] * len(df.columns))  # trailing empty row: not data
    wb.create_sheet("notes").append(["free text"])
    wb.save(folder / "intake.xlsx")
    raw = read_intake(folder)
    assert raw.fmt == "xlsx"
    assert raw.ignored == ["intake.xlsx[notes]"]
    c = raw.tables["contacts"]
    assert c.trailing_empty_rows == 1 and c.data["_row"].tolist() == [2, 3, 4, 5, 6, 7]
    res = validate_intake(raw)
    assert set(res.issues["rule"]) == {"unknown_table"}
    for name in _delivered():
        pd.testing.assert_frame_equal(res.tables[name], ref.tables[name], check_exact=True)


def test_row_numbers_count_blank_lines_and_skip_trailing_empty_rows(tmp_path):
    folder = copy_clean(tmp_path)
    text = (folder / "contacts.csv").read_text().splitlines()
    # blank line after the 2nd data row, and two trailing ';'-less empty records
    lines = text[:3] + [""] + text[3:] + [",,,,,,", ",,,,,,"]
    (folder / "contacts.csv").write_text("\n".join(lines) + "\n")
    raw = read_intake(folder)
    c = raw.tables["contacts"]
    assert c.trailing_empty_rows == 2
    assert c.data["_row"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    res = validate_intake(raw)
    # the blank record (row 4) is reported and quarantined, not dropped
    assert res.quarantine["contacts"]["_row"].tolist() == [4]
    assert res.tables["contacts"]["_row"].tolist() == [2, 3, 5, 6, 7, 8]


def test_quoted_fields_with_separators_and_line_breaks(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "contacts")
    df["opmerking"] = ["a;b", "x,y", 'he said "ja"', "two\nlines", "", "z"]
    df.to_csv(folder / "contacts.csv", index=False, sep=";")
    c = read_intake(folder).tables["contacts"]
    assert c.data["opmerking"].tolist() == ["a;b", "x,y", 'he said "ja"', "two\nlines", "", "z"]
    assert c.data["_row"].tolist() == [2, 3, 4, 5, 6, 7]


# ------------------------------------------------------------------ refusals


def test_sniff_separator():
    assert sniff_separator("a;b;c") == ";"
    assert sniff_separator('a,"b;c",d') == ","
    with pytest.raises(IntakeError, match="ambiguous"):
        sniff_separator("a,b;c", "x.csv")


def test_missing_folder(tmp_path):
    with pytest.raises(IntakeError, match="does not exist"):
        read_intake(tmp_path / "nope")


def test_no_tables(tmp_path):
    (tmp_path / "programmes.yaml").write_text((CLEAN / "programmes.yaml").read_text())
    with pytest.raises(IntakeError, match="no tables found"):
        read_intake(tmp_path)


def test_two_formats_for_one_table(tmp_path):
    folder = copy_clean(tmp_path)
    read_text_table(folder, "costs").to_parquet(folder / "costs.parquet")
    with pytest.raises(IntakeError, match=r"costs.*two formats"):
        read_intake(folder)


def test_workbook_plus_csv_refused(tmp_path):
    import openpyxl

    folder = copy_clean(tmp_path)
    openpyxl.Workbook().save(folder / "tables.xlsx")
    with pytest.raises(IntakeError, match="tables.xlsx"):
        read_intake(folder)


def test_ambiguous_separator_file(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "costs.csv").write_text("programme_id,period_start;period_end\n")
    with pytest.raises(IntakeError, match=r"costs\.csv: ambiguous separator"):
        read_intake(folder)


def test_duplicate_column_names(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "costs.csv").write_text("programme_id,programme_id\nP1,P1\n")
    with pytest.raises(IntakeError, match=r"costs\.csv: duplicate column name"):
        read_intake(folder)


def test_bad_yaml(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "programmes.yaml").write_text("programmes: [\n  - {programme_id: P1\n")
    with pytest.raises(IntakeError, match=r"programmes\.yaml: invalid YAML"):
        read_intake(folder)


def test_programmes_not_matching_schema(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "programmes.yaml").write_text("programmes:\n  - programme_id: P1\n    name: x\n")
    with pytest.raises(IntakeError, match=r"(?s)programmes\.yaml: does not match.*programme_type"):
        read_intake(folder)


def test_missing_cutoff(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "extract.yaml").write_text("supplier: x\n")
    with pytest.raises(IntakeError, match=r"(?s)extract\.yaml.*cutoff_date. is a required"):
        read_intake(folder)
    (folder / "extract.yaml").unlink()
    with pytest.raises(IntakeError, match=r"extract\.yaml: file is missing"):
        read_intake(folder)


def test_unquoted_yaml_date_is_accepted(tmp_path):
    folder = copy_clean(tmp_path)
    (folder / "extract.yaml").write_text("cutoff_date: 2026-09-30\n")
    assert read_intake(folder).cutoff_date == pd.Timestamp("2026-09-30")
