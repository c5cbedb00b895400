"""Self-contained simulator of typed intake tables with known recidivism truth.

Used by tests/test_recidivism*.py and benchmarks/bench_recidivism_coverage.py.
Same structure as the contract's ``participants`` and ``justice_events``
tables (typed as after validation), small and fast.

Data-generating model
---------------------
Covariates: age (18-60), sex, risk level (low/medium/high), prior cases
(Poisson), index offence category, employment, housing, substance and
psychiatric problems (some missing). Assignment: ``rct`` randomises 1:1;
``observational`` draws programme membership from a logistic model in which
high risk, more prior cases and substance problems make taking part less
likely and employment more likely (confounding).
Time to first new case: exponential with hazard
``h0 * exp(beta * programme + 0.6 * high + 0.3 * medium + 0.08 * prior_cases - 0.02 * (age - 30))``,
so ``beta`` is the **conditional** log hazard ratio. Death competes with a
small constant hazard. Follow-up starts at intake (spread over two years
before the cutoff), so follow-up lasts 1-3 years. Later cases follow as a
Poisson process with the same hazard (frequency).

The **marginal ATT hazard ratio** (the estimand of matching/IPW) is the Cox
HR in a large counterfactual population: the programme participants'
covariate distribution under both arms, with the same censoring
(Austin 2013, Stat Med 32:2837).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CUTOFF = pd.Timestamp("2025-12-31")
H0 = 0.45 / 365.25  # baseline hazard per day


def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    age = rng.integers(18, 61, n)
    risk = rng.choice(["low", "medium", "high"], n, p=[0.35, 0.4, 0.25])
    prior = rng.poisson(np.where(risk == "high", 6, np.where(risk == "medium", 3, 1)))
    return pd.DataFrame(
        {
            "age": age,
            "sex": rng.choice(["male", "female"], n, p=[0.85, 0.15]),
            "risk_level": risk,
            "prior_cases": prior,
            "index_offence_category": rng.choice(["violence", "property", "drugs", "sexual", "other"], n,
                                                 p=[0.3, 0.3, 0.2, 0.1, 0.1]),
            "employed": rng.random(n) < 0.4,
            "housing": rng.random(n) < 0.7,
            "substance": rng.random(n) < 0.3,
        }
    )


def _linear(cov: pd.DataFrame) -> np.ndarray:
    return (0.6 * (cov["risk_level"] == "high") + 0.3 * (cov["risk_level"] == "medium")
            + 0.08 * cov["prior_cases"] - 0.02 * (cov["age"] - 30)).to_numpy(float)


def _assign(rng, cov, design):
    if design == "rct":
        return rng.random(len(cov)) < 0.5
    lp = (-0.9 - 0.5 * (cov["risk_level"] == "high") - 0.06 * cov["prior_cases"] - 0.4 * cov["substance"]
          + 0.5 * cov["employed"] + 0.01 * (cov["age"] - 30)).to_numpy(float)
    return rng.random(len(cov)) < 1 / (1 + np.exp(-lp))


def simulate(seed: int, n: int = 400, design: str = "rct", beta: float = np.log(0.7),
             death_rate: float = 0.01 / 365.25, programme_id: str = "P1") -> dict:
    """Typed ``participants``, ``justice_events``, ``detention_periods`` and the truth.

    ``n`` is the total number of people (programme + comparison pool).
    Returns a dict with the three tables plus ``truth`` = {"conditional_log_hr": beta}.
    """
    rng = np.random.default_rng(seed)
    cov = _covariates(rng, n)
    treated = _assign(rng, cov, design)
    intake = CUTOFF - pd.to_timedelta(rng.integers(365, 3 * 365, n), unit="D")
    rate = H0 * np.exp(beta * treated + _linear(cov))
    t_event = rng.exponential(1 / rate)
    t_death = rng.exponential(1 / death_rate, n)
    fu = (CUTOFF - intake).days.to_numpy(float)
    ids = np.array([f"S{seed}_{i:05d}" for i in range(n)])
    dies = t_death < fu
    death = pd.Series(intake + pd.to_timedelta(np.ceil(np.minimum(t_death, fu)), unit="D")).where(dies, pd.NaT)
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "programme_id": programme_id,
            "group": np.where(treated, "programme", "comparison"),
            "assignment": "randomised" if design == "rct" else "observational",
            "sex": cov["sex"],
            "birth_year": (intake.year - cov["age"]).astype("Int64"),
            "intake_date": intake,
            "follow_up_start": intake,
            "detained_at_intake": pd.array([False] * n, dtype="boolean"),
            "programme_end_date": pd.NaT,
            "programme_end_reason": None,
            "risk_level": cov["risk_level"],
            "index_offence_category": cov["index_offence_category"],
            "prior_cases": cov["prior_cases"].astype("Int64"),
            "prior_custodial_sentences": rng.binomial(cov["prior_cases"].to_numpy(), 0.2).astype(int),
            "age_first_case": np.clip(cov["age"] - rng.integers(0, 10, n), 12, None),
            "employed_at_intake": pd.array(cov["employed"], dtype="boolean"),
            "stable_housing_at_intake": pd.array(np.where(rng.random(n) < 0.1, None, cov["housing"]),
                                                 dtype="boolean"),
            "substance_problem": pd.array(cov["substance"], dtype="boolean"),
            "psychiatric_problem": pd.array(rng.random(n) < 0.15, dtype="boolean"),
            "death_date": pd.to_datetime(death),
            "emigration_date": pd.NaT,
        }
    )
    participants["prior_custodial_sentences"] = participants["prior_custodial_sentences"].astype("Int64")
    participants["age_first_case"] = participants["age_first_case"].astype("Int64")
    participants["_row"] = np.arange(2, n + 2)
    # offences: first at t_event (days after start, at least 1), then a Poisson process
    end = np.where(dies, np.ceil(np.minimum(t_death, fu)), fu)
    ev_rows = []
    k = 0
    for i in np.flatnonzero(t_event < end):
        t = max(1.0, np.ceil(t_event[i]))
        while t <= end[i]:
            k += 1
            ev_rows.append((f"E{seed}_{k:06d}", ids[i], intake[i] + pd.Timedelta(days=int(t))))
            t += max(1.0, np.ceil(rng.exponential(1 / rate[i])))
    ev = pd.DataFrame(ev_rows, columns=["event_id", "participant_id", "offence_date"])
    m = len(ev)
    ev["registration_date"] = ev["offence_date"] + pd.Timedelta(days=30)
    ev["offence_category"] = rng.choice(["violence", "property", "drugs", "sexual", "public_order"], m)
    ev["max_penalty_years"] = rng.choice([1.0, 4.0, 6.0, 8.0, 12.0], m)
    ev["pretrial_detention_allowed"] = pd.array(ev["max_penalty_years"] >= 4, dtype="boolean")
    ev["disposal"] = rng.choice(["conviction", "prosecutor_sanction", "pending", "policy_dismissal"], m)
    ev["custodial_days"] = pd.array(np.where(rng.random(m) < 0.3, rng.integers(10, 200, m), 0), dtype="Int64")
    ev["_row"] = np.arange(2, m + 2)
    detention = pd.DataFrame({"participant_id": pd.Series(dtype=object), "start_date": pd.Series(dtype="datetime64[ns]"),
                              "end_date": pd.Series(dtype="datetime64[ns]")})
    return {
        "participants": participants,
        "justice_events": ev,
        "detention_periods": detention,
        "truth": {"conditional_log_hr": float(beta)},
        "cutoff_date": CUTOFF,
    }


def marginal_att_log_hr(beta: float = np.log(0.7), design: str = "observational", n: int = 200_000,
                        seed: int = 1) -> float:
    """True marginal ATT log HR: Cox HR in a large counterfactual population of participants.

    Participants' covariates (drawn from the assignment model), each under
    both arms, with the simulator's censoring (1-3 years of follow-up, death
    competing as censoring for the cause-specific hazard).
    """
    from evaluation.stats.survival import CoxModel

    rng = np.random.default_rng(seed)
    cov = _covariates(rng, n)
    cov = cov[_assign(rng, cov, design)].reset_index(drop=True)
    m = len(cov)
    fu = rng.integers(365, 3 * 365, m).astype(float)
    lin = _linear(cov)
    rows = []
    for a in (0, 1):
        t = rng.exponential(1 / (H0 * np.exp(beta * a + lin)))
        td = rng.exponential(365.25 / 0.01, m)
        end = np.minimum(fu, td)
        rows.append(pd.DataFrame({"time": np.minimum(np.maximum(np.ceil(t), 1), end), "event": (t < end).astype(int),
                                  "a": float(a)}))
    df = pd.concat(rows, ignore_index=True)
    return float(CoxModel().fit(df, "time", "event", ["a"]).params_["a"])


def coverage_run(seeds, n: int = 600, beta: float = np.log(0.7), designs=("rct", "matching", "ipw"),
                 truth_draws: int = 200_000) -> pd.DataFrame:
    """Fit RecidivismAnalysis per seed and design; one row per (seed, design) with estimate, CI and truth.

    rct: adjusted Cox HR vs the conditional log HR ``beta``; matching/IPW:
    unadjusted weighted Cox HR vs the marginal ATT log HR
    (:func:`marginal_att_log_hr`).
    """
    import warnings

    from evaluation.analyses.recidivism import RecidivismAnalysis

    truth_m = marginal_att_log_hr(beta, n=truth_draws)
    rows = []
    for seed in seeds:
        for d in designs:
            data = simulate(seed, n=n, design="rct" if d == "rct" else "observational", beta=beta)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a = RecidivismAnalysis("rct" if d == "rct" else "matched", endpoints=("GENERAL",),
                                       weighting="ipw" if d == "ipw" else "matching").fit(data, "P1", CUTOFF)
            est = "hazard_ratio_adjusted" if d == "rct" else "hazard_ratio"
            r = a.results_[(a.results_["estimand"] == est) & (a.results_["group"] == "difference")].iloc[0]
            truth = beta if d == "rct" else truth_m
            rows.append({"seed": seed, "design": d, "estimand": est, "log_hr": np.log(r["estimate"]),
                         "lower": np.log(r["ci_lower"]), "upper": np.log(r["ci_upper"]), "truth": truth,
                         "covered": bool(np.log(r["ci_lower"]) <= truth <= np.log(r["ci_upper"]))})
    return pd.DataFrame(rows)


def coverage_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per design: seeds, mean estimate, bias, empirical SD, mean CI half-width in SE units, coverage."""
    g = runs.groupby("design")
    out = pd.DataFrame({
        "seeds": g.size(),
        "truth": g["truth"].first(),
        "mean_log_hr": g["log_hr"].mean(),
        "bias": g["log_hr"].mean() - g["truth"].first(),
        "empirical_sd": g["log_hr"].std(),
        "mean_model_se": g.apply(lambda x: ((x["upper"] - x["lower"]) / (2 * 1.959964)).mean(), include_groups=False),
        "coverage": g["covered"].mean(),
    })
    return out.reset_index()
