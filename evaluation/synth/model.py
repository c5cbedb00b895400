"""The data-generating model of the synthetic intake: its constants and small helpers.

The model itself is described in :mod:`evaluation.synth.generate`; the
numbers here are its parameters (offence mixes, outcome and volunteer
coefficients, Weibull shapes, cost prices) and the vectorised building blocks
(covariates, linear predictors, Weibull inversion) shared by the generator
(:mod:`evaluation.synth.people`) and the population truth
(:mod:`evaluation.synth.truth`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evaluation.synth.programmes import TYPE_EFFECTS

GENERATOR_VERSION = "1.0"
CUTOFF = "2026-09-30"
EXTRACTED_ON = "2026-10-05"
TRUTH_DRAWS = 200_000
TRUTH_SEED = 20260930  # fixed stream for population quantities (see compute_population_truth)
HORIZON = 730

# internal dates are whole days since 1900-01-01 (all positive; -1 marks "missing")
_EPOCH = np.datetime64("1900-01-01", "D")


def _year(days: np.ndarray) -> np.ndarray:
    """Calendar year of internal day numbers."""
    return (_EPOCH + np.asarray(days).astype("timedelta64[D]")).astype("datetime64[Y]").astype(np.int64) + 1970


def _day(s: str) -> int:
    return int((np.datetime64(s, "D") - _EPOCH).astype(np.int64))


CUTOFF_DAY = _day(CUTOFF)
INTAKE_FIRST_DAY = _day("2020-01-01")
VOLUNTEER_FIRST_DAY = _day("2016-01-01")

CATEGORIES = np.array(["violence", "property", "sexual", "drugs", "public_order", "traffic", "other"])
_CAT = {c: i for i, c in enumerate(CATEGORIES)}
# offence mixes (probabilities over CATEGORIES)
OFFENCE_MIX = {
    "general": np.array([0.30, 0.32, 0.0, 0.12, 0.10, 0.08, 0.08]),
    "sexual": np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
    "rj": np.array([0.38, 0.30, 0.0, 0.20, 0.10, 0.0, 0.02]),
}
# category of new (non-same) cases
NEW_CASE_MIX = np.array([0.26, 0.36, 0.01, 0.12, 0.12, 0.09, 0.04])
# (statutory maximum in years, probability) per category; pretrial detention allowed from 4 years
MAX_PENALTY = {
    "violence": ([1.0, 2.0, 4.0, 8.0, 9.0, 12.0], [0.10, 0.30, 0.15, 0.25, 0.10, 0.10]),
    "property": ([2.0, 4.0, 6.0, 8.0], [0.10, 0.60, 0.25, 0.05]),
    "sexual": ([4.0, 6.0, 8.0, 12.0], [0.25, 0.25, 0.30, 0.20]),
    "drugs": ([1.0, 4.0, 8.0, 12.0], [0.30, 0.30, 0.35, 0.05]),
    "public_order": ([0.25, 1.0, 2.0, 4.0], [0.20, 0.30, 0.35, 0.15]),
    "traffic": ([0.25, 0.5, 1.0, 3.0], [0.40, 0.25, 0.25, 0.10]),
    "other": ([0.5, 1.0, 2.0, 4.0, 6.0], [0.30, 0.30, 0.20, 0.15, 0.05]),
}

# ---------------------------------------------------------------- true models
# Recidivism outcome model (conditional log hazard ratios per covariate).
OUTCOME_COEF = {
    "risk_medium": 0.40,
    "risk_high": 0.85,
    "risk_unknown": 0.40,
    "log1p_prior_cases": 0.30,
    "age_per_year_minus_35": -0.025,
    "substance_problem": 0.25,
    "psychiatric_problem": 0.10,
    "employed_at_intake": -0.30,
    "stable_housing_at_intake": -0.20,
    "female": -0.30,
}
INDEX_COEF = {"violence": 0.0, "property": 0.15, "sexual": -0.50, "drugs": 0.10,
              "public_order": 0.05, "traffic": -0.20, "other": -0.10}
WEIBULL_SHAPE = 0.75
# baseline cumulative hazard of a counting case at 730 days for covariate value 0
BASE_H730 = 0.31
P_SAME_CATEGORY = 0.30  # probability that a new case repeats the index category (non-COSA)
COSA_SEXUAL_SHARE = 0.10  # share of sexual cases among COSA comparison persons' new cases
NOISE_RATE_YEAR = 0.06  # acquittals and technical dismissals per year (times exp(0.5 * lp))
DEATH_RATE_YEAR = 0.006
EMIGRATION_RATE_YEAR = 0.008

# Volunteer stopping (Weibull PH), log hazard ratios
VOLUNTEER_COEF = {
    "lived_experience": 0.20,
    "personal_invitation": -0.36,
    "basic_training": -0.51,
    "supervision": -0.36,
    "recognition": -0.22,
}
VOLUNTEER_SHAPE = 0.85
VOLUNTEER_BASE_H365 = 0.62
VOLUNTEER_END_REASONS = {
    "time_constraints": 0.25, "work_or_study": 0.18, "moved": 0.10, "dissatisfied": 0.10,
    "personal_circumstances": 0.15, "health": 0.08, "ended_by_organisation": 0.05,
    "assignment_completed": 0.05, "other": 0.03, "unknown": 0.01,
}
# Match breakdown (Weibull PH), log hazard ratios
MATCH_COEF = {
    "same_sex": -0.40,
    "volunteer_lived_experience": -0.25,
    "goals_agreed": -0.50,
    "participant_risk_high": 0.35,
}
MATCH_SHAPE = 0.80
MATCH_BREAKDOWN_REASONS = {"participant_withdrew": 0.50, "volunteer_withdrew": 0.20,
                           "ended_by_professional": 0.25, "other": 0.05}
P_MATCH_ENDS_ON_REOFFENCE = 0.35
P_NEVER_MATCHED = 0.06
P_REMATCH = 0.6
# Unit costs (euros)
COSTS = {
    "coordination_fte_base": 0.4,
    "coordination_fte_per_active_participant": 0.03,
    "coordination_fte_year_eur": 92_000.0,
    "recruitment_screening_per_new_volunteer": 185.0,
    "training_per_hour_per_volunteer": 42.0,
    "supervision_per_session": 65.0,
    "insurance_per_volunteer_quarter": 7.5,
    "materials_per_active_participant_quarter": 30.0,
    "overhead_share": 0.12,
}


# ---------------------------------------------------------------- small helpers
def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choice(rng: np.random.Generator, values, p, size) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.asarray(values)[rng.choice(len(p), size=size, p=p / p.sum())]


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """Start index of each row's group in a sorted key array (row -> first row of its group)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    first = np.flatnonzero(new)
    return first[np.cumsum(new) - 1]


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """0-based position of each row in its group (keys sorted)."""
    return np.arange(len(keys)) - _group_starts(keys)


