"""Linear and logistic regression with classical, heteroskedasticity-robust and cluster-robust SE.

:func:`fit_ols` (ordinary or weighted least squares, as R ``lm(y ~ X, weights=)``) and
:func:`fit_logit` (logistic regression by IRLS, as R ``glm(y ~ X, binomial, weights=)``) return a
:class:`RegressionFit` whose :meth:`RegressionFit.tidy` gives one row per term (``term, estimate, se,
ci_lower, ci_upper, p_value``). Covariance (``cov_type``):

``classical``
    lm: ``sigma^2 (X'WX)^-1``; glm binomial: ``(X'WVX)^-1`` (dispersion 1).
``HC0``, ``HC1``, ``HC3``
    ``sandwich::vcovHC(type=)``: bread ``B`` (the unscaled inverse information), meat
    ``sum_i s_i s_i'`` with score ``s_i = w_i r_i x_i`` (lm: residual; glm: ``y - mu``); HC1 multiplies
    by ``n/(n-k)``, HC3 divides each score by ``1 - h_i`` (weighted hat values).
``CR1``
    ``sandwich::vcovCL(cluster=, type="HC1")``: scores summed within clusters, times
    ``G/(G-1) * (n-1)/(n-k)``.

Intervals and p-values use the t distribution with ``n - k`` df for least squares (as
``lmtest::coeftest`` on an lm) and the normal for the logistic model (as on a glm).
Rows with weight 0 are dropped before the fit (R's lm keeps them but gives them no say; dropping them
makes ``n`` the number of rows that count). A rank-deficient design (aliased columns), fewer rows
than parameters, or (quasi-)separation in the logistic model raise :class:`NotEstimableError` naming
the cause, never a number. Agreement with R to 1e-6: ``tests/r/regression_reference.R``.
See docs/methods.md, section 'Re-integration outcomes'.

References
----------
Zeileis, A. (2004). Econometric computing with HC and HAC covariance matrix estimators. *Journal of
Statistical Software* 11(10). Zeileis, A., Koell, S. & Graham, N. (2020). Various versatile variances:
an object-oriented implementation of clustered covariances in R. *JSS* 95(1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

COV_TYPES = ("classical", "HC0", "HC1", "HC3", "CR1")
TIDY_COLUMNS = ["term", "estimate", "se", "ci_lower", "ci_upper", "p_value"]
MAX_LOGIT_COEF = 15.0
"""A logistic coefficient beyond this (on the logit scale) is read as (quasi-)separation."""


class NotEstimableError(ValueError):
    """The model cannot be estimated from these data (the message says why, for a results row's note)."""


@dataclass
class RegressionFit:
    """A fitted model: ``params`` and ``vcov`` (indexed by term), ``n``, ``df_resid``, ``cov_type``."""

    params: pd.Series
    vcov: pd.DataFrame
    n: int
    df_resid: int
    cov_type: str
    family: str
    n_clusters: int | None = None
    conf_level: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.params.index)

    def _crit(self) -> tuple[float, Any]:
        a = 0.5 + self.conf_level / 2
        if self.family == "gaussian":
            return float(stats.t.ppf(a, self.df_resid)), stats.t(self.df_resid)
        return float(stats.norm.ppf(a)), stats.norm()

    def tidy(self, exponentiate: bool = False) -> pd.DataFrame:
        """One row per term: ``term, estimate, se, ci_lower, ci_upper, p_value`` (+ ``n``).

        ``exponentiate=True`` gives odds ratios (estimate and interval exponentiated; ``se`` stays on
        the coefficient scale).
        """
        crit, dist = self._crit()
        b, se = self.params.to_numpy(float), self.se.to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * dist.sf(np.abs(b / se))
        lo, hi = b - crit * se, b + crit * se
        if exponentiate:
            b, lo, hi = np.exp(b), np.exp(lo), np.exp(hi)
        return pd.DataFrame({"term": list(self.params.index), "estimate": b, "se": se, "ci_lower": lo,
                             "ci_upper": hi, "p_value": p, "n": self.n})

    def row(self, term: str) -> dict[str, float]:
        """The tidy row of one term as a dict."""
        t = self.tidy()
        if term not in set(t["term"]):
            raise KeyError(f"term {term!r} is not in the model ({list(t['term'])})")
        return t.set_index("term").loc[term].to_dict()


