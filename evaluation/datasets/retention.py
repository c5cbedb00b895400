"""Retention analysis datasets: volunteers, matches, circles and participants.

ADTTE-style rows (one row per unit, or counting-process ``(start, stop]``
rows) built from the typed tables of
:func:`evaluation.validation.validate.validate_intake`, plus the quarterly
volunteer workforce flow and the selection of one programme. These rows are
row-level data: they feed :mod:`evaluation.analyses.retention` and are never
published (docs/methods.md, section 'Retention').

Conventions
-----------
* Times are in days from the origin (start of volunteering, start of a match,
  intake). A month is ``365.25 / 12`` days (:data:`DAYS_PER_MONTH`).
* An end on the origin day counts as an end after half a day
  (:data:`SAME_DAY_TIME`), so that every at-risk interval has positive length
  (R's ``coxph`` refuses ``(start, stop]`` rows with ``stop <= start``).
* Ends after the cutoff date are not yet known at the cutoff: the row is
  censored at the cutoff (``cnsr = 1``).
* A time-varying support covariate (basic training, supervision, recognition)
  switches on at the date of its first event: on day ``d`` the volunteer
  contributes untreated time on ``(0, d]`` and treated time after ``d``.
  Events on or before the start date count from day 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

DAYS_PER_MONTH: float = 365.25 / 12
SAME_DAY_TIME: float = 0.5

SUPPORT_KINDS: dict[str, tuple[str, ...]] = {
    "basic_training": ("basic_training",),
    "supervision": ("individual_supervision", "group_supervision", "peer_supervision"),
    "recognition": ("recognition",),
}
"""Which ``volunteer_support.kind`` codes switch on each time-varying mechanism."""

VOLUNTEER_END_REASONS: tuple[str, ...] = (
    "time_constraints",
    "work_or_study",
    "moved",
    "dissatisfied",
    "personal_circumstances",
    "health",
    "ended_by_organisation",
    "assignment_completed",
    "other",
    "unknown",
)

MATCH_EARLY_CAUSES: tuple[str, ...] = (
    "participant_withdrew",
    "volunteer_withdrew",
    "ended_by_professional",
    "participant_reoffended",
    "other",
)
"""Competing causes of an early match ending (``other`` collects the remaining reasons)."""

MATCH_BREAKDOWN_CAUSES: tuple[str, ...] = ("participant_withdrew", "volunteer_withdrew", "ended_by_professional")
"""Early endings from within the match (endpoint ``MATCH_BREAKDOWN``, cause-specific Cox); a new
offence and other reasons (moving, death) are external and censor in that model."""

PARTICIPANT_CAUSES: tuple[str, ...] = ("dropped_out", "completed", "other_end")
"""Competing programme endings: dropout, completion, any other end (excluded, reoffended, moved, died, other)."""


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _where(df: pd.DataFrame, idx: Any) -> str:
    """Human-readable position of a row: the source row number when known."""
    if "_row" in df.columns:
        return f"row {df.loc[idx, '_row']}"
    return f"row index {idx}"


def _require_columns(df: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"table {table!r}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"table {table!r} lacks required column(s) {missing}")


def _as_dates(df: pd.DataFrame, table: str, column: str, required: bool) -> pd.Series:
    try:
        s = pd.to_datetime(df[column], errors="raise")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"table {table!r}, field {column!r}: not a date column ({exc})") from exc
    if required and s.isna().any():
        idx = s.index[s.isna()][0]
        raise ValueError(f"table {table!r}, {_where(df, idx)}, field {column!r}: date is missing")
    return s


def _unique_ids(df: pd.DataFrame, table: str, column: str) -> None:
    if df[column].isna().any():
        idx = df.index[df[column].isna()][0]
        raise ValueError(f"table {table!r}, {_where(df, idx)}, field {column!r}: identifier is missing")
    dup = df[column].duplicated(keep=False)
    if dup.any():
        idx = df.index[dup][0]
        raise ValueError(
            f"table {table!r}, {_where(df, idx)}, field {column!r}: identifier "
            f"{df.loc[idx, column]!r} occurs more than once"
        )


def _cutoff(cutoff_date: Any) -> pd.Timestamp:
    if cutoff_date is None:
        raise ValueError("cutoff_date is required (the extract's cutoff, or an earlier analysis date)")
    try:
        c = pd.Timestamp(cutoff_date)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cutoff_date {cutoff_date!r} is not a date") from exc
    if pd.isna(c):
        raise ValueError("cutoff_date is missing")
    return c.normalize()


def _days(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    return (later - earlier).dt.days.to_numpy(dtype=float)


def _bool01(s: pd.Series) -> pd.Series:
    """Nullable boolean to float 0/1 with NaN for missing."""
    out = pd.Series(np.nan, index=s.index, dtype=float)
    known = s.notna()
    out[known] = s[known].astype(bool).astype(float)
    return out


def _drop_after_cutoff(df: pd.DataFrame, table: str, date_col: str, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Rows whose origin lies after the cutoff are outside the analysis: warn with their number."""
    late = df[date_col] > cutoff
    if late.any():
        warnings.warn(
            f"table {table!r}: {int(late.sum())} row(s) start after the cutoff date "
            f"{cutoff.date()} and are left out of the analysis",
            UserWarning,
            stacklevel=3,
        )
    return df.loc[~late]


