"""Random-effects meta-analysis and meta-regression across programmes.

This module pools per-programme effects (log hazard ratios, risk
differences, log stopping rates) and tests whether programme
characteristics moderate them. It is the package's answer to the study's
open hypothesis: does an organisation's vision (risk management versus
social inclusion) or organisation model relate to what its volunteers
achieve?

The core functions take plain arrays of effects and standard errors, so they
do not depend on how the effects were estimated. :func:`programme_effects`
assembles those arrays from results tables (``RESULT_COLUMNS``) and the
programme descriptions in ``programmes.yaml``.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evaluation.contract.results import make_results

METHODS = ("REML", "DL", "PM", "FE")
MODERATOR_FIELDS = (
    "programme_type",
    "organisation_model",
    "cooperation_model",
    "task_type",
    "vision_focus",
)
#: Reference levels of the moderators in the synthesis: the study's hypothesis
#: contrasts social inclusion with risk management; the commissioner model is
#: the one where probation keeps most control.
DEFAULT_REFERENCE = {
    "vision_focus": "risk_management",
    "organisation_model": "commissioner",
    "cooperation_model": "professional",
    "task_type": "core",
    "programme_type": "mentoring",
}
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
                + f" df); residual tau2 = {self.tau2_:.3g}, R2 = {self.R2_:.0f}%",
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


# ---------------------------------------------------------------------------
# forest plot
# ---------------------------------------------------------------------------


def forest_plot(
    labels: Sequence[str],
    yi: Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray,
    result: MetaResult | None = None,
    transform: str | None = None,
    xlabel: str = "effect",
    null_value: float | None = None,
    title: str | None = None,
    pooled_label: str | None = None,
    footnote: str | None = None,
):
    """Forest plot: programmes sorted by effect, pooled diamond, prediction interval.

    Parameters
    ----------
    labels, yi, sei :
        Programme labels (no person-level information), effects and SEs on
        the analysis scale.
    result : MetaResult, optional
        Pooled model; drawn as a diamond (its confidence interval) with its
        prediction interval as a dashed line. Fitted with
        :func:`random_effects` (REML) when omitted.
    transform : {None, "exp"}
        Show ratios (log axis) for log-scale effects.
    null_value : float, optional
        Vertical reference line (default 1 for ratios, 0 otherwise).
    pooled_label, footnote : str, optional
        Label of the pooled row (default names the method) and a note under
        the plot (e.g. programmes pooled but not shown).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator

    y, s = _as_effects(yi, sei, "forest plot")
    labels = [str(x) for x in labels]
    if len(labels) != y.size:
        raise ValueError(f"forest plot: {len(labels)} labels for {y.size} effects")
    if result is None:
        result = random_effects(y, s)
    crit = stats.norm.ppf(1 - (1 - result.conf_level) / 2)
    order = np.argsort(y)[::-1]
    f = np.exp if transform == "exp" else (lambda x: x)
    n = y.size
    fig = Figure(figsize=(7.5, 1.6 + 0.38 * (n + 2)))
    ax = fig.add_subplot(1, 1, 1)
    w = 1.0 / (s**2 + result.tau2)
    size = 30 + 170 * w / w.max()
    for pos, i in enumerate(order):
        ypos = n + 1 - pos
        ax.plot([f(y[i] - crit * s[i]), f(y[i] + crit * s[i])], [ypos, ypos], color="0.3", lw=1.2)
        ax.scatter([f(y[i])], [ypos], s=size[i], marker="s", color="0.2", zorder=3)
    yp = 0.6
    ax.plot([f(result.pi_lower), f(result.pi_upper)], [yp, yp], color="#1f5f8b", lw=1.2, ls="--", zorder=2)
    dx = [f(result.ci_lower), f(result.estimate), f(result.ci_upper), f(result.estimate)]
    ax.fill(dx, [yp, yp + 0.3, yp, yp - 0.3], color="#1f5f8b", zorder=3)
    ref = null_value if null_value is not None else (1.0 if transform == "exp" else 0.0)
    ax.axvline(ref, color="0.5", lw=0.8, ls=":")
    if pooled_label is None:
        pooled_label = f"pooled ({result.method}{', Knapp-Hartung' if result.test == 'knha' else ''})"
    ax.set_yticks([n + 1 - pos for pos in range(n)] + [yp], [labels[i] for i in order] + [pooled_label])
    if transform == "exp":
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=2.0))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, n + 1.8)
    if title:
        ax.set_title(title)
    if footnote:
        fig.text(0.01, 0.01, footnote, fontsize=7, color="0.35", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04 if footnote else 0, 1, 1))
    return fig


