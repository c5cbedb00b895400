"""Calibration of evaluation.stats.meta over many simulated data sets (prints numbers, never fails on them).

1. Type I error of the Knapp-Hartung moderator test (organisation model, 3 levels)
   when effects do NOT differ by moderator: yi ~ N(theta + u_i, se_i^2), u_i ~ N(0, tau2),
   k = 18 programmes, for equal SEs (exact F test) and unequal SEs 0.10-0.30.
2. Coverage of the 95% CI of the pooled effect (REML + KH, REML z) for k = 8.
3. Time per fit (REML meta-regression).

Usage: .venv/bin/python benchmarks/bench_meta_coverage.py [n_seeds]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.stats import meta


def main(n_seeds: int = 2000) -> None:
    k = 18
    org = np.resize(np.array(["commissioner", "contractor", "employer"]), k)
    mods = pd.DataFrame({"organisation_model": org})
    band = stats.binom.ppf([0.0005, 0.9995], n_seeds, 0.05) / n_seeds
    print(f"seeds: {n_seeds}; 99.9% binomial band around 0.05: [{band[0]:.4f}, {band[1]:.4f}]")
    for label, sei in [("equal SE 0.2", np.full(k, 0.2)), ("SE 0.10-0.30", np.linspace(0.1, 0.3, k))]:
        for method in ("REML", "PM", "DL"):
            for kh in (True, False):
                t0 = time.perf_counter()
                rej = 0
                for s in range(n_seeds):
                    y = meta.simulate_effects(np.full(k, -0.2), sei, 0.02, np.random.default_rng(s))
                    rej += meta.meta_regression(y, sei, mods, method=method, knapp_hartung=kh)["QM_p"].iloc[0] < 0.05
                dt = (time.perf_counter() - t0) / n_seeds
                print(f"moderator test, {label:13s} {method:4s} {'KH' if kh else 'z '}: rejection rate "
                      f"{rej / n_seeds:.4f} ({dt * 1e3:.2f} ms/fit)", flush=True)
    k = 8
    sei = np.linspace(0.1, 0.4, k)
    for method, kh in [("REML", True), ("REML", False), ("DL", False)]:
        cover = 0
        for s in range(n_seeds):
            y = meta.simulate_effects(np.full(k, -0.2), sei, 0.05, np.random.default_rng(100_000 + s))
            r = meta.random_effects(y, sei, method=method, knapp_hartung=kh)
            cover += r.ci_lower <= -0.2 <= r.ci_upper
        print(f"pooled-effect 95% CI coverage, k={k}, tau2=0.05, {method} {'KH' if kh else 'z'}: "
              f"{cover / n_seeds:.4f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
