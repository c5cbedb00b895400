"""Totals of all programmes that would give a programme's hidden count back by subtraction.

A programme's ``"<10"`` is recovered from the row of all programmes minus the other
programmes' published rows. :func:`withhold_pooled` marks such pooled counts (column
:data:`WITHHOLD_COLUMN`); :func:`evaluation.publish.suppression.protect_results` withholds them
on publication. :func:`differencing_audit` checks a whole report folder
(docs/methods.md, section 'Disclosure control').
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.cells import _already_protected, _check_threshold, _counts_as_float

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
    threshold: int = SUPPRESSION_THRESHOLD,
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


def differencing_audit(
    results: pd.DataFrame,
    total: str = "all",
    threshold: int = SUPPRESSION_THRESHOLD,
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
    threshold: int = SUPPRESSION_THRESHOLD,
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
