"""Numbers in the reader's language: the one place where a number becomes text.

Dutch uses a decimal comma and a full stop between thousands (``4.802,73``);
English the other way round (``4,802.73``). Missing values become an empty
string; infinities become ``∞`` / ``-∞``. Every sentence, table and page of a
report formats its numbers through these functions. A hazard or rate ratio whose
estimate or interval is 0, infinite or otherwise degenerate is never shown as a
number (:func:`ratio_shown`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from evaluation.stats.survival.cox import ratio_degenerate

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
"""Reports are Dutch unless asked otherwise (Dutch government publications)."""


def parse_languages(languages: str | Sequence[str]) -> list[str]:
    """``"nl"``, ``"nl,en"`` or a list -> the checked codes in order, without repeats (the first is the
    main language); raise ValueError for an unknown or empty list."""
    items = languages.split(",") if isinstance(languages, str) else list(languages)
    codes = list(dict.fromkeys(str(x).strip() for x in items if str(x).strip()))
    if not codes:
        raise ValueError(f"language: give one or more of {LANGUAGES}, e.g. 'nl' or 'nl,en'")
    return [check_language(c) for c in codes]


def check_language(language: str) -> str:
    """Return ``language`` if it is ``"nl"`` or ``"en"``, else raise ValueError."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    return language


def number(value: Any, language: str = DEFAULT_LANGUAGE, digits: int = 0, thousands: bool = True) -> str:
    """``value`` with ``digits`` decimals, in the reader's notation.

    Parameters
    ----------
    value : number or None
        NaN and None give ``""``; infinities give ``"∞"`` or ``"-∞"``.
    language : {"nl", "en"}
    digits : int
        Fixed number of decimals.
    thousands : bool
        Group thousands (``12.345`` in Dutch, ``12,345`` in English).
    """
    check_language(language)
    if value is None:
        return ""
    x = float(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    s = f"{x:,.{digits}f}" if thousands else f"{x:.{digits}f}"
    if language == "nl":
        s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return s


def euro(value: Any, language: str = DEFAULT_LANGUAGE, digits: int = 0) -> str:
    """An amount in euros: ``€ 1.234`` (nl) or ``EUR 1,234`` (en); empty for a missing amount."""
    s = number(value, language, digits)
    if not s or s in {"∞", "-∞"}:
        return s
    return ("€ " if language == "nl" else "EUR ") + s


def percent(share: Any, language: str = DEFAULT_LANGUAGE, digits: int = 0) -> str:
    """A share in [0, 1] as a percentage: ``31%`` (en) or ``31%`` with a decimal comma in Dutch."""
    s = number(None if share is None else float(share) * 100, language, digits)
    return s + "%" if s and s not in {"∞", "-∞"} else s


NOT_ESTIMABLE_TEXT = {"en": "not estimable", "nl": "niet te schatten"}
_RATIO_ESTIMAND = re.compile(r"(?:hazard|rate)_ratio")
# rows about a ratio that are not ratios: the between-programme variance (its interval may start at 0),
# the heterogeneity share and a moderator's test statistic
_NOT_A_RATIO = re.compile(r"_(?:tau2|I2|moderator_test)$")


def is_ratio_estimand(estimand: Any) -> bool:
    """True for a hazard or rate ratio (``hazard_ratio``, ``hazard_ratio_adjusted``, ``rate_ratio``,
    ``hazard_ratio_pooled``, ...); False for the synthesis's ``*_tau2``, ``*_I2`` and
    ``*_moderator_test`` rows, which describe a ratio but are a variance, a share and a statistic."""
    name = str(estimand or "")
    return bool(_RATIO_ESTIMAND.search(name)) and not _NOT_A_RATIO.search(name)


def ratio_shown(estimand: Any, estimate: Any, ci_lower: Any, ci_upper: Any) -> bool:
    """False when a ratio row's numbers must not be shown: the estimate or a limit is 0, infinite,
    outside the published range, or the interval is degenerate
    (:func:`evaluation.stats.survival.cox.ratio_degenerate`; docs/methods.md, section 'Survival
    estimators'). The analyses already give such rows as not estimable; this is the last guard
    before a reader sees "0,00 (0 - ∞)". Rows that are not ratios, or have no estimate, are shown."""
    if not is_ratio_estimand(estimand):
        return True
    vals = []
    for v in (estimate, ci_lower, ci_upper):
        try:
            vals.append(float(v))
        except (TypeError, ValueError):
            vals.append(math.nan)
    if math.isnan(vals[0]):
        return True
    return not ratio_degenerate(*vals)
