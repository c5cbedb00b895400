"""Synthetic intake with known truth: ``evaluation synth``.

:func:`generate_intake` writes a complete intake (every table and field of
``data_schema/datapackage.json``, ``programmes.yaml``, ``extract.yaml``) plus
``truth.json`` recording every true parameter used by the generator, so that
estimators can be checked against known values.

Scale
-----
``scale`` multiplies all population sizes linearly. At ``scale=1`` (the demo)
there are 1,250 participants in 8 programmes, a comparison pool of 2,500
persons, about 300 volunteers (205 recruited over 2016-2026 plus those
recruited when no volunteer with free capacity is available at a match start;
COSA circles need many) and about 37,000 contacts. ``scale=40`` gives national
scale: 50,000 participants, 100,000 comparison persons, about 11,000
volunteers and about 1.5 million contacts (about 45 s as CSV; see
``benchmarks/bench_synth.py``). Very small scales keep at least a handful of
persons per programme.

Data-generating model (all times in days)
------------------------------------------
*Recidivism.* Counting criminal cases (offence date after the start of
follow-up, disposal other than acquittal/technical dismissal) follow a
non-homogeneous Poisson process on the at-risk clock (days since
``follow_up_start`` excluding detention) with Weibull proportional intensity
``lambda(t | x, a) = H * k / 730 * (t / 730)**(k - 1) * exp(x'b + a * beta_p)``:
the first counting case therefore has exactly a Weibull proportional-hazards
distribution with conditional log hazard ratio ``beta_p`` for programme
participation (intention to treat, from follow-up start). ``k < 1`` (hazards
decline with time). The category of each case is an independent thinning of
the process (same category as the index offence with a fixed probability;
for COSA the probability of a sexual case is lower under the programme by
``hr_sexual / hr_general``), so special (same-category) recidivism is again
exactly proportional hazards. Acquittals and technical dismissals are added as
a separate noise process and do not touch the truth. A custodial sentence
puts the person in detention from the offence date for ``custodial_days``;
time in detention is not at risk. Death and emigration are independent
competing events.

*Confounding.* Participants of observational programmes differ from their
comparison pool through a latent criminogenic propensity and employment and
housing shifts; the outcome depends only on observed covariates (risk level,
prior cases, age, sex, employment, housing, substance and psychiatric
problems, index offence category), so there is no unmeasured confounding
given those covariates and matching/IPW on them targets the ATT.

*Volunteers.* Stopping follows a Weibull proportional-hazards model with
fixed covariates (lived experience, personal invitation) and three
time-varying switches that happen after the start: first basic training,
first supervision session, first recognition; each switches from 0 to 1 on
the ``event_date`` of the first such ``volunteer_support`` event.

*Matches.* Volunteers take at most 2 concurrent matches or circles (3 for
mediators and facilitators), busy until the planned end; one-to-one
participants have one match at a time (a second one after an early end not
caused by the participant, with probability 0.6). Early ending ("breakdown") of a match follows a Weibull
proportional-hazards model on same-sex matching, the volunteer's lived
experience, goals agreed and the participant's high risk level; matches
also end when the volunteer stops, on reoffending (with a fixed
probability), death or emigration, and otherwise at the planned end date.

The marginal hazard ratios, prevalences and RMST in ``truth.json`` are
population quantities of the data-generating process: they are computed by
simulation (:func:`compute_population_truth`, 200,000 draws per programme,
fixed seed ``TRUTH_SEED``) and stored in ``evaluation/synth_truth.json``
together with a fingerprint of the model; generation reuses the stored values
when the fingerprint matches (else recomputes, ~10-15 s). They therefore do
not depend on ``seed`` or ``scale``. Sample quantities (counts, costs) are
written per intake.

Errors
------
``inject_errors=True`` appends one row per rule of the contract that breaks
exactly that rule and lists it in ``planted_errors.csv`` (see
:mod:`evaluation.synth.errors`); :func:`evaluation.synth.errors.add_identifier_columns`
adds direct identifiers for tests of the identifier check.

References
----------
Duwe G. (2018). Can Circles of Support and Accountability (COSA) significantly
reduce sexual recidivism? Results from a randomized controlled trial in
Minnesota. Journal of Experimental Criminology 14:463-484.
Bender R., Augustin T., Blettner M. (2005). Generating survival times to
simulate Cox proportional hazards models. Statistics in Medicine 24:1713-1723.
Austin P.C. (2012). Generating survival times to simulate Cox proportional
hazards models with time-varying covariates. Statistics in Medicine 31:3946-3958.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.schema import Contract, load_contract
from evaluation.synth.programmes import ROLE_BY_TYPE, TYPE_EFFECTS, catalogue

GENERATOR_VERSION = "1.0"
CUTOFF = "2026-09-30"
EXTRACTED_ON = "2026-10-05"
FORMATS = ("csv", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575  # data rows per sheet (Excel limit minus the header)
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


# ---------------------------------------------------------------- the generator
class _Gen:
    """Holds the random stream and the tables while an intake is generated."""

    def __init__(self, seed: int, scale: float, contract: Contract):
        if isinstance(scale, bool) or not (isinstance(scale, int | float | np.integer | np.floating)
                                           and math.isfinite(scale) and scale > 0):
            raise ValueError(f"synth: scale must be a positive number, got {scale!r}")
        self.seed = int(seed)
        self.scale = float(scale)
        self.contract = contract
        self.rng = np.random.default_rng(self.seed)
        self.progs = catalogue()
        self.tables: dict[str, pd.DataFrame] = {}
        self.truth: dict[str, Any] = {}

    # ------------------------------------------------------------ participants
    def participants(self) -> None:
        rng = self.rng
        parts = []
        for k, prog in enumerate(self.progs):
            sim = prog["sim"]
            n_p = _n_scaled(sim["n_programme"], self.scale, 6)
            n_c = _n_scaled(sim["n_comparison"], self.scale, 6)
            design = sim["design"]
            if design == "rct":
                n = n_p + n_c
                treated = np.zeros(n, dtype=bool)
                treated[rng.permutation(n)[:n_p]] = True
                selected = np.ones(n, dtype=bool)
            else:
                n = n_p + n_c
                treated = np.r_[np.ones(n_p, dtype=bool), np.zeros(n_c, dtype=bool)]
                selected = treated.copy()
            cov = _draw_covariates(rng, sim, n, selected)
            cov["prog"] = np.full(n, k)
            cov["treated"] = treated
            cov["randomised"] = np.full(n, design == "rct")
            parts.append(cov)
        P = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        n = len(P["prog"])
        intake = INTAKE_FIRST_DAY + np.floor(rng.random(n) * (CUTOFF_DAY - INTAKE_FIRST_DAY)).astype(np.int64)
        detained_share = np.array([p["sim"]["detained_share"] for p in self.progs])[P["prog"]]
        delay = np.floor(rng.uniform(14, 270, n)).astype(np.int64)
        detained = (rng.random(n) < detained_share) & (intake + delay <= CUTOFF_DAY)
        fus = np.where(detained, intake + delay, intake)
        det_start = np.where(detained, intake - np.floor(rng.uniform(30, 720, n)).astype(np.int64), -1)
        intake_year = _year(intake)
        P.update(intake=intake, fus=fus, detained=detained, det_start=det_start,
                 birth_year=intake_year - P["age"])
        # death and emigration (independent competing events from follow-up start)
        death = fus + np.ceil(rng.exponential(365.25 / (DEATH_RATE_YEAR * np.exp(0.04 * (P["age"] - 35))))).astype(np.int64)
        emig = fus + np.ceil(rng.exponential(365.25 / EMIGRATION_RATE_YEAR, n)).astype(np.int64)
        P["death"] = np.where(death <= CUTOFF_DAY, death, -1)
        P["emig"] = np.where((emig <= CUTOFF_DAY) & ((P["death"] < 0) | (emig < death)), emig, -1)
        P["lp"] = outcome_linear_predictor(P)
        ptypes = np.array([p["description"]["programme_type"] for p in self.progs], dtype=object)
        P["ptype"] = ptypes[P["prog"]]
        beta = np.zeros(n)
        for t in TYPE_EFFECTS:
            m = P["ptype"] == t
            beta[m] = _programme_log_hr(t, P["index_cat"][m])
        P["beta"] = np.where(P["treated"], beta, 0.0)
        P["pid"] = _pseudonyms(rng, n, "p")
        self.P = P

    # ------------------------------------------------------------ justice events
    def justice(self) -> None:
        rng, P = self.rng, self.P
        n = len(P["prog"])
        end_window = np.full(n, CUTOFF_DAY, dtype=np.int64)
        for key in ("death", "emig"):
            d = P[key]
            end_window = np.where((d >= 0) & (d < end_window), d, end_window)
        W = np.maximum(end_window - P["fus"], 0).astype(float)
        h_i = BASE_H730 * np.exp(P["lp"] + P["beta"])
        lam_W = h_i * np.power(W / HORIZON, WEIBULL_SHAPE)
        n_ev = rng.poisson(lam_W)
        who = np.repeat(np.arange(n), n_ev)
        u = rng.random(len(who))
        order = np.lexsort((u, who))
        who, u = who[order], u[order]
        c = u * lam_W[who]
        t = _weibull_inverse(c, h_i[who], HORIZON, WEIBULL_SHAPE)
        tday = np.maximum(np.ceil(t), 1).astype(np.int64)
        # category by independent thinning: a case repeats the index category with probability
        # q (COSA: sexual share, lower under the programme); otherwise it is drawn from the
        # general mix (never sexual for COSA), so P(special) = _special_share(...) exactly.
        ptype = P["ptype"][who]
        idx = P["index_cat"][who]
        cosa = ptype == "cosa"
        q = np.where(cosa, _special_share_rows(P, who), P_SAME_CATEGORY)
        repeat = rng.random(len(who)) < q
        non_sex_mix = NEW_CASE_MIX.copy()
        non_sex_mix[_CAT["sexual"]] = 0
        other_cat = _choice(rng, np.arange(len(CATEGORIES)), NEW_CASE_MIX, len(who))
        cosa_other = _choice(rng, np.arange(len(CATEGORIES)), non_sex_mix, len(who))
        cat = np.where(repeat, idx, np.where(cosa, cosa_other, other_cat))
        maxpen, pretrial = self._penalties(cat)
        reg, disposal, cust_days = self._disposals(cat)
        # calendar placement with detention gaps
        gap = np.where(cust_days > 0, cust_days + 1, 0)
        csum = np.cumsum(gap)
        first = _group_starts(who)
        prev_gap = csum - gap - (csum[first] - gap[first])
        offence = P["fus"][who] + tday + prev_gap
        keep = offence <= end_window[who]
        who, offence, cat, maxpen, pretrial = who[keep], offence[keep], cat[keep], maxpen[keep], pretrial[keep]
        disposal, cust_days = disposal[keep], cust_days[keep]
        reg_delay = reg[keep]
        registration = offence + reg_delay
        late = registration > CUTOFF_DAY
        registration = np.where(late, -1, registration)
        recent = (registration < 0) | (registration > CUTOFF_DAY - 120)
        pend = recent & (rng.random(len(who)) < 0.7)
        disposal = np.where(pend | late, "pending", disposal).astype(object)
        # detention from the offence date for every case placed with a detention gap; when the
        # case is still pending this is pre-trial detention (custodial_days not yet known)
        det_days = cust_days.copy()
        det_mask = det_days > 0
        cust_days = np.where(disposal == "pending", -1, cust_days)  # -1 = missing
        post = dict(who=who, offence=offence, registration=registration, cat=cat, maxpen=maxpen,
                    pretrial=pretrial, disposal=disposal, custodial=cust_days)
        self._post_events = post
        # first counting case per person (for match endings and checks)
        first_case = np.full(n, -1, dtype=np.int64)
        if len(who):
            f = _group_starts(who)
            firsts = np.unique(f)
            first_case[who[firsts]] = offence[firsts]
        P["first_case"] = first_case
        P["n_cases"] = np.bincount(who, minlength=n)
        det = {"who": who[det_mask], "start": offence[det_mask], "end": offence[det_mask] + det_days[det_mask]}
        # noise: acquittals and technical dismissals (do not count)
        rate = NOISE_RATE_YEAR / 365.25 * np.exp(0.5 * P["lp"])
        n_noise = rng.poisson(rate * W)
        nw = np.repeat(np.arange(n), n_noise)
        noff = P["fus"][nw] + 1 + np.floor(rng.random(len(nw)) * np.maximum(W[nw] - 1, 0)).astype(np.int64)
        noff = np.minimum(noff, end_window[nw])
        ncat = _choice(rng, np.arange(len(CATEGORIES)), NEW_CASE_MIX, len(nw))
        nmax, npre = self._penalties(ncat)
        nreg = noff + np.ceil(rng.lognormal(math.log(25), 1.0, len(nw))).astype(np.int64)
        nreg = np.where(nreg > CUTOFF_DAY, -1, nreg)
        ndisp = _choice(rng, np.array(["acquittal", "technical_dismissal"], dtype=object), [0.4, 0.6], len(nw))
        noise = dict(who=nw, offence=noff, registration=nreg, cat=ncat, maxpen=nmax, pretrial=npre,
                     disposal=ndisp, custodial=np.zeros(len(nw), dtype=np.int64))
        # prior and index cases
        prior = self._prior_events()
        self._justice_parts = [prior, post, noise]
        self._detentions = det

    def _penalties(self, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        m = np.zeros(len(cat))
        for name, (vals, probs) in MAX_PENALTY.items():
            sel = cat == _CAT[name]
            if sel.any():
                m[sel] = _choice(rng, np.array(vals), probs, int(sel.sum()))
        pre = m >= 4
        # a few offences with lower maxima allow pretrial detention (art. 67 Sv list)
        pre = pre | ((m >= 1) & (m < 4) & (rng.random(len(cat)) < 0.10))
        return m, pre

    def _disposals(self, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        n = len(cat)
        reg_delay = np.ceil(rng.lognormal(math.log(25), 1.0, n)).astype(np.int64)
        disp = _choice(rng, np.array(["conviction", "prosecutor_sanction", "policy_dismissal", "pending"], dtype=object),
                       [0.62, 0.22, 0.10, 0.06], n)
        p_cust = np.where((cat == _CAT["violence"]) | (cat == _CAT["sexual"]), 0.5, 0.25)
        cust = (disp == "conviction") & (rng.random(n) < p_cust)
        median = np.where(cat == _CAT["sexual"], 365.0, 60.0)
        days = np.clip(np.ceil(median * rng.lognormal(0.0, 0.9, n)), 1, 3650).astype(np.int64)
        return reg_delay, disp, np.where(cust, days, 0)

    def _prior_events(self) -> dict[str, np.ndarray]:
        rng, P = self.rng, self.P
        n = len(P["prog"])
        # index case: offence 30-365 days before intake
        idx_off = P["intake"] - np.floor(rng.uniform(30, 365, n)).astype(np.int64)
        first_allowed = np.array([_day(f"{y}-01-01") for y in range(1900, 2030)])
        by = P["birth_year"]
        afc_day = first_allowed[np.clip(by + P["age_first_case"] - 1900, 0, 129)]
        afc_day = np.minimum(afc_day + np.floor(rng.random(n) * 365).astype(np.int64), idx_off - 30)
        min_day = first_allowed[np.clip(by + 12 - 1900, 0, 129)]
        afc_day = np.maximum(afc_day, min_day)
        k = P["prior_cases"]
        who = np.repeat(np.arange(n), k)
        rank = _rank_in_group(who)
        lo, hi = afc_day[who], np.maximum(idx_off[who] - 30, afc_day[who])
        off = np.where(rank == 0, lo, lo + np.floor(rng.random(len(who)) * (hi - lo + 1)).astype(np.int64))
        cat = np.where(rng.random(len(who)) < 0.4, P["index_cat"][who],
                       _choice(rng, np.arange(len(CATEGORIES)), NEW_CASE_MIX, len(who)))
        maxpen, pre = self._penalties(cat)
        # custodial prior sentences on a random subset of rows matching prior_custodial_sentences
        order = np.lexsort((rng.random(len(who)), who))
        crank = np.empty(len(who), dtype=np.int64)
        crank[order] = _rank_in_group(who[order])
        custodial = crank < P["prior_custodial_sentences"][who]
        cdays = np.where(custodial, np.clip(np.ceil(45 * rng.lognormal(0, 1.0, len(who))), 1, 3650), 0).astype(np.int64)
        disp = np.where(custodial, "conviction",
                        _choice(rng, np.array(["conviction", "prosecutor_sanction", "policy_dismissal"], dtype=object),
                                [0.6, 0.3, 0.1], len(who))).astype(object)
        reg = np.minimum(off + np.ceil(rng.lognormal(math.log(25), 1.0, len(who))).astype(np.int64), P["intake"][who])
        # index cases
        i_cat = P["index_cat"]
        i_max, i_pre = self._penalties(i_cat)
        i_reg = np.minimum(idx_off + np.floor(rng.uniform(1, 25, n)).astype(np.int64), P["intake"])
        i_disp = _choice(rng, np.array(["conviction", "prosecutor_sanction"], dtype=object), [0.8, 0.2], n)
        i_cust = np.where(P["detained"], P["fus"] - P["det_start"], 0)
        i_disp = np.where(P["detained"], "conviction", i_disp).astype(object)
        return dict(
            who=np.r_[who, np.arange(n)], offence=np.r_[off, idx_off], registration=np.r_[reg, i_reg],
            cat=np.r_[cat, i_cat], maxpen=np.r_[maxpen, i_max], pretrial=np.r_[pre, i_pre],
            disposal=np.r_[disp, i_disp], custodial=np.r_[cdays, i_cust],
        )


    # ------------------------------------------------------------ volunteers
    def volunteers(self) -> None:
        rng = self.rng
        progs, starts = [], []
        for k, prog in enumerate(self.progs):
            n_v = _n_scaled(prog["sim"]["n_volunteers"], self.scale, 3)
            progs.append(np.full(n_v, k))
            # inflow grows slowly over time (density proportional to 1 + u)
            u = np.sqrt(1 + 3 * rng.random(n_v)) - 1
            starts.append(VOLUNTEER_FIRST_DAY + np.floor(u * (CUTOFF_DAY - 30 - VOLUNTEER_FIRST_DAY)).astype(np.int64))
        prog = np.concatenate(progs)
        start = np.concatenate(starts)
        self.V = self._volunteer_block(prog, start, None)

    def _volunteer_block(self, prog: np.ndarray, start: np.ndarray, want_sex: np.ndarray | None) -> dict[str, np.ndarray]:
        rng = self.rng
        n = len(prog)
        types = np.array([p["description"]["programme_type"] for p in self.progs], dtype=object)[prog]
        pid = np.array([p["description"]["programme_id"] for p in self.progs], dtype=object)[prog]
        peer = types == "peer_mentoring"
        cosa = types == "cosa"
        female_p = np.where(peer, 0.30, np.where(cosa, 0.55, 0.60))
        u = rng.random(n)
        sex = np.where(u < female_p, "female", "male").astype(object)
        sex[u > 0.995] = "other"
        if want_sex is not None:
            force = np.isin(want_sex, ["male", "female"])
            sex[force] = want_sex[force]
        age = np.clip(np.round(np.where(peer, rng.normal(40, 10, n), rng.normal(50, 14, n))), 20, 80).astype(np.int64)
        start_year = _year(start)
        le_p = np.where(peer, 0.85, np.where(cosa, 0.03, np.where(pid == "MENT-RDM", 0.15, 0.08)))
        le = rng.random(n) < le_p
        channels = np.array(self.contract.resources["volunteers"].field("recruitment_channel")["constraints"]["enum"], dtype=object)
        channel = np.empty(n, dtype=object)
        t_train = np.full(n, -1, dtype=np.int64)
        t_sup = np.full(n, -1, dtype=np.int64)
        t_rec = np.full(n, -1, dtype=np.int64)
        cert = np.zeros(n, dtype=bool)
        agree = np.zeros(n, dtype=bool)
        allowance = np.zeros(n)
        for k, p in enumerate(self.progs):
            m = prog == k
            nk = int(m.sum())
            if nk == 0:
                continue
            d = p["description"]
            own = d.get("recruitment_channels", [])
            w = np.array([0.8 / len(own) if c in own else 0.2 / (len(channels) - len(own)) for c in channels])
            channel[m] = _choice(rng, channels, w, nk)
            cond = d.get("volunteer_conditions", {})
            cert[m] = rng.random(nk) < (0.98 if cond.get("certificate_of_conduct_required") else 0.6)
            agree[m] = rng.random(nk) < (0.97 if cond.get("agreement_required", True) else 0.5)
            mx = float(cond.get("expense_allowance_max_eur_month", 0))
            amt = np.round(rng.uniform(0.3, 1.0, nk) * mx / 5) * 5
            allowance[m] = np.where(rng.random(nk) < 0.4, 0.0, amt)
            tr = d.get("training", {})
            sup = d.get("supervision", {})
            has_sup = any(sup.get(x) for x in ("individual", "group", "peer"))
            t_train[m] = np.where(rng.random(nk) < (0.9 if tr.get("basic_mandatory") else 0.5),
                                  np.floor(rng.uniform(0, 183, nk)), -1)
            t_sup[m] = np.where(rng.random(nk) < (0.85 if has_sup else 0.3), np.floor(rng.uniform(14, 121, nk)), -1)
            t_rec[m] = np.where(rng.random(nk) < (0.7 if d.get("recognition") else 0.3),
                                np.floor(rng.uniform(60, 541, nk)), -1)
        fixed = VOLUNTEER_COEF["lived_experience"] * le + VOLUNTEER_COEF["personal_invitation"] * (channel == "personal_invitation")
        t_stop = _tv_weibull_times(
            rng.exponential(size=n), fixed.astype(float),
            [(t_train, VOLUNTEER_COEF["basic_training"]), (t_sup, VOLUNTEER_COEF["supervision"]),
             (t_rec, VOLUNTEER_COEF["recognition"])],
            VOLUNTEER_BASE_H365, 365.0, VOLUNTEER_SHAPE)
        end = start + np.maximum(np.ceil(t_stop), 1).astype(np.int64)
        ended = end <= CUTOFF_DAY
        reasons = np.array(list(VOLUNTEER_END_REASONS), dtype=object)
        reason = np.where(ended, _choice(rng, reasons, list(VOLUNTEER_END_REASONS.values()), n), None)
        return {
            "prog": prog, "start": start, "sex": sex, "birth_year": start_year - age, "le": le,
            "channel": channel, "cert": cert, "agree": agree, "allowance": allowance,
            "t_train": t_train, "t_sup": t_sup, "t_rec": t_rec, "t_stop": t_stop,
            "end": np.where(ended, end, -1), "end_reason": reason,
            "active_until": np.where(ended, end, np.iinfo(np.int64).max // 4),
            "slots": np.full((n, 3), -1, dtype=np.int64),  # busy-until days of current assignments
        }

    def _add_volunteers(self, prog: np.ndarray, start: np.ndarray, want_sex: np.ndarray | None) -> np.ndarray:
        """Recruit new volunteers starting on the given dates (when nobody is available)."""
        new = self._volunteer_block(prog, start, want_sex)
        base = len(self.V["prog"])
        self.V = {k: np.concatenate([self.V[k], new[k]]) for k in self.V}
        return base + np.arange(len(prog))

    def _pick_volunteers(self, prog: np.ndarray, date: np.ndarray, want_sex: np.ndarray | None,
                         exclude: list[np.ndarray], busy_until: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """For each match, a random available volunteer of the programme.

        Available: started on or before ``date``, not yet stopped, and fewer than
        ``cap`` other assignments running (an assignment keeps a volunteer busy
        until ``busy_until``, the planned end). Matches are assigned in monthly
        batches in date order. Prefers the wanted sex when given (same-sex
        matching); excludes volunteers in ``exclude`` (same circle). When nobody
        is available, a new volunteer is recruited who starts on the match date.
        """
        rng = self.rng
        m = len(prog)
        res = np.full(m, -1, dtype=np.int64)
        K = 48
        month = (date - INTAKE_FIRST_DAY) // 61  # two-month batches
        sorted_vidx: dict[int, np.ndarray] = {}
        for b in np.unique(month):
            in_b = month == b
            for k in np.unique(prog[in_b]):
                V = self.V
                mm = np.flatnonzero(in_b & (prog == k))
                if k not in sorted_vidx:  # volunteers of programme k by start date (refreshed after recruiting)
                    vk = np.flatnonzero(V["prog"] == k)
                    sorted_vidx[k] = vk[np.argsort(V["start"][vk], kind="stable")]
                vidx = sorted_vidx[k]
                if len(vidx) == 0:
                    continue
                navail = np.searchsorted(V["start"][vidx], date[mm], side="right")
                cand_pos = np.floor(rng.random((len(mm), K)) * np.maximum(navail, 1)[:, None]).astype(np.int64)
                cidx = vidx[cand_pos]
                d = date[mm][:, None]
                ok = (navail[:, None] > 0) & (V["active_until"][cidx] > d)
                within_cap = np.arange(V["slots"].shape[1]) < cap[mm][:, None, None]
                ok &= ((V["slots"][cidx] < d[:, :, None]) & within_cap).any(axis=2)
                for ex in exclude:
                    ok &= cidx != ex[mm][:, None]
                first_ok = np.where(ok.any(axis=1), ok.argmax(axis=1), -1)
                pick = np.where(first_ok >= 0, cidx[np.arange(len(mm)), np.maximum(first_ok, 0)], -1)
                if want_sex is not None:
                    pref = ok & (V["sex"][cidx] == want_sex[mm][:, None])
                    has = pref.any(axis=1)
                    pick = np.where(has, cidx[np.arange(len(mm)), pref.argmax(axis=1)], pick)
                lack = pick < 0
                if lack.any():
                    pick[lack] = self._add_volunteers(prog[mm[lack]], date[mm[lack]],
                                                      None if want_sex is None else want_sex[mm[lack]])
                    sorted_vidx.pop(k)
                slots = self.V["slots"]
                usable = np.arange(slots.shape[1]) < cap[mm][:, None]
                j = np.where(usable, slots[pick], np.iinfo(np.int64).max).argmin(axis=1)
                slots[pick, j] = np.minimum(busy_until[mm], self.V["active_until"][pick])
                res[mm] = pick
        return res

    # ------------------------------------------------------------ matches
    def _next_case_after(self, pidx: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Offence date of the person's first counting case strictly after ``day`` (-1 if none)."""
        ev = self._post_events
        big = np.int64(1) << 32
        key = ev["who"].astype(np.int64) * big + ev["offence"]
        order = np.argsort(key, kind="stable")
        key = key[order]
        q = pidx.astype(np.int64) * big + day
        pos = np.searchsorted(key, q, side="right")
        ok = pos < len(key)
        out = np.full(len(pidx), -1, dtype=np.int64)
        hit = ok.copy()
        hit[ok] = (key[pos[ok]] // big) == pidx[ok]
        out[hit] = key[pos[hit]] % big
        return out

    def _relationship_end(self, pidx, start, planned_end, lp_m, h12):
        rng, P = self.rng, self.P
        m = len(pidx)
        inf = np.iinfo(np.int64).max // 4
        href = -np.log1p(-h12)
        tb = _weibull_inverse(rng.exponential(size=m), href * np.exp(lp_m), 365.0, MATCH_SHAPE)
        b = start + np.maximum(np.ceil(tb), 1).astype(np.int64)
        breason = _choice(rng, np.array(list(MATCH_BREAKDOWN_REASONS), dtype=object),
                          list(MATCH_BREAKDOWN_REASONS.values()), m)
        nxt = self._next_case_after(pidx, start)
        r = np.where((nxt > 0) & (rng.random(m) < P_MATCH_ENDS_ON_REOFFENCE),
                     nxt + np.floor(rng.uniform(3, 46, m)).astype(np.int64), inf)
        death = np.where(P["death"][pidx] >= 0, P["death"][pidx], inf)
        emig = np.where(P["emig"][pidx] >= 0, P["emig"][pidx], inf)
        cand = np.stack([planned_end, b, r, death, emig], axis=1)
        kind = cand.argmin(axis=1)
        end = cand[np.arange(m), kind]
        return end, kind, breason

    def matches(self) -> None:
        rng, P = self.rng, self.P
        ptype = P["ptype"]
        dur = np.array([p["description"]["planned_dosage"]["duration_months"] for p in self.progs])
        h12 = np.array([p["sim"]["breakdown_h12"] for p in self.progs])
        same_rule = np.array([bool(p["description"]["target_group"].get("same_sex_matching")) for p in self.progs])
        n = len(ptype)
        alive_at = lambda idx, day: ((P["death"][idx] < 0) | (day < P["death"][idx])) & ((P["emig"][idx] < 0) | (day < P["emig"][idx]))  # noqa: E731
        rows: list[dict[str, np.ndarray]] = []
        prog_end = np.full(n, -1, dtype=np.int64)
        prog_reason = np.full(n, None, dtype=object)
        # --- one-to-one matches (mentoring, peer mentoring, restorative justice)
        one = np.flatnonzero(P["treated"] & (ptype != "cosa"))
        never = rng.random(len(one)) < P_NEVER_MATCHED
        drop_day = P["intake"][one] + np.floor(rng.uniform(14, 91, len(one))).astype(np.int64)
        d_ok = never & (drop_day <= CUTOFF_DAY) & alive_at(one, drop_day)
        prog_end[one[d_ok]] = drop_day[d_ok]
        prog_reason[one[d_ok]] = "dropped_out"
        start = P["intake"][one] + np.floor(rng.uniform(7, 61, len(one))).astype(np.int64)
        go = ~never & (start <= CUTOFF_DAY) & alive_at(one, start)
        pidx, start = one[go], start[go]
        for round_no in (1, 2):
            if len(pidx) == 0:
                break
            k = P["prog"][pidx]
            want = np.where(same_rule[k] & (rng.random(len(pidx)) < 0.95), P["sex"][pidx], None)
            planned = start + np.round(dur[k] * 30.44).astype(np.int64)
            cap = np.where(ptype[pidx] == "restorative_justice", 3, 2)  # concurrent cases per volunteer
            vol = self._pick_volunteers(k, start, want, [], planned, cap)
            psex = P["sex"][pidx]
            same = (self.V["sex"][vol] == psex) & np.isin(psex, ["male", "female"])
            goals = rng.random(len(pidx)) < 0.75
            vle = self.V["le"][vol]
            lp_m = (MATCH_COEF["same_sex"] * same + MATCH_COEF["volunteer_lived_experience"] * vle
                    + MATCH_COEF["goals_agreed"] * goals + MATCH_COEF["participant_risk_high"] * (P["risk_level"][pidx] == "high"))
            planned = start + np.round(dur[k] * 30.44).astype(np.int64)
            end, kind, breason = self._relationship_end(pidx, start, planned, lp_m, h12[k])
            vend = self.V["active_until"][vol]
            by_vol = vend < end
            end = np.where(by_vol, vend, end)
            kind = np.where(by_vol, 5, kind)
            reason = _match_reason(kind, breason)
            open_ = end > CUTOFF_DAY
            role = np.array([ROLE_BY_TYPE[t] for t in ptype[pidx]], dtype=object)
            goals_out = np.where(rng.random(len(pidx)) < 0.03, None, goals).astype(object)
            rows.append(dict(pidx=pidx, vol=vol, role=role, circle=np.full(len(pidx), None, dtype=object),
                             start=start, planned=planned, end=np.where(open_, -1, end),
                             reason=np.where(open_, None, reason), goals=goals_out,
                             same=same, vle=vle, goals_true=goals, risk_high=P["risk_level"][pidx] == "high",
                             kind=kind, breakdown=(kind == 1)))
            prog_end[pidx] = np.where(open_, -1, end)
            prog_reason[pidx] = np.where(open_, None, _programme_reason(kind, breason))
            # a second match after an early end not caused by the participant
            early = (~open_) & ((kind == 5) | ((kind == 1) & (breason != "participant_withdrew"))) \
                & ((end - start) < 0.5 * (planned - start)) & (ptype[pidx] != "restorative_justice")
            again = early & (rng.random(len(pidx)) < P_REMATCH)
            s2 = end + np.floor(rng.uniform(14, 46, len(pidx))).astype(np.int64)
            again &= (s2 <= CUTOFF_DAY) & alive_at(pidx, s2)
            if round_no == 1:
                prog_end[pidx[again]] = -1
                prog_reason[pidx[again]] = None
                pidx, start = pidx[again], s2[again]
            else:
                break
        # --- COSA circles
        core = np.flatnonzero(P["treated"] & (ptype == "cosa"))
        start = P["intake"][core] + np.floor(rng.uniform(14, 91, len(core))).astype(np.int64)
        go = (start <= CUTOFF_DAY) & alive_at(core, start)
        core, start = core[go], start[go]
        if len(core):
            k = P["prog"][core]
            planned = start + np.round(dur[k] * 30.44).astype(np.int64)
            goals = rng.random(len(core)) < 0.9
            lp_c = MATCH_COEF["goals_agreed"] * goals + MATCH_COEF["participant_risk_high"] * (P["risk_level"][core] == "high")
            cend, ckind, cbreason = self._relationship_end(core, start, planned, lp_c, h12[k])
            copen = cend > CUTOFF_DAY
            prog_end[core] = np.where(copen, -1, cend)
            prog_reason[core] = np.where(copen, None, _programme_reason(ckind, cbreason))
            circle_ids = np.array([f"circle{i:06d}" for i in range(1, len(core) + 1)], dtype=object)
            size = 3 + rng.binomial(3, 0.5, len(core))
            has_fac = rng.random(len(core)) < 0.3
            chosen: list[np.ndarray] = []
            for slot in range(7):
                active = (slot < size) if slot < 6 else has_fac
                sel = np.flatnonzero(active)
                if len(sel) == 0:
                    continue
                vol_all = np.full(len(core), -1, dtype=np.int64)
                vol_all[sel] = self._pick_volunteers(k[sel], start[sel], None, [c[sel] for c in chosen],
                                                     planned[sel], np.full(len(sel), 3 if slot == 6 else 2))
                chosen.append(vol_all)
                vol = vol_all[sel]
                vend = self.V["active_until"][vol]
                by_vol = vend < cend[sel]
                end = np.where(by_vol, vend, cend[sel])
                kind = np.where(by_vol, 5, ckind[sel])
                reason = _match_reason(kind, cbreason[sel])
                open_ = end > CUTOFF_DAY
                role = np.full(len(sel), "facilitator" if slot == 6 else "circle_member", dtype=object)
                rows.append(dict(pidx=core[sel], vol=vol, role=role, circle=circle_ids[sel], start=start[sel],
                                 planned=planned[sel], end=np.where(open_, -1, end),
                                 reason=np.where(open_, None, reason), goals=goals[sel].astype(object),
                                 same=np.zeros(len(sel), dtype=bool), vle=self.V["le"][vol],
                                 goals_true=goals[sel], risk_high=P["risk_level"][core[sel]] == "high",
                                 kind=kind, breakdown=(kind == 1)))
        M = {key: np.concatenate([r[key] for r in rows]) for key in rows[0]}
        order = np.lexsort((M["role"].astype(str), M["start"], M["pidx"]))
        M = {key: v[order] for key, v in M.items()}
        M["mid"] = _seq_ids("m", len(M["pidx"]), 7)
        self.M = M
        # programme end for persons who died/emigrated before any end
        P["prog_end"] = prog_end
        P["prog_reason"] = prog_reason
        # a participant who died/emigrated while in the programme without a match
        for key, why in (("death", "died"), ("emig", "moved")):
            d = P[key]
            m = P["treated"] & (prog_end < 0) & (d >= 0) & (prog_reason == None)  # noqa: E711
            has_match = np.zeros(n, dtype=bool)
            has_match[M["pidx"]] = True
            m &= ~has_match & ~np.isin(np.arange(n), one[d_ok])
            P["prog_end"][m] = d[m]
            P["prog_reason"][m] = why

    # ------------------------------------------------------------ contacts
    def contacts(self) -> None:
        rng, M = self.rng, self.M
        k = self.P["prog"][M["pidx"]]
        cpm = np.array([p["description"]["planned_dosage"]["contacts_per_month"] for p in self.progs], dtype=float)[k]
        sd = np.array([p["sim"]["contact_rate_sd"] for p in self.progs])[k]
        mult = rng.gamma(1 / sd**2, sd**2)
        # circle members attend about two thirds of the weekly circle meetings; facilitators half
        cpm = np.where(M["role"] == "facilitator", cpm * 0.5, np.where(M["role"] == "circle_member", cpm * 0.65, cpm))
        last = np.where(M["end"] >= 0, M["end"], CUTOFF_DAY)
        days = last - M["start"] + 1
        n_c = rng.poisson(cpm / 30.44 * mult * days)
        mi = np.repeat(np.arange(len(k)), n_c)
        date = M["start"][mi] + np.floor(rng.random(len(mi)) * days[mi]).astype(np.int64)
        order = np.lexsort((date, mi))
        mi, date = mi[order], date[order]
        role = M["role"][mi]
        modes = np.array(["face_to_face", "phone", "video", "message", "group_meeting", "other"], dtype=object)
        mode = _choice(rng, modes, [0.65, 0.2, 0.05, 0.08, 0.0, 0.02], len(mi))
        circ = np.isin(role, ["circle_member", "facilitator"])
        mode[circ] = _choice(rng, modes, [0.25, 0.15, 0.0, 0.0, 0.6, 0.0], int(circ.sum()))
        med = role == "mediator"
        mode[med] = _choice(rng, modes, [0.5, 0.45, 0.0, 0.0, 0.0, 0.05], int(med.sum()))
        mpc = np.array([p["description"]["planned_dosage"].get("minutes_per_contact", 60) for p in self.progs], dtype=float)
        base = mpc[k[mi]]
        base = np.where(mode == "phone", 20.0, np.where(mode == "message", 5.0, np.where(mode == "group_meeting", 120.0, base)))
        minutes = np.clip(np.round(base * rng.lognormal(0, 0.35, len(mi))), 1, 720).astype(np.int64)
        minutes = np.where(rng.random(len(mi)) < 0.02, -1, minutes)
        sig = rng.random(len(mi)) < 0.008
        signal = np.full(len(mi), "none", dtype=object)
        signal[sig] = _choice(rng, np.array(["suicide", "child_safety", "reoffending_risk", "other"], dtype=object),
                              [0.2, 0.15, 0.5, 0.15], int(sig.sum()))
        rep = np.full(len(mi), None, dtype=object)
        u = rng.random(int(sig.sum()))
        # always recorded for a signal in clean data, so that a clean intake has no warnings
        rep[sig] = u < 0.93
        self.C = dict(mi=mi, date=date, mode=mode, minutes=minutes, signal=signal, reported=rep,
                      cid=_seq_ids("c", len(mi), 8))

    # ------------------------------------------------------------ volunteer support
    def support(self) -> None:
        rng, V = self.rng, self.V
        # the volunteer list is final now (after recruiting on demand): give pseudonyms
        V["vid"] = _pseudonyms(rng, len(V["prog"]), "v")
        n = len(V["prog"])
        stop_day = np.minimum(V["t_stop"], CUTOFF_DAY - V["start"] + 1.0)  # events strictly before stop
        parts = []

        def emit(who, day, kind, hours):
            ok = (day < stop_day[who]) & (V["start"][who] + day <= CUTOFF_DAY) & (day >= 0)
            parts.append((who[ok], V["start"][who[ok]] + day[ok], np.full(int(ok.sum()), kind, dtype=object), hours[ok]))

        basic_h = np.array([float(p["description"].get("training", {}).get("basic_hours", 12)) for p in self.progs])[V["prog"]]
        has_t = np.flatnonzero(V["t_train"] >= 0)
        emit(has_t, V["t_train"][has_t], "basic_training", basic_h[has_t])
        task = np.array([bool(p["description"].get("training", {}).get("task_specific")) for p in self.progs])[V["prog"]]
        tt = np.flatnonzero((V["t_train"] >= 0) & task & (rng.random(n) < 0.6))
        emit(tt, V["t_train"][tt] + np.floor(rng.uniform(30, 181, len(tt))).astype(np.int64), "task_training",
             np.round(rng.uniform(2, 8, len(tt))))
        # optional training: Poisson 0.4 a year over the active period
        span = np.maximum(stop_day, 0)
        n_opt = rng.poisson(0.4 * span / 365.25)
        w = np.repeat(np.arange(n), n_opt)
        emit(w, np.floor(rng.random(len(w)) * span[w]).astype(np.int64), "optional_training", np.round(rng.uniform(2, 6, len(w))))
        # regular supervision from t_sup on, every 90 / sessions_per_quarter days
        spq = np.array([float(p["description"].get("supervision", {}).get("sessions_per_quarter", 1) or 1) for p in self.progs])[V["prog"]]
        interval = 91.0 / spq
        has_s = V["t_sup"] >= 0
        n_s = np.where(has_s, np.floor(np.maximum(span - V["t_sup"], 0) / interval) + 1, 0).astype(np.int64)
        w = np.repeat(np.arange(n), n_s)
        r = _rank_in_group(w)
        day = V["t_sup"][w] + np.round(r * interval[w] + np.where(r > 0, rng.uniform(-7, 7, len(w)), 0)).astype(np.int64)
        kinds = np.full(len(w), "group_supervision", dtype=object)
        for kk, p in enumerate(self.progs):
            sup = p["description"].get("supervision", {})
            avail = [x for x in ("individual", "group", "peer") if sup.get(x)] or ["group"]
            m = V["prog"][w] == kk
            kinds[m] = _choice(rng, np.array([f"{a}_supervision" for a in avail], dtype=object),
                               np.ones(len(avail)), int(m.sum()))
        for kind in ("individual_supervision", "group_supervision", "peer_supervision"):
            m = kinds == kind
            emit(w[m], day[m], kind, np.where(kind == "group_supervision", 2.0, 1.0) * np.ones(int(m.sum())))
        # recognition from t_rec on, yearly
        has_r = V["t_rec"] >= 0
        n_r = np.where(has_r, np.floor(np.maximum(span - V["t_rec"], 0) / 365.25) + 1, 0).astype(np.int64)
        w = np.repeat(np.arange(n), n_r)
        r = _rank_in_group(w)
        emit(w, V["t_rec"][w] + np.round(r * 365.25).astype(np.int64), "recognition", np.full(len(w), 3.0))
        # personal support, rare
        n_p = rng.poisson(0.15 * span / 365.25)
        w = np.repeat(np.arange(n), n_p)
        emit(w, np.floor(rng.random(len(w)) * span[w]).astype(np.int64), "personal_support", np.round(rng.uniform(0.5, 2, len(w)), 1))
        who = np.concatenate([p[0] for p in parts])
        date = np.concatenate([p[1] for p in parts])
        kind = np.concatenate([p[2] for p in parts])
        hours = np.concatenate([p[3] for p in parts]).astype(float)
        order = np.lexsort((kind.astype(str), date, who))
        self.S = dict(who=who[order], date=date[order], kind=kind[order], hours=hours[order],
                      eid=_seq_ids("s", len(who), 8))

    # ------------------------------------------------------------ restorative justice sessions
    def rj_sessions(self) -> None:
        rng, M, P = self.rng, self.M, self.P
        med = np.flatnonzero(M["role"] == "mediator")
        last = np.where(M["end"][med] >= 0, M["end"][med], CUTOFF_DAY)
        span = last - M["start"][med]
        ok = span >= 14
        med, last, span = med[ok], last[ok], span[ok]
        n_s = 1 + rng.binomial(2, 0.2, len(med))
        mi = np.repeat(med, n_s)
        date = M["start"][mi] + 7 + np.floor(rng.random(len(mi)) * (np.repeat(span, n_s) - 6)).astype(np.int64)
        date = np.minimum(date, np.repeat(last, n_s))
        order = np.lexsort((date, mi))
        mi, date = mi[order], date[order]
        k = P["prog"][M["pidx"][mi]]
        pids = np.array([p["description"]["programme_id"] for p in self.progs], dtype=object)[k]
        kinds = np.array(["conference", "mediation", "victim_offender_dialogue", "victim_panel"], dtype=object)
        kind = np.where(pids == "RJ-CONF", _choice(rng, kinds, [0.85, 0.0, 0.05, 0.10], len(mi)),
                        _choice(rng, kinds, [0.05, 0.75, 0.15, 0.05], len(mi))).astype(object)
        victim = np.where(kind == "victim_panel", False, rng.random(len(mi)) < 0.85)
        agree = rng.random(len(mi)) < 0.75
        fulfilled = np.where(agree, rng.random(len(mi)) < 0.8, False).astype(object)
        fulfilled[~agree] = None
        fulfilled[agree & (date > CUTOFF_DAY - 90)] = None  # not yet known
        sat = np.where(victim, _choice(rng, np.arange(1, 6), [0.03, 0.07, 0.15, 0.40, 0.35], len(mi)), -1)
        self.R = dict(mi=mi, date=date, kind=kind, victim=victim, agree=agree, fulfilled=fulfilled,
                      sat=sat, sid=_seq_ids("rj", len(mi), 7))

    # ------------------------------------------------------------ costs
    def costs(self) -> None:
        """True costs per programme, quarter and category from the activity in the tables."""
        P, V, S = self.P, self.V, self.S
        q_starts = pd.date_range("2020-01-01", CUTOFF, freq="QS")
        qs = (q_starts.values.astype("datetime64[D]") - _EPOCH).astype(np.int64)
        qe = np.r_[qs[1:] - 1, CUTOFF_DAY]
        frac = (qe - qs + 1) / 91.31
        rows = []
        pend = np.where(P["prog_end"] >= 0, P["prog_end"], CUTOFF_DAY)
        vend = np.where(V["end"] >= 0, V["end"], CUTOFF_DAY)
        s_prog = V["prog"][S["who"]]
        s_q = np.searchsorted(qs, S["date"], side="right") - 1
        nq = len(qs)
        training_kinds = np.isin(S["kind"], ["basic_training", "task_training", "optional_training"])
        sup_kinds = np.isin(S["kind"], ["individual_supervision", "group_supervision", "peer_supervision"])
        for kk, p in enumerate(self.progs):
            pid = p["description"]["programme_id"]
            tp = P["treated"] & (P["prog"] == kk)
            # active participants: intake <= quarter end and (programme end or cutoff) >= quarter start
            act_p = (np.searchsorted(np.sort(P["intake"][tp]), qe, side="right")
                     - np.searchsorted(np.sort(pend[tp]), qs, side="left"))
            vp = V["prog"] == kk
            v_start, v_end, allow = V["start"][vp], vend[vp], V["allowance"][vp]
            overlap = np.clip(np.minimum(v_end[:, None], qe[None, :]) - np.maximum(v_start[:, None], qs[None, :]) + 1, 0, None)
            act_v = (overlap > 0).sum(axis=0)
            expenses = (allow[:, None] * overlap / 30.44).sum(axis=0)
            new_v = np.bincount(np.clip(np.searchsorted(qs, v_start[v_start >= qs[0]], side="right") - 1, 0, nq - 1),
                                minlength=nq)
            in_p = (s_prog == kk) & (s_q >= 0)
            train_h = np.bincount(s_q[in_p & training_kinds], weights=S["hours"][in_p & training_kinds], minlength=nq)
            sup_n = np.bincount(s_q[in_p & sup_kinds], minlength=nq)
            amounts = {
                # a fixed coordinator share per programme plus caseload-driven staff time
                "coordination_staff": (COSTS["coordination_fte_base"] + COSTS["coordination_fte_per_active_participant"] * act_p)
                * COSTS["coordination_fte_year_eur"] / 4 * frac,
                "volunteer_expenses": expenses,
                "recruitment_screening": new_v * COSTS["recruitment_screening_per_new_volunteer"],
                "training": train_h * COSTS["training_per_hour_per_volunteer"],
                "supervision": sup_n * COSTS["supervision_per_session"],
                "insurance": act_v * COSTS["insurance_per_volunteer_quarter"] * frac,
                "materials_activities": act_p * COSTS["materials_per_active_participant_quarter"] * frac,
            }
            amounts["overhead"] = COSTS["overhead_share"] * sum(amounts.values())
            for q in range(nq):
                for cat, amt in amounts.items():
                    rows.append((pid, int(qs[q]), int(qe[q]), cat, round(float(amt[q]), 2)))
        self.K = pd.DataFrame(rows, columns=["programme_id", "period_start", "period_end", "category", "amount_eur"])


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


# ---------------------------------------------------------------- typed tables
def _dates(days: np.ndarray) -> np.ndarray:
    """Epoch days (-1 = missing) -> datetime64[D] with NaT."""
    d = np.asarray(days, dtype=np.int64)
    out = _EPOCH + np.where(d >= 0, d, 0).astype("timedelta64[D]")
    return np.where(d >= 0, out, np.datetime64("NaT"))


def _nullable_int(values: np.ndarray) -> pd.Series:
    v = np.asarray(values, dtype=np.int64)
    return pd.Series(pd.array(np.where(v >= 0, v, 0), dtype="Int64")).mask(v < 0)


def _nullable_bool(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="boolean"))


