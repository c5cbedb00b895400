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

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analyses.primary import PrimaryOutcome
from evaluation.analyses.synthesis import recidivism_inputs
from evaluation.contract.results import make_results
from evaluation.datasets.costs import (  # noqa: F401  (re-exported: the costs' building blocks)
    participant_activity,
    participants_active_in,
    quarter_bounds,
    quarter_label,
    quarterly_costs,
    volunteer_hours,
)
from evaluation.validation.supports import measure_support, not_measured_rows, usable_tables

#: Default value of one volunteer hour, euros.
DEFAULT_HOURLY_RATE_EUR = 14.71
#: Where the default hourly value comes from (shown in reports next to the figure).
HOURLY_RATE_SOURCE = (
    "Replacement-cost valuation of volunteer time (Meijs, Huisman & Roza 2011, Erasmus Centre "
    "for Strategic Philanthropy; Movisie, 'De waarde van vrijwillige inzet') at a conservative "
    "lower bound: the Dutch statutory gross minimum wage per hour for employees aged 21 and over "
    "(EUR 14.71 from 1 January 2026, Rijksoverheid; it changes every 1 January and 1 July). "
    "Check the current figure and, if needed, set another hourly rate in the parameters of the cost "
    "analysis, e.g. the gross hourly wage of a comparable professional for a full replacement value."
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
    estimand: str = "primary",
    endpoint: str | None = "GENERAL",
    effect_group: str | None = "difference",
    cost_se_eur: float | None = None,
    n_sim: int = 100_000,
    seed: int = 20260930,
) -> pd.DataFrame:
    """Cost per reoffender avoided and break-even, per programme, as ``RESULT_COLUMNS`` rows.

    Joins the ``period == "total"`` ``cost_per_active_participant_eur`` rows of
    :func:`cost_summary` with the programme's recidivism effect and applies
    :func:`cost_per_reoffence_avoided`. The effect is, by default
    (``estimand="primary"``), each programme's primary outcome: the
    ``role == "primary"`` row of ``group == effect_group`` that its recidivism
    report published (docs/methods.md, section 'Primary outcome'; ``endpoint``
    is then ignored); results without roles fall back to the WODC default
    ``prevalence_730d_crude`` at ``GENERAL``. Another ``estimand`` selects
    rows with that estimand, ``endpoint`` and ``group == effect_group``.
    Programmes without
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
    if estimand == "primary" and "role" in effect_results.columns:
        eff = effect_results[effect_results["role"].astype(str) == "primary"]
    else:
        wanted, at = (PrimaryOutcome().estimand, PrimaryOutcome().endpoint) if estimand == "primary" else (
            estimand, endpoint)
        eff = effect_results[effect_results["estimand"] == wanted]
        if at is not None and "endpoint" in eff.columns:
            eff = eff[eff["endpoint"].astype(str) == at]
    if effect_group is not None:
        eff = eff[eff["group"] == effect_group]
    rows = []
    for _, c in cp.iterrows():
        pid = c["programme_id"]
        e = eff[eff["programme_id"] == pid]
        what = (f"{e['estimand'].iloc[0]} ({e['endpoint'].iloc[0]}"
                + (", primary outcome)" if estimand == "primary" else ")")) if len(e) == 1 else estimand
        method = f"cost per participant / reduction in {what}; simulation ({n_sim} draws) from the effect's CI"
        base = {"programme_id": pid, "analysis": "costs",
                "endpoint": str(e["endpoint"].iloc[0]) if len(e) == 1 and "endpoint" in e else (endpoint or ""),
                "method": method, "n": c["n"], "period": "total"}
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
        caveat = "" if causal else ("not causal: the comparison behind the effect is not randomised or not "
                                    "balanced, so the cost is not set against an effect of the programme")
        rows.append({**base, "estimand": "cost_per_reoffender_avoided_eur", "group": "programme",
                     "estimate": r["estimate"], "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"],
                     "p_value": e.get("p_value", np.nan),
                     "note": "; ".join(x for x in [r["note"], caveat] if x)})
        rows.append({**base, "estimand": "probability_effect_beneficial", "group": "programme",
                     "estimate": r["probability_beneficial"],
                     "note": "; ".join(x for x in ["share of simulated effects showing a reduction in reoffending",
                                                    caveat] if x)})
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
# the costs analysis (used by notebooks/40_costs.ipynb)
# ---------------------------------------------------------------------------


def _contacts_not_measured(cs: pd.DataFrame, support: pd.DataFrame) -> pd.DataFrame:
    """Volunteer hours and their value marked not estimable (NaN, reason as note) for programmes whose
    intake has no contacts (docs/methods.md, section 'Costs'): zero hours would be a number, not a fact."""
    gone = support.loc[(support["measure"] == "contacts") & ~support["available"].astype(bool)]
    if not len(gone):
        return cs
    cs = cs.copy()
    for r in gone.itertuples(index=False):
        at = (cs["programme_id"].astype(str) == r.programme_id) & cs["estimand"].isin(
            ["volunteer_contact_hours", "volunteer_time_value_eur"])
        cs.loc[at, ["estimate", "ci_lower", "ci_upper"]] = np.nan
        cs.loc[at, "note"] = f"not estimable: {r.reason_en}"
    return cs


class CostsAnalysis:
    """Costs of one programme or all, and the cost per reoffender avoided (see the module docstring).

    Parameters
    ----------
    hourly_rate_eur, hourly_rate_source : value of one volunteer hour and its source
    cost_per_reoffence_eur : float, optional
        Cost of one reoffence for the break-even (no default is invented).
    include_support_in_value : bool
        Value support hours too.
    with_effects : bool
        Add the cost per reoffender avoided, from the recidivism reports' own
        published effects (``recidivism_results`` in :meth:`fit`).
    seed, n_sim : simulation of the cost per reoffender avoided
    effect_estimand : str
        Recidivism effect behind it: ``"primary"`` (default), each
        programme's primary outcome as its recidivism report marked it
        (docs/methods.md, section 'Primary outcome'), or an estimand name.

    Attributes (after ``fit``)
    --------------------------
    results_ : DataFrame (``RESULT_COLUMNS`` + ``period``), before disclosure control
    tables_ : dict  ``unit_costs`` (per programme over the whole period),
        ``costs_by_quarter`` (totals per quarter and category)
    quarterly_ : DataFrame  recorded cost per programme, quarter and category (aggregate)
    cost_summary_, cost_effectiveness_ : the two parts of ``results_``
    effect_status_ : DataFrame  which programmes have a recidivism effect, and why not
    has_costs_ : bool  False when no costs were supplied (then ``results_`` only marks costs not estimable)
    support_ : DataFrame  :func:`evaluation.validation.supports.measure_support` of the selection; a
        programme without cost rows gets a ``cost_total_eur`` row marked not estimable, with the reason
    """

    def __init__(self, hourly_rate_eur: float = DEFAULT_HOURLY_RATE_EUR,
                 hourly_rate_source: str = HOURLY_RATE_SOURCE, cost_per_reoffence_eur: float | None = None,
                 include_support_in_value: bool = False, with_effects: bool = True, seed: int = 20260930,
                 n_sim: int = 100_000, effect_estimand: str = "primary"):
        self.hourly_rate_eur = hourly_rate_eur
        self.hourly_rate_source = hourly_rate_source
        self.cost_per_reoffence_eur = cost_per_reoffence_eur
        self.include_support_in_value = include_support_in_value
        self.with_effects = with_effects
        self.seed = seed
        self.n_sim = n_sim
        self.effect_estimand = effect_estimand

    def fit(self, validated: Any, programme_id: str = "all", cutoff_date: Any = None,
            config: Mapping[str, Any] | None = None, *, recidivism_results: Any = None) -> CostsAnalysis:
        """Costs, unit costs and (with ``with_effects``) the cost per reoffender avoided; returns self.

        ``recidivism_results``: the programmes' published recidivism rows of
        the same run (a DataFrame, CSV or folder; see
        :func:`evaluation.analyses.synthesis.recidivism_inputs`); required
        with ``with_effects``: costs never re-estimate recidivism. ``config``
        replaces constructor settings.
        """
        for k, v in (config or {}).items():
            if not hasattr(self, k) or k.endswith("_"):
                raise ValueError(f"CostsAnalysis.fit: unknown setting {k!r} in config")
            setattr(self, k, v)
        tables, programmes = ((validated.tables, validated.programmes) if hasattr(validated, "tables")
                              else (validated["tables"], validated.get("programmes", [])))
        if cutoff_date is None:
            cutoff_date = getattr(validated, "cutoff_date", None)
        self.programme_id = str(programme_id)
        self.cutoff_date_ = cutoff_date
        intake = SimpleNamespace(
            tables=tables, programmes=programmes,
            **({"reconciliation": validated.reconciliation} if hasattr(validated, "reconciliation") else {}))
        self.support_ = measure_support(intake, programme_id)
        tables = usable_tables(intake)
        missing = make_results(not_measured_rows(self.support_, "costs", self.programme_id, "costs", "",
                                                 "cost_total_eur"))
        cost_tab = tables.get("costs")
        self.has_costs_ = cost_tab is not None and len(cost_tab) > 0 and (
            programme_id == "all" or (cost_tab["programme_id"].astype(str) == programme_id).any())
        self.cost_summary_ = self.cost_effectiveness_ = self.results_ = make_results([])
        self.effect_status_ = pd.DataFrame()
        self.tables_, self.quarterly_ = {}, pd.DataFrame(columns=["programme_id", "quarter", "category", "amount_eur"])
        if not self.has_costs_:
            self.results_ = missing
            return self
        cs = cost_summary(
            tables["costs"], tables["participants"], tables.get("contacts"), tables.get("matches"),
            tables.get("volunteers"), tables.get("volunteer_support"), hourly_rate_eur=self.hourly_rate_eur,
            hourly_rate_source=self.hourly_rate_source, cutoff_date=cutoff_date, programme_id=programme_id,
            include_support_in_value=self.include_support_in_value,
        )
        cs = _contacts_not_measured(cs, self.support_)
        parts = [cs]
        if self.with_effects:
            ids = [str(p["programme_id"]) for p in programmes] if programme_id == "all" else [programme_id]
            eff, self.effect_status_ = recidivism_inputs(recidivism_results, ids, tables.get("participants"))
            if len(eff):
                self.cost_effectiveness_ = cost_effectiveness(
                    cs, eff, cost_per_reoffence_eur=self.cost_per_reoffence_eur, estimand=self.effect_estimand,
                    n_sim=self.n_sim, seed=self.seed)
                parts.append(self.cost_effectiveness_)
        self.cost_summary_ = cs
        self.results_ = pd.concat(parts + ([missing] if len(missing) else []), ignore_index=True)
        tot = cs[(cs["period"] == "total") & (cs["group"] == "all")]
        unit = tot.pivot_table(index="programme_id", columns="estimand", values="estimate", aggfunc="first")
        unit["participants_active"] = tot[tot.estimand == "cost_per_active_participant_eur"].set_index(
            "programme_id")["n"]
        qc = quarterly_costs(tables["costs"], cutoff_date)
        if programme_id != "all":
            qc = qc[qc.programme_id == programme_id]
        self.quarterly_ = qc[qc.quarter != "after_cutoff"]
        by_q = self.quarterly_.pivot_table(index="quarter", columns="category", values="amount_eur", aggfunc="sum",
                                           fill_value=0.0)
        by_q["total"] = by_q.sum(axis=1)
        self.tables_ = {"unit_costs": unit.reset_index(), "costs_by_quarter": by_q.reset_index()}
        return self
