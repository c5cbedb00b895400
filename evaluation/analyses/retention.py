"""Retention of volunteers, matches and participants: one analysis shape.

Retention is measured as survival (docs/methods.md, section
'Retention'): time from a volunteer's start to stopping, time from a match's
start to its early end, and time from a participant's intake to dropout, with
the reason for ending as a competing risk. :class:`RetentionAnalysis` builds
the datasets of :mod:`evaluation.datasets.retention` from a validated intake
and estimates Kaplan-Meier summaries, Aalen-Johansen cumulative incidences,
completion proportions and Cox models (:mod:`evaluation.analyses.retention_cox`)
as :data:`evaluation.contract.results.RESULT_COLUMNS` rows.

Nothing here applies disclosure control, words or writes anything: the
publishing step (:mod:`evaluation.publish.retention_outputs`) does, when the
notebook publishes. Nothing in this module is causal (``causal = False``).

References
----------
Suissa S (2008). Immortal time bias in pharmacoepidemiology. Am J Epidemiol
167:492-499.
Fine JP, Gray RJ (1999); Aalen OO, Johansen S (1978): cumulative incidence with
competing risks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analyses.retention_cox import SMALL_N, match_cox, stopping_cox, training_landmark
from evaluation.contract.results import SUPPRESSION_THRESHOLD, make_results
from evaluation.datasets.retention import (
    DAYS_PER_MONTH,
    MATCH_BREAKDOWN_CAUSES,
    MATCH_EARLY_CAUSES,
    PARTICIPANT_CAUSES,
    SUPPORT_KINDS,
    VOLUNTEER_END_REASONS,
    _cutoff,
    _require_columns,
    analysis_cutoff,
    circle_duration,
    contacts_landmark,
    match_duration,
    participant_retention,
    programme_attributes,
    select_programme,
    volunteer_episodes,
    volunteer_tenure,
    workforce_flow,
)
from evaluation.stats import survival as sv
from evaluation.stats.proportions import wilson_interval
from evaluation.validation.supports import measure_support, not_measured_rows, usable_tables

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
            elif r["n_risk"] < SUPPRESSION_THRESHOLD:
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
# the analysis
# --------------------------------------------------------------------------------------

DEFAULT_CONFIG: dict[str, Any] = {"horizons_months": (6, 12, 24), "landmark_months": 3, "match_landmark_days": 60}
"""Settings of :meth:`RetentionAnalysis.fit` (the notebook's parameters ``horizons``, ``landmark_months``,
``match_landmark_days``)."""


class RetentionAnalysis:
    """Every retention analysis of one programme (or all programmes) at one cutoff.

    Attributes set by :meth:`fit`
    -----------------------------
    results_ : DataFrame
        :data:`~evaluation.contract.results.RESULT_COLUMNS` rows (raw numbers, no disclosure control):
        Kaplan-Meier medians and retention by programme, programme type and organisation model;
        competing reasons; Cox models of stopping and of early match ending with PH tests; landmark
        analyses; circle-level COSA estimates; participant completion and dropout.
    tables_ : dict of DataFrame
        Aggregate tables: ``workforce_flow`` (exact quarterly counts, published only through
        :func:`evaluation.publish.workforce.protect_workforce`) and ``reason_curves``
        (Aalen-Johansen curves of the volunteers' reasons for stopping, with numbers at risk).
    notes_ : list of str
        Analyses skipped, and why.
    support_ : DataFrame
        :func:`evaluation.validation.supports.measure_support` of the selection: what the intake
        lets this analysis measure; unavailable measures are rows marked not estimable in
        ``results_``, with the reason as note.
    tenure_, matches_, circles_, participants_ : DataFrame
        Row-level analysis datasets (:mod:`evaluation.datasets.retention`). Never published.
    """

    def __init__(self) -> None:
        self.results_: pd.DataFrame = make_results([])
        self.tables_: dict[str, pd.DataFrame] = {}
        self.notes_: list[str] = []
        self.programme_id: str = "all"
        self.cutoff_date: pd.Timestamp | None = None
        self.horizons_months: list[float] = list(DEFAULT_CONFIG["horizons_months"])
        self.tenure_ = self.matches_ = self.circles_ = self.participants_ = pd.DataFrame()
        self.episodes_rows_: int = 0
        self.support_: pd.DataFrame = pd.DataFrame()

    def fit(self, validated: Any, programme_id: str = "all", cutoff_date: Any = None,
            config: Mapping[str, Any] | None = None) -> RetentionAnalysis:
        """Estimate on a validated intake; returns self.

        Parameters
        ----------
        validated : ValidationResult
            From :func:`evaluation.validation.validate.validate_intake` (or the run's cache): its
            ``tables``, ``programmes`` and ``cutoff_date`` are used.
        programme_id : str
            One programme of ``programmes.yaml``, or ``"all"``.
        cutoff_date : date-like, optional
            Analysis date; defaults to the extract's cutoff, and may not lie after it
            (:func:`evaluation.datasets.retention.analysis_cutoff`).
        config : mapping, optional
            ``horizons_months`` (default 6, 12, 24), ``landmark_months`` (3) and
            ``match_landmark_days`` (60); see :data:`DEFAULT_CONFIG`.
        """
        for attr in ("tables", "programmes", "cutoff_date"):
            if not hasattr(validated, attr):
                raise TypeError(f"validated must be a ValidationResult (with .{attr}), got {type(validated).__name__}")
        cfg = dict(DEFAULT_CONFIG)
        unknown = sorted(set(config or {}) - set(cfg))
        if unknown:
            raise ValueError(f"unknown retention setting(s) {unknown}; known: {sorted(cfg)}")
        cfg.update(config or {})
        cutoff = analysis_cutoff(validated.cutoff_date, cutoff_date)
        return self._fit_tables(usable_tables(validated), validated.programmes, cutoff, programme_id,
                                support=measure_support(validated, programme_id), **cfg)

    def _fit_tables(self, tables: Mapping[str, pd.DataFrame], programmes: Sequence[Mapping[str, Any]],
                    cutoff_date: Any, programme_id: str = "all", horizons_months: Sequence[float] = (6, 12, 24),
                    landmark_months: float = 3, match_landmark_days: float = 60,
                    support: pd.DataFrame | None = None) -> RetentionAnalysis:
        """:meth:`fit` on typed tables and programme descriptions (for tests and simulated data).

        ``support``: :func:`evaluation.validation.supports.measure_support` of the intake (default:
        computed from ``tables``, every key counting as supplied).
        """
        if support is None:
            support = measure_support(SimpleNamespace(tables=tables, programmes=programmes), programme_id)
        self.support_ = support
        t, progs = select_programme(tables, programmes, programme_id)
        cutoff = _cutoff(cutoff_date)
        self.programme_id, self.cutoff_date, self.horizons_months = programme_id, cutoff, list(horizons_months)
        empty = pd.DataFrame()
        parts: list[pd.DataFrame] = []
        notes: list[str] = []
        by_prog = ("programme_id", "programme_type", "organisation_model")
        vols = t.get("volunteers", empty)
        ten = volunteer_tenure(vols, cutoff) if len(vols) else empty
        reason_curves = empty
        if len(ten):
            parts.append(km_summary(ten, by_prog, horizons_months, progs, endpoint="VOLUNTEER_STOP"))
            if ten["event"].sum():
                res, reason_curves = competing_reasons(
                    ten, "end_reason", [r for r in VOLUNTEER_END_REASONS if r in set(ten["end_reason"])],
                    horizons_months, programme_id)
                parts.append(res)
            sup = t.get("volunteer_support", empty)
            if len(sup) and ten["event"].sum() >= 5:
                ep = volunteer_episodes(vols, sup, cutoff)
                self.episodes_rows_ = len(ep)
                try:
                    _, cox = stopping_cox(ep, programme_id=programme_id)
                    parts.append(cox)
                except ValueError as exc:
                    notes.append(f"Cox model of volunteer stopping not estimable: {exc}")
                parts.append(training_landmark(vols, sup, cutoff, landmark_months, programme_id=programme_id))
            else:
                notes.append("Cox model of volunteer stopping skipped: no support events or fewer than 5 stops")
            flow = workforce_flow(vols, cutoff)
        else:
            notes.append("no volunteers: volunteer retention not estimable")
            flow = empty
        m, p = t.get("matches", empty), t.get("participants", empty)
        md = circ = pr = empty
        if len(m) and len(p):
            md = match_duration(m, p, vols, progs, cutoff)
            parts.extend(self._match_parts(md, t.get("contacts", empty), by_prog, horizons_months, progs,
                                           match_landmark_days))
            circ = circle_duration(md, cutoff)
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
            if len(pr):
                parts.extend(self._participant_parts(pr, horizons_months))
        parts.append(self._not_measured(support))
        parts = [x for x in parts if len(x)]
        self.results_ = pd.concat(parts, ignore_index=True) if parts else make_results([])
        self.tables_ = {"workforce_flow": flow, "reason_curves": reason_curves}
        self.notes_ = notes
        self.tenure_, self.matches_, self.circles_, self.participants_ = ten, md, circ, pr
        return self

    def _not_measured(self, support: pd.DataFrame) -> pd.DataFrame:
        """Rows marking volunteer retention, the Cox model of stopping and match duration not
        estimable where the intake lacks their tables (docs/methods.md, section 'Retention')."""
        rows = []
        for measure, endpoint, estimand in (("volunteer_retention", "VOLUNTEER_STOP", "median_months"),
                                            ("match_duration", "MATCH_EARLY_END", "no_early_end_by_planned_end")):
            rows += not_measured_rows(support, measure, self.programme_id, "retention", endpoint, estimand)
        have_vols = set(support.loc[(support["measure"] == "volunteer_retention") & support["available"].astype(bool),
                                    "programme_id"])
        rows += [r for r in not_measured_rows(support, "volunteer_support", self.programme_id, "retention",
                                              "VOLUNTEER_STOP", "hazard_ratio")
                 if r["programme_id"] in have_vols]
        return make_results(rows) if rows else make_results([])

    def _match_parts(self, md: pd.DataFrame, contacts: pd.DataFrame, by_prog: Sequence[str],
                     horizons_months: Sequence[float], progs: Sequence[Mapping[str, Any]],
                     match_landmark_days: float) -> list[pd.DataFrame]:
        parts: list[pd.DataFrame] = []
        pid = self.programme_id
        single = md.loc[md["circle_id"].isna()]
        if not len(single):
            return parts
        parts.append(km_summary(single, by_prog, horizons_months, progs, endpoint="MATCH_EARLY_END",
                                estimand_prefix="no_early_end", final_estimand="no_early_end_by_planned_end"))
        if single["event"].sum():
            res, _ = competing_reasons(single, "early_cause", list(MATCH_EARLY_CAUSES), horizons_months, pid,
                                       endpoint="MATCH_EARLY_END")
            parts.append(res)
        parts.append(match_cox(single, programme_id=pid))
        parts.append(match_cox(single, programme_id=pid, causes=MATCH_BREAKDOWN_CAUSES, endpoint="MATCH_BREAKDOWN"))
        if len(contacts):
            lm = contacts_landmark(single, contacts, match_landmark_days)
            lmres = match_cox(lm, covariates=("contacts_per_month_early",), programme_id=pid,
                              endpoint="MATCH_EARLY_END", method_prefix=f"landmark Cox at {match_landmark_days:g} days")
            lmres.loc[lmres["estimand"] == "hazard_ratio", "estimand"] = "hazard_ratio_landmark"
            lmres["note"] = lmres["note"].astype(str) + (
                f"; per extra contact a month in the first {match_landmark_days:g} days, among "
                f"matches still running then ({lm.attrs['excluded_before_landmark']} ended earlier)")
            parts.append(lmres)
        return parts

    def _participant_parts(self, pr: pd.DataFrame, horizons_months: Sequence[float]) -> list[pd.DataFrame]:
        parts = [completion_proportions(pr)]
        if pr["event"].sum():
            res, _ = competing_reasons(pr, "end_cause", list(PARTICIPANT_CAUSES), horizons_months, self.programme_id,
                                       endpoint="PARTICIPANT_END")
            parts.append(res)
        if pr["programme_id"].nunique() > 1:
            for pid, sub in pr.groupby("programme_id", sort=True):
                if sub["event"].sum():
                    res, _ = competing_reasons(sub, "end_cause", list(PARTICIPANT_CAUSES), horizons_months,
                                               str(pid), endpoint="PARTICIPANT_END")
                    parts.append(res)
        return parts


KEY_ESTIMANDS: tuple[str, ...] = ("median_months", "retention_12m", "no_early_end_by_planned_end", "share_completed",
                                  "share_dropped_out")
"""Estimands of the notebook's key table (with every ``hazard_ratio*`` row), overall and per programme."""


def key_rows(results: pd.DataFrame) -> pd.Series:
    """Boolean mask of the key rows of a retention results table (see :data:`KEY_ESTIMANDS`)."""
    keep = results["estimand"].isin(list(KEY_ESTIMANDS)) | results["estimand"].astype(str).str.startswith("hazard_ratio")
    return keep & ~results["group"].astype(str).str.startswith(("programme_type=", "organisation_model=", "risk_level="))