def _build_tables(g: _Gen) -> dict[str, pd.DataFrame]:
    P, V, M, C, S, R = g.P, g.V, g.M, g.C, g.S, g.R
    pids = np.array([p["description"]["programme_id"] for p in g.progs], dtype=object)
    t: dict[str, pd.DataFrame] = {}
    treated = P["treated"]
    part = pd.DataFrame({
        "participant_id": P["pid"],
        "programme_id": pids[P["prog"]],
        "group": np.where(treated, "programme", "comparison").astype(object),
        "assignment": np.where(P["randomised"], "randomised", "observational").astype(object),
        "sex": P["sex"],
        "birth_year": pd.array(P["birth_year"], dtype="Int64"),
        "intake_date": _dates(P["intake"]),
        "follow_up_start": _dates(P["fus"]),
        "detained_at_intake": pd.array(P["detained"], dtype="boolean"),
        "programme_end_date": _dates(np.where(treated, P["prog_end"], -1)),
        "programme_end_reason": np.where(treated & (P["prog_end"] >= 0), P["prog_reason"], None),
        "risk_level": P["risk_level"],
        "risk_instrument": P["risk_instrument"],
        "risk_score": P["risk_score"],
        "index_offence_category": CATEGORIES[P["index_cat"]].astype(object),
        "prior_cases": pd.array(P["prior_cases"], dtype="Int64"),
        "prior_custodial_sentences": pd.array(P["prior_custodial_sentences"], dtype="Int64"),
        "age_first_case": pd.array(P["age_first_case"], dtype="Int64"),
        "employed_at_intake": pd.array(P["employed_at_intake"], dtype="boolean"),
        "stable_housing_at_intake": pd.array(P["stable_housing_at_intake"], dtype="boolean"),
        "substance_problem": pd.array(P["substance_problem"], dtype="boolean"),
        "psychiatric_problem": pd.array(P["psychiatric_problem"], dtype="boolean"),
        "death_date": _dates(P["death"]),
        "emigration_date": _dates(P["emig"]),
    })
    porder = np.lexsort((P["intake"], ~treated, P["prog"]))
    t["participants"] = part.iloc[porder].reset_index(drop=True)
    vorder = np.lexsort((V["start"], V["prog"]))
    t["volunteers"] = pd.DataFrame({
        "volunteer_id": V["vid"],
        "programme_id": pids[V["prog"]],
        "sex": V["sex"],
        "birth_year": pd.array(V["birth_year"], dtype="Int64"),
        "lived_experience": pd.array(V["le"], dtype="boolean"),
        "recruitment_channel": V["channel"],
        "certificate_of_conduct": pd.array(V["cert"], dtype="boolean"),
        "agreement_signed": pd.array(V["agree"], dtype="boolean"),
        "expense_allowance_eur_month": V["allowance"].astype(float),
        "start_date": _dates(V["start"]),
        "end_date": _dates(V["end"]),
        "end_reason": V["end_reason"],
    }).iloc[vorder].reset_index(drop=True)
    t["matches"] = pd.DataFrame({
        "match_id": M["mid"],
        "participant_id": P["pid"][M["pidx"]],
        "volunteer_id": V["vid"][M["vol"]],
        "role": M["role"],
        "circle_id": M["circle"],
        "start_date": _dates(M["start"]),
        "planned_end_date": _dates(M["planned"]),
        "end_date": _dates(M["end"]),
        "end_reason": M["reason"],
        "goals_agreed": _nullable_bool(M["goals"]),
    })
    t["contacts"] = pd.DataFrame({
        "contact_id": C["cid"],
        "match_id": M["mid"][C["mi"]],
        "contact_date": _dates(C["date"]),
        "minutes": _nullable_int(C["minutes"]),
        "mode": C["mode"],
        "risk_signal": C["signal"],
        "reported_to_supervisor": _nullable_bool(C["reported"]),
    })
    t["volunteer_support"] = pd.DataFrame({
        "event_id": S["eid"],
        "volunteer_id": V["vid"][S["who"]],
        "event_date": _dates(S["date"]),
        "kind": S["kind"],
        "hours": S["hours"],
    })
    J = {key: np.concatenate([part_[key] for part_ in g._justice_parts]) for key in g._justice_parts[0]}
    jorder = np.lexsort((J["offence"], J["who"]))
    J = {key: v[jorder] for key, v in J.items()}
    t["justice_events"] = pd.DataFrame({
        "event_id": _seq_ids("j", len(J["who"]), 9),
        "participant_id": P["pid"][J["who"]],
        "offence_date": _dates(J["offence"]),
        "registration_date": _dates(J["registration"]),
        "offence_category": CATEGORIES[J["cat"]].astype(object),
        "max_penalty_years": J["maxpen"].astype(float),
        "pretrial_detention_allowed": pd.array(J["pretrial"].astype(bool), dtype="boolean"),
        "disposal": J["disposal"].astype(object),
        "custodial_days": _nullable_int(J["custodial"]),
    })
    det = g._detentions
    dwho = np.r_[np.flatnonzero(P["detained"]), det["who"]]
    dstart = np.r_[P["det_start"][P["detained"]], det["start"]]
    dend = np.r_[P["fus"][P["detained"]], det["end"]]
    dend = np.where(dend > CUTOFF_DAY, -1, dend)
    dorder = np.lexsort((dstart, dwho))
    t["detention_periods"] = pd.DataFrame({
        "participant_id": P["pid"][dwho[dorder]],
        "start_date": _dates(dstart[dorder]),
        "end_date": _dates(dend[dorder]),
    })
    t["rj_sessions"] = pd.DataFrame({
        "session_id": R["sid"],
        "participant_id": P["pid"][M["pidx"][R["mi"]]],
        "session_date": _dates(R["date"]),
        "kind": R["kind"],
        "victim_participated": pd.array(R["victim"].astype(bool), dtype="boolean"),
        "agreement_reached": pd.array(R["agree"].astype(bool), dtype="boolean"),
        "agreement_fulfilled": _nullable_bool(R["fulfilled"]),
        "victim_satisfaction": _nullable_int(R["sat"]),
    })
    K = g.K
    t["costs"] = pd.DataFrame({
        "programme_id": K["programme_id"].astype(object).to_numpy(),
        "period_start": _dates(K["period_start"].to_numpy()),
        "period_end": _dates(K["period_end"].to_numpy()),
        "category": K["category"].astype(object).to_numpy(),
        "amount_eur": K["amount_eur"].astype(float).to_numpy(),
    })
    # contract order and completeness
    for name, res in g.contract.resources.items():
        df = t[name]
        missing = [f for f in res.field_names if f not in df.columns]
        if missing:  # pragma: no cover - guarded by tests
            raise RuntimeError(f"synth: table {name} lacks contract fields {missing}")
        t[name] = df[res.field_names]
    return t