# ---------------------------------------------------------------------------
# assembling per-programme effects
# ---------------------------------------------------------------------------


def _programme_moderators(programmes: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for i, p in enumerate(programmes):
        if "programme_id" not in p:
            raise ValueError(f"programmes.yaml: programme entry {i + 1} has no programme_id")
        missing = [m for m in MODERATOR_FIELDS if p.get(m) in (None, "")]
        if missing:
            raise ValueError(
                f"programmes.yaml: programme {p['programme_id']!r} lacks {missing}, "
                "needed as moderators"
            )
        rows.append({"programme_id": str(p["programme_id"]), **{m: p[m] for m in MODERATOR_FIELDS}})
    return pd.DataFrame(rows, columns=["programme_id", *MODERATOR_FIELDS])


def effect_scale(estimand: str) -> tuple[str, bool]:
    """Analysis scale of a results estimand: (name, on the log scale?).

    Ratios (``hazard_ratio``, ``hazard_ratio_adjusted``, ``rate_ratio``)
    are pooled as logs; prevalences and their differences (``prevalence_*``,
    e.g. ``prevalence_730d_crude`` with ``group="difference"``) as they are.
    """
    if estimand.startswith(("hazard_ratio", "rate_ratio")):
        return f"log_{estimand}", True
    if estimand.startswith("prevalence"):
        return estimand, False
    raise ValueError(
        f"unsupported estimand {estimand!r}: use a hazard/rate ratio or a prevalence difference"
    )


def programme_effects(
    results: pd.DataFrame,
    programmes: Iterable[Mapping[str, Any]],
    estimands: Sequence[str] = ("hazard_ratio", "prevalence_730d_crude"),
    endpoint: str | None = "GENERAL",
    quarter: str | None = None,
    group: str | None = "difference",
) -> pd.DataFrame:
    """Per-programme effects with their SEs and moderators, ready to pool.

    Parameters
    ----------
    results : DataFrame
        Results rows (``RESULT_COLUMNS``), e.g. the concatenated recidivism
        results of each programme. Rows with ``programme_id == "all"`` are
        ignored (they are pooled already).
    programmes : iterable of dict
        Entries of ``programmes.yaml``; supplies the moderators
        ``programme_type``, ``organisation_model``, ``cooperation_model``,
        ``task_type`` and ``vision_focus``.
    estimands : sequence of str
        Ratios (``"hazard_ratio"``, ``"hazard_ratio_adjusted"``,
        ``"rate_ratio"``) become ``yi = log(estimate)`` with
        ``sei = (log(ci_upper) - log(ci_lower)) / (2 * 1.959964)``;
        prevalence differences (``"prevalence_730d_crude"``, the WODC 2-year
        prevalence, programme minus comparison) become ``yi = estimate`` with
        ``sei = (ci_upper - ci_lower) / (2 * 1.959964)``. Both assume the
        interval is a symmetric 95% Wald interval on that scale (true for
        :class:`evaluation.analyses.recidivism.RecidivismAnalysis` differences).
    endpoint : str or None
        Keep only this endpoint (None keeps all).
    quarter : str, optional
        Label of the analysis quarter (e.g. ``"2026Q3"``), stored in a
        ``quarter`` column so effects from several quarters can be stacked.
    group : str or None
        Keep only rows of this ``group`` (default ``"difference"``: the
        programme-versus-comparison contrast); ``None`` keeps every row, and
        a programme with more than one row for the same estimand and
        endpoint is then an error.

    Returns
    -------
    DataFrame
        ``programme_id, quarter, estimand, effect_scale, endpoint, yi, sei,
        estimate, ci_lower, ci_upper, n, events, causal`` and the moderators.
        Rows whose interval is missing or degenerate are kept with
        ``yi``/``sei`` NaN and an explanation in ``excluded_reason``;
        callers drop them explicitly before pooling.
    """
    need = {"programme_id", "estimand", "estimate", "ci_lower", "ci_upper"}
    miss = need - set(results.columns)
    if miss:
        raise ValueError(f"results table lacks column(s) {sorted(miss)}")
    mods = _programme_moderators(programmes)
    for e in estimands:
        effect_scale(e)
    r = results[results["programme_id"].astype(str) != "all"]
    r = r[r["estimand"].isin(list(estimands))]
    if endpoint is not None and "endpoint" in r.columns:
        r = r[r["endpoint"].astype(str) == endpoint]
    if group is not None:
        r = r[r["group"].astype(str) == group]
    keys = ["programme_id", "estimand"] + (["endpoint"] if "endpoint" in r.columns else [])
    dup = r.duplicated(keys, keep=False)
    if dup.any():
        raise ValueError(
            "results table has more than one row per programme and estimand for "
            f"{r.loc[dup, keys].drop_duplicates().to_dict('records')}; pass group= to choose"
        )
    unknown_prog = sorted(set(r["programme_id"].astype(str)) - set(mods["programme_id"]))
    if unknown_prog:
        raise ValueError(f"results name programme(s) {unknown_prog} not described in programmes.yaml")
    out = []
    for _, row in r.iterrows():
        scale, is_log = effect_scale(row["estimand"])
        est, lo, hi = float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"])
        reason = ""
        yi = sei = np.nan
        if not np.all(np.isfinite([est, lo, hi])):
            reason = "estimate or interval missing"
        elif is_log and min(est, lo, hi) <= 0:
            reason = "ratio or interval not positive"
        elif hi <= lo:
            reason = "degenerate interval"
        else:
            if is_log:
                yi, sei = np.log(est), (np.log(hi) - np.log(lo)) / (2 * _Z975)
            else:
                yi, sei = est, (hi - lo) / (2 * _Z975)
        out.append(
            {
                "programme_id": str(row["programme_id"]),
                "quarter": quarter if quarter is not None else "",
                "estimand": row["estimand"],
                "effect_scale": scale,
                "endpoint": row.get("endpoint", ""),
                "yi": yi,
                "sei": sei,
                "estimate": est,
                "ci_lower": lo,
                "ci_upper": hi,
                "n": row.get("n", np.nan),
                "events": row.get("events", np.nan),
                "causal": row.get("causal", np.nan),
                "excluded_reason": reason,
            }
        )
    cols = [
        "programme_id", "quarter", "estimand", "effect_scale", "endpoint", "yi", "sei",
        "estimate", "ci_lower", "ci_upper", "n", "events", "causal", "excluded_reason",
    ]
    eff = pd.DataFrame(out, columns=cols)
    return eff.merge(mods, on="programme_id", how="left")


def volunteer_stopping_effects(
    volunteers: pd.DataFrame,
    programmes: Iterable[Mapping[str, Any]],
    cutoff_date: Any,
    quarter: str | None = None,
) -> pd.DataFrame:
    """Per-programme volunteer stopping rate on the log scale, with moderators.

    Estimand: the annual rate at which active volunteers stop, per
    programme, ``lambda_j = stops_j / person-years_j`` (person-time from
    each volunteer's ``start_date`` to ``end_date`` or the cutoff). The
    effect pooled is ``yi = log(lambda_j)`` with the Poisson standard error
    ``sei = 1 / sqrt(stops_j)`` (delta method). A log rate is chosen over a
    log hazard ratio "programme vs all others" because the latter makes the
    programmes' effects mutually dependent (each comparison group contains
    the other programmes), violating the independence the meta-analysis
    assumes. The constant-hazard assumption makes the rate a summary of the
    stopping hazard over the observed tenure mix.

    Programmes with no stops or no person-time are kept with ``yi``/``sei``
    NaN and ``excluded_reason`` filled (never silently dropped).
    """
    need = {"volunteer_id", "programme_id", "start_date", "end_date"}
    miss = need - set(volunteers.columns)
    if miss:
        raise ValueError(f"table 'volunteers' lacks column(s) {sorted(miss)}")
    cutoff = pd.Timestamp(cutoff_date)
    mods = _programme_moderators(programmes)
    v = volunteers.copy()
    start = pd.to_datetime(v["start_date"])
    if start.isna().any():
        pos = np.flatnonzero(start.isna().to_numpy())
        rows = v["_row"].iloc[pos].tolist() if "_row" in v.columns else pos.tolist()
        raise ValueError(f"table 'volunteers', field 'start_date' is missing at row(s) {rows}")
    end = pd.to_datetime(v["end_date"])
    stopped = end.notna() & (end <= cutoff)
    stop = end.where(stopped, cutoff)
    v["_years"] = ((stop - start).dt.days.clip(lower=0)) / 365.25
    v["_stop"] = stopped.astype(int)
    v = v[start <= cutoff]
    agg = v.groupby("programme_id").agg(
        n=("volunteer_id", "size"), events=("_stop", "sum"), person_years=("_years", "sum")
    )
    out = []
    for pid in mods["programme_id"]:
        if pid not in agg.index:
            out.append({"programme_id": pid, "n": 0, "events": 0, "person_years": 0.0})
            continue
        a = agg.loc[pid]
        out.append(
            {
                "programme_id": pid,
                "n": int(a["n"]),
                "events": int(a["events"]),
                "person_years": float(a["person_years"]),
            }
        )
    eff = pd.DataFrame(out)
    ok = (eff["events"] > 0) & (eff["person_years"] > 0)
    eff["rate_per_year"] = np.where(ok, eff["events"] / eff["person_years"].where(ok, 1.0), np.nan)
    eff["yi"] = np.log(eff["rate_per_year"])
    eff["sei"] = np.where(ok, 1.0 / np.sqrt(eff["events"].clip(lower=1)), np.nan)
    eff["excluded_reason"] = np.where(
        eff["person_years"] <= 0,
        "no volunteer person-time",
        np.where(eff["events"] == 0, "no volunteer stopped (rate not estimable on the log scale)", ""),
    )
    eff["estimand"] = "volunteer_stopping_rate"
    eff["effect_scale"] = "log_rate_per_year"
    eff["quarter"] = quarter if quarter is not None else ""
    return eff.merge(mods, on="programme_id", how="left")


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


# ---------------------------------------------------------------------------
# synthesis across programmes (used by notebooks/50_synthesis.ipynb)
# ---------------------------------------------------------------------------


def _tables_and_programmes(data: Any) -> tuple[Mapping[str, pd.DataFrame], list[dict]]:
    if hasattr(data, "tables"):
        return data.tables, list(getattr(data, "programmes", []) or [])
    if isinstance(data, Mapping) and "tables" in data:
        return data["tables"], list(data.get("programmes", []))
    raise ValueError("expected a ValidationResult or a mapping with 'tables' and 'programmes'")


def recidivism_effects(
    data: Any,
    programme_ids: Sequence[str] | None = None,
    cutoff_date: Any = None,
    endpoint: str = "GENERAL",
    designs: Mapping[str, str] | None = None,
    **analysis_kwargs: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the recidivism analysis of every programme for the synthesis.

    For each programme, :class:`evaluation.analyses.recidivism.RecidivismAnalysis`
    is fitted with the programme's design (``designs[pid]`` or, by
    default, :func:`evaluation.pipeline.run.derive_design`: ``rct``, ``matched`` or
    ``descriptive``) on ``endpoint`` only. A programme without a comparison
    group has no effect to pool; a programme whose analysis fails is kept in
    the status table with the error message (never silently dropped).

    Returns
    -------
    results : DataFrame
        Concatenated ``RESULT_COLUMNS`` rows of all programmes analysed.
    status : DataFrame
        ``programme_id, design, status ("ok" | "no_comparison" | "failed"),
        reason, warnings`` (the analysis's own warnings, e.g. fewer than 60
        participants, collected rather than printed), one row per programme.
    """
    from evaluation.analyses.recidivism import RecidivismAnalysis
    from evaluation.pipeline.run import derive_design

    tables, programmes = _tables_and_programmes(data)
    parts = tables.get("participants")
    if parts is None:
        raise ValueError("table 'participants' is missing")
    ids = list(programme_ids) if programme_ids is not None else [str(p["programme_id"]) for p in programmes]
    if cutoff_date is None:
        cutoff_date = getattr(data, "cutoff_date", None)
    if cutoff_date is None:
        raise ValueError("recidivism_effects: cutoff_date is required")
    cutoff = pd.Timestamp(cutoff_date)
    # people whose intake or follow-up starts after the analysis cutoff (an earlier cutoff than the
    # extract's) have no follow-up yet: excluded explicitly and counted per programme
    start = pd.to_datetime(parts["follow_up_start"]) if "follow_up_start" in parts.columns else None
    late = pd.to_datetime(parts["intake_date"]) > cutoff
    if start is not None:
        late |= start > cutoff
    late = late.fillna(False).to_numpy(dtype=bool)
    if late.any():
        from types import SimpleNamespace

        data = SimpleNamespace(tables={**tables, "participants": parts[~late]}, programmes=programmes,
                               cutoff_date=cutoff)
    late_by_prog = pd.Series(late, index=parts.index).groupby(parts["programme_id"].astype(str)).sum()
    frames, status = [], []
    for pid in ids:
        design = (designs or {}).get(pid) or derive_design(parts, pid)
        if design == "descriptive":
            status.append({"programme_id": pid, "design": design, "status": "no_comparison",
                           "reason": "no comparison group: no programme effect to pool", "warnings": ""})
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ra = RecidivismAnalysis(design, endpoints=(endpoint,), **analysis_kwargs).fit(
                    data, pid, cutoff_date=cutoff
                )
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            status.append({"programme_id": pid, "design": design, "status": "failed", "reason": str(exc),
                           "warnings": ""})
            continue
        frames.append(ra.results_)
        # the analysis lists its warnings in .warnings_ (and emits one summary warning)
        msgs = list(getattr(ra, "warnings_", [])) or [str(w.message) for w in caught]
        n_late = int(late_by_prog.get(pid, 0))
        if n_late:
            from evaluation.publish.disclosure import protect_count

            msgs.insert(0, f"{protect_count(n_late, language='en')} person(s) whose follow-up starts after the cutoff "
                           f"{cutoff.date()} are excluded (no follow-up yet)")
        status.append({"programme_id": pid, "design": design, "status": "ok", "reason": "",
                       "warnings": "; ".join(msgs)})
    results = pd.concat(frames, ignore_index=True) if frames else make_results([])
    return results, pd.DataFrame(status, columns=["programme_id", "design", "status", "reason", "warnings"])


def synthesise(
    effects: pd.DataFrame,
    moderators: Sequence[str] = ("vision_focus", "organisation_model"),
    method: str = "REML",
    knapp_hartung: bool = True,
    endpoint: str = "GENERAL",
    min_k: int = 3,
    reference: Mapping[str, str] | None = None,
    test_null: bool = True,
) -> dict[str, Any]:
    """Pool each estimand's programme effects and test the moderators.

    For every ``estimand`` in ``effects`` (from :func:`programme_effects`
    or :func:`volunteer_stopping_effects`): a random-effects model
    (:func:`random_effects`, Knapp-Hartung by default) and one
    meta-regression per moderator (:func:`moderator_analysis`). Estimands
    with fewer than ``min_k`` usable effects are reported as not estimable.
    Reference levels default to :data:`DEFAULT_REFERENCE` (when present
    among the programmes). ``test_null=False`` drops the pooled p-value
    (e.g. for rates).

    Returns
    -------
    dict
        ``results`` (``RESULT_COLUMNS`` rows, ``analysis="synthesis"``,
        ``causal=False``), ``pooled`` (estimand -> :class:`MetaResult`),
        ``moderators`` (tidy table of all meta-regressions with an
        ``estimand`` column), ``not_estimable`` (estimand -> reason).
    """
    frames, pooled, mods, skipped = [], {}, [], {}
    for est, grp in effects.groupby("estimand", sort=True):
        ok = grp["yi"].notna() & grp["sei"].notna()
        use = grp[ok]
        scale = str(grp["effect_scale"].iloc[0])
        is_log = scale.startswith("log_")
        excluded = grp.loc[~ok, ["programme_id", "excluded_reason"]]
        excl_note = (
            "excluded: " + "; ".join(f"{r.programme_id} ({r.excluded_reason})" for r in excluded.itertuples())
            if len(excluded) else ""
        )
        if len(use) < min_k:
            skipped[est] = f"only {len(use)} programme(s) with an estimable effect (need {min_k})"
            frames.append(make_results([{
                "programme_id": "all", "analysis": "synthesis", "estimand": f"{est}_pooled",
                "endpoint": endpoint, "group": "pooled", "causal": False,
                "note": "; ".join(x for x in ["not estimable: " + skipped[est], excl_note] if x),
            }]))
            continue
        n_people = pd.to_numeric(use.get("n", pd.Series(dtype=float)), errors="coerce").sum(min_count=1)
        res = random_effects(use["yi"], use["sei"], method=method, knapp_hartung=knapp_hartung)
        pooled[est] = res
        frames.append(res.to_results(est, endpoint=endpoint, transform="exp" if is_log else None,
                                     n=n_people, note=excl_note, test_null=test_null))
        ref = DEFAULT_REFERENCE if reference is None else reference
        tab = moderator_analysis(use, moderators=moderators, method=method, knapp_hartung=knapp_hartung,
                                 reference=ref)
        tab.insert(0, "estimand", est)
        mods.append(tab)
        for mod in moderators:
            sub = tab[(tab["moderator"] == mod)]
            if (sub["status"] == "ok").all():
                mr = MetaRegression(method, knapp_hartung).fit(
                    use["yi"], use["sei"], use[[mod]], reference=_reference_for(use[[mod]], ref))
                frames.append(mr.to_results(est, endpoint=endpoint, transform="exp" if is_log else None,
                                            n=n_people))
            else:
                frames.append(make_results([{
                    "programme_id": "all", "analysis": "synthesis", "estimand": f"{est}_moderator_test",
                    "endpoint": endpoint, "group": mod, "causal": False,
                    "note": "not estimable: " + str(sub["reason"].iloc[0]),
                }]))
    results = pd.concat(frames, ignore_index=True) if frames else make_results([])
    return {
        "results": results,
        "pooled": pooled,
        "moderators": pd.concat(mods, ignore_index=True) if mods else pd.DataFrame(),
        "not_estimable": skipped,
    }


def moderation_sentences(synthesis: Mapping[str, Any], estimand: str, language: str = "en",
                         alpha: float = 0.05, subject: tuple[str, str] = ("effects", "effecten"),
                         caveat: bool = True) -> list[str]:
    """Plain-language statements of the moderator tests for one estimand.

    States, per moderator, whether the data show a difference between
    programme groups (omnibus test at ``alpha``), with the number of
    programmes, and (``caveat=True``) that the comparison is between
    programmes (ecological) and not causal. ``subject`` names what is
    compared in English and Dutch. ``language`` is ``"en"`` or ``"nl"``.
    """
    if language not in ("en", "nl"):
        raise ValueError(f"language must be 'en' or 'nl', got {language!r}")
    tab = synthesis["moderators"]
    out: list[str] = []
    if tab.empty or estimand not in set(tab["estimand"]):
        reason = synthesis["not_estimable"].get(estimand, "no effects")
        out.append(
            f"The moderator test could not be carried out: {reason}." if language == "en"
            else f"De moderatortoets kon niet worden uitgevoerd: {reason}."
        )
        return out
    sub = tab[tab["estimand"] == estimand]
    names = {"vision_focus": ("vision focus", "visie"), "organisation_model": ("organisation model", "organisatiemodel"),
             "cooperation_model": ("cooperation model", "samenwerkingsmodel"), "task_type": ("task type", "soort taken"),
             "programme_type": ("programme type", "soort programma")}
    for mod, g in sub.groupby("moderator", sort=False):
        label = names.get(mod, (mod, mod))[0 if language == "en" else 1]
        first = g.iloc[0]
        if first["status"] != "ok":
            out.append(
                f"Whether the {label} matters could not be tested: {first['reason']}" if language == "en"
                else f"Of de {label} uitmaakt kon niet worden getoetst: {first['reason']}"
            )
            continue
        k, p = int(first["k"]), float(first["QM_p"])
        ps = _fmt(p, language, 3)
        if p < alpha:
            out.append(
                f"Across {k} programmes, {subject[0]} differ by {label} (test of moderation p = {ps})."
                if language == "en" else
                f"Over {k} programma's verschillen de {subject[1]} naar {label} (toets op moderatie p = {ps})."
            )
        else:
            out.append(
                f"Across {k} programmes, the data show no clear difference in {subject[0]} by {label} "
                f"(p = {ps}); with this few programmes a real difference could be missed."
                if language == "en" else
                f"Over {k} programma's laten de gegevens geen duidelijk verschil in {subject[1]} naar {label} zien "
                f"(p = {ps}); met zo weinig programma's kan een echt verschil gemist worden."
            )
    if not caveat:
        return out
    out.append(
        "This is a comparison between programmes, not between people: organisations with another vision also "
        "differ in other ways, so a difference is an association, not proof that the vision causes it."
        if language == "en" else
        "Dit is een vergelijking tussen programma's, niet tussen personen: organisaties met een andere visie "
        "verschillen ook op andere punten, dus een verschil is een samenhang, geen bewijs dat de visie het veroorzaakt."
    )
    return out


def _fmt(x: float, language: str, digits: int = 2) -> str:
    s = f"{x:.{digits}f}"
    return s.replace(".", ",") if language == "nl" else s


_LABELS = {
    "hazard_ratio": ("hazard ratio of reoffending (programme vs comparison)",
                     "hazard ratio recidive (programma t.o.v. vergelijking)"),
    "prevalence_730d_crude": ("difference in 2-year reoffending (programme minus comparison)",
                              "verschil in 2-jarige recidive (programma min vergelijking)"),
    "volunteer_stopping_rate": ("volunteers stopping per volunteer-year",
                                "vrijwilligers die stoppen per vrijwilligersjaar"),
}


def synthesis_analysis(
    data: Any,
    cutoff_date: Any = None,
    method: str = "REML",
    knapp_hartung: bool = True,
    moderators: Sequence[str] = ("vision_focus", "organisation_model"),
    quarter: str | None = None,
    language: str = "en",
    endpoint: str = "GENERAL",
    threshold: int = 10,
    recidivism_results: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the synthesis notebook shows (scope: all programmes).

    1. Per-programme recidivism effects (:func:`recidivism_effects`, unless
       ``recidivism_results`` is given): log hazard ratio and 2-year
       prevalence difference against each programme's comparison group.
    2. Per-programme volunteer stopping rates
       (:func:`volunteer_stopping_effects`).
    3. For each: random-effects pooling and one meta-regression per
       moderator (:func:`synthesise`), i.e. the test of the study's
       hypothesis that vision focus / organisation model relate to results.

    Returns
    -------
    dict
        ``results`` (``RESULT_COLUMNS``), ``tables`` (``programme_effects``,
        ``moderator_tests``; programme-level aggregates, effects of
        programmes with fewer than ``threshold`` people blanked),
        ``figures`` (forest plots), ``headline``, ``effect_status``.
    """
    if language not in ("en", "nl"):
        raise ValueError(f"language must be 'en' or 'nl', got {language!r}")
    tables, programmes = _tables_and_programmes(data)
    if cutoff_date is None:
        cutoff_date = getattr(data, "cutoff_date", None)
    if cutoff_date is None:
        raise ValueError("synthesis_analysis: cutoff_date is required")
    if recidivism_results is None:
        recidivism_results, status = recidivism_effects(data, cutoff_date=cutoff_date, endpoint=endpoint)
    else:
        status = pd.DataFrame(columns=["programme_id", "design", "status", "reason", "warnings"])
    eff = programme_effects(recidivism_results, programmes, endpoint=endpoint, quarter=quarter)
    syn_r = synthesise(eff, moderators, method, knapp_hartung, endpoint)
    frames = [syn_r["results"]]
    all_eff = [eff]
    syn_v = None
    if "volunteers" in tables and tables["volunteers"] is not None and len(tables["volunteers"]):
        stop = volunteer_stopping_effects(tables["volunteers"], programmes, cutoff_date, quarter)
        syn_v = synthesise(stop, moderators, method, knapp_hartung, endpoint="", test_null=False)
        frames.append(syn_v["results"].assign(analysis="synthesis_retention"))
        all_eff.append(stop)
    results = pd.concat(frames, ignore_index=True)
    # programme-level table and forest plots
    cols = ["programme_id", "estimand", "effect_scale", "yi", "sei", "n", "events", "excluded_reason", *MODERATOR_FIELDS]
    effects_tab = pd.concat([e.reindex(columns=cols) for e in all_eff], ignore_index=True)
    small = pd.to_numeric(effects_tab["n"], errors="coerce") < threshold
    effects_tab.loc[small, ["yi", "sei"]] = np.nan
    effects_tab.loc[small, "excluded_reason"] = f"not shown: fewer than {threshold} people"
    from evaluation.publish import disclosure

    for col in ("n", "events"):
        effects_tab[col] = [disclosure.protect_count(x, threshold, language) if pd.notna(x) else ""
                            for x in pd.to_numeric(effects_tab[col], errors="coerce")]
    is_log = effects_tab["effect_scale"].astype(str).str.startswith("log_")
    z = stats.norm.ppf(0.975)
    for name, f in [("estimate", 0), ("ci_lower", -z), ("ci_upper", z)]:
        v = effects_tab["yi"] + f * effects_tab["sei"]
        effects_tab[name] = np.where(is_log, np.exp(v), v)
    figures = {}
    li = 0 if language == "en" else 1
    for est, syn in [("hazard_ratio", syn_r), ("prevalence_730d_crude", syn_r), ("volunteer_stopping_rate", syn_v)]:
        if syn is None or est not in syn["pooled"]:
            continue
        e = effects_tab[(effects_tab.estimand == est) & effects_tab.yi.notna()]
        if len(e) < 2:
            continue
        log = est != "prevalence_730d_crude"
        pooled = syn["pooled"][est]
        hidden = pooled.k - len(e)
        pooled_label = (f"average of {pooled.k} programmes" if language == "en"
                        else f"gemiddelde van {pooled.k} programma's")
        note = ("diamond: 95% CI of the average; dashed: prediction interval for a new programme"
                if language == "en" else
                "ruit: 95%-BI van het gemiddelde; stippellijn: voorspellingsinterval voor een nieuw programma")
        if hidden > 0:
            note += (f"; {hidden} programme(s) with fewer than {threshold} people pooled but not shown"
                     if language == "en" else
                     f"; {hidden} programma('s) met minder dan {threshold} personen meegeteld maar niet getoond")
        figures[f"forest_{est}"] = forest_plot(
            e["programme_id"], e["yi"], e["sei"], result=pooled,
            transform="exp" if log else None, xlabel=_LABELS[est][li],
            pooled_label=pooled_label, footnote=note,
        )
    mods_tab = pd.concat([x["moderators"] for x in (syn_r, syn_v) if x is not None and len(x["moderators"])],
                         ignore_index=True) if any(
        x is not None and len(x["moderators"]) for x in (syn_r, syn_v)) else pd.DataFrame()
    # headline
    s: list[str] = []
    status_h = "warning"
    hr = syn_r["pooled"].get("hazard_ratio")
    if hr is not None:
        e, lo, hi, plo, phi = (_fmt(x, language) for x in np.exp(
            [hr.estimate, hr.ci_lower, hr.ci_upper, hr.pi_lower, hr.pi_upper]))
        s.append(
            (f"Across {hr.k} programmes with a comparison group, the average hazard ratio of reoffending is "
             f"{e} (95% CI {lo} to {hi}); in a new, similar programme it could lie between {plo} and {phi}.")
            if language == "en" else
            (f"Over {hr.k} programma's met een vergelijkingsgroep is de gemiddelde hazard ratio voor recidive "
             f"{e} (95%-BI {lo} tot {hi}); bij een nieuw, vergelijkbaar programma kan die tussen {plo} en {phi} "
             "liggen.")
        )
    s += moderation_sentences(syn_r, "hazard_ratio", language, caveat=False)
    if syn_v is not None and syn_v["pooled"]:
        s += moderation_sentences(syn_v, "volunteer_stopping_rate", language, caveat=False,
                                  subject=("volunteer stopping rates", "stoppercentages van vrijwilligers"))
    s += moderation_sentences(syn_r, "hazard_ratio", language)[-1:]
    if hr is None:
        status_h = "not_estimable"
        s.insert(0, "Too few programmes with a comparison group to pool their effects." if language == "en"
                 else "Te weinig programma's met een vergelijkingsgroep om de effecten samen te nemen.")
    title = "Synthesis across programmes" if language == "en" else "Synthese over programma's"
    return {
        "results": results,
        "tables": {"programme_effects": effects_tab.drop(columns=["yi", "sei"]), "moderator_tests": mods_tab},
        "figures": figures,
        "headline": {"status": status_h, "title": title, "sentences": s},
        "effect_status": status,
        "synthesis": {"recidivism": syn_r, "retention": syn_v},
    }
