"""Number formatting in both languages (hand-worked examples)."""

import math

import pytest

from evaluation.publish import formatting as fmt


@pytest.mark.parametrize(
    ("value", "language", "digits", "expected"),
    [
        (4802.731143, "nl", 2, "4.802,73"),
        (4802.731143, "en", 2, "4,802.73"),
        (41249.37, "nl", 0, "41.249"),
        (-0.5, "nl", 1, "-0,5"),
        (1234567, "en", 0, "1,234,567"),
        (math.nan, "nl", 2, ""),
        (None, "en", 2, ""),
        (math.inf, "nl", 2, "∞"),
        (-math.inf, "en", 2, "-∞"),
    ],
)
def test_number(value, language, digits, expected):
    assert fmt.number(value, language, digits) == expected


def test_number_without_thousands_separator():
    assert fmt.number(12345.5, "nl", 1, thousands=False) == "12345,5"


def test_euro_and_percent():
    assert fmt.euro(1234.5, "nl") == "€ 1.234"  # round half to even: 1234.5 -> 1234
    assert fmt.euro(1234.5, "en", 2) == "EUR 1,234.50"
    assert fmt.euro(math.nan, "en") == ""
    assert fmt.percent(0.3125, "nl", 1) == "31,2%"
    assert fmt.percent(0.31, "en") == "31%"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="language must be one of"):
        fmt.number(1, "de")
