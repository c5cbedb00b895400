"""Retention of volunteers, matches and participants.

Retention is measured as survival (docs/methods.md, section 'Retention'): time from a
volunteer's start to stopping, time from a match's start to its early end, and
time from a participant's intake to dropout, with the reason for ending as a
competing risk. This module derives the ADTTE-style analysis datasets from the
typed tables of :func:`evaluation.validation.validate.validate_intake` and turns them into
tidy estimate tables (:data:`evaluation.contract.results.RESULT_COLUMNS`) through the
estimators of :mod:`evaluation.stats.survival`.

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
* Nothing in this module is causal: volunteers are not randomised to training
  or supervision. Every result row carries ``causal = False``.

References
----------
Therneau T, Crowson C, Atkinson E (2024). Using time dependent covariates and
time dependent coefficients in the Cox model. R survival vignette.
Anderson JR, Cain KC, Gelber RD (1983). Analysis of survival by tumor
response. J Clin Oncol 1:710-719 (landmark analysis).
Suissa S (2008). Immortal time bias in pharmacoepidemiology. Am J Epidemiol
167:492-499.
Fine JP, Gray RJ (1999); Aalen OO, Johansen S (1978): cumulative incidence with
competing risks.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import make_results
from evaluation.publish.disclosure import WITHHOLD_COLUMN
from evaluation.stats.proportions import wilson_interval  # noqa: F401  (re-exported)

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

SMALL_N = 30
"""Below this many units (or events) an estimate carries a small-sample warning."""


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
# small statistics helpers
# --------------------------------------------------------------------------------------


def km_median(table: pd.DataFrame) -> dict[str, float]:
    """Median survival time and its confidence interval from a Kaplan-Meier table.

    Uses the Brookmeyer-Crowley construction as R ``print(survfit)``: the median
    is the first time the survival curve is at or below 0.5, the lower limit the
    first time the lower confidence band is at or below 0.5, and the upper limit
    the first time the upper band is at or below 0.5 (NaN = not reached).
    R additionally averages the two adjacent times when the curve is exactly 0.5
    on a flat stretch; this function does the same.
    """
    out = {}
    if "n_event" in table.columns:
        table = table.loc[table["n_event"] > 0]
    for key, col in (("estimate", "survival"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")):
        s = table[col].to_numpy(dtype=float)
        t = table["time"].to_numpy(dtype=float)
        below = np.flatnonzero(s <= 0.5 + 1e-12)
        if below.size == 0:
            out[key] = math.nan
            continue
        i = below[0]
        if abs(s[i] - 0.5) < 1e-12 and i + 1 < len(t):
            out[key] = (t[i] + t[i + 1]) / 2
        else:
            out[key] = t[i]
    return out


def _horizon_days(months: float) -> float:
    """A horizon in months as whole days (dates are recorded in days)."""
    return float(math.floor(months * DAYS_PER_MONTH + 1e-9))


def _survival():
    """Import :mod:`evaluation.stats.survival` lazily (it is built in parallel)."""
    from evaluation.stats import survival

    return survival


# --------------------------------------------------------------------------------------
# programme attributes
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


def _design(
    df: pd.DataFrame,
    covariates: Sequence[str],
    categorical: Mapping[str, str] | None = None,
    min_level_size: int = 10,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Numeric design columns for a Cox model, with complete cases only.

    Booleans become 0/1; each categorical in ``categorical`` (name -> reference
    level) becomes indicator columns ``name[level]``, with levels of fewer than
    ``min_level_size`` units pooled into ``name[other_small]``. Returns the data,
    the design column names and notes (pooled levels, dropped incomplete rows).
    """
    categorical = dict(categorical or {})
    d = df.copy()
    terms: list[str] = []
    notes: list[str] = []
    for c in covariates:
        if c not in d.columns:
            raise ValueError(f"covariate {c!r} is not a column of the analysis dataset")
        if c in categorical:
            ref = categorical[c]
            lev = d[c].astype(object)
            unit_counts = lev.value_counts()
            small = [x for x, k in unit_counts.items() if k < min_level_size and x != ref]
            if small:
                lev = lev.where(~lev.isin(small), "other_small")
                notes.append(f"{c}: levels {', '.join(sorted(map(str, small)))} (fewer than {min_level_size} rows) pooled")
            if ref not in set(lev.dropna()):
                ref = lev.value_counts().index[0] if lev.notna().any() else ref
                notes.append(f"{c}: reference level {ref!r}")
            for level in sorted(set(lev.dropna()) - {ref}, key=str):
                name = f"{c}[{level}]"
                d[name] = np.where(lev.isna(), np.nan, (lev == level).astype(float))
                terms.append(name)
        else:
            col = d[c]
            if str(col.dtype) == "boolean" or col.dtype == bool:
                d[c] = _bool01(col)
            else:
                d[c] = pd.to_numeric(col, errors="raise").astype(float)
            terms.append(c)
    incomplete = d[terms].isna().any(axis=1)
    if incomplete.any():
        notes.append(f"{int(incomplete.sum())} row(s) with a missing covariate left out (complete-case analysis)")
        warnings.warn(
            f"{int(incomplete.sum())} row(s) have a missing covariate and are left out of the Cox model",
            UserWarning,
            stacklevel=3,
        )
        d = d.loc[~incomplete]
    # constant columns cannot be estimated
    constant = [t for t in terms if d[t].nunique() < 2]
    if constant:
        notes.append(f"constant covariate(s) {constant} left out")
        terms = [t for t in terms if t not in constant]
    return d, terms, notes


def _cox_rows(
    model: Any,
    terms: Sequence[str],
    programme_id: str,
    analysis: str,
    endpoint: str,
    method: str,
    notes: Sequence[str],
    n_units: int,
) -> pd.DataFrame:
    rows = []
    summ = model.summary_.set_index("term")
    small = model.events_ < SMALL_N
    for t in terms:
        r = summ.loc[t]
        note = list(notes)
        if small:
            note.append(f"only {int(model.events_)} events: imprecise, read as exploratory")
        note.append("observational association, not a causal effect")
        # |log HR| > 20: the likelihood is monotone (no stops in one level), the estimate is an artefact
        degenerate = not np.isfinite(float(r["coef"])) or abs(float(r["coef"])) > 20
        if degenerate:
            note.append("not estimable: the likelihood is monotone (no events in one level of this covariate)")
        rows.append(
            {
                "programme_id": programme_id,
                "analysis": analysis,
                "estimand": "hazard_ratio",
                "endpoint": endpoint,
                "group": t,
                "estimate": np.nan if degenerate else float(r["hazard_ratio"]),
                "ci_lower": np.nan if degenerate else float(r["ci_lower"]),
                "ci_upper": np.nan if degenerate else float(r["ci_upper"]),
                "p_value": np.nan if degenerate else float(r["p_value"]),
                "n": n_units,
                "events": int(model.events_),
                "method": method,
                "causal": False,
                "note": "; ".join(note),
                "coef": float(r["coef"]),
                "se": float(r["robust_se"]) if np.isfinite(r.get("robust_se", np.nan)) else float(r["se"]),
            }
        )
    try:
        ph = model.ph_test()
    except Exception as exc:  # PH test can fail on tiny data; say so rather than hide it
        rows.append(
            {
                "programme_id": programme_id,
                "analysis": analysis,
                "estimand": "ph_test",
                "endpoint": endpoint,
                "group": "GLOBAL",
                "n": n_units,
                "method": "cox.zph (transform='km')",
                "causal": False,
                "note": f"proportional-hazards test not computable: {exc}",
            }
        )
    else:
        for _, r in ph.iterrows():
            rows.append(
                {
                    "programme_id": programme_id,
                    "analysis": analysis,
                    "estimand": "ph_test",
                    "endpoint": endpoint,
                    "group": str(r["term"]),
                    "estimate": float(r["statistic"]),
                    "p_value": float(r["p_value"]),
                    "n": n_units,
                    "events": int(model.events_),
                    "method": "Grambsch-Therneau test, cox.zph (transform='km')",
                    "causal": False,
                    "note": "p < 0.05 suggests the hazard ratio changes over time" if r["p_value"] < 0.05 else "",
                }
            )
    return make_results(rows)


