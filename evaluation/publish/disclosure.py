"""Statistical disclosure control: the only way out of the package.

Every table, figure and sentence that leaves the package (the quarterly
report, notebook outputs) passes through this module. Analyses always use the
full data; only what is *shown* is protected.

Rules
-----
Threshold
    ``threshold`` (default :data:`DEFAULT_THRESHOLD` = 10, configurable in every
    function) is the smallest number of people a published count may describe.
Primary suppression
    A count of people ``c`` with ``0 < c < threshold`` is shown as ``"<10"``
    (``f"<{threshold}"``). Zero is shown as 0 by default: a zero describes
    nobody, and hiding it usually forces suppression of the whole table. Where
    a zero would reveal something about identifiable people (e.g. "none of
    the 3 women reoffended"), the small denominator is itself suppressed;
    ``suppress_zero=True`` hides zeros as well.
Secondary suppression
    When a total is published or can be derived (the column total of a one-way
    table, row and column totals of a two-way table), a single suppressed cell
    in a row or column could be recovered by subtraction. :func:`suppress_table`
    therefore suppresses further cells until every row and column (within each
    ``by`` group) that contains a suppressed cell contains at least two
    (the heuristic of Cox 1980 / the "at least two per line" rule used by
    statistical offices). Lines are visited column by column, then row by
    row, repeatedly until stable (a new cell can leave its other line with a
    single suppressed cell). The extra cell chosen in a line is, in order of
    preference: one whose other line also has exactly one suppressed cell
    (one cell then protects two lines), the smallest non-zero count (zeros
    only if nothing else is left), the first in table order. Two per line is
    not always enough (two cells of 9 adding up to a known 18 are both
    pinned), so every primary cell is then audited by linear programming
    (:func:`audit_suppression`: the range a reader can infer, knowing that
    "<10" means 1..9 and "c" means at least 10) and more cells are
    suppressed while one can be pinned; a cell that cannot be protected gives
    a warning (do not publish that total, or merge categories). Secondary
    cells are shown as ``"c"`` (confidential), not ``"<10"``, because their
    true value is not small.
Stock-flow tables
    A table of stocks and flows per period (``start + in - out = end``, the
    end stock of a period being the start stock of the next, groups adding
    up to a total group) defeats cell suppression: a suppressed flow is the
    difference of two stocks shown in neighbouring rows. Such tables are
    published after *controlled rounding* (:func:`round_stock_flow`): each
    count moves to a neighbouring multiple of the threshold with every
    relation still exact, so a count of 1..9 is shown as 0 or 10 and nothing
    is suppressed. :func:`audit_rounding` checks by linear programming, with
    every relation and the totals published elsewhere declared, that each
    true count of 1..9 keeps at least as many possible values as ``"<10"``
    would leave.
Rates, percentages, estimates
    A rate, percentage or confidence limit computed from a suppressed count is
    blanked (NaN) with it (``rate_cols``). In results tables
    (:func:`protect_results`), an estimate whose ``n`` is below the threshold
    is blanked (estimate, CI, p-value) and flagged in ``note`` and in a
    ``suppressed`` column; ``events`` with ``0 < events < threshold`` are
    shown as ``"<10"`` and the estimate is blanked too (a proportion with its
    ``n`` would give the small number of events back; CBS output rules apply
    the minimum of 10 to the numerator as well), and so is a difference
    whose group levels include a blanked one.
Numbers at risk
    Under Kaplan-Meier plots, counts ``1..threshold-1`` become ``"<10"``; zero
    stays 0 (nobody left under follow-up reveals nothing beyond the end of the
    curve). Curves themselves should stop where fewer than ``threshold``
    people remain at risk (:func:`last_time_with_min_at_risk`). The
    event-time table of a Kaplan-Meier fit (one row per event time, counts
    of 1) is row-level in disguise: publish survival at fixed times instead.
Sentences
    Headline numbers are formatted through :func:`protect_sentence`, and
    :func:`check_sentences` refuses sentences such as "3 participants".
No row-level data
    :func:`scan_outputs` searches every file of a report folder for identifier
    values of the intake and for per-person tables (columns named like ids);
    :func:`assert_no_identifiers` raises :class:`DisclosureError` with the
    findings (values masked).
Files at rest
    Row-level files (quarantine, analysis datasets) are written with
    :func:`write_private` (mode 0600, atomic) in folders made by
    :func:`private_dir` (mode 0700).

Limitations
-----------
After the audit no primary cell can be pinned to one value within one
table, or a warning says which can; the audit does not enforce a wider
protection interval (a reader may learn, e.g., that a cell is 1..5 rather
than 1..9). Tables in this package are one- or two-way and small (the audit
solves two LPs per primary cell per round). Tables are protected one at a
time: two published tables whose totals differ by fewer than ``threshold``
people (e.g. "all programmes" and "all but one programme") reveal a small
group by differencing; publish only one of them.

References
----------
Hundepool A, Domingo-Ferrer J, Franconi L, et al. (2012). *Statistical
Disclosure Control*. Wiley. Chapter 4 (magnitude and frequency tables).
Cox LH (1980). Suppression methodology and statistical disclosure control.
*JASA* 75(370):377-385.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import re
import stat
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 10
SECONDARY_MARKER = "c"

#: Identifier columns of the contract and the kind under which their values are scanned.
ID_KINDS: tuple[str, ...] = (
    "participant_id",
    "volunteer_id",
    "match_id",
    "contact_id",
    "event_id",
    "session_id",
    "circle_id",
)


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


# ----------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------


def _groups(df: pd.DataFrame, by: str | Sequence[str] | None) -> list[np.ndarray]:
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for b in by_cols:
        if b not in df.columns:
            raise ValueError(f"suppress_table: 'by' column {b!r} not in table")
    if by_cols:
        return [np.asarray(ix) for ix in df.groupby(by_cols, sort=False, dropna=False).indices.values()]
    return [np.arange(len(df))]


def _lines(groups: list[np.ndarray], n_cols: int, totals: str) -> list[list[tuple[int, int]]]:
    """Cells of every line with a published total: columns (within groups) first, then rows."""
    lines: list[list[tuple[int, int]]] = []
    for rows in groups:
        if totals in {"both", "columns"} and len(rows) >= 2:
            lines += [[(int(i), j) for i in rows] for j in range(n_cols)]
        if totals in {"both", "rows"} and n_cols >= 2:
            lines += [[(int(i), j) for j in range(n_cols)] for i in rows]
    return lines


def _relation_lines(
    n_rows: int, cols: list[str], relations: Sequence[Mapping[str, float]] | None
) -> tuple[list[list[tuple[int, int]]], list[list[float]]]:
    """Cells and coefficients of the within-row identities (e.g. start + joiners - leavers - end = 0)."""
    lines: list[list[tuple[int, int]]] = []
    coefs: list[list[float]] = []
    for rel in relations or []:
        unknown = [c for c in rel if c not in cols]
        if unknown:
            raise ValueError(f"suppress_table: relation {dict(rel)} refers to {unknown}, which are not count columns")
        for i in range(n_rows):
            lines.append([(i, cols.index(c)) for c in rel])
            coefs.append([float(rel[c]) for c in rel])
    return lines, coefs


def _lp_bounds(
    v: np.ndarray, status: np.ndarray, lines: list[list[tuple[int, int]]], threshold: int, low: float,
    targets: list[tuple[int, int]], coefs: list[list[float]] | None = None,
) -> dict[tuple[int, int], tuple[float, float]]:
    """Attacker's bounds on ``targets`` by linear programming (see :func:`audit_suppression`).

    The suppressed cells are split into independent components (cells linked
    by a shared line); each target's two LPs use only its component.
    """
    from scipy.optimize import linprog

    cells = [(i, j) for i in range(status.shape[0]) for j in range(status.shape[1])
             if status[i, j] != "" and not np.isnan(v[i, j])]
    pos = {c: k for k, c in enumerate(cells)}
    parent = list(range(len(cells)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    cons: list[tuple[list[tuple[int, int]], list[float], float]] = []
    for k, line in enumerate(lines):
        weight = dict(zip(line, coefs[k], strict=True)) if coefs is not None else dict.fromkeys(line, 1.0)
        sup = [c for c in line if not np.isnan(v[c]) and c in pos]
        if not sup:
            continue
        # what the reader can compute: the published total (or 0) minus the shown cells
        cons.append((sup, [weight[c] for c in sup], float(sum(weight[c] * v[c] for c in sup))))
        for c in sup[1:]:
            ra, rb = find(pos[sup[0]]), find(pos[c])
            if ra != rb:
                parent[rb] = ra

    def own_bounds(c: tuple[int, int]) -> tuple[float, float | None]:
        if status[c] == "primary":
            return (low, threshold - 1.0)
        # a secondary cell is not small: a reader who knows the rules knows it is >= threshold (or 0)
        return (float(threshold) if v[c] >= threshold else 0.0, None)

    members: dict[int, list[tuple[int, int]]] = {}
    for c in cells:
        members.setdefault(find(pos[c]), []).append(c)
    comp_cons: dict[int, list[tuple[list[tuple[int, int]], list[float], float]]] = {}
    for con in cons:
        comp_cons.setdefault(find(pos[con[0][0]]), []).append(con)
    built: dict[int, tuple[dict[tuple[int, int], int], dict[str, Any], list[tuple[float, float | None]]]] = {}
    out: dict[tuple[int, int], tuple[float, float]] = {}
    for c in targets:
        root = find(pos[c])
        if root not in comp_cons:  # in no line with a known total: only its own range
            lo_b, hi_b = own_bounds(c)
            out[c] = (lo_b, float("inf") if hi_b is None else hi_b)
            continue
        if root not in built:
            local = {x: k for k, x in enumerate(members[root])}
            a_eq = np.zeros((len(comp_cons[root]), len(local)))
            b_eq = np.zeros(len(comp_cons[root]))
            for r, (sup, w, total) in enumerate(comp_cons[root]):
                for x, wx in zip(sup, w, strict=True):
                    a_eq[r, local[x]] = wx
                b_eq[r] = total
            built[root] = (local, {"A_eq": a_eq, "b_eq": b_eq}, [own_bounds(x) for x in members[root]])
        local, kw, bnds = built[root]
        obj = np.zeros(len(local))
        obj[local[c]] = 1.0
        lo = linprog(obj, bounds=bnds, method="highs", **kw)
        hi = linprog(-obj, bounds=bnds, method="highs", **kw)
        out[c] = (float(lo.fun) if lo.status == 0 else float("nan"), float(-hi.fun) if hi.status == 0 else float("inf"))
    return out


def _is_exact(lower: float, upper: float) -> bool:
    """Fewer than two integers in [lower, upper]: the reader knows the value."""
    return bool(np.floor(upper + 1e-7) - np.ceil(lower - 1e-7) < 1)


def suppression_mask(
    df: pd.DataFrame,
    count_cols: str | Sequence[str],
    threshold: int = DEFAULT_THRESHOLD,
    by: str | Sequence[str] | None = None,
    totals: str = "both",
    suppress_zero: bool = False,
    audit: bool = True,
    relations: Sequence[Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Decide which count cells to suppress, without changing the table.

    Parameters
    ----------
    df : DataFrame
        One row per category (or per row category of a two-way table).
    count_cols : str or list of str
        Columns holding counts of people. With several columns, the table is
        two-way: rows x ``count_cols``.
    threshold : int, default 10
        Counts ``1..threshold-1`` are suppressed (primary).
    by : str or list of str, optional
        Columns that split ``df`` into independent tables (no total is
        published across them).
    totals : {"both", "columns", "rows", "none"}, default "both"
        Which totals are published or derivable: "columns" = the sum of each
        count column over the rows of a group (one-way table with a total);
        "rows" = the sum over ``count_cols`` of each row (only meaningful with
        two or more additive count columns). "both" is the safe default.
    suppress_zero : bool, default False
        Also suppress zero counts (primary).
    audit : bool, default True
        After the two-per-line pass, check every primary cell with
        :func:`audit_suppression` and, while one can still be pinned to a
        single value, suppress more cells (see Notes).
    relations : list of mappings, optional
        Identities that hold within every row, as ``{column: coefficient}``
        summing to zero, e.g. ``{"active_start": 1, "joiners": 1,
        "leavers": -1, "active_end": -1}`` for a stock-flow table. Each is
        treated like a line with a known total. Relations across rows (the
        end stock of a quarter is the start stock of the next) are not
        modelled: publish chained stock-flow tables with
        :func:`round_stock_flow` instead.

    Returns
    -------
    DataFrame
        Same index and ``count_cols``; each cell is "primary", "secondary"
        or "".

    Notes
    -----
    Two suppressed cells per line are not always enough: a reader who knows
    that "<10" means 1..9 can sometimes pin a cell (e.g. a one-way table
    with a total where the two suppressed cells are 9 and 9 and add up to
    18). The audit solves, for each primary cell, the linear programmes of
    the smallest and largest value consistent with everything shown; if fewer
    than two integers remain, it suppresses a further set of cells through
    that cell (the cheapest rectangle of non-small cells in a two-way table,
    the smallest non-small cell of the line in a one-way table) and audits
    again. A cell that cannot be protected gives a warning.
    """
    threshold = _check_threshold(threshold)
    cols = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    if not cols:
        raise ValueError("suppression_mask: no count columns given")
    if totals not in {"both", "columns", "rows", "none"}:
        raise ValueError(f"totals must be 'both', 'columns', 'rows' or 'none', got {totals!r}")
    values = _counts_as_float(df, cols, "suppress_table")
    v = values.to_numpy(dtype=float)
    low = 0 if suppress_zero else 1
    primary = (v >= low) & (v < threshold) & ~np.isnan(v)
    status = np.where(primary, "primary", "").astype(object)
    suppressed = primary.copy()

    groups = _groups(df, by)
    group_of = np.zeros(len(df), dtype=int)
    for g, rows in enumerate(groups):
        group_of[rows] = g
    lines = _lines(groups, len(cols), totals)
    coefs = [[1.0] * len(line) for line in lines]
    rel_lines, rel_coefs = _relation_lines(len(df), cols, relations)
    lines += rel_lines
    coefs += rel_coefs
    use_cols = totals in {"both", "columns"}
    use_rows = totals in {"both", "rows"} and len(cols) >= 2

    def col_line(i: int) -> np.ndarray | None:
        rows = groups[group_of[i]]
        return rows if use_cols and len(rows) >= 2 else None

    def cross_count(i: int, j: int, along_rows: bool) -> int:
        """Suppressed cells in the other line through (i, j)."""
        if along_rows:  # the line is a column; the cross line is row i
            return int(suppressed[i, :].sum()) if use_rows else -1
        rows = col_line(i)
        return int(suppressed[rows, j].sum()) if rows is not None else -1

    round_new: set[tuple[int, int]] = set()

    def mark(i: int, j: int) -> None:
        suppressed[i, j] = True
        status[i, j] = "secondary"
        round_new.add((i, j))

    unprotectable: set[tuple[int, int]] = set()

    def two_per_line() -> None:
        changed = True
        while changed:
            changed = False
            for line in lines:
                cells = [c for c in line if not np.isnan(v[c])]
                n_sup = sum(bool(suppressed[c]) for c in cells)
                if n_sup != 1:
                    continue
                candidates = [c for c in cells if not suppressed[c]]
                if not candidates:
                    unprotectable.add(cells[0] if suppressed[cells[0]] else next(c for c in cells if suppressed[c]))
                    continue
                along_rows = len({c[1] for c in line}) == 1 and len(line) > 1
                # prefer a cell whose other line also has exactly one suppressed cell (fixes both),
                # then the smallest non-zero count (zeros last), then position
                i, j = min(candidates, key=lambda c: (cross_count(c[0], c[1], along_rows) != 1, v[c] == 0, v[c], c))
                mark(i, j)
                changed = True

    def usable(c: tuple[int, int]) -> bool:
        """A cell that can absorb a change: known, not small, not zero (or already secondary)."""
        return not np.isnan(v[c]) and status[c] != "primary" and (v[c] > 0 or suppressed[c])

    def repair(i: int, j: int) -> bool:
        """Suppress more cells through the exposed primary cell (i, j); False if impossible."""
        rows = col_line(i)
        best: tuple[float, list[tuple[int, int]]] | None = None
        if rows is not None and use_rows:
            for i2 in rows:
                for j2 in range(len(cols)):
                    if i2 == i or j2 == j:
                        continue
                    rect = [(i, j2), (int(i2), j), (int(i2), j2)]
                    if not all(usable(c) for c in rect) or all(suppressed[c] for c in rect):
                        continue
                    cost = sum(v[c] for c in rect if not suppressed[c])
                    if best is None or cost < best[0]:
                        best = (cost, rect)
        else:
            line = [(int(i2), j) for i2 in rows] if rows is not None else (
                [(i, j2) for j2 in range(len(cols))] if use_rows else [])
            for c in line:
                if c != (i, j) and usable(c) and not suppressed[c] and (best is None or v[c] < best[0]):
                    best = (v[c], [c])
        if best is None:
            # any line through (i, j), e.g. a relation: its smallest cell that can absorb a change
            for line in lines:
                if (i, j) in line:
                    for c in line:
                        if c != (i, j) and usable(c) and not suppressed[c] and (best is None or v[c] < best[0]):
                            best = (v[c], [c])
        if best is None:
            return False
        for c in best[1]:
            if not suppressed[c]:
                mark(*c)
        return True

    two_per_line()
    lines_of: dict[tuple[int, int], list[int]] = {}
    for k, line in enumerate(lines):
        for c in line:
            lines_of.setdefault(c, []).append(k)
    if audit and lines and primary.any():
        for _ in range(v.size):
            targets = [(int(i), int(j)) for i, j in zip(*np.nonzero(primary), strict=True)]
            bounds = _lp_bounds(v, status, lines, threshold, low, targets, coefs)
            exposed = [c for c in targets if _is_exact(*bounds[c]) and c not in unprotectable]
            if not exposed:
                break
            # repair exposed cells whose lines this round has not touched yet (a repair often
            # protects its neighbours too: they are audited again in the next round)
            round_new.clear()
            for c in exposed:
                if any(x in round_new for k in lines_of.get(c, ()) for x in lines[k]):
                    continue
                if not repair(*c):
                    unprotectable.add(c)
            two_per_line()
    if unprotectable:
        where = ", ".join(f"row {df.index[i]!s} column {cols[j]!r}" for i, j in sorted(unprotectable))
        warnings.warn(
            f"suppress_table: suppressed cell(s) ({where}) can still be recovered from the published totals "
            "and the other cells; do not publish those totals, or combine categories",
            UserWarning,
            stacklevel=3,
        )
    return pd.DataFrame(status, index=df.index, columns=cols)


