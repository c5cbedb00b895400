"""Re-integration tables of a synthetic intake (issue 19) with their known truth.

Adds ``assessments`` (ZRM), ``goals``, ``circumstances`` and
``volunteer_outcomes`` to the typed tables of a generated intake. The tables
draw from their own random stream (``default_rng([seed, 19])``), so every
other table is byte-identical with or without them.

Model (per person ``i`` with the participants' covariates, domain ``d``)
-----------------------------------------------------------------------
``need = 0.6 high + 0.3 medium + 0.4 substance + 0.4 psychiatric - 0.3 employed - 0.3 stable housing``.
Intake score ``b = clip(round(mu_d - 0.7 need + shifts + u_i + e), 1, 5)`` with a
person effect ``u_i ~ N(0, 0.5)`` shared by the domains and ``e ~ N(0, 0.8)``
(marginally ``N(0, sqrt(0.89))`` per domain). End score (potential outcome for
participation ``a``): ``clip(round(b + 0.15 + 0.25 (3 - b) - 0.15 need + a eff_d + e'), 1, 5)``,
``e' ~ N(0, 0.7)``; follow-up: ``clip(round(b + 0.10 + 0.25 (3 - b) - 0.2 need + 0.8 a eff_d + e''), 1, 5)``,
``e'' ~ N(0, 0.8)``. Scores are integers from the start; every estimand is
defined on the integer scores. Missing end assessments depend on risk level
(MAR given covariates); missing follow-up assessments on the intake score,
risk level and age (``P(observed) = logistic(0.8 + 0.5 (b - 3) - 0.6 high + 0.03 (age - 35))``),
so the complete-case change differs from the truth and weighting by the
inverse probability of observation recovers it.

Truth
-----
For each programme and domain, the truth is the expectation over the outcome
noise *given the intake's covariates and intake scores' distribution*,
averaged over the persons of the group who are due (the sample-conditional
estimand: an estimator that is unbiased given the covariates targets it).
The expectations are exact: the normal probabilities of each integer level
are summed (no Monte Carlo error). ``att_end`` is the mean over the programme
group of ``E[end(1) - end(0)]`` (for the randomised programme ATT = ATE).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from evaluation.contract.instruments import builtin_instruments

REINTEGRATION_TABLES = ("assessments", "goals", "circumstances", "volunteer_outcomes")
#: Instrument per programme (programmes not listed have no assessments).
PROGRAMME_INSTRUMENT = {"MENT-RDM": "zrm_2017", "MENT-TWE": "zrm_2017", "PEER-ZH": "zrm_2017",
                        "PEER-UT": "zrm_2017", "COSA-TRIAL": "zrm_2010"}
#: Programmes whose matches record personal goals and that record circumstances.
GOAL_PROGRAMMES = ("MENT-RDM", "MENT-TWE", "PEER-ZH", "PEER-UT")
CIRCUMSTANCE_PROGRAMMES = ("MENT-RDM", "MENT-TWE", "PEER-ZH", "COSA-TRIAL")
#: Effect of participation on the latent end score, per programme type and domain (others: OTHER_EFFECT).
EFFECTS = {
    "mentoring": {"housing": 0.35, "finances": 0.3, "work_education": 0.3, "social_network": 0.3,
                  "physical_health": 0.0},
    "peer_mentoring": {"social_network": 0.4, "work_education": 0.3, "substance_use": 0.2, "housing": 0.25,
                       "physical_health": 0.0},
    "cosa": {"social_network": 0.4, "community_participation": 0.3, "mental_health": 0.2, "physical_health": 0.0},
}
OTHER_EFFECT = 0.1
DOMAIN_MEAN = {"justice": 2.6, "finances": 2.9, "housing": 3.1, "work_education": 2.8, "daytime_activities": 2.8,
               "substance_use": 3.0, "addiction": 3.0, "social_network": 3.0, "physical_health": 3.6}
SD_BASE, SD_PERSON, SD_END, SD_FU = 0.8, 0.5, 0.7, 0.8
GOAL_DOMAINS = ("housing", "finances", "work_education", "social_network", "substance_use", "time_use",
                "mental_health", "other")
GOAL_DOMAIN_P = (0.2, 0.2, 0.2, 0.15, 0.08, 0.07, 0.05, 0.05)
#: True probabilities of achieved / partly / not achieved / dropped per goal domain.
GOAL_STATUS = ("achieved", "partly", "not_achieved", "dropped")
GOAL_P = {d: (0.45, 0.25, 0.2, 0.1) for d in GOAL_DOMAINS}
GOAL_P.update({"housing": (0.5, 0.2, 0.2, 0.1), "work_education": (0.35, 0.3, 0.25, 0.1),
               "substance_use": (0.3, 0.3, 0.25, 0.15)})
PEER_NEW_CASE_1Y = 0.12
PEER_WORK_START, PEER_WORK_LATER = 0.35, 0.55
P_CONSENT = 0.7
POSITIVE = {"employment": ("paid_work", "education"), "housing": ("stable",), "income": ("wages",)}


def _phi(x: np.ndarray) -> np.ndarray:
    return ndtr(np.asarray(x, dtype=float))


def _level_probs(mean: np.ndarray, sd: float) -> np.ndarray:
    """P(clip(round(mean + N(0, sd)), 1, 5) = k), k = 1..5; shape (n, 5)."""
    cuts = np.array([1.5, 2.5, 3.5, 4.5])
    upper = _phi((cuts[None, :] - np.asarray(mean)[:, None]) / sd)  # P(latent < cut)
    cdf = np.hstack([upper, np.ones((len(upper), 1))])
    return np.diff(np.hstack([np.zeros((len(cdf), 1)), cdf]), axis=1)


def _draw_level(rng: np.random.Generator, mean: np.ndarray, sd: float) -> np.ndarray:
    return np.clip(np.round(mean + rng.normal(0.0, sd, len(mean))), 1, 5).astype(np.int64)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _effect(ptype: str, domain: str) -> float:
    return EFFECTS.get(ptype, {}).get(domain, OTHER_EFFECT)


def _end_mean(b: np.ndarray, need: np.ndarray, a: np.ndarray | float, eff: float) -> np.ndarray:
    return b + 0.15 + 0.25 * (3 - b) - 0.15 * need + a * eff


def _fu_mean(b: np.ndarray, need: np.ndarray, a: np.ndarray | float, eff: float) -> np.ndarray:
    return b + 0.10 + 0.25 * (3 - b) - 0.2 * need + 0.8 * a * eff


def _p_fu_observed(b: np.ndarray, high: np.ndarray, age: np.ndarray) -> np.ndarray:
    return _logistic(0.8 + 0.5 * (b - 3) - 0.6 * high + 0.03 * (age - 35))


def _days(d: pd.Series | np.ndarray) -> np.ndarray:
    """Dates -> days since 1970-01-01 (NaT -> a very large number)."""
    v = pd.to_datetime(pd.Series(d)).to_numpy(dtype="datetime64[D]")
    out = v.astype("int64").astype(float)
    out[np.isnat(v)] = np.inf
    return out


def _date(days: np.ndarray) -> np.ndarray:
    return (np.asarray(days, dtype=np.int64).astype("datetime64[D]")).astype("datetime64[ns]")


def _person_covariates(p: pd.DataFrame) -> dict[str, np.ndarray]:
    lvl = p["risk_level"].astype(object).to_numpy()
    b = {c: p[c].astype("boolean").fillna(False).to_numpy(dtype=bool) for c in
         ("substance_problem", "psychiatric_problem", "employed_at_intake", "stable_housing_at_intake")}
    high, medium = (lvl == "high").astype(float), (lvl == "medium").astype(float)
    need = (0.6 * high + 0.3 * medium + 0.4 * b["substance_problem"] + 0.4 * b["psychiatric_problem"]
            - 0.3 * b["employed_at_intake"] - 0.3 * b["stable_housing_at_intake"])
    age = (pd.to_datetime(p["intake_date"]).dt.year - p["birth_year"].astype(float)).to_numpy(dtype=float)
    return {"need": need, "high": high, "age": age, "employed": b["employed_at_intake"],
            "housing": b["stable_housing_at_intake"]}


def _baseline_mean(domain: str, x: dict[str, np.ndarray]) -> np.ndarray:
    m = DOMAIN_MEAN.get(domain, 3.2) - 0.7 * x["need"]
    if domain in ("work_education", "daytime_activities", "finances"):
        m = m + 0.6 * x["employed"]
    if domain == "housing":
        m = m + 0.9 * x["housing"]
    return m


def add_reintegration_tables(tables: dict[str, pd.DataFrame], progs: list[dict[str, Any]], seed: int,
                             cutoff: str) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Return the typed tables with the four re-integration tables added, and their truth.

    ``progs`` are the generator's programme entries (``description`` with
    ``programme_id`` and ``programme_type``, ``sim`` with ``design``).
    """
    rng = np.random.default_rng([int(seed), 19])
    cut = float(pd.Timestamp(cutoff).to_datetime64().astype("datetime64[D]").astype("int64"))
    instruments = builtin_instruments()
    ptype = {p["description"]["programme_id"]: p["description"]["programme_type"] for p in progs}
    design = {p["description"]["programme_id"]: p["sim"]["design"] for p in progs}
    P = tables["participants"]
    x_all = _person_covariates(P)
    intake = _days(P["intake_date"])
    pend = _days(P["programme_end_date"])
    comparison = (P["group"] == "comparison").to_numpy()
    # reference end: programme end, or intake + 365 days for the comparison group
    ref_end = np.where(comparison & ~np.isfinite(pend), intake + 365, pend)
    end_due = ref_end <= cut
    fu_due = ref_end + 180 <= cut
    rows: list[pd.DataFrame] = []
    truth: dict[str, Any] = {}
    for pid in sorted(PROGRAMME_INSTRUMENT):
        if pid not in ptype:
            continue
        inst = instruments[PROGRAMME_INSTRUMENT[pid]]
        idx = np.flatnonzero((P["programme_id"] == pid).to_numpy())
        if len(idx) == 0:
            continue
        x = {k: v[idx] for k, v in x_all.items()}
        a = (~comparison[idx]).astype(float)
        assessed = rng.random(len(idx)) < np.where(a == 1, 0.9, 0.8)
        person_u = rng.normal(0.0, SD_PERSON, len(idx))
        end_obs = rng.random(len(idx)) < _logistic(2.2 - 0.8 * x["high"])
        base_day = np.minimum(intake[idx] + rng.integers(0, 15, len(idx)), cut)
        end_day = np.where(np.isfinite(ref_end[idx]), ref_end[idx], cut + 1) + rng.integers(-10, 1, len(idx))
        end_day = np.maximum(end_day, base_day + 1)
        fu_day = ref_end[idx] + 180 + rng.integers(0, 61, len(idx))
        fu_day = np.where(np.isfinite(fu_day), np.minimum(fu_day, cut), cut + 1)
        interim = (rng.random(len(idx)) < 0.3) & (a == 1)
        interim_day = base_day + np.floor((end_day - base_day) / 2)
        t_prog: dict[str, Any] = {"instrument": inst.name, "design": design[pid], "domains": {}}
        for d in inst.domains:
            eff = _effect(ptype[pid], d)
            mb = _baseline_mean(d, x)
            b = np.clip(np.round(mb + person_u + rng.normal(0.0, SD_BASE, len(idx))), 1, 5).astype(np.int64)
            end = _draw_level(rng, _end_mean(b, x["need"], a, eff), SD_END)
            fu = _draw_level(rng, _fu_mean(b, x["need"], a, eff), SD_FU)
            mid = _draw_level(rng, (b + _end_mean(b, x["need"], a, eff)) / 2, SD_END)
            fu_obs = rng.random(len(idx)) < _p_fu_observed(b, x["high"], x["age"])
            for occ, day, score, keep in (
                ("intake", base_day, b, assessed),
                ("interim", interim_day, mid, assessed & interim & (interim_day <= cut)),
                ("end", end_day, end, assessed & end_due[idx] & end_obs & (end_day <= cut)),
                ("follow_up", fu_day, fu, assessed & fu_due[idx] & end_obs & fu_obs & (fu_day <= cut)),
            ):
                k = np.flatnonzero(keep)
                rows.append(pd.DataFrame({
                    "participant_id": P["participant_id"].to_numpy()[idx[k]], "day": day[k], "occasion": occ,
                    "instrument": inst.name, "domain": d, "score": score[k],
                    "assessed_by": np.where(rng.random(len(k)) < 0.8, "professional", "self").astype(object),
                }))
            t_prog["domains"][d] = _domain_truth(x, a, assessed, end_due[idx], fu_due[idx], mb, eff)
        truth[pid] = t_prog
    assessments = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["participant_id", "day", "occasion", "instrument", "domain", "score", "assessed_by"])
    order = {"intake": 0, "interim": 1, "end": 2, "follow_up": 3}
    assessments["_o"] = assessments["occasion"].map(order)
    assessments = assessments.sort_values(["participant_id", "_o", "domain"], kind="stable").reset_index(drop=True)
    out = dict(tables)
    out["assessments"] = pd.DataFrame({
        "assessment_id": [f"za{i:08d}" for i in range(1, len(assessments) + 1)],
        "participant_id": assessments["participant_id"].astype(object),
        "assessment_date": _date(assessments["day"].to_numpy()),
        "occasion": assessments["occasion"].astype(object),
        "instrument": assessments["instrument"].astype(object),
        "domain": assessments["domain"].astype(object),
        "score": pd.array(assessments["score"].to_numpy(dtype=np.int64), dtype="Int64"),
        "assessed_by": assessments["assessed_by"].astype(object),
    })
    goals, goal_truth = _goals(rng, tables, cut)
    circ, circ_truth = _circumstances(rng, tables, ptype, x_all, intake, ref_end, cut)
    vo, peer_truth = _volunteer_outcomes(rng, tables, cut)
    out["goals"], out["circumstances"], out["volunteer_outcomes"] = goals, circ, vo
    return out, {
        "model": "see evaluation/synth/reintegration.py (module docstring)",
        "estimand_notes": (
            "Sample-conditional truth: expectations over the outcome noise given the intake's covariates, "
            "exact (sum over the integer levels), averaged over the group's persons with an intake assessment "
            "who are due (end: programme end, or intake + 365 days for the comparison group, on or before the "
            "cutoff; follow-up: that date at least 180 days before the cutoff). att_*: mean over the programme "
            "group of E[score(1) - score(0)]. complete_case_*: what the complete-case mean change converges to "
            "under the follow-up missingness model (differs from the truth)."),
        "effects_latent": EFFECTS, "other_effect_latent": OTHER_EFFECT,
        "programmes": truth, "goals": goal_truth, "circumstances": circ_truth, "peer_mentors": peer_truth,
    }