def _pseudonyms(rng: np.random.Generator, n: int, prefix: str) -> np.ndarray:
    """Unique random hexadecimal pseudonyms like ``p3f9a01c2d4``."""
    vals = rng.choice(16**10, size=n, replace=False) if n <= 10**6 else _unique_ints(rng, n)
    return np.array([f"{prefix}{v:010x}" for v in vals.tolist()], dtype=object)


def _unique_ints(rng: np.random.Generator, n: int) -> np.ndarray:
    vals = np.unique(rng.integers(0, 16**10, size=int(n * 1.01) + 16))
    while len(vals) < n:  # pragma: no cover - astronomically unlikely
        vals = np.unique(np.concatenate([vals, rng.integers(0, 16**10, size=n)]))
    return rng.permutation(vals)[:n]


def _seq_ids(prefix: str, n: int, width: int = 8) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _weibull_inverse(cumhaz: np.ndarray, h_ref: np.ndarray, t_ref: float, shape: float) -> np.ndarray:
    """Time t at which H(t) = h_ref * (t / t_ref)**shape reaches ``cumhaz``."""
    return t_ref * np.power(cumhaz / h_ref, 1.0 / shape)


def _n_scaled(n1: int, scale: float, minimum: int) -> int:
    if n1 == 0:
        return 0
    return max(minimum, int(round(n1 * scale)))


