"""Costs datasets: recorded costs per quarter, volunteer hours, active participants.

Aggregations of the validated ``costs``, ``contacts``, ``matches``,
``volunteers``, ``volunteer_support`` and ``participants`` tables that the
costs analysis (:mod:`evaluation.analyses.costs`) turns into estimates. The
definitions (quarter, volunteer hours, active participant, completed
trajectory) are stated in that module's docstring and in docs/methods.md,
section 'Costs'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _need(df: pd.DataFrame | None, table: str, cols: Sequence[str]) -> pd.DataFrame:
    if df is None:
        raise ValueError(f"table {table!r} is needed but was not given")
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise ValueError(f"table {table!r} lacks column(s) {miss}")
    return df


def _rows(df: pd.DataFrame, mask: np.ndarray | pd.Series) -> list:
    mask = np.asarray(mask, dtype=bool)
    if "_row" in df.columns:
        return df.loc[mask, "_row"].tolist()[:10]
    return (np.flatnonzero(mask) + 2).tolist()[:10]  # header = row 1


def _check_missing(df: pd.DataFrame, table: str, cols: Sequence[str]) -> None:
    for c in cols:
        bad = df[c].isna().to_numpy()
        if bad.any():
            raise ValueError(
                f"table {table!r}, field {c!r}: missing value in row(s) {_rows(df, bad)}"
            )


def quarter_label(dates: pd.Series) -> pd.Series:
    """``YYYYQn`` labels of dates."""
    d = pd.to_datetime(dates)
    return d.dt.year.astype("Int64").astype(str) + "Q" + d.dt.quarter.astype("Int64").astype(str)


def quarter_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of quarter ``YYYYQn``."""
    try:
        year, q = int(label[:4]), int(label[-1])
        if label[4] != "Q" or not 1 <= q <= 4:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"quarter label {label!r} is not of the form YYYYQn") from None
    start = pd.Timestamp(year=year, month=3 * (q - 1) + 1, day=1)
    return start, start + pd.offsets.QuarterEnd(0)


# ---------------------------------------------------------------------------
# costs per quarter
# ---------------------------------------------------------------------------


def quarterly_costs(costs: pd.DataFrame, cutoff_date: Any = None) -> pd.DataFrame:
    """Allocate recorded costs to calendar quarters, per programme and category.

    A cost row's ``amount_eur`` is spread over its period
    ``[period_start, period_end]`` (both inclusive) in proportion to calendar
    days; the part falling after ``cutoff_date`` is labelled
    ``"after_cutoff"``.

    Returns
    -------
    DataFrame
        ``programme_id, quarter, category, amount_eur`` (one row per
        combination with a non-zero share), sorted.
    """
    cols = ["programme_id", "period_start", "period_end", "category", "amount_eur"]
    _need(costs, "costs", cols)
    _check_missing(costs, "costs", cols)
    c = costs.copy()
    c["period_start"] = pd.to_datetime(c["period_start"])
    c["period_end"] = pd.to_datetime(c["period_end"])
    bad = (c["period_end"] < c["period_start"]).to_numpy()
    if bad.any():
        raise ValueError(f"table 'costs': period_end before period_start in row(s) {_rows(c, bad)}")
    amt = pd.to_numeric(c["amount_eur"], errors="coerce")
    if amt.isna().any() or not np.isfinite(amt).all():
        raise ValueError(f"table 'costs', field 'amount_eur': not a number in row(s) {_rows(c, amt.isna() | ~np.isfinite(amt))}")
    cutoff = pd.Timestamp(cutoff_date) if cutoff_date is not None else None
    c["amount_eur"] = amt.astype(float)
    qs = c["period_start"].dt.to_period("Q")
    single = (qs == c["period_end"].dt.to_period("Q")).to_numpy()
    if cutoff is not None:
        single &= (c["period_end"] <= cutoff).to_numpy()
    # fast path: periods inside one quarter and before the cutoff
    fast = c.loc[single, ["programme_id", "category", "amount_eur"]].copy()
    fast["quarter"] = qs[single].astype(str).to_numpy()
    pieces = []
    for r in c.loc[~single].itertuples(index=False):
        days = (r.period_end - r.period_start).days + 1
        q_start = r.period_start.to_period("Q").start_time
        while q_start <= r.period_end:
            q_end = q_start + pd.offsets.QuarterEnd(0)
            lo, hi = max(q_start, r.period_start), min(q_end, r.period_end)
            label = f"{q_start.year}Q{q_start.quarter}"
            if cutoff is not None and hi > cutoff:
                if lo <= cutoff:
                    d_in = (cutoff - lo).days + 1
                    pieces.append((r.programme_id, label, r.category, r.amount_eur * d_in / days))
                    lo = cutoff + pd.Timedelta(days=1)
                pieces.append((r.programme_id, "after_cutoff", r.category, r.amount_eur * ((hi - lo).days + 1) / days))
            else:
                pieces.append((r.programme_id, label, r.category, r.amount_eur * ((hi - lo).days + 1) / days))
            q_start = q_end + pd.Timedelta(days=1)
    cols4 = ["programme_id", "quarter", "category", "amount_eur"]
    parts = [x for x in (fast[cols4], pd.DataFrame(pieces, columns=cols4)) if len(x)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols4)
    return (
        out.groupby(["programme_id", "quarter", "category"], as_index=False)["amount_eur"]
        .sum()
        .sort_values(["programme_id", "quarter", "category"], ignore_index=True)
    )