def _prepare(X: Any, y: Any, weights: Any, cluster: Any, cov_type: str):
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, not {cov_type!r}")
    Xd = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    Xd.columns = [str(c) for c in Xd.columns]
    try:
        Xa = Xd.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X: every column must be numeric ({exc})") from None
    ya = np.asarray(y, dtype=float).ravel()
    n = len(ya)
    if Xa.ndim != 2 or Xa.shape[0] != n:
        raise ValueError(f"X has {Xa.shape[0]} rows, y has {n}")
    if not np.all(np.isfinite(Xa)) or not np.all(np.isfinite(ya)):
        raise ValueError("X and y must not contain missing or infinite values")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    if len(w) != n:
        raise ValueError(f"weights has {len(w)} values, y has {n}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite and >= 0")
    g = None
    if cov_type == "CR1":
        if cluster is None:
            raise ValueError("cov_type 'CR1' needs cluster")
        g = pd.Series(np.asarray(cluster, dtype=object).ravel())
        if len(g) != n:
            raise ValueError(f"cluster has {len(g)} values, y has {n}")
        if g.isna().any():
            raise ValueError("cluster must not contain missing values")
    keep = w > 0
    Xa, ya, w = Xa[keep], ya[keep], w[keep]
    if g is not None:
        g = g[keep].reset_index(drop=True)
    k = Xa.shape[1]
    if len(ya) <= k:
        raise NotEstimableError("too few rows for the parameters of the model")
    _check_rank(Xa * np.sqrt(w)[:, None], list(Xd.columns))
    return Xd.columns, Xa, ya, w, g


def _check_rank(Xw: np.ndarray, names: Sequence[str]) -> None:
    k = Xw.shape[1]
    if np.linalg.matrix_rank(Xw) == k:
        return
    aliased, kept = [], []
    for j in range(k):
        trial = kept + [j]
        if np.linalg.matrix_rank(Xw[:, trial]) == len(trial):
            kept = trial
        else:
            aliased.append(names[j])
    raise NotEstimableError(f"rank-deficient design: {', '.join(aliased)} aliased with other terms "
                            "(constant, or a combination of other columns)")


def _sandwich(bread: np.ndarray, scores: np.ndarray, cov_type: str, n: int, k: int,
              hat: np.ndarray | None, g: pd.Series | None) -> tuple[np.ndarray, int | None]:
    if cov_type == "CR1":
        codes = pd.factorize(g)[0]
        n_g = int(codes.max()) + 1
        if n_g < 2:
            raise NotEstimableError("cluster-robust SE needs at least 2 clusters")
        sg = np.zeros((n_g, k))
        np.add.at(sg, codes, scores)
        adj = n_g / (n_g - 1) * (n - 1) / (n - k)
        return adj * bread @ (sg.T @ sg) @ bread, n_g
    if cov_type == "HC3":
        if np.any(hat >= 1 - 1e-10):
            raise NotEstimableError("HC3: a row has leverage 1 (its own parameter)")
        scores = scores / (1 - hat)[:, None]
    v = bread @ (scores.T @ scores) @ bread
    if cov_type == "HC1":
        v = v * n / (n - k)
    return v, None


def fit_ols(X: Any, y: Any, weights: Any = None, cov_type: str = "classical", cluster: Any = None,
            conf_level: float = 0.95) -> RegressionFit:
    """Least squares (weighted with ``weights``) of ``y`` on the columns of ``X``.

    ``X`` must contain the intercept column if one is wanted. Equals R ``lm(y ~ 0 + X, weights=)``
    with ``vcov``/``sandwich::vcovHC``/``sandwich::vcovCL`` as in the module docstring.
    See docs/methods.md, section 'Re-integration outcomes'.

    Raises
    ------
    NotEstimableError
        Rank-deficient ``X``, no residual degrees of freedom, fewer than 2 clusters.
    """
    names, Xa, ya, w, g = _prepare(X, y, weights, cluster, cov_type)
    n, k = Xa.shape
    XtWX = Xa.T @ (w[:, None] * Xa)
    bread = np.linalg.inv(XtWX)
    b = bread @ (Xa.T @ (w * ya))
    e = ya - Xa @ b
    if cov_type == "classical":
        v = float(np.sum(w * e**2) / (n - k)) * bread
        n_g = None
    else:
        hat = w * np.einsum("ij,jk,ik->i", Xa, bread, Xa) if cov_type == "HC3" else None
        v, n_g = _sandwich(bread, (w * e)[:, None] * Xa, cov_type, n, k, hat, g)
    return RegressionFit(pd.Series(b, index=names), pd.DataFrame(v, index=names, columns=names), n, n - k,
                         cov_type, "gaussian", n_g, conf_level)


