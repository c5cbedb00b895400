"""The validator's speed shortcuts give exactly the plain results.

``parse_column`` types a column once per distinct value and expands the result
to the rows when values repeat (``encode``); these tests compare that path with
typing every cell (``encode=False``) on columns mixing valid, invalid, missing
and padded cells, so any difference in values, dtypes or masks is caught.
"""

import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import copy_clean, read_text_table, write_text_table

from evaluation.contract.schema import load_contract
from evaluation.validation.validate import parse_column, validate_intake

CONTRACT = load_contract()
MV = ["", "NA", "n.v.t."]

CELLS = {
    "integer": ["12", "+3", " 7 ", "12.0", "abc", "", "NA", "-0", "999999999999999999", "1 000"],
    "number": ["1.5", "12,5", "-0,25", "1e3", "inf", "", "n.v.t.", ".5", "x", "3"],
    "boolean": ["ja", "NEE", "1", "0", "true", "Waar", "jawel", "", "NA", " false "],
    "date": ["2025-01-31", "31-01-2025", "2025-02-29", "2024-02-29", "31-13-2025", "", "NA", "2025-1-5", "x"],
    "string": ["a", " b ", "", "NA", "k 1", "é", "a"],
}


@pytest.mark.parametrize("ftype", sorted(CELLS))
@pytest.mark.parametrize("decimal_comma", [False, True])
def test_distinct_value_typing_equals_cell_typing(ftype, decimal_comma):
    rng = np.random.default_rng(7)
    text = pd.Series(rng.choice(CELLS[ftype], size=200))  # every value repeated many times
    fast = parse_column(text, ftype, CONTRACT, MV, decimal_comma, encode=True)
    plain = parse_column(text, ftype, CONTRACT, MV, decimal_comma, encode=False)
    auto = parse_column(text, ftype, CONTRACT, MV, decimal_comma)
    for other in (fast, auto):
        pd.testing.assert_series_equal(other[0], plain[0])
        np.testing.assert_array_equal(other[1], plain[1])
        np.testing.assert_array_equal(other[2], plain[2])
    # the shortcut really was exercised and found something of each kind
    assert plain[1].any() and (ftype == "string" or plain[2].any())


def test_string_cells_are_python_str_or_none():
    typed, missing, _ = parse_column(pd.Series([" a ", "", "NA", "a"]), "string", CONTRACT, MV, encode=False)
    assert typed.dtype == object
    assert typed.tolist() == ["a", None, None, "a"]
    assert missing.tolist() == [False, True, True, False]


def _repeated_contacts(folder, k: int = 20) -> pd.DataFrame:
    """The clean fixture's 6 contacts repeated ``k`` times with new ids: every column but
    contact_id then has far fewer distinct values than rows (the per-value path)."""
    df = read_text_table(folder, "contacts")
    df = pd.concat([df] * k, ignore_index=True)
    df["contact_id"] = [f"c{i:04d}" for i in range(len(df))]
    return df


def test_repeated_padded_values_are_stripped_and_checked_per_row(tmp_path):
    folder = copy_clean(tmp_path)
    df = _repeated_contacts(folder)
    n = len(df)
    # padding variants of valid codes: all accepted, typed without the padding
    df.loc[::3, "mode"] = " " + df.loc[::3, "mode"]
    df.loc[1::3, "mode"] = df.loc[1::3, "mode"] + "  "
    # hand-planted errors at known source rows (data row i is source row i + 2)
    df.loc[10, "mode"] = " telepathy "  # enum
    df.loc[50, "match_id"] = "m 01"  # pattern (inner space survives stripping)
    df.loc[51, "minutes"] = "0"  # minimum
    df.loc[52, "contact_date"] = "2025-02-30"  # type: no such day
    write_text_table(folder, "contacts", df)
    res = validate_intake(folder)
    err = res.errors[res.errors["table"] == "contacts"]
    got = sorted(zip(err["row"].astype(int), err["field"], err["rule"], strict=True))
    assert got == [(12, "mode", "enum"), (52, "match_id", "pattern"), (53, "minutes", "minimum"),
                   (54, "contact_date", "type")]
    acc = res.tables["contacts"]
    assert len(acc) == n - 4 and acc["mode"].dtype == object
    assert set(acc["mode"]) == {"face_to_face", "phone", "message"}  # the fixture's codes, padding removed
    assert acc["contact_date"].dtype == "datetime64[ns]" and str(acc["minutes"].dtype) == "Int64"


def test_repeated_bsn_like_values_are_counted_per_row(tmp_path):
    folder = copy_clean(tmp_path)
    df = _repeated_contacts(folder, k=10)  # 60 rows
    # 111222333 and 123456782 pass the 11-check (see test_validate.test_bsn_eleven_check_hand_worked);
    # 123456789 does not. 60 rows: 20 x " 111222333", 15 x "123456782", 5 x "123456789", 20 empty
    # -> 35 of 40 filled cells look like a BSN (> half): the table is refused.
    df["reference"] = [" 111222333"] * 20 + ["123456782"] * 15 + ["123456789"] * 5 + [""] * 20
    write_text_table(folder, "contacts", df)
    res = validate_intake(folder, language="en")
    iss = res.issues[res.issues["rule"] == "identifier_column"]
    assert iss["field"].tolist() == ["reference"]
    assert "35 of 40" in iss["message"].iloc[0]
