"""Known truth of the synthetic intake: population quantities by simulation, and per-intake counts.

The marginal hazard ratios, prevalences and RMST are properties of the
data-generating process (computed once from a fixed stream and cached in
``evaluation/synth/truth.json`` with a fingerprint of the model code);
sample quantities (counts, costs) are computed per intake by :func:`_truth`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.synth.model import (
    BASE_H730,
    COSA_SEXUAL_SHARE,
    COSTS,
    CUTOFF,
    DEATH_RATE_YEAR,
    EMIGRATION_RATE_YEAR,
    GENERATOR_VERSION,
    HORIZON,
    INDEX_COEF,
    MATCH_BREAKDOWN_REASONS,
    MATCH_COEF,
    MATCH_SHAPE,
    NEW_CASE_MIX,
    NOISE_RATE_YEAR,
    OFFENCE_MIX,
    OUTCOME_COEF,
    P_MATCH_ENDS_ON_REOFFENCE,
    P_NEVER_MATCHED,
    P_REMATCH,
    P_SAME_CATEGORY,
    TRUTH_DRAWS,
    TRUTH_SEED,
    VOLUNTEER_BASE_H365,
    VOLUNTEER_COEF,
    VOLUNTEER_END_REASONS,
    VOLUNTEER_SHAPE,
    WEIBULL_SHAPE,
    _draw_covariates,
    _programme_log_hr,
    _special_share,
    _weibull_inverse,
    outcome_linear_predictor,
)
from evaluation.synth.programmes import TYPE_EFFECTS, catalogue

if TYPE_CHECKING:
    from evaluation.synth.people import _Gen

def _cox_binary(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Cox partial-likelihood estimate for one binary covariate (no tied event times)."""
    order = np.argsort(-time, kind="stable")
    d = event[order].astype(float)
    xs = x[order].astype(float)
    n1 = np.cumsum(xs)
    n0 = np.cumsum(1.0 - xs)
    b = 0.0
    info = 1.0
    for _ in range(100):
        r = n1 * math.exp(b) / (n1 * math.exp(b) + n0)
        score = float(np.sum(d * (xs - r)))
        info = float(np.sum(d * r * (1.0 - r)))
        step = score / info
        b += step
        if abs(step) < 1e-12:
            break
    return b, 1.0 / math.sqrt(info)


def _weibull_rmst(c: np.ndarray, tau: float, shape: float) -> np.ndarray:
    """Integral of exp(-c t^shape) from 0 to tau (closed form via the incomplete gamma function)."""
    from scipy.special import gamma, gammainc

    a = 1.0 / shape
    return a * np.power(c, -a) * gamma(a) * gammainc(a, c * tau**shape)


def _competing_rate_per_day(age: np.ndarray) -> np.ndarray:
    """Hazard of death or emigration (competing events) per day, as in the generator."""
    return (DEATH_RATE_YEAR * np.exp(0.04 * (age - 35)) + EMIGRATION_RATE_YEAR) / 365.25


def _endpoint_truth(rng: np.random.Generator, lp: np.ndarray, beta: np.ndarray,
                    q0: np.ndarray, q1: np.ndarray, mu: np.ndarray) -> dict[str, float]:
    n = len(lp)
    h0 = BASE_H730 * np.exp(lp) * q0
    h1 = BASE_H730 * np.exp(lp + beta) * q1
    out: dict[str, float] = {}
    for t in (365, 730):
        out[f"prevalence_{t}d_programme"] = float(np.mean(-np.expm1(-h1 * (t / HORIZON) ** WEIBULL_SHAPE)))
        out[f"prevalence_{t}d_comparison"] = float(np.mean(-np.expm1(-h0 * (t / HORIZON) ** WEIBULL_SHAPE)))
    c1 = h1 / HORIZON**WEIBULL_SHAPE
    c0 = h0 / HORIZON**WEIBULL_SHAPE
    out["rmst_730d_programme"] = float(np.mean(_weibull_rmst(c1, HORIZON, WEIBULL_SHAPE)))
    out["rmst_730d_comparison"] = float(np.mean(_weibull_rmst(c0, HORIZON, WEIBULL_SHAPE)))
    out["rmst_730d_difference"] = out["rmst_730d_programme"] - out["rmst_730d_comparison"]
    E = rng.exponential(size=n)  # common random numbers for both potential outcomes
    t1 = _weibull_inverse(E, h1, HORIZON, WEIBULL_SHAPE)
    t0 = _weibull_inverse(E, h0, HORIZON, WEIBULL_SHAPE)
    time = np.minimum(np.r_[t1, t0], HORIZON)
    event = np.r_[t1, t0] < HORIZON
    x = np.r_[np.ones(n), np.zeros(n)]
    b, se = _cox_binary(time, event, x)
    out["marginal_log_hr"] = b
    # conservative Monte-Carlo SE: the model-based SE of a sample of n independent pairs of
    # arms divided by sqrt(2); the common random numbers make the true MC error smaller
    out["marginal_log_hr_mc_se"] = se / math.sqrt(2.0)
    out["marginal_hr"] = math.exp(b)
    # cumulative incidence with death and emigration as competing events (Monte Carlo,
    # common competing times for both arms): what an Aalen-Johansen estimate targets
    competing = rng.exponential(1.0 / mu)
    for t in (365, 730):
        out[f"cuminc_{t}d_programme"] = float(np.mean((t1 <= t) & (t1 < competing)))
        out[f"cuminc_{t}d_comparison"] = float(np.mean((t0 <= t) & (t0 < competing)))
    return out