def stopping_cox(
    episodes: pd.DataFrame,
    covariates: Sequence[str] = (
        "lived_experience",
        "recruitment_channel",
        "basic_training",
        "supervision",
        "recognition",
    ),
    channel_reference: str = "local_network",
    programme_id: str = "all",
    min_level_size: int = 10,
    conf_level: float = 0.95,
    strata_col: str | None = "programme_id",
) -> tuple[Any, pd.DataFrame]:
    """Cox model of volunteers stopping on the retention mechanisms.

    Estimand: hazard ratios of stopping for lived experience, recruitment
    channel (against ``channel_reference``), and the time-varying mechanisms
    basic training, supervision and recognition (on from their first date),
    each adjusted for the others. Counting-process rows from
    :func:`volunteer_episodes`; Efron ties; a separate baseline hazard per
    programme when there are several (``strata_col``: programmes differ both
    in how long volunteers stay and in how they train them, so comparing
    within programmes avoids confounding by programme); robust standard
    errors clustered on volunteer (as R ``coxph(Surv(start, stop, event) ~
    ... + strata(programme_id), cluster = id)``).

    Assumptions: proportional hazards (checked with the Grambsch-Therneau test,
    rows ``estimand == "ph_test"``); no unmeasured confounding for a causal
    reading, which observational data cannot guarantee (``causal = False``);
    independent censoring at the cutoff.

    Returns
    -------
    (CoxModel, DataFrame)
        The fitted model and the RESULT_COLUMNS rows (hazard ratios and PH test).
    """
    _require_columns(episodes, "volunteer_episodes", ["volunteer_id", "start", "stop", "event"])
    cat = {"recruitment_channel": channel_reference} if "recruitment_channel" in covariates else {}
    d, terms, notes = _design(episodes, covariates, cat, min_level_size=min_level_size)
    if not terms or d["event"].sum() == 0:
        raise ValueError("volunteer_episodes: no events or no estimable covariates for the Cox model")
    sv = _survival()
    st = strata_col if strata_col in d.columns and d[strata_col].nunique() > 1 else None
    model = sv.CoxModel(conf_level=conf_level).fit(
        d, duration_col="stop", event_col="event", covariates=terms, entry_col="start", cluster_col="volunteer_id",
        strata_col=st,
    )
    res = _cox_rows(
        model,
        terms,
        programme_id,
        "retention",
        "VOLUNTEER_STOP",
        "Cox PH, counting process (time-varying support), Efron ties"
        + (f", stratified by {st}" if st else "") + ", robust SE by volunteer",
        notes,
        int(d["volunteer_id"].nunique()),
    )
    return model, res


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


def training_landmark(
    volunteers: pd.DataFrame,
    volunteer_support: pd.DataFrame,
    cutoff_date: Any,
    landmark_months: float = 3,
    mechanism: str = "basic_training",
    adjust_for: Sequence[str] = ("lived_experience",),
    programme_id: str = "all",
) -> pd.DataFrame:
    """Landmark analysis: trained by the landmark vs not, among volunteers active then.

    Estimand: hazard ratio of stopping after the landmark (default 3 months)
    for volunteers who had ``mechanism`` by the landmark against those who had
    not, among volunteers still active at the landmark (Anderson et al. 1983).
    Support after the landmark is ignored (the exposure is fixed at the
    landmark), which avoids immortal-time bias at the price of misclassifying
    late-trained volunteers as untrained.
    """
    cutoff = _cutoff(cutoff_date)
    ten = volunteer_tenure(volunteers, cutoff)
    first = _first_support_dates(volunteer_support, cutoff)[mechanism]
    lm = landmark_dataset(ten, first, landmark_months * DAYS_PER_MONTH, exposure_name=f"{mechanism}_by_landmark")
    covs = [f"{mechanism}_by_landmark", *[c for c in adjust_for if c in lm.columns]]
    d, terms, notes = _design(lm, covs)
    notes.append(
        f"landmark at {landmark_months:g} months: {lm.attrs['excluded_before_landmark']} volunteer(s) "
        "who stopped or were censored before it are not in this analysis"
    )
    if not terms or d["event"].sum() == 0 or f"{mechanism}_by_landmark" not in terms:
        return make_results(
            [
                {
                    "programme_id": programme_id,
                    "analysis": "retention",
                    "estimand": "hazard_ratio_landmark",
                    "endpoint": "VOLUNTEER_STOP",
                    "group": f"{mechanism}_by_landmark",
                    "n": len(d),
                    "events": int(d["event"].sum()) if len(d) else 0,
                    "method": "landmark Cox",
                    "causal": False,
                    "note": "not estimable: no events or no variation in exposure at the landmark; " + "; ".join(notes),
                }
            ]
        )
    sv = _survival()
    st = "programme_id" if d["programme_id"].nunique() > 1 else None
    model = sv.CoxModel().fit(d, duration_col="time", event_col="event", covariates=terms, strata_col=st)
    res = _cox_rows(
        model,
        terms,
        programme_id,
        "retention",
        "VOLUNTEER_STOP",
        f"landmark Cox at {landmark_months:g} months, Efron ties" + (", stratified by programme_id" if st else ""),
        notes,
        len(d),
    )
    res.loc[res["estimand"] == "hazard_ratio", "estimand"] = "hazard_ratio_landmark"
    return res


# --------------------------------------------------------------------------------------
# Kaplan-Meier summaries and competing risks (shared by volunteers, matches, participants)
# --------------------------------------------------------------------------------------


def _groupings(df: pd.DataFrame, programmes: Sequence[Mapping[str, Any]] | None, by: Sequence[str]) -> pd.DataFrame:
    d = df.copy()
    if programmes is not None and any(b in ("programme_type", "organisation_model", "organisation") for b in by):
        attrs = programme_attributes(programmes).set_index("programme_id")
        for b in ("programme_type", "organisation_model", "organisation"):
            if b in by:
                d[b] = d["programme_id"].map(attrs[b])
    for b in by:
        if b not in d.columns:
            raise ValueError(f"cannot group by {b!r}: not a column (pass programmes for programme attributes)")
    return d