def audit_suppression(
    df: pd.DataFrame,
    count_cols: str | Sequence[str],
    mask: pd.DataFrame | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    by: str | Sequence[str] | None = None,
    totals: str = "both",
    suppress_zero: bool = False,
    relations: Sequence[Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """What a reader can infer about each suppressed cell (the attacker's view).

    For every suppressed cell, the smallest and largest value consistent with
    everything published: the shown cells, the totals of every line (as in
    :func:`suppression_mask`), primary cells being ``1..threshold-1``
    (``0..`` with ``suppress_zero``) and secondary cells being at least
    ``threshold`` (a reader who knows the rules knows they are not small;
    0 for a suppressed zero). Bounds are found by linear programming (the
    audit of Hundepool et al. 2012, section 4.3), two small LPs per cell.

    Returns
    -------
    DataFrame
        ``row`` (index label), ``column``, ``status``, ``value``, ``lower``,
        ``upper``, ``exact`` (True when fewer than two integers are feasible:
        the reader knows the cell).
    """
    threshold = _check_threshold(threshold)
    cols = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    if mask is None:
        mask = suppression_mask(df, cols, threshold, by=by, totals=totals, suppress_zero=suppress_zero,
                                relations=relations)
    v = _counts_as_float(df, cols, "audit_suppression").to_numpy(dtype=float)
    st = mask[cols].to_numpy().astype(object)
    out_cols = ["row", "column", "status", "value", "lower", "upper", "exact"]
    targets = [(i, j) for i in range(st.shape[0]) for j in range(st.shape[1]) if st[i, j] != "" and not np.isnan(v[i, j])]
    if not targets:
        return pd.DataFrame(columns=out_cols)
    lines = _lines(_groups(df, by), len(cols), totals)
    coefs = [[1.0] * len(line) for line in lines]
    rel_lines, rel_coefs = _relation_lines(len(df), cols, relations)
    bounds = _lp_bounds(v, st, lines + rel_lines, threshold, 0 if suppress_zero else 1, targets, coefs + rel_coefs)
    rows = [{"row": df.index[c[0]], "column": cols[c[1]], "status": st[c], "value": v[c],
             "lower": bounds[c][0], "upper": bounds[c][1], "exact": _is_exact(*bounds[c])} for c in targets]
    return pd.DataFrame(rows, columns=out_cols)


def suppress_table(
    df: pd.DataFrame,
    count_cols: str | Sequence[str],
    threshold: int = DEFAULT_THRESHOLD,
    by: str | Sequence[str] | None = None,
    totals: str = "both",
    rate_cols: Mapping[str, str | Sequence[str]] | None = None,
    suppress_zero: bool = False,
    audit: bool = True,
    relations: Sequence[Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Small-cell suppression (primary and secondary) of a table of counts.

    Parameters are those of :func:`suppression_mask`, plus

    rate_cols : mapping, optional
        ``{column: count column or list of count columns}``: rates,
        percentages or confidence limits computed from those counts; blanked
        (NaN) when any of their counts is suppressed.

    Returns
    -------
    DataFrame
        A copy of ``df``: suppressed counts shown as ``"<10"`` (primary) or
        ``"c"`` (secondary), other counts as integers (count columns become
        ``object`` dtype); rates blanked; a boolean column ``suppressed``
        (True where any cell of the row was suppressed).

    Notes
    -----
    Counts that are parts of a shown total (``events`` out of ``n``) leave
    their complement derivable (``n - events``). To protect both, pass the
    parts as count columns, e.g. ``df.assign(no_event=df.n - df.events)`` with
    ``count_cols=["events", "no_event"]`` and ``totals="both"``; a small
    complement then suppresses the row's events as well.

    Examples
    --------
    One-way table with a published total of 63: ``a=3, b=12, c=48``. ``a`` is
    primary ("<10"); with only one suppressed cell, ``a`` = 63 - 12 - 48, so
    the smallest other cell ``b`` is suppressed as well ("c").
    """
    cols = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    mask = suppression_mask(df, cols, threshold, by=by, totals=totals, suppress_zero=suppress_zero, audit=audit,
                            relations=relations)
    out = df.copy()
    values = _counts_as_float(df, cols, "suppress_table")
    marker = _marker(threshold)
    for c in cols:
        shown: list[Any] = []
        for val, st in zip(values[c].to_numpy(), mask[c].to_numpy(), strict=True):
            if st == "primary":
                shown.append(marker)
            elif st == "secondary":
                shown.append(SECONDARY_MARKER)
            else:
                shown.append(_show_count(val))
        out[c] = pd.Series(shown, index=out.index, dtype=object)
    row_sup = (mask != "").any(axis=1)
    for rate_col, bases in (rate_cols or {}).items():
        if rate_col not in out.columns:
            raise ValueError(f"suppress_table: rate column {rate_col!r} not in table")
        base_list = [bases] if isinstance(bases, str) else list(bases)
        unknown = [b for b in base_list if b not in cols]
        if unknown:
            raise ValueError(f"suppress_table: rate column {rate_col!r} refers to {unknown}, which are not count columns")
        hide = (mask[base_list] != "").any(axis=1)
        out[rate_col] = pd.to_numeric(out[rate_col], errors="coerce").astype(float)
        out.loc[hide, rate_col] = np.nan
    out["suppressed"] = row_sup.to_numpy()
    return out


# ----------------------------------------------------------------------------
# Stock-flow tables: controlled rounding
# ----------------------------------------------------------------------------

STOCK_FLOW_COLUMNS: tuple[str, str, str, str] = ("active_start", "joiners", "leavers", "active_end")
"""Default columns of a stock-flow table: stock at the start, inflow, outflow, stock at the end."""


def _stock_flow_chains(
    df: pd.DataFrame, group: str, order: str, columns: Sequence[str], what: str
) -> dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per group: row positions (in ``order``), stocks ``S_0..S_T``, inflows and outflows (checked)."""
    for c in (group, order):
        if c not in df.columns:
            raise ValueError(f"{what}: column {c!r} not in table (columns: {list(df.columns)})")
    if len(columns) != 4:
        raise ValueError(f"{what}: columns must name start stock, inflow, outflow and end stock, got {list(columns)}")
    cs, cj, cl, ce = columns
    values = _counts_as_float(df, list(columns), what)
    for c in columns:
        col = values[c].to_numpy()
        bad = np.isnan(col) | (col != np.round(col))
        if bad.any():
            row = df.index[np.flatnonzero(bad)[0]]
            raise ValueError(f"{what}: column {c!r}, row {row}: {df.at[row, c]!r} is not a whole count")
    v = values.to_numpy(dtype=np.int64)
    rel = v[:, 0] + v[:, 1] - v[:, 2] - v[:, 3]
    if (rel != 0).any():
        row = df.index[np.flatnonzero(rel)[0]]
        raise ValueError(f"{what}: row {row}: {cs} + {cj} - {cl} != {ce} "
                         f"({df.at[row, cs]} + {df.at[row, cj]} - {df.at[row, cl]} != {df.at[row, ce]})")
    out: dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    keys = df[group].to_numpy()
    ords = df[order].to_numpy()
    for g in pd.unique(keys):
        pos = np.flatnonzero(keys == g)
        pos = pos[np.argsort(ords[pos], kind="stable")]
        if len(set(ords[pos].tolist())) != len(pos):
            raise ValueError(f"{what}: group {g!r} has the same {order!r} in more than one row")
        sub = v[pos]
        broken = np.flatnonzero(sub[1:, 0] != sub[:-1, 3])
        if len(broken):
            k = broken[0]
            raise ValueError(f"{what}: group {g!r}, row {df.index[pos[k + 1]]}: {cs} {sub[k + 1, 0]} differs from "
                             f"{ce} {sub[k, 3]} of the previous {order} (row {df.index[pos[k]]})")
        stocks = np.concatenate([sub[:, 0], sub[-1:, 3]])
        out[g] = (pos, stocks, sub[:, 1].copy(), sub[:, 2].copy())
    return out


def _round_chain(s: np.ndarray, j: np.ndarray, lv: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Controlled rounding of one chain by dynamic programming (exact; see :func:`round_stock_flow`)."""

    def opts(x: int) -> tuple[int, ...]:
        lo = base * (int(x) // base)
        return (lo,) if lo == x else (lo, lo + base)

    layers: list[dict[int, tuple[int, tuple[int, int, int] | None]]] = [
        {r: (abs(r - int(s[0])), None) for r in opts(s[0])}]
    for q in range(len(j)):
        nxt: dict[int, tuple[int, tuple[int, int, int] | None]] = {}
        l_opts = opts(lv[q])
        for sv, (cost, _) in layers[-1].items():
            for jv in opts(j[q]):
                for s2 in opts(s[q + 1]):
                    lq = sv + jv - s2
                    if lq not in l_opts:
                        continue
                    c = cost + abs(jv - int(j[q])) + abs(lq - int(lv[q])) + abs(s2 - int(s[q + 1]))
                    if s2 not in nxt or c < nxt[s2][0]:
                        nxt[s2] = (c, (sv, jv, lq))
        if not nxt:  # impossible for consistent counts (the constraint matrix is a network matrix)
            raise RuntimeError(f"round_stock_flow: no controlled rounding at position {q}")
        layers.append(nxt)
    rs = np.zeros(len(s), dtype=np.int64)
    rj = np.zeros(len(j), dtype=np.int64)
    rl = np.zeros(len(j), dtype=np.int64)
    last = min(layers[-1].items(), key=lambda kv: (kv[1][0], kv[0]))[0]
    rs[-1] = last
    for q in range(len(j), 0, -1):
        back = layers[q][int(rs[q])][1]
        if back is None:  # every state after layer 0 has a predecessor
            raise RuntimeError(f"round_stock_flow: broken back-pointer at position {q}")
        rs[q - 1], rj[q - 1], rl[q - 1] = back
    return rs, rj, rl


def round_stock_flow(
    df: pd.DataFrame,
    base: int = DEFAULT_THRESHOLD,
    group: str = "group",
    order: str = "quarter",
    columns: Sequence[str] = STOCK_FLOW_COLUMNS,
) -> pd.DataFrame:
    """Controlled rounding of a stock-flow table: every count to a neighbouring multiple of ``base``.

    For each group (e.g. a programme, or all programmes) the rows form a
    chain in ``order`` (quarters): ``start + inflow - outflow = end`` in
    every row, and the end stock of a row is the start stock of the next.
    Each count ``x`` is replaced by ``base * floor(x / base)`` or
    ``base * ceil(x / base)`` (a multiple of ``base``, including 0, stays as
    it is) such that both identities still hold exactly for the rounded
    counts, and the total absolute change over the chain is the smallest
    possible.

    Parameters
    ----------
    df : DataFrame
        One row per group and period, columns ``group``, ``order`` and the
        four ``columns`` (whole, non-negative counts).
    base : int, default :data:`DEFAULT_THRESHOLD`
        Rounding base. With ``base`` equal to the disclosure threshold a
        count of 1 to ``threshold - 1`` is shown as 0 or ``threshold``, and
        a reader learns no more about it than ``"<10"`` would tell (see
        :func:`audit_rounding`).
    group, order : str
        Columns naming the chain and the position in it.
    columns : four column names
        Start stock, inflow, outflow, end stock.

    Returns
    -------
    DataFrame
        A copy of ``df`` with the four columns rounded (int64);
        ``attrs["rounding_base"]`` records ``base``. Rounding a rounded table
        again returns it unchanged.

    Notes
    -----
    A chain is a network flow (nodes are periods plus "outside"; stocks are
    arcs from one period to the next, inflows arcs from outside, outflows
    arcs to outside), so its constraint matrix is totally unimodular and a
    controlled rounding always exists (Cox 1987). The chain is rounded
    exactly by dynamic programming over the two possible rounded values of
    each stock (at most eight transitions per period), in linear time.
    Groups with identical counts (all programmes and a single programme) get
    identical roundings. Groups are rounded independently, so the rounded
    "all programmes" rows need not equal the sum of the rounded programme
    rows (as in the rounded tables of ONS and CBS).

    References
    ----------
    Cox LH (1987). A constructive procedure for unbiased controlled rounding.
    *JASA* 82(398):520-524.
    Hundepool A et al. (2012). *Statistical Disclosure Control*, section
    5.4 (rounding). Wiley.
    """
    base = _check_threshold(base)
    cols = list(columns)
    chains = _stock_flow_chains(df, group, order, cols, "round_stock_flow")
    out = df.copy()
    rounded = np.zeros((len(df), 4), dtype=np.int64)
    done: dict[tuple[bytes, bytes, bytes], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for pos, s, j, lv in chains.values():
        key = (s.tobytes(), j.tobytes(), lv.tobytes())
        if key not in done:
            done[key] = _round_chain(s, j, lv, base)
        rs, rj, rl = done[key]
        rounded[pos] = np.column_stack([rs[:-1], rj, rl, rs[1:]])
    for k, c in enumerate(cols):
        out[c] = pd.Series(rounded[:, k], index=out.index, dtype="int64")
    out.attrs["rounding_base"] = base
    return out


class _BoundsLP:
    """min and max of single variables over ``{A x = b, lo <= x <= hi}``, one model solved repeatedly.

    Uses the HiGHS solver that ships with SciPy; when its Python binding
    (``scipy.optimize._highspy``, not public API) is available the model is
    built once and re-solved from the previous basis for each objective,
    otherwise every bound is a :func:`scipy.optimize.linprog` call (same
    solver, same answers, slower).
    """

    def __init__(self, a_eq: Any, b_eq: np.ndarray, lo: np.ndarray, hi: np.ndarray):
        from scipy.sparse import csc_matrix

        self.a = csc_matrix(a_eq)
        self.b = np.asarray(b_eq, dtype=float)
        self.lo = np.asarray(lo, dtype=float)
        self.hi = np.asarray(hi, dtype=float)
        self.n = self.a.shape[1]
        self.highs: Any = None
        try:
            from scipy.optimize._highspy import _core

            h = _core._Highs()
            h.setOptionValue("output_flag", False)
            # primal simplex from the previous optimal basis: only the objective changes between solves
            h.setOptionValue("presolve", "off")
            h.setOptionValue("simplex_strategy", 4)
            lp = _core.HighsLp()
            lp.num_col_, lp.num_row_ = self.n, self.a.shape[0]
            lp.col_cost_ = np.zeros(self.n)
            lp.col_lower_, lp.col_upper_ = self.lo, self.hi
            lp.row_lower_, lp.row_upper_ = self.b, self.b
            lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
            lp.a_matrix_.start_ = self.a.indptr
            lp.a_matrix_.index_ = self.a.indices
            lp.a_matrix_.value_ = self.a.data
            lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, self.a.shape[0]
            if h.passModel(lp) == _core.HighsStatus.kOk:
                self.highs, self.core = h, _core
        except (ImportError, AttributeError, TypeError):  # binding moved or changed: use linprog
            self.highs = None

    def bounds(self, k: int) -> tuple[float, float]:
        out = []
        for sense in (1.0, -1.0):
            if self.highs is not None:
                self.highs.changeColCost(k, sense)
                self.highs.run()
                ok = self.highs.getModelStatus() == self.core.HighsModelStatus.kOptimal
                val = sense * self.highs.getInfo().objective_function_value
                self.highs.changeColCost(k, 0.0)
            else:
                from scipy.optimize import linprog

                obj = np.zeros(self.n)
                obj[k] = sense
                res = linprog(obj, A_eq=self.a, b_eq=self.b, bounds=np.column_stack([self.lo, self.hi]),
                              method="highs")
                ok, val = res.status == 0, sense * float(res.fun) if res.status == 0 else float("nan")
            out.append(float(val) if ok else float("nan"))
        return out[0], out[1]


def _stock_flow_lp(
    var: Mapping[Any, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    groups: Sequence[Any],
    parts: Sequence[Any],
    total_group: Any,
    known: Mapping[Any, Sequence[bool]],
    first_known: bool,
    q0: int,
    q1: int,
) -> tuple[_BoundsLP, dict[tuple[Any, str], int]]:
    """The reader's linear programme of :func:`audit_rounding` on periods ``q0..q1`` of ``groups``.

    ``known[g]``: whether group g's total inflow and total outflow are known; ``first_known``: whether
    the first stocks are.

    Variables: per group the stocks ``S_q0..S_{q1+1}``, inflows and outflows of
    the periods. Outside the window every count is fixed at its true value
    (for a window smaller than the table this is a restriction of the
    reader's feasible set, so its bounds lie inside the reader's bounds).
    """
    from scipy.sparse import coo_matrix

    t_full = len(var[groups[0]]["J"][0])
    w = q1 - q0 + 1
    offset: dict[tuple[Any, str], int] = {}
    lo_l: list[np.ndarray] = []
    hi_l: list[np.ndarray] = []
    n = 0
    for g in groups:
        for k, m in (("S", w + 1), ("J", w), ("L", w)):
            offset[(g, k)] = n
            n += m
            _, lo, hi = var[g][k]
            lo_l.append(lo[q0:q0 + m])
            hi_l.append(hi[q0:q0 + m])
    rows: list[int] = []
    cidx: list[int] = []
    vals: list[float] = []
    rhs: list[float] = []

    def add(coef: Mapping[int, float], b: float) -> None:
        for c, wt in coef.items():
            rows.append(len(rhs))
            cidx.append(c)
            vals.append(wt)
        rhs.append(b)

    for g in groups:
        os_, oj, ol = offset[(g, "S")], offset[(g, "J")], offset[(g, "L")]
        s, j, lv = var[g]["S"][0], var[g]["J"][0], var[g]["L"][0]
        for q in range(w):
            add({os_ + q: 1.0, oj + q: 1.0, ol + q: -1.0, os_ + q + 1: -1.0}, 0.0)
        if q0 > 0 or first_known:  # the first stock: known, or fixed by the periods before the window
            add({os_: 1.0}, float(s[q0]))
        if q1 < t_full - 1 or all(known[g]):
            add({os_ + w: 1.0}, float(s[q1 + 1]))
        # totals published elsewhere (at least `known_totals` people; outside the window the counts are fixed)
        if known[g][0]:
            add({oj + q: 1.0 for q in range(w)}, float(j[q0:q1 + 1].sum()))
        if known[g][1]:
            add({ol + q: 1.0 for q in range(w)}, float(lv[q0:q1 + 1].sum()))
    for k, m in (("S", w + 1), ("J", w), ("L", w)) if parts else ():
        for q in range(m):
            coef = {offset[(total_group, k)] + q: 1.0}
            coef.update({offset[(p, k)] + q: -1.0 for p in parts})
            add(coef, 0.0)
    a_eq = coo_matrix((vals, (rows, cidx)), shape=(len(rhs), n))
    return _BoundsLP(a_eq, np.asarray(rhs), np.concatenate(lo_l), np.concatenate(hi_l)), offset


def audit_rounding(
    df: pd.DataFrame,
    published: pd.DataFrame,
    base: int = DEFAULT_THRESHOLD,
    threshold: int = DEFAULT_THRESHOLD,
    group: str = "group",
    order: str = "quarter",
    columns: Sequence[str] = STOCK_FLOW_COLUMNS,
    total_group: Any = "all",
    known_totals: bool = True,
    window: int | None = 8,
) -> pd.DataFrame:
    """What a reader can infer about each small count of a rounded stock-flow table (the attacker's view).

    The reader knows the published (rounded) counts, that each true count
    lies less than ``base`` away from its published value (and is not
    negative), and every relation between the true counts:

    * ``start + inflow - outflow - end = 0`` in every row;
    * the end stock of a period is the start stock of the next;
    * the rows of ``total_group`` are the sums of the other groups' rows
      (declared when the true counts add up, which is checked; otherwise a
      warning says the relation was left out);
    * with ``known_totals``: each group's first stock, and its total inflow
      and its total outflow when they are at least ``threshold``, as other
      published tables give them exactly (numbers of volunteers and of stops
      per programme; smaller totals are shown there as ``"<10"``); a total
      below ``threshold`` is still known when it is the total group's minus
      all the others (differencing), and the unknown ones together add up
      to a known residual. The last stock is then known when both totals
      are; stocks known that way are not audited (other tables reveal them,
      not this one).

    For every other true count from 1 to ``threshold - 1`` (each stock once),
    the smallest and largest value consistent with all of this are found by
    linear programming (the audit of Hundepool et al. 2012, sections 4.3 and
    5.4). To keep this fast, each count is first audited in a *window* of
    ``window`` periods either side, every count outside the window fixed at
    its true value: that restricts the reader's feasible set, so every value
    the window allows is also consistent with the whole publication (inner
    bounds). Only counts that the window cannot show to be protected are
    audited over the whole table (exact bounds; ``window=None`` does that
    for every count).

    Returns
    -------
    DataFrame
        ``group``, the ``order`` value, ``column`` (a stock is reported once,
        as the start stock of its period or the end stock of the last),
        ``value``, ``published``, ``lower``, ``upper`` (every value in
        between is consistent with the publication), ``n_values`` (integers in
        ``[lower, upper]``), ``required`` and ``protected`` (``n_values >=
        required``), ``method`` (``"window"`` inner bounds or ``"lp"`` exact
        bounds). ``required`` is ``threshold - 1``, the values ``"<10"``
        leaves open (1..9), or fewer when the totals known from other tables
        already bound the count (a programme with 6 volunteers in all has at
        most 6 joiners in a quarter, table or no table): the reader then
        knows no more than ``"<threshold"`` plus those totals would tell.
    """
    base = _check_threshold(base)
    threshold = _check_threshold(threshold)
    if window is not None and (isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1):
        raise ValueError(f"audit_rounding: window must be a positive integer or None, got {window!r}")
    cols = list(columns)
    chains = _stock_flow_chains(df, group, order, cols, "audit_rounding (true counts)")
    if len(published) != len(df) or not published.index.equals(df.index):
        raise ValueError("audit_rounding: the published table must have the same rows (index) as the true table")
    pub = _stock_flow_chains(published, group, order, cols, "audit_rounding (published counts)")
    # per group and kind (S stocks S_0..S_T, J inflows, L outflows): true values, reader's lower and upper bounds
    var: dict[Any, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    shown: dict[tuple[Any, str], np.ndarray] = {}
    for g, (pos, s, j, lv) in chains.items():
        if g not in pub or not np.array_equal(pub[g][0], pos):
            raise ValueError(f"audit_rounding: group {g!r} has other rows in the published table")
        var[g] = {}
        for k, x, r in (("S", s, pub[g][1]), ("J", j, pub[g][2]), ("L", lv, pub[g][3])):
            far = np.flatnonzero(np.abs(r - x) >= base)
            if len(far):
                raise ValueError(f"audit_rounding: group {g!r}: published count {r[far[0]]} is {base} or more "
                                 f"away from the true count {x[far[0]]}")
            var[g][k] = (x.astype(float), np.maximum(0.0, r - (base - 1.0)), r + (base - 1.0))
            shown[(g, k)] = r
    labels = {g: df[order].to_numpy()[chains[g][0]] for g in chains}
    parts: list[Any] = []
    if total_group is not None and total_group in chains and len(chains) > 1:
        parts = [g for g in chains if g != total_group]
        for g in parts:
            if not np.array_equal(labels[g], labels[total_group]):
                raise ValueError(f"audit_rounding: group {g!r} does not have the periods of {total_group!r}")
        if not all(np.array_equal(sum(var[g][k][0] for g in parts), var[total_group][k][0]) for k in "SJL"):
            warnings.warn(f"audit_rounding: the groups do not add up to {total_group!r}; that relation is not "
                          "declared", UserWarning, stacklevel=2)
            parts = []
    # totals the reader knows from other tables: at least `threshold`, or derived from the total group
    # minus the other groups; a count can never be shown to be better protected than those totals allow
    known = {g: [bool(known_totals and var[g][k][0].sum() >= threshold) for k in "JL"] for g in chains}
    cap = {g: [np.inf, np.inf] for g in chains}
    for i, k in enumerate("JL"):
        if parts:
            unknown = [p for p in parts if not known[p][i]]
            if known[total_group][i]:
                residual = float(sum(var[p][k][0].sum() for p in unknown))
                for p in unknown:
                    cap[p][i] = residual
                if len(unknown) == 1:
                    known[unknown[0]][i] = True
            elif known_totals and not unknown:
                known[total_group][i] = True
        for g in chains:
            if known[g][i]:
                cap[g][i] = float(var[g][k][0].sum())

    def required(g: Any, k: str) -> float:
        s0 = var[g]["S"][0][0] if known_totals else np.inf
        c = {"J": cap[g][0], "L": min(cap[g][1], s0 + cap[g][0]), "S": s0 + cap[g][0]}[k]
        return float(min(threshold - 1, c))

    components = [list(chains)] if parts else [[g] for g in chains]
    out = []
    for comp in components:
        t = len(var[comp[0]]["J"][0])
        full: tuple[_BoundsLP, dict[tuple[Any, str], int]] | None = None
        for q in range(t + 1):
            targets = []
            for g in comp:
                lab = labels[g]
                if (0 < q or not known_totals) and (q < t or not all(known[g])) and 0 < var[g]["S"][0][q] < threshold:
                    targets.append((g, "S", q, lab[q] if q < t else lab[t - 1], cols[0] if q < t else cols[3]))
                for k, col in (("J", cols[1]), ("L", cols[2])):
                    if q < t and 0 < var[g][k][0][q] < threshold:
                        targets.append((g, k, q, lab[q], col))
            if not targets:
                continue
            local = None
            if window is not None and t > 1:
                q0, q1 = max(0, q - window), min(t - 1, q + window - (1 if q == t else 0))
                local = (_stock_flow_lp(var, comp, parts, total_group, known, known_totals, q0, q1), q0)
            for g, k, qq, label, col in targets:
                lower = upper = float("nan")
                method = "lp"
                if local is not None:
                    (lp, off), q0 = local
                    lower, upper = lp.bounds(off[(g, k)] + qq - q0)
                    method = "window"
                need = required(g, k)
                if not np.isfinite(lower + upper) or _n_values(lower, upper) < need:
                    if full is None:
                        full = _stock_flow_lp(var, comp, parts, total_group, known, known_totals, 0, t - 1)
                    lower, upper = full[0].bounds(full[1][(g, k)] + qq)
                    method = "lp"
                nv = _n_values(lower, upper)
                out.append({"group": g, order: label, "column": col, "value": int(var[g][k][0][qq]),
                            "published": int(shown[(g, k)][qq]),
                            "lower": lower, "upper": upper, "n_values": nv, "required": int(need),
                            "protected": nv >= need, "method": method})
    return pd.DataFrame(out, columns=["group", order, "column", "value", "published", "lower", "upper", "n_values",
                                      "required", "protected", "method"])


def _n_values(lower: float, upper: float) -> int:
    """Number of integers in ``[lower, upper]`` (0 when a bound is missing)."""
    if not np.isfinite(lower + upper):
        return 0
    return int(max(0.0, np.floor(upper + 1e-7) - np.ceil(lower - 1e-7) + 1))


#: Columns that identify one published measure (a "line"): the rows of the programmes and the row of
#: all programmes together (``programme_id == "all"``) with the same values describe the same measure.
LINE_KEYS: tuple[str, ...] = ("analysis", "estimand", "endpoint", "group")
#: Optional results column naming the count columns (comma-separated) of a row of all programmes that
#: must be withheld (set by :func:`withhold_pooled`, honoured by :func:`protect_results`).
WITHHOLD_COLUMN = "withhold"
#: Start of the note of a results row withheld by secondary suppression of a total.
WITHHELD_NOTE = "suppressed: withheld so that"


def _narrowed_range(k: int, rest: float, threshold: int) -> tuple[float, float] | None:
    """Range each of ``k`` hidden counts (each 1..threshold-1) keeps when together they are ``rest``;
    None when the line cannot add up (``rest`` outside ``k..k*(threshold-1)``) or nothing is learnt."""
    if not k <= rest <= k * (threshold - 1):
        return None
    lower = max(1.0, rest - (k - 1) * (threshold - 1))
    upper = min(threshold - 1.0, rest - (k - 1))
    return (lower, upper) if upper - lower + 1 < threshold - 1 else None


def _key_text(col: pd.Series) -> pd.Series:
    """Key values as text: numbers written alike (90, 90.0 and "90.0" are one value), missing as ""."""
    num = pd.to_numeric(col, errors="coerce") if not pd.api.types.is_bool_dtype(col) else col.astype(float) * np.nan
    text = col.astype(object).where(col.notna(), "").astype(str)
    return text.where(num.isna(), num.map(lambda x: f"{x:.12g}"))


def _line_labels(df: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """One string per row naming its line (missing key values as empty text)."""
    if not keys:
        return np.full(len(df), "", dtype=object)
    parts = [_key_text(df[k]) for k in keys]
    return parts[0].str.cat(parts[1:], sep="\x1f").to_numpy(dtype=object) if len(parts) > 1 else \
        parts[0].to_numpy(dtype=object)


def _published_parts(df: pd.DataFrame, keys: Sequence[str], count_cols: Sequence[str],
                     part: str = "programme_id") -> pd.DataFrame:
    """Rows of a *published* table of parts: line, part, each count as shown (NaN when hidden)
    and whether it is hidden (a marker such as "<10" or "c")."""
    out = pd.DataFrame({"line": _line_labels(df, keys), "pid": df[part].astype(str).to_numpy()})
    for c in count_cols:
        col = df[c] if c in df.columns else pd.Series(np.nan, index=df.index)
        hidden = _already_protected(col)
        out[c] = pd.to_numeric(col.where(~hidden, np.nan), errors="coerce").to_numpy(dtype=float)
        out[f"{c}_hidden"] = hidden
    return out


def _withheld_totals(
    lines: np.ndarray,
    counts: Mapping[str, np.ndarray],
    hidden: Mapping[str, np.ndarray],
    parts: pd.DataFrame,
    threshold: int,
) -> dict[str, np.ndarray]:
    """Total cells (``lines``, true ``counts``, ``hidden`` on publication) that would give a hidden
    part back: their line has a hidden part, every other part of the line is shown, and the total
    minus the shown parts narrows a hidden count below 1..threshold-1. ``parts``: as
    :func:`_published_parts` (one row per line and part)."""
    out = {c: np.zeros(len(lines), dtype=bool) for c in counts}
    if parts.empty or not len(lines):
        return out
    for c in counts:
        h = parts[f"{c}_hidden"].to_numpy(dtype=bool)
        if not h.any():
            continue
        v = parts[c].to_numpy(dtype=float)
        agg = pd.DataFrame({"line": parts["line"].to_numpy(), "k": h.astype(int),
                            "shown": np.where(h, 0.0, np.nan_to_num(v)),
                            "unknown": (~h & np.isnan(v)).astype(int)}).groupby("line").sum()
        tot = np.asarray(counts[c], dtype=float)
        for i in np.flatnonzero(~hidden[c] & np.isfinite(tot)):
            if lines[i] not in agg.index:
                continue
            k, shown, unknown = agg.loc[lines[i], ["k", "shown", "unknown"]]
            if k and not unknown and _narrowed_range(int(k), float(tot[i] - shown), threshold) is not None:
                out[c][i] = True
    return out


def _pooled_withheld(
    results: pd.DataFrame,
    counts: Mapping[str, pd.Series],
    hidden: Mapping[str, np.ndarray],
    others: pd.DataFrame | None,
    threshold: int,
    total: str = "all",
    keys: Sequence[str] = LINE_KEYS,
) -> dict[str, np.ndarray]:
    """Count cells of the rows of all programmes that would give a programme's hidden count back.

    ``counts``/``hidden``: per count column, the true counts of ``results`` and which of its cells
    will be hidden when published; ``others``: published programme rows from other tables (their
    markers say what is hidden). Programme rows of ``results`` come first where both hold the same
    programme and line (see :func:`_withheld_totals` and :func:`differencing_audit`).
    """
    out = {c: np.zeros(len(results), dtype=bool) for c in counts}
    if "programme_id" not in results.columns or results.empty:
        return out
    pid = results["programme_id"].astype(str).to_numpy()
    pooled = pid == total
    if not pooled.any():
        return out
    present = [k for k in keys if k in results.columns]
    lines = _line_labels(results, present)
    own = pd.DataFrame({"line": lines[~pooled], "pid": pid[~pooled]})
    for c in counts:
        own[c] = np.where(hidden[c][~pooled], np.nan, counts[c].to_numpy(dtype=float)[~pooled])
        own[f"{c}_hidden"] = hidden[c][~pooled]
    frames = [own]
    if others is not None and len(others):
        lacking = [k for k in present + ["programme_id"] if k not in others.columns]
        if lacking:
            raise ValueError(f"programme results for the disclosure check lack column(s) {lacking}")
        others = others[others["programme_id"].astype(str) != total]
        frames.append(_published_parts(others, present, list(counts)))
    progs = pd.concat(frames, ignore_index=True).drop_duplicates(["line", "pid"], keep="first")
    found = _withheld_totals(lines[pooled], {c: counts[c].to_numpy(dtype=float)[pooled] for c in counts},
                             {c: hidden[c][pooled] for c in counts}, progs, threshold)
    for c in counts:
        out[c][pooled] = found[c]
    return out


def _read_published(source: Any, what: str, name: str = "results.csv") -> pd.DataFrame | None:
    """A published table given as a DataFrame, a CSV file, or a folder holding ``name`` (None when
    the folder has no such file or the file is empty)."""
    if source is None or isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / name
        if not path.is_file():
            return None
    elif not path.is_file():
        raise FileNotFoundError(f"{what}: programme results {path} not found")
    try:
        return pd.read_csv(path, dtype=object)
    except pd.errors.EmptyDataError:
        return None


def _withhold_requested(results: pd.DataFrame, col: str) -> np.ndarray:
    """Cells named in the :data:`WITHHOLD_COLUMN` of ``results`` (all False without it)."""
    if WITHHOLD_COLUMN not in results.columns:
        return np.zeros(len(results), dtype=bool)
    named = results[WITHHOLD_COLUMN].fillna("").astype(str).str.split(",")
    return named.map(lambda parts: col in {p.strip() for p in parts}).to_numpy(dtype=bool)


def _hidden_counts(results: pd.DataFrame, threshold: int, what: str):
    """True ``n`` and ``events`` (markers as NaN) and which cells publication hides:
    ``n`` below the threshold; ``events`` of 1..threshold-1, or any events of a hidden ``n``."""
    n = _counts_as_float(results, ["n"], what, allow_markers=True)["n"]
    ev = _counts_as_float(results, ["events"], what, allow_markers=True)["events"]
    small_n = (n < threshold).fillna(False).to_numpy(dtype=bool) | _already_protected(results["n"])
    few_ev = ((ev > 0) & (ev < threshold)).fillna(False).to_numpy(dtype=bool) | _already_protected(results["events"])
    ev_hidden = few_ev | (small_n & (ev > 0).fillna(False).to_numpy(dtype=bool))
    return n, ev, small_n, few_ev, ev_hidden


def withhold_pooled(
    results: pd.DataFrame,
    programme_results: pd.DataFrame | str | os.PathLike | None,
    threshold: int = DEFAULT_THRESHOLD,
    total: str = "all",
) -> pd.DataFrame:
    """Mark the counts of all programmes together that would give a programme's small count back.

    A report of all programmes publishes, per measure, a total whose programme rows are published
    in the programmes' own reports. Where a programme count is shown as ``"<10"`` there, the total
    minus the programmes shown gives it back (exactly, or narrowed). This marks such cells of the
    rows with ``programme_id == total`` in :data:`WITHHOLD_COLUMN`; :func:`protect_results` then
    shows them as ``"c"`` (secondary suppression) and blanks the row's estimate. Programme rows of
    ``results`` itself are used as well (protected as :func:`protect_results` would).

    Parameters
    ----------
    results : DataFrame
        Results (:data:`evaluation.contract.results.RESULT_COLUMNS`) of one analysis, unprotected.
    programme_results : DataFrame, path of a CSV file or of a folder with ``results.csv``, or None
        The programmes' published rows of the same analysis (e.g. their ``results.csv`` files
        together). None: only the programme rows of ``results`` are used.

    Returns
    -------
    DataFrame
        Copy of ``results`` with :data:`WITHHOLD_COLUMN` ("" or e.g. ``"events"``); the numbers
        themselves are unchanged (the analysis keeps using them).
    """
    threshold = _check_threshold(threshold)
    for col in ("programme_id", "n", "events"):
        if col not in results.columns:
            raise ValueError(f"withhold_pooled: results table has no column {col!r}")
    others = _read_published(programme_results, "withhold_pooled")
    n, ev, small_n, _, ev_hidden = _hidden_counts(results, threshold, "withhold_pooled")
    found = _pooled_withheld(results, {"n": n, "events": ev}, {"n": small_n, "events": ev_hidden}, others,
                             threshold, total)
    out = results.copy()
    previous = [_withhold_requested(results, c) for c in ("n", "events")]
    out[WITHHOLD_COLUMN] = [
        ",".join(c for c, m, p in zip(("n", "events"), (found["n"][i], found["events"][i]),
                                       (previous[0][i], previous[1][i]), strict=True) if m or p)
        for i in range(len(out))
    ]
    return out


def protect_results(
    results_df: pd.DataFrame,
    threshold: int = DEFAULT_THRESHOLD,
    blank_few_events: bool = True,
) -> pd.DataFrame:
    """Protect a results table (:data:`evaluation.contract.results.RESULT_COLUMNS`).

    Rows whose ``n`` is below ``threshold`` have ``estimate``, ``ci_lower``,
    ``ci_upper`` and ``p_value`` blanked (NaN), ``n`` and ``events`` shown as
    ``"<10"``, a note appended and ``suppressed`` = True. ``events`` with
    ``0 < events < threshold`` are shown as ``"<10"`` and, by default, their
    estimates are blanked too: a proportion with its ``n`` gives the number
    of events back (0.096 of 83 is 8 people), as CBS output rules for
    microdata recognise by applying the minimum of 10 to the numerator as
    well. ``blank_few_events=False`` keeps such estimates (only for tables
    that are not published). A ``difference`` row (``group`` starting with
    ``difference``) is blanked when any row of its family (same
    ``programme_id``, ``analysis``, ``estimand``, ``endpoint``) is blanked:
    the difference and the other group's level would give the blanked level
    back. Rows with a missing ``n`` (e.g. meta-analytic summaries of published
    studies) are left as they are.

    Rows of all programmes together (``programme_id == "all"``) get secondary
    suppression: a count of theirs is shown as ``"c"``, and the row blanked,
    when subtracting the programme rows of the same measure (same
    :data:`LINE_KEYS`) in this table would give a hidden programme count back
    (exactly or narrowed; see :func:`differencing_audit`), or when the
    :data:`WITHHOLD_COLUMN` names it (:func:`withhold_pooled`, for programme
    rows published in other reports). That column is not in the output.

    Returns
    -------
    DataFrame
        Copy with ``n`` and ``events`` as ``object`` (int or ``"<10"``) and a
        boolean column ``suppressed``.
    """
    threshold = _check_threshold(threshold)
    for col in ("n", "events", "estimate", "ci_lower", "ci_upper", "p_value", "note"):
        if col not in results_df.columns:
            raise ValueError(f"protect_results: results table has no column {col!r} (use evaluation.contract.results.make_results)")
    out = results_df.drop(columns=[WITHHOLD_COLUMN], errors="ignore")
    marker = _marker(threshold)
    # cells already shown as "<10" or "c" (a second pass over protected results) stay protected
    n, ev, small_n, few_ev, ev_hidden = _hidden_counts(results_df, threshold, "protect_results")
    # secondary suppression of the rows of all programmes (programme rows in this table, and cells
    # marked by withhold_pooled from the programmes' own reports)
    withheld = _pooled_withheld(results_df, {"n": n, "events": ev}, {"n": small_n, "events": ev_hidden}, None,
                                threshold)
    withheld = {c: (m | _withhold_requested(results_df, c)) & ~(small_n if c == "n" else ev_hidden)
                for c, m in withheld.items()}
    by_total = withheld["n"] | withheld["events"]
    blank = small_n | (few_ev if blank_few_events else np.zeros(len(out), dtype=bool)) | by_total
    by_family = np.zeros(len(out), dtype=bool)
    family_cols = [c for c in ("programme_id", "analysis", "estimand", "endpoint") if c in results_df.columns]
    if "group" in results_df.columns and blank.any():
        fam = results_df[family_cols].astype(str).agg("\x1f".join, axis=1) if family_cols else pd.Series(
            "", index=results_df.index)
        blanked_families = set(fam[blank])
        is_difference = results_df["group"].astype(str).str.startswith("difference").to_numpy()
        by_family = is_difference & fam.isin(blanked_families).to_numpy() & ~blank
        blank = blank | by_family
    for col in ("estimate", "ci_lower", "ci_upper", "p_value"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        out.loc[blank, col] = np.nan

    def show(col: str, values: pd.Series, small: np.ndarray) -> pd.Series:
        res = []
        given = results_df[col].to_numpy(dtype=object)
        done = _already_protected(results_df[col])
        for val, s, w, g, d in zip(values.to_numpy(), small, withheld[col], given, done, strict=True):
            if d:
                res.append(g.strip())  # the marker of an earlier pass ("<10" or "c")
            elif s:
                res.append(marker)
            elif w:
                res.append(SECONDARY_MARKER)
            elif np.isnan(val):
                res.append(np.nan)
            else:
                res.append(_show_count(val))
        return pd.Series(res, index=out.index, dtype=object)

    out["n"] = show("n", n, small_n)
    out["events"] = show("events", ev, ev_hidden)
    notes = out["note"].fillna("").astype(str).to_numpy().copy()
    for i in np.flatnonzero(blank):
        if by_family[i]:
            text = f"suppressed: a group it compares is based on fewer than {threshold} people or events"
        elif by_total[i] and not (small_n[i] or few_ev[i]):
            text = f"{WITHHELD_NOTE} a programme's count below {threshold} cannot be derived from this total"
        else:
            reason = f"n < {threshold}" if small_n[i] else f"events < {threshold}"
            text = f"suppressed: based on fewer than {threshold} people ({reason})"
        if "suppressed: " not in notes[i]:
            notes[i] = f"{notes[i]}; {text}" if notes[i] else text
    out["note"] = notes
    out["suppressed"] = blank
    return out


def differencing_audit(
    results: pd.DataFrame,
    total: str = "all",
    threshold: int = DEFAULT_THRESHOLD,
    count_cols: Sequence[str] = ("n", "events"),
    keys: Sequence[str] = ("notebook", "analysis", "estimand", "endpoint", "group"),
) -> pd.DataFrame:
    """Small counts of programmes that the "all programmes" row would give back by subtraction.

    A published results table of a quarter holds, for the same measure (the
    ``keys``), one row per programme and one for all programmes together
    (``programme_id == total``). Where the programmes add up to the total, a
    programme count shown as ``"<10"`` is the total minus the programmes
    shown: exact when it is the only one hidden in its line, narrowed when
    few are. Whether a line adds up cannot be seen from the published table
    (designs differ: a matched analysis counts matched participants), so a
    line is flagged when its hidden counts are *consistent* with adding up
    (each 1..threshold-1, summing to total minus the shown ones): a flag is
    a possible disclosure, to be judged, not a proven one. A programme row
    published twice (in its own report and in the report of all programmes)
    counts once. :func:`protect_results` and :func:`withhold_pooled` withhold
    the total in such lines, so a quarter's results should give no flags.

    Returns
    -------
    DataFrame
        One row per flagged (line, count column): the ``keys``, ``column``,
        ``hidden`` (number of hidden programme counts in the line),
        ``lower``, ``upper`` (the range each hidden count keeps if the line
        adds up) and ``exact`` (lower == upper). Holds no programme ids or
        values beyond what the table itself shows.
    """
    threshold = _check_threshold(threshold)
    cols = ["column", "hidden", "lower", "upper", "exact"]
    present = [k for k in keys if k in results.columns]
    if results.empty or "programme_id" not in results.columns:
        return pd.DataFrame(columns=present + cols)
    rows = []
    for key, line in results.groupby(present, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        tot = line[line["programme_id"].astype(str) == total]
        # a programme's row can be published twice (its own report and the report of all programmes)
        progs = line[line["programme_id"].astype(str) != total].drop_duplicates("programme_id")
        if len(tot) != 1 or progs.empty:
            continue
        for c in count_cols:
            if c not in line.columns:
                continue
            hidden = _already_protected(progs[c])
            total_value = pd.to_numeric(tot[c], errors="coerce").iloc[0]
            if not hidden.any() or not np.isfinite(total_value):
                continue
            shown = pd.to_numeric(progs.loc[~hidden, c], errors="coerce")
            if shown.isna().any():
                continue
            k = int(hidden.sum())
            # None: the line does not add up (nothing follows from the total) or nothing is learnt
            narrowed = _narrowed_range(k, float(total_value - shown.sum()), threshold)
            if narrowed is not None:
                lower, upper = narrowed
                rows.append(dict(zip(present, key, strict=True)) | {
                    "column": c, "hidden": k, "lower": lower, "upper": upper, "exact": lower == upper})
    return pd.DataFrame(rows, columns=present + cols)


def withhold_pooled_table(
    table: pd.DataFrame,
    programme_tables: pd.DataFrame | str | os.PathLike | None,
    keys: Sequence[str],
    count_cols: Sequence[str],
    threshold: int = DEFAULT_THRESHOLD,
    name: str | None = None,
) -> pd.DataFrame:
    """:func:`withhold_pooled` for a count table of all programmes other than a results table.

    ``table`` holds true counts of all programmes together, one row per ``keys``;
    ``programme_tables`` the programmes' published versions of it, with a
    ``programme_id`` column (a DataFrame, a CSV file, or a folder holding the
    CSV file ``name``). A count of ``table`` is marked in
    :data:`WITHHOLD_COLUMN` where, minus the programmes shown, it would give a
    hidden (``"<10"``) programme count back; :func:`protect_numbers_at_risk`
    then shows it as ``"c"``. Without programme tables nothing is marked.
    """
    threshold = _check_threshold(threshold)
    missing = [c for c in list(keys) + list(count_cols) if c not in table.columns]
    if missing:
        raise ValueError(f"withhold_pooled_table: table has no column(s) {missing}")
    parts = _read_published(programme_tables, "withhold_pooled_table", name or "")
    out = table.copy()
    marks = [[] for _ in range(len(out))]
    if parts is not None and len(parts):
        lacking = [c for c in list(keys) + ["programme_id"] if c not in parts.columns]
        if lacking:
            raise ValueError(f"withhold_pooled_table: programme tables lack column(s) {lacking}")
        counts = _counts_as_float(table, list(count_cols), "withhold_pooled_table", allow_markers=True)
        hidden = {c: (((counts[c] > 0) & (counts[c] < threshold)).fillna(False).to_numpy(dtype=bool)
                      | _already_protected(table[c])) for c in count_cols}
        found = _withheld_totals(_line_labels(table, keys), {c: counts[c].to_numpy() for c in count_cols}, hidden,
                                 _published_parts(parts, keys, count_cols).drop_duplicates(["line", "pid"]),
                                 threshold)
        for c in count_cols:
            for i in np.flatnonzero(found[c]):
                marks[i].append(c)
    out[WITHHOLD_COLUMN] = [",".join(m) for m in marks]
    return out


def protect_numbers_at_risk(
    table: pd.DataFrame,
    threshold: int = DEFAULT_THRESHOLD,
    count_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Protect a Kaplan-Meier numbers-at-risk table.

    Counts ``1..threshold-1`` become ``"<10"``; zero stays 0 (see module
    docstring). Numbers at risk are not additive cells of one table, but the
    table of all programmes is the sum of the programmes' tables: counts
    named in a :data:`WITHHOLD_COLUMN` (:func:`withhold_pooled_table`) are
    shown as ``"c"``. Markers of an earlier pass are kept.

    Parameters
    ----------
    table : DataFrame
        Long (a column ``n_risk``) or wide (groups x times) table.
    count_cols : list of str, optional
        Columns to protect; default ``["n_risk"]`` if present, else every
        numeric column except ``time``.
    """
    threshold = _check_threshold(threshold)
    if count_cols is None:
        if "n_risk" in table.columns:
            count_cols = ["n_risk"]
        else:
            count_cols = [c for c in table.columns if c != "time" and pd.api.types.is_numeric_dtype(table[c])]
    count_cols = [c for c in count_cols if c != WITHHOLD_COLUMN]
    values = _counts_as_float(table, list(count_cols), "protect_numbers_at_risk", allow_markers=True)
    out = table.drop(columns=[WITHHOLD_COLUMN], errors="ignore")
    marker = _marker(threshold)
    for c in count_cols:
        done = _already_protected(table[c])
        given = table[c].to_numpy(dtype=object)
        withheld = _withhold_requested(table, c)
        out[c] = pd.Series(
            [given[i].strip() if d else (marker if 0 < x < threshold else (SECONDARY_MARKER if w else _show_count(x)))
             for i, (x, d, w) in enumerate(zip(values[c].to_numpy(), done, withheld, strict=True))],
            index=out.index,
            dtype=object,
        )
    return out


def last_time_with_min_at_risk(times: Sequence[float], n_risk: Sequence[float], threshold: int = DEFAULT_THRESHOLD) -> float:
    """Last time at which at least ``threshold`` people are at risk (curves stop there).

    Returns NaN when fewer than ``threshold`` people are at risk from the start.
    """
    threshold = _check_threshold(threshold)
    t = np.asarray(times, dtype=float)
    r = np.asarray(n_risk, dtype=float)
    ok = r >= threshold
    return float(t[ok].max()) if ok.any() else float("nan")


# ----------------------------------------------------------------------------
# Sentences
# ----------------------------------------------------------------------------

_FEWER = {"en": "fewer than {t}", "nl": "minder dan {t}"}

_PEOPLE_WORDS = (
    r"people|persons?|participants?|volunteers?|mentors?|clients?|offenders?|men|women|individuals?|matches|"
    r"deelnemers?|vrijwilligers?|personen|mensen|cliënten|clienten|mannen|vrouwen|koppels?|daders?"
)
_SMALL_COUNT_RE = re.compile(
    # "1 in 5 participants" / "1 op de 5 deelnemers" are ratios, not counts
    r"(?<![\d.,])(?<!\bin )(?<!\bop de )(?<!\bout of )(\d+)\s+(?:(?:[^\W\d]+\s+){0,2})(" + _PEOPLE_WORDS + r")\b",
    re.IGNORECASE,
)


def protect_count(value: Any, threshold: int = DEFAULT_THRESHOLD, language: str = "en") -> str:
    """Format a count of people for a sentence: "12", or "fewer than 10" / "minder dan 10".

    Zero is shown as "0"; ``"<10"`` (already protected) becomes the words.
    """
    threshold = _check_threshold(threshold)
    if language not in _FEWER:
        raise ValueError(f"language must be 'en' or 'nl', got {language!r}")
    if isinstance(value, str) and value.strip() in {_marker(threshold), SECONDARY_MARKER}:
        return _FEWER[language].format(t=threshold)
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"protect_count: {value!r} is not a count") from exc
    if np.isnan(x) or x < 0:
        raise ValueError(f"protect_count: {value!r} is not a count")
    if 0 < x < threshold:
        return _FEWER[language].format(t=threshold)
    return str(int(round(x)))


def protect_sentence(
    template: str,
    counts: Mapping[str, Any],
    threshold: int = DEFAULT_THRESHOLD,
    language: str = "en",
    **values: Any,
) -> str:
    """Fill a sentence template, protecting every count of people.

    ``template.format(**counts_protected, **values)`` where each entry of
    ``counts`` passes through :func:`protect_count`; ``values`` (estimates,
    percentages, dates) are inserted as given and must themselves come from a
    protected table (:func:`protect_results`).

    Examples
    --------
    >>> protect_sentence("{n} participants, of whom {k} reoffended.", {"n": 40, "k": 4})
    '40 participants, of whom fewer than 10 reoffended.'
    """
    shown = {k: protect_count(v, threshold, language) for k, v in counts.items()}
    overlap = set(shown) & set(values)
    if overlap:
        raise ValueError(f"protect_sentence: {sorted(overlap)} given both as counts and as values")
    return template.format(**shown, **values)


def check_sentences(sentences: str | Iterable[str], threshold: int = DEFAULT_THRESHOLD) -> None:
    """Refuse sentences that state a small number of people ("3 participants", "4 deelnemers").

    A heuristic last line of defence for headline text: a number ``1..threshold-1``
    followed (within two words) by a word for people. Raises
    :class:`DisclosureError` listing the offending sentences.
    """
    threshold = _check_threshold(threshold)
    items = [sentences] if isinstance(sentences, str) else list(sentences)
    rows = []
    for i, s in enumerate(items):
        for m in _SMALL_COUNT_RE.finditer(str(s)):
            k = int(m.group(1))
            if 0 < k < threshold:
                rows.append({"sentence": i, "text": m.group(0), "count": k})
    if rows:
        findings = pd.DataFrame(rows)
        raise DisclosureError(
            f"{len(rows)} statement(s) give a count of fewer than {threshold} people: "
            + "; ".join(f"sentence {r['sentence'] + 1}: {r['text']!r}" for r in rows)
            + " (use protect_sentence)",
            findings,
        )


# ----------------------------------------------------------------------------
# Scanning report folders for row-level data
# ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
_SEP_RE = re.compile(r"[_.:\-]")
_ROW_LEVEL_SUFFIXES = {".parquet", ".feather", ".arrow", ".pkl", ".pickle", ".sav", ".dta", ".rds", ".rdata", ".sqlite", ".db"}
_ZIP_SUFFIXES = {".xlsx", ".docx", ".pptx", ".odt", ".ods"}
_MIN_NUMERIC_LEN = 6


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s._\-]", "", str(name)).lower()


def _id_column_names() -> set[str]:
    names = {_normalise_name(k) for k in ID_KINDS}
    try:
        from evaluation.contract.schema import load_contract

        names |= {_normalise_name(n) for n in load_contract().identifier_column_names}
    except (FileNotFoundError, KeyError):  # pragma: no cover - contract always present in the repo
        pass
    return names


def collect_identifiers(validation_result_or_intake_dir: Any) -> dict[str, set[str]]:
    """Collect the identifier values of an intake, by kind.

    Parameters
    ----------
    validation_result_or_intake_dir : ValidationResult, mapping or path
        An object with ``tables`` (and optionally ``quarantine``) mappings of
        table name -> DataFrame, such a mapping itself, or an intake folder
        (its ``*.csv`` / ``*.parquet`` / ``*.xlsx`` tables are read as text).

    Returns
    -------
    dict
        kind (one of :data:`ID_KINDS`) -> set of values (stripped strings).
        Quarantined rows are included: their identifiers must not leak either.
    """
    frames: list[pd.DataFrame] = []
    obj = validation_result_or_intake_dir
    if isinstance(obj, (str, os.PathLike)):
        from evaluation.intake.pseudonymise import read_tables

        frames = list(read_tables(Path(obj)).values())
    elif isinstance(obj, Mapping):
        frames = [t for t in obj.values() if isinstance(t, pd.DataFrame)]
    elif hasattr(obj, "tables"):
        for attr in ("tables", "quarantine"):
            tabs = getattr(obj, attr, None) or {}
            frames += [t for t in tabs.values() if isinstance(t, pd.DataFrame)]
    else:
        raise TypeError(f"collect_identifiers: expected a ValidationResult, a mapping of tables or a folder, got {type(obj).__name__}")
    found: dict[str, set[str]] = {k: set() for k in ID_KINDS}
    for df in frames:
        for col in df.columns:
            if col in found:
                vals = df[col].dropna().astype(str).str.strip()
                found[col].update(vals[vals != ""].tolist())
    return found


_BSN_PIECE_RE = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def _is_bsn(s: str) -> bool:
    """Nine digits passing the BSN 11-check (not all zero), as the validator's ``bsn_like``."""
    if len(s) != 9 or not s.isdigit() or s == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(s, _BSN_WEIGHTS, strict=True)) % 11 == 0


def _match_token(token: str, lookup: Mapping[str, str], prefixes: set[str]) -> str | None:
    """The identifier in ``token``: the token itself or a run of its separator-delimited pieces.

    ``prefixes`` holds every piece-prefix of every identifier (``"P"``,
    ``"P-3f9a"`` for ``"P-3f9a"``), so runs are only extended while they can
    still become an identifier (a trie walk over pieces).
    """
    if token in lookup:
        return token
    pieces = _SEP_RE.split(token)
    if len(pieces) == 1:
        return None
    seps = _SEP_RE.findall(token)
    for a in range(len(pieces)):
        run = pieces[a]
        if run not in prefixes:
            continue
        if run in lookup:
            return run
        for b in range(a + 1, len(pieces)):
            run = run + seps[b - 1] + pieces[b]
            if run not in prefixes:
                break
            if run in lookup:
                return run
    return None


def _piece_prefixes(values: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for v in values:
        pieces = _SEP_RE.split(v)
        seps = _SEP_RE.findall(v)
        run = pieces[0]
        out.add(run)
        for i in range(1, len(pieces)):
            run = run + seps[i - 1] + pieces[i]
            out.add(run)
    return out


def _mask(value: str) -> str:
    keep = 2 if len(value) > 4 else 1
    return value[:keep] + "*" * (len(value) - keep)


def _png_text(data: bytes) -> list[tuple[str, str]]:
    """Text chunks (tEXt, zTXt, iTXt) of a PNG file as (keyword, text)."""
    out: list[tuple[str, str]] = []
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return [("(not a PNG)", data.decode("latin-1"))]
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        try:
            if ctype == b"tEXt":
                key, _, text = body.partition(b"\x00")
                out.append((key.decode("latin-1"), text.decode("latin-1")))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                out.append((key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                comp_flag = rest[0]
                rest = rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _tkey, _, text = rest.partition(b"\x00")
                if comp_flag:
                    text = zlib.decompress(text)
                out.append((key.decode("latin-1"), text.decode("utf-8", errors="replace")))
        except (zlib.error, IndexError):
            out.append((ctype.decode("latin-1"), body.decode("latin-1")))
        if ctype == b"IEND":
            break
    return out


_TH_RE = re.compile(r"<th[^>]*>\s*([^<]{1,80}?)\s*</th>", re.IGNORECASE)


def scan_outputs(
    folder: str | os.PathLike,
    identifiers: Mapping[str, Iterable[str]] | Iterable[str],
    extensions: Iterable[str] | None = None,
    bsn_check: bool = True,
) -> pd.DataFrame:
    """Search every file of an output folder for identifiers and per-person tables.

    Text is split into tokens (``[A-Za-z0-9][A-Za-z0-9_.:-]*``); each token
    and each run of its separator-delimited pieces is looked up in one set of
    all identifiers, so the cost is linear in the size of the files and does
    not grow with the number of identifiers.

    Scanned: text files (.ipynb, .html, .csv, .json, .svg, .txt, .md and any
    other file decodable as text), the text chunks of PNG files (also PNGs
    embedded as ``data:`` URIs or as notebook image outputs), the members of
    zip-based office files (.xlsx, .docx). Files in row-level formats
    (.parquet, .feather, .pkl, ...) are findings by themselves. Column headers
    of CSV files and HTML ``<th>`` cells named like identifiers
    (``participant_id``, ``bsn``, ...) are findings of kind ``id_column``:
    a per-person table.

    Parameters
    ----------
    folder : path
        Report folder (searched recursively).
    identifiers : mapping kind -> values, or iterable of values
        From :func:`collect_identifiers`. Purely numeric identifiers shorter
        than 6 digits cannot be told apart from counts and years; they are
        skipped with a warning.
    extensions : iterable of str, optional
        Limit the scan to these suffixes (e.g. ``{".csv", ".html"}``).
    bsn_check : bool, default True
        Also report any 9-digit number passing the BSN 11-check (kind
        ``bsn_like``), whether or not it is in ``identifiers``: a citizen
        service number must never reach a report. About 1 in 11 random
        9-digit numbers passes the check; aggregate reports rarely contain
        9-digit numbers, so a finding deserves a look.

    Returns
    -------
    DataFrame
        Columns ``file`` (relative to ``folder``), ``identifier_kind``,
        ``value`` (masked: first characters and asterisks), ``location``
        (``line N`` or ``PNG chunk KEY`` or ``member NAME``).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"scan_outputs: folder {root} does not exist")
    if isinstance(identifiers, Mapping):
        pairs = [(str(v).strip(), str(kind)) for kind, vals in identifiers.items() for v in vals]
    else:
        pairs = [(str(v).strip(), "identifier") for v in identifiers]
    lookup: dict[str, str] = {}
    skipped = 0
    for v, kind in pairs:
        if not v:
            continue
        if v.isdigit() and len(v) < _MIN_NUMERIC_LEN:
            skipped += 1
            continue
        lookup.setdefault(v, kind)
    if skipped:
        warnings.warn(
            f"scan_outputs: {skipped} purely numeric identifier(s) shorter than {_MIN_NUMERIC_LEN} digits "
            "cannot be told apart from counts and were not searched for; pseudonymise the intake "
            "(evaluation pseudonymise) so that identifiers are distinctive",
            UserWarning,
            stacklevel=2,
        )
    id_cols = _id_column_names()
    exts = None if extensions is None else {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    rows: list[dict[str, str]] = []

    prefixes = _piece_prefixes(lookup)

    def scan_text(text: str, rel: str, where: str, check_headers: bool) -> None:
        newlines: list[int] | None = None

        def line_of(pos: int) -> int:
            nonlocal newlines
            if newlines is None:
                newlines = [m.start() for m in re.finditer("\n", text)]
            return bisect.bisect_right(newlines, pos) + 1

        # look up the distinct tokens once; then locate only the tokens that hold an identifier
        hits: dict[str, tuple[str, str]] = {}
        if lookup or bsn_check:
            for t in set(_TOKEN_RE.findall(text)):
                hit = _match_token(t, lookup, prefixes) if lookup else None
                if hit is not None:
                    hits[t] = (hit, lookup[hit])
                elif bsn_check and _BSN_PIECE_RE.search(t):
                    bsn = next((x for x in _SEP_RE.split(t) if _is_bsn(x)), None)
                    if bsn is not None:
                        hits[t] = (bsn, "bsn_like")
        located: set[tuple[int, str, str]] = set()
        for t, (hit, kind) in hits.items():
            # a token never starts right after a letter or digit, and it ends at the first non-token character
            pattern = re.compile(r"(?<![A-Za-z0-9])" + re.escape(t) + r"(?![A-Za-z0-9_.:\-])")
            located |= {(line_of(m.start()), kind, hit) for m in pattern.finditer(text)}
        for line, kind, hit in sorted(located):
            rows.append({"file": rel, "identifier_kind": kind, "value": _mask(hit), "location": f"{where}line {line}"})
        for m in _TH_RE.finditer(text):
            if _normalise_name(m.group(1)) in id_cols:
                rows.append({"file": rel, "identifier_kind": "id_column", "value": m.group(1),
                             "location": f"{where}line {line_of(m.start())}"})
        if check_headers:
            first = text.lstrip("\ufeff").splitlines()[:1]
            if first:
                for cell in re.split(r"[,;\t|]", first[0]):
                    name = cell.strip().strip('"').strip("'")
                    if _normalise_name(name) in id_cols:
                        rows.append({"file": rel, "identifier_kind": "id_column", "value": name, "location": f"{where}header"})

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if exts is not None and suffix not in exts:
            continue
        rel = str(path.relative_to(root))
        if suffix in _ROW_LEVEL_SUFFIXES:
            rows.append({"file": rel, "identifier_kind": "row_level_file", "value": suffix, "location": "file"})
            continue
        data = path.read_bytes()
        if suffix == ".png":
            for key, text in _png_text(data):
                scan_text(text, rel, f"PNG chunk {key}, ", False)
        elif suffix in _ZIP_SUFFIXES and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    scan_text(zf.read(name).decode("utf-8", errors="replace"), rel, f"member {name}, ", False)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            scan_text(text, rel, "", suffix in {".csv", ".tsv", ".txt"})
            # embedded images: data URIs (HTML, SVG, Markdown) and notebook image outputs
            for k, b64 in enumerate(_embedded_pngs(text, suffix == ".ipynb"), start=1):
                try:
                    png = base64.b64decode(b64)
                except (ValueError, binascii.Error):
                    continue
                for key, chunk in _png_text(png):
                    scan_text(chunk, rel, f"embedded image {k}, PNG chunk {key}, ", False)
    return pd.DataFrame(rows, columns=["file", "identifier_kind", "value", "location"])


_DATA_URI_PNG_RE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\s]+)")


def _embedded_pngs(text: str, notebook: bool) -> list[str]:
    """Base64 PNGs inside a text file: ``data:image/png;base64,...`` and notebook ``image/png`` outputs."""
    found = [m.group(1) for m in _DATA_URI_PNG_RE.finditer(text)]
    if notebook:
        try:
            nb = json.loads(text)
        except ValueError:
            return found
        for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
            for out in cell.get("outputs", []) or []:
                png = (out.get("data") or {}).get("image/png")
                if png:
                    found.append("".join(png) if isinstance(png, list) else str(png))
    return found


def assert_no_identifiers(
    folder: str | os.PathLike,
    identifiers: Mapping[str, Iterable[str]] | Iterable[str],
    extensions: Iterable[str] | None = None,
    bsn_check: bool = True,
) -> None:
    """Scan ``folder`` with :func:`scan_outputs`; raise :class:`DisclosureError` on any finding.

    The run calls this before a report folder may be shared. The message
    names the files and kinds (values masked, never in full).
    """
    findings = scan_outputs(folder, identifiers, extensions, bsn_check=bsn_check)
    if len(findings):
        summary = findings.groupby(["file", "identifier_kind"]).size().reset_index(name="count")
        listing = "; ".join(f"{r.file}: {r.count} x {r.identifier_kind}" for r in summary.itertuples())
        raise DisclosureError(
            f"{folder} contains row-level data or identifiers and must not be shared ({len(findings)} finding(s)): {listing}",
            findings,
        )


# ----------------------------------------------------------------------------
# Files at rest
# ----------------------------------------------------------------------------


def _make_missing_dirs(p: Path) -> None:
    """Create ``p`` and its missing parents with mode 0700 (set at creation, not afterwards)."""
    missing = []
    q = p
    while not q.exists():
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # created meanwhile by another process
            pass


def private_dir(path: str | os.PathLike) -> Path:
    """Create a folder readable by its owner only (mode 0700), parents included.

    Folders are created with ``os.mkdir(path, 0o700)`` (the mode is applied at
    creation; a umask can only narrow it). An existing folder that is
    accessible to group or others is tightened to 0700 with a warning.
    """
    p = Path(path)
    _make_missing_dirs(p)
    if not p.is_dir():
        raise NotADirectoryError(f"private_dir: {p} exists and is not a folder")
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        warnings.warn(f"private_dir: {p} was accessible to group/others (mode {mode:o}); set to 0700", UserWarning, stacklevel=2)
        os.chmod(p, 0o700)
    return p


def write_private(path: str | os.PathLike, data: Any, index: bool = False) -> Path:
    """Write a row-level file readable by its owner only (mode 0600), atomically.

    The file is created by :func:`tempfile.mkstemp` (``os.open`` with mode
    0600) in the target folder and renamed over ``path``, so the data never
    exist with wider permissions, even if ``path`` existed with a wider mode.
    Missing parent folders are created with mode 0700; an existing parent is
    left as it is (make it private with :func:`private_dir` if it is yours).

    Parameters
    ----------
    path : path
        Target file. A DataFrame is written as Parquet for ``.parquet`` and as
        UTF-8 CSV otherwise.
    data : DataFrame, str, bytes, dict or list
        dict/list are written as JSON.
    index : bool, default False
        Write the DataFrame index (CSV/Parquet).
    """
    p = Path(path)
    _make_missing_dirs(p.parent)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        if isinstance(data, pd.DataFrame):
            if p.suffix.lower() == ".parquet":
                with os.fdopen(fd, "wb") as fh:
                    data.to_parquet(fh, index=index)
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    data.to_csv(fh, index=index)
        elif isinstance(data, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        elif isinstance(data, str):
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
        elif isinstance(data, (dict, list)):
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, indent=2, default=str)
        else:
            os.close(fd)
            raise TypeError(f"write_private: cannot write {type(data).__name__} to {p}")
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
