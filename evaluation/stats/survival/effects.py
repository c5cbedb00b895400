"""Effect measures built on the estimators: RMST difference, E-value, negative binomial rate ratio.

RMST against R ``survival::survfit`` (``tests/r/survival_km.R``); the
E-value against hand-worked examples and the published example of
VanderWeele & Ding (2017); the rate ratio against ``MASS::glm.nb`` with
``sandwich::vcovCL`` (``tests/r/survival_negbin.R``).

References
----------
Royston P, Parmar MKB (2013). Restricted mean survival time. BMC Med Res
Methodol 13:152.
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational
research: introducing the E-value. Ann Intern Med 167:268-274.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.contract.results import make_results
from evaluation.stats.survival._checks import (
    _as_float,
    _check_durations,
    _check_events,
    _check_groups,
    _check_weights,
    _first_bad,
    _z,
)
from evaluation.stats.survival.km import KaplanMeier


def rmst_difference(
    durations: Any,
    events: Any,
    groups: Any,
    tau: float,
    treated: str = "programme",
    control: str = "comparison",
    weights: Any = None,
    conf_level: float = 0.95,
    variance: str | None = None,
    cluster: Any = None,
    cluster_name: str | None = None,
    **fixed: Any,
) -> pd.DataFrame:
    """Restricted mean survival time per group and their difference.

    Estimand: RMST_treated(tau) - RMST_control(tau), the difference in mean
    event-free days over the first ``tau`` days. Each RMST and its variance
    are as :meth:`KaplanMeier.rmst` (R ``print(survfit, rmean=tau)``); the two
    groups are independent, so SE(diff) = sqrt(var_1 + var_0), with a Wald
    interval and two-sided p-value (Royston & Parmar 2013).

    ``variance``: "greenwood" (R's rmean variance; default without weights
    and clusters) or "robust" (infinitesimal jackknife, default with weights
    or ``cluster``). With ``cluster`` (e.g. matched sets spanning both
    groups) the robust variance of the difference is the sum over clusters of
    (summed influence on RMST_treated - summed influence on RMST_control)^2,
    so the correlation within matched sets is accounted for; without
    clusters it reduces to var_1 + var_0; ``cluster_name`` (e.g. "the
    matched set") is named in the method text. Estimated weights (IPW) are
    treated as fixed, which is usually conservative for the ATE (Austin
    2016); the note column says so. The comparison is *not* causal by itself:
    ``causal`` is False unless the caller passes ``causal=True`` in ``fixed``
    for a randomised or adequately adjusted design. See docs/methods.md,
    section 'Survival estimators'.

    Returns
    -------
    DataFrame with RESULT_COLUMNS: three rows, ``group`` = treated label,
    control label and ``"difference"``; ``estimand`` = ``"rmst_<tau>d"``.
    Any ``fixed`` keyword (``programme_id``, ``analysis``, ``endpoint``,
    ``causal``, ...) is set on all rows.
    """
    t, index = _check_durations(durations)
    g = _check_groups(groups, len(t), index)
    d = _check_events(events, len(t), index)
    w = _check_weights(weights, len(t), index)
    z = _z(conf_level)
    if variance is None:
        variance = "robust" if (weights is not None or cluster is not None) else "greenwood"
    if variance not in ("greenwood", "robust"):
        raise ValueError(f"variance: {variance!r} is not 'greenwood' or 'robust'")
    if cluster is not None and variance != "robust":
        raise ValueError("cluster: clustered rows need variance='robust'")
    cl = None
    if cluster is not None:
        cs = pd.Series(np.asarray(cluster))
        if len(cs) != len(t):
            raise ValueError(f"cluster: has {len(cs)} values, expected {len(t)}")
        bad = cs.isna().to_numpy()
        if bad.any():
            raise ValueError(f"cluster: missing value at row {_first_bad(bad, index)!r}")
        cl = pd.factorize(cs)[0]
    found = set(pd.unique(g))
    for lab, arg in ((treated, "treated"), (control, "control")):
        if lab not in found:
            raise ValueError(f"groups: no rows with label {lab!r} ({arg}); found {sorted(found)}")
    # as survRM2: tau may not lie beyond the follow-up of either group (the curve would be extended
    # flat over time nobody was observed, and the RMST would count days no one was followed)
    longest = {lab: float(np.max(t[(g == lab) & (w > 0)], initial=0.0)) for lab in (treated, control)}
    short = min(longest, key=longest.get)
    if tau > longest[short]:
        raise ValueError(f"horizon of {tau:g} days lies beyond the follow-up: the longest time observed in group "
                         f"{short!r} is {longest[short]:g} days")
    fits = {}
    infl = np.zeros(len(t))
    for sign, lab in ((1.0, treated), (-1.0, control)):
        m = g == lab
        km = KaplanMeier(conf_level, variance=variance).fit(
            t[m], d[m], w[m], label=str(lab), cluster=None if cl is None else cl[m])
        fits[lab] = (km.rmst(tau), int(m.sum()), int(d[m].sum()))
        if variance == "robust":
            infl[m] = sign * km._last_rmst_influence
    if variance == "robust":
        method = f"RMST to {tau:g} days, Kaplan-Meier area, robust (jackknife) variance"
    else:
        method = f"RMST to {tau:g} days, Kaplan-Meier area, variance as R survfit rmean"
    if cl is not None:
        method += " clustered" + (f" on {cluster_name}" if cluster_name else "")
    note = "" if weights is None else "weighted: weights treated as fixed (not re-estimated)"
    small = [lab for lab in fits if fits[lab][2] < 10]
    if small:
        note = "; ".join(filter(None, [note, f"fewer than 10 events in {', '.join(small)}"]))
        warnings.warn(
            f"rmst_difference: fewer than 10 events in group(s) {small}; "
            "the interval is unreliable",
            stacklevel=2,
        )
    base = {"estimand": f"rmst_{tau:g}d", "method": method, "causal": False, "note": note}
    rows = []
    for lab in (treated, control):
        r, n, ev = fits[lab]
        rows.append({**base, "group": lab, "estimate": r["estimate"], "ci_lower": r["ci_lower"],
                     "ci_upper": r["ci_upper"], "p_value": np.nan, "n": n, "events": ev})
    r1, r0 = fits[treated][0], fits[control][0]
    diff = r1["estimate"] - r0["estimate"]
    if cl is not None:
        se = math.sqrt(float(np.sum(np.bincount(cl, weights=infl) ** 2)))
    else:
        se = math.sqrt(r1["se"] ** 2 + r0["se"] ** 2)
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else np.nan
    rows.append({**base, "group": "difference", "estimate": diff, "ci_lower": diff - z * se,
                 "ci_upper": diff + z * se, "p_value": p,
                 "n": fits[treated][1] + fits[control][1],
                 "events": fits[treated][2] + fits[control][2], "se": se})
    out = make_results(rows)
    for k, v in fixed.items():
        out[k] = v
    return out


def survival_difference(km_treated: KaplanMeier, km_control: KaplanMeier, time: float,
                        conf_level: float = 0.95) -> dict:
    """Difference S_treated(t) - S_control(t) of two fitted Kaplan-Meier curves, with its SE.

    Both curves must use the same ``variance``. Greenwood: the groups are
    independent, SE = sqrt(se_1^2 + se_0^2) with se the SE of each S(t).
    Robust (weighted or matched designs): the sum over clusters of
    (summed influence on S_treated(t) - summed influence on S_control(t))^2
    (:meth:`KaplanMeier.influence_at`), so a cluster (matched set, or a
    person appearing in both groups) that spans both groups is accounted for;
    clusters are matched by label, so fit both curves with labels from one
    column. Without clusters it reduces to the sum of the two variances.
    Wald interval and two-sided p-value on the difference.
    See docs/methods.md, section 'Survival estimators'.

    Returns
    -------
    dict with ``estimate, se, ci_lower, ci_upper, p_value, variance``;
    ``estimate`` is NaN beyond the largest observed time of either curve.
    An SE that cannot be computed (S(t) = 0) counts as 0, as R's NA
    standard error of S would be dropped.
    """
    for name, km in (("km_treated", km_treated), ("km_control", km_control)):
        if not isinstance(km, KaplanMeier):
            raise ValueError(f"{name}: expected a fitted KaplanMeier, got {type(km).__name__}")
        km._check_fitted()
    if km_treated.variance != km_control.variance:
        raise ValueError(f"survival_difference: variances differ ({km_treated.variance!r} vs "
                         f"{km_control.variance!r})")
    t = float(time)
    s1 = float(km_treated.survival_at([t])["estimate"].iloc[0])
    s0 = float(km_control.survival_at([t])["estimate"].iloc[0])
    variance = km_treated.variance
    if variance == "robust":
        i1, i0 = km_treated.influence_at(t), km_control.influence_at(t)
        if km_treated._cluster is not None and km_control._cluster is not None:
            var = float(np.sum(i1.sub(i0, fill_value=0.0).to_numpy() ** 2))
        else:
            var = float(np.sum(i1.to_numpy() ** 2) + np.sum(i0.to_numpy() ** 2))
        se = math.sqrt(var)
    else:
        def _se(km):
            tab = km.table_
            idx = int(np.searchsorted(tab["time"].to_numpy(), t, "right")) - 1
            if idx < 0:
                return 0.0
            v = float(tab["std_err"].iloc[idx])
            return v if np.isfinite(v) else 0.0
        se = math.sqrt(_se(km_treated) ** 2 + _se(km_control) ** 2)
    z = _z(conf_level)
    d = s1 - s0
    p = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 and np.isfinite(d) else np.nan
    return {"estimate": d, "se": se, "ci_lower": d - z * se, "ci_upper": d + z * se, "p_value": p,
            "variance": variance}



def _e_value_rr(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return float(rr + math.sqrt(rr * (rr - 1)))


def e_value(estimate: float, ci_lower: float, ci_upper: float,
            rare_outcome: bool = True) -> dict:
    """E-value for a hazard ratio (VanderWeele & Ding 2017).

    The E-value is the minimum strength of association, on the risk-ratio
    scale, that an unmeasured confounder would need with both treatment and
    outcome (beyond the measured covariates) to fully explain away the
    observed association: E = RR + sqrt(RR (RR - 1)) for RR >= 1 (use 1/RR
    below 1). A hazard ratio approximates a risk ratio when the outcome is
    rare (< 15% by the end of follow-up, ``rare_outcome=True``); otherwise
    it is converted with RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)).
    For the interval, the E-value of the limit closest to 1 (1 if the
    interval includes 1): how strong a confounder would have to be to move
    the interval to include the null.

    Returns
    -------
    dict ``e_value, e_value_ci, rr, rr_limit`` (rr: the risk ratio used;
    rr_limit: the CI limit used on the RR scale, NaN when the CI includes 1).

    References
    ----------
    VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational
    research: introducing the E-value. Ann Intern Med 167:268-274.
    """
    vals = {"estimate": estimate, "ci_lower": ci_lower, "ci_upper": ci_upper}
    for k, v in vals.items():
        if v is None or not np.isfinite(v) or v <= 0:
            raise ValueError(f"e_value: {k}={v!r} must be a positive finite hazard ratio")
    if not ci_lower <= estimate <= ci_upper:
        raise ValueError(
            f"e_value: need ci_lower <= estimate <= ci_upper, got {ci_lower}, {estimate}, "
            f"{ci_upper}"
        )

    def to_rr(hr: float) -> float:
        if rare_outcome:
            return hr
        return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))

    rr = to_rr(estimate)
    if ci_lower <= 1 <= ci_upper:
        limit, e_ci = np.nan, 1.0
    else:
        limit = to_rr(ci_upper if estimate < 1 else ci_lower)
        e_ci = _e_value_rr(limit)
    return {"e_value": _e_value_rr(rr), "e_value_ci": e_ci, "rr": rr, "rr_limit": limit}


def _nb_theta(y, mu, w, theta0):
    """ML theta for NB2 with mu fixed (the score equation R's MASS::theta.ml solves)."""
    from scipy import optimize, special

    def score(log_th):
        th = math.exp(log_th)
        return float(np.sum(w * (special.digamma(th + y) - special.digamma(th) + math.log(th)
                                 + 1 - np.log(th + mu) - (y + th) / (mu + th))))

    lo, hi = math.log(theta0) - 1, math.log(theta0) + 1
    for _ in range(60):
        if score(lo) > 0 and score(hi) < 0:
            break
        lo, hi = lo - 1, hi + 1
    else:
        raise ValueError("negative_binomial_rate_ratio: no finite theta (no overdispersion?); "
                         "use a Poisson model")
    return math.exp(optimize.brentq(score, lo, hi, xtol=1e-14, rtol=1e-14))


def negative_binomial_rate_ratio(
    counts: Any,
    exposure: Any,
    treated: Any,
    covariates: pd.DataFrame | None = None,
    weights: Any = None,
    cluster: Any = None,
    conf_level: float = 0.95,
    **fixed: Any,
) -> pd.DataFrame:
    """Rate ratio of counts per unit exposure, treated vs not, from a NB2 model.

    Estimand: exp(beta_treated) in log E[count] = log(exposure) + a +
    beta_treated * treated + covariates'gamma, i.e. the ratio of event rates
    (e.g. new cases per year at risk), conditional on the covariates. The
    negative binomial (NB2, Var = mu + mu^2/theta) allows overdispersion.

    Fit as R ``MASS::glm.nb(count ~ treated + ... + offset(log(exposure)),
    weights=)``: alternate IRLS for the coefficients (statsmodels GLM with
    ``var_weights``) and the ML score equation for theta until both settle.
    Model-based SE as glm.nb (theta held fixed); with ``cluster`` the
    cluster-robust SE as ``sandwich::vcovCL(type="HC1")`` (G/(G-1) and
    (N-1)/(N-K) corrections), which the CI and p then use.

    Returns
    -------
    DataFrame with RESULT_COLUMNS (one row, ``estimand="rate_ratio"``,
    ``group="difference"``) plus ``coef, se, theta``. ``fixed`` keywords
    (programme_id, analysis, endpoint, causal, ...) are set on the row.
    """
    import statsmodels.api as sm

    y, index = _as_float(counts, "counts")
    bad = ~np.isfinite(y) | (y < 0) | (y != np.round(y))
    if bad.any():
        raise ValueError(f"counts: value at row {_first_bad(bad, index)!r} is not a count >= 0")
    expo, _ = _as_float(exposure, "exposure", len(y))
    bad = ~np.isfinite(expo) | (expo <= 0)
    if bad.any():
        raise ValueError(f"exposure: value at row {_first_bad(bad, index)!r} must be > 0")
    tr, _ = _as_float(treated, "treated", len(y))
    bad = ~np.isin(tr, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"treated: value at row {_first_bad(bad, index)!r} is not 0 or 1")
    w = _check_weights(weights, len(y), index)
    cols = {"const": np.ones(len(y)), "treated": tr}
    if covariates is not None:
        cov = covariates if isinstance(covariates, pd.DataFrame) else pd.DataFrame(covariates)
        if len(cov) != len(y):
            raise ValueError(f"covariates: has {len(cov)} rows, expected {len(y)}")
        for c in cov.columns:
            x, _ = _as_float(cov[c], f"covariate {c!r}", len(y))
            bad = ~np.isfinite(x)
            if bad.any():
                raise ValueError(f"covariate {c!r}: missing value at row {_first_bad(bad, index)!r}")
            cols[str(c)] = x
    X = pd.DataFrame(cols)
    offset = np.log(expo)
    if tr.min() == tr.max():
        raise ValueError("treated: all rows have the same value; no comparison possible")
    z = _z(conf_level)
    # start as glm.nb: Poisson fit, then alternate theta | mu and beta | theta
    mu = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset, var_weights=w).fit(
        tol=1e-12, maxiter=200).fittedvalues
    theta = _nb_theta(y, mu, w, 1.0)
    for _ in range(100):
        fam = sm.families.NegativeBinomial(alpha=1 / theta)
        res = sm.GLM(y, X, family=fam, offset=offset, var_weights=w).fit(tol=1e-13, maxiter=200)
        new = _nb_theta(y, res.fittedvalues, w, theta)
        done = abs(new - theta) <= 1e-11 * theta
        theta = new
        if done:
            break
    fam = sm.families.NegativeBinomial(alpha=1 / theta)
    model = sm.GLM(y, X, family=fam, offset=offset, var_weights=w)
    res = model.fit(tol=1e-13, maxiter=200)
    b = float(res.params["treated"])
    se = float(res.bse["treated"])
    use, method = se, "negative binomial (NB2) GLM, log(exposure) offset, theta by ML"
    robust_se = np.nan
    if cluster is not None:
        g = pd.Series(np.asarray(cluster))
        bad = g.isna().to_numpy()
        if bad.any():
            raise ValueError(f"cluster: missing value at row {_first_bad(bad, index)!r}")
        codes = pd.factorize(g)[0]
        n_g = int(codes.max()) + 1
        # score of beta with theta fixed: w (y - mu) theta / (theta + mu) x
        mu_hat = res.fittedvalues.to_numpy()
        sc = (w * (y - mu_hat) * theta / (theta + mu_hat))[:, None] * X.to_numpy()
        meat_g = np.zeros((n_g, X.shape[1]))
        np.add.at(meat_g, codes, sc)
        bread = res.cov_params().to_numpy()
        k = X.shape[1]
        adj = n_g / (n_g - 1) * (len(y) - 1) / (len(y) - k)
        vrob = adj * bread @ (meat_g.T @ meat_g) @ bread
        robust_se = float(math.sqrt(vrob[1, 1]))
        use = robust_se
        method += f", cluster-robust SE ({n_g} clusters)"
    pval = float(2 * stats.norm.sf(abs(b / use)))
    rec = {
        "estimand": "rate_ratio",
        "group": "difference",
        "estimate": math.exp(b),
        "ci_lower": math.exp(b - z * use),
        "ci_upper": math.exp(b + z * use),
        "p_value": pval,
        "n": len(y),
        "events": float(np.sum(y)),
        "method": method,
        "causal": False,
        "note": "" if covariates is None else "adjusted for " + ", ".join(X.columns[2:]),
        "coef": b,
        "se": se,
        "robust_se": robust_se,
        "theta": theta,
        "loglik": float(res.llf),
    }
    rec.update(fixed)
    return make_results([rec])
