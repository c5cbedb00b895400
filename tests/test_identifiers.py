"""The one BSN check (evaluation.contract.identifiers), on hand-worked eleven-tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.identifiers import eleven_test, is_bsn
from evaluation.validation.rules import bsn_like


@pytest.mark.parametrize(("s", "expected"), [
    # 9*1+8*1+7*1+6*2+5*2+4*2+3*3+2*3 - 3 = 66 = 6*11
    ("111222333", True),
    # same digits, last one 4: 65, not divisible by 11
    ("111222334", False),
    # 9*1+8*2+7*3+6*4+5*5+4*6+3*7+2*8 - 2 = 154 = 14*11
    ("123456782", True),
    # 156 - 3 = 153 = 13*11 + 10
    ("123456783", False),
    # 9*(9+8+7+6+5+4+3+2) - 0 = 396 = 36*11
    ("999999990", True),
    # sum 0 passes the arithmetic, but is no number
    ("000000000", False),
    # not nine digits, or not ASCII digits
    ("12345678", False),
    ("1234567820", False),
    (" 123456782", False),
    ("12345678a", False),
    ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff12", False),  # full-width 123456782
])
def test_is_bsn_hand_worked(s, expected):
    assert is_bsn(s) is expected


def test_eleven_test_agrees_with_is_bsn():
    digits = np.array([[int(c) for c in s] for s in ("111222333", "111222334", "123456782", "000000000")])
    assert eleven_test(digits).tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="shape"):
        eleven_test(np.zeros((2, 8), dtype=int))


def test_validator_mask_is_the_same_check():
    rng = np.random.default_rng(3)
    values = ["".join(map(str, rng.integers(0, 10, 9))) for _ in range(3000)] + ["111222333", "000000000", "1112223"]
    got = bsn_like(pd.Series(values))
    assert got.tolist() == [is_bsn(v) for v in values]
    assert got.sum() > 200  # about 1 in 11 random numbers passes