def km_summary(
    data: pd.DataFrame,
    by: Sequence[str] = ("programme_id",),
    horizons_months: Sequence[float] = (6, 12, 24),
    programmes: Sequence[Mapping[str, Any]] | None = None,
    analysis: str = "retention",
    endpoint: str = "VOLUNTEER_STOP",
    estimand_prefix: str = "retention",
    include_overall: bool = True,
    final_estimand: str | None = None,
) -> pd.DataFrame:
    """Median time and survival ("still active") at horizons, Kaplan-Meier, per group.

    Estimands: ``median_months`` (median time to the event in months, CI by
    Brookmeyer-Crowley as R ``survfit``) and ``{estimand_prefix}_{h}m`` (the
    probability of no event by ``h`` months, log-log CI), for every level of
    every grouping column in ``by`` (``group`` is ``"<column>=<level>"``) and
    overall. Descriptive, not causal: groups differ in who they recruit.

    With ``final_estimand`` a row gives the survival at each group's longest
    follow-up (for matches, whose follow-up stops at the planned end: the
    probability of reaching the planned end without an early ending).
    Horizons are evaluated at whole days (``floor(h * 365.25 / 12)``), which
    equals the exact horizon for data recorded in days.

    ``data`` needs ``time`` (days) and ``event`` (1 = event) and the grouping
    columns (or ``programme_id`` plus ``programmes`` for programme_type,
    organisation and organisation_model).
    """
    _require_columns(data, "analysis dataset", ["time", "event", "programme_id"])
    d = _groupings(data, programmes, by)
    sv = _survival()
    parts: list[tuple[str, str, pd.DataFrame]] = []
    if include_overall:
        parts.append(("all", "all", d))
    for b in by:
        for level, sub in d.groupby(b, dropna=False, sort=True):
            pid = str(level) if b == "programme_id" else "all"
            parts.append((pid, f"{b}={level}", sub))
    rows = []
    for pid, label, sub in parts:
        n = len(sub)
        ev = int(sub["event"].sum())
        if n == 0:
            continue
        km = sv.KaplanMeier().fit(sub["time"].to_numpy(float), sub["event"].to_numpy(int), label=label)
        med = km_median(km.table_)
        note = []
        if n < SMALL_N:
            note.append(f"only {n} units: imprecise")
        if math.isnan(med["estimate"]):
            note.append("median not reached")
        rows.append(
            {
                "programme_id": pid,
                "analysis": analysis,
                "estimand": "median_months",
                "endpoint": endpoint,
                "group": label,
                "estimate": med["estimate"] / DAYS_PER_MONTH,
                "ci_lower": med["ci_lower"] / DAYS_PER_MONTH,
                "ci_upper": med["ci_upper"] / DAYS_PER_MONTH,
                "n": n,
                "events": ev,
                "method": "Kaplan-Meier median, Brookmeyer-Crowley CI (log-log)",
                "causal": False,
                "note": "; ".join(note),
            }
        )
        at = km.survival_at([_horizon_days(h) for h in horizons_months])
        max_t = float(sub["time"].max())
        for h, (_, r) in zip(horizons_months, at.iterrows(), strict=True):
            hn = list(note[:1])
            beyond = _horizon_days(h) > max_t
            if beyond:
                hn.append("horizon beyond the longest follow-up: not estimable")
            elif r["n_risk"] < 10:
                hn.append(f"only {int(r['n_risk'])} still at risk at {h:g} months")
            rows.append(
                {
                    "programme_id": pid,
                    "analysis": analysis,
                    "estimand": f"{estimand_prefix}_{h:g}m",
                    "endpoint": endpoint,
                    "group": label,
                    "estimate": math.nan if beyond else float(r["estimate"]),
                    "ci_lower": math.nan if beyond else float(r["ci_lower"]),
                    "ci_upper": math.nan if beyond else float(r["ci_upper"]),
                    "n": n,
                    "events": ev,
                    "method": "Kaplan-Meier, log-log CI",
                    "causal": False,
                    "note": "; ".join(hn),
                }
            )
        if final_estimand:
            end = km.survival_at([max_t]).iloc[0]
            rows.append(
                {
                    "programme_id": pid,
                    "analysis": analysis,
                    "estimand": final_estimand,
                    "endpoint": endpoint,
                    "group": label,
                    "estimate": float(end["estimate"]),
                    "ci_lower": float(end["ci_lower"]),
                    "ci_upper": float(end["ci_upper"]),
                    "n": n,
                    "events": ev,
                    "method": "Kaplan-Meier at the longest follow-up, log-log CI",
                    "causal": False,
                    "note": "; ".join(note + [f"at {max_t / DAYS_PER_MONTH:.1f} months"]),
                }
            )
    return make_results(rows)


