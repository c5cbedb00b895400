"""Coverage of the recidivism hazard-ratio intervals on simulated data with known truth.

Truth (tests/recidivism_sim.py): rct -> conditional log HR log(0.7) for the
adjusted Cox model; matching/IPW -> marginal ATT log HR for the weighted,
unadjusted Cox model. The slow test runs 100 seeds per design (also
benchmarks/bench_recidivism_coverage.py); the acceptance band 0.90-0.98 is
about +-3 Monte-Carlo standard errors (sqrt(0.95*0.05/100) = 0.022) around 0.95,
with room above for conservative robust SEs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import recidivism_sim as rs  # noqa: E402


def test_quick_coverage_few_seeds():
    # 3 seeds x 3 designs: each interval should contain the truth; with 9 intervals at 95%,
    # P(at least 7 of 9 cover) = 0.9916, so the check fails by chance less than 1% of the time
    runs = rs.coverage_run(range(500, 503), n=500, truth_draws=50_000)
    assert runs["covered"].sum() >= 7
    # no design is grossly biased: |mean - truth| < 0.25 (per-fit SE about 0.11-0.14, 3 seeds)
    s = rs.coverage_summary(runs)
    assert (s["bias"].abs() < 0.25).all()


@pytest.mark.slow
def test_coverage_100_seeds():
    runs = rs.coverage_run(range(1000, 1100))
    s = rs.coverage_summary(runs)
    assert s["coverage"].between(0.90, 0.98).all(), s.to_string()
    # bias small relative to the SD of the estimates (< 0.5 SD)
    assert (s["bias"].abs() < 0.5 * s["empirical_sd"]).all(), s.to_string()
