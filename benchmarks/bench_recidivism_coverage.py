"""Coverage of 95% confidence intervals of the recidivism hazard ratios over many seeds.

Each seed draws a small synthetic programme (tests/recidivism_sim.py: n = 600
people, true conditional HR 0.7, confounded assignment for the observational
designs) and runs the full RecidivismAnalysis. Truth per design:

* rct, adjusted Cox HR -> the conditional log HR (generating value);
* matching and IPW, unadjusted weighted Cox HR with robust SE -> the marginal
  ATT log HR (Cox HR in 200,000 counterfactual participants under both arms).

Prints bias, empirical SD vs mean model SE, and coverage (target 0.95; the
acceptance band is 0.90-0.98, about +-3 Monte-Carlo SEs at 100 seeds).

Usage: .venv/bin/python benchmarks/bench_recidivism_coverage.py [n_seeds]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import recidivism_sim as rs  # noqa: E402


def main(n_seeds: int = 100) -> int:
    t0 = time.perf_counter()
    runs = rs.coverage_run(range(1000, 1000 + n_seeds))
    summary = rs.coverage_summary(runs)
    secs = time.perf_counter() - t0
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"seeds: {n_seeds}; seconds: {secs:.1f}; seconds per fit: {secs / len(runs):.2f}")
    ok = summary["coverage"].between(0.90, 0.98).all()
    print("coverage within 0.90-0.98 for every design:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
