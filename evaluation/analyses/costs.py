"""What volunteer programmes cost, and what a reoffence avoided costs.

The study states that the costs of volunteer programmes in probation are
unknown. This module turns the ``costs`` table (programme, period, category,
amount) and the activity tables (participants, matches, contacts,
volunteer_support) into:

* cost per programme per calendar quarter, by category;
* volunteer hours delivered and their monetary value at a configurable
  hourly rate (:data:`DEFAULT_HOURLY_RATE_EUR`, source in
  :data:`HOURLY_RATE_SOURCE`);
* cost per active participant and per completed trajectory;
* where a recidivism effect with a confidence interval exists, the cost per
  reoffender avoided with a simulation interval, and the break-even point
  against a configurable cost of one reoffence.

Definitions (stated once, used everywhere)
------------------------------------------
Quarter
    Calendar quarter ``YYYYQn``. A cost row whose period spans several
    quarters is allocated to them pro rata by calendar days (periods are
    inclusive of both ends). Amounts allocated to days after the analysis
    cutoff are kept under the label ``"after_cutoff"`` and excluded from the
    per-quarter and per-participant figures (the note says how much).
Volunteer hours delivered
    Sum of ``contacts.minutes`` / 60, per programme (the volunteer's
    programme) and quarter of ``contact_date``. Every volunteer present at a
    group meeting (e.g. COSA circle members) has their own contact row, so
    these are volunteer-hours, not participant-hours. Contacts without
    minutes are counted and reported, never imputed.
Volunteer support hours
    Sum of ``volunteer_support.hours`` (training, supervision, recognition),
    reported separately. They are time volunteers give, but not time spent
    with participants: they enter the valued volunteer time only with
    ``include_support_in_value=True``.
Active participant
    A programme participant (``group == "programme"``) whose stay in the
    programme overlaps the quarter: ``intake_date <= quarter end`` and
    (``programme_end_date`` missing or ``>= quarter start``).
Completed trajectory
    ``programme_end_reason == "completed"`` with ``programme_end_date`` in
    the quarter.

All figures are nominal euros (no discounting, no price index); the costs
are those the programme recorded (the organisation's perspective), not a
societal cost.

References
----------
Meijs LCPM, Huisman WHA, Roza L (2011). De economische waarde van het
vrijwilligerswerk door Humanitas. Erasmus Centre for Strategic Philanthropy
(replacement, investment and market value of volunteer time).
Drummond MF, Sculpher MJ, Claxton K, Stoddart GL, Torrance GW (2015).
Methods for the Economic Evaluation of Health Care Programmes, 4th ed.
Oxford University Press (incremental cost-effectiveness ratios, simulation
intervals, probability of cost-effectiveness).
Briggs AH, O'Brien BJ, Blackhouse G (2002). Thinking outside the box:
recent advances in the analysis and presentation of uncertainty in
cost-effectiveness studies. Annu Rev Public Health 23:377-401.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.contract.results import make_results

#: Default value of one volunteer hour, euros.
DEFAULT_HOURLY_RATE_EUR = 14.71
#: Where the default hourly value comes from (shown in reports next to the figure).
HOURLY_RATE_SOURCE = (
    "Replacement-cost valuation of volunteer time (Meijs, Huisman & Roza 2011, Erasmus Centre "
    "for Strategic Philanthropy; Movisie, 'De waarde van vrijwillige inzet') at a conservative "
    "lower bound: the Dutch statutory gross minimum wage per hour for employees aged 21 and over "
    "(EUR 14.71 from 1 January 2026, Rijksoverheid; it changes every 1 January and 1 July). "
    "Check the current figure and override "
    "hourly_rate_eur, e.g. with the gross hourly wage of a comparable professional for a full "
    "replacement value."
)
#: Default cost of one reoffence to society, euros: deliberately NO default
#: figure is invented; the user supplies it (e.g. from WODC cost-of-crime
#: estimates for the offence mix of the programme).
COST_PER_REOFFENCE_SOURCE = (
    "user-supplied cost of one reoffence (set cost_per_reoffence_eur, e.g. from WODC "
    "cost-of-crime estimates for the programme's offence mix)"
)
_Z975 = float(stats.norm.ppf(0.975))


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


# ---------------------------------------------------------------------------
# summary table
# ---------------------------------------------------------------------------


def cost_summary(
    costs: pd.DataFrame,
    participants: pd.DataFrame,
    contacts: pd.DataFrame | None = None,
    matches: pd.DataFrame | None = None,
    volunteers: pd.DataFrame | None = None,
    volunteer_support: pd.DataFrame | None = None,
    hourly_rate_eur: float = DEFAULT_HOURLY_RATE_EUR,
    hourly_rate_source: str = HOURLY_RATE_SOURCE,
    cutoff_date: Any = None,
    programme_id: str = "all",
    include_support_in_value: bool = False,
) -> pd.DataFrame:
    """Costs, volunteer time and unit costs as ``RESULT_COLUMNS`` rows.

    Estimands (``analysis = "costs"``), per programme and quarter (extra
    column ``period`` = ``YYYYQn``) and per programme over all quarters
    (``period = "total"``); with ``programme_id="all"`` also for all
    programmes together (``programme_id = "all"``):

    ``cost_eur`` (``group`` = category) and ``cost_total_eur`` (group
    ``"all"``); ``volunteer_contact_hours``; ``volunteer_support_hours``;
    ``volunteer_time_value_eur`` = hours x ``hourly_rate_eur`` (contact
    hours, plus support hours when ``include_support_in_value``);
    ``cost_per_active_participant_eur`` (``n`` = active participants);
    ``cost_per_completed_trajectory_eur`` (``events`` = completions).

    ``group`` is the category (``cost_eur``) or ``"all"``; for quarter rows
    it is prefixed with the quarter (``"quarter=2026Q1"``,
    ``"quarter=2026Q1; training"``) so rows stay distinct in the results
    store, which keeps only ``RESULT_COLUMNS``.

    These are recorded totals and ratios of totals for the whole programme
    population, not samples: they carry no sampling interval (``ci_lower``
    and ``ci_upper`` are NaN and the note says so). ``causal`` is False.

    Parameters
    ----------
    hourly_rate_eur : float
        Value of one volunteer hour (default :data:`DEFAULT_HOURLY_RATE_EUR`,
        source :data:`HOURLY_RATE_SOURCE`; pass ``hourly_rate_source`` with
        your own figure).
    cutoff_date :
        Analysis cutoff; costs after it are reported under ``period =
        "after_cutoff"`` only.
    """
    if not np.isfinite(hourly_rate_eur) or hourly_rate_eur < 0:
        raise ValueError(f"hourly_rate_eur must be a non-negative number, got {hourly_rate_eur}")
    qc = quarterly_costs(costs, cutoff_date)
    if programme_id != "all":
        qc = qc[qc["programme_id"] == programme_id]
        if qc.empty:
            raise ValueError(f"table 'costs' has no rows for programme {programme_id!r}")
    after = qc[qc["quarter"] == "after_cutoff"]
    qc = qc[qc["quarter"] != "after_cutoff"]
    quarters = sorted(qc["quarter"].unique())
    act = participant_activity(participants, quarters, cutoff_date)
    have_hours = contacts is not None and matches is not None and volunteers is not None
    hrs = (
        volunteer_hours(contacts, matches, volunteers, volunteer_support, cutoff_date)
        if have_hours
        else pd.DataFrame(columns=["programme_id", "quarter", "contact_hours", "contacts",
                                   "contacts_missing_minutes", "support_hours", "volunteers_active"])
    )
    progs = sorted(qc["programme_id"].unique())
    rows: list[dict[str, Any]] = []
    census = "recorded total for the whole programme (census, no sampling interval)"
    value_basis = "contact + support hours" if include_support_in_value else "contact hours only"

    def add(pid, period, estimand, group, estimate, n=np.nan, events=np.nan, note=census, method=""):
        # quarter rows carry the quarter in `group` too: the results store keeps only RESULT_COLUMNS
        if period not in ("total", "after_cutoff"):
            group = f"quarter={period}" if group == "all" else f"quarter={period}; {group}"
        rows.append(
            {
                "programme_id": pid,
                "analysis": "costs",
                "estimand": estimand,
                "endpoint": "",
                "group": group,
                "estimate": float(estimate) if estimate is not None else np.nan,
                "n": n,
                "events": events,
                "method": method or "sum of recorded costs, pro rata by days to quarters",
                "causal": False,
                "note": note,
                "period": period,
            }
        )

    def block(pid_label, period, cost_rows, hours_rows, n_active, n_completed):
        for cat, amt in cost_rows.groupby("category")["amount_eur"].sum().items():
            add(pid_label, period, "cost_eur", cat, amt)
        total = float(cost_rows["amount_eur"].sum())
        add(pid_label, period, "cost_total_eur", "all", total)
        if have_hours:
            ch = float(hours_rows["contact_hours"].sum())
            sh = float(hours_rows["support_hours"].sum())
            miss = int(hours_rows["contacts_missing_minutes"].sum())
            note_h = census + (f"; {miss} contacts without minutes are not counted" if miss else "")
            add(pid_label, period, "volunteer_contact_hours", "all", ch, note=note_h,
                method="sum of contact minutes / 60")
            add(pid_label, period, "volunteer_support_hours", "all", sh,
                method="sum of volunteer_support hours (training, supervision, recognition)")
            hours_valued = ch + (sh if include_support_in_value else 0.0)
            add(pid_label, period, "volunteer_time_value_eur", "all", hours_valued * hourly_rate_eur,
                note=f"{census}; {value_basis} x EUR {hourly_rate_eur:.2f}/hour; source: {hourly_rate_source}",
                method="replacement-cost valuation of volunteer hours")
        if n_active > 0:
            add(pid_label, period, "cost_per_active_participant_eur", "all", total / n_active, n=n_active,
                method="recorded cost / participants active in the period")
        else:
            add(pid_label, period, "cost_per_active_participant_eur", "all", np.nan, n=0,
                note="not estimable: no participants active in the period")
        if n_completed > 0:
            add(pid_label, period, "cost_per_completed_trajectory_eur", "all", total / n_completed,
                n=n_active, events=n_completed,
                method="recorded cost / trajectories completed in the period")
        else:
            add(pid_label, period, "cost_per_completed_trajectory_eur", "all", np.nan, n=n_active, events=0,
                note="not estimable: no trajectory completed in the period")

    qc_groups = dict(tuple(qc.groupby(["programme_id", "quarter"])))
    hrs_groups = dict(tuple(hrs.groupby(["programme_id", "quarter"])))
    act_ix = act.set_index(["programme_id", "quarter"])
    empty_hrs = hrs.iloc[0:0]
    for pid in progs:
        for q in quarters:
            cq = qc_groups.get((pid, q))
            if cq is None:
                continue
            a = act_ix.loc[(pid, q)] if (pid, q) in act_ix.index else {"active": 0, "completed": 0}
            block(pid, q, cq, hrs_groups.get((pid, q), empty_hrs), int(a["active"]), int(a["completed"]))
        # whole period: distinct participants active at any time in the costed quarters
        cp = qc[qc.programme_id == pid]
        qs = sorted(cp["quarter"].unique())
        start, end = quarter_bounds(qs[0])[0], quarter_bounds(qs[-1])[1]
        if cutoff_date is not None:
            end = min(end, pd.Timestamp(cutoff_date))
        pa = participants_active_in(participants, start, end)
        pa = pa[pa.programme_id == pid]
        block(pid, "total", cp, hrs[(hrs.programme_id == pid) & hrs.quarter.isin(qs)],
              int(pa["active"].sum()), int(pa["completed"].sum()))
    if programme_id == "all" and len(progs) > 1:
        start, end = quarter_bounds(quarters[0])[0], quarter_bounds(quarters[-1])[1]
        if cutoff_date is not None:
            end = min(end, pd.Timestamp(cutoff_date))
        pa = participants_active_in(participants, start, end)
        pa = pa[pa.programme_id.isin(progs)]
        block("all", "total", qc, hrs[hrs.programme_id.isin(progs) & hrs.quarter.isin(quarters)],
              int(pa["active"].sum()), int(pa["completed"].sum()))
    if len(after):
        add(programme_id, "after_cutoff", "cost_total_eur", "after_cutoff", float(after["amount_eur"].sum()),
            note="share of recorded costs falling after the analysis cutoff; not used in unit costs")
    return make_results(rows)


# ---------------------------------------------------------------------------
# cost per reoffence avoided and break-even
# ---------------------------------------------------------------------------


def cost_per_reoffence_avoided(
    cost_per_participant_eur: float,
    risk_difference: float,
    rd_ci_lower: float,
    rd_ci_upper: float,
    cost_per_reoffence_eur: float | None = None,
    cost_se_eur: float | None = None,
    n_sim: int = 100_000,
    seed: int = 20260930,
    conf_level: float = 0.95,
) -> dict[str, Any]:
    """Cost per reoffender avoided, with a simulation interval, and break-even.

    Estimand: ``C / (-RD)``, the programme cost per participant ``C``
    divided by the reduction in the proportion of participants who reoffend
    (``RD`` = programme minus comparison risk, e.g. the 2-year prevalence
    difference; negative is a reduction). It is the cost of one fewer person
    reoffending within the horizon. Break-even against a cost per
    reoffence ``V``: the programme pays for itself when ``-RD * V >= C``; the
    risk reduction needed is ``C / V``.

    Uncertainty: ``RD`` is drawn from its normal sampling distribution
    (SE from the 95% CI: ``(upper - lower) / (2 * 1.96)``); ``C`` is fixed,
    or drawn from a gamma distribution with mean ``C`` and SD
    ``cost_se_eur`` when given. Draws with no reduction (``-RD <= 0``)
    have an infinite cost per reoffender avoided. The interval is the
    2.5th-97.5th percentile of the draws (Briggs et al. 2002): its upper end
    is infinite when the effect's interval includes no effect.

    Reporting rules: when the effect's confidence interval includes zero,
    or the point estimate shows no reduction, no ratio is reported as a
    point estimate (``estimate`` NaN); only the interval and the
    probabilities are.

    Returns
    -------
    dict
        ``significant``, ``estimate`` (median of the draws, NaN when not
        reported), ``ci_lower``, ``ci_upper``, ``probability_beneficial``
        (share of draws with a reduction), ``break_even_risk_reduction``,
        ``probability_break_even``, ``net_benefit_median``,
        ``net_benefit_ci_lower``, ``net_benefit_ci_upper`` (per participant,
        ``-RD * V - C``; NaN without ``V``), ``note``.
    """
    vals = [cost_per_participant_eur, risk_difference, rd_ci_lower, rd_ci_upper]
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"cost per reoffence avoided: non-finite input {vals}")
    if cost_per_participant_eur < 0:
        raise ValueError(f"cost per participant must be >= 0, got {cost_per_participant_eur}")
    if not rd_ci_lower <= risk_difference <= rd_ci_upper or rd_ci_upper <= rd_ci_lower:
        raise ValueError(
            f"risk difference {risk_difference} is not inside its interval [{rd_ci_lower}, {rd_ci_upper}]"
        )
    if cost_per_reoffence_eur is not None and not (np.isfinite(cost_per_reoffence_eur) and cost_per_reoffence_eur > 0):
        raise ValueError(f"cost_per_reoffence_eur must be positive, got {cost_per_reoffence_eur}")
    rng = np.random.default_rng(seed)
    se = (rd_ci_upper - rd_ci_lower) / (2 * _Z975)
    avoided = -rng.normal(risk_difference, se, n_sim)
    c = float(cost_per_participant_eur)
    if cost_se_eur:
        if cost_se_eur < 0:
            raise ValueError(f"cost_se_eur must be >= 0, got {cost_se_eur}")
        shape = (c / cost_se_eur) ** 2
        cost = rng.gamma(shape, cost_se_eur**2 / c, n_sim)
    else:
        cost = np.full(n_sim, c)
    with np.errstate(divide="ignore"):
        ratio = np.where(avoided > 0, cost / np.where(avoided > 0, avoided, 1.0), np.inf)
    a = (1 - conf_level) / 2
    lo, med, hi = np.quantile(ratio, [a, 0.5, 1 - a], method="inverted_cdf")
    significant = rd_ci_upper < 0
    notes = []
    if risk_difference >= 0:
        notes.append("the programme shows no reduction in reoffending: no cost per reoffender avoided")
    elif not significant:
        notes.append(
            "the reduction in reoffending is not statistically significant: the cost per reoffender "
            "avoided is not reported as a point estimate; only its interval (unbounded above) and "
            "the probabilities are"
        )
    if np.isinf(hi):
        notes.append("upper limit infinite: the interval includes the possibility of no reduction")
    out: dict[str, Any] = {
        "significant": bool(significant),
        "estimate": float(med) if significant else np.nan,
        "ci_lower": float(lo),
        "ci_upper": float(hi),
        "probability_beneficial": float(np.mean(avoided > 0)),
        "cost_per_participant_eur": c,
        "risk_difference": float(risk_difference),
        "risk_difference_se": float(se),
        "n_sim": int(n_sim),
    }
    if cost_per_reoffence_eur is not None:
        v = float(cost_per_reoffence_eur)
        net = avoided * v - cost
        out.update(
            break_even_risk_reduction=c / v,
            probability_break_even=float(np.mean(net >= 0)),
            net_benefit_median=float(np.median(net)),
            net_benefit_ci_lower=float(np.quantile(net, a)),
            net_benefit_ci_upper=float(np.quantile(net, 1 - a)),
        )
    else:
        out.update(
            break_even_risk_reduction=np.nan,
            probability_break_even=np.nan,
            net_benefit_median=np.nan,
            net_benefit_ci_lower=np.nan,
            net_benefit_ci_upper=np.nan,
        )
    out["note"] = "; ".join(notes)
    return out


def cost_effectiveness(
    cost_results: pd.DataFrame,
    effect_results: pd.DataFrame,
    cost_per_reoffence_eur: float | None = None,
    estimand: str = "prevalence_730d_crude",
    endpoint: str | None = "GENERAL",
    effect_group: str | None = "difference",
    cost_se_eur: float | None = None,
    n_sim: int = 100_000,
    seed: int = 20260930,
) -> pd.DataFrame:
    """Cost per reoffender avoided and break-even, per programme, as ``RESULT_COLUMNS`` rows.

    Joins the ``period == "total"`` ``cost_per_active_participant_eur`` rows of
    :func:`cost_summary` with the programme's recidivism effect (rows with
    ``estimand`` and ``group == effect_group``; by default the WODC 2-year
    prevalence difference of :class:`evaluation.analyses.recidivism.RecidivismAnalysis`,
    programme minus comparison, with its 95% CI) and applies :func:`cost_per_reoffence_avoided`. Programmes without
    an effect row are listed with ``estimate`` NaN and a note (never
    dropped). ``causal`` follows the effect row: the ratio is only as causal
    as the effect behind it.

    Rows per programme (``analysis = "costs"``):
    ``cost_per_reoffender_avoided_eur`` (median and percentile interval;
    estimate NaN when the effect is not significant),
    ``probability_effect_beneficial``, and with ``cost_per_reoffence_eur``:
    ``break_even_risk_reduction``, ``probability_break_even``,
    ``net_benefit_per_participant_eur``.
    """
    cp = cost_results[
        (cost_results["estimand"] == "cost_per_active_participant_eur")
        & (cost_results.get("period", pd.Series("total", index=cost_results.index)) == "total")
        & (cost_results["programme_id"] != "all")
    ]
    eff = effect_results[effect_results["estimand"] == estimand]
    if endpoint is not None and "endpoint" in eff.columns:
        eff = eff[eff["endpoint"].astype(str) == endpoint]
    if effect_group is not None:
        eff = eff[eff["group"] == effect_group]
    rows = []
    method = f"cost per participant / reduction in {estimand}; simulation ({n_sim} draws) from the effect's CI"
    for _, c in cp.iterrows():
        pid = c["programme_id"]
        e = eff[eff["programme_id"] == pid]
        base = {"programme_id": pid, "analysis": "costs", "endpoint": endpoint or "", "method": method,
                "n": c["n"], "period": "total"}
        if len(e) > 1:
            raise ValueError(f"more than one {estimand!r} row for programme {pid!r}; pass effect_group=")
        vals = e[["estimate", "ci_lower", "ci_upper"]].to_numpy(dtype=float)
        if len(e) == 0 or not np.isfinite(c["estimate"]) or not np.all(np.isfinite(vals)):
            rows.append({**base, "estimand": "cost_per_reoffender_avoided_eur", "group": "programme",
                         "causal": False,
                         "note": "not estimable: no recidivism effect with a confidence interval for this programme"})
            continue
        if vals[0, 2] <= vals[0, 1]:
            # e.g. no reoffences in either group yet: a zero-width interval carries no sampling information
            rows.append({**base, "estimand": "cost_per_reoffender_avoided_eur", "group": "programme",
                         "causal": False,
                         "note": "not estimable: the recidivism effect has a zero-width confidence interval "
                         "(too few reoffences to estimate it)"})
            continue
        e = e.iloc[0]
        r = cost_per_reoffence_avoided(
            float(c["estimate"]), float(e["estimate"]), float(e["ci_lower"]), float(e["ci_upper"]),
            cost_per_reoffence_eur, cost_se_eur, n_sim, seed,
        )
        causal = bool(e.get("causal", False)) if pd.notna(e.get("causal", np.nan)) else False
        base["causal"] = causal
        caveat = "" if causal else "the effect behind it is not causal (no randomised or matched comparison)"
        rows.append({**base, "estimand": "cost_per_reoffender_avoided_eur", "group": "programme",
                     "estimate": r["estimate"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"],
                     "p_value": e.get("p_value", np.nan),
                     "note": "; ".join(x for x in [r["note"], caveat] if x)})
        rows.append({**base, "estimand": "probability_effect_beneficial", "group": "programme",
                     "estimate": r["probability_beneficial"],
                     "note": "share of simulated effects showing a reduction in reoffending"})
        if cost_per_reoffence_eur is not None:
            rows.append({**base, "estimand": "break_even_risk_reduction", "group": "programme",
                         "estimate": r["break_even_risk_reduction"],
                         "note": f"reduction in the reoffending proportion needed to recover the cost at EUR "
                         f"{cost_per_reoffence_eur:,.0f} per reoffence ({COST_PER_REOFFENCE_SOURCE})"})
            rows.append({**base, "estimand": "probability_break_even", "group": "programme",
                         "estimate": r["probability_break_even"],
                         "note": "share of simulated effects for which avoided reoffence costs exceed programme costs"})
            rows.append({**base, "estimand": "net_benefit_per_participant_eur", "group": "programme",
                         "estimate": r["net_benefit_median"], "ci_lower": r["net_benefit_ci_lower"],
                         "ci_upper": r["net_benefit_ci_upper"],
                         "note": "avoided reoffence costs minus programme cost, per participant (median, percentile interval)"})
    return make_results(rows)


# ---------------------------------------------------------------------------
# writing notebook outputs
# ---------------------------------------------------------------------------


def write_outputs(
    output_dir: str | Path,
    results: pd.DataFrame,
    headline: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: Mapping[str, Any] | None = None,
    threshold: int = 10,
) -> Path:
    """Write a notebook's outputs per the notebook contract, through disclosure control.

    ``results.csv`` (``RESULT_COLUMNS``, passed through
    :func:`evaluation.publish.disclosure.protect_results`), ``headline.json`` (its
    sentences checked with :func:`evaluation.publish.disclosure.check_sentences`),
    ``NAME.csv`` for each aggregate table and ``NAME.png`` + ``NAME.svg``
    for each matplotlib figure. Tables must be aggregates: a column named
    like an identifier is refused.
    """
    from evaluation.publish.writer import publish_outputs

    publish_outputs(output_dir, results, headline, tables, figures, threshold=threshold, dpi=150)
    return Path(output_dir)


# ---------------------------------------------------------------------------
# the costs report (used by notebooks/40_costs.ipynb)
# ---------------------------------------------------------------------------

_EUR = {"en": "EUR {}", "nl": "€ {}"}


def _num(x: float, language: str, digits: int = 0) -> str:
    """Number with thousands separators: 1,234.5 (en) or 1.234,5 (nl)."""
    s = f"{x:,.{digits}f}"
    if language == "nl":
        s = s.replace(",", "_").replace(".", ",").replace("_", ".")
    return s


def _eur(x: float, language: str, digits: int = 0) -> str:
    if not np.isfinite(x):
        return "∞" if x > 0 else ""
    return _EUR[language].format(_num(x, language, digits))


def costs_by_quarter_figure(quarterly: pd.DataFrame, title: str = "", language: str = "en"):
    """Stacked bars of recorded cost per quarter by category (matplotlib Figure)."""
    from matplotlib.figure import Figure

    wide = quarterly.pivot_table(index="quarter", columns="category", values="amount_eur", aggfunc="sum", fill_value=0.0)
    fig = Figure(figsize=(10, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    bottom = np.zeros(len(wide))
    x = np.arange(len(wide))
    from evaluation.contract.schema import load_contract

    contract = load_contract()
    for cat in wide.columns:
        ax.bar(x, wide[cat].to_numpy(), bottom=bottom, width=0.8,
               label=contract.code_label("costs", "category", cat, language))
        bottom += wide[cat].to_numpy()
    step = max(1, len(wide) // 12)
    ax.set_xticks(x[::step], list(wide.index[::step]), rotation=45, ha="right")
    ax.set_ylabel("kosten (euro)" if language == "nl" else "cost (euro)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def costs_analysis(
    data: Any,
    programme_id: str = "all",
    cutoff_date: Any = None,
    hourly_rate_eur: float = DEFAULT_HOURLY_RATE_EUR,
    hourly_rate_source: str = HOURLY_RATE_SOURCE,
    cost_per_reoffence_eur: float | None = None,
    include_support_in_value: bool = False,
    with_effects: bool = True,
    language: str = "en",
    seed: int = 20260930,
    n_sim: int = 100_000,
    threshold: int = 10,
    programme_results: Any = None,
) -> dict[str, Any]:
    """Everything the costs notebook shows, for one programme or all.

    Calls :func:`cost_summary` and, when ``with_effects`` and the programme
    has a comparison group, the recidivism analysis
    (:func:`evaluation.stats.meta.recidivism_effects`) and
    :func:`cost_effectiveness` on the 2-year prevalence difference.

    For all programmes, counts of all programmes that would give a
    programme's ``"<10"`` back by subtraction (from the programme rows of this
    analysis and ``programme_results``, the programmes' published cost rows:
    a DataFrame or CSV path) are withheld in the results, the unit-cost table
    and the headline (:func:`evaluation.publish.disclosure.withhold_pooled`).

    Returns
    -------
    dict
        ``results`` (``RESULT_COLUMNS``), ``tables`` (``unit_costs``,
        ``costs_by_quarter``; aggregates only), ``figures``
        (``costs_by_quarter``), ``headline`` (status, title, sentences in
        ``language``).
    """
    from evaluation.publish import disclosure
    from evaluation.stats.meta import recidivism_effects

    if language not in ("en", "nl"):
        raise ValueError(f"language must be 'en' or 'nl', got {language!r}")
    tables, programmes = (data.tables, data.programmes) if hasattr(data, "tables") else (data["tables"], data.get("programmes", []))
    if cutoff_date is None:
        cutoff_date = getattr(data, "cutoff_date", None)
    cost_tab = tables.get("costs")
    has_costs = cost_tab is not None and len(cost_tab) > 0 and (
        programme_id == "all" or (cost_tab["programme_id"].astype(str) == programme_id).any())
    if not has_costs:
        who = "" if programme_id == "all" else f" ({programme_id})"
        title = ("Kosten" if language == "nl" else "Costs") + who
        sentence = (f"Er zijn geen kosten aangeleverd{who}; de kosten kunnen niet worden berekend." if language == "nl"
                    else f"No costs were supplied{who}; costs cannot be computed.")
        return {"results": make_results([]), "tables": {}, "figures": {},
                "headline": {"status": "not_estimable", "title": title, "sentences": [sentence]}}
    cs = cost_summary(
        tables["costs"], tables["participants"], tables.get("contacts"), tables.get("matches"),
        tables.get("volunteers"), tables.get("volunteer_support"), hourly_rate_eur=hourly_rate_eur,
        hourly_rate_source=hourly_rate_source, cutoff_date=cutoff_date, programme_id=programme_id,
        include_support_in_value=include_support_in_value,
    )
    results = [cs]
    ce = make_results([])
    status_tab = pd.DataFrame()
    if with_effects:
        ids = None if programme_id == "all" else [programme_id]
        eff, status_tab = recidivism_effects(data, ids, cutoff_date=cutoff_date)
        if len(eff):
            ce = cost_effectiveness(cs, eff, cost_per_reoffence_eur=cost_per_reoffence_eur, n_sim=n_sim, seed=seed)
            results.append(ce)
    res = pd.concat(results, ignore_index=True)
    withheld_total = False
    if programme_id == "all":
        res = disclosure.withhold_pooled(res, programme_results, threshold)
        active = res[(res["programme_id"] == "all") & (res["estimand"] == "cost_per_active_participant_eur")
                     & (res["period"] == "total") & (res["group"] == "all")]
        withheld_total = bool(active[disclosure.WITHHOLD_COLUMN].map(lambda w: "n" in w.split(",")).any())
    # tables: unit costs per programme over the whole period; totals per quarter
    tot = cs[(cs["period"] == "total") & (cs["group"] == "all")]
    unit = tot.pivot_table(index="programme_id", columns="estimand", values="estimate", aggfunc="first")
    n_act = tot[tot.estimand == "cost_per_active_participant_eur"].set_index("programme_id")["n"]
    unit["participants_active"] = n_act
    unit = unit.reset_index()
    small = pd.to_numeric(unit["participants_active"], errors="coerce") < threshold
    # the total of all programmes minus the programmes shown would give a hidden "<10" back
    hide_total = (unit["programme_id"] == "all").to_numpy() & withheld_total
    for col in ("cost_per_active_participant_eur", "cost_per_completed_trajectory_eur"):
        if col in unit.columns:
            unit.loc[small | hide_total, col] = np.nan
    unit["participants_active"] = [
        disclosure.SECONDARY_MARKER if h else (disclosure.protect_count(x, threshold, language) if pd.notna(x) else "")
        for x, h in zip(unit["participants_active"], hide_total, strict=True)]
    qc = quarterly_costs(tables["costs"], cutoff_date)
    if programme_id != "all":
        qc = qc[qc.programme_id == programme_id]
    qc_in = qc[qc.quarter != "after_cutoff"]
    by_q = qc_in.pivot_table(index="quarter", columns="category", values="amount_eur", aggfunc="sum", fill_value=0.0)
    by_q["total"] = by_q.sum(axis=1)
    label = "alle programma's" if (programme_id == "all" and language == "nl") else (
        "all programmes" if programme_id == "all" else programme_id)
    fig = costs_by_quarter_figure(qc_in, title=label, language=language)
    # headline
    scope = tot[tot.programme_id == ("all" if programme_id == "all" and "all" in set(tot.programme_id) else
                                     (programme_id if programme_id != "all" else tot.programme_id.iloc[0]))]

    def val(estimand):
        r = scope[scope.estimand == estimand]
        return (float(r["estimate"].iloc[0]), r["n"].iloc[0], r["events"].iloc[0]) if len(r) else (np.nan, np.nan, np.nan)

    total, _, _ = val("cost_total_eur")
    cpp, n_active, _ = val("cost_per_active_participant_eur")
    cpt, _, n_done = val("cost_per_completed_trajectory_eur")
    hours, _, _ = val("volunteer_contact_hours")
    value, _, _ = val("volunteer_time_value_eur")
    q0, q1 = (sorted(qc_in.quarter.unique())[0], sorted(qc_in.quarter.unique())[-1]) if len(qc_in) else ("", "")
    pc = disclosure.protect_count(n_active, threshold, language) if pd.notna(n_active) else "?"
    few = (pd.notna(n_active) and n_active < threshold) or withheld_total
    s = []
    if language == "nl":
        s.append(f"Van {q0} tot en met {q1} zijn voor {label} {_eur(total, 'nl')} aan kosten geregistreerd.")
        if not few and np.isfinite(cpp):
            s.append(f"Dat is {_eur(cpp, 'nl')} per deelnemer ({pc} deelnemers waren in die periode actief)"
                     + (f" en {_eur(cpt, 'nl')} per afgerond traject." if np.isfinite(cpt) else "."))
        if np.isfinite(hours):
            s.append(f"Vrijwilligers besteedden {_num(hours, 'nl')} uur aan contact met deelnemers, "
                     f"gewaardeerd op {_eur(value, 'nl')} tegen {_eur(hourly_rate_eur, 'nl', 2)} per uur.")
    else:
        s.append(f"From {q0} to {q1}, {label} recorded costs of {_eur(total, 'en')}.")
        if not few and np.isfinite(cpp):
            s.append(f"That is {_eur(cpp, 'en')} per participant ({pc} participants were active in that period)"
                     + (f" and {_eur(cpt, 'en')} per completed trajectory." if np.isfinite(cpt) else "."))
        if np.isfinite(hours):
            s.append(f"Volunteers spent {_num(hours, 'en')} hours in contact with participants, valued at "
                     f"{_eur(value, 'en')} at {_eur(hourly_rate_eur, 'en', 2)} per hour.")
    status = "ok"
    if few and withheld_total and not (pd.notna(n_active) and n_active < threshold):
        status = "warning"
        s.append("De kosten per deelnemer van alle programma's samen worden niet getoond: met de cijfers van de "
                 "afzonderlijke programma's zouden ze een klein aantal deelnemers prijsgeven." if language == "nl"
                 else "Costs per participant of all programmes together are not shown: with the programmes' own "
                 "figures they would reveal a small number of participants.")
    elif few:
        status = "warning"
        s.append("Te weinig deelnemers om kosten per deelnemer te tonen." if language == "nl"
                 else "Too few participants to show costs per participant.")
    failed = [r for r in (status_tab.to_dict("records") if len(status_tab) else []) if r["status"] == "failed"]
    if programme_id != "all" and failed:
        status = "warning"
        s.append("De recidiveanalyse kon voor dit programma niet worden uitgevoerd; er is daarom geen bedrag per "
                 "voorkomen recidivist." if language == "nl" else
                 "The recidivism analysis could not be run for this programme, so there is no cost per "
                 "reoffender avoided.")
    if programme_id != "all" and len(ce):
        row = ce[(ce.programme_id == programme_id) & (ce.estimand == "cost_per_reoffender_avoided_eur")]
        if len(row):
            r = row.iloc[0]
            if np.isfinite(r["estimate"]):
                s.append(
                    (f"Elke deelnemer die binnen 2 jaar niet recidiveerde dankzij het programma kostte ongeveer "
                     f"{_eur(r['estimate'], 'nl')} (95%-interval {_eur(r['ci_lower'], 'nl')} tot {_eur(r['ci_upper'], 'nl')}).")
                    if language == "nl" else
                    (f"Each participant kept from reoffending within 2 years cost about {_eur(r['estimate'], 'en')} "
                     f"(95% interval {_eur(r['ci_lower'], 'en')} to {_eur(r['ci_upper'], 'en')}).")
                )
                if not bool(r["causal"]):
                    s.append("Dit is geen causaal effect: de vergelijking is niet gerandomiseerd of niet in balans."
                             if language == "nl" else
                             "This is not a causal effect: the comparison is not randomised or not balanced.")
            elif "not estimable" not in str(r["note"]):
                status = "warning"
                pb = ce[(ce.programme_id == programme_id) & (ce.estimand == "probability_effect_beneficial")]
                p_b = float(pb["estimate"].iloc[0]) if len(pb) else np.nan
                s.append(
                    (f"De daling in recidive is niet statistisch significant; daarom noemen we geen bedrag per "
                     f"voorkomen recidivist. De kans dat het programma recidive vermindert is {p_b:.0%}.")
                    if language == "nl" else
                    (f"The reduction in reoffending is not statistically significant, so no cost per reoffender avoided "
                     f"is given. The probability that the programme reduces reoffending is {p_b:.0%}.")
                )
            if cost_per_reoffence_eur is not None:
                be = ce[(ce.programme_id == programme_id) & (ce.estimand == "probability_break_even")]
                if len(be) and np.isfinite(be["estimate"].iloc[0]):
                    s.append(
                        (f"Bij {_eur(cost_per_reoffence_eur, 'nl')} per recidive is de kans dat het programma zichzelf "
                         f"terugverdient {float(be['estimate'].iloc[0]):.0%}.") if language == "nl" else
                        (f"At {_eur(cost_per_reoffence_eur, 'en')} per reoffence, the probability that the programme "
                         f"pays for itself is {float(be['estimate'].iloc[0]):.0%}.")
                    )
    title = (f"Kosten: {label}" if language == "nl" else f"Costs: {label}")
    eff_status = status_tab.to_dict("records") if len(status_tab) else []
    out_tables = {"unit_costs": unit, "costs_by_quarter": by_q.reset_index()}
    if len(ce):
        ce_tab = disclosure.protect_results(ce, threshold=threshold)
        out_tables["cost_effectiveness"] = ce_tab[
            ["programme_id", "estimand", "estimate", "ci_lower", "ci_upper", "n", "causal", "note"]
        ]
    return {
        "results": res,
        "tables": out_tables,
        "figures": {"costs_by_quarter": fig},
        "headline": {"status": status, "title": title, "sentences": s},
        "effect_status": eff_status,
    }


def display_figure(fig: Any) -> None:
    """Show a matplotlib Figure in a notebook as a PNG image (nothing when ``fig`` is None or outside IPython)."""
    if fig is None:
        return
    try:
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover
        return
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    display(Image(data=buf.getvalue()))