# ---------------------------------------------------------------------------
# volunteer hours
# ---------------------------------------------------------------------------


def volunteer_hours(
    contacts: pd.DataFrame,
    matches: pd.DataFrame,
    volunteers: pd.DataFrame,
    volunteer_support: pd.DataFrame | None = None,
    cutoff_date: Any = None,
) -> pd.DataFrame:
    """Volunteer hours per programme and quarter.

    Returns
    -------
    DataFrame
        ``programme_id, quarter, contact_hours, contacts, contacts_missing_minutes,
        support_hours, volunteers_active`` where ``contact_hours`` is the sum of
        contact minutes / 60 (volunteer-hours with participants),
        ``support_hours`` the sum of ``volunteer_support.hours`` (training,
        supervision; 0 when the table is absent) and ``volunteers_active``
        the number of distinct volunteers with a contact in the quarter.
        Records dated after ``cutoff_date`` are not counted.
    """
    _need(contacts, "contacts", ["contact_id", "match_id", "contact_date", "minutes"])
    _need(matches, "matches", ["match_id", "volunteer_id"])
    _need(volunteers, "volunteers", ["volunteer_id", "programme_id"])
    _check_missing(contacts, "contacts", ["match_id", "contact_date"])
    cutoff = pd.Timestamp(cutoff_date) if cutoff_date is not None else None
    m2v = matches.set_index("match_id")["volunteer_id"]
    v2p = volunteers.set_index("volunteer_id")["programme_id"]
    c = contacts.copy()
    if cutoff is not None:
        c = c[pd.to_datetime(c["contact_date"]) <= cutoff]
    c["volunteer_id"] = c["match_id"].map(m2v)
    unknown = c["volunteer_id"].isna().to_numpy()
    if unknown.any():
        raise ValueError(
            f"table 'contacts', field 'match_id': match not found in 'matches' in row(s) {_rows(c, unknown)}"
        )
    c["programme_id"] = c["volunteer_id"].map(v2p)
    unknown = c["programme_id"].isna().to_numpy()
    if unknown.any():
        raise ValueError(
            f"table 'contacts': the match's volunteer is not in 'volunteers' (row(s) {_rows(c, unknown)})"
        )
    minutes = pd.to_numeric(c["minutes"], errors="coerce")
    neg = (minutes < 0).fillna(False).to_numpy()
    if neg.any():
        raise ValueError(f"table 'contacts', field 'minutes': negative value in row(s) {_rows(c, neg)}")
    c["_hours"] = minutes.astype(float) / 60.0
    c["_missing"] = minutes.isna().astype(int)
    c["quarter"] = quarter_label(c["contact_date"])
    agg = c.groupby(["programme_id", "quarter"]).agg(
        contact_hours=("_hours", "sum"),
        contacts=("contact_id", "size"),
        contacts_missing_minutes=("_missing", "sum"),
        volunteers_active=("volunteer_id", "nunique"),
    )
    if volunteer_support is not None and len(volunteer_support):
        _need(volunteer_support, "volunteer_support", ["volunteer_id", "event_date", "hours"])
        _check_missing(volunteer_support, "volunteer_support", ["volunteer_id", "event_date"])
        s = volunteer_support.copy()
        if cutoff is not None:
            s = s[pd.to_datetime(s["event_date"]) <= cutoff]
        s["programme_id"] = s["volunteer_id"].map(v2p)
        unknown = s["programme_id"].isna().to_numpy()
        if unknown.any():
            raise ValueError(
                f"table 'volunteer_support', field 'volunteer_id': volunteer not in 'volunteers' in row(s) {_rows(s, unknown)}"
            )
        s["quarter"] = quarter_label(s["event_date"])
        s["_h"] = pd.to_numeric(s["hours"], errors="coerce").astype(float)
        sup = s.groupby(["programme_id", "quarter"])["_h"].sum().rename("support_hours")
        agg = agg.join(sup, how="outer")
    else:
        agg["support_hours"] = 0.0
    agg = agg.reset_index()
    for col in ["contact_hours", "support_hours"]:
        agg[col] = agg[col].fillna(0.0)
    for col in ["contacts", "contacts_missing_minutes", "volunteers_active"]:
        agg[col] = agg[col].fillna(0).astype(int)
    return agg[
        ["programme_id", "quarter", "contact_hours", "contacts", "contacts_missing_minutes",
         "support_hours", "volunteers_active"]
    ].sort_values(["programme_id", "quarter"], ignore_index=True)