def _truth_fingerprint(draws: int, seed: int) -> str:
    """Hash of everything the population truth depends on (model constants and code)."""
    import hashlib
    import inspect

    parts = [
        GENERATOR_VERSION, draws, seed, HORIZON, WEIBULL_SHAPE, BASE_H730, P_SAME_CATEGORY,
        COSA_SEXUAL_SHARE, OUTCOME_COEF, INDEX_COEF, TYPE_EFFECTS, OFFENCE_MIX["general"].tolist(),
        OFFENCE_MIX["sexual"].tolist(), OFFENCE_MIX["rj"].tolist(), NEW_CASE_MIX.tolist(),
        [(p["description"]["programme_id"], p["description"]["programme_type"], p["sim"]) for p in catalogue()],
    ]
    for fn in (_draw_covariates, outcome_linear_predictor, _programme_log_hr, _special_share,
               _endpoint_truth, _weibull_rmst, _cox_binary, _weibull_inverse, compute_population_truth,
               _competing_rate_per_day):
        parts.append(inspect.getsource(fn))
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


TRUTH_CACHE = Path(__file__).with_name("truth.json")


def compute_population_truth(draws: int = TRUTH_DRAWS, seed: int = TRUTH_SEED) -> dict[str, Any]:
    """Population truth per programme and endpoint, by simulation.

    The estimands (marginal hazard ratio for the participants, ATT; 1- and
    2-year prevalence and 730-day RMST under programme and comparison;
    reference rate of the descriptive programme) are properties of the
    data-generating process, not of one generated sample, so they are
    computed once from a fixed random stream (``seed``) and are identical for
    every intake. Takes about 10-15 s for 200,000 draws per programme.

    Returns
    -------
    dict
        ``{programme_id: {...}}``.
    """
    rng = np.random.default_rng(seed)
    progs_out: dict[str, Any] = {}
    for prog in catalogue():
        d, sim = prog["description"], prog["sim"]
        ptype = d["programme_type"]
        cov = _draw_covariates(rng, sim, draws, np.ones(draws, dtype=bool))
        lp = outcome_linear_predictor(cov)
        idx = cov["index_cat"]
        beta = _programme_log_hr(ptype, idx)
        ones = np.ones(draws)
        eff = TYPE_EFFECTS[ptype]
        general = {"conditional_log_hr": math.log(eff["hr_general"]),
                   "conditional_hr": eff["hr_general"]}
        if "hr_general_drugs" in eff:
            general["conditional_log_hr_by_index_offence"] = {
                "drugs": math.log(eff["hr_general_drugs"]), "other_categories": math.log(eff["hr_general"])}
            general["conditional_log_hr"] = None
            general["conditional_hr"] = None
            general["note"] = "programme effect differs by index offence (drugs vs other); no single conditional HR"
        mu = _competing_rate_per_day(cov["age"])
        general.update(_endpoint_truth(rng, lp, beta, ones, ones, mu))
        q0 = _special_share(ptype, idx, np.zeros(draws, dtype=bool))
        q1 = _special_share(ptype, idx, np.ones(draws, dtype=bool))
        special: dict[str, Any] = {}
        if ptype == "cosa":
            special = {"conditional_log_hr": math.log(eff["hr_sexual"]), "conditional_hr": eff["hr_sexual"],
                       "definition": "new sexual offence (index offence sexual for all COSA core members)"}
        elif "hr_general_drugs" in eff:
            special = {"conditional_log_hr": None, "conditional_hr": None,
                       "conditional_log_hr_by_index_offence": general["conditional_log_hr_by_index_offence"],
                       "definition": "same offence category as the index offence"}
        else:
            special = {"conditional_log_hr": general["conditional_log_hr"], "conditional_hr": general["conditional_hr"],
                       "definition": "same offence category as the index offence"}
        special.update(_endpoint_truth(rng, lp, beta, q0, q1, mu))
        entry: dict[str, Any] = {
            "programme_id": d["programme_id"],
            "programme_type": ptype,
            "design": sim["design"],
            "selection": {"latent_propensity_shift": sim["z_shift"], "employment_logit_shift": sim["employ_shift"],
                          "housing_logit_shift": sim["housing_shift"],
                          "applies_to": "everyone (randomised)" if sim["design"] == "rct" else "participants only"},
            "endpoints": {"general": general, "special": special},
        }
        if sim["design"] == "descriptive":
            ref = _draw_covariates(rng, sim, draws, np.zeros(draws, dtype=bool))
            h_ref = BASE_H730 * np.exp(outcome_linear_predictor(ref))
            entry["reference_rate"] = {
                "prevalence_730d": float(np.mean(-np.expm1(-h_ref))),
                "prevalence_365d": float(np.mean(-np.expm1(-h_ref * 0.5**WEIBULL_SHAPE))),
                "population": "probation clients like the programme's catchment without its selection "
                              "(covariates without the programme's selection shifts), no programme; "
                              "a non-causal benchmark as a published national rate would be",
            }
        progs_out[d["programme_id"]] = entry
    return progs_out