# ---------------------------------------------------------------- persons
def _draw_covariates(rng: np.random.Generator, sim: dict[str, Any], n: int, selected: np.ndarray) -> dict[str, np.ndarray]:
    """Background covariates for ``n`` persons of one programme's population.

    ``selected`` marks persons who carry the programme's selection shifts
    (participants of observational and descriptive designs; everyone in a trial).
    """
    sel = selected.astype(float)
    z = rng.normal(0.0, 1.0, n) + sim["z_shift"] * sel
    age = np.clip(np.round(sim["age_mean"] - 3.0 * z + rng.normal(0.0, 10.0, n)), 18, 70).astype(np.int64)
    u = rng.random(n)
    female_share = sim["female_share"]
    sex = np.where(u < female_share, "female", "male").astype(object)
    sex[(u >= female_share) & (u < female_share + 0.003)] = "other"
    sex[(u >= female_share + 0.003) & (u < female_share + 0.008)] = "unknown"
    prior = np.minimum(rng.poisson(np.exp(0.8 + 0.55 * z + 0.015 * (age - 30))), 150)
    prior_cust = rng.binomial(prior, np.clip(0.15 + 0.08 * z, 0.02, 0.6))
    afc = np.where(prior > 0, 12 + np.floor((age - 12) * rng.beta(1.3, 2.5, n)), age).astype(np.int64)
    index_cat = _choice(rng, np.arange(len(CATEGORIES)), OFFENCE_MIX[sim["offence_mix"]], n)
    # risk assessment
    noisy = z + rng.normal(0.0, 0.6, n)
    sexual = sim["offence_mix"] == "sexual"
    if sexual:
        instrument = np.full(n, "static_99r", dtype=object)
        score = np.clip(np.round(2.5 + 1.8 * noisy), -3, 12)
        level = np.where(score <= 1, "low", np.where(score <= 3, "medium", "high")).astype(object)
    else:
        instrument = _choice(rng, np.array(["risc", "other"], dtype=object), [0.95, 0.05], n)
        score = np.clip(np.round(30 + 10 * noisy), 0, 100)
        level = np.where(score < 25, "low", np.where(score < 40, "medium", "high")).astype(object)
    unknown = rng.random(n) < 0.03
    level[unknown] = "unknown"
    instrument[unknown] = "none"
    score = score.astype(float)
    score[unknown] = np.nan
    employed = rng.random(n) < _logistic(-0.3 - 0.8 * z + sim["employ_shift"] * sel)
    housing = rng.random(n) < _logistic(1.2 - 0.7 * z + sim["housing_shift"] * sel)
    substance = rng.random(n) < _logistic(-0.8 + 0.7 * z)
    psychiatric = rng.random(n) < _logistic(-1.6 + 0.4 * z)
    return {
        "age": age, "sex": sex, "prior_cases": prior, "prior_custodial_sentences": prior_cust,
        "age_first_case": afc, "index_cat": index_cat, "risk_level": level,
        "risk_instrument": instrument, "risk_score": score, "employed_at_intake": employed,
        "stable_housing_at_intake": housing, "substance_problem": substance,
        "psychiatric_problem": psychiatric,
    }


def outcome_linear_predictor(cov: dict[str, np.ndarray]) -> np.ndarray:
    """Linear predictor x'b of the true recidivism model (without the programme effect)."""
    lvl = cov["risk_level"]
    lp = (
        OUTCOME_COEF["risk_medium"] * (lvl == "medium")
        + OUTCOME_COEF["risk_high"] * (lvl == "high")
        + OUTCOME_COEF["risk_unknown"] * (lvl == "unknown")
        + OUTCOME_COEF["log1p_prior_cases"] * np.log1p(cov["prior_cases"])
        + OUTCOME_COEF["age_per_year_minus_35"] * (cov["age"] - 35)
        + OUTCOME_COEF["substance_problem"] * cov["substance_problem"]
        + OUTCOME_COEF["psychiatric_problem"] * cov["psychiatric_problem"]
        + OUTCOME_COEF["employed_at_intake"] * cov["employed_at_intake"]
        + OUTCOME_COEF["stable_housing_at_intake"] * cov["stable_housing_at_intake"]
        + OUTCOME_COEF["female"] * (cov["sex"] == "female")
    )
    idx = np.array([INDEX_COEF[c] for c in CATEGORIES])
    return lp.astype(float) + idx[cov["index_cat"]]