# ---------------------------------------------------------------- truth
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
    """The population truth, from ``synth_truth.json`` when it is current, else computed."""
    fp = _truth_fingerprint(TRUTH_DRAWS, TRUTH_SEED)
    if TRUTH_CACHE.exists():
        cached = json.loads(TRUTH_CACHE.read_text(encoding="utf-8"))
        if cached.get("fingerprint") == fp:
            return cached["programmes"]
    return compute_population_truth()


def refresh_truth_cache() -> Path:
    """Recompute the population truth and store it in ``evaluation/synth_truth.json``."""
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


# ---------------------------------------------------------------- writing
def _fmt_number(v: float) -> str:
    if v != v:
        return ""
    if float(v).is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(float(v))


def _to_text(df: pd.DataFrame, contract: Contract, name: str) -> pd.DataFrame:
    """The table as text cells, as a CSV export writes it (ISO dates, true/false, empty = missing)."""
    res = contract.resources[name]
    out = {}
    for f in res.fields:
        s = df[f["name"]]
        typ = f["type"]
        if typ == "date":
            v = s.to_numpy(dtype="datetime64[D]")
            txt = pd.Series(np.datetime_as_string(v, unit="D").astype(object), index=s.index)
            txt[np.isnat(v)] = ""
        elif typ == "boolean":
            txt = s.map({True: "true", False: "false"}).astype(object)
            txt[s.isna().to_numpy()] = ""
        elif typ == "integer":
            arr = s.astype("Int64")
            txt = pd.Series(arr.to_numpy(dtype=np.int64, na_value=0).astype(str).astype(object), index=s.index)
            txt[arr.isna().to_numpy()] = ""
        elif typ == "number":
            vals = s.to_numpy(dtype=float)
            uniq, inv = np.unique(vals, return_inverse=True)
            txt = pd.Series(np.array([_fmt_number(v) for v in uniq], dtype=object)[inv], index=s.index)
        else:
            txt = s.astype(object)
            txt[s.isna().to_numpy()] = ""
        out[f["name"]] = txt.to_numpy(dtype=object)
    return pd.DataFrame(out)