# ---------------------------------------------------------------------------
# participants
# ---------------------------------------------------------------------------


def participant_activity(
    participants: pd.DataFrame, quarters: Sequence[str], cutoff_date: Any = None
) -> pd.DataFrame:
    """Active participants and completed trajectories per programme and quarter.

    Returns
    -------
    DataFrame
        ``programme_id, quarter, active, completed`` for every programme
        with participants and every quarter in ``quarters``.
    """
    _need(participants, "participants", ["participant_id", "programme_id", "group", "intake_date",
                                         "programme_end_date", "programme_end_reason"])
    p = participants[participants["group"] == "programme"].copy()
    _check_missing(p, "participants", ["programme_id", "intake_date"])
    intake = pd.to_datetime(p["intake_date"])
    end = pd.to_datetime(p["programme_end_date"])
    cutoff = pd.Timestamp(cutoff_date) if cutoff_date is not None else None
    rows = []
    completed = (p["programme_end_reason"] == "completed").to_numpy()
    pids = p["programme_id"].to_numpy()
    for q in quarters:
        qs, qe = quarter_bounds(q)
        if cutoff is not None:
            qe = min(qe, cutoff)
        active = ((intake <= qe) & (end.isna() | (end >= qs))).to_numpy()
        done = completed & ((end >= qs) & (end <= qe)).to_numpy()
        frame = pd.DataFrame({"programme_id": pids, "active": active.astype(int), "completed": done.astype(int)})
        agg = frame.groupby("programme_id", as_index=False)[["active", "completed"]].sum()
        agg["quarter"] = q
        rows.append(agg)
    if not rows:
        return pd.DataFrame(columns=["programme_id", "quarter", "active", "completed"])
    return pd.concat(rows, ignore_index=True)[["programme_id", "quarter", "active", "completed"]]


def participants_active_in(
    participants: pd.DataFrame, start: Any, end: Any
) -> pd.DataFrame:
    """Distinct programme participants active at any time in ``[start, end]``, per programme.

    Returns ``programme_id, active, completed`` (completed: trajectories
    ended as completed within the window).
    """
    p = participants[participants["group"] == "programme"]
    intake = pd.to_datetime(p["intake_date"])
    pend = pd.to_datetime(p["programme_end_date"])
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    act = (intake <= e) & (pend.isna() | (pend >= s))
    done = (p["programme_end_reason"] == "completed") & (pend >= s) & (pend <= e)
    out = pd.DataFrame({"programme_id": p["programme_id"], "active": act.astype(int), "completed": done.astype(int)})
    return out.groupby("programme_id", as_index=False)[["active", "completed"]].sum()