def competing_reasons(
    data: pd.DataFrame,
    reason_col: str = "end_reason",
    causes: Sequence[str] | None = None,
    horizons_months: Sequence[float] = (6, 12, 24),
    programme_id: str = "all",
    analysis: str = "retention",
    endpoint: str = "VOLUNTEER_STOP",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cumulative incidence of each reason for ending, reasons as competing risks.

    Estimand: for each reason r and horizon h, the probability of having ended
    for reason r by h months (Aalen-Johansen; variance as R ``cmprsk::cuminc``).
    Unlike ``1 - KM`` with other reasons censored, these add up to the overall
    probability of ending.

    Parameters
    ----------
    data : DataFrame
        ``time``, ``event`` and the reason column (ignored for censored rows).
    causes : list of str, optional
        Reasons in code order (1, 2, ...); defaults to the observed reasons
        sorted. A reason not in the list raises a ValueError.

    Returns
    -------
    (results, curves)
        RESULT_COLUMNS rows at the horizons (``estimand = "cuminc_{h}m"``,
        ``group`` = reason) and the full Aalen-Johansen table per reason
        (columns reason, time, estimate, variance, ci_lower, ci_upper), for plots.
    """
    _require_columns(data, "analysis dataset", ["time", "event", reason_col])
    ev = data["event"].to_numpy(int) == 1
    reasons = data.loc[ev, reason_col].astype(object)
    if reasons.isna().any():
        raise ValueError(f"analysis dataset: {int(reasons.isna().sum())} event row(s) have no {reason_col!r}")
    if causes is None:
        causes = sorted(set(reasons))
    causes = list(causes)
    unknown = sorted(set(reasons) - set(causes))
    if unknown:
        raise ValueError(f"analysis dataset: reasons {unknown} in {reason_col!r} are not among the causes {causes}")
    code = np.zeros(len(data), dtype=int)
    code[ev] = reasons.map({c: i + 1 for i, c in enumerate(causes)}).to_numpy(int)
    if not ev.any():
        return make_results([]), pd.DataFrame(columns=["reason", "time", "estimate", "variance", "ci_lower", "ci_upper"])
    sv = _survival()
    times = [_horizon_days(h) for h in horizons_months]
    rows, curves = [], []
    n = len(data)
    present = sorted(set(code[code > 0].tolist()))
    ci = sv.CumulativeIncidence().fit(data["time"].to_numpy(float), code, cause=present[0])
    for i, c in enumerate(causes, start=1):
        n_c = int((code == i).sum())
        if n_c:
            tab = ci.table_.loc[ci.table_["cause"] == i].copy()
            tab["reason"] = c
            curves.append(tab)
            at = ci.at(times, cause=i)
        else:  # no event of this reason: the estimate is 0 wherever follow-up exists
            at = pd.DataFrame({"estimate": 0.0, "ci_lower": np.nan, "ci_upper": np.nan}, index=range(len(times)))
        for h, (_, r) in zip(horizons_months, at.iterrows(), strict=True):
            beyond = bool(np.isnan(r["estimate"])) or _horizon_days(h) > float(data["time"].max())
            note = "horizon beyond the longest follow-up: not estimable" if beyond else (
                f"only {n} units: imprecise" if n < SMALL_N else "")
            if not n_c and not beyond:
                note = "; ".join(x for x in (note, "no events of this reason: no interval") if x)
            rows.append(
                {
                    "programme_id": programme_id,
                    "analysis": analysis,
                    "estimand": f"cuminc_{h:g}m",
                    "endpoint": endpoint,
                    "group": c,
                    "estimate": math.nan if beyond else float(r["estimate"]),
                    "ci_lower": math.nan if beyond else float(r["ci_lower"]),
                    "ci_upper": math.nan if beyond else float(r["ci_upper"]),
                    "n": n,
                    "events": n_c,
                    "method": "Aalen-Johansen cumulative incidence, competing reasons (cmprsk variance)",
                    "causal": False,
                    "note": note,
                }
            )
    curves_df = pd.concat(curves, ignore_index=True)
    return make_results(rows), curves_df


# --------------------------------------------------------------------------------------
# workforce flow
# --------------------------------------------------------------------------------------


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
    :func:`protect_workforce` (controlled rounding; :func:`plot_workforce` and
    :func:`workforce_warnings` do so themselves).
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
    return _lang(language, _WF_TEXT)


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
    threshold: int = 10,
    base: int | None = None,
    language: str = "en",
    audit: bool = True,
    min_turnover_stock: float | None = None,
    fall_quarters: int = 2,
    fall_share_year: float = 0.10,
) -> pd.DataFrame:
    """The publishable workforce-flow table: stocks and flows after controlled rounding.

    Every count (``active_start``, ``joiners``, ``leavers``, ``active_end``)
    of every group (all programmes and each programme) is moved to one of
    its two neighbouring multiples of ``base`` (default: the disclosure
    ``threshold``, 10) by :func:`evaluation.publish.disclosure.round_stock_flow`, so
    that ``active_end = active_start + joiners - leavers`` still holds
    exactly in every published row and the end stock of a quarter is the
    start stock of the next. Nothing is suppressed. A reader who knows the
    rule learns of a count of 1 to 9 only that it lies in 0..9 (shown 0) or
    1..19 (shown 10): no more than ``"<10"`` tells. Zeros stay 0, but a 0
    no longer says that nobody joined.

    Parameters
    ----------
    flow : DataFrame
        From :func:`workforce_flow` (or an earlier result of this function:
        rounding is idempotent, and a table of multiples of ``base`` has no
        small counts left to audit).
    threshold : int, default 10
        Disclosure threshold (:data:`evaluation.publish.disclosure.DEFAULT_THRESHOLD`).
    base : int, optional
        Rounding base; defaults to ``threshold``.
    language : {"en", "nl"}, default "en"
        Language of the ``warning`` column.
    audit : bool, default True
        Check the rounded table with :func:`evaluation.publish.disclosure.audit_rounding`
        and blank (NaN, with a warning) the counts of any group in which a
        small count could be narrowed down (see Notes).
    min_turnover_stock : float, optional
        Smallest published four-quarter mean stock for which the turnover is
        shown; default ``5 * base``.
    fall_quarters, fall_share_year
        Warning rules, as in :func:`workforce_flow`, applied to the published
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
    from evaluation.publish import disclosure

    _wf_text(language)
    b = threshold if base is None else base
    cols = ["active_start", "joiners", "leavers", "active_end"]
    _require_columns(flow, "workforce flow", ["group", "quarter", *cols])
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
        rounded = disclosure.round_stock_flow(src.loc[~blank].astype({c: "int64" for c in cols}), base=b)
        bad: list[str] = []
        if audit and bool((counts.loc[~blank] % b != 0).any().any()):  # a table of multiples of b has no small counts
            a = disclosure.audit_rounding(src.loc[~blank], rounded, base=b, threshold=threshold)
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


def workforce_warnings(flow: pd.DataFrame, language: str = "en", threshold: int = 10) -> list[str]:
    """Warnings of the latest quarter per group, from the published (rounded) workforce table.

    ``flow`` is the table of :func:`workforce_flow` or of
    :func:`protect_workforce`; the warnings are computed from the counts as
    published by :func:`protect_workforce` (controlled rounding), so no
    sentence reveals more than the table (e.g. a percentage decline of a
    programme of three volunteers). Returns an empty list if there are none.

    Parameters
    ----------
    flow : DataFrame
    language : {"en", "nl"}, default "en"
    threshold : int, default 10
    """
    tx = _wf_text(language)
    return [f"{tx['all'] if g == 'all' else g} ({q}): {w}" for g, q, w in _warning_rows(flow, language, threshold)]


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


def match_cox(
    match_rows: pd.DataFrame,
    covariates: Sequence[str] = ("same_sex", "lived_experience", "goals_agreed", "participant_risk_high"),
    programme_id: str = "all",
    cluster_col: str | None = "participant_id",
    time_col: str = "time",
    endpoint: str = "MATCH_EARLY_END",
    method_prefix: str = "Cox PH",
    causes: Sequence[str] | None = None,
    strata_col: str | None = "programme_id",
) -> pd.DataFrame:
    """Cox model of early match ending on match characteristics.

    Estimand: hazard ratios of an early end for same-sex matching, a volunteer
    with lived experience and agreed goals, adjusted for each other and for a
    high participant risk level, with a separate baseline hazard per programme
    (``strata_col``; programmes differ in planned duration and in who they
    serve, so pooling their baselines would confound the comparison) and
    robust SE clustered on participant (a participant may have several
    matches). With ``causes`` the model is cause-specific: only early ends for
    those reasons are events, the others censor (Prentice et al. 1978).
    Associations only (``causal = False``). Returns RESULT_COLUMNS rows, or one
    ``not estimable`` row when there are no events or no variation.
    """
    if causes is not None:
        match_rows = match_rows.assign(event=(match_rows["event"].astype(int) == 1)
                                       & match_rows["early_cause"].isin(list(causes))).astype({"event": int})
        method_prefix = f"{method_prefix}, cause-specific ({', '.join(causes)})"
    covariates = [c for c in covariates if c in match_rows.columns]
    d, terms, notes = _design(match_rows, covariates)
    if not terms or len(d) == 0 or d["event"].sum() == 0:
        return make_results(
            [
                {
                    "programme_id": programme_id,
                    "analysis": "retention",
                    "estimand": "hazard_ratio",
                    "endpoint": endpoint,
                    "group": ",".join(covariates),
                    "n": len(d),
                    "events": int(d["event"].sum()) if len(d) else 0,
                    "method": method_prefix,
                    "causal": False,
                    "note": "not estimable: no events or no variation in the covariates; " + "; ".join(notes),
                }
            ]
        )
    sv = _survival()
    cl = cluster_col if cluster_col in d.columns and d[cluster_col].duplicated().any() else None
    st = strata_col if strata_col in d.columns and d[strata_col].nunique() > 1 else None
    model = sv.CoxModel().fit(d, duration_col=time_col, event_col="event", covariates=terms, cluster_col=cl,
                              strata_col=st)
    method = (f"{method_prefix}, Efron ties" + (f", stratified by {st}" if st else "")
              + (f", robust SE by {cl}" if cl else ""))
    return _cox_rows(model, terms, programme_id, "retention", endpoint, method, notes, len(d))


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


def completion_proportions(
    participant_rows: pd.DataFrame, by: Sequence[str] = ("programme_id", "risk_level"), conf_level: float = 0.95
) -> pd.DataFrame:
    """Share completing and share dropping out among participants whose programme ended.

    Estimand: among participants with a recorded programme end by the cutoff,
    the proportion that completed and the proportion that dropped out (Wilson
    CI), overall, per programme and per risk level. Participants still in the
    programme are not in the denominator, so early in a programme's life these
    shares over-represent early endings; the cumulative incidence from
    :func:`competing_reasons` on the same rows does not have that problem.
    """
    ended = participant_rows.loc[participant_rows["event"] == 1]
    parts = [("all", "all", ended)]
    for b in by:
        for level, sub in ended.groupby(b, dropna=False, sort=True):
            parts.append((str(level) if b == "programme_id" else "all", f"{b}={level}", sub))
    rows = []
    for pid, label, sub in parts:
        n = len(sub)
        for what in ("completed", "dropped_out"):
            k = int((sub["end_cause"] == what).sum())
            lo, hi = wilson_interval(k, n, conf_level)
            rows.append(
                {
                    "programme_id": pid,
                    "analysis": "retention",
                    "estimand": f"share_{what}",
                    "endpoint": "PARTICIPANT_END",
                    "group": label,
                    "estimate": k / n if n else math.nan,
                    "ci_lower": lo,
                    "ci_upper": hi,
                    "n": n,
                    "events": k,
                    "method": "proportion among ended participants, Wilson CI",
                    "causal": False,
                    "note": (f"only {n} ended participants: imprecise") if n < SMALL_N else "",
                }
            )
    return make_results(rows)


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def plot_km(data: pd.DataFrame, by: str = "programme_id", title: str = "", xlabel: str = "months",
            ylabel: str = "still active", max_groups: int = 8, min_at_risk: int = 10,
            few_events: str = "{group}: not shown (fewer than {t} endings)"):
    """Kaplan-Meier step curves per group (months on the x axis); returns a matplotlib Figure.

    Each curve stops at the last time with at least ``min_at_risk`` units at risk
    (disclosure rule; groups with fewer from the start are not drawn). A curve
    with 1 to ``min_at_risk - 1`` steps is replaced by a legend entry
    (``few_events``): its steps would count the endings.
    """
    from matplotlib.figure import Figure

    sv = _survival()
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    for level, sub in list(data.groupby(by, sort=True))[:max_groups]:
        km = sv.KaplanMeier().fit(sub["time"].to_numpy(float), sub["event"].to_numpy(int), label=str(level))
        tab = km.table_.loc[km.table_["n_risk"] >= min_at_risk]
        if tab.empty:
            continue
        if 0 < int((tab["n_event"] > 0).sum()) < min_at_risk:
            ax.plot([], [], ls=":", label=few_events.format(group=level, t=min_at_risk))
            continue
        t = np.r_[0.0, tab["time"].to_numpy(float)] / DAYS_PER_MONTH
        s = np.r_[1.0, tab["survival"].to_numpy(float)]
        lo = np.r_[1.0, tab["ci_lower"].to_numpy(float)]
        hi = np.r_[1.0, tab["ci_upper"].to_numpy(float)]
        (line,) = ax.step(t, s, where="post", label=f"{level} (n={len(sub)})")
        ax.fill_between(t, lo, hi, step="post", alpha=0.15, color=line.get_color())
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_cuminc(curves: pd.DataFrame, title: str = "", xlabel: str = "months", ylabel: str = "cumulative incidence",
                min_at_risk: int = 10, few_events: str = "{group}: not shown (fewer than {t} endings)",
                withheld: Iterable[str] = (), withheld_label: str = "{group}: not shown"):
    """Cumulative incidence curves per reason from :func:`competing_reasons`; returns a Figure.

    Curves stop at the last time with at least ``min_at_risk`` units at risk; a
    curve with 1 to ``min_at_risk - 1`` steps, or of a reason in ``withheld``
    (its results are withheld, see :func:`evaluation.publish.disclosure.withhold_pooled`),
    is replaced by a legend entry.
    """
    withheld = {str(w) for w in withheld}
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    for reason, sub in curves.groupby("reason", sort=False):
        if "n_risk" in sub.columns:
            sub = sub.loc[sub["n_risk"] >= min_at_risk]
        if sub.empty:
            continue
        if 0 < int((np.diff(np.r_[0.0, sub["estimate"].to_numpy(float)]) > 0).sum()) < min_at_risk:
            ax.plot([], [], ls=":", label=few_events.format(group=reason, t=min_at_risk))
            continue
        if str(reason) in withheld:
            ax.plot([], [], ls=":", label=withheld_label.format(group=reason))
            continue
        t = np.r_[0.0, sub["time"].to_numpy(float)] / DAYS_PER_MONTH
        ax.step(t, np.r_[0.0, sub["estimate"].to_numpy(float)], where="post", label=str(reason))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_workforce(flow: pd.DataFrame, group: str = "all", title: str = "", ylabel: str = "active volunteers",
                   labels: tuple[str, str] = ("joiners", "leavers"), threshold: int = 10,
                   note: str = "counts rounded to multiples of {base}"):
    """Active volunteers at the end of each quarter, with joiners and leavers as bars; returns a Figure.

    Disclosure: the figure draws the published table of :func:`protect_workforce`
    (controlled rounding to multiples of ``threshold``), whatever it is given
    (the raw :func:`workforce_flow` or the protected table), so it shows
    exactly the numbers of the table and nothing more. ``note`` (with
    ``{base}``) is printed in the corner.
    """
    from matplotlib.figure import Figure

    pub = protect_workforce(flow, threshold=threshold)
    f = pub.loc[pub["group"].astype(str) == group]
    base = pub.attrs.get("rounding_base", threshold)

    def shown(col: str) -> np.ndarray:
        return f[col].to_numpy(dtype=float, na_value=np.nan)

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    x = np.arange(len(f))
    ax.bar(x - 0.2, np.nan_to_num(shown("joiners")), width=0.4, label=labels[0], color="#4c9f70")
    ax.bar(x + 0.2, -np.nan_to_num(shown("leavers")), width=0.4, label=labels[1], color="#c0504d")
    ax.plot(x, shown("active_end"), marker="o", color="#1f4e79", label=ylabel)
    ax.axhline(0, color="grey", lw=0.5)
    step = max(1, len(f) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels(f["quarter"].to_numpy()[::step], rotation=90, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    ax.text(0.99, 0.01, note.format(base=base), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            color="grey")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# simulation with known mechanism effects (tests, benchmarks, power planning)
# --------------------------------------------------------------------------------------

DEFAULT_SIM_LOG_HR: dict[str, float] = {
    "lived_experience": -0.4,
    "recruitment_channel[personal_invitation]": -0.3,
    "recruitment_channel[website_social_media]": 0.3,
    "basic_training": -0.5,
    "supervision": -0.3,
    "recognition": -0.2,
}


def simulate_volunteer_retention(
    n: int,
    seed: int,
    log_hr: Mapping[str, float] | None = None,
    base_hazard_per_year: float = 0.6,
    cutoff_date: str = "2026-06-30",
    years_of_intake: float = 3.0,
) -> dict[str, Any]:
    """Volunteers and support events with known log hazard ratios of stopping.

    Data-generating mechanism (vectorised, exact): a volunteer starts uniformly
    over ``years_of_intake`` years before the cutoff; has lived experience with
    probability 0.3; is recruited through local_network (0.5),
    website_social_media (0.3) or personal_invitation (0.2); gets basic
    training after an exponential delay (mean 45 days; 15% never), a first
    supervision after an exponential delay (mean 90 days; 25% never) and
    recognition after a uniform delay of 60-540 days (50% never). The stopping
    hazard is ``base_hazard_per_year / 365.25 * exp(x(t)' beta)`` with the
    support covariates switching on at their delays; stop times are drawn by
    inverting the piecewise-constant cumulative hazard, censored at the
    cutoff. Support events after the stop are not recorded (as in real data).

    Returns
    -------
    dict
        ``volunteers`` and ``volunteer_support`` tables (typed as after
        validation), ``cutoff_date`` and the true ``log_hr``.
    """
    beta = dict(DEFAULT_SIM_LOG_HR if log_hr is None else log_hr)
    rng = np.random.default_rng(seed)
    cutoff = pd.Timestamp(cutoff_date)
    start_day = -rng.uniform(0, years_of_intake * 365.25, n).round()
    follow = -start_day  # days from start to cutoff
    lived = rng.random(n) < 0.3
    channel = rng.choice(["local_network", "website_social_media", "personal_invitation"], n, p=[0.5, 0.3, 0.2])
    delays = {
        "basic_training": np.where(rng.random(n) < 0.85, np.ceil(rng.exponential(45, n)), np.inf),
        "supervision": np.where(rng.random(n) < 0.75, np.ceil(rng.exponential(90, n)), np.inf),
        "recognition": np.where(rng.random(n) < 0.5, np.ceil(rng.uniform(60, 540, n)), np.inf),
    }
    lp0 = beta.get("lived_experience", 0.0) * lived
    for lev in ("personal_invitation", "website_social_media"):
        lp0 = lp0 + beta.get(f"recruitment_channel[{lev}]", 0.0) * (channel == lev)
    h0 = base_hazard_per_year / 365.25
    mechs = list(SUPPORT_KINDS)
    d = np.column_stack([delays[m] for m in mechs])  # n x 3
    order = np.argsort(d, axis=1)
    bounds = np.column_stack([np.zeros(n), np.take_along_axis(d, order, axis=1)])  # n x 4
    coefs = np.array([beta.get(m, 0.0) for m in mechs])
    # linear predictor on each of the 4 segments: segment k has the first k switched on
    seg_lp = np.column_stack(
        [lp0] + [lp0 + np.cumsum(coefs[order], axis=1)[:, k] for k in range(3)]
    )
    rate = h0 * np.exp(seg_lp)
    nxt = np.column_stack([bounds[:, 1:], np.full(n, np.inf)])
    with np.errstate(invalid="ignore"):
        seg_len = np.where(np.isinf(bounds), 0.0, nxt - bounds)  # segments never reached have length 0
    seg_h = rate * seg_len
    cum_h = np.column_stack([np.zeros(n), np.cumsum(seg_h, axis=1)[:, :-1]])
    e = rng.exponential(1.0, n)
    k = (cum_h <= e[:, None]).sum(axis=1) - 1
    rows = np.arange(n)
    t_stop = bounds[rows, k] + (e - cum_h[rows, k]) / rate[rows, k]
    t_stop = np.ceil(t_stop)  # whole days, at least 1
    stopped = t_stop <= follow
    start = cutoff + pd.to_timedelta(start_day, unit="D")
    end = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    end[stopped] = start[stopped] + pd.to_timedelta(t_stop[stopped], unit="D")
    reasons = rng.choice(["time_constraints", "work_or_study", "moved", "dissatisfied"], n)
    vid = np.array([f"SIMV{i:06d}" for i in range(n)])
    volunteers = pd.DataFrame(
        {
            "volunteer_id": vid,
            "programme_id": "SIM",
            "sex": rng.choice(["male", "female"], n),
            "lived_experience": pd.array(lived, dtype="boolean"),
            "recruitment_channel": channel,
            "start_date": start,
            "end_date": end.to_numpy(),
            "end_reason": np.where(stopped, reasons, None),
        }
    )
    ev = []
    horizon = np.where(stopped, t_stop, follow)
    kinds = {"basic_training": "basic_training", "supervision": "group_supervision", "recognition": "recognition"}
    for m in mechs:
        ok = delays[m] < horizon
        ev.append(pd.DataFrame({"volunteer_id": vid[ok], "event_date": start[ok] + pd.to_timedelta(delays[m][ok], unit="D"),
                                "kind": kinds[m]}))
    support = pd.concat(ev, ignore_index=True)
    support.insert(0, "event_id", [f"SIME{i:07d}" for i in range(len(support))])
    return {"volunteers": volunteers, "volunteer_support": support, "cutoff_date": cutoff, "log_hr": beta}


# --------------------------------------------------------------------------------------
# report: one call per notebook step, outputs through evaluation.publish.disclosure
# --------------------------------------------------------------------------------------

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Retention of volunteers, matches and participants",
        "months": "months since start",
        "active": "still active",
        "match_running": "no early ending yet",
        "cuminc": "cumulative incidence",
        "volunteers": "active volunteers",
        "joiners": "joiners",
        "leavers": "leavers",
        "km_volunteers": "Volunteers still active, by programme",
        "km_matches": "Matches without early ending, by programme",
        "cif_reasons": "Why volunteers stop (competing reasons)",
        "workforce": "Volunteer workforce per quarter (all programmes)",
        "rounded_note": "counts rounded to multiples of {base}",
        "few_events": "{group}: not shown (fewer than {t} endings)",
        "withheld": "{group}: not shown (with the programmes' own figures it would reveal a small number)",
        "median": "Half of the volunteers had stopped after {m} months (95% CI {lo} to {hi}).",
        "median_not": "More than half of the volunteers were still active at the end of follow-up.",
        "ret12": "{p}% of volunteers were still active {h} months after their start (95% CI {lo}% to {hi}%), "
                 "based on {n} volunteers.",
        "early12": "{p}% of matches had ended early by {h} months (95% CI {lo}% to {hi}%), based on {n} matches.",
        "training": "Volunteers from the moment they had basic training stopped {dir} often (hazard ratio {hr}, "
                    "95% CI {lo} to {hi}); this is an association in observational data, not proof of an effect.",
        "more": "more",
        "less": "less",
        "unclear": "neither clearly more nor less",
        "no_volunteers": "No volunteers in the data for this selection: retention cannot be estimated.",
        "small": "Few volunteers ({n}): all figures are imprecise.",
    },
    "nl": {
        "title": "Behoud van vrijwilligers, koppelingen en deelnemers",
        "months": "maanden sinds start",
        "active": "nog actief",
        "match_running": "nog niet voortijdig beëindigd",
        "cuminc": "cumulatieve incidentie",
        "volunteers": "actieve vrijwilligers",
        "joiners": "instroom",
        "leavers": "uitstroom",
        "km_volunteers": "Vrijwilligers nog actief, per programma",
        "km_matches": "Koppelingen zonder voortijdig einde, per programma",
        "cif_reasons": "Waarom vrijwilligers stoppen (concurrerende redenen)",
        "workforce": "Vrijwilligersbestand per kwartaal (alle programma's)",
        "rounded_note": "aantallen afgerond op veelvouden van {base}",
        "few_events": "{group}: niet getoond (minder dan {t} beëindigingen)",
        "withheld": "{group}: niet getoond (met de cijfers van de programma's zelf zou een klein aantal af te "
                    "leiden zijn)",
        "median": "De helft van de vrijwilligers was na {m} maanden gestopt (95%-BI {lo} tot {hi}).",
        "median_not": "Meer dan de helft van de vrijwilligers was aan het einde van de follow-up nog actief.",
        "ret12": "{p}% van de vrijwilligers was {h} maanden na de start nog actief (95%-BI {lo}% tot {hi}%), "
                 "op basis van {n} vrijwilligers.",
        "early12": "{p}% van de koppelingen was binnen {h} maanden voortijdig beëindigd (95%-BI {lo}% tot {hi}%), "
                   "op basis van {n} koppelingen.",
        "training": "Vrijwilligers stopten vanaf hun basistraining {dir} vaak (hazard ratio {hr}, 95%-BI {lo} tot {hi}); "
                    "dit is een samenhang in observationele gegevens, geen bewijs van effect.",
        "more": "vaker",
        "less": "minder",
        "unclear": "niet duidelijk vaker of minder",
        "no_volunteers": "Geen vrijwilligers in de gegevens voor deze selectie: behoud is niet te schatten.",
        "small": "Weinig vrijwilligers ({n}): alle cijfers zijn onnauwkeurig.",
    },
}


def _lang(language: str, texts: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The texts of one language (``_TEXT`` unless another table is given)."""
    texts = _TEXT if texts is None else texts
    if language not in texts:
        raise ValueError(f"language must be 'nl' or 'en', got {language!r}")
    return texts[language]


def _fmt(x: float, language: str, digits: int = 1) -> str:
    s = f"{x:.{digits}f}"
    return s.replace(".", ",") if language == "nl" else s


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


def published_rows(analysis: Mapping[str, Any], endpoints: Sequence[str], estimands: Sequence[str],
                   threshold: int = 10) -> pd.DataFrame:
    """Rows of the results for the given endpoints and estimands, protected by
    :func:`evaluation.publish.disclosure.protect_results`, with the columns a reader needs."""
    from evaluation.publish import disclosure

    res = analysis["results"]
    keep = res["endpoint"].isin(list(endpoints)) & res["estimand"].isin(list(estimands))
    cols = ["programme_id", "endpoint", "estimand", "group", "estimate", "ci_lower", "ci_upper", "p_value", "n",
            "events", "note"]
    return disclosure.protect_results(res.loc[keep], threshold=threshold)[cols].reset_index(drop=True)


def key_results(analysis: Mapping[str, Any], threshold: int = 10) -> pd.DataFrame:
    """The main published rows (overall and per programme), protected, for display in the notebook."""
    from evaluation.publish import disclosure

    res = analysis["results"]
    keep = res["estimand"].isin(["median_months", "retention_12m", "no_early_end_by_planned_end", "share_completed",
                                 "share_dropped_out"]) | (res["estimand"].str.startswith("hazard_ratio"))
    keep &= ~res["group"].astype(str).str.startswith(("programme_type=", "organisation_model=", "risk_level="))
    cols = ["programme_id", "endpoint", "estimand", "group", "estimate", "ci_lower", "ci_upper", "n", "events", "note"]
    return disclosure.protect_results(res.loc[keep], threshold=threshold)[cols].reset_index(drop=True)


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


def retention_analysis(
    tables: Mapping[str, pd.DataFrame],
    programmes: Sequence[Mapping[str, Any]],
    cutoff_date: Any,
    programme_id: str = "all",
    horizons_months: Sequence[float] = (6, 12, 24),
    landmark_months: float = 3,
    match_landmark_days: float = 60,
    programme_results: Any = None,
) -> dict[str, Any]:
    """Run every retention analysis on validated tables; returns a dict.

    Keys: ``results`` (RESULT_COLUMNS rows: KM medians and retention by
    programme, programme type and organisation model; competing reasons;
    Cox models of stopping and of early match ending with PH tests; landmark
    analyses; circle-level COSA estimates; participant completion and
    dropout), ``workforce`` (quarterly flow), ``tenure``, ``matches``,
    ``circles``, ``participants`` (row-level analysis datasets: never
    publish these), ``reason_curves`` (Aalen-Johansen curves), ``notes``
    (analyses skipped and why).

    ``programme_results`` (for ``programme_id == "all"``): the programmes'
    published retention rows (DataFrame or CSV path). Counts of all
    programmes that would give a programme's ``"<10"`` back by subtraction
    are marked in ``results["withhold"]`` and withheld on publication
    (:func:`evaluation.publish.disclosure.withhold_pooled`); estimates are unchanged.
    """
    t, progs = select_programme(tables, programmes, programme_id)
    cutoff = _cutoff(cutoff_date)
    empty = pd.DataFrame()
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    out: dict[str, Any] = {"notes": notes, "programme_id": programme_id, "horizons_months": list(horizons_months)}
    by_prog = ("programme_id", "programme_type", "organisation_model")
    vols = t.get("volunteers", empty)
    out["tenure"] = ten = volunteer_tenure(vols, cutoff) if len(vols) else empty
    out["reason_curves"] = empty
    if len(ten):
        parts.append(km_summary(ten, by_prog, horizons_months, progs, endpoint="VOLUNTEER_STOP"))
        if ten["event"].sum():
            res, curves = competing_reasons(ten, "end_reason", [r for r in VOLUNTEER_END_REASONS
                                                                 if r in set(ten["end_reason"])],
                                            horizons_months, programme_id)
            parts.append(res)
            out["reason_curves"] = curves
        sup = t.get("volunteer_support", empty)
        if len(sup) and ten["event"].sum() >= 5:
            ep = volunteer_episodes(vols, sup, cutoff)
            out["episodes_rows"] = len(ep)
            try:
                _, cox = stopping_cox(ep, programme_id=programme_id)
                parts.append(cox)
            except ValueError as exc:
                notes.append(f"Cox model of volunteer stopping not estimable: {exc}")
            parts.append(training_landmark(vols, sup, cutoff, landmark_months, programme_id=programme_id))
        else:
            notes.append("Cox model of volunteer stopping skipped: no support events or fewer than 5 stops")
        out["workforce"] = workforce_flow(vols, cutoff)
    else:
        notes.append("no volunteers: volunteer retention not estimable")
        out["workforce"] = empty
    m, p = t.get("matches", empty), t.get("participants", empty)
    out["matches"] = out["circles"] = empty
    if len(m) and len(p):
        md = match_duration(m, p, vols, progs, cutoff)
        out["matches"] = md
        single = md.loc[md["circle_id"].isna()]
        if len(single):
            parts.append(km_summary(single, by_prog, horizons_months, progs, endpoint="MATCH_EARLY_END",
                                    estimand_prefix="no_early_end", final_estimand="no_early_end_by_planned_end"))
            if single["event"].sum():
                res, _ = competing_reasons(single, "early_cause", list(MATCH_EARLY_CAUSES), horizons_months,
                                           programme_id, endpoint="MATCH_EARLY_END")
                parts.append(res)
            parts.append(match_cox(single, programme_id=programme_id))
            parts.append(match_cox(single, programme_id=programme_id, causes=MATCH_BREAKDOWN_CAUSES,
                                   endpoint="MATCH_BREAKDOWN"))
            contacts = t.get("contacts", empty)
            if len(contacts):
                lm = contacts_landmark(single, contacts, match_landmark_days)
                lmres = match_cox(lm, covariates=("contacts_per_month_early",), programme_id=programme_id,
                                  endpoint="MATCH_EARLY_END",
                                  method_prefix=f"landmark Cox at {match_landmark_days:g} days")
                lmres.loc[lmres["estimand"] == "hazard_ratio", "estimand"] = "hazard_ratio_landmark"
                lmres["note"] = lmres["note"].astype(str) + (
                    f"; per extra contact a month in the first {match_landmark_days:g} days, among "
                    f"matches still running then ({lm.attrs['excluded_before_landmark']} ended earlier)")
                parts.append(lmres)
        circ = circle_duration(md, cutoff)
        out["circles"] = circ
        if len(circ):
            parts.append(km_summary(circ, ("programme_id",), horizons_months, progs, endpoint="CIRCLE_EARLY_END",
                                    estimand_prefix="no_early_end", final_estimand="no_early_end_by_planned_end"))
            if circ["event"].sum():
                res, _ = competing_reasons(circ, "early_cause", list(MATCH_EARLY_CAUSES), horizons_months,
                                           programme_id, endpoint="CIRCLE_EARLY_END")
                parts.append(res)
    else:
        notes.append("no matches: match duration not estimable")
    if len(p):
        pr = participant_retention(p, cutoff)
        out["participants"] = pr
        if len(pr):
            parts.append(completion_proportions(pr))
            if pr["event"].sum():
                res, _ = competing_reasons(pr, "end_cause", list(PARTICIPANT_CAUSES), horizons_months, programme_id,
                                           endpoint="PARTICIPANT_END")
                parts.append(res)
            if pr["programme_id"].nunique() > 1:
                for pid, sub in pr.groupby("programme_id", sort=True):
                    if sub["event"].sum():
                        res, _ = competing_reasons(sub, "end_cause", list(PARTICIPANT_CAUSES), horizons_months,
                                                   str(pid), endpoint="PARTICIPANT_END")
                        parts.append(res)
    else:
        out["participants"] = empty
    parts = [x for x in parts if len(x)]
    out["results"] = pd.concat(parts, ignore_index=True) if parts else make_results([])
    if programme_results is not None and programme_id == "all":
        from evaluation.publish.disclosure import withhold_pooled

        out["results"] = withhold_pooled(out["results"], programme_results)
    return out


def retention_headline(analysis: Mapping[str, Any], language: str = "nl", threshold: int = 10,
                       workforce: pd.DataFrame | None = None) -> dict[str, Any]:
    """``headline.json`` content: status, title and sentences (counts protected by :mod:`evaluation.publish.disclosure`).

    Workforce warnings come from the published (rounded) workforce table: ``workforce`` if given (the
    output of :func:`protect_workforce`), else ``analysis["workforce"]`` protected here.
    """
    from evaluation.publish import disclosure

    tx = _lang(language)
    res = analysis["results"]
    ten = analysis["tenure"]
    if not len(ten):
        return {"status": "not_estimable", "title": tx["title"], "sentences": [tx["no_volunteers"]]}
    sentences = []
    status = "ok"
    allrow = res.loc[(res["endpoint"] == "VOLUNTEER_STOP") & (res["group"] == "all")].set_index("estimand")
    if "median_months" in allrow.index:
        r = allrow.loc["median_months"]
        if np.isfinite(r["estimate"]):
            lo = _fmt(r["ci_lower"], language) if np.isfinite(r["ci_lower"]) else "?"
            hi = _fmt(r["ci_upper"], language) if np.isfinite(r["ci_upper"]) else ("niet bereikt" if language == "nl"
                                                                                   else "not reached")
            sentences.append(tx["median"].format(m=_fmt(r["estimate"], language), lo=lo, hi=hi))
        else:
            sentences.append(tx["median_not"])
    horizons = list(analysis.get("horizons_months") or [12])
    h = 12 if 12 in horizons else horizons[0]
    key = f"retention_{h:g}m"
    if key in allrow.index and np.isfinite(allrow.loc[key, "estimate"]):
        r = allrow.loc[key]
        sentences.append(disclosure.protect_sentence(
            tx["ret12"], {"n": r["n"]}, threshold, language, p=_fmt(100 * r["estimate"], language, 0),
            lo=_fmt(100 * r["ci_lower"], language, 0), hi=_fmt(100 * r["ci_upper"], language, 0), h=f"{h:g}"))
    mrow = res.loc[(res["endpoint"] == "MATCH_EARLY_END") & (res["group"] == "all")
                   & (res["estimand"] == f"no_early_end_{h:g}m")]
    if len(mrow) and np.isfinite(mrow["estimate"].iloc[0]):
        r = mrow.iloc[0]
        sentences.append(disclosure.protect_sentence(
            tx["early12"], {"n": r["n"]}, threshold, language, p=_fmt(100 * (1 - r["estimate"]), language, 0),
            lo=_fmt(100 * (1 - r["ci_upper"]), language, 0), hi=_fmt(100 * (1 - r["ci_lower"]), language, 0),
            h=f"{h:g}"))
    tr = res.loc[(res["endpoint"] == "VOLUNTEER_STOP") & (res["estimand"] == "hazard_ratio")
                 & (res["group"] == "basic_training")]
    if len(tr) and np.isfinite(tr["estimate"].iloc[0]) and tr["n"].iloc[0] >= threshold:
        r = tr.iloc[0]
        unclear = r["ci_lower"] <= 1 <= r["ci_upper"]
        sentences.append(tx["training"].format(dir=tx["unclear"] if unclear else (
                                                   tx["less"] if r["estimate"] < 1 else tx["more"]),
                                               hr=_fmt(r["estimate"], language, 2), lo=_fmt(r["ci_lower"], language, 2),
                                               hi=_fmt(r["ci_upper"], language, 2)))
    wf = workforce if workforce is not None else analysis["workforce"]
    warns = _warning_rows(wf, language, threshold) if len(wf) else []
    warns = [(g, q, w) for g, q, w in warns if g == "all" or analysis["programme_id"] != "all"]
    if warns:
        status = "warning"
        label = _wf_text(language)["all"]
        sentences.extend(("Waarschuwing vrijwilligersbestand: " if language == "nl" else "Workforce warning: ")
                         + f"{label if g == 'all' else g} ({q}): {w}" for g, q, w in warns)
    if len(ten) < SMALL_N:
        status = "warning"
        sentences.append(disclosure.protect_sentence(tx["small"], {"n": len(ten)}, threshold, language))
    disclosure.check_sentences(sentences, threshold)
    return {"status": status, "title": tx["title"], "sentences": sentences}


def write_outputs(output_dir: Any, results: pd.DataFrame, headline: Mapping[str, Any],
                  tables: Mapping[str, pd.DataFrame] | None = None, figures: Mapping[str, Any] | None = None,
                  threshold: int = 10) -> list[Any]:
    """Publish through :func:`evaluation.publish.writer.publish_outputs`; returns the list of files written."""
    from evaluation.publish.writer import publish_outputs

    written = publish_outputs(output_dir, results, headline, tables, figures, threshold=threshold)
    files: list[Any] = []
    for v in written.values():
        files.extend(v if isinstance(v, list) else [v])
    return files


def retention_outputs(analysis: Mapping[str, Any], output_dir: Any, language: str = "nl",
                      threshold: int = 10) -> dict[str, Any]:
    """Figures, protected tables, headline and results of :func:`retention_analysis`, written to ``output_dir``.

    Returns ``{"headline": ..., "files": [...], "figures": [png paths]}``.
    """

    tx = _lang(language)
    figures = {}
    if len(analysis["tenure"]):
        figures["km_volunteers"] = plot_km(analysis["tenure"], "programme_id", tx["km_volunteers"], tx["months"],
                                           tx["active"], min_at_risk=threshold, few_events=tx["few_events"])
    if len(analysis["reason_curves"]):
        res = analysis["results"]
        marks = res.get(WITHHOLD_COLUMN, pd.Series("", index=res.index)).fillna("").astype(str)
        withheld = set(res.loc[(marks != "") & (res["endpoint"] == "VOLUNTEER_STOP")
                               & (res["programme_id"].astype(str) == str(analysis["programme_id"])), "group"])
        figures["cif_reasons"] = plot_cuminc(analysis["reason_curves"], tx["cif_reasons"], tx["months"], tx["cuminc"],
                                             min_at_risk=threshold, few_events=tx["few_events"], withheld=withheld,
                                             withheld_label=tx["withheld"])
    md = analysis["matches"]
    if len(md) and md["circle_id"].isna().any():
        figures["km_matches"] = plot_km(md.loc[md["circle_id"].isna()], "programme_id", tx["km_matches"],
                                        tx["months"], tx["match_running"], min_at_risk=threshold,
                                        few_events=tx["few_events"])
    tables = {}
    wf = analysis["workforce"]
    wf_pub = None
    if len(wf):
        # controlled rounding (see protect_workforce): table, figure and warnings show the same rounded counts
        wf_pub = protect_workforce(wf, threshold=threshold, language=language)
        figures["workforce"] = plot_workforce(wf_pub, "all", tx["workforce"], tx["volunteers"],
                                              (tx["joiners"], tx["leavers"]), threshold, note=tx["rounded_note"])
        tables["workforce_flow"] = wf_pub
    headline = retention_headline(analysis, language, threshold, workforce=wf_pub)
    files = write_outputs(output_dir, analysis["results"], headline, tables, figures, threshold)
    return {"headline": headline, "files": files, "figures": [f for f in files if str(f).endswith(".png")]}