def _domain_truth(x, a, assessed, end_due, fu_due, mb, eff) -> dict[str, Any]:
    """Exact expectations of one domain's estimands per group (see the module docstring)."""
    sd_b = math.sqrt(SD_BASE ** 2 + SD_PERSON ** 2)
    pb = _level_probs(mb, sd_b)  # (n, 5)
    levels = np.arange(1, 6)
    out: dict[str, Any] = {}
    e_end = {}
    e_fu = {}
    for arm in (0.0, 1.0):
        # per person: E over b of E[end | b] etc.
        ee = np.zeros(len(mb))
        ef = np.zeros(len(mb))
        imp = np.zeros(len(mb))
        suff_end = np.zeros(len(mb))
        cc_num = np.zeros(len(mb))
        cc_den = np.zeros(len(mb))
        for j, k in enumerate(levels):
            kk = np.full(len(mb), float(k))
            pe = _level_probs(_end_mean(kk, x["need"], arm, eff), SD_END)
            pf = _level_probs(_fu_mean(kk, x["need"], arm, eff), SD_FU)
            ee += pb[:, j] * (pe @ levels - k)
            ef += pb[:, j] * (pf @ levels - k)
            imp += pb[:, j] * pe[:, j + 1:].sum(axis=1)
            suff_end += pb[:, j] * pe[:, 3:].sum(axis=1)
            po = _p_fu_observed(kk, x["high"], x["age"])
            cc_num += pb[:, j] * po * (pf @ levels - k)
            cc_den += pb[:, j] * po
        e_end[arm], e_fu[arm] = ee, ef
        e_end[(arm, "imp")], e_end[(arm, "suff")] = imp, suff_end
        e_fu[(arm, "cc_num")], e_fu[(arm, "cc_den")] = cc_num, cc_den
    suff_intake = pb[:, 3:].sum(axis=1)
    for g, arm in (("programme", 1.0), ("comparison", 0.0)):
        grp = assessed & ((a == 1) if arm == 1.0 else (a == 0))
        me, mf = grp & end_due, grp & fu_due
        entry = {
            "n_intake": int(grp.sum()), "n_end_due": int(me.sum()), "n_follow_up_due": int(mf.sum()),
            "share_sufficient_intake": _mean(suff_intake[grp]),
            "mean_change_end": _mean(e_end[arm][me]),
            "share_improved_end": _mean(e_end[(arm, "imp")][me]),
            "share_sufficient_end": _mean(e_end[(arm, "suff")][me]),
            "mean_change_follow_up": _mean(e_fu[arm][mf]),
            "complete_case_mean_change_follow_up": (
                float(e_fu[(arm, "cc_num")][mf].sum() / e_fu[(arm, "cc_den")][mf].sum()) if mf.any() else None),
        }
        out[g] = entry
    prog = assessed & (a == 1)
    out["att_end"] = _mean((e_end[1.0] - e_end[0.0])[prog & end_due])
    out["att_follow_up"] = _mean((e_fu[1.0] - e_fu[0.0])[prog & fu_due])
    out["effect_latent"] = eff
    return out