def population_truth() -> dict[str, Any]:
    """The population truth, from ``evaluation/synth/truth.json`` when it is current, else computed."""
    fp = _truth_fingerprint(TRUTH_DRAWS, TRUTH_SEED)
    if TRUTH_CACHE.exists():
        cached = json.loads(TRUTH_CACHE.read_text(encoding="utf-8"))
        if cached.get("fingerprint") == fp:
            return cached["programmes"]
    return compute_population_truth()


def refresh_truth_cache() -> Path:
    """Recompute the population truth and store it in ``evaluation/synth/truth.json``."""
    fp = _truth_fingerprint(TRUTH_DRAWS, TRUTH_SEED)
    data = {"fingerprint": fp, "draws": TRUTH_DRAWS, "seed": TRUTH_SEED, "programmes": compute_population_truth()}
    TRUTH_CACHE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return TRUTH_CACHE


def _truth(g: _Gen, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    pop = population_truth()
    progs_out = []
    for k, prog in enumerate(g.progs):
        pid = prog["description"]["programme_id"]
        entry = {"programme_id": pid, **{key: v for key, v in pop[pid].items() if key != "programme_id"}}
        entry["n_programme"] = int(np.sum(g.P["treated"] & (g.P["prog"] == k)))
        entry["n_comparison"] = int(np.sum(~g.P["treated"] & (g.P["prog"] == k)))
        progs_out.append(entry)
    costs = tables["costs"]
    cost_truth = {
        "unit_costs": COSTS,
        "total_eur_by_programme": {k: round(float(v), 2) for k, v in costs.groupby("programme_id", sort=True)["amount_eur"].sum().items()},
        "total_eur_by_programme_and_category": {
            pid: {c: round(float(v), 2) for c, v in grp.groupby("category", sort=True)["amount_eur"].sum().items()}
            for pid, grp in costs.groupby("programme_id", sort=True)},
        "note": "the costs table holds the true amounts (no measurement error)",
    }
    return {
        "generator": "evaluation.synth.generate", "generator_version": GENERATOR_VERSION,
        "seed": g.seed, "scale": g.scale, "cutoff_date": CUTOFF,
        "counts": {name: int(len(df)) for name, df in tables.items()},
        "recidivism_model": {
            "kind": "Weibull proportional intensity of counting cases on the at-risk clock (days since follow_up_start excluding detention)",
            "weibull_shape": WEIBULL_SHAPE, "baseline_cumulative_hazard_at_730d": BASE_H730,
            "covariate_log_hr": OUTCOME_COEF, "index_offence_log_hr": INDEX_COEF,
            "programme_effects_hr": TYPE_EFFECTS,
            "counting_disposals": ["conviction", "prosecutor_sanction", "pending", "policy_dismissal"],
            "noise_disposals": ["acquittal", "technical_dismissal"],
            "noise_rate_per_year": f"{NOISE_RATE_YEAR} * exp(0.5 * lp)",
            "p_same_category_non_cosa": P_SAME_CATEGORY, "cosa_sexual_share_comparison": COSA_SEXUAL_SHARE,
            "death_rate_per_year": f"{DEATH_RATE_YEAR} * exp(0.04 * (age - 35))",
            "emigration_rate_per_year": EMIGRATION_RATE_YEAR,
            "estimand_notes": (
                "conditional_log_hr: the generator's log hazard ratio of participation given the covariates "
                "(intention to treat from follow_up_start). marginal_log_hr: Cox estimate on "
                f"{TRUTH_DRAWS} draws of the participants' covariate distribution with both potential outcomes, "
                f"administrative censoring at {HORIZON} days and no competing events (ATT; for the randomised "
                "programme ATT = ATE). prevalence_*: 1 - S(t) without competing events (net risk). "
                "rmst_730d: restricted mean event-free days up to 730. cuminc_*: cumulative incidence "
                "with death and emigration as competing events (Monte Carlo; the target of Aalen-Johansen)."),
        },
        "programmes": progs_out,
        "volunteers": {
            "kind": "Weibull proportional hazards of stopping, time since start_date (days)",
            "weibull_shape": VOLUNTEER_SHAPE, "baseline_cumulative_hazard_at_365d": VOLUNTEER_BASE_H365,
            "log_hr": VOLUNTEER_COEF,
            "time_varying": {
                "basic_training": "0 before, 1 from the event_date of the first basic_training event on",
                "supervision": "1 from the event_date of the first individual/group/peer_supervision event on",
                "recognition": "1 from the event_date of the first recognition event on",
            },
            "fixed": {"lived_experience": "volunteers.lived_experience",
                      "personal_invitation": "recruitment_channel == personal_invitation"},
            "end_reason_shares": VOLUNTEER_END_REASONS,
            "end_reasons_note": "competing reasons with proportional cause-specific hazards (share x all-cause hazard)",
            "annual_turnover_band": [0.20, 0.35],
            "naive_bias_note": "coding 'ever trained' at baseline is biased towards protection (immortal time); "
                               "a counting-process Cox model with the switch at the first basic_training recovers log_hr",
        },
        "matches": {
            "kind": "Weibull proportional hazards of breakdown (early ending initiated within the match), days since start_date",
            "weibull_shape": MATCH_SHAPE,
            "baseline_cumulative_hazard_at_365d_by_programme": {
                p["description"]["programme_id"]: -math.log1p(-p["sim"]["breakdown_h12"]) for p in g.progs},
            "log_hr": MATCH_COEF,
            "covariates": {"same_sex": "participant and volunteer both male or both female",
                           "volunteer_lived_experience": "volunteers.lived_experience",
                           "goals_agreed": "matches.goals_agreed (3% recorded missing completely at random)",
                           "participant_risk_high": "participants.risk_level == high"},
            "breakdown_reason_shares": MATCH_BREAKDOWN_REASONS,
            "other_endings": {
                "volunteer_stopped": "match ends on the volunteer's end_date (volunteer_withdrew)",
                "reoffence": f"with probability {P_MATCH_ENDS_ON_REOFFENCE}, 3-45 days after a new counting offence (participant_reoffended)",
                "death_or_emigration": "other",
                "planned": "planned_completion at planned_end_date",
            },
            "circles": "COSA circle: breakdown model with goals_agreed and participant_risk_high only; every member's match ends at the circle end or the member's own end",
            "p_never_matched": P_NEVER_MATCHED, "p_rematch_after_early_end": P_REMATCH,
        },
        "rj_sessions": {"p_victim_participated": 0.85, "p_agreement_reached": 0.75, "p_fulfilled_given_agreement": 0.8,
                        "victim_satisfaction_distribution_1_to_5": [0.03, 0.07, 0.15, 0.40, 0.35]},
        "costs": cost_truth,
    }
