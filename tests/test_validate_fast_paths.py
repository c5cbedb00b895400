"""The validator's speed shortcuts give exactly the plain results.

``parse_column`` types a column once per distinct value and expands the result
to the rows when values repeat (``encode``); these tests compare that path with
typing every cell (``encode=False``) on columns mixing valid, invalid, missing
and padded cells, so any difference in values, dtypes or masks is caught.
"""

import numpy as np
import pandas as pd
import pytest

from evaluation.schema import load_contract
from evaluation.validate import parse_column

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