def _mean(v: np.ndarray) -> float | None:
    return float(np.mean(v)) if len(v) else None


def _goals(rng, tables, cut) -> tuple[pd.DataFrame, dict[str, Any]]:
    M, P = tables["matches"], tables["participants"]
    prog = M["participant_id"].map(P.set_index("participant_id")["programme_id"])
    use = prog.isin(GOAL_PROGRAMMES).to_numpy() & M["goals_agreed"].astype("boolean").fillna(False).to_numpy(bool)
    M = M[use]
    n_goals = rng.integers(1, 4, len(M))
    rep = np.repeat(np.arange(len(M)), n_goals)
    start = _days(M["start_date"])[rep]
    mend = _days(M["end_date"])[rep]
    agreed = np.minimum(start + rng.integers(0, 31, len(rep)), cut)
    review_at = np.where(np.isfinite(mend), np.maximum(mend, agreed), agreed + 180)
    reviewed = (review_at <= cut) & (rng.random(len(rep)) < 0.9)
    dom = rng.choice(np.array(GOAL_DOMAINS, dtype=object), len(rep), p=GOAL_DOMAIN_P)
    u = rng.random(len(rep))
    status = np.empty(len(rep), dtype=object)
    for d in GOAL_DOMAINS:
        m = dom == d
        cum = np.cumsum(GOAL_P[d])
        status[m] = np.array(GOAL_STATUS, dtype=object)[np.searchsorted(cum, u[m], side="right").clip(0, 3)]
    goals = pd.DataFrame({
        "goal_id": [f"g{i:08d}" for i in range(1, len(rep) + 1)],
        "match_id": M["match_id"].to_numpy()[rep],
        "domain": dom,
        "agreed_date": _date(agreed),
        "reviewed_date": pd.Series(_date(np.where(reviewed, review_at, 0))).where(reviewed).to_numpy(),
        "status": np.where(reviewed, status, None),
    })
    return goals, {
        "programmes": list(GOAL_PROGRAMMES),
        "p_status_by_domain": {d: dict(zip(GOAL_STATUS, GOAL_P[d], strict=True)) for d in GOAL_DOMAINS},
        "p_achieved": {d: GOAL_P[d][0] for d in GOAL_DOMAINS},
        "p_achieved_or_partly": {d: round(GOAL_P[d][0] + GOAL_P[d][1], 10) for d in GOAL_DOMAINS},
        "note": "status is independent of the person and of the review: the true probabilities hold among reviewed goals",
    }


