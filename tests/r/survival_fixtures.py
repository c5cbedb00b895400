"""Write the seeded fixtures used by tests/test_survival_*.py and tests/r/survival_*.R.

Run from the repository root: ``.venv/bin/python tests/r/survival_fixtures.py``.
The CSVs are committed; rerunning with the same numpy version reproduces them.
"""

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "fixtures"


def km_fixture(rng):
    """Kaplan-Meier data: integer days (many ties), censoring at event times,
    case weights, left-truncation entry times and two groups."""
    n = 80
    group = np.where(np.arange(n) < 40, "programme", "comparison")
    rate = np.where(group == "programme", 1 / 25.0, 1 / 15.0)
    t_event = np.ceil(rng.exponential(1 / rate))
    t_cens = np.ceil(rng.uniform(5, 45, n))
    time = np.minimum(t_event, t_cens)
    status = (t_event <= t_cens).astype(int)
    # force a few censorings exactly at event times
    status[:3] = 0
    time[:3] = time[status == 1][:3]
    weight = np.round(rng.uniform(0.3, 3.0, n), 3)
    entry = np.where(rng.uniform(size=n) < 0.3, np.floor(time * rng.uniform(0, 0.8, n)), 0.0)
    return pd.DataFrame(
        {"time": time, "status": status, "group": group, "weight": weight, "entry": entry}
    )


def cox_fixture(rng):
    """Cox data: tied days, weights, clusters of 1-4 rows, two strata."""
    n = 240
    cluster = np.repeat(np.arange(100), 4)[:n]
    rng.shuffle(cluster)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, n)
    x3 = rng.normal(size=n) + 0.3 * x2
    frailty = rng.normal(scale=0.5, size=100)[cluster]
    lp = 0.5 * x1 - 0.7 * x2 + 0.2 * x3 + frailty
    t_event = rng.exponential(60 * np.exp(-lp))
    t_cens = rng.uniform(10, 120, n)
    time = np.ceil(np.minimum(t_event, t_cens) / 3.0)  # coarse: many ties
    status = (t_event <= t_cens).astype(int)
    weight = np.round(rng.uniform(0.2, 2.5, n), 3)
    stratum = rng.binomial(1, 0.5, n)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "cluster": cluster + 1,
            "time": time,
            "status": status,
            "x1": np.round(x1, 4),
            "x2": x2,
            "x3": np.round(x3, 4),
            "weight": weight,
            "stratum": stratum,
        }
    )


def counting_fixture(rng):
    """Counting-process (start, stop] rows: each person split at a switch time
    where the time-varying covariate z changes from 0 to 1."""
    rows = []
    for pid in range(1, 151):
        x1 = round(float(rng.normal()), 4)
        switch = float(np.ceil(rng.uniform(2, 30)))
        t_event = float(np.ceil(rng.exponential(25 * np.exp(-0.4 * x1))))
        t_cens = float(np.ceil(rng.uniform(10, 50)))
        end = min(t_event, t_cens)
        status = int(t_event <= t_cens)
        w = round(float(rng.uniform(0.5, 2.0)), 3)
        if switch < end:
            rows.append((pid, 0.0, switch, 0, x1, 0, w))
            rows.append((pid, switch, end, status, x1, 1, w))
        else:
            rows.append((pid, 0.0, end, status, x1, 0, w))
    return pd.DataFrame(rows, columns=["id", "start", "stop", "status", "x1", "z", "weight"])


def competing_fixture(rng):
    """Competing risks: codes 0 = censored, 1 = reoffence, 2 = other end
    (death, emigration); integer days (ties across and within causes); 3 groups."""
    n = 150
    group = np.array(["a", "b", "c"])[np.arange(n) % 3]
    h1 = np.select([group == "a", group == "b"], [1 / 30, 1 / 45], 1 / 60)
    t1 = rng.exponential(1 / h1)
    t2 = rng.exponential(70, n)
    tc = rng.uniform(10, 80, n)
    t = np.minimum(np.minimum(t1, t2), tc)
    code = np.where(t == t1, 1, np.where(t == t2, 2, 0))
    return pd.DataFrame({"time": np.ceil(t / 2), "code": code, "group": group})


def counts_fixture(rng):
    """Reoffence counts with exposure (years at risk), overdispersed (NB2,
    theta = 1.5), a treatment flag, a covariate, clusters and weights."""
    n = 300
    treated = rng.binomial(1, 0.4, n)
    age = np.round(rng.uniform(18, 60, n), 1)
    exposure = np.round(rng.uniform(0.2, 3.0, n), 3)
    mu = exposure * np.exp(0.2 - 0.4 * treated - 0.02 * (age - 35))
    lam = rng.gamma(1.5, mu / 1.5)
    count = rng.poisson(lam)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "cluster": rng.integers(1, 61, n),
            "count": count,
            "exposure": exposure,
            "treated": treated,
            "age": age,
            "weight": np.round(rng.uniform(0.5, 2.0, n), 3),
        }
    )


def main():
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(20261129)
    km_fixture(rng).to_csv(OUT / "survival_km.csv", index=False)
    cox_fixture(rng).to_csv(OUT / "survival_cox.csv", index=False)
    counting_fixture(rng).to_csv(OUT / "survival_counting.csv", index=False)
    counts_fixture(np.random.default_rng(20261131)).to_csv(OUT / "survival_counts.csv", index=False)
    competing_fixture(np.random.default_rng(20261130)).to_csv(
        OUT / "survival_competing.csv", index=False
    )


if __name__ == "__main__":
    main()
