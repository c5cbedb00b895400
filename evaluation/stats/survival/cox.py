"""Cox proportional hazards model: Efron/Breslow ties, robust (clustered) variance, PH test.

Checked against R ``survival::coxph`` and ``cox.zph`` (``tests/r/survival_cox.R``, ``tests/r/survival_zph.R``).

References
----------
Therneau TM, Grambsch PM (2000). Modeling Survival Data: Extending the Cox
Model. Springer.
Efron B (1977). The efficiency of Cox's likelihood function for censored
data. JASA 72:557-565.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards
model. JASA 84:1074-1078.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.contract.results import make_results
from evaluation.stats.survival._checks import (
    _as_float,
    _check_durations,
    _check_entry,
    _check_events,
    _check_weights,
    _first_bad,
    _z,
)
from evaluation.stats.survival.km import KaplanMeier

_EPS = 1e-9
"""R ``coxph.control(eps=)``: the tolerance of the monotone-likelihood check."""
_TOLER_CHOL = np.finfo(float).eps ** 0.75
"""R ``coxph.control(toler.chol=)``: a Cholesky pivot below this share of the largest is singular."""
MONOTONE_SPREAD = 10.0
"""A coefficient counts as running off only when |beta| x range(x) exceeds this (risk ratios beyond e^10)."""
NOT_ESTIMABLE_MONOTONE = "not estimable: monotone likelihood (no events in one group / complete separation)"
NOT_ESTIMABLE_SINGULAR = ("not estimable: singular information (collinear with other covariates, or no "
                          "variation among people at risk when events occur)")
NOT_ESTIMABLE_CONSTANT = "not estimable: covariate is constant"
NOT_ESTIMABLE_NO_CONVERGENCE = "not estimable: Newton-Raphson did not converge"
NOT_ESTIMABLE_RANGE = ("not estimable: standard error zero or not finite, or hazard ratio beyond floating-point "
                       "range (rescale the covariate)")

# Publication rule for hazard ratios (docs/methods.md, section 'Survival estimators', item 'Estimability of a
# hazard ratio'): near-separation gives a finite but meaningless estimate such as HR 108 (13-909) or 0.00.
MIN_EVENTS_PER_GROUP = 5
"""A 0/1 covariate needs at least this many events (unweighted) at each of its two values: with d1 and d0 events
Var(log HR) is about 1/d1 + 1/d0, so below five events in a group the interval spans more than a factor of
about six on its own and the estimate rests on a handful of cases (near-separation)."""
HR_RANGE = (0.005, 200.0)
"""Estimate and both interval limits must lie within this range: a limit below 0.005 is printed as 0.00, and
beyond 200 (|log HR| > 5.3) a programme effect is not credible; such values come from near-separation."""
MAX_CI_RATIO = 100.0
"""Upper / lower interval limit at most this (SE of log HR at most ln(100)/(2 x 1.96) = 1.17, the information of
less than one event per group): a wider interval says nothing about the direction or size of the effect."""
NOT_ESTIMABLE_FEW_EVENTS = ("not estimable: fewer than five events in one group for a hazard ratio "
                            "(near-separation)")
NOT_ESTIMABLE_UNINFORMATIVE = ("not estimable: hazard ratio or interval limit below 0.005 or above 200, or "
                               "interval wider than a factor of 100 (near-separation)")


def ratio_degenerate(estimate: float, ci_lower: float, ci_upper: float,
                     bounds: tuple[float, float] = HR_RANGE, max_ci_ratio: float = MAX_CI_RATIO) -> bool:
    """True when a ratio (hazard or rate ratio) and its interval cannot be published as numbers.

    That is when the estimate or a limit is not finite, not positive, outside ``bounds`` (a limit
    printed as 0.00, or an HR of 200 and more), or the interval's upper / lower limit exceeds
    ``max_ci_ratio`` (docs/methods.md, section 'Survival estimators'). A missing limit (NaN) alone is
    not degenerate: only the values present are checked, but a missing estimate is.
    """
    vals = np.array([estimate, ci_lower, ci_upper], dtype=float)
    if not np.isfinite(vals[0]):
        return True
    present = vals[~np.isnan(vals)]
    if not np.all(np.isfinite(present)) or np.any(present <= 0):
        return True
    if np.any(present < bounds[0]) or np.any(present > bounds[1]):
        return True
    lo, hi = vals[1], vals[2]
    return bool(np.isfinite(lo) and np.isfinite(hi) and hi / lo > max_ci_ratio)


def _publication_reasons(X: np.ndarray, event: np.ndarray, w: np.ndarray, beta: np.ndarray, sd: np.ndarray,
                         z: float, est: np.ndarray) -> np.ndarray:
    """Per column, the reason the hazard ratio is not published ('' when it is): fewer than
    :data:`MIN_EVENTS_PER_GROUP` events at a value of a 0/1 covariate, or a degenerate estimate or
    interval (:func:`ratio_degenerate`). Only columns the fitter found estimable are checked."""
    out = np.full(len(beta), "", dtype=object)
    keep = w > 0
    ev = (event == 1) & keep
    for j in np.flatnonzero(est):
        levels = np.unique(X[keep, j])
        if len(levels) == 2 and min(int((ev & (X[:, j] == v)).sum()) for v in levels) < MIN_EVENTS_PER_GROUP:
            out[j] = NOT_ESTIMABLE_FEW_EVENTS
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            hr, lo, hi = np.exp(beta[j]), np.exp(beta[j] - z * sd[j]), np.exp(beta[j] + z * sd[j])
        if ratio_degenerate(hr, lo, hi):
            out[j] = NOT_ESTIMABLE_UNINFORMATIVE
    return out


def _singular_columns(a: np.ndarray, toler: float = _TOLER_CHOL) -> np.ndarray:
    """Columns whose Cholesky pivot vanishes, in column order (R survival ``cholesky2``).

    A pivot below ``toler`` times the largest diagonal element (or not finite)
    marks the column singular: it is a linear combination of earlier columns
    in the information matrix, or carries no information.
    """
    m = np.array(a, dtype=float, copy=True)
    n = len(m)
    diag = np.diag(m)
    big = float(np.max(diag[np.isfinite(diag)], initial=0.0))
    eps = toler * big if big > 0 else toler
    sing = np.zeros(n, dtype=bool)
    for i in range(n):
        pivot = m[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            sing[i] = True
            continue
        rest = slice(i + 1, n)
        m[rest, rest] -= np.outer(m[rest, i], m[i, rest]) / pivot
    return sing


class _RiskSets:
    """Sorted-cumulative-sum machinery for Cox risk sets, O(n log n).

    Rows are (entry, stop] intervals in strata. Event groups are the distinct
    (stratum, stop time) pairs that hold at least one event. For any row
    quantity a_i, ``sum_at_risk(a)`` returns, per event group g, the sum of
    a_i over rows with stratum_i = s_g and entry_i < t_g <= stop_i.
    """

    def __init__(self, entry, stop, event, stratum):
        n = len(stop)
        all_t = np.unique(np.concatenate([stop, entry[np.isfinite(entry)]]))
        m = len(all_t) + 2
        r_stop = np.searchsorted(all_t, stop) + 1
        r_entry = np.where(np.isfinite(entry), np.searchsorted(all_t, entry) + 1, 0)
        key_stop = stratum.astype(np.int64) * m + r_stop
        key_entry = stratum.astype(np.int64) * m + r_entry
        ev = event == 1
        gkeys, ginv = np.unique(key_stop[ev], return_inverse=True)
        self.n_groups = len(gkeys)
        self.group_of_event = ginv  # group index of each event row (in event-row order)
        self.event_rows = np.flatnonzero(ev)
        self.g_stratum = gkeys // m
        self.g_time = all_t[gkeys % m - 1]
        self.d = np.bincount(ginv, minlength=self.n_groups)  # events per group (unweighted)
        self.has_entry = bool(np.isfinite(entry).any())
        self.order_stop = np.argsort(key_stop, kind="stable")
        ks = key_stop[self.order_stop]
        self.s_start = np.searchsorted(ks, gkeys, "left")
        self.s_end = np.searchsorted(ks, (self.g_stratum + 1) * m, "left")
        if self.has_entry:
            self.order_entry = np.argsort(key_entry, kind="stable")
            ke = key_entry[self.order_entry]
            # entry >= t_g  <=>  key_entry >= s*m + rank(t_g)
            self.e_start = np.searchsorted(ke, gkeys, "left")
            self.e_end = np.searchsorted(ke, (self.g_stratum + 1) * m, "left")
        # for per-row sums over the groups a row is at risk in
        self.gkeys = gkeys
        self.row_lo = np.searchsorted(gkeys, key_entry, "right")  # groups with t_g > entry
        self.row_hi = np.searchsorted(gkeys, key_stop, "right")  # groups with t_g <= stop
        self.n = n

    def sum_at_risk(self, a: np.ndarray) -> np.ndarray:
        """Per-group risk-set sums of ``a`` (shape (n,) or (n, k))."""
        a = np.asarray(a, dtype=float)
        tail = _suffix_cumsum(a[self.order_stop])
        out = tail[self.s_start] - tail[self.s_end]
        if self.has_entry:
            tail_e = _suffix_cumsum(a[self.order_entry])
            out = out - (tail_e[self.e_start] - tail_e[self.e_end])
        return out

    def sum_over_row_groups(self, b: np.ndarray) -> np.ndarray:
        """For each row, the sum of per-group ``b`` over groups the row is at risk in."""
        c = np.concatenate([np.zeros((1,) + b.shape[1:]), np.cumsum(b, axis=0)])
        return c[self.row_hi] - c[self.row_lo]


def _suffix_cumsum(a: np.ndarray) -> np.ndarray:
    """tail[k] = sum(a[k:]), with tail[len(a)] = 0."""
    c = np.cumsum(a[::-1], axis=0)[::-1]
    return np.concatenate([c, np.zeros((1,) + a.shape[1:])])


class CoxModel:
    """Cox proportional-hazards model with Efron or Breslow ties, vectorised.

    Estimand: the log hazard ratios beta in h(t | x) = h0_s(t) exp(x'beta)
    (h0_s a baseline hazard per stratum s), assuming proportional hazards,
    log-linear covariate effects and independent censoring (and independent
    left truncation with ``entry_col``). With weights (e.g. IPW) the
    weighted partial likelihood estimates the marginal (population) hazard
    ratio of the weighted pseudo-population; use the robust variance then.

    Parameters
    ----------
    ties : {"efron", "breslow"}
        Handling of tied event times, as R ``coxph(ties=)``.
    conf_level : float
        Level of the Wald confidence intervals.

    Attributes (after ``fit``)
    --------------------------
    summary_ : DataFrame
        ``term, coef, se, robust_se, hazard_ratio, ci_lower, ci_upper, z,
        p_value``. CI, z and p use ``robust_se`` when the robust variance is
        computed, as R ``summary(coxph(..., cluster=))`` does.
    params_ : Series, var_ : ndarray (model-based), robust_var_ : ndarray or None
    loglik_, loglik_null_ : float  (log partial likelihood at beta-hat and at 0)
    n_, events_ : int  (rows and events, unweighted)
    estimable_, reasons_ : Series  per covariate: whether its hazard ratio can be given, else why
        ("not estimable: ..."): the fitter's checks (constant, aliased, monotone likelihood, no
        convergence, range) and the publication rule for near-separation (fewer than
        ``MIN_EVENTS_PER_GROUP`` events at a value of a 0/1 covariate, an estimate or limit outside
        ``HR_RANGE``, an interval wider than ``MAX_CI_RATIO``; docs/methods.md, section 'Survival
        estimators'). ``summary_`` gives NaN hazard ratio, interval and p for those.

    Notes
    -----
    Newton-Raphson on the log partial likelihood from beta = 0, with step
    halving, until the relative change in log-likelihood is below 1e-10
    (R's ``coxph.control`` uses 1e-9). Risk-set sums use sorted cumulative
    sums, so one iteration costs O(n log n + n p^2).

    Robust (sandwich) variance, as R ``coxph(..., cluster=id)``: with
    score residuals L_i (R ``residuals(fit, "score")``) and model variance
    V, D = rowsum_cluster(w_i L_i) V and robust_var = D'D (Lin & Wei 1989;
    Therneau & Grambsch 2000, sec. 7.2). Without ``cluster_col`` each row
    is its own cluster. Efron score residuals follow R's ``coxscore2``.

    References
    ----------
    Cox DR (1972), JRSS-B 34:187-220; Efron (1977); Lin & Wei (1989);
    Therneau & Grambsch (2000); Binder DA (1992), Biometrika 79:139-147.
    """

    def __init__(self, ties: str = "efron", conf_level: float = 0.95):
        if ties not in ("efron", "breslow"):
            raise ValueError(f"ties: {ties!r} is not 'efron' or 'breslow'")
        self.ties = ties
        self.conf_level = conf_level
        self._z = _z(conf_level)

    # -- input ------------------------------------------------------------
    def _prepare(self, df, duration_col, event_col, covariates, weights_col, cluster_col,
                 entry_col, strata_col):
        if not isinstance(df, pd.DataFrame):
            raise ValueError("CoxModel.fit: df must be a pandas DataFrame")
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        if not covariates:
            raise ValueError("CoxModel.fit: covariates is empty")
        needed = [duration_col, event_col, *covariates]
        needed += [c for c in (weights_col, cluster_col, entry_col, strata_col) if c is not None]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise ValueError(f"CoxModel.fit: column(s) {missing} not in the data frame")
        stop, index = _check_durations(df[duration_col], duration_col)
        event = _check_events(df[event_col], len(stop), index, event_col)
        X = np.empty((len(stop), len(covariates)))
        for j, c in enumerate(covariates):
            col = df[c]
            if col.dtype == bool or str(col.dtype) == "boolean":
                col = col.astype("Float64")
            x, _ = _as_float(col, c, len(stop))
            bad = ~np.isfinite(x)
            if bad.any():
                raise ValueError(
                    f"covariate {c!r}: missing or infinite value at row {_first_bad(bad, index)!r}"
                )
            X[:, j] = x
        w = _check_weights(None if weights_col is None else df[weights_col], len(stop), index,
                           weights_col or "weights")
        entry = _check_entry(None if entry_col is None else df[entry_col], stop, index,
                             entry_col or "entry")
        if strata_col is None:
            stratum = np.zeros(len(stop), dtype=np.int64)
        else:
            s = df[strata_col]
            bad = s.isna().to_numpy()
            if bad.any():
                raise ValueError(f"{strata_col}: missing stratum at row {_first_bad(bad, index)!r}")
            stratum = pd.factorize(s, sort=True)[0].astype(np.int64)
        cluster = None
        if cluster_col is not None:
            c = df[cluster_col]
            bad = c.isna().to_numpy()
            if bad.any():
                raise ValueError(f"{cluster_col}: missing cluster at row {_first_bad(bad, index)!r}")
            cluster = pd.factorize(c)[0]
        return covariates, stop, event, X, w, entry, stratum, cluster

    # -- likelihood -------------------------------------------------------
    def _derivs(self, beta, X, w, rs, need_info=True):
        """Log partial likelihood, score and information at ``beta``."""
        eta = X @ beta
        shift = float(eta.max())  # risk scores relative to the largest: no overflow
        r = w * np.exp(eta - shift)
        S0 = rs.sum_at_risk(r)
        S1 = rs.sum_at_risk(r[:, None] * X)
        er = rs.event_rows
        g = rs.group_of_event
        G = rs.n_groups
        D0 = np.bincount(g, weights=r[er], minlength=G)
        D1 = np.zeros((G, X.shape[1]))
        np.add.at(D1, g, r[er, None] * X[er])
        wsum = np.bincount(g, weights=w[er], minlength=G)
        meanwt = wsum / rs.d
        # expand to one line per (group, k), k = 0..d_g-1 (Efron); k-fraction 0 for Breslow
        order = np.argsort(g, kind="stable")
        gk = g[order]
        first = np.searchsorted(gk, np.arange(G))
        k = np.arange(len(gk)) - first[gk]
        frac = k / rs.d[gk] if self.ties == "efron" else np.zeros(len(gk))
        den = S0[gk] - frac * D0[gk]
        if not np.all(den > 0):
            # every risk score in a risk set underflowed against the largest one: the point is
            # numerically out of reach (a diverging coefficient); the caller halves its step
            raise FloatingPointError("non-positive risk-set sum")
        num1 = S1[gk] - frac[:, None] * D1[gk]
        mw = meanwt[gk]
        loglik = float(np.sum(w[er] * eta[er]) - np.sum(mw * (np.log(den) + shift)))
        xbar = num1 / den[:, None]
        score = (w[er, None] * X[er]).sum(0) - (mw[:, None] * xbar).sum(0)
        parts = {"eta": eta, "shift": shift, "r": r, "gk": gk, "frac": frac, "den": den, "xbar": xbar,
                 "mw": mw, "S0": S0, "D0": D0}
        if not need_info:
            return loglik, score, None, parts
        p = X.shape[1]
        a = np.bincount(gk, weights=mw / den, minlength=G)
        b = np.bincount(gk, weights=mw * frac / den, minlength=G)
        info = np.zeros((p, p))
        for j in range(p):
            for k2 in range(j, p):
                xx = r * X[:, j] * X[:, k2]
                s2 = rs.sum_at_risk(xx)
                d2 = np.bincount(g, weights=xx[er], minlength=G)
                info[j, k2] = info[k2, j] = np.sum(a * s2 - b * d2)
        sx = xbar * np.sqrt(mw)[:, None]
        info -= sx.T @ sx
        return loglik, score, info, parts

    def _solve(self, info, score, frozen):
        """Newton step on the columns not ``frozen``; None when it cannot be made."""
        act = ~frozen
        step = np.zeros(len(score))
        if not act.any():
            return step
        try:
            step[act] = np.linalg.solve(info[np.ix_(act, act)], score[act])
        except np.linalg.LinAlgError:
            return None
        return step if np.all(np.isfinite(step)) else None

    def _newton(self, X, w, rs, frozen, max_iter=50, tol=1e-10):
        """Newton-Raphson with step halving on the columns not ``frozen`` (held at 0).

        Returns beta, loglik, loglik at 0, score, information, whether it
        converged, and the columns frozen on the way (information singular).
        """
        p = X.shape[1]
        frozen = frozen.copy()
        beta = np.zeros(p)
        loglik, score, info, _ = self._derivs(beta, X, w, rs)
        loglik0 = loglik
        converged = False
        for _ in range(max_iter):
            step = self._solve(info, score, frozen)
            if step is None:
                # information became singular on the way (a coefficient diverging): hold the
                # columns with a vanishing pivot where they are, as R's cholesky2 does
                sing = _singular_columns(info) & ~frozen
                if not sing.any():
                    break
                frozen |= sing
                step = self._solve(info, score, frozen)
                if step is None:
                    break
            accepted = None
            for _halve in range(31):
                new = beta + step
                try:
                    ll_new, sc_new, inf_new, _ = self._derivs(new, X, w, rs)
                    ok = bool(np.isfinite(ll_new) and np.all(np.isfinite(sc_new))
                              and np.all(np.isfinite(inf_new)))
                except FloatingPointError:
                    ok = False
                if ok and ll_new >= loglik - 1e-12 * abs(loglik):
                    accepted = _halve
                    break
                step = step / 2
            if accepted is None:
                # no step improves the likelihood any more: stop at the last good point
                converged = True
                break
            done = abs(ll_new - loglik) <= tol * abs(ll_new)
            beta, loglik, score, info = new, ll_new, sc_new, inf_new
            if done and accepted == 0:
                converged = True
                break
        return beta, loglik, loglik0, score, info, converged, frozen

    @staticmethod
    def _variances(info, U, est, act):
        """Model variance I^-1 and robust D'D (D = U I^-1), NaN outside the estimable columns.

        The inverse is taken over the columns still in the fit (``act``: not aliased nor
        frozen), as R does; a diverging (monotone) column there leaves the others' variance
        at its limit. If that fails, over the estimable columns alone.
        """
        p = len(est)
        if est.all():
            var = np.linalg.inv(info)
            if U is None:
                return var, None
            Dfb = U @ var
            return var, Dfb.T @ Dfb
        var = np.full((p, p), np.nan)
        rvar = None if U is None else np.full((p, p), np.nan)
        if not est.any():
            return var, rvar
        for cols in (act, est):
            ix = np.ix_(cols, cols)
            try:
                v = np.linalg.inv(info[ix])
            except np.linalg.LinAlgError:
                continue
            if not np.all(np.isfinite(np.diag(v))[est[cols]]):
                continue
            var[ix] = v
            if U is not None:
                Dfb = U[:, cols] @ v
                rvar[ix] = Dfb.T @ Dfb
            break
        off = ~est
        var[off, :] = var[:, off] = np.nan
        if rvar is not None:
            rvar[off, :] = rvar[:, off] = np.nan
        return var, rvar

    def _score_residuals(self, X, parts, rs):
        """Per-row score residuals L_i (R ``residuals(coxph, type="score")``)."""
        gk, frac, den, xbar, mw = (parts[k] for k in ("gk", "frac", "den", "xbar", "mw"))
        G = rs.n_groups
        p = X.shape[1]
        haz = mw / den
        # per-group: h1 = sum_k haz, m1 = sum_k haz*xbar, h2/m2 with (1 - frac), m3 = mean_k xbar
        h1 = np.bincount(gk, weights=haz, minlength=G)
        h2 = np.bincount(gk, weights=haz * (1 - frac), minlength=G)
        m1 = np.zeros((G, p))
        m2 = np.zeros((G, p))
        m3 = np.zeros((G, p))
        np.add.at(m1, gk, haz[:, None] * xbar)
        np.add.at(m2, gk, (haz * (1 - frac))[:, None] * xbar)
        np.add.at(m3, gk, xbar / rs.d[gk][:, None])
        # exp(eta) without the weight (r includes w), on the same shifted scale as den
        risk = np.exp(parts["eta"] - parts["shift"])
        H = rs.sum_over_row_groups(h1)
        M = rs.sum_over_row_groups(m1)
        er = rs.event_rows
        ge = rs.group_of_event
        H[er] += h2[ge] - h1[ge]
        M[er] += m2[ge] - m1[ge]
        L = -risk[:, None] * (X * H[:, None] - M)
        L[er] += X[er] - m3[ge]
        return L

    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        covariates: Sequence[str] | str,
        weights_col: str | None = None,
        cluster_col: str | None = None,
        entry_col: str | None = None,
        strata_col: str | None = None,
        robust: bool | None = None,
    ) -> CoxModel:
        """Fit by Newton-Raphson; returns ``self``.

        Parameters
        ----------
        df : DataFrame
            One row per person, or per (entry, stop] interval with ``entry_col``.
        duration_col, event_col : str
            Stop time (>= 0) and event indicator (1 event, 0 censored).
        covariates : list of str
            Numeric (or boolean) columns; code categories as dummies first.
        weights_col : str, optional
            Case weights (> 0), e.g. IPW or matching weights.
        cluster_col : str, optional
            Cluster identifier (person id for split rows, matched-set id);
            robust variance sums score residuals within clusters.
        entry_col : str, optional
            Start of each row's interval: the risk set at t holds rows with
            entry < t <= stop (counting process, time-varying covariates,
            left truncation).
        strata_col : str, optional
            Separate baseline hazard per stratum.
        robust : bool, optional
            Sandwich variance; default True when weights or clusters are given.
        """
        covariates, stop, event, X, w, entry, stratum, cluster = self._prepare(
            df, duration_col, event_col, covariates, weights_col, cluster_col, entry_col,
            strata_col)
        if robust is None:
            robust = weights_col is not None or cluster_col is not None
        self.n_ = len(stop)
        self.events_ = int(event.sum())
        if self.events_ == 0:
            raise ValueError(f"CoxModel.fit: no events in column {event_col!r}")
        center = X.mean(0)
        Xc = X - center
        rs = _RiskSets(entry, stop, event, stratum)
        p = Xc.shape[1]
        reason = np.full(p, "", dtype=object)
        constant = np.ptp(X, axis=0) == 0
        reason[constant] = NOT_ESTIMABLE_CONSTANT
        spread = np.ptp(Xc, axis=0)
        # rank checks on covariates scaled to unit range: the information of a wide covariate
        # carries cancellation noise of its own scale, which would hide a vanishing pivot
        unit = np.where(spread > 0, spread, 1.0)
        Xs = Xc / unit
        _, _, info0, _ = self._derivs(np.zeros(p), Xs, w, rs)
        aliased = _singular_columns(info0) | constant
        reason[aliased & ~constant] = NOT_ESTIMABLE_SINGULAR
        beta, loglik, loglik0, score, info, converged, frozen = self._newton(Xc, w, rs, aliased)
        if (~frozen).any():
            # R coxph.fit: columns whose pivot vanishes in the final information are NA
            try:
                _, _, info_s, _ = self._derivs(beta * unit, Xs, w, rs)
                act0 = np.flatnonzero(~frozen)
                sing = np.zeros(p, dtype=bool)
                sing[act0] = _singular_columns(info_s[np.ix_(act0, act0)])
            except FloatingPointError:
                sing = ~frozen
            frozen = frozen | sing
        # columns frozen on the way: a pivot vanished while the coefficient ran off (monotone)
        late = frozen & ~aliased
        reason[late] = np.where(np.abs(beta[late]) * spread[late] > MONOTONE_SPREAD,
                                NOT_ESTIMABLE_MONOTONE, NOT_ESTIMABLE_SINGULAR)
        act = ~frozen
        monotone = np.zeros(p, dtype=bool)
        nxt = self._solve(info, score, frozen)
        if nxt is not None:
            # R coxph.fit: "Loglik converged before variable k; coefficient may be infinite":
            # the next Newton step is still large against the coefficient
            monotone = (act & (np.abs(nxt) > _EPS) & (np.abs(nxt) > np.sqrt(_EPS) * np.abs(beta))
                        & (np.abs(beta) * spread > MONOTONE_SPREAD))
        reason[monotone] = NOT_ESTIMABLE_MONOTONE
        if not converged:
            reason[(reason == "") & act] = NOT_ESTIMABLE_NO_CONVERGENCE
        if not converged:
            warnings.warn(
                "CoxModel: Newton-Raphson did not converge in "
                "50 iterations; a coefficient may be infinite (monotone likelihood)",
                stacklevel=2,
            )
        if np.any(np.abs(beta) > 20):
            warnings.warn(
                "CoxModel: a coefficient exceeds 20 on the log scale; the likelihood is "
                "probably monotone (no events in one covariate level)",
                stacklevel=2,
            )
        L = None
        if robust:
            _, _, _, parts = self._derivs(beta, Xc, w, rs, need_info=False)
            U = w[:, None] * self._score_residuals(Xc, parts, rs)
            if cluster is not None:
                Uc = np.zeros((cluster.max() + 1, len(beta)))
                np.add.at(Uc, cluster, U)
                U = Uc
            L = U
            self.n_clusters_ = len(U)
        for _pass in range(p + 1):
            est = reason == ""
            var, rvar = self._variances(info, L, est, act & (est | np.isin(reason, [NOT_ESTIMABLE_MONOTONE, NOT_ESTIMABLE_NO_CONVERGENCE])))
            with np.errstate(invalid="ignore", over="ignore"):
                sd = np.sqrt(np.diag(rvar if robust else var))
                wide = est & ~(np.isfinite(sd) & (sd > 0) & np.isfinite(np.exp(np.abs(beta) + self._z * sd)))
            if not wide.any():
                break
            # a zero or non-finite SE, or a hazard ratio or interval beyond floating point
            reason[wide] = NOT_ESTIMABLE_RANGE
        bad_terms = [f"{c} ({r.removeprefix('not estimable: ')})" for c, r in zip(covariates, reason, strict=True) if r]
        if bad_terms:
            warnings.warn("CoxModel: coefficient(s) not estimable: " + "; ".join(bad_terms), stacklevel=2)
        # the publication rule (near-separation) on top of the fitter's own: a column it marks keeps the
        # model as fitted (the other columns' variances are unchanged) but its hazard ratio is not given
        fit_est = est.copy()
        rule = _publication_reasons(X, event, w, beta, sd, self._z, est)
        reason[rule != ""] = rule[rule != ""]
        est = reason == ""
        self.params_ = pd.Series(np.where(aliased, np.nan, beta), index=covariates)
        self.var_ = var
        self.loglik_ = loglik
        self.loglik_null_ = loglik0
        self.covariates_ = covariates
        self.estimable_ = pd.Series(est, index=covariates)
        self.reasons_ = pd.Series(reason, index=covariates)
        self._fit_estimable = fit_est  # the fitter's own rule (PH test, residuals): numerically estimable
        self.converged_ = converged
        self.robust_var_ = rvar
        self._data = {"X": X, "Xc": Xc, "w": w, "rs": rs, "stop": stop, "event": event,
                      "entry": entry, "stratum": stratum, "center": center, "beta": beta}
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(var))
            rse = np.sqrt(np.diag(self.robust_var_)) if robust else np.full(len(beta), np.nan)
        use = rse if robust else se
        b = np.where(est, beta, np.nan)
        zval = b / use
        self.summary_ = pd.DataFrame(
            {
                "term": covariates,
                "coef": np.where(aliased, np.nan, beta),
                "se": se,
                "robust_se": rse,
                "hazard_ratio": np.exp(b),
                "ci_lower": np.exp(b - self._z * use),
                "ci_upper": np.exp(b + self._z * use),
                "z": zval,
                "p_value": 2 * stats.norm.sf(np.abs(zval)),
                "estimable": est,
                "reason": reason.astype(str),
            }
        )
        self.lr_test_ = {
            "statistic": 2 * (loglik - loglik0),
            "df": int((~aliased).sum()),
            "p_value": float(stats.chi2.sf(2 * (loglik - loglik0), int((~aliased).sum()))),
        }
        self._method = (
            f"Cox PH, {self.ties.capitalize()} ties"
            + (", weighted" if weights_col else "")
            + (", stratified" if strata_col else "")
            + (f", robust SE clustered on {cluster_col}" if cluster_col and robust
               else ", robust SE" if robust else "")
        )
        if self.events_ < 10 * len(beta):
            warnings.warn(
                f"CoxModel: {self.events_} events for {len(beta)} covariates (fewer than 10 "
                "per covariate); estimates may be unstable",
                stacklevel=2,
            )
        return self

    def _check_fitted(self):
        if not hasattr(self, "summary_"):
            raise ValueError("CoxModel: call fit() first")

    def _per_group_terms(self):
        """Per event group: score contributions U_g (G x p), information
        contributions I_g (G x p x p) and the Efron mean covariate m3_g."""
        d = self._data
        X, w, rs = d["Xc"], d["w"], d["rs"]
        beta = d["beta"]
        _, _, _, parts = self._derivs(beta, X, w, rs, need_info=False)
        gk, frac, den, xbar, mw = (parts[k] for k in ("gk", "frac", "den", "xbar", "mw"))
        r = parts["r"]
        er, g, G, p = rs.event_rows, rs.group_of_event, rs.n_groups, X.shape[1]
        U = np.zeros((G, p))
        np.add.at(U, g, w[er, None] * X[er])
        np.add.at(U, gk, -mw[:, None] * xbar)
        a = np.bincount(gk, weights=mw / den, minlength=G)
        b = np.bincount(gk, weights=mw * frac / den, minlength=G)
        info = np.zeros((G, p, p))
        for j in range(p):
            for k2 in range(j, p):
                xx = r * X[:, j] * X[:, k2]
                s2 = rs.sum_at_risk(xx)
                d2 = np.bincount(g, weights=xx[er], minlength=G)
                info[:, j, k2] = a * s2 - b * d2
                info[:, k2, j] = info[:, j, k2]
        outer = mw[:, None, None] * xbar[:, :, None] * xbar[:, None, :]
        np.add.at(info, gk, -outer)
        m3 = np.zeros((G, p))
        np.add.at(m3, gk, xbar / rs.d[gk][:, None])
        return U, info, m3

    def _km_time_transform(self):
        """1 - S(t-) at each event group's time: R cox.zph(transform="km")
        (unweighted KM of all rows, strata ignored), centred on its mean
        over event rows."""
        d = self._data
        rs = d["rs"]
        entry = d["entry"] if np.isfinite(d["entry"]).any() else None
        km = KaplanMeier().fit(d["stop"], d["event"], entry=entry)
        kt = km.table_["time"].to_numpy()
        ks = km.table_["survival"].to_numpy()
        idx = np.searchsorted(kt, rs.g_time, "left") - 1
        tt = 1 - np.where(idx >= 0, ks[np.maximum(idx, 0)], 1.0)
        tt_rows = tt[rs.group_of_event]
        return tt, tt - tt_rows.mean()

    def ph_test(self) -> pd.DataFrame:
        """Test of proportional hazards, as R ``cox.zph(fit, transform="km")``.

        For each covariate x_j, the score test (at beta-hat) of adding
        x_j * g(t) to the model, with g(t) = 1 - KM(t-) centred over events;
        GLOBAL tests all interactions jointly (survival >= 3.0 form, Grambsch
        & Therneau 1994). A small p-value is evidence that the hazard ratio
        changes over follow-up; a large one is not proof of proportionality.

        Returns
        -------
        DataFrame ``term, statistic, df, p_value`` (covariates, then GLOBAL).
        Terms that are not estimable (see ``reasons_``) are left out of the
        test and get NaN; so does a statistic whose information matrix is
        singular.
        """
        self._check_fitted()
        est = self._fit_estimable
        U, info, _ = self._per_group_terms()
        if not est.all():
            U, info = U[:, est], info[:, est][:, :, est]
        _, gt = self._km_time_transform()
        p = U.shape[1]
        u_int = (gt[:, None] * U).sum(0)
        i00 = info.sum(0)
        i01 = (gt[:, None, None] * info).sum(0)
        i11 = (gt[:, None, None] ** 2 * info).sum(0)
        imat = np.block([[i00, i01], [i01.T, i11]])

        def quad(u, m):
            try:
                return float(u @ np.linalg.solve(m, u))
            except np.linalg.LinAlgError:
                return np.nan

        rows = []
        j = 0
        for term, ok in zip(self.covariates_, est, strict=True):
            if not ok:
                rows.append({"term": term, "statistic": np.nan, "df": 1})
                continue
            kk = list(range(p)) + [p + j]
            u = np.concatenate([np.zeros(p), [u_int[j]]])
            rows.append({"term": term, "statistic": quad(u, imat[np.ix_(kk, kk)]), "df": 1})
            j += 1
        u = np.concatenate([np.zeros(p), u_int])
        rows.append({"term": "GLOBAL", "statistic": quad(u, imat) if p else np.nan, "df": p})
        out = pd.DataFrame(rows)
        out["p_value"] = stats.chi2.sf(out["statistic"], out["df"])
        return out

    def ph_residuals(self) -> pd.DataFrame:
        """Scaled Schoenfeld residuals against KM-transformed time (PH plot data).

        As R ``cox.zph(fit, transform="km")$y`` (survival >= 3.0): Schoenfeld
        residuals times d * I^{-1} plus beta-hat, with d the number of events;
        a smooth of ``scaled_residual`` against ``transformed_time`` estimates
        beta_j(t). Row-level output: for diagnostics only, never publish.

        Returns
        -------
        DataFrame ``term, time, transformed_time, scaled_residual`` (one row per
        event and covariate, in time order).
        """
        self._check_fitted()
        d = self._data
        rs = d["rs"]
        _, info, m3 = self._per_group_terms()
        tt, _ = self._km_time_transform()
        er, g = rs.event_rows, rs.group_of_event
        est = self._fit_estimable
        schoen = (d["Xc"][er] - m3[g])[:, est]
        scale = np.linalg.inv(info[:, est][:, :, est].sum(0) / len(er))
        scaled = np.full((len(er), len(est)), np.nan)
        scaled[:, est] = schoen @ scale + self.params_.to_numpy()[est]
        order = np.argsort(rs.g_time[g], kind="stable")
        parts = [
            pd.DataFrame({"term": term, "time": rs.g_time[g][order],
                          "transformed_time": tt[g][order], "scaled_residual": scaled[order, j]})
            for j, term in enumerate(self.covariates_)
        ]
        return pd.concat(parts, ignore_index=True)

    def to_results(self, term: str, **fixed: Any) -> pd.DataFrame:
        """One RESULT_COLUMNS row for the hazard ratio of ``term``.

        ``estimand`` = "hazard_ratio", ``causal`` False unless passed in
        ``fixed`` (with programme_id, analysis, endpoint, group, note, ...).
        A term that is not estimable (``reasons_``, including the near-separation rule) gives a row
        with NaN estimate, interval and p and its reason in ``note``.
        """
        self._check_fitted()
        s = self.summary_.set_index("term")
        if term not in s.index:
            raise ValueError(f"to_results: term {term!r} not in the model ({list(s.index)})")
        row = s.loc[term]
        if not bool(row.estimable):
            rec = {"estimand": "hazard_ratio", "group": "difference", "estimate": np.nan, "ci_lower": np.nan,
                   "ci_upper": np.nan, "p_value": np.nan, "n": self.n_, "events": self.events_,
                   "method": self._method, "causal": False, "note": ""}
            rec.update(fixed)
            rec["note"] = "; ".join(filter(None, [rec.get("note", ""), str(row.reason)]))
            return make_results([rec])
        rec = {
            "estimand": "hazard_ratio",
            "group": "difference",
            "estimate": row.hazard_ratio,
            "ci_lower": row.ci_lower,
            "ci_upper": row.ci_upper,
            "p_value": row.p_value,
            "n": self.n_,
            "events": self.events_,
            "method": self._method,
            "causal": False,
            "note": "",
        }
        rec.update(fixed)
        return make_results([rec])