def _circumstances(rng, tables, ptype, x_all, intake, ref_end, cut) -> tuple[pd.DataFrame, dict[str, Any]]:
    P = tables["participants"]
    use = P["programme_id"].isin(CIRCUMSTANCE_PROGRAMMES).to_numpy() & (rng.random(len(P)) < 0.85)
    idx = np.flatnonzero(use)
    a = (P["group"].to_numpy()[idx] == "programme").astype(float)
    emp0 = np.where(x_all["employed"][idx], "paid_work",
                    rng.choice(np.array(["education", "unemployed", "unable_to_work", "other"], dtype=object),
                               len(idx), p=[0.1, 0.6, 0.2, 0.1]))
    hou0 = np.where(x_all["housing"][idx], "stable",
                    rng.choice(np.array(["temporary", "homeless", "institution"], dtype=object), len(idx),
                               p=[0.6, 0.3, 0.1]))
    inc0 = np.where(emp0 == "paid_work", "wages",
                    rng.choice(np.array(["benefits", "none", "other"], dtype=object), len(idx), p=[0.75, 0.15, 0.1]))
    need = x_all["need"][idx]
    lp = {"employment": -0.6 - 0.5 * need, "housing": 0.6 - 0.5 * need, "income": -0.7 - 0.5 * need}
    eff = {"employment": 0.4, "housing": 0.5, "income": 0.3}
    start = {"employment": np.isin(emp0, POSITIVE["employment"]), "housing": hou0 == "stable",
             "income": inc0 == "wages"}
    due = ref_end[idx] + 180 <= cut
    fu_day = np.minimum(ref_end[idx] + 180 + rng.integers(0, 61, len(idx)), cut)
    observed = due & (rng.random(len(idx)) < _logistic(1.0 - 0.5 * x_all["high"][idx]))
    fu: dict[str, np.ndarray] = {}
    truth: dict[str, Any] = {}
    for m in ("employment", "housing", "income"):
        p1 = _logistic(lp[m] + 1.5 * start[m] + eff[m] * a)
        pos = rng.random(len(idx)) < p1
        if m == "employment":
            fu[m] = np.where(pos, rng.choice(np.array(["paid_work", "education"], dtype=object), len(idx), p=[0.8, 0.2]),
                             rng.choice(np.array(["unemployed", "unable_to_work", "other"], dtype=object), len(idx),
                                        p=[0.6, 0.3, 0.1]))
        elif m == "housing":
            fu[m] = np.where(pos, "stable", rng.choice(np.array(["temporary", "homeless", "institution"], dtype=object),
                                                       len(idx), p=[0.6, 0.3, 0.1]))
        else:
            fu[m] = np.where(pos, "wages", rng.choice(np.array(["benefits", "none", "other"], dtype=object), len(idx),
                                                      p=[0.75, 0.15, 0.1]))
        truth[m] = {}
        for pid in sorted(set(P["programme_id"].to_numpy()[idx])):
            inp = P["programme_id"].to_numpy()[idx] == pid
            truth[m][pid] = {
                g: {"share_positive_intake": _mean(start[m][inp & (a == arm)].astype(float)),
                    "share_positive_follow_up": _mean(p1[inp & (a == arm) & due])}
                for g, arm in (("programme", 1.0), ("comparison", 0.0))}
    blank = {m: rng.random((2, len(idx))) < 0.05 for m in ("employment", "housing", "income")}
    pids = P["participant_id"].to_numpy()[idx]
    base = pd.DataFrame({"participant_id": pids, "occasion": "intake", "observation_date": _date(intake[idx]),
                         "employment": np.where(blank["employment"][0], None, emp0),
                         "housing": np.where(blank["housing"][0], None, hou0),
                         "income": np.where(blank["income"][0], None, inc0)})
    k = np.flatnonzero(observed)
    follow = pd.DataFrame({"participant_id": pids[k], "occasion": "follow_up", "observation_date": _date(fu_day[k]),
                           **{m: np.where(blank[m][1][k], None, fu[m][k]) for m in fu}})
    out = pd.concat([base, follow], ignore_index=True).sort_values(["participant_id", "occasion"], kind="stable")
    for c in ("participant_id", "occasion", "employment", "housing", "income"):
        out[c] = out[c].astype(object)
    return out.reset_index(drop=True), {
        "programmes": list(CIRCUMSTANCE_PROGRAMMES), "positive": {m: list(v) for m, v in POSITIVE.items()},
        "truth": truth,
        "note": "share_positive_follow_up: mean true probability among persons due (observed or not)"}