# --------------------------------------------------------------------------------------
# programme attributes and selection
# --------------------------------------------------------------------------------------


def programme_attributes(programmes: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per programme with the attributes used for grouping and targets.

    Columns: programme_id, programme_type, organisation, organisation_model,
    duration_months (planned), contacts_per_month (planned).
    """
    rows = []
    for i, p in enumerate(programmes or []):
        if "programme_id" not in p:
            raise ValueError(f"programmes.yaml, programme {i + 1}: field 'programme_id' is missing")
        dosage = p.get("planned_dosage") or {}
        rows.append(
            {
                "programme_id": str(p["programme_id"]),
                "programme_type": p.get("programme_type", ""),
                "organisation": p.get("organisation", ""),
                "organisation_model": p.get("organisation_model", ""),
                "duration_months": float(dosage["duration_months"]) if dosage.get("duration_months") is not None else math.nan,
                "contacts_per_month": float(dosage["contacts_per_month"])
                if dosage.get("contacts_per_month") is not None
                else math.nan,
            }
        )
    cols = ["programme_id", "programme_type", "organisation", "organisation_model", "duration_months", "contacts_per_month"]
    return pd.DataFrame(rows, columns=cols)


def analysis_cutoff(extract_cutoff: Any, requested: Any = None) -> pd.Timestamp:
    """The analysis date: ``requested`` ("YYYY-MM-DD") when given, else the extract's cutoff.

    Raises ValueError when the requested date lies after the extract's cutoff
    (events after the extract's cutoff are not in the data).
    """
    ext = _cutoff(extract_cutoff)
    if requested is None or (isinstance(requested, str) and not requested.strip()):
        return ext
    req = _cutoff(requested)
    if req > ext:
        raise ValueError(f"cutoff_date {req.date()} lies after the extract's cutoff date {ext.date()}")
    return req


def select_programme(tables: Mapping[str, pd.DataFrame], programmes: Sequence[Mapping[str, Any]],
                     programme_id: str = "all") -> tuple[dict[str, pd.DataFrame], list[Mapping[str, Any]]]:
    """Restrict tables and programme descriptions to one programme (or keep all with ``"all"``).

    Volunteers and participants are filtered on programme_id; matches, contacts,
    support events and restorative sessions follow their parent rows.
    """
    progs = list(programmes or [])
    if programme_id == "all":
        return dict(tables), progs
    ids = [str(p.get("programme_id")) for p in progs]
    if programme_id not in ids:
        raise ValueError(f"programme_id {programme_id!r} is not described in programmes.yaml ({ids})")
    t = dict(tables)
    for name in ("volunteers", "participants"):
        if name in t and len(t[name]):
            t[name] = t[name].loc[t[name]["programme_id"].astype(str) == programme_id]
    pids = set(t["participants"]["participant_id"]) if "participants" in t else set()
    vids = set(t["volunteers"]["volunteer_id"]) if "volunteers" in t else set()
    if "matches" in t and len(t["matches"]):
        t["matches"] = t["matches"].loc[t["matches"]["participant_id"].isin(pids)]
    mids = set(t["matches"]["match_id"]) if "matches" in t else set()
    if "contacts" in t and len(t["contacts"]):
        t["contacts"] = t["contacts"].loc[t["contacts"]["match_id"].isin(mids)]
    if "volunteer_support" in t and len(t["volunteer_support"]):
        t["volunteer_support"] = t["volunteer_support"].loc[t["volunteer_support"]["volunteer_id"].isin(vids)]
    if "rj_sessions" in t and len(t["rj_sessions"]):
        t["rj_sessions"] = t["rj_sessions"].loc[t["rj_sessions"]["participant_id"].isin(pids)]
    return t, [p for p in progs if str(p.get("programme_id")) == programme_id]


# --------------------------------------------------------------------------------------
# 1. volunteers
# --------------------------------------------------------------------------------------


def volunteer_tenure(volunteers: pd.DataFrame, cutoff_date: Any) -> pd.DataFrame:
    """Volunteer tenure as an ADTTE-style table: one row per volunteer.

    Estimand: time from a volunteer's start to stopping (days), censored at the
    cutoff for volunteers still active (or stopping after the cutoff, which is
    not yet known at the cutoff).

    Parameters
    ----------
    volunteers : DataFrame
        The typed ``volunteers`` table (volunteer_id, programme_id, start_date,
        end_date, end_reason, lived_experience, recruitment_channel, sex).
    cutoff_date : date-like
        Analysis date; volunteers starting after it are left out with a warning.

    Returns
    -------
    DataFrame
        volunteer_id, programme_id, start_date, end_date (event or censoring
        date), time (days; same-day stops 0.5), event (1 = stopped), cnsr
        (0 = event, 1 = censored at cutoff), end_reason (code, or
        ``"censored"``), lived_experience, recruitment_channel, sex.

    Raises
    ------
    ValueError
        Missing or duplicated volunteer_id, missing start_date, an end before
        the start, or a stop without end_reason (row and field named).
    """
    table = "volunteers"
    _require_columns(volunteers, table, ["volunteer_id", "programme_id", "start_date", "end_date", "end_reason"])
    cutoff = _cutoff(cutoff_date)
    v = volunteers.copy()
    _unique_ids(v, table, "volunteer_id")
    v["start_date"] = _as_dates(v, table, "start_date", required=True)
    v["end_date"] = _as_dates(v, table, "end_date", required=False)
    bad = v["end_date"].notna() & (v["end_date"] < v["start_date"])
    if bad.any():
        idx = v.index[bad][0]
        raise ValueError(f"table {table!r}, {_where(v, idx)}, field 'end_date': end_date lies before start_date")
    no_reason = v["end_date"].notna() & v["end_reason"].isna() & (v["end_date"] <= cutoff)
    if no_reason.any():
        idx = v.index[no_reason][0]
        raise ValueError(f"table {table!r}, {_where(v, idx)}, field 'end_reason': missing although end_date is filled")
    v = _drop_after_cutoff(v, table, "start_date", cutoff)
    stopped = v["end_date"].notna() & (v["end_date"] <= cutoff)
    stop_date = v["end_date"].where(stopped, cutoff)
    time = _days(stop_date, v["start_date"])
    time = np.where(time <= 0, SAME_DAY_TIME, time)
    out = pd.DataFrame(
        {
            "volunteer_id": v["volunteer_id"].astype(str).to_numpy(),
            "programme_id": v["programme_id"].astype(str).to_numpy(),
            "start_date": v["start_date"].to_numpy(),
            "end_date": stop_date.to_numpy(),
            "time": time,
            "event": stopped.astype(int).to_numpy(),
            "cnsr": (~stopped).astype(int).to_numpy(),
            "end_reason": np.where(stopped, v["end_reason"].astype(object).to_numpy(), "censored"),
        }
    )
    for col in ("lived_experience", "recruitment_channel", "sex"):
        if col in v.columns:
            out[col] = v[col].to_numpy()
    return out.reset_index(drop=True)


def _first_support_dates(volunteer_support: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """First event date per volunteer and mechanism (events after the cutoff ignored)."""
    table = "volunteer_support"
    _require_columns(volunteer_support, table, ["volunteer_id", "event_date", "kind"])
    s = volunteer_support.copy()
    s["event_date"] = _as_dates(s, table, "event_date", required=True)
    s = s.loc[s["event_date"] <= cutoff]
    out = {}
    for mech, kinds in SUPPORT_KINDS.items():
        sub = s.loc[s["kind"].isin(kinds)]
        out[mech] = sub.groupby("volunteer_id")["event_date"].min()
    return pd.DataFrame(out)


def _check_support_ids(volunteer_support: pd.DataFrame, volunteers: pd.DataFrame) -> None:
    _require_columns(volunteer_support, "volunteer_support", ["volunteer_id"])
    unknown = ~volunteer_support["volunteer_id"].isin(volunteers["volunteer_id"])
    if unknown.any():
        idx = volunteer_support.index[unknown][0]
        raise ValueError(
            f"table 'volunteer_support', {_where(volunteer_support, idx)}, field 'volunteer_id': volunteer "
            f"{volunteer_support.loc[idx, 'volunteer_id']!r} is not in volunteers"
        )


def volunteer_episodes(
    volunteers: pd.DataFrame,
    volunteer_support: pd.DataFrame,
    cutoff_date: Any,
    mechanisms: Sequence[str] = ("basic_training", "supervision", "recognition"),
) -> pd.DataFrame:
    """Counting-process ``(start, stop]`` rows with time-varying support mechanisms.

    Each volunteer's tenure (from :func:`volunteer_tenure`) is split at the first
    date of each mechanism in ``mechanisms`` (see :data:`SUPPORT_KINDS`). A
    mechanism is 0 before and 1 after its first event; a volunteer trained on
    day 90 contributes untrained time ``(0, 90]`` and trained time
    ``(90, stop]``. Support before the start counts from day 0; support on or
    after the stop day changes nothing. The event flag is 1 only on the last
    row of a volunteer who stopped.

    Assumes the first event switches the mechanism on for good (a volunteer
    stays "trained"); this is the exposure definition, not a claim about
    how long training lasts.

    Returns
    -------
    DataFrame
        volunteer_id, programme_id, start, stop, event, the mechanism columns
        (0/1), and the baseline covariates lived_experience,
        recruitment_channel.
    """
    unknown = [m for m in mechanisms if m not in SUPPORT_KINDS]
    if unknown:
        raise ValueError(f"unknown mechanism(s) {unknown}; choose from {list(SUPPORT_KINDS)}")
    cutoff = _cutoff(cutoff_date)
    _check_support_ids(volunteer_support, volunteers)
    ten = volunteer_tenure(volunteers, cutoff)
    first = _first_support_dates(volunteer_support, cutoff)
    ten = ten.join(first, on="volunteer_id")
    # switch-on time (days after start); <= 0 means from the start; NaN means never
    switch = {}
    for m in mechanisms:
        d = _days(ten[m], ten["start_date"]) if m in ten else np.full(len(ten), np.nan)
        switch[m] = np.where(np.isnan(d), np.inf, np.maximum(d, 0.0))
    n = len(ten)
    # cut points: every switch time strictly inside (0, time)
    cuts = [np.zeros(n)]
    for m in mechanisms:
        s = switch[m]
        cuts.append(np.where((s > 0) & (s < ten["time"].to_numpy()), s, np.nan))
    cuts.append(ten["time"].to_numpy())
    cut = np.column_stack(cuts)
    rows_id, rows_start, rows_stop = [], [], []
    for i in range(n):
        c = np.unique(cut[i][~np.isnan(cut[i])])
        rows_id.append(np.full(len(c) - 1, i))
        rows_start.append(c[:-1])
        rows_stop.append(c[1:])
    idx = np.concatenate(rows_id) if rows_id else np.array([], dtype=int)
    start = np.concatenate(rows_start) if rows_start else np.array([])
    stop = np.concatenate(rows_stop) if rows_stop else np.array([])
    out = pd.DataFrame(
        {
            "volunteer_id": ten["volunteer_id"].to_numpy()[idx],
            "programme_id": ten["programme_id"].to_numpy()[idx],
            "start": start,
            "stop": stop,
        }
    )
    last = stop >= ten["time"].to_numpy()[idx]
    out["event"] = (ten["event"].to_numpy()[idx] * last).astype(int)
    for m in mechanisms:
        out[m] = (switch[m][idx] <= start).astype(int)
    for col in ("lived_experience", "recruitment_channel", "sex"):
        if col in ten.columns:
            out[col] = ten[col].to_numpy()[idx]
    return out


def naive_baseline_coding(
    volunteers: pd.DataFrame,
    volunteer_support: pd.DataFrame,
    cutoff_date: Any,
    mechanisms: Sequence[str] = ("basic_training", "supervision", "recognition"),
) -> pd.DataFrame:
    """The WRONG coding, kept only to demonstrate immortal-time bias.

    One row per volunteer with each mechanism coded 1 when it ever happened
    before the stop or cutoff, as if it were known at the start. Volunteers who
    stay longer have more time to be trained, so "trained" looks protective
    even when training has no effect (Suissa 2008). Use
    :func:`volunteer_episodes` for analysis.
    """
    cutoff = _cutoff(cutoff_date)
    ten = volunteer_tenure(volunteers, cutoff)
    first = _first_support_dates(volunteer_support, cutoff)
    ten = ten.join(first, on="volunteer_id")
    out = ten.drop(columns=[m for m in SUPPORT_KINDS if m in ten.columns]).copy()
    for m in mechanisms:
        d = ten[m] if m in ten else pd.Series(pd.NaT, index=ten.index)
        out[m] = (d.notna() & (d < ten["end_date"])).astype(int)
    out["start"] = 0.0
    out["stop"] = out["time"]
    return out


def landmark_dataset(
    tenure: pd.DataFrame,
    exposure_dates: pd.Series | None,
    landmark_days: float,
    id_col: str = "volunteer_id",
    exposure_name: str = "exposed_by_landmark",
) -> pd.DataFrame:
    """Landmark dataset: units still at risk at ``landmark_days``, time reset to the landmark.

    Exposure is 1 when the unit's exposure date (e.g. first basic training) lies
    on or before ``origin + landmark_days``. Units that ended on or before the
    landmark are left out by design (they are not at risk at the landmark);
    their number is kept in ``attrs['excluded_before_landmark']``.
    """
    if landmark_days <= 0:
        raise ValueError(f"landmark_days must be positive, got {landmark_days}")
    at_risk = tenure["time"] > landmark_days
    lm = tenure.loc[at_risk].copy()
    lm["time"] = lm["time"] - landmark_days
    if exposure_dates is not None:
        exp_day = _days(lm[id_col].map(exposure_dates).astype("datetime64[ns]"), lm["start_date"])
        lm[exposure_name] = (np.nan_to_num(exp_day, nan=np.inf) <= landmark_days).astype(int)
    lm.attrs["excluded_before_landmark"] = int((~at_risk).sum())
    lm.attrs["landmark_days"] = landmark_days
    return lm.reset_index(drop=True)


def workforce_flow(
    volunteers: pd.DataFrame,
    cutoff_date: Any,
    by: str | None = "programme_id",
    fall_quarters: int = 2,
    fall_share_year: float = 0.10,
) -> pd.DataFrame:
    """Quarterly flow of volunteers: stock at start and end, joiners, leavers, turnover.

    Definitions (a volunteer is active on day d when ``start_date <= d`` and
    ``end_date`` is missing or later than d; ends after the cutoff are unknown):

    * ``active_start``: active on the quarter's first day, ``active_end``:
      active after its last day (or after the cutoff in the last, partial
      quarter); ``active_end = active_start + joiners - leavers`` exactly.
    * ``joiners``/``leavers``: start/end dates in the quarter.
    * ``annual_turnover``: leavers over the last four quarters divided by the
      mean stock over those quarters (average of start and end stocks);
      NaN before four quarters are available.
    * ``warning``: text when the stock fell in ``fall_quarters`` consecutive
      quarters, or by more than ``fall_share_year`` over four quarters
      (Sweden's lay supervisors fell from about 4,500 to about 1,000).

    Counts are of volunteers (not clients), exact, and the ``warning`` text is
    computed from them: this table is for analysis only. Publish it through
    :func:`evaluation.publish.workforce.protect_workforce` (controlled rounding), as the
    publishing step does.
    """
    table = "volunteers"
    _require_columns(volunteers, table, ["volunteer_id", "programme_id", "start_date", "end_date"])
    cutoff = _cutoff(cutoff_date)
    v = volunteers.copy()
    v["start_date"] = _as_dates(v, table, "start_date", required=True)
    v["end_date"] = _as_dates(v, table, "end_date", required=False)
    v = v.loc[v["start_date"] <= cutoff]
    v.loc[v["end_date"] > cutoff, "end_date"] = pd.NaT
    if v.empty:
        return pd.DataFrame(
            columns=["group", "quarter", "quarter_start", "quarter_end", "partial", "active_start", "joiners",
                     "leavers", "active_end", "annual_turnover", "warning"]
        )
    first_q = v["start_date"].min().to_period("Q")
    quarters = pd.period_range(first_q, cutoff.to_period("Q"), freq="Q")
    groups = [("all", v)]
    if by is not None:
        groups += [(f"{level}", sub) for level, sub in v.groupby(by, sort=True)]
    rows = []
    for label, sub in groups:
        s = sub["start_date"].to_numpy()
        e = sub["end_date"].to_numpy()
        e_known = ~pd.isna(e)
        recs = []
        for q in quarters:
            qs = q.start_time.normalize()
            qe = min(q.end_time.normalize(), cutoff)
            a_start = int(((s < qs) & (~e_known | (e >= qs))).sum())
            joiners = int(((s >= qs) & (s <= qe)).sum())
            leavers = int((e_known & (e >= qs) & (e <= qe)).sum())
            a_end = int(((s <= qe) & (~e_known | (e > qe))).sum())
            recs.append(
                {
                    "group": label,
                    "quarter": str(q),
                    "quarter_start": qs,
                    "quarter_end": qe,
                    "partial": bool(qe < q.end_time.normalize()),
                    "active_start": a_start,
                    "joiners": joiners,
                    "leavers": leavers,
                    "active_end": a_end,
                }
            )
        f = pd.DataFrame(recs)
        mean_stock = (f["active_start"] + f["active_end"]) / 2
        lv4 = f["leavers"].rolling(4).sum()
        st4 = mean_stock.rolling(4).mean()
        f["annual_turnover"] = np.where(st4 > 0, lv4 / st4.where(st4 > 0), np.nan)
        fell = (f["active_end"] < f["active_start"]).astype(int)
        run = fell.groupby((fell == 0).cumsum()).cumsum()
        year_ago = f["active_end"].shift(4)
        drop_year = (year_ago > 0) & (f["active_end"] < (1 - fall_share_year) * year_ago)
        warn = []
        for i in range(len(f)):
            w = []
            if run.iloc[i] >= fall_quarters:
                w.append(f"active volunteers fell for {int(run.iloc[i])} consecutive quarters")
            if bool(drop_year.iloc[i]):
                share = 1 - f["active_end"].iloc[i] / year_ago.iloc[i]
                w.append(f"active volunteers fell by {share:.0%} over four quarters")
            warn.append("; ".join(w))
        f["warning"] = warn
        rows.append(f)
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------
# 2. matches and circles
# --------------------------------------------------------------------------------------


def _planned_end(start: pd.Series, planned: pd.Series, months: pd.Series) -> pd.Series:
    by_months = pd.Series(pd.NaT, index=start.index, dtype="datetime64[ns]")
    ok = months.notna() & start.notna()
    if ok.any():
        by_months[ok] = start[ok] + pd.to_timedelta(months[ok].astype(float) * DAYS_PER_MONTH, unit="D").dt.round("D")
    return planned.where(planned.notna(), by_months)


def _early_end_rows(
    d: pd.DataFrame, table: str, cutoff: pd.Timestamp, start_col: str = "start_date"
) -> pd.DataFrame:
    """Shared early-ending logic: time, event, cnsr, cause for matches and circles."""
    ended = d["end_date"].notna() & (d["end_date"] <= cutoff)
    planned = d["planned_end"]
    completed = d["end_reason"].astype(object) == "planned_completion"
    early = ended & planned.notna() & (d["end_date"] < planned) & ~completed
    # follow-up stops at the first of: end, planned end, cutoff
    stop = pd.concat(
        [d["end_date"].where(ended), planned, pd.Series(cutoff, index=d.index)], axis=1
    ).min(axis=1)
    time = _days(stop, d[start_col])
    d = d.assign(
        stop_date=stop,
        time=np.where(time <= 0, SAME_DAY_TIME, time),
        event=early.astype(int),
    )
    cnsr = np.where(early, 0, np.where(ended | (planned.notna() & (planned <= cutoff)), 2, 1))
    d["cnsr"] = cnsr
    reason = d["end_reason"].astype(object)
    cause = np.where(reason.isin(MATCH_EARLY_CAUSES[:-1]), reason, "other")
    d["early_cause"] = np.where(early, cause, "")
    return d


def match_duration(
    matches: pd.DataFrame,
    participants: pd.DataFrame,
    volunteers: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    cutoff_date: Any,
) -> pd.DataFrame:
    """Match duration and early ending: one ADTTE-style row per match.

    Estimand: time from match start to an early end, where early means an end
    before ``planned_end_date`` or, when that is missing, before start +
    the programme's planned ``duration_months``; an end recorded as
    ``planned_completion`` is never early (the programme judged the goals
    reached, even if a few days before the planned date). Follow-up stops at the first of
    the end, the planned end (a match that reaches it can no longer end early)
    and the cutoff. ``cnsr``: 0 = ended early, 1 = still running at the cutoff,
    2 = reached the planned end (or ended on or after it). ``early_cause`` names
    who ended it (participant_withdrew, volunteer_withdrew,
    ended_by_professional, participant_reoffended, else ``other``).

    Covariates: ``same_sex`` (1/0, NaN unless both sexes are male/female),
    ``lived_experience`` of the volunteer, ``goals_agreed``,
    ``participant_risk_high`` (NaN when the risk level is unknown); the match's
    ``programme_id`` is taken from the participant.
    """
    table = "matches"
    _require_columns(matches, table, ["match_id", "participant_id", "volunteer_id", "start_date", "end_date", "end_reason"])
    _require_columns(participants, "participants", ["participant_id", "programme_id", "sex"])
    _require_columns(volunteers, "volunteers", ["volunteer_id", "sex"])
    cutoff = _cutoff(cutoff_date)
    m = matches.copy()
    _unique_ids(m, table, "match_id")
    m["start_date"] = _as_dates(m, table, "start_date", required=True)
    m["end_date"] = _as_dates(m, table, "end_date", required=False)
    m["planned_end_date"] = (
        _as_dates(m, table, "planned_end_date", required=False)
        if "planned_end_date" in m
        else pd.Series(pd.NaT, index=m.index)
    )
    bad = m["end_date"].notna() & (m["end_date"] < m["start_date"])
    if bad.any():
        idx = m.index[bad][0]
        raise ValueError(f"table {table!r}, {_where(m, idx)}, field 'end_date': end_date lies before start_date")
    p = participants.drop_duplicates("participant_id").set_index("participant_id")
    vol = volunteers.drop_duplicates("volunteer_id").set_index("volunteer_id")
    unknown_p = ~m["participant_id"].isin(p.index)
    if unknown_p.any():
        idx = m.index[unknown_p][0]
        raise ValueError(f"table {table!r}, {_where(m, idx)}, field 'participant_id': not in participants")
    unknown_v = ~m["volunteer_id"].isin(vol.index)
    if unknown_v.any():
        idx = m.index[unknown_v][0]
        raise ValueError(f"table {table!r}, {_where(m, idx)}, field 'volunteer_id': not in volunteers")
    m["programme_id"] = m["participant_id"].map(p["programme_id"]).astype(str)
    attrs = programme_attributes(programmes).set_index("programme_id")
    unknown_prog = ~m["programme_id"].isin(attrs.index)
    if unknown_prog.any():
        idx = m.index[unknown_prog][0]
        raise ValueError(
            f"table {table!r}, {_where(m, idx)}: programme {m.loc[idx, 'programme_id']!r} of the participant "
            "is not described in programmes.yaml"
        )
    m = _drop_after_cutoff(m, table, "start_date", cutoff)
    m["planned_end"] = _planned_end(m["start_date"], m["planned_end_date"], m["programme_id"].map(attrs["duration_months"]))
    m = _early_end_rows(m, table, cutoff)
    ps = m["participant_id"].map(p["sex"])
    vs = m["volunteer_id"].map(vol["sex"])
    known = ps.isin(["male", "female"]) & vs.isin(["male", "female"])
    m["same_sex"] = np.where(known, (ps == vs).astype(float), np.nan)
    m["lived_experience"] = _bool01(m["volunteer_id"].map(vol["lived_experience"])) if "lived_experience" in vol else np.nan
    m["goals_agreed"] = _bool01(m["goals_agreed"]) if "goals_agreed" in m else np.nan
    if "risk_level" in p.columns:
        risk = m["participant_id"].map(p["risk_level"])
        m["participant_risk_high"] = np.where(risk.isin(["low", "medium", "high"]), (risk == "high").astype(float),
                                              np.nan)
    else:
        m["participant_risk_high"] = np.nan
    keep = [
        "match_id", "participant_id", "volunteer_id", "programme_id", "role", "circle_id", "start_date",
        "planned_end", "stop_date", "end_reason", "time", "event", "cnsr", "early_cause", "same_sex",
        "lived_experience", "goals_agreed", "participant_risk_high",
    ]
    for c in ("role", "circle_id"):
        if c not in m:
            m[c] = None
    return m[keep].rename(columns={"stop_date": "end_date"}).reset_index(drop=True)


def circle_duration(match_rows: pd.DataFrame, cutoff_date: Any) -> pd.DataFrame:
    """COSA circles at circle level: one row per ``circle_id``.

    Definition (documented choice): a circle starts with its first member's
    match and ends when its last member's match ends; it is still running at
    the cutoff when any member's match has no end by then. Its planned end is
    the latest planned end of its members. It ended early when it ended before
    that planned end; the cause is the end reason of the member whose match
    ended last. Covariates: ``share_lived_experience`` among members and
    ``goals_agreed`` (any member recorded goals).

    ``match_rows`` is the output of :func:`match_duration` restricted to rows
    with a ``circle_id``.
    """
    cutoff = _cutoff(cutoff_date)
    m = match_rows.loc[match_rows["circle_id"].notna()].copy()
    if m.empty:
        return pd.DataFrame(
            columns=["circle_id", "programme_id", "n_members", "start_date", "planned_end", "end_date", "end_reason",
                     "time", "event", "cnsr", "early_cause"]
        )
    m["_end_obs"] = m["end_date"].where(m["cnsr"] != 1)  # real end of matches that ended
    m["_raw_end"] = m["start_date"] + pd.to_timedelta(m["time"], unit="D")
    rows = []
    for cid, g in m.groupby("circle_id", sort=True):
        running = (g["cnsr"] == 1).any()
        last = g.sort_values("_raw_end").iloc[-1]
        rows.append(
            {
                "circle_id": cid,
                "programme_id": g["programme_id"].iloc[0],
                "n_members": int(g["volunteer_id"].nunique()),
                "start_date": g["start_date"].min(),
                "planned_end": g["planned_end"].max(),
                "end_date": pd.NaT if running else g["_raw_end"].max(),
                "end_reason": None if running else last["end_reason"],
                "share_lived_experience": float(g["lived_experience"].mean()),
                "goals_agreed": float(g["goals_agreed"].max()) if g["goals_agreed"].notna().any() else np.nan,
            }
        )
    c = pd.DataFrame(rows)
    c["end_date"] = pd.to_datetime(c["end_date"])
    c = _early_end_rows(c, "circles", cutoff)
    return c.drop(columns=["stop_date"])


def contacts_landmark(
    match_rows: pd.DataFrame, contacts: pd.DataFrame, landmark_days: float = 60
) -> pd.DataFrame:
    """Landmark dataset for contact intensity: matches still running at ``landmark_days``.

    Adds ``contacts_per_month_early``: contacts in the first ``landmark_days``
    days (contact_date - start <= landmark) per month. Time is reset to the
    landmark; matches that ended or were censored by then are excluded by
    design (number in ``attrs['excluded_before_landmark']``).
    """
    _require_columns(contacts, "contacts", ["match_id", "contact_date"])
    c = contacts.copy()
    c["contact_date"] = _as_dates(c, "contacts", "contact_date", required=True)
    starts = match_rows.set_index("match_id")["start_date"]
    c = c.loc[c["match_id"].isin(starts.index)]
    day = (c["contact_date"] - c["match_id"].map(starts)).dt.days
    early = c.loc[(day >= 0) & (day <= landmark_days)].groupby("match_id").size()
    lm = landmark_dataset(match_rows, None, landmark_days, id_col="match_id")
    lm["contacts_per_month_early"] = lm["match_id"].map(early).fillna(0).to_numpy(float) / (landmark_days / DAYS_PER_MONTH)
    return lm


# --------------------------------------------------------------------------------------
# 3. participants
# --------------------------------------------------------------------------------------


def participant_retention(participants: pd.DataFrame, cutoff_date: Any) -> pd.DataFrame:
    """Programme participation as an ADTTE-style table: one row per programme participant.

    Estimand: time from intake to dropout, with completion and other endings
    (excluded, reoffended, moved, died, other) as competing events, censored at
    the cutoff while still in the programme. Only ``group == "programme"``.
    Columns: participant_id, programme_id, risk_level, time, event (1 = any
    end), cnsr, end_cause (dropped_out, completed, other_end, or "censored").
    """
    table = "participants"
    _require_columns(participants, table, ["participant_id", "programme_id", "group", "intake_date",
                                           "programme_end_date", "programme_end_reason", "risk_level"])
    cutoff = _cutoff(cutoff_date)
    p = participants.loc[participants["group"] == "programme"].copy()
    _unique_ids(p, table, "participant_id")
    p["intake_date"] = _as_dates(p, table, "intake_date", required=True)
    p["programme_end_date"] = _as_dates(p, table, "programme_end_date", required=False)
    bad = p["programme_end_date"].notna() & (p["programme_end_date"] < p["intake_date"])
    if bad.any():
        idx = p.index[bad][0]
        raise ValueError(f"table {table!r}, {_where(p, idx)}, field 'programme_end_date': lies before intake_date")
    ended = p["programme_end_date"].notna() & (p["programme_end_date"] <= cutoff)
    no_reason = ended & p["programme_end_reason"].isna()
    if no_reason.any():
        idx = p.index[no_reason][0]
        raise ValueError(f"table {table!r}, {_where(p, idx)}, field 'programme_end_reason': missing although the programme ended")
    p = _drop_after_cutoff(p, table, "intake_date", cutoff)
    ended = p["programme_end_date"].notna() & (p["programme_end_date"] <= cutoff)
    stop = p["programme_end_date"].where(ended, cutoff)
    time = _days(stop, p["intake_date"])
    reason = p["programme_end_reason"].astype(object)
    cause = np.where(reason.isin(["dropped_out", "completed"]), reason, "other_end")
    return pd.DataFrame(
        {
            "participant_id": p["participant_id"].astype(str).to_numpy(),
            "programme_id": p["programme_id"].astype(str).to_numpy(),
            "risk_level": p["risk_level"].astype(object).to_numpy(),
            "start_date": p["intake_date"].to_numpy(),
            "end_date": stop.to_numpy(),
            "time": np.where(time <= 0, SAME_DAY_TIME, time),
            "event": ended.astype(int).to_numpy(),
            "cnsr": (~ended).astype(int).to_numpy(),
            "end_cause": np.where(ended, cause, "censored"),
        }
    )
