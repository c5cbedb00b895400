"""Primary suppression of results tables and of numbers at risk.

An estimate whose ``n`` is below the threshold is blanked (estimate, CI, p-value) and flagged in
``note`` and in a ``suppressed`` column; ``events`` with ``0 < events < threshold`` are shown as
``"<10"`` and the estimate is blanked too (a proportion with its ``n`` would give the small
number of events back), and so is a difference whose group levels include a blanked one. Under
Kaplan-Meier plots, numbers at risk ``1..threshold-1`` become ``"<10"`` (docs/methods.md,
section 'Disclosure control').
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.cells import (
    SECONDARY_MARKER,
    _already_protected,
    _check_threshold,
    _counts_as_float,
    _marker,
    _show_count,
)
from evaluation.publish.pooled import (
    WITHHELD_NOTE,
    WITHHOLD_COLUMN,
    _hidden_counts,
    _pooled_withheld,
    _withhold_requested,
)

#: Estimands computed from another estimand of the same programme, analysis, endpoint and group:
#: published only when their source is (an E-value inverts exactly to its hazard ratio, the E-value of
#: the interval limit to that limit).
#: Columns that carry a statistic of the row's estimate; blanked whenever the estimate is withheld.
STATISTIC_COLUMNS: tuple[str, ...] = ("se", "robust_se", "coef", "statistic", "z", "variance", "yi", "sei")

DERIVED_ESTIMANDS: dict[str, str] = {"e_value": "hazard_ratio", "e_value_ci": "hazard_ratio"}


def _subgroup_of(group: str) -> str:
    """The subgroup a row belongs to: '' for the main comparison (programme, comparison, difference,
    all), else the label itself ("subgroup risk=high", "by risk")."""
    return group if group.startswith(("subgroup ", "by ")) else ""


def _key(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    cols = [c for c in cols if c in df.columns]
    if not cols:
        return pd.Series("", index=df.index)
    return df[cols].astype(str).agg("\x1f".join, axis=1)


def _differences_of_blanked_levels(results_df: pd.DataFrame, blank: np.ndarray) -> np.ndarray:
    """Difference rows whose compared levels include a blanked row: same programme, analysis,
    estimand, endpoint and subgroup. A subgroup's blanked row never blanks the main comparison
    (its own rule decides that)."""
    if "group" not in results_df.columns:
        return np.zeros(len(results_df), dtype=bool)
    group = results_df["group"].fillna("").astype(str)
    fam = _key(results_df, ("programme_id", "analysis", "estimand", "endpoint")) + "\x1f" + group.map(_subgroup_of)
    is_difference = group.str.startswith("difference").to_numpy()
    # only a blanked level counts: another blanked difference of the family (e.g. a not-estimable
    # variant of the same comparison) compares nothing this difference would give back
    return is_difference & fam.isin(set(fam[blank & ~is_difference])).to_numpy() & ~blank


def _derived_from_blanked(results_df: pd.DataFrame, blank: np.ndarray) -> np.ndarray:
    """Rows of a :data:`DERIVED_ESTIMANDS` estimand whose source row (same programme, analysis,
    endpoint and group) is blanked."""
    if "estimand" not in results_df.columns:
        return np.zeros(len(results_df), dtype=bool)
    estimand = results_df["estimand"].fillna("").astype(str)
    where = _key(results_df, ("programme_id", "analysis", "endpoint", "group"))
    blanked = set((where + "\x1f" + estimand)[blank])
    source = estimand.map(DERIVED_ESTIMANDS)
    derived = source.notna().to_numpy()
    return derived & (where + "\x1f" + source.fillna("")).isin(blanked).to_numpy() & ~blank


def protect_results(
    results_df: pd.DataFrame,
    threshold: int = SUPPRESSION_THRESHOLD,
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
    ``difference``) is blanked when a level it compares (same
    ``programme_id``, ``analysis``, ``estimand``, ``endpoint`` and subgroup)
    is blanked: the difference and the other group's level would give the
    blanked level back; a blanked subgroup row never blanks the main
    comparison. A derived row (:data:`DERIVED_ESTIMANDS`, e.g. the E-value of
    a hazard ratio) is blanked with its source. Rows with a missing ``n`` (e.g. meta-analytic summaries of published
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
    by_source = np.zeros(len(out), dtype=bool)
    if blank.any():
        by_family = _differences_of_blanked_levels(results_df, blank)
        blank = blank | by_family
        by_source = _derived_from_blanked(results_df, blank)
        blank = blank | by_source
    for col in ("estimate", "ci_lower", "ci_upper", "p_value"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        out.loc[blank, col] = np.nan
    # the statistics behind a withheld estimate would give it back (a proportion's SE with its n
    # solves for the proportion; a Cox coefficient is the log HR): blanked with it
    for col in STATISTIC_COLUMNS:
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
            out.loc[blank, col] = np.nan

    def show(col: str, values: pd.Series, small: np.ndarray) -> pd.Series:
        res = []
        given = results_df[col].to_numpy(dtype=object)
        done = _already_protected(results_df[col])
        for val, s, w, g, d in zip(values.to_numpy(), small, withheld[col], given, done, strict=True):
            if d:
                res.append(g.strip())  # the marker of an earlier pass ("<10" or "c")
            elif s and val == 0:
                res.append(0)  # nobody: zero is no small number (the estimate is blanked all the same)
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
        if by_source[i]:
            text = "suppressed: derived from an estimate that is suppressed (it would give that estimate back)"
        elif by_family[i]:
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


def protect_numbers_at_risk(
    table: pd.DataFrame,
    threshold: int = SUPPRESSION_THRESHOLD,
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


def last_time_with_min_at_risk(times: Sequence[float], n_risk: Sequence[float], threshold: int = SUPPRESSION_THRESHOLD) -> float:
    """Last time at which at least ``threshold`` people are at risk (curves stop there).

    Returns NaN when fewer than ``threshold`` people are at risk from the start.
    """
    threshold = _check_threshold(threshold)
    t = np.asarray(times, dtype=float)
    r = np.asarray(n_risk, dtype=float)
    ok = r >= threshold
    return float(t[ok].max()) if ok.any() else float("nan")