def _volunteer_outcomes(rng, tables, cut) -> tuple[pd.DataFrame, dict[str, Any]]:
    V = tables["volunteers"]
    le = V["lived_experience"].astype("boolean").fillna(False).to_numpy(bool)
    start = _days(V["start_date"])
    consent = le & (rng.random(len(V)) < P_CONSENT) & (start < cut - 30)
    idx = np.flatnonzero(consent)
    rate = -math.log(1.0 - PEER_NEW_CASE_1Y) / 365.0
    t_case = rng.exponential(1.0 / rate, len(idx))
    rows = []
    later_any = np.zeros(len(idx), dtype=bool)
    for j, i in enumerate(idx):
        vid = V["volunteer_id"].iat[i]
        cday = float(min(start[i] + rng.integers(-30, 60), cut))
        if start[i] + t_case[j] <= cut:
            rows.append((vid, cday, start[i] + np.floor(t_case[j]), "new_justice_case", None))
        d0 = start[i] + rng.integers(0, 61)
        if d0 <= cut:
            rows.append((vid, cday, d0, "work_status",
                         "paid_work" if rng.random() < PEER_WORK_START else "unemployed"))
        d = start[i] + 365
        while d <= cut:
            later_any[j] = True
            pos = rng.random() < PEER_WORK_LATER
            rows.append((vid, cday, d, "work_status",
                         str(rng.choice(["paid_work", "education"])) if pos else str(rng.choice(["unemployed", "other"]))))
            d += 365
    df = pd.DataFrame(rows, columns=["volunteer_id", "consent_day", "day", "measure", "value"])
    out = pd.DataFrame({
        "outcome_id": [f"vo{i:07d}" for i in range(1, len(df) + 1)],
        "volunteer_id": df["volunteer_id"].astype(object),
        "consent_to_linkage": pd.array([True] * len(df), dtype="boolean"),
        "consent_date": _date(df["consent_day"].to_numpy()),
        "observation_date": _date(df["day"].to_numpy()),
        "measure": df["measure"].astype(object),
        "value": df["value"].astype(object),
    })
    return out, {
        "p_consent": P_CONSENT, "new_case_1y": PEER_NEW_CASE_1Y,
        "new_case_model": "exponential time from start_date to the first new justice case, censored at the cutoff",
        "p_work_at_start": PEER_WORK_START, "p_work_later": PEER_WORK_LATER,
        "work_latest_expected": _mean(np.where(later_any, PEER_WORK_LATER, PEER_WORK_START)),
        "n_volunteers": int(len(idx)),
    }