def fit_logit(X: Any, y: Any, weights: Any = None, cov_type: str = "classical", cluster: Any = None,
              conf_level: float = 0.95, tol: float = 1e-10, maxiter: int = 100) -> RegressionFit:
    """Logistic regression of a 0/1 ``y`` on the columns of ``X`` by IRLS (as R ``glm(binomial)``).

    ``weights`` are prior weights (R ``glm(weights=)``; inverse-probability weights are fine: the
    robust SE is then the one to use). Sandwich SE as ``sandwich::vcovHC``/``vcovCL`` on the glm.
    See docs/methods.md, section 'Re-integration outcomes'.

    Raises
    ------
    NotEstimableError
        ``y`` all 0 or all 1, rank-deficient ``X``, (quasi-)complete separation (fitted
        probabilities of 0 or 1, a coefficient beyond :data:`MAX_LOGIT_COEF`, or no convergence).
    """
    names, Xa, ya, w, g = _prepare(X, y, weights, cluster, cov_type)
    if not np.isin(ya, (0.0, 1.0)).all():
        raise ValueError("y must be 0 or 1")
    if ya.min() == ya.max():
        raise NotEstimableError("every outcome has the same value: nothing to model")
    n, k = Xa.shape
    mu = (w * ya + 0.5) / (w + 1)  # as R binomial()$initialize
    eta = np.log(mu / (1 - mu))
    b = np.zeros(k)
    dev_old = np.inf
    converged = False
    for _ in range(maxiter):
        var = mu * (1 - mu)
        z = eta + (ya - mu) / var
        ww = w * var
        b = np.linalg.solve(Xa.T @ (ww[:, None] * Xa), Xa.T @ (ww * z))
        eta = Xa @ b
        mu = 1 / (1 + np.exp(-np.clip(eta, -30, 30)))
        dev = -2 * np.sum(w * (ya * np.log(np.clip(mu, 1e-300, 1)) + (1 - ya) * np.log(np.clip(1 - mu, 1e-300, 1))))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            converged = True
            break
        dev_old = dev
    fitted_edge = np.minimum(mu, 1 - mu).min() < 1e-8
    if not converged or fitted_edge or np.max(np.abs(b[1:] if k > 1 else b)) > MAX_LOGIT_COEF:
        raise NotEstimableError("(quasi-)separation: some covariate pattern predicts the outcome perfectly "
                                "(fitted probabilities at the bounds or an unbounded coefficient)")
    var = mu * (1 - mu)
    bread = np.linalg.inv(Xa.T @ ((w * var)[:, None] * Xa))
    if cov_type == "classical":
        v, n_g = bread, None
    else:
        hat = w * var * np.einsum("ij,jk,ik->i", Xa, bread, Xa) if cov_type == "HC3" else None
        v, n_g = _sandwich(bread, (w * (ya - mu))[:, None] * Xa, cov_type, n, k, hat, g)
    fit = RegressionFit(pd.Series(b, index=names), pd.DataFrame(v, index=names, columns=names), n, n - k,
                        cov_type, "binomial", n_g, conf_level)
    fit.extra["fitted"] = mu
    fit.extra["deviance"] = float(dev)
    return fit


def predict_logit(fit: RegressionFit, X: Any) -> np.ndarray:
    """Fitted probabilities of a :func:`fit_logit` model for the rows of ``X`` (same columns)."""
    Xa = (X[list(fit.params.index)] if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float))
    eta = np.asarray(Xa, dtype=float) @ fit.params.to_numpy(float)
    return 1 / (1 + np.exp(-np.clip(eta, -30, 30)))


def clustered_proportion(y: Any, cluster: Any, conf_level: float = 0.95) -> dict[str, float]:
    """Share of 1s with a Wilson interval on the cluster-adjusted effective sample size.

    The design effect is the CR1 cluster-robust variance of an intercept-only least squares fit
    divided by the independent-rows variance ``p(1-p)/(n-1)``; the Wilson interval uses the effective
    n ``n / deff`` (at most n; a design-effect correction, Korn & Graubard 1998). With one row per
    cluster the design effect is 1 and this is the ordinary Wilson interval. Returns
    ``estimate, ci_lower, ci_upper, n, n_eff, n_clusters``.
    See docs/methods.md, section 'Re-integration outcomes'.
    """
    ya = np.asarray(y, dtype=float).ravel()
    n = len(ya)
    g = pd.Series(np.asarray(cluster, dtype=object).ravel())
    n_g = int(g.nunique())
    out = {"estimate": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "n": n, "n_eff": np.nan,
           "n_clusters": n_g}
    if n == 0:
        return out
    p = float(ya.mean())
    n_eff = float(n)
    if 0 < p < 1 and n_g >= 2 and n >= 2:
        fit = fit_ols(np.ones((n, 1)), ya, cov_type="CR1", cluster=g)
        deff = float(fit.vcov.iloc[0, 0]) / (p * (1 - p) / (n - 1))  # 1 exactly with one row per cluster
        n_eff = min(float(n), n / deff) if deff > 0 else float(n)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    denom = 1 + z**2 / n_eff
    centre = (p + z**2 / (2 * n_eff)) / denom
    half = z * math.sqrt(p * (1 - p) / n_eff + z**2 / (4 * n_eff**2)) / denom
    out.update(estimate=p, ci_lower=max(0.0, centre - half), ci_upper=min(1.0, centre + half), n_eff=n_eff)
    return out
