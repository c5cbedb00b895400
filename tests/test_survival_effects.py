"""E-value and the negative-binomial rate ratio.

E-value: hand-worked examples and the published example of VanderWeele &
Ding (2017). Negative binomial: ``Rscript tests/r/survival_negbin.R``
(MASS::glm.nb, sandwich::vcovCL) on tests/fixtures/survival_counts.csv;
tolerance 1e-6 relative (both solve the same ML equations to ~1e-11).
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.results import RESULT_COLUMNS
from evaluation.stats.survival import e_value, negative_binomial_rate_ratio

HERE = Path(__file__).resolve().parent
COUNTS = pd.read_csv(HERE / "fixtures" / "survival_counts.csv")
NB = pd.read_csv(HERE / "r" / "survival_negbin_reference.csv").set_index("variant")
RTOL = 1e-6


def test_e_value_published_example():
    # VanderWeele & Ding (2017), Ann Intern Med, worked example: RR 3.9 (95% CI 1.8 to 8.7)
    # gives E-value 7.26 for the estimate and 3.00 for the lower limit (printed to 2 decimals).
    ev = e_value(3.9, 1.8, 8.7)
    assert ev["e_value"] == pytest.approx(7.26, abs=0.005)
    assert ev["e_value_ci"] == pytest.approx(3.00, abs=0.005)


def test_e_value_protective_rare_and_common():
    # Rare outcome, HR 0.5 (0.3, 0.8): 1/0.5 = 2 -> 2 + sqrt(2 * 1) = 3.41421;
    # CI limit closest to 1 is 0.8 -> 1.25 + sqrt(1.25 * 0.25) = 1.25 + 0.55902 = 1.80902.
    ev = e_value(0.5, 0.3, 0.8, rare_outcome=True)
    assert ev["e_value"] == pytest.approx(2 + math.sqrt(2), rel=1e-12)
    assert ev["e_value_ci"] == pytest.approx(1.80902, abs=1e-5)
    # Common outcome, HR 0.5: 0.5^sqrt(0.5) = 0.61255, 0.5^sqrt(2) = 0.37521,
    # RR = (1 - 0.61255) / (1 - 0.37521) = 0.38745 / 0.62479 = 0.62013;
    # 1/RR = 1.61256 -> 1.61256 + sqrt(1.61256 * 0.61256) = 1.61256 + 0.99388 = 2.60644.
    ev = e_value(0.5, 0.3, 0.8, rare_outcome=False)
    assert ev["rr"] == pytest.approx(0.62013, abs=1e-5)
    assert ev["e_value"] == pytest.approx(2.60644, abs=1e-4)
    assert ev["e_value_ci"] < ev["e_value"]


def test_e_value_ci_including_one_is_one():
    ev = e_value(0.8, 0.6, 1.1)
    assert ev["e_value_ci"] == 1.0 and np.isnan(ev["rr_limit"])
    with pytest.raises(ValueError, match="ci_lower <= estimate <= ci_upper"):
        e_value(0.8, 0.9, 1.1)
    with pytest.raises(ValueError, match="estimate=-1"):
        e_value(-1, 0.5, 1.1)


@pytest.mark.parametrize(
    "variant, kwargs",
    [
        ("unadjusted", dict()),
        ("adjusted", dict(covariates=["age"])),
        ("weighted", dict(weights="weight")),
        ("adjusted_cluster", dict(covariates=["age"], cluster="cluster")),
        ("weighted_cluster", dict(covariates=["age"], weights="weight", cluster="cluster")),
    ],
)
def test_negative_binomial_matches_r_glm_nb(variant, kwargs):
    d = COUNTS
    res = negative_binomial_rate_ratio(
        d["count"], d["exposure"], d["treated"],
        covariates=d[kwargs["covariates"]] if "covariates" in kwargs else None,
        weights=d[kwargs["weights"]] if "weights" in kwargs else None,
        cluster=d[kwargs["cluster"]] if "cluster" in kwargs else None,
        programme_id="P1", analysis="recidivism",
    )
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    row = res.iloc[0]
    ref = NB.loc[variant]
    assert row.coef == pytest.approx(ref.coef, rel=RTOL)
    assert row.se == pytest.approx(ref.se, rel=RTOL)
    assert row.theta == pytest.approx(ref.theta, rel=RTOL)
    assert row.loglik == pytest.approx(ref.loglik, rel=RTOL)
    assert row.estimate == pytest.approx(math.exp(ref.coef), rel=RTOL)
    se_used = ref.se if np.isnan(ref.robust_se) else ref.robust_se
    if not np.isnan(ref.robust_se):
        assert row.robust_se == pytest.approx(ref.robust_se, rel=RTOL)
    assert row.ci_upper == pytest.approx(math.exp(ref.coef + 1.959963984540054 * se_used),
                                         rel=RTOL)
    assert row.programme_id == "P1" and row.n == len(d) and row.events == d["count"].sum()


def test_negative_binomial_bad_input():
    d = COUNTS
    with pytest.raises(ValueError, match="exposure: value at row 3 must be > 0"):
        negative_binomial_rate_ratio(d["count"], d.exposure.where(d.index != 3, 0), d.treated)
    with pytest.raises(ValueError, match="counts: value at row 0 is not a count"):
        negative_binomial_rate_ratio(d["count"].where(d.index != 0, 1.5), d.exposure, d.treated)
