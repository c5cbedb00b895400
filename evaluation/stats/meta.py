"""Random-effects meta-analysis and meta-regression (pure statistics).

Pools effects (log hazard ratios, risk differences, log stopping rates) and
tests whether characteristics of the units moderate them. The functions take
plain arrays of effects and standard errors, so they do not depend on how
the effects were estimated; the cross-programme synthesis that assembles
them from results tables and ``programmes.yaml`` is
:mod:`evaluation.analyses.synthesis`. See docs/methods.md, section
'Cross-programme synthesis'.

Estimators follow R ``metafor`` (Viechtbauer 2010) exactly: the tests in
``tests/test_meta.py`` compare with ``rma()`` to 1e-6.

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Controlled
Clinical Trials 7:177-188.
Paule RC, Mandel J (1982). Consensus values and weighting factors. Journal of
Research of the National Bureau of Standards 87:377-385.
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance
estimators in the random-effects model. J Educ Behav Stat 30:261-293.
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in
meta-analysis. Statistics in Medicine 26:37-52 (Q-profile).
Knapp G, Hartung J (2003). Improved tests for a random effects
meta-regression with a single covariate. Statistics in Medicine 22:2693-2710.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a
meta-analysis. Statistics in Medicine 21:1539-1558.
Riley RD, Higgins JPT, Deeks JJ (2011). Interpretation of random effects
meta-analyses. BMJ 342:d549 (prediction interval).
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor
package. Journal of Statistical Software 36(3).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evaluation.contract.results import make_results

METHODS = ("REML", "DL", "PM", "FE")
#: Below this number of studies the between-programme variance is very
#: imprecise (Viechtbauer 2005); results carry a warning.
SMALL_K = 5
_Z975 = stats.norm.ppf(0.975)  # 1.959964: SE from a 95% interval


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _as_effects(yi: Any, sei: Any, what: str = "effects") -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(yi, dtype=float).ravel()
    s = np.asarray(sei, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{what}: yi has {y.size} values but sei has {s.size}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"{what}: yi is missing or not finite at position(s) {bad.tolist()}")
    bad = np.flatnonzero(~np.isfinite(s) | (s <= 0))
    if bad.size:
        raise ValueError(
            f"{what}: sei must be positive and finite; position(s) {bad.tolist()} "
            f"have {s[bad].tolist()}"
        )
    if y.size < 2:
        raise ValueError(f"{what}: at least 2 effects are needed, got {y.size}")
    return y, s


def _check_method(method: str) -> str:
    m = str(method).upper()
    if m not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return m


# ---------------------------------------------------------------------------
# weighted least squares machinery (metafor's notation)
# ---------------------------------------------------------------------------


def _wls(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> dict[str, Any]:
    w = 1.0 / (v + tau2)
    XtW = X.T * w
    vb = np.linalg.inv(XtW @ X)
    b = vb @ (XtW @ y)
    resid = y - X @ b
    # P = W - W X (X'WX)^-1 X'W
    WX = X * w[:, None]
    P = np.diag(w) - WX @ vb @ WX.T
    return {"w": w, "vb": vb, "b": b, "resid": resid, "P": P}


def _tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    fit0 = _wls(y, v, X, 0.0)
    qe = float(y @ fit0["P"] @ y)
    tr_p = float(np.trace(fit0["P"]))
    return max(0.0, (qe - (k - p)) / tr_p)


def _upper_bracket(f, start: float) -> float:
    hi = max(start, 1e-4)
    for _ in range(200):
        if f(hi) < 0:
            return hi
        hi *= 2.0
    raise RuntimeError("could not bracket the heterogeneity estimate (tau2 diverges)")


def _tau2_pm(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape

    def f(t: float) -> float:
        P = _wls(y, v, X, t)["P"]
        return float(y @ P @ y) - (k - p)

    if f(0.0) <= 0:
        return 0.0
    hi = _upper_bracket(f, 10.0 * float(np.var(y)) + float(np.max(v)))
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-14, maxiter=500))


def _tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    # REML score equation: y'PPy - tr(P) = 0 (Viechtbauer 2005, eq. 12)
    def f(t: float) -> float:
        P = _wls(y, v, X, t)["P"]
        Py = P @ y
        return float(Py @ Py) - float(np.trace(P))

    if f(0.0) <= 0:
        return 0.0
    hi = _upper_bracket(f, 10.0 * float(np.var(y)) + float(np.max(v)))
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-14, maxiter=500))


def _estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> float:
    if method == "FE":
        return 0.0
    if method == "DL":
        return _tau2_dl(y, v, X)
    if method == "PM":
        return _tau2_pm(y, v, X)
    return _tau2_reml(y, v, X)


def _q_profile_ci(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, conf_level: float
) -> tuple[float, float]:
    """Q-profile confidence interval for tau2 (Viechtbauer 2007)."""
    k, p = X.shape
    alpha = 1.0 - conf_level
    crit_lo = stats.chi2.ppf(1.0 - alpha / 2.0, k - p)  # Q above this -> lower bound > 0
    crit_hi = stats.chi2.ppf(alpha / 2.0, k - p)

    def q(t: float) -> float:
        P = _wls(y, v, X, t)["P"]
        return float(y @ P @ y)

    q0 = q(0.0)
    start = 10.0 * float(np.var(y)) + float(np.max(v))
    if q0 < crit_hi:
        return 0.0, 0.0
    upper = float(
        optimize.brentq(
            lambda t: q(t) - crit_hi,
            0.0,
            _upper_bracket(lambda t: q(t) - crit_hi, start),
            xtol=1e-14,
            rtol=1e-14,
            maxiter=500,
        )
    )
    if q0 < crit_lo:
        return 0.0, upper
    lower = float(
        optimize.brentq(lambda t: q(t) - crit_lo, 0.0, upper, xtol=1e-14, rtol=1e-14, maxiter=500)
    )
    return lower, upper


# ---------------------------------------------------------------------------
# random-effects model
# ---------------------------------------------------------------------------


@dataclass
class MetaResult:
    """Result of :func:`random_effects` (names follow metafor's ``rma``).

    Attributes
    ----------
    estimate, se, ci_lower, ci_upper : float
        Pooled (mean) effect, its standard error and confidence interval.
    statistic, p_value : float
        z statistic (t with ``df`` degrees of freedom under Knapp-Hartung)
        and its two-sided p-value.
    df : float
        Degrees of freedom of the t test (``inf`` for the z test).
    tau2, tau2_ci_lower, tau2_ci_upper : float
        Between-programme variance and its Q-profile interval.
    I2, H2 : float
        I-squared (percent) and H-squared, computed as metafor does
        (typical within-study variance from the fixed-effect weights).
    Q, Q_df, Q_p : float
        Cochran's Q test for heterogeneity.
    k : int
        Number of effects pooled.
    pi_lower, pi_upper : float
        Prediction interval for the effect in a new programme.
    method, test, conf_level :
        How the model was fitted.
    warnings : list of str
        Caveats (few programmes, etc.).
    """

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    statistic: float
    p_value: float
    df: float
    tau2: float
    tau2_ci_lower: float
    tau2_ci_upper: float
    I2: float
    H2: float
    Q: float
    Q_df: int
    Q_p: float
    k: int
    pi_lower: float
    pi_upper: float
    method: str
    test: str
    conf_level: float
    weights: np.ndarray = field(repr=False, default_factory=lambda: np.array([]))
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy summary."""
        d = {k: v for k, v in self.__dict__.items() if k not in {"weights", "warnings"}}
        d["warnings"] = "; ".join(self.warnings)
        return pd.DataFrame([d])

    def to_results(
        self,
        estimand: str,
        endpoint: str = "",
        analysis: str = "synthesis",
        n: float = np.nan,
        events: float = np.nan,
        transform: str | None = None,
        note: str = "",
        test_null: bool = True,
    ) -> pd.DataFrame:
        """``RESULT_COLUMNS`` rows: pooled effect, prediction interval, tau2, I2.

        Estimands are ``estimand``, ``{estimand}_prediction_interval``,
        ``{estimand}_tau2`` and ``{estimand}_I2``. With ``test_null=False``
        (for quantities such as a rate, where zero on the analysis scale is no
        meaningful null) the pooled row carries no p-value.

        ``transform="exp"`` reports the pooled effect and its intervals on the
        ratio scale (for log hazard ratios). ``n`` (people behind the pooled
        effect, if known) is left NaN otherwise: the number of programmes is
        in the extra column ``k`` (``n`` counts people, and disclosure control
        blanks rows with small ``n``). Pooled effects across programmes
        are associations between programmes, never causal (``causal=False``).
        """
        f = np.exp if transform == "exp" else (lambda x: x)
        method = f"random-effects meta-analysis ({self.method}" + (
            ", Knapp-Hartung)" if self.test == "knha" else ")"
        )
        caveat = "; ".join([*self.warnings, note] if note else self.warnings)
        rows = [
            {
                "estimand": estimand,
                "group": "pooled",
                "estimate": f(self.estimate),
                "ci_lower": f(self.ci_lower),
                "ci_upper": f(self.ci_upper),
                "p_value": self.p_value if test_null else np.nan,
                "note": caveat,
            },
            {
                "estimand": f"{estimand}_prediction_interval",
                "group": "new_programme",
                "estimate": f(self.estimate),
                "ci_lower": f(self.pi_lower),
                "ci_upper": f(self.pi_upper),
                "note": "interval where the effect of a new, similar programme is expected to lie",
            },
            {
                "estimand": f"{estimand}_tau2",
                "group": "between_programmes",
                "estimate": self.tau2,
                "ci_lower": self.tau2_ci_lower,
                "ci_upper": self.tau2_ci_upper,
                "p_value": self.Q_p,
                "note": f"between-programme variance on the analysis scale (Q-profile CI); "
                f"p-value of Cochran's Q = {self.Q:.3g} on {self.Q_df} df",
            },
            {
                "estimand": f"{estimand}_I2",
                "group": "between_programmes",
                "estimate": self.I2,
                "note": "percent of total variation due to differences between programmes",
            },
        ]
        for r in rows:
            r.update(
                programme_id="all",
                analysis=analysis,
                endpoint=endpoint,
                n=n if r["group"] == "pooled" else np.nan,
                events=events if r["group"] == "pooled" else np.nan,
                method=method,
                causal=False,
            )
        out = make_results(rows)
        out["k"] = self.k
        return out


def _i2_h2(v: np.ndarray, X: np.ndarray, tau2: float, qe: float, method: str) -> tuple[float, float]:
    k, p = X.shape
    if method == "FE":
        if qe <= 0:
            return 0.0, 1.0
        return max(0.0, 100.0 * (qe - (k - p)) / qe), qe / (k - p)
    P0 = _wls(np.zeros(k), v, X, 0.0)["P"]
    vt = (k - p) / float(np.trace(P0))
    return 100.0 * tau2 / (vt + tau2), (vt + tau2) / vt


def random_effects(
    yi: Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray,
    method: str = "REML",
    knapp_hartung: bool = False,
    conf_level: float = 0.95,
) -> MetaResult:
    """Pool effects with a random-effects (or fixed-effect) model.

    Estimand: the mean ``mu`` of the distribution of true programme effects,
    ``y_i ~ N(theta_i, se_i^2)``, ``theta_i ~ N(mu, tau^2)``. With
    ``method="FE"`` the estimand is the inverse-variance weighted average of
    the observed programmes' true effects (no generalisation beyond them).

    Parameters
    ----------
    yi, sei : array-like
        Effects on an additive scale (e.g. log hazard ratios) and their
        standard errors (treated as known, the usual assumption).
    method : {"REML", "DL", "PM", "FE"}
        Estimator of tau2: restricted maximum likelihood (default,
        Viechtbauer 2005), DerSimonian-Laird, Paule-Mandel, or none
        (fixed effect).
    knapp_hartung : bool
        Use the Knapp-Hartung (2003) variance and t distribution with
        ``k - 1`` df for the test and interval (metafor ``test="knha"``,
        without truncation). Recommended when ``k`` is small.
    conf_level : float
        Level of the confidence and prediction intervals and of the Q-profile
        interval of tau2.

    Returns
    -------
    MetaResult

    Notes
    -----
    Assumes independent effects with known sampling variances. REML and
    PM are solved as roots of their estimating equations (Brent's method to
    1e-14) rather than by metafor's Fisher scoring; they agree wherever the
    REML score has one root on [0, inf), which is the usual case. The
    prediction interval is ``mu +/- crit * sqrt(se^2 + tau2)`` with crit
    from the normal (or t with ``k-1`` df under Knapp-Hartung), as metafor's
    ``predict.rma``. Cochran's Q uses fixed-effect weights. I2 follows
    metafor (Higgins & Thompson 2002 with the typical within-study variance).
    """
    method = _check_method(method)
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must lie between 0 and 1, got {conf_level}")
    y, s = _as_effects(yi, sei)
    v = s**2
    k = y.size
    X = np.ones((k, 1))
    tau2 = _estimate_tau2(y, v, X, method)
    fit = _wls(y, v, X, tau2)
    est = float(fit["b"][0])
    vb = float(fit["vb"][0, 0])
    fit0 = _wls(y, v, X, 0.0)
    qe = float(y @ fit0["P"] @ y)
    q_p = float(stats.chi2.sf(qe, k - 1))
    alpha = 1.0 - conf_level
    if knapp_hartung:
        s2 = float(np.sum(fit["w"] * fit["resid"] ** 2) / (k - 1))
        se = float(np.sqrt(s2 * vb))
        df = float(k - 1)
        crit = stats.t.ppf(1.0 - alpha / 2.0, df)
        stat = est / se
        p = float(2.0 * stats.t.sf(abs(stat), df))
    else:
        se = float(np.sqrt(vb))
        df = float("inf")
        crit = stats.norm.ppf(1.0 - alpha / 2.0)
        stat = est / se
        p = float(2.0 * stats.norm.sf(abs(stat)))
    i2, h2 = _i2_h2(v, X, tau2, qe, method)
    if method == "FE":
        t_lo, t_hi = 0.0, 0.0
    else:
        t_lo, t_hi = _q_profile_ci(y, v, X, conf_level)
    pi_half = crit * np.sqrt(se**2 + tau2)
    notes: list[str] = []
    if k < SMALL_K:
        notes.append(
            f"only {k} programmes: the between-programme variance (tau2) is very imprecise"
        )
    return MetaResult(
        estimate=est,
        se=se,
        ci_lower=est - crit * se,
        ci_upper=est + crit * se,
        statistic=float(stat),
        p_value=p,
        df=df,
        tau2=float(tau2),
        tau2_ci_lower=t_lo,
        tau2_ci_upper=t_hi,
        I2=float(i2),
        H2=float(h2),
        Q=qe,
        Q_df=k - 1,
        Q_p=q_p,
        k=k,
        pi_lower=float(est - pi_half),
        pi_upper=float(est + pi_half),
        method=method,
        test="knha" if knapp_hartung else "z",
        conf_level=conf_level,
        weights=fit["w"] / fit["w"].sum(),
        warnings=notes,
    )


# ---------------------------------------------------------------------------
# meta-regression
# ---------------------------------------------------------------------------


def design_matrix(
    moderators: pd.DataFrame, reference: Mapping[str, str] | None = None
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Intercept plus moderators; text/categorical columns dummy-coded.

    The reference level of a categorical moderator is ``reference[col]`` when
    given, else the first level in sorted order (as R's ``factor()``).
    Returns the matrix, the term names (``"col[level]"`` for dummies) and the
    reference levels used.
    """
    reference = dict(reference or {})
    cols: list[np.ndarray] = [np.ones(len(moderators))]
    names = ["intercept"]
    used: dict[str, str] = {}
    for col in moderators.columns:
        x = moderators[col]
        if x.isna().any():
            rows = np.flatnonzero(x.isna().to_numpy()).tolist()
            raise ValueError(f"moderator {col!r} is missing at row position(s) {rows}")
        if pd.api.types.is_bool_dtype(x) or pd.api.types.is_numeric_dtype(x):
            cols.append(x.astype(float).to_numpy())
            names.append(str(col))
            continue
        levels = sorted(pd.unique(x.astype(str)))
        if len(levels) < 2:
            raise ValueError(
                f"moderator {col!r} has a single level ({levels[0]!r}) among these programmes; "
                "it cannot explain differences between them"
            )
        ref = reference.get(col, levels[0])
        if ref not in levels:
            raise ValueError(f"reference level {ref!r} for moderator {col!r} not among {levels}")
        used[str(col)] = ref
        for lev in levels:
            if lev != ref:
                cols.append((x.astype(str) == lev).to_numpy(dtype=float))
                names.append(f"{col}[{lev}]")
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(
            f"moderators {list(moderators.columns)} are collinear among these programmes "
            "(e.g. every programme of one organisation model has the same vision focus); "
            "use fewer moderators"
        )
    return X, names, used


class MetaRegression:
    """Mixed-effects meta-regression (metafor ``rma(yi, sei, mods=...)``).

    Estimand: the coefficients ``beta`` of ``theta_i = x_i' beta + u_i``,
    ``u_i ~ N(0, tau^2)`` (residual heterogeneity), i.e. how the mean
    programme effect differs between moderator levels. Comparisons between
    programmes are ecological and observational: a coefficient is an
    association between programme characteristics and effects, not the
    causal effect of the characteristic.

    Parameters
    ----------
    method : {"REML", "DL", "PM", "FE"}
        Estimator of the residual tau2.
    knapp_hartung : bool
        Knapp-Hartung standard errors, t tests with ``k - p`` df and an F
        test for the moderators (metafor ``test="knha"``). Default True:
        with few programmes the z tests are too liberal.
    conf_level : float
        Level of the coefficient intervals.
    """

    def __init__(self, method: str = "REML", knapp_hartung: bool = True, conf_level: float = 0.95):
        self.method = _check_method(method)
        self.knapp_hartung = bool(knapp_hartung)
        if not 0 < conf_level < 1:
            raise ValueError(f"conf_level must lie between 0 and 1, got {conf_level}")
        self.conf_level = conf_level

    def fit(
        self,
        yi: Sequence[float] | np.ndarray,
        sei: Sequence[float] | np.ndarray,
        moderators: pd.DataFrame,
        reference: Mapping[str, str] | None = None,
    ) -> MetaRegression:
        """Fit the model; see :func:`meta_regression` for the arguments."""
        y, s = _as_effects(yi, sei, "meta-regression")
        if len(moderators) != y.size:
            raise ValueError(
                f"moderators has {len(moderators)} rows but there are {y.size} effects"
            )
        if moderators.shape[1] == 0:
            raise ValueError("meta-regression needs at least one moderator column")
        X, names, used = design_matrix(moderators.reset_index(drop=True), reference)
        k, p = X.shape
        if k - p < 1:
            raise ValueError(
                f"{k} programmes cannot support {p} coefficients (need at least {p + 1})"
            )
        v = s**2
        tau2 = _estimate_tau2(y, v, X, self.method)
        fit = _wls(y, v, X, tau2)
        b, vb = fit["b"], fit["vb"]
        alpha = 1.0 - self.conf_level
        if self.knapp_hartung:
            s2 = float(np.sum(fit["w"] * fit["resid"] ** 2) / (k - p))
            vb = s2 * vb
            df = float(k - p)
            crit = stats.t.ppf(1 - alpha / 2, df)
        else:
            df = float("inf")
            crit = stats.norm.ppf(1 - alpha / 2)
        se = np.sqrt(np.diag(vb))
        stat = b / se
        pval = 2 * (stats.t.sf(np.abs(stat), df) if self.knapp_hartung else stats.norm.sf(np.abs(stat)))
        m = p - 1
        bm = b[1:]
        qm = float(bm @ np.linalg.solve(vb[1:, 1:], bm))
        if self.knapp_hartung:
            qm = qm / m
            qm_p = float(stats.f.sf(qm, m, k - p))
        else:
            qm_p = float(stats.chi2.sf(qm, m))
        fit0 = _wls(y, v, X, 0.0)
        qe = float(y @ fit0["P"] @ y)
        qe_p = float(stats.chi2.sf(qe, k - p))
        i2, h2 = _i2_h2(v, X, tau2, qe, self.method)
        # R2 as metafor: proportional reduction of tau2 against the intercept-only model
        tau2_null = _estimate_tau2(y, v, np.ones((k, 1)), self.method)
        if tau2_null > 0:
            r2 = max(0.0, 100.0 * (tau2_null - tau2) / tau2_null)
        else:
            r2 = 0.0
        self.k_, self.p_ = k, p
        self.tau2_, self.tau2_null_ = float(tau2), float(tau2_null)
        self.QM_, self.QM_p_, self.QM_df_ = qm, qm_p, m
        self.QE_, self.QE_p_ = qe, qe_p
        self.I2_, self.H2_, self.R2_ = float(i2), float(h2), float(r2)
        self.df_ = df
        self.reference_ = used
        self.terms_ = names
        self.coef_, self.vcov_ = b, vb
        notes = []
        if k < 10:
            notes.append(
                f"only {k} programmes: moderator tests have low power and tau2 is imprecise; "
                "absence of evidence of moderation is not evidence of its absence"
            )
        self.warnings_ = notes
        ref_text = [used.get(n.split("[")[0], "") if "[" in n else "" for n in names]
        self.summary_ = pd.DataFrame(
            {
                "term": names,
                "reference": ref_text,
                "coef": b,
                "se": se,
                "ci_lower": b - crit * se,
                "ci_upper": b + crit * se,
                "statistic": stat,
                "df": df,
                "p_value": pval,
                "tau2": self.tau2_,
                "QM": qm,
                "QM_df": m,
                "QM_p": qm_p,
                "QM_test": "F" if self.knapp_hartung else "chi2",
                "QE": qe,
                "QE_p": qe_p,
                "I2": self.I2_,
                "R2": self.R2_,
                "k": k,
                "method": self.method,
                "test": "knha" if self.knapp_hartung else "z",
            }
        )
        return self

    def to_results(
        self,
        estimand: str,
        endpoint: str = "",
        analysis: str = "synthesis",
        transform: str | None = None,
        n: float = np.nan,
    ) -> pd.DataFrame:
        """``RESULT_COLUMNS`` rows: one per moderator coefficient plus the QM test.

        With ``transform="exp"`` coefficients are ratios (e.g. ratio of
        hazard ratios). ``causal`` is always False (ecological comparison).
        ``n`` is the number of people behind the programmes' effects (NaN if
        unknown); the number of programmes is in the extra column ``k``.
        """
        f = np.exp if transform == "exp" else (lambda x: x)
        method = f"meta-regression ({self.method}" + (", Knapp-Hartung)" if self.knapp_hartung else ")")
        rows = []
        for _, r in self.summary_.iloc[1:].iterrows():
            rows.append(
                {
                    "programme_id": "all",
                    "analysis": analysis,
                    "estimand": f"{estimand}_moderator_{'ratio' if transform == 'exp' else 'difference'}",
                    "endpoint": endpoint,
                    "group": f"{r['term']} vs {r['reference']}" if r["reference"] else r["term"],
                    "estimate": f(r["coef"]),
                    "ci_lower": f(r["ci_lower"]),
                    "ci_upper": f(r["ci_upper"]),
                    "p_value": r["p_value"],
                    "n": n,
                    "method": method,
                    "causal": False,
                    "note": "; ".join(
                        ["association between programme characteristics and effects (ecological, not causal)"]
                        + self.warnings_
                    ),
                }
            )
        rows.append(
            {
                "programme_id": "all",
                "analysis": analysis,
                "estimand": f"{estimand}_moderator_test",
                "endpoint": endpoint,
                "group": "+".join(self.reference_) or "moderators",
                "estimate": self.QM_,
                "p_value": self.QM_p_,
                "n": n,
                "method": method,
                "causal": False,
                "note": f"omnibus test of the moderators ({'F' if self.knapp_hartung else 'chi2'} on "
                f"{self.QM_df_}" + (f" and {self.k_ - self.p_}" if self.knapp_hartung else "")
                + f" df); residual tau2 = {self.tau2_:.3f}, R2 = {self.R2_:.0f}%",
            }
        )
        out = make_results(rows)
        out["k"] = self.k_
        return out


def meta_regression(
    yi: Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray,
    moderators_df: pd.DataFrame,
    method: str = "REML",
    knapp_hartung: bool = True,
    reference: Mapping[str, str] | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Meta-regression of effects on programme characteristics (tidy table).

    Parameters
    ----------
    yi, sei : array-like
        Effects and standard errors, one per programme (or programme-quarter).
    moderators_df : DataFrame
        One row per effect. Text columns are dummy-coded against a reference
        level: ``reference[col]`` when given, else the first level in
        sorted order (R's ``factor()`` default). Numeric/boolean columns
        enter as they are.
    method, knapp_hartung, conf_level :
        See :class:`MetaRegression`.

    Returns
    -------
    DataFrame
        One row per coefficient (``intercept`` first) with ``term``,
        ``reference``, ``coef``, ``se``, ``ci_lower``, ``ci_upper``,
        ``statistic``, ``df``, ``p_value``, and the model-level ``tau2``
        (residual), ``QM`` (F under Knapp-Hartung, else chi2), ``QM_df``,
        ``QM_p``, ``QE``, ``QE_p``, ``I2``, ``R2`` (percent), ``k``.
    """
    return (
        MetaRegression(method=method, knapp_hartung=knapp_hartung, conf_level=conf_level)
        .fit(yi, sei, moderators_df, reference=reference)
        .summary_
    )


def simulate_effects(
    theta: Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray,
    tau2: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw observed effects ``y_i ~ N(theta_i + u_i, se_i^2)``, ``u_i ~ N(0, tau2)``.

    For calibration checks (tests and ``benchmarks/bench_meta_coverage.py``).
    """
    theta = np.asarray(theta, dtype=float)
    s = np.asarray(sei, dtype=float)
    return theta + rng.normal(0.0, np.sqrt(tau2), theta.size) + rng.normal(0.0, 1.0, theta.size) * s


def _reference_for(mods: pd.DataFrame, reference: Mapping[str, str] | None) -> dict[str, str]:
    """Requested reference levels that occur among these programmes (else R's default)."""
    out = {}
    for col, lev in (reference or {}).items():
        if col in mods.columns and lev in set(mods[col].astype(str)):
            out[col] = lev
    return out


def moderator_analysis(
    effects: pd.DataFrame,
    moderators: Sequence[str] = ("vision_focus", "organisation_model"),
    method: str = "REML",
    knapp_hartung: bool = True,
    reference: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Test each moderator on its own (one meta-regression per moderator).

    With few programmes, several moderators at once exhaust the degrees of
    freedom (and the study's dimensions are often collinear), so each is
    tested separately. Rows whose ``yi``/``sei`` are NaN are excluded and
    counted in ``k_excluded``. A moderator with a single level among the
    programmes gives a row with ``status = "not_estimable"`` and a reason.

    Returns
    -------
    DataFrame
        The :func:`meta_regression` rows for every moderator (column
        ``moderator``), plus ``status`` and ``reason``.
    """
    ok = effects["yi"].notna() & effects["sei"].notna()
    use = effects[ok].reset_index(drop=True)
    frames = []
    for mod in moderators:
        if mod not in use.columns:
            raise ValueError(f"effects table has no moderator column {mod!r}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                tab = meta_regression(
                    use["yi"], use["sei"], use[[mod]], method=method,
                    knapp_hartung=knapp_hartung, reference=_reference_for(use[[mod]], reference),
                )
            tab.insert(0, "moderator", mod)
            tab["status"] = "ok"
            tab["reason"] = ""
        except ValueError as exc:
            tab = pd.DataFrame([{"moderator": mod, "status": "not_estimable", "reason": str(exc), "k": len(use)}])
        tab["k_excluded"] = int((~ok).sum())
        frames.append(tab)
    return pd.concat(frames, ignore_index=True)
