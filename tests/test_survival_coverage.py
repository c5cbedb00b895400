"""Coverage of the 95% intervals over simulated data sets (known truth).

Truth: exponential event times with rate lam, so S(t) = exp(-lam t) and
RMST(tau) = (1 - exp(-lam tau)) / lam (hand integral); the Cox log hazard
ratio is the simulation parameter. Quick versions (few seeds, loose bounds
that a broken variance still fails: e.g. an SE off by a factor 2 gives about
68% or 99.99% coverage) run in the normal suite; the many-seed versions are
marked slow (``make bench``).
"""

import numpy as np
import pandas as pd
import pytest

from evaluation.stats.survival import CoxModel, KaplanMeier, rmst_difference

TAU = 365.0
LAM1, LAM0 = 1 / 700, 1 / 400


def _true_rmst(lam):
    return (1 - np.exp(-lam * TAU)) / lam


def _sim_groups(seed, n=150):
    rng = np.random.default_rng(seed)
    g = np.repeat(["programme", "comparison"], n)
    lam = np.where(g == "programme", LAM1, LAM0)
    t = rng.exponential(1 / lam)
    c = rng.uniform(200, 900, 2 * n)
    return np.ceil(np.minimum(t, c)), (t <= c).astype(int), g


def _rmst_coverage(seeds):
    truth = _true_rmst(LAM1) - _true_rmst(LAM0)
    hit_diff, hit_km = 0, 0
    for s in seeds:
        t, e, g = _sim_groups(s)
        res = rmst_difference(t, e, g, tau=TAU).set_index("group").loc["difference"]
        hit_diff += res.ci_lower <= truth <= res.ci_upper
        km = KaplanMeier().fit(t[g == "comparison"], e[g == "comparison"])
        s_at = km.survival_at([TAU]).iloc[0]
        hit_km += s_at.ci_lower <= np.exp(-LAM0 * TAU) <= s_at.ci_upper
    return hit_diff / len(seeds), hit_km / len(seeds)


def _cox_coverage(seeds, beta=-0.3):
    """Matched sets of 3 (1 treated, 2 controls) with censoring shared within a set,
    weights 1 and 0.5 (matching weights, unrelated to the outcome), robust SE clustered
    on the set. The model is correctly specified, so the truth is exp(beta)."""
    hits = 0
    for s in seeds:
        rng = np.random.default_rng(10_000 + s)
        n_sets = 100
        sets = np.repeat(np.arange(n_sets), 3)
        treated = np.tile([1, 0, 0], n_sets)
        x = rng.normal(size=3 * n_sets)
        t = rng.exponential(500 * np.exp(-(beta * treated + 0.5 * x)))
        c = rng.uniform(100, 900, n_sets)[sets]  # censoring shared within a set
        df = pd.DataFrame({"time": np.ceil(np.minimum(t, c)), "event": (t <= c).astype(int),
                           "treated": treated, "x": x, "set": sets,
                           "w": np.where(treated == 1, 1.0, 0.5)})
        m = CoxModel().fit(df, "time", "event", ["treated", "x"], weights_col="w",
                           cluster_col="set")
        row = m.summary_.set_index("term").loc["treated"]
        hits += row.ci_lower <= np.exp(beta) <= row.ci_upper
    return hits / len(seeds)


def test_coverage_quick():
    diff, km = _rmst_coverage(range(40))
    assert diff >= 0.85 and km >= 0.85
    assert _cox_coverage(range(30)) >= 0.83


@pytest.mark.slow
def test_coverage_many_seeds():
    # 1,000 seeds: binomial SE of a 95% coverage is 0.7 points, so [0.93, 0.97] is ~3 SE
    diff, km = _rmst_coverage(range(1000))
    print(f"RMST difference coverage {diff:.3f}, KM S(tau) coverage {km:.3f}")
    assert 0.93 <= diff <= 0.97
    assert 0.93 <= km <= 0.97
    cox = _cox_coverage(range(500))
    print(f"Cox robust (clustered, weighted) HR coverage {cox:.3f}")
    assert 0.925 <= cox <= 0.975