def _programme_log_hr(ptype: str, index_cat: np.ndarray) -> np.ndarray:
    eff = TYPE_EFFECTS[ptype]
    out = np.full(len(index_cat), math.log(eff["hr_general"]))
    if "hr_general_drugs" in eff:
        out[index_cat == _CAT["drugs"]] = math.log(eff["hr_general_drugs"])
    return out


def _special_share(ptype: str, index_cat: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Probability that a counting case is 'special' (same category as the index offence)."""
    if ptype == "cosa":
        eff = TYPE_EFFECTS["cosa"]
        return np.where(treated, COSA_SEXUAL_SHARE * eff["hr_sexual"] / eff["hr_general"], COSA_SEXUAL_SHARE)
    return P_SAME_CATEGORY + (1 - P_SAME_CATEGORY) * NEW_CASE_MIX[index_cat]


def _match_reason(kind: np.ndarray, breason: np.ndarray) -> np.ndarray:
    out = np.empty(len(kind), dtype=object)
    out[kind == 0] = "planned_completion"
    out[kind == 1] = breason[kind == 1]
    out[kind == 2] = "participant_reoffended"
    out[(kind == 3) | (kind == 4)] = "other"
    out[kind == 5] = "volunteer_withdrew"
    return out


def _programme_reason(kind: np.ndarray, breason: np.ndarray) -> np.ndarray:
    bmap = {"participant_withdrew": "dropped_out", "volunteer_withdrew": "other",
            "ended_by_professional": "excluded", "other": "other"}
    out = np.empty(len(kind), dtype=object)
    out[kind == 0] = "completed"
    b = kind == 1
    out[b] = np.array([bmap[x] for x in breason[b]], dtype=object)
    out[kind == 2] = "reoffended"
    out[kind == 3] = "died"
    out[kind == 4] = "moved"
    out[kind == 5] = "other"
    return out


def _tv_weibull_times(E: np.ndarray, fixed: np.ndarray, switches: list[tuple[np.ndarray, float]],
                      h_ref: float, t_ref: float, shape: float) -> np.ndarray:
    """Event times of a Weibull PH model with covariates that switch from 0 to 1.

    Cumulative baseline hazard ``h_ref * (t / t_ref)**shape``; switch ``j`` (time
    ``s_j`` in days, -1 = never) adds ``coef_j`` to the log hazard for ``t > s_j``.
    Inversion of the piecewise cumulative hazard (Austin 2012) given unit
    exponential draws ``E``.
    """
    n = len(E)
    times = np.stack([np.where(s >= 0, s.astype(float), np.inf) for s, _ in switches], axis=1)
    bps = np.sort(times, axis=1)
    lam0 = lambda t: h_ref * np.power(t / t_ref, shape)  # noqa: E731
    acc = np.zeros(n)
    out = np.full(n, np.nan)
    prev = np.zeros(n)
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(len(switches) + 1):
            nxt = bps[:, j] if j < len(switches) else np.full(n, np.inf)
            eta = fixed.copy()
            for (_s, coef), col in zip(switches, times.T, strict=True):
                eta = eta + coef * (col <= prev)
            inc = np.exp(eta) * (lam0(nxt) - lam0(prev))
            inc = np.where(np.isnan(inc), 0.0, inc)  # inf - inf for empty intervals
            hit = np.isnan(out) & (acc + inc >= E)
            target = lam0(prev[hit]) + (E[hit] - acc[hit]) / np.exp(eta[hit])
            out[hit] = t_ref * np.power(target / h_ref, 1.0 / shape)
            acc = acc + inc
            prev = np.where(np.isfinite(nxt), nxt, prev)
    return out


def _special_share_rows(P: dict[str, np.ndarray], who: np.ndarray) -> np.ndarray:
    out = np.empty(len(who))
    ptype = P["ptype"][who]
    for t in TYPE_EFFECTS:
        m = ptype == t
        out[m] = _special_share(t, P["index_cat"][who[m]], P["treated"][who[m]])
    return out
