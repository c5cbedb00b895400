"""Disclosure control of the volunteer workforce flow: controlled rounding and its warnings.

The quarterly stock-flow table of :func:`evaluation.datasets.retention.workforce_flow`
is published only through :func:`protect_workforce` (docs/methods.md, section
'Disclosure control'); its figure and warning sentences use the published
(rounded) counts only.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language
from evaluation.publish.rounding import audit_rounding, round_stock_flow

_WF_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "all": "all",
        "consecutive": "active volunteers fell in {k} consecutive quarters",
        "year": "active volunteers fell by {share} over four quarters",
    },
    "nl": {
        "all": "alle programma's",
        "consecutive": "het aantal actieve vrijwilligers daalde {k} kwartalen achter elkaar",
        "year": "het aantal actieve vrijwilligers daalde in vier kwartalen met {share}",
    },
}


def _wf_text(language: str) -> dict[str, str]:
    return _WF_TEXT[check_language(language)]


def _published_warnings(f: pd.DataFrame, base: int, language: str, fall_quarters: int,
                        fall_share_year: float) -> list[str]:
    """Warnings of one group's rounded rows, from the published counts only.

    A published count ``r`` stands for a true count in ``r - base + 1 ..
    r + base - 1``. A quarter counts as a fall only when the stock certainly
    fell (``end + base - 1 < start - base + 1``); the four-quarter decline is
    reported only when it certainly exceeds ``fall_share_year``, as the range
    of declines consistent with the rounded stocks.
    """
    tx = _wf_text(language)
    start = f["active_start"].to_numpy(dtype=float)
    end = f["active_end"].to_numpy(dtype=float)
    slack = base - 1.0
    fell = (end + slack < start - slack).astype(int)
    run = pd.Series(fell).groupby((pd.Series(fell) == 0).cumsum()).cumsum().to_numpy()
    out = []
    for i in range(len(f)):
        w = []
        if np.isfinite(start[i]) and run[i] >= fall_quarters:
            w.append(tx["consecutive"].format(k=int(run[i])))
        if i >= 4 and np.isfinite(end[i]) and np.isfinite(end[i - 4]):
            ago_lo, ago_hi = max(end[i - 4] - slack, 0.0), end[i - 4] + slack
            now_lo, now_hi = max(end[i] - slack, 0.0), end[i] + slack
            if ago_lo > 0 and now_hi < (1 - fall_share_year) * ago_lo:
                lo = math.floor(100 * (1 - now_hi / ago_lo))
                hi = math.ceil(100 * (1 - now_lo / ago_hi))
                share = f"{lo}%" if lo == hi else (f"{lo} tot {hi}%" if language == "nl" else f"{lo} to {hi}%")
                w.append(tx["year"].format(share=share))
        out.append("; ".join(w))
    return out


def protect_workforce(
    flow: pd.DataFrame,
    threshold: int = SUPPRESSION_THRESHOLD,
    base: int | None = None,
    language: str = DEFAULT_LANGUAGE,
    audit: bool = True,
    min_turnover_stock: float | None = None,
    fall_quarters: int = 2,
    fall_share_year: float = 0.10,
) -> pd.DataFrame:
    """The publishable workforce-flow table: stocks and flows after controlled rounding.

    Every count (``active_start``, ``joiners``, ``leavers``, ``active_end``)
    of every group (all programmes and each programme) is moved to one of
    its two neighbouring multiples of ``base`` (default: the disclosure
    ``threshold``, 10) by :func:`evaluation.publish.rounding.round_stock_flow`, so
    that ``active_end = active_start + joiners - leavers`` still holds
    exactly in every published row and the end stock of a quarter is the
    start stock of the next. Nothing is suppressed. A reader who knows the
    rule learns of a count of 1 to 9 only that it lies in 0..9 (shown 0) or
    1..19 (shown 10): no more than ``"<10"`` tells. Zeros stay 0, but a 0
    no longer says that nobody joined.

    Parameters
    ----------
    flow : DataFrame
        From :func:`evaluation.datasets.retention.workforce_flow` (or an earlier result of this function:
        rounding is idempotent, and a table of multiples of ``base`` has no
        small counts left to audit).
    threshold : int, default 10
        Disclosure threshold (:data:`evaluation.contract.results.SUPPRESSION_THRESHOLD`).
    base : int, optional
        Rounding base; defaults to ``threshold``.
    language : {"nl", "en"}, default "nl"
        Language of the ``warning`` column.
    audit : bool, default True
        Check the rounded table with :func:`evaluation.publish.audit_rounding`
        and blank (NaN, with a warning) the counts of any group in which a
        small count could be narrowed down (see Notes).
    min_turnover_stock : float, optional
        Smallest published four-quarter mean stock for which the turnover is
        shown; default ``5 * base``.
    fall_quarters, fall_share_year
        Warning rules, as in :func:`evaluation.datasets.retention.workforce_flow`, applied to the published
        counts.

    Returns
    -------
    DataFrame
        ``group``, ``quarter``, ``partial``, the four counts (rounded, nullable integers),
        ``annual_turnover``, ``warning``, ``rounded_to`` (the base); ``attrs["rounding_base"]``.

    Notes
    -----
    *Why not cell suppression.* In a stock-flow table every flow is the
    difference of two stocks, the stocks of a quarter are chained to the
    next, and the programme rows add up to the "all programmes" rows. A
    suppressed joiners cell of 3 is then recovered as ``active_end -
    active_start + leavers``, with a suppressed stock read off the
    neighbouring quarter; protecting it means suppressing stocks, which
    chain into the neighbouring quarters and, through the totals, into other
    programmes. At demo scale about half of all counts are 1..9 (programmes
    of 5 to 30 volunteers with 0-4 joiners a quarter), so most cells of most
    programmes would be hidden. Rounding keeps every cell, keeps the
    relations, and treats large and small groups alike (as ONS and CBS round
    small counts). Coarsening does not help: summed to years, 82% of the
    programmes' joiners and leavers counts at demo scale are still 1..9.

    *Audit.* Linear programmes with every relation declared (stock-flow
    identity, chaining, programmes adding up to all programmes, and each
    programme's total joiners and leavers as published elsewhere) must leave
    every true count of 1..``threshold - 1`` at least ``threshold - 1``
    possible values, or as many as those totals allow by themselves.
    Blanking a failing group only removes information. On synthetic data no
    group has failed (``tests/test_workforce_disclosure.py``,
    ``benchmarks/bench_disclosure.py``).

    *Derived columns.* ``annual_turnover`` is recomputed from the published
    counts (leavers over four quarters divided by the mean published stock)
    and blanked where that mean stock is below ``min_turnover_stock``: below
    ``5 * base`` rounding alone can move the turnover by more than about 20
    percentage points. ``warning`` is recomputed from the published stocks
    (:func:`_published_warnings`): a fall is reported only when it is
    certain given the rounding, and the four-quarter decline as the range
    the rounded stocks allow, so no sentence reveals more than the table.

    References
    ----------
    Hundepool A et al. (2012). *Statistical Disclosure Control*, sections 4.3 and 5.4. Wiley.
    Cox LH (1987). A constructive procedure for unbiased controlled rounding. *JASA* 82:520-524.
    """
    _wf_text(language)
    b = threshold if base is None else base
    cols = ["active_start", "joiners", "leavers", "active_end"]
    missing = [c for c in ["group", "quarter", *cols] if c not in flow.columns]
    if missing:
        raise ValueError(f"workforce flow lacks required column(s) {missing}")
    min_stock = 5.0 * b if min_turnover_stock is None else float(min_turnover_stock)
    keep = ["group", "quarter"] + (["partial"] if "partial" in flow.columns else []) + cols
    src = flow[keep].reset_index(drop=True)
    if src.empty:
        out = src.assign(annual_turnover=pd.Series(dtype=float), warning=pd.Series(dtype=object),
                         rounded_to=pd.Series(dtype="int64"))
        out.attrs["rounding_base"] = b
        return out
    counts = src[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    # a group already blanked by an earlier call stays blank
    blank = counts.isna().any(axis=1).groupby(src["group"]).transform("any").to_numpy()
    pub = src.copy()
    pub[cols] = counts
    if (~blank).any():
        rounded = round_stock_flow(src.loc[~blank].astype({c: "int64" for c in cols}), base=b)
        bad: list[str] = []
        if audit and bool((counts.loc[~blank] % b != 0).any().any()):  # a table of multiples of b has no small counts
            a = audit_rounding(src.loc[~blank], rounded, base=b, threshold=threshold)
            bad = sorted(set(a.loc[~a["protected"], "group"].astype(str)))
        pub.loc[~blank, cols] = rounded[cols].astype(float).to_numpy()
        if bad:
            warnings.warn(f"workforce flow: after rounding, small counts of group(s) {', '.join(bad)} could still be "
                          "narrowed down from the published table; their counts are not published", UserWarning,
                          stacklevel=2)
            pub.loc[pub["group"].astype(str).isin(bad), cols] = np.nan
    turnover = []
    warn = []
    for _, f in pub.groupby("group", sort=False):
        mean_stock = (f["active_start"] + f["active_end"]) / 2
        lv4 = f["leavers"].rolling(4).sum()
        st4 = mean_stock.rolling(4).mean()
        turnover.append((lv4 / st4).where(st4 >= max(min_stock, 1e-9)))
        warn.append(pd.Series(_published_warnings(f, b, language, fall_quarters, fall_share_year), index=f.index))
    pub["annual_turnover"] = pd.concat(turnover).reindex(pub.index)
    pub["warning"] = pd.concat(warn).reindex(pub.index)
    for c in cols:
        pub[c] = pub[c].astype("Int64")
    pub["rounded_to"] = b
    pub.attrs["rounding_base"] = b
    return pub


def _warning_rows(flow: pd.DataFrame, language: str, threshold: int) -> list[tuple[str, str, str]]:
    """(group, quarter, text) of the latest quarter of each group with a published warning."""
    pub = protect_workforce(flow, threshold=threshold, language=language)
    out = []
    for g, sub in pub.groupby("group", sort=False):
        last = sub.iloc[-1]
        if last["warning"]:
            out.append((str(g), str(last["quarter"]), str(last["warning"])))
    return out


def workforce_warnings(flow: pd.DataFrame, language: str = DEFAULT_LANGUAGE, threshold: int = SUPPRESSION_THRESHOLD) -> list[str]:
    """Warnings of the latest quarter per group, from the published (rounded) workforce table.

    ``flow`` is the table of :func:`evaluation.datasets.retention.workforce_flow` or of
    :func:`protect_workforce`; the warnings are computed from the counts as
    published by :func:`protect_workforce` (controlled rounding), so no
    sentence reveals more than the table (e.g. a percentage decline of a
    programme of three volunteers). Returns an empty list if there are none, also when
    ``flow`` has no rows (an intake without volunteers: nothing to warn about).

    Parameters
    ----------
    flow : DataFrame
    language : {"nl", "en"}, default "nl"
    threshold : int, default 10
    """
    tx = _wf_text(language)
    if not len(flow):
        return []
    return [f"{tx['all'] if g == 'all' else g} ({q}): {w}" for g, q, w in _warning_rows(flow, language, threshold)]
