"""Regression with classical, HC and cluster-robust SE agrees with R (lm/glm + sandwich + lmtest).

Reference: tests/r/regression_reference.R on tests/r/regression_fixture.csv (stored output
tests/r/regression_reference.csv; R 4.2.2, sandwich 3.0.2, lmtest 0.9.40).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.stats.proportions import wilson_interval
from evaluation.stats.regression import NotEstimableError, clustered_proportion, fit_logit, fit_ols

R = Path(__file__).parent / "r"
D = pd.read_csv(R / "regression_fixture.csv")
REF = pd.read_csv(R / "regression_reference.csv")
X = D[["grp", "x1", "x2"]].assign(const=1.0)[["const", "grp", "x1", "x2"]]

CASES = {
    "lm_classical": ("ols", None, "classical"), "lm_HC0": ("ols", None, "HC0"), "lm_HC1": ("ols", None, "HC1"),
    "lm_HC3": ("ols", None, "HC3"), "lm_CR1": ("ols", None, "CR1"),
    "wlm_classical": ("ols", "w", "classical"), "wlm_HC1": ("ols", "w", "HC1"), "wlm_HC3": ("ols", "w", "HC3"),
    "wlm_CR1": ("ols", "w", "CR1"),
    "glm_classical": ("logit", None, "classical"), "glm_HC0": ("logit", None, "HC0"),
    "glm_HC1": ("logit", None, "HC1"), "glm_HC3": ("logit", None, "HC3"), "glm_CR1": ("logit", None, "CR1"),
    "wglm_HC0": ("logit", "w", "HC0"), "wglm_CR1": ("logit", "w", "CR1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_agrees_with_r(case):
    kind, wcol, cov = CASES[case]
    w = D[wcol] if wcol else None
    if kind == "ols":
        fit = fit_ols(X, D["y"], weights=w, cov_type=cov, cluster=D["cluster"])
    else:
        fit = fit_logit(X, D["yb"], weights=w, cov_type=cov, cluster=D["cluster"])
    got = fit.tidy().set_index("term")
    ref = REF[REF["case"] == case].set_index("term")
    assert len(ref) == 4
    for col in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
        np.testing.assert_allclose(got.loc[ref.index, col], ref[col], rtol=0, atol=1e-6, err_msg=f"{case} {col}")


def test_rank_deficiency_is_named():
    Xd = X.assign(x1_copy=2 * X["x1"])
    with pytest.raises(NotEstimableError, match="x1_copy"):
        fit_ols(Xd, D["y"])
    with pytest.raises(NotEstimableError, match="rank-deficient"):
        fit_logit(Xd, D["yb"])


def test_separation_is_not_a_number():
    yb = (D["x1"] > 0).astype(int)  # x1 separates the outcome completely
    with pytest.raises(NotEstimableError, match="separation"):
        fit_logit(X, yb)
    with pytest.raises(NotEstimableError, match="same value"):
        fit_logit(X, np.ones(len(D)))


def test_input_checks():
    with pytest.raises(ValueError, match="cluster"):
        fit_ols(X, D["y"], cov_type="CR1")
    with pytest.raises(ValueError, match="cov_type"):
        fit_ols(X, D["y"], cov_type="HC2")
    with pytest.raises(ValueError, match="missing"):
        fit_ols(X, D["y"].where(D.index > 0))
    with pytest.raises(NotEstimableError, match="too few rows"):
        fit_ols(X.head(4), D["y"].head(4))


def test_zero_weights_equal_dropping_rows():
    w = np.where(D.index % 7 == 0, 0.0, D["w"])
    a = fit_ols(X, D["y"], weights=w, cov_type="CR1", cluster=D["cluster"]).tidy()
    keep = w > 0
    b = fit_ols(X[keep], D["y"][keep], weights=w[keep], cov_type="CR1", cluster=D["cluster"][keep]).tidy()
    pd.testing.assert_frame_equal(a, b)


def test_clustered_proportion_hand_worked():
    # one row per cluster: design effect 1 -> the plain Wilson interval
    y = np.array([1] * 6 + [0] * 14)
    r = clustered_proportion(y, np.arange(20))
    lo, hi = wilson_interval(6, 20)
    assert r["estimate"] == 0.3 and r["n_eff"] == 20
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((lo, hi))
    # perfectly clustered: 4 clusters of 5 identical rows. CR1 var = G/(G-1) (n-1)/(n-1) sum_g (5 (y_g - p))^2 / n^2
    # = 4/3 * 25 / 400 = 1/12; iid var = 0.25 / 19; deff = 19/3; n_eff = 20 * 3 / 19 (about 3 people, not 20)
    y2 = np.repeat([1, 0, 0, 1], 5)
    r2 = clustered_proportion(y2, np.repeat(list("abcd"), 5))
    assert r2["n_eff"] == pytest.approx(60 / 19)
    assert r2["ci_upper"] - r2["ci_lower"] > 2 * (wilson_interval(10, 20)[1] - 0.5)