_OUR_FILES_SUFFIX = (".csv", ".parquet")


def _our_files(out: Path, contract: Contract) -> list[Path]:
    names = [r.descriptor["path"].rsplit(".", 1)[0] for r in contract.resources.values()]
    files = [out / f"{base}{suf}" for base in names for suf in _OUR_FILES_SUFFIX]
    files += [out / x for x in ("intake.xlsx", "planted_errors.csv", "truth.json", "programmes.yaml", "extract.yaml")]
    return [p for p in files if p.exists()]


def _check_target(out: Path, contract: Contract) -> None:
    """Refuse to overwrite an intake that this generator did not write (real data may live there)."""
    existing = _our_files(out, contract)
    if not existing:
        return
    extract = out / "extract.yaml"
    synthetic = False
    if extract.exists():
        import yaml

        try:
            synthetic = bool((yaml.safe_load(extract.read_text(encoding="utf-8")) or {}).get("synthetic"))
        except (yaml.YAMLError, AttributeError):
            synthetic = False
    if not synthetic:
        raise ValueError(
            f"synth: {out} already holds intake files ({existing[0].name}, ...) without "
            "'synthetic: true' in extract.yaml; refusing to overwrite them (choose an empty folder)")


def _clear_previous(out: Path, contract: Contract) -> None:
    """Remove the files an earlier run of this generator left (never anything else)."""
    for p in _our_files(out, contract):
        p.unlink()


