"""Weighted Cox model with cluster-robust SE at national scale, ours vs lifelines.

Prints seconds; never fails on speed. Setting: 150,000 people (50,000
programme participants, each matched to 2 of 100,000 comparison people: 50,000
matched sets of 3), matching weights (1 for participants, 0.5 for comparisons),
robust SE clustered on the matched set, Efron ties on days (many ties).

Then lifelines' ``CoxPHFitter().fit(..., robust=True, weights_col=, cluster_col=)``
at 5,000, 10,000 and 20,000 rows (untied times) to show how its time grows,
the speed ratio at sizes both can do, and a check that both give the same
robust SEs (to 1e-6 relative). With tied times lifelines' robust SEs differ
from R's by ~1e-4 relative (its score residuals at ties are not R's Efron
ones); ours equal R's (tests/test_survival_cox.py), and the gap is printed.

Run: ``.venv/bin/python benchmarks/bench_cox_robust.py`` (about a minute).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from evaluation.stats.survival import CoxModel

COVS = ["treated", "age", "priors", "female"]


def make_data(n_sets: int, seed: int, tied: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3 * n_sets
    matched_set = np.repeat(np.arange(n_sets), 3)
    treated = np.tile([1, 0, 0], n_sets)
    set_age = rng.uniform(18, 60, n_sets)[matched_set]
    age = np.round(set_age + rng.normal(0, 2, n), 1)
    priors = rng.poisson(2.0, n)
    female = rng.binomial(1, 0.15, n)
    lp = -0.25 * treated - 0.02 * (age - 35) + 0.15 * priors - 0.3 * female
    t_event = rng.exponential(900 * np.exp(-lp))
    t_cens = rng.uniform(200, 1100, n)
    time_days = np.minimum(t_event, t_cens)
    if tied:
        time_days = np.ceil(time_days)
    status = (t_event <= t_cens).astype(int)
    weight = np.where(treated == 1, 1.0, 0.5)
    return pd.DataFrame({"time": time_days, "status": status, "treated": treated, "age": age,
                         "priors": priors, "female": female, "weight": weight,
                         "matched_set": matched_set})


def ours(df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    m = CoxModel().fit(df, "time", "status", COVS, weights_col="weight",
                       cluster_col="matched_set")
    return time.perf_counter() - t0, m.summary_.set_index("term")


def lifelines_fit(df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    from lifelines import CoxPHFitter

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns about non-integer weights
        # tight convergence so that the comparison is about the variance, not the stopping rule
        cph = CoxPHFitter().fit(df[["time", "status", *COVS, "weight", "matched_set"]], "time",
                                "status", weights_col="weight", cluster_col="matched_set",
                                robust=True,
                                fit_options={"precision": 1e-13, "r_precision": 1e-15,
                                             "max_steps": 200})
    return time.perf_counter() - t0, cph.summary


def main() -> None:
    big = make_data(50_000, seed=1)
    secs, summ = ours(big)
    print(f"ours: {len(big):,} rows ({int(big.treated.sum()):,} treated, "
          f"{int((1 - big.treated).sum()):,} controls), {int(big.status.sum()):,} events, "
          f"weighted Cox + cluster-robust SE (50,000 matched sets): {secs:.2f} s")
    print(summ[["coef", "se", "robust_se"]].to_string())

    # lifelines' score residuals at tied event times differ from R's Efron score
    # residuals (ours match R coxph to 1e-14, tests/test_survival_cox.py), so the
    # equality check uses untied (fractional-day) times; the tied gap is shown once.
    df = make_data(5_000 // 3, seed=5_000, tied=True)
    gap = np.max(np.abs(ours(df)[1].robust_se / lifelines_fit(df)[1].loc[COVS, "se(coef)"] - 1))
    print(f"tied days, 4,998 rows: max rel. diff robust SE ours vs lifelines {gap:.1e} "
          "(ours = R coxph; lifelines' Efron score residuals at ties differ)")
    times = {}
    for n_rows in (5_000, 10_000, 20_000):
        df = make_data(n_rows // 3, seed=n_rows, tied=False)
        t_ours, s_ours = ours(df)
        t_ll, s_ll = lifelines_fit(df)
        times[n_rows] = (t_ours, t_ll)
        coef_diff = np.max(np.abs(s_ours.coef / s_ll.loc[COVS, "coef"] - 1))
        se_diff = np.max(np.abs(s_ours.robust_se / s_ll.loc[COVS, "se(coef)"] - 1))
        print(f"{len(df):>6,} rows: ours {t_ours:6.2f} s, lifelines {t_ll:6.2f} s, "
              f"ratio {t_ll / t_ours:6.1f}x; max rel. diff coef {coef_diff:.1e}, "
              f"robust SE {se_diff:.1e} {'OK' if se_diff < 1e-6 else 'MISMATCH'}")
    n0, n1 = 5_000, 20_000
    growth = times[n1][1] / times[n0][1]
    print(f"lifelines time growth 5k -> 20k rows: {growth:.1f}x (quadratic would be 16x); "
          f"ours: {times[n1][0] / times[n0][0]:.1f}x")


if __name__ == "__main__":
    main()
