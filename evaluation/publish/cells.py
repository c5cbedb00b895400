"""Shared pieces of disclosure control: the markers, the threshold check and reading counts.

A count of people from 1 to ``threshold - 1`` is shown as ``"<10"`` (``f"<{threshold}"``); a cell
hidden to protect another is shown as ``"c"`` (:data:`SECONDARY_MARKER`). See docs/methods.md,
section 'Disclosure control'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

SECONDARY_MARKER = "c"


class DisclosureError(RuntimeError):
    """Raised when something about to be published could identify a person.

    Attributes
    ----------
    findings : pandas.DataFrame
        One row per finding (values masked), e.g. from :func:`scan_outputs`.
    """

    def __init__(self, message: str, findings: pd.DataFrame | None = None):
        super().__init__(message)
        self.findings = findings if findings is not None else pd.DataFrame()


def _marker(threshold: int) -> str:
    return f"<{threshold}"


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise ValueError(f"threshold must be a positive integer, got {threshold!r}")
    return int(threshold)


_MARKER_RE = re.compile(r"^\s*(?:<\d+|c)\s*$")


def _already_protected(series: pd.Series) -> np.ndarray:
    """Cells that already hold a suppression marker ("<10", "c")."""
    return series.map(lambda x: isinstance(x, str) and bool(_MARKER_RE.match(x))).to_numpy(dtype=bool)


def _show_count(val: float) -> Any:
    """A count for display: int when whole, else the number as given (e.g. a weighted n)."""
    if np.isnan(val):
        return None
    return int(val) if float(val).is_integer() else float(val)


def _counts_as_float(
    df: pd.DataFrame, count_cols: Sequence[str], what: str, allow_markers: bool = False
) -> pd.DataFrame:
    missing = [c for c in count_cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: count column(s) {missing} not in table (columns: {list(df.columns)})")
    out = pd.DataFrame(index=df.index)
    for c in count_cols:
        col = df[c]
        if allow_markers:
            col = col.where(~_already_protected(col), np.nan)
        values = pd.to_numeric(col, errors="coerce")
        bad = values.isna() & col.notna()
        if bad.any():
            row = df.index[bad.to_numpy()][0]
            raise ValueError(f"{what}: column {c!r}, row {row}: count {df.at[row, c]!r} is not a number")
        neg = values < 0
        if neg.any():
            row = df.index[neg.to_numpy()][0]
            raise ValueError(f"{what}: column {c!r}, row {row}: negative count {df.at[row, c]!r}")
        out[c] = values.astype(float)
    return out