def _write_csv(path: Path, text: pd.DataFrame) -> None:
    text.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _write_parquet(path: Path, typed: pd.DataFrame, text: pd.DataFrame, text_cols: set[str],
                   contract: Contract, name: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, fields = [], []
    for f in contract.resources[name].fields:
        col = f["name"]
        if col in text_cols:
            arr = pa.array(text[col].tolist(), type=pa.string())
        elif f["type"] == "date":
            v = typed[col].to_numpy(dtype="datetime64[D]")
            arr = pa.array(v, type=pa.date32())
        elif f["type"] == "integer":
            arr = pa.array(typed[col].astype("Int64"), type=pa.int64(), from_pandas=True)
        elif f["type"] == "number":
            arr = pa.array(typed[col].to_numpy(dtype=float), type=pa.float64(), from_pandas=True)
        elif f["type"] == "boolean":
            arr = pa.array(typed[col].astype("boolean"), type=pa.bool_(), from_pandas=True)
        else:
            s = typed[col]
            arr = pa.array([None if (v is None or v != v) else str(v) for v in s.tolist()], type=pa.string())
        arrays.append(arr)
        fields.append(pa.field(col, arr.type))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    pq.write_table(table, path, compression="snappy")


_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _xml_escape(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype=object)
    if s.str.contains(r"[&<>]", regex=True).any():
        s = s.str.replace("&", "&amp;", regex=False).str.replace("<", "&lt;", regex=False).str.replace(">", "&gt;", regex=False)
    return s.to_numpy(dtype=object)


def _sheet_xml(text: pd.DataFrame, text_cols: set[str], contract: Contract, name: str) -> bytes:
    """One worksheet (SpreadsheetML) from the text table: typed cells, dates with a date format."""
    fields = contract.resources[name].fields
    n = len(text)
    rownum = np.arange(2, n + 2).astype(str).astype(object)
    header = "".join(
        f'<c r="{_col_letter(j)}1" t="inlineStr"><is><t>{f["name"]}</t></is></c>' for j, f in enumerate(fields))
    body = np.full(n, "", dtype=object)
    for j, f in enumerate(fields):
        col = text[f["name"]].to_numpy(dtype=object)
        present = col != ""
        ref = '<c r="' + _col_letter(j) + rownum
        typ = "string" if f["name"] in text_cols else f["type"]
        if typ in ("integer", "number"):
            cell = ref + '"><v>' + col + "</v></c>"
        elif typ == "boolean":
            cell = ref + '" t="b"><v>' + np.where(col == "true", "1", "0").astype(object) + "</v></c>"
        elif typ == "date":
            days = np.zeros(n, dtype=np.int64)
            if present.any():
                d = col[present].astype("datetime64[D]")
                days[present] = (d - _EXCEL_EPOCH).astype(np.int64)
            cell = ref + '" s="1"><v>' + days.astype(str).astype(object) + "</v></c>"
        else:
            cell = ref + '" t="inlineStr"><is><t>' + _xml_escape(col) + "</t></is></c>"
        body = body + np.where(present, cell, "")
    rows = '<row r="' + rownum + '">' + body + "</row>"
    xml = (f'{_XML_HEAD}<worksheet xmlns="{_NS_MAIN}"><sheetData><row r="1">{header}</row>'
           + "".join(rows.tolist()) + "</sheetData></worksheet>")
    return xml.encode("utf-8")


def _write_xlsx(path: Path, text: dict[str, pd.DataFrame], text_cols: dict[str, set[str]], contract: Contract) -> None:
    """Write one workbook with a sheet per table, byte-for-byte reproducible.

    A minimal SpreadsheetML package written directly (much faster than
    openpyxl for large sheets): inline strings, numbers, booleans and dates as
    serial numbers with the format ``yyyy-mm-dd``; fixed document properties
    (created/modified 2026-10-05) and fixed zip member timestamps.
    """
    names = list(contract.resources)
    for name in names:
        if len(text[name]) > XLSX_MAX_ROWS:
            raise ValueError(
                f"synth: table {name} has {len(text[name])} rows, more than an Excel sheet holds "
                f"({XLSX_MAX_ROWS}); use --format csv or parquet at this scale")
    stamp = "2026-10-05T00:00:00Z"
    sheets_ct = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(names) + 1))
    parts: list[tuple[str, bytes]] = [
        ("[Content_Types].xml", (
            f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f"{sheets_ct}"
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            '<Override PartName="/docProps/app.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
            "</Types>").encode()),
        ("_rels/.rels", (
            f'{_XML_HEAD}<Relationships xmlns="{_NS_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
            'metadata/core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{_NS_REL}/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>").encode()),
        ("docProps/core.xml", (
            f'{_XML_HEAD}<cp:coreProperties '
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<dc:creator>evaluation synth</dc:creator><dc:title>Synthetic intake</dc:title>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>").encode()),
        ("docProps/app.xml", (
            f'{_XML_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>evaluation synth</Application></Properties>").encode()),
        ("xl/workbook.xml", (
            f'{_XML_HEAD}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><sheets>'
            + "".join(f'<sheet name="{nm}" sheetId="{i}" r:id="rId{i}"/>' for i, nm in enumerate(names, 1))
            + "</sheets></workbook>").encode()),
        ("xl/_rels/workbook.xml.rels", (
            f'{_XML_HEAD}<Relationships xmlns="{_NS_PKG_REL}">'
            + "".join(f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, len(names) + 1))
            + f'<Relationship Id="rId{len(names) + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
            "</Relationships>").encode()),
        ("xl/styles.xml", (
            f'{_XML_HEAD}<styleSheet xmlns="{_NS_MAIN}">'
            '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>").encode()),
    ]
    for i, name in enumerate(names, 1):
        parts.append((f"xl/worksheets/sheet{i}.xml", _sheet_xml(text[name], text_cols.get(name, set()), contract, name)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for member, data in parts:
            zi = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zf.writestr(zi, data)


def _yaml_dump(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def generate_intake(out_dir: str | Path, seed: int, scale: float = 1.0, fmt: str = "csv",
                    inject_errors: bool = False) -> Path:
    """Write a synthetic intake with known true effects.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if needed). Files of an earlier run of
        this generator in that folder (table files, ``intake.xlsx``,
        ``truth.json``, ``planted_errors.csv``, the two YAML files) are
        replaced; a folder with intake files but without ``synthetic: true``
        in ``extract.yaml`` is refused (ValueError), so real data are never
        overwritten.
    seed : int
        Seed of the single ``numpy.random.default_rng``; same seed, scale and
        format give byte-identical files.
    scale : float
        Population size multiplier (1 = demo: 1,250 participants; 40 =
        national: 50,000 participants, 100,000 comparison persons, ~11,000
        volunteers, ~1.5 million contacts).
    fmt : {"csv", "parquet", "xlsx"}
        Table format: one CSV or Parquet file per table, or one workbook
        ``intake.xlsx`` with a sheet per table (limited to 1,048,575 rows per
        table).
    inject_errors : bool
        Plant known errors of every rule type (see :mod:`evaluation.synth.errors`)
        and write ``planted_errors.csv``.

    Returns
    -------
    pathlib.Path
        The intake folder.
    """
    if fmt not in FORMATS:
        raise ValueError(f"synth: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"synth: seed must be a non-negative integer, got {seed!r}")
    contract = load_contract()
    g = _Gen(int(seed), scale, contract)
    g.participants()
    g.justice()
    g.volunteers()
    g.matches()
    g.contacts()
    g.support()
    g.rj_sessions()
    g.costs()
    tables = _build_tables(g)
    truth = _truth(g, tables)
    text = {name: _to_text(df, contract, name) for name, df in tables.items()}
    dirty: dict[str, set[str]] = {}
    planted = None
    programmes = {"programmes": [p["description"] for p in g.progs]}
    if inject_errors:
        from evaluation.synth.errors import plant_errors, retype

        text, dirty, planted = plant_errors(text, contract, fmt)
        tables = {name: retype(df, contract, name, dirty[name]) for name, df in text.items()}
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"synth: {out} exists and is not a folder")
    if out.exists():
        _check_target(out, contract)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out, contract)
    if fmt == "xlsx":
        _write_xlsx(out / "intake.xlsx", text, dirty, contract)
    for name, res in contract.resources.items():
        base = res.descriptor["path"].rsplit(".", 1)[0]
        if fmt == "csv":
            _write_csv(out / f"{base}.csv", text[name])
        elif fmt == "parquet":
            _write_parquet(out / f"{base}.parquet", tables[name], text[name], dirty.get(name, set()), contract, name)
    (out / "programmes.yaml").write_text(_yaml_dump(programmes), encoding="utf-8")
    extract = {"cutoff_date": CUTOFF, "extracted_on": EXTRACTED_ON,
               "supplier": "evaluation synth (synthetic data, not real persons)", "format": fmt,
               "synthetic": True, "notes": f"seed {int(seed)}, scale {float(scale)}, generator {GENERATOR_VERSION}"}
    (out / "extract.yaml").write_text(_yaml_dump(extract), encoding="utf-8")
    truth["format"] = fmt
    truth["inject_errors"] = bool(inject_errors)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if planted is not None:
        planted.to_csv(out / "planted_errors.csv", index=False, lineterminator="\n", encoding="utf-8")
    return out


def add_identifier_columns(intake_dir: str | Path) -> Path:
    """Add ``naam`` and ``bsn`` (valid 11-check) columns to ``participants.csv`` (for tests).

    See :func:`evaluation.synth.errors.add_identifier_columns`.
    """
    from evaluation.synth.errors import add_identifier_columns as _add

    return _add(intake_dir)


# ---------------------------------------------------------------- CLI
def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``evaluation synth``."""
    p.add_argument("--out", required=True, help="folder to write the intake into")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed -> same bytes)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="size multiplier: 1 = demo (1,250 participants), 40 = national (50,000 participants)")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="csv", help="table format (default csv)")
    p.add_argument("--inject-errors", action="store_true",
                   help="plant known errors of every rule type and write planted_errors.csv")


def main(args: argparse.Namespace) -> int:
    """Run ``evaluation synth``."""
    try:
        out = generate_intake(args.out, args.seed, scale=args.scale, fmt=args.fmt, inject_errors=args.inject_errors)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"synthetic intake written to {out}")
    return 0
