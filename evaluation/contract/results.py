"""The fixed shape of every estimate the package produces.

Every analysis step returns a tidy DataFrame with these columns (extra
columns may follow). Formatting, rounding and language happen only in the
report step; values here are raw numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

SUPPRESSION_THRESHOLD: int = 10
"""The one disclosure threshold: a count of people from 1 to ``SUPPRESSION_THRESHOLD - 1`` is never
published (docs/methods.md, section 'Disclosure control'). Every step that needs it (the publishing
step's disclosure control, and analyses that flag small numbers) reads this constant."""

RESULT_COLUMNS: list[str] = [
    "programme_id",  # programme the estimate describes, or "all"
    "analysis",  # e.g. "recidivism", "retention", "fidelity", "costs", "synthesis"
    "estimand",  # machine name of what is estimated, e.g. "hazard_ratio", "prevalence_2y"
    "endpoint",  # ADTTE endpoint code (e.g. "GENERAL"), or "" when not applicable
    "group",  # "programme", "comparison", "difference", "all", or a subgroup label
    "estimate",
    "ci_lower",
    "ci_upper",
    "p_value",
    "n",  # people (or units) the estimate is based on
    "events",  # events behind the estimate, where meaningful
    "method",  # short description, e.g. "Cox PH, Efron ties, robust SE (matched pairs)"
    "causal",  # True when the design supports a causal reading
    "note",  # caveats in English; the report step translates
]


def make_results(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a results table with the fixed columns, in the fixed order.

    Missing keys become NaN (numbers) or empty strings (text); extra keys are
    kept after the fixed columns.
    """
    df = pd.DataFrame(list(rows))
    for col in RESULT_COLUMNS:
        if col not in df.columns:
            df[col] = "" if col in {"programme_id", "analysis", "estimand", "endpoint", "group", "method", "note"} else np.nan
    extra = [c for c in df.columns if c not in RESULT_COLUMNS]
    return df[RESULT_COLUMNS + extra]


def volunteer_count(n: int, threshold: int = SUPPRESSION_THRESHOLD) -> str:
    """``"12 volunteers"``, ``"0 volunteers"`` or, for 1..threshold-1, ``"fewer than 10 volunteers"``: a count of
    volunteers in a note that may reach a report (volunteers are people; docs/methods.md, section
    'Disclosure control')."""
    n = int(n)
    return f"{n} volunteers" if n == 0 or n >= threshold else f"fewer than {threshold} volunteers"
