"""Recidivism analysis datasets, CDISC ADaM ADTTE style (docs/methods.md, section 'Analysis datasets').

One row per person and endpoint, with origin date, end date, time in days, a
censoring flag, a description, time at risk and the covariates used later, so
that every estimate can be traced back to these rows and, through
``source_event_ids``, to the judicial records that made them.

Censoring flag ``cnsr`` (recidivism endpoints)
----------------------------------------------
==== =====================================================================
0    event: first counted new case of the endpoint within follow-up
1    censored at the data cutoff (administrative censoring)
2    death (competing event: ends follow-up, not treated as censoring in
     cumulative-incidence estimates)
3    emigration (competing event, as death)
4    censored at the person's end of observation (``observation_end``)
==== =====================================================================

Counting rules (WODC Recidivemonitor)
-------------------------------------
* A case counts when its **offence date** lies strictly after
  ``follow_up_start`` (``count_start_day=False``, the WODC rule: an offence on
  the start day may belong to the index case) or on/after it
  (``count_start_day=True``, a sensitivity analysis).
* Cases ending in acquittal or technical dismissal never count; all other
  disposals, including prosecutor sanctions, policy dismissals and pending
  cases, count (``counted_disposals``).
* Cases with disposal ``unknown`` (a source without disposals, e.g. an
  arrest register) count, like pending cases; their number is warned.
* Follow-up ends at the first of: the first counted case of the endpoint,
  death, emigration, the person's ``observation_end`` (censoring, flag 4),
  the data cutoff. A case on the same day as death or emigration counts
  (the offence happened while the person was at risk). When death and
  emigration fall on the same day, death is recorded; death or emigration
  on the ``observation_end`` day is recorded as death or emigration.
* Offence dates known to the week or month (``date_precision``; the date is
  the first day of the week or month): a case whose week or month contains
  the start of follow-up is counted from the first countable day (the day
  after ``follow_up_start``, or that day with ``count_start_day``), never
  dropped, and a :class:`UserWarning` gives their number; cases whose whole
  week or month lies before the start are before follow-up. A missing
  precision is ``day``.
* Days in detention after the start of follow-up are not days at risk for
  the *rates* (``time_at_risk``, ``exposure_days``: new cases per
  person-year at risk). The time-to-event estimates (Kaplan-Meier, Cox,
  RMST, cumulative incidence) use ``time``, the calendar clock since the
  start of follow-up with detention included (docs/methods.md, section
  'Recidivism measures', 'Time scale of time-to-event estimates'). Day
  arithmetic: follow-up covers the days ``origin + 1 .. end`` (``time = end -
  origin`` days); a detention period covers the days ``start .. release - 1``
  (the release day is a day at liberty); an open detention period runs to the
  end of follow-up. ``time_at_risk`` is ``time`` minus the overlap.

Endpoints
---------
GENERAL       any counted case.
SERIOUS       ``max_penalty_years >= serious_threshold_years`` or
              ``pretrial_detention_allowed`` is true.
VERY_SERIOUS  ``max_penalty_years >= very_serious_threshold_years``.
SPECIAL       ``offence_category`` equals the person's index offence category,
              or the category given for the programme in
              ``special_categories`` (for COSA: ``"sexual"``).
CUSTODIAL     ``custodial`` is true, or (``custodial`` empty)
              ``custodial_days > 0``, or ``kind`` is ``return_to_prison``;
              a custodial case of unknown length counts.

An ``unknown`` or ``other`` offence category (of the case or of the index
offence) never makes a case SPECIAL (:data:`NOT_SPECIAL_CATEGORIES`). A case with neither ``max_penalty_years`` nor
``pretrial_detention_allowed`` cannot be classified as (very) serious and
does not count for those endpoints; a case with neither ``custodial`` nor
``custodial_days`` does not count as custodial. Both
situations raise a :class:`UserWarning` with the number of cases affected,
so that the reader knows the (very) serious/custodial rates are lower bounds.

References
----------
Wartna, B.S.J. et al. (2011). *Recidivemonitor: Documentation of the WODC
recidivism monitor.* WODC, The Hague.
CDISC (2012). *ADaM Basic Data Structure for Time-to-Event Analyses (ADTTE)*.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from evaluation.validation.rules import (
    contract_values,
    declared_covariates,
    parse_covariate_values,
    period_last_day,
)

#: Offence categories that never make a case SPECIAL: ``unknown`` (missing) and the residual
#: ``other`` (two offences of 'other' are not known to be of the same kind; with them, SPECIAL
#: equalled GENERAL on the Rossi trial, where every offence is 'other').
NOT_SPECIAL_CATEGORIES = frozenset({"unknown", "other"})

ENDPOINTS: tuple[str, ...] = ("GENERAL", "SERIOUS", "VERY_SERIOUS", "SPECIAL", "CUSTODIAL")
ALL_DISPOSALS: tuple[str, ...] = (
    "conviction",
    "prosecutor_sanction",
    "pending",
    "acquittal",
    "technical_dismissal",
    "policy_dismissal",
    "unknown",
)
COUNTED_DISPOSALS: tuple[str, ...] = tuple(d for d in ALL_DISPOSALS if d not in {"acquittal", "technical_dismissal"})

CNSR_EVENT, CNSR_CUTOFF, CNSR_DEATH, CNSR_EMIGRATION, CNSR_OBSERVATION_END = 0, 1, 2, 3, 4
CNSR_LABELS: dict[int, str] = {
    0: "event",
    1: "censored at data cutoff",
    2: "death (competing event)",
    3: "emigration (competing event)",
    4: "censored at end of observation",
}
#: Default of the optional ``justice_events.kind`` and ``date_precision`` (contract).
DEFAULT_EVENT_KIND, DEFAULT_DATE_PRECISION = "charge", "day"

#: Intake covariates carried into the analysis dataset (used by designs.py).
COVARIATES: tuple[str, ...] = (
    "age_at_intake",
    "sex",
    "risk_level",
    "prior_cases",
    "prior_custodial_sentences",
    "age_first_case",
    "index_offence_category",
    "employed_at_intake",
    "stable_housing_at_intake",
    "substance_problem",
    "psychiatric_problem",
)

_ID_COLUMNS = ("participant_id", "programme_id", "group", "assignment")


def _row_label(df: pd.DataFrame, idx) -> str:
    """Source row number when the typed table has ``_row``, else the index."""
    if "_row" in df.columns:
        return f"row {df.loc[idx, '_row']}"
    return f"index {idx}"


def _require_columns(df: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"table {table!r} lacks required column(s) {missing}")


def _require_values(df: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    for col in columns:
        bad = df[col].isna()
        if bad.any():
            idx = df.index[bad.to_numpy()][0]
            raise ValueError(
                f"table {table!r}, {_row_label(df, idx)}, field {col!r}: missing value "
                f"({int(bad.sum())} row(s) affected); the field is required for the analysis"
            )


def _to_datetime(df: pd.DataFrame, table: str, columns: Iterable[str]) -> pd.DataFrame:
    out = df.copy()
    for col in columns:
        if col not in out.columns:
            out[col] = pd.NaT
        try:
            out[col] = pd.to_datetime(out[col])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"table {table!r}, field {col!r}: not a date ({exc})") from exc
    return out


def _as_bool(s: pd.Series) -> pd.Series:
    """Boolean column as float 1/0 with NaN for missing (keeps missingness explicit)."""
    return s.astype("boolean").astype("Float64").astype(float)


def participant_covariates(participants: pd.DataFrame) -> pd.DataFrame:
    """Intake covariates per participant, with types ready for modelling.

    ``age_at_intake`` is ``intake_date.year - birth_year`` (only the birth year
    is held, so the age may be one year too high). Booleans become 1.0/0.0 with
    NaN for missing; missing values are kept (``designs.propensity_scores``
    handles them explicitly with missing indicators).
    """
    p = participants
    out = pd.DataFrame({"participant_id": p["participant_id"].astype(str).to_numpy()}, index=p.index)
    intake = pd.to_datetime(p["intake_date"])
    out["age_at_intake"] = (intake.dt.year - pd.to_numeric(p["birth_year"], errors="coerce")).astype(float)
    out["sex"] = p["sex"].astype(object)
    out["risk_level"] = p["risk_level"].astype(object)
    for col in ("prior_cases", "prior_custodial_sentences", "age_first_case"):
        out[col] = pd.to_numeric(p[col], errors="coerce").astype(float) if col in p else np.nan
    out["index_offence_category"] = p["index_offence_category"].astype(object)
    for col in ("employed_at_intake", "stable_housing_at_intake", "substance_problem", "psychiatric_problem"):
        out[col] = _as_bool(p[col]) if col in p else np.nan
    return out


def extra_covariates(
    table: pd.DataFrame | None, extract: Mapping | None, participant_ids: Iterable[str]
) -> pd.DataFrame:
    """The declared extra baseline covariates, one column per covariate, one row per person.

    ``table`` is the long ``participant_covariates`` table (participant_id,
    covariate, value) and ``extract`` the content of ``extract.yaml``, whose
    ``covariates`` declare each covariate's type (docs/methods.md, section
    'Comparison groups and designs'). Numeric values become floats, binary
    ones 1.0/0.0, categorical ones text; a person without a value, or with a
    value that does not fit the declared type, has a missing value (the
    validator quarantines such rows first). Undeclared covariates are
    ignored. Columns follow the order of the declarations; the frame is
    indexed by ``participant_ids``.
    """
    ids = pd.Index([str(i) for i in participant_ids])
    declared = declared_covariates(extract)
    out = pd.DataFrame(index=ids)
    if not declared:
        return out
    t = table if table is not None else pd.DataFrame(columns=["participant_id", "covariate", "value"])
    _require_columns(t, "participant_covariates", ("participant_id", "covariate", "value"))
    t = t[t["participant_id"].notna() & t["covariate"].notna()]
    pid = t["participant_id"].astype(str)
    true_false = contract_values()
    for name, spec in declared.items():
        rows = t[(t["covariate"].astype(str) == name).to_numpy()]
        typed, bad = parse_covariate_values(rows["value"], spec, true_false)
        typed = typed.where(~bad)
        vals = pd.Series(typed.to_numpy(), index=pid[rows.index].to_numpy())
        vals = vals[~vals.index.duplicated(keep="first")]
        col = vals.reindex(ids)
        out[name] = col.astype(float) if spec["type"] in ("numeric", "binary") else col.astype(object)
    return out


def _detention_overlap(
    ids: np.ndarray, origin: pd.Series, end: pd.Series, detention: pd.DataFrame, cutoff: pd.Timestamp
) -> np.ndarray:
    """Days in detention within follow-up days ``origin+1 .. end`` for each row."""
    base = pd.DataFrame({"participant_id": ids, "origin": origin.to_numpy(), "end": end.to_numpy()})
    base["_i"] = np.arange(len(base))
    if detention is None or len(detention) == 0:
        return np.zeros(len(base))
    d = detention[["participant_id", "start_date", "end_date"]].copy()
    d["participant_id"] = d["participant_id"].astype(str)
    m = base.merge(d, on="participant_id", how="inner")
    if m.empty:
        return np.zeros(len(base))
    # detained days: start .. release-1; open period: to the end of follow-up
    last_detained = (m["end_date"] - pd.Timedelta(days=1)).fillna(m["end"])
    lo = np.maximum(m["origin"] + pd.Timedelta(days=1), m["start_date"])
    hi = np.minimum(m["end"], last_detained)
    days = ((hi - lo).dt.days + 1).clip(lower=0)
    out = np.zeros(len(base))
    np.add.at(out, m["_i"].to_numpy(), days.to_numpy(dtype=float))
    return out


def recidivism_endpoints(
    participants: pd.DataFrame,
    justice_events: pd.DataFrame,
    detention_periods: pd.DataFrame | None,
    cutoff_date,
    serious_threshold_years: float = 4,
    very_serious_threshold_years: float = 8,
    counted_disposals: Iterable[str] = COUNTED_DISPOSALS,
    count_start_day: bool = False,
    endpoints: Iterable[str] = ENDPOINTS,
    special_categories: Mapping[str, str] | None = None,
    participant_covariates_table: pd.DataFrame | None = None,
    extract: Mapping | None = None,
) -> pd.DataFrame:
    """Derive the recidivism ADTTE dataset: one row per participant and endpoint.

    Estimand support: the rows give, per person, the time from the start of
    follow-up to the first new counted case of each endpoint (WODC
    definitions, see the module docstring), with death and emigration as
    competing events and the data cutoff as administrative censoring, plus
    the number of counted cases and the days at risk over the whole
    follow-up (for frequency per person-year at risk).

    Parameters
    ----------
    participants, justice_events, detention_periods : DataFrame
        Typed tables (``ValidationResult.tables``); ``detention_periods`` may
        be None or empty. Every justice event must belong to a person in
        ``participants`` (subset the events together with the persons).
    cutoff_date : date-like
        Data cutoff; follow-up ends there.
    serious_threshold_years, very_serious_threshold_years : float
        Statutory maximum penalty thresholds (defaults 4 and 8 years).
    counted_disposals : iterable of str
        Disposals that count (default: all except acquittal and technical
        dismissal).
    count_start_day : bool
        Count offences on the day follow-up starts (default False, WODC).
    endpoints : iterable of str
        Subset of :data:`ENDPOINTS`.
    special_categories : mapping programme_id -> offence category, optional
        Category that defines SPECIAL recidivism for a programme instead of
        each person's index offence (COSA: ``"sexual"``).
    participant_covariates_table, extract : optional
        The long ``participant_covariates`` table and the ``extract.yaml``
        content declaring its covariates; the declared covariates are added
        after :data:`COVARIATES` (see :func:`extra_covariates`) and listed in
        ``attrs["extra_covariates"]``.

    Returns
    -------
    DataFrame
        Columns ``participant_id, programme_id, group, assignment, endpoint,
        origin_date, end_date, time, cnsr, event_desc, time_at_risk,
        fu_end_date, fu_days, exposure_days, n_events, source_event_ids``
        followed by :data:`COVARIATES` and the declared extra covariates.
        ``obs_end_date`` is the end of potential follow-up (the cutoff or an
        earlier ``observation_end``). ``time``/``time_at_risk`` are days to
        the first event or censoring; ``fu_days``/``exposure_days`` are days
        (at risk) over the whole follow-up, the denominator for ``n_events``.
        ``source_event_ids`` lists the counted cases in follow-up (';'-joined,
        in offence-date order; the first one made the event).

    Raises
    ------
    ValueError
        On missing columns or required values, duplicate participants, events
        of unknown persons, unknown disposals or endpoints, follow-up starting
        after the cutoff, or death/emigration before the start of follow-up;
        the message names the table, row and field.
    """
    endpoints = tuple(endpoints)
    unknown_ep = [e for e in endpoints if e not in ENDPOINTS]
    if unknown_ep:
        raise ValueError(f"unknown endpoint(s) {unknown_ep}; choose from {list(ENDPOINTS)}")
    counted = set(counted_disposals)
    bad_disp = counted - set(ALL_DISPOSALS)
    if bad_disp:
        raise ValueError(f"counted_disposals has unknown disposal(s) {sorted(bad_disp)}")
    if very_serious_threshold_years < serious_threshold_years:
        raise ValueError("very_serious_threshold_years must be >= serious_threshold_years")
    cutoff = pd.Timestamp(cutoff_date)

    _require_columns(
        participants,
        "participants",
        ("participant_id", "programme_id", "group", "intake_date", "follow_up_start", "birth_year", "sex",
         "risk_level", "index_offence_category", "prior_cases"),
    )
    p = _to_datetime(participants, "participants", ("intake_date", "follow_up_start", "death_date", "emigration_date",
                                                      "observation_end"))
    _require_values(p, "participants", ("participant_id", "programme_id", "group", "follow_up_start"))
    p["participant_id"] = p["participant_id"].astype(str)
    dup = p["participant_id"].duplicated()
    if dup.any():
        idx = p.index[dup.to_numpy()][0]
        raise ValueError(
            f"table 'participants', {_row_label(p, idx)}, field 'participant_id': duplicate id "
            f"{p.loc[idx, 'participant_id']!r}"
        )
    late = p["follow_up_start"] > cutoff
    if late.any():
        idx = p.index[late.to_numpy()][0]
        raise ValueError(
            f"table 'participants', {_row_label(p, idx)}, field 'follow_up_start': "
            f"{p.loc[idx, 'follow_up_start'].date()} is after the cutoff {cutoff.date()} "
            f"({int(late.sum())} row(s)); such persons have no follow-up: exclude them explicitly"
        )
    for col in ("death_date", "emigration_date", "observation_end"):
        early = p[col] < p["follow_up_start"]
        if early.any():
            idx = p.index[early.to_numpy()][0]
            raise ValueError(
                f"table 'participants', {_row_label(p, idx)}, field {col!r}: before follow_up_start "
                f"({int(early.sum())} row(s)); follow-up would be negative"
            )
    if "assignment" not in p.columns:
        p["assignment"] = None

    _require_columns(
        justice_events, "justice_events", ("event_id", "participant_id", "offence_date", "offence_category", "disposal")
    )
    ev = _to_datetime(justice_events, "justice_events", ("offence_date",))
    _require_values(ev, "justice_events", ("event_id", "participant_id", "offence_date", "offence_category", "disposal"))
    ev["participant_id"] = ev["participant_id"].astype(str)
    unknown = ~ev["participant_id"].isin(set(p["participant_id"]))
    if unknown.any():
        idx = ev.index[unknown.to_numpy()][0]
        raise ValueError(
            f"table 'justice_events', {_row_label(ev, idx)}, field 'participant_id': "
            f"{ev.loc[idx, 'participant_id']!r} is not in participants ({int(unknown.sum())} row(s)); "
            "subset justice_events to the analysed participants"
        )
    bad = ~ev["disposal"].isin(ALL_DISPOSALS)
    if bad.any():
        idx = ev.index[bad.to_numpy()][0]
        raise ValueError(
            f"table 'justice_events', {_row_label(ev, idx)}, field 'disposal': unknown code "
            f"{ev.loc[idx, 'disposal']!r}"
        )
    for col in ("max_penalty_years", "pretrial_detention_allowed", "custodial_days", "custodial"):
        if col not in ev.columns:
            ev[col] = np.nan
    ev["kind"] = (ev["kind"].astype(object) if "kind" in ev.columns else pd.Series(None, index=ev.index, dtype=object))
    ev["kind"] = ev["kind"].where(ev["kind"].notna(), DEFAULT_EVENT_KIND)
    prec = ev["date_precision"].astype(object) if "date_precision" in ev.columns else pd.Series(
        None, index=ev.index, dtype=object)
    ev["date_precision"] = prec.where(prec.notna(), DEFAULT_DATE_PRECISION)
    bad_prec = ~ev["date_precision"].isin(("day", "week", "month"))
    if bad_prec.any():
        idx = ev.index[bad_prec.to_numpy()][0]
        raise ValueError(f"table 'justice_events', {_row_label(ev, idx)}, field 'date_precision': unknown code "
                         f"{ev.loc[idx, 'date_precision']!r} (day, week or month)")

    det = None
    if detention_periods is not None and len(detention_periods):
        _require_columns(detention_periods, "detention_periods", ("participant_id", "start_date"))
        det = _to_datetime(detention_periods, "detention_periods", ("start_date", "end_date"))
        _require_values(det, "detention_periods", ("participant_id", "start_date"))

    # ---- follow-up window per person (competing events and cutoff) ----
    fu_end = pd.Series(cutoff, index=p.index)
    fu_code = pd.Series(CNSR_CUTOFF, index=p.index)
    obs = p["observation_end"].notna() & (p["observation_end"] < fu_end)
    fu_end[obs] = p.loc[obs, "observation_end"]
    fu_code[obs] = CNSR_OBSERVATION_END
    obs_end = fu_end.copy()
    emi = p["emigration_date"].notna() & (p["emigration_date"] <= fu_end)
    fu_end[emi] = p.loc[emi, "emigration_date"]
    fu_code[emi] = CNSR_EMIGRATION
    dth = p["death_date"].notna() & (p["death_date"] <= fu_end)  # death wins a tie with emigration
    fu_end[dth] = p.loc[dth, "death_date"]
    fu_code[dth] = CNSR_DEATH
    person = pd.DataFrame(
        {
            "participant_id": p["participant_id"].to_numpy(),
            "origin_date": p["follow_up_start"].to_numpy(),
            "fu_end_date": fu_end.to_numpy(),
            "fu_code": fu_code.to_numpy(),
            "obs_end_date": obs_end.to_numpy(),
        }
    )

    # ---- counted cases within follow-up ----
    ev = ev.merge(person.drop(columns="obs_end_date"), on="participant_id", how="left")
    # week/month-precise dates: a period reaching past the start counts from the first countable day
    first_day = ev["origin_date"] + pd.Timedelta(days=0 if count_start_day else 1)
    straddles = (ev["date_precision"] != "day") & (ev["offence_date"] < first_day) & (
        period_last_day(ev["offence_date"], ev["date_precision"]) >= first_day)
    ev.loc[straddles, "offence_date"] = first_day[straddles]
    after = ev["offence_date"] >= first_day
    ev = ev[after & (ev["offence_date"] <= ev["fu_end_date"]) & ev["disposal"].isin(counted)].copy()
    n_straddle = int(straddles.reindex(ev.index).fillna(False).sum())
    if n_straddle:
        warnings.warn(
            f"justice_events: {n_straddle} counted case(s) are dated to a week or month that contains the start of "
            "follow-up and are counted from the first day of follow-up "
            "(docs/methods.md, section 'Recidivism measures')", UserWarning, stacklevel=2)
    n_unknown_disp = int((ev["disposal"] == "unknown").sum())
    if n_unknown_disp and "unknown" in counted:
        warnings.warn(
            f"justice_events: {n_unknown_disp} counted case(s) have disposal 'unknown' and count like pending cases",
            UserWarning, stacklevel=2)
    pen = pd.to_numeric(ev["max_penalty_years"], errors="coerce")
    pre = ev["pretrial_detention_allowed"].astype("boolean")
    cust = pd.to_numeric(ev["custodial_days"], errors="coerce")
    # custodial: the flag when given, else custodial_days > 0; a return to prison is custodial
    is_cust = ev["custodial"].astype("boolean").fillna(cust > 0) | (ev["kind"] == "return_to_prison")
    no_cust_info = ev["custodial"].isna() & cust.isna() & (ev["kind"] != "return_to_prison")
    unclassified = pen.isna() & pre.isna()
    if unclassified.any() and ({"SERIOUS", "VERY_SERIOUS"} & set(endpoints)):
        warnings.warn(
            f"justice_events: {int(unclassified.sum())} counted case(s) have neither max_penalty_years nor "
            "pretrial_detention_allowed and are not counted as (very) serious: those rates are lower bounds",
            UserWarning,
            stacklevel=2,
        )
    if no_cust_info.any() and "CUSTODIAL" in endpoints:
        warnings.warn(
            f"justice_events: {int(no_cust_info.sum())} counted case(s) lack custodial_days and are not counted "
            "as custodial: the custodial rate is a lower bound",
            UserWarning,
            stacklevel=2,
        )
    index_cat = p.set_index("participant_id")["index_offence_category"].astype(object)
    prog = p.set_index("participant_id")["programme_id"].astype(str)
    special = ev["participant_id"].map(index_cat)
    if special_categories:
        override = ev["participant_id"].map(prog).map(dict(special_categories))
        special = override.where(override.notna(), special)
    flags = {
        "GENERAL": pd.Series(True, index=ev.index),
        "SERIOUS": (pen >= serious_threshold_years).fillna(False) | pre.fillna(False).astype(bool),
        "VERY_SERIOUS": (pen >= very_serious_threshold_years).fillna(False),
        # 'other' is a residual category: two offences of it are not known to be of the same kind
        "SPECIAL": (ev["offence_category"].astype(object) == special) & ~ev["offence_category"].isin(
            list(NOT_SPECIAL_CATEGORIES)),
        "CUSTODIAL": is_cust.fillna(False).astype(bool),
    }
    ev = ev.sort_values(["participant_id", "offence_date", "event_id"], kind="mergesort")

    covs = participant_covariates(p).drop(columns="participant_id")
    covs.index = p["participant_id"].to_numpy()
    extra = extra_covariates(participant_covariates_table, extract, covs.index)
    clash = [c for c in extra.columns if c in covs.columns]
    if clash:
        raise ValueError(f"extract.yaml: covariate(s) {clash} repeat an intake covariate; rename them")
    covs = pd.concat([covs, extra], axis=1)
    frames = []
    for endpoint in endpoints:
        e = ev[flags[endpoint].reindex(ev.index).to_numpy(dtype=bool)]
        g = e.groupby("participant_id", sort=False)
        first = g["offence_date"].min()
        nev = g.size()
        ids = g["event_id"].agg(lambda s: ";".join(map(str, s)))
        out = person.copy()
        out.insert(1, "endpoint", endpoint)
        fe = out["participant_id"].map(first)
        has = fe.notna()
        out["end_date"] = out["fu_end_date"].where(~has, fe)
        out["cnsr"] = out["fu_code"].where(~has, CNSR_EVENT).astype(int)
        out["n_events"] = out["participant_id"].map(nev).fillna(0).astype(int)
        out["source_event_ids"] = out["participant_id"].map(ids).fillna("")
        frames.append(out)
    ds = pd.concat(frames, ignore_index=True)
    ds["time"] = (ds["end_date"] - ds["origin_date"]).dt.days.astype(float)
    ds["fu_days"] = (ds["fu_end_date"] - ds["origin_date"]).dt.days.astype(float)
    pid = ds["participant_id"].to_numpy()
    ds["time_at_risk"] = ds["time"] - _detention_overlap(pid, ds["origin_date"], ds["end_date"], det, cutoff)
    ds["exposure_days"] = ds["fu_days"] - _detention_overlap(pid, ds["origin_date"], ds["fu_end_date"], det, cutoff)
    ds["event_desc"] = ds["cnsr"].map(CNSR_LABELS)
    has_ev = ds["cnsr"] == CNSR_EVENT
    ds.loc[has_ev, "event_desc"] = "first new case: " + ds.loc[has_ev, "endpoint"].str.lower().str.replace("_", " ")
    meta = p.set_index("participant_id")[["programme_id", "group", "assignment"]]
    for col in ("programme_id", "group", "assignment"):
        ds[col] = ds["participant_id"].map(meta[col])
    cols = [
        "participant_id", "programme_id", "group", "assignment", "endpoint", "origin_date", "end_date", "time",
        "cnsr", "event_desc", "time_at_risk", "fu_end_date", "obs_end_date", "fu_days", "exposure_days",
        "n_events", "source_event_ids",
    ]
    ds = ds[cols]
    cov = covs.reindex(ds["participant_id"].to_numpy()).reset_index(drop=True)
    out = pd.concat([ds.reset_index(drop=True), cov], axis=1)
    out.attrs["extra_covariates"] = list(extra.columns)
    return out

