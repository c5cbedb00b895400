"""Kaplan-Meier survival curves with Greenwood variance, case weights and left truncation.

Checked against R ``survival::survfit`` (``tests/r/survival_km.R``).

References
----------
Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete
observations. JASA 53:457-481.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from evaluation.stats.survival._checks import (
    _CONF_TYPES,
    _as_float,
    _check_durations,
    _check_entry,
    _check_events,
    _check_groups,
    _check_weights,
    _first_bad,
    _survival_ci,
    _z,
)


class KaplanMeier:
    """Kaplan-Meier estimator with Greenwood variance, weights and left truncation.

    Estimand: the survival function S(t) = P(T > t) of the time to event T,
    under independent (non-informative) censoring and, with ``entry``,
    independent left truncation (a row is at risk on (entry, duration]).

    Parameters
    ----------
    conf_level : float
        Level of the pointwise confidence intervals (default 0.95).
    conf_type : {"log-log", "log", "plain"}
        Transformation used for the pointwise interval, as R's ``conf.type``.
    variance : {"greenwood", "robust"}
        Variance estimator (see Notes).

    Attributes
    ----------
    table_ : DataFrame
        One row per distinct observed time (events and censorings), as R
        ``survfit``: ``time, n_risk, n_event, n_censor, survival, std_err,
        ci_lower, ci_upper`` (weighted counts when weights are given;
        ``std_err`` is the standard error of S(t), as R's ``summary.survfit``).

    Notes
    -----
    Greenwood (``variance="greenwood"``, default): Var(log S(t)) =
    sum_{t_j <= t} d_j / (n_j (n_j - d_j)), with weighted d_j and n_j when
    weights are given (R ``survfit(weights=, robust=FALSE)``; for
    inverse-probability weights this treats the weights as frequencies).
    Robust (``variance="robust"``): infinitesimal jackknife over rows or
    clusters, R ``survfit(weights=, robust=TRUE)`` (R's default for
    non-integer weights); better for IPW and matched or repeated rows, but
    still ignores the estimation of the weights; it does not change when all
    weights are scaled, Greenwood with weights does. The recidivism analysis
    uses the robust variance for every weighted or matched design (docs/methods.md,
    section 'Survival estimators').

    References
    ----------
    Kaplan & Meier (1958); Greenwood M (1926); Therneau & Grambsch (2000), ch. 2.
    """

    def __init__(self, conf_level: float = 0.95, conf_type: str = "log-log",
                 variance: str = "greenwood"):
        if conf_type not in _CONF_TYPES:
            raise ValueError(f"conf_type: {conf_type!r} is not one of {_CONF_TYPES}")
        if variance not in ("greenwood", "robust"):
            raise ValueError(f"variance: {variance!r} is not 'greenwood' or 'robust'")
        self._z = _z(conf_level)
        self.conf_level = conf_level
        self.conf_type = conf_type
        self.variance = variance

    def fit(
        self,
        durations: Any,
        events: Any,
        weights: Any = None,
        entry: Any = None,
        label: str = "all",
        cluster: Any = None,
    ) -> KaplanMeier:
        """Fit the curve; returns ``self``.

        Parameters
        ----------
        durations : array-like
            Time from origin to event or censoring (>= 0).
        events : array-like of {0, 1}
            1 = event observed, 0 = censored.
        weights : array-like, optional
            Case weights (> 0).
        entry : array-like, optional
            Left-truncation (delayed entry) times, each < its duration.
        label : str
            Name kept in ``self.label``.
        cluster : array-like, optional
            Cluster (e.g. person or matched set) for the robust variance;
            only used with ``variance="robust"`` (default: each row its own).
        """
        t, index = _check_durations(durations)
        d = _check_events(events, len(t), index)
        w = _check_weights(weights, len(t), index)
        e = _check_entry(entry, t, index)
        self.label = label
        self.n_ = len(t)
        self.events_ = int(d.sum())
        times = np.unique(t)
        pos = np.searchsorted(times, t)
        n_event = np.bincount(pos, weights=w * d, minlength=len(times))
        n_censor = np.bincount(pos, weights=w * (1 - d), minlength=len(times))
        n_risk = self._at_risk(t, e, w, times)
        with np.errstate(divide="ignore", invalid="ignore"):
            surv = np.cumprod(1.0 - np.where(n_risk > 0, n_event / n_risk, 0.0))
            hh = np.where(n_risk > n_event, n_event / (n_risk * (n_risk - n_event)), 0.0)
        self._hh = hh
        self._t, self._e, self._w, self._d = t, e, w, d
        self._times, self._n_risk, self._n_event = times, n_risk, n_event
        self._cluster = None
        self._cluster_labels = None
        if cluster is not None:
            cl = pd.Series(np.asarray(cluster))
            if len(cl) != len(t):
                raise ValueError(f"cluster: has {len(cl)} values, expected {len(t)}")
            bad = cl.isna().to_numpy()
            if bad.any():
                raise ValueError(f"cluster: missing value at row {_first_bad(bad, index)!r}")
            self._cluster, self._cluster_labels = pd.factorize(cl)
        if self.variance == "robust":
            se_log = self._robust_se_log(surv)
        else:
            se_log = np.sqrt(np.cumsum(hh))
        # R: once S reaches 0 (all at risk had the event) its SE and CI are NA
        se_log = np.where(surv > 0, se_log, np.nan)
        lo, hi = _survival_ci(surv, se_log, self._z, self.conf_type)
        self.table_ = pd.DataFrame(
            {
                "time": times,
                "n_risk": n_risk,
                "n_event": n_event,
                "n_censor": n_censor,
                "survival": surv,
                "std_err": surv * se_log,
                "ci_lower": lo,
                "ci_upper": hi,
            }
        )
        if self.events_ == 0:
            warnings.warn(
                f"KaplanMeier ({label}): no events among {self.n_} rows; S(t) = 1 throughout",
                stacklevel=2,
            )
        return self

    def _row_terms(self):
        """Per row: H(e_i) index terms for the influence of w_i on log S."""
        times, hh = self._times, self._hh
        with np.errstate(divide="ignore"):
            gap = self._n_risk - self._n_event
            inv_gap = np.where(gap > 0, 1 / np.where(gap > 0, gap, 1), 0.0)
        pos = np.searchsorted(times, self._t)  # row's own time index
        a = self._d * inv_gap[pos]
        # H(s) = sum_{t_l <= s} hh_l; index of entry: number of times <= e_i
        H = np.concatenate([[0.0], np.cumsum(hh)])
        k_e = np.searchsorted(times, self._e, "right")
        return pos, a, H, k_e

    def _robust_se_log(self, surv: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Infinitesimal-jackknife SE of log S(t) at each table time.

        Influence of row i (scaled by its weight) on log S(t):
        w_i [ (H(min(t, t_i)) - H(e_i))_+ - delta_i 1{t_i <= t} / (n_i - d_i) ],
        summed within clusters; var = sum over clusters of the square
        (R ``survfit(..., robust=TRUE)``). Cost O(n x times), in chunks.
        """
        pos, a, H, k_e = self._row_terms()
        w = self._w
        m = len(self._times)
        if self._cluster is not None:
            order = np.argsort(self._cluster, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(self._cluster[order]) != 0])
        out = np.empty(m)
        for j0 in range(0, m, chunk):
            js = np.arange(j0, min(m, j0 + chunk))
            upto = np.minimum(js[None, :], pos[:, None])  # index of min(t, t_i)
            inf = np.maximum(H[upto + 1] - H[k_e][:, None], 0.0)
            inf = inf - (a[:, None] * (pos[:, None] <= js[None, :]))
            inf *= w[:, None]
            if self._cluster is not None:
                inf = np.add.reduceat(inf[order], starts, axis=0)
            out[js] = np.sqrt(np.sum(inf**2, axis=0))
        return out

    def influence_at(self, time: float) -> pd.Series:
        """Infinitesimal-jackknife influence of each cluster on S(``time``).

        The weighted influence w_i dS(t)/dw_i = S(t) w_i IF_i(log S(t)) (see
        :meth:`_robust_se_log`), summed within clusters (each row its own
        cluster when ``fit`` got none); the sum of squares is the robust
        variance of S(t) (R ``survfit(..., robust=TRUE, influence=TRUE)``,
        ``influence.surv`` collapsed by cluster). Zero before the first
        observed time and once S(t) = 0. Needs ``variance="robust"``.

        Returns
        -------
        Series indexed by cluster label (row position when no clusters).
        See docs/methods.md, section 'Survival estimators'.
        """
        self._check_fitted()
        if self.variance != "robust":
            raise ValueError("influence_at: needs a KaplanMeier fitted with variance='robust'")
        t = float(time)
        if not np.isfinite(t):
            raise ValueError(f"time: {time!r} is not a finite number of days")
        j = int(np.searchsorted(self._times, t, "right")) - 1
        if j < 0:
            inf = np.zeros(len(self._t))
        else:
            pos, a, H, k_e = self._row_terms()
            upto = np.minimum(j, pos)
            inf = np.maximum(H[upto + 1] - H[k_e], 0.0) - a * (pos <= j)
            s = float(self.table_["survival"].iloc[j])
            inf = s * self._w * inf if s > 0 else np.zeros(len(self._t))
        if self._cluster is None:
            return pd.Series(inf, index=pd.RangeIndex(len(inf)))
        summed = np.bincount(self._cluster, weights=inf, minlength=len(self._cluster_labels))
        return pd.Series(summed, index=pd.Index(self._cluster_labels))

    def _rmst_influence(self, tau: float, rect_tail: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Per-row (weighted) influence of w_i on RMST(tau); see :meth:`rmst`."""
        pos, a, _, k_e = self._row_terms()
        m = len(self._times)
        A = np.zeros(m)  # area under S from t_j to tau (0 beyond tau)
        A[keep] = rect_tail
        hhA = np.concatenate([[0.0], np.cumsum(self._hh * A)])
        inside = self._t <= tau
        k_t = np.searchsorted(self._times, np.minimum(self._t, tau), "right")
        k_e = np.minimum(k_e, k_t)
        infl = (hhA[k_t] - hhA[k_e]) - np.where(inside, a * A[pos], 0.0)
        return self._w * infl

    @staticmethod
    def _at_risk(t: np.ndarray, e: np.ndarray, w: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Weighted number with entry < s <= duration, for each s in ``at``."""
        order_t = np.argsort(t, kind="stable")
        ts = t[order_t]
        tail_t = np.concatenate([np.cumsum(w[order_t][::-1])[::-1], [0.0]])
        order_e = np.argsort(e, kind="stable")
        es = e[order_e]
        tail_e = np.concatenate([np.cumsum(w[order_e][::-1])[::-1], [0.0]])
        # rows with duration >= s, minus rows with entry >= s (those are not yet in)
        return tail_t[np.searchsorted(ts, at, "left")] - tail_e[np.searchsorted(es, at, "left")]

    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise ValueError("KaplanMeier: call fit() first")

    def survival_at(self, times: Any) -> pd.DataFrame:
        """S(t) at the given times (right-continuous step function).

        Returns ``time, estimate, ci_lower, ci_upper, n_risk``; ``n_risk`` is
        the (weighted) number at risk at ``time``. Before the first observed
        time S = 1; after the largest observed time S is not estimable (NaN).
        """
        self._check_fitted()
        at, _ = _as_float(times, "times")
        tab = self.table_
        idx = np.searchsorted(tab["time"].to_numpy(), at, "right") - 1
        surv = np.where(idx >= 0, tab["survival"].to_numpy()[np.maximum(idx, 0)], 1.0)
        lo = np.where(idx >= 0, tab["ci_lower"].to_numpy()[np.maximum(idx, 0)], 1.0)
        hi = np.where(idx >= 0, tab["ci_upper"].to_numpy()[np.maximum(idx, 0)], 1.0)
        beyond = at > tab["time"].max()
        surv, lo, hi = (np.where(beyond, np.nan, a) for a in (surv, lo, hi))
        n_risk = self._at_risk(self._t, self._e, self._w, at)
        return pd.DataFrame(
            {"time": at, "estimate": surv, "ci_lower": lo, "ci_upper": hi, "n_risk": n_risk}
        )

    def rmst(self, tau: float) -> dict:
        """Restricted mean survival time up to ``tau`` with its standard error.

        Estimand: RMST(tau) = E[min(T, tau)] = integral_0^tau S(u) du.
        Estimate: the area under the Kaplan-Meier step function from 0 to
        ``tau``. Variance (``variance="greenwood"``) as R
        ``print(survfit(...), rmean=tau)``: sum_{t_j <= tau} A_j^2 d_j /
        (n_j (n_j - d_j)), where A_j is the area under the curve from t_j to
        tau (Klein & Moeschberger 2003, 4.5). With weights the same formula
        uses weighted counts (R's value; it treats weights as frequencies).
        With ``variance="robust"`` (recommended for IPW and for clustered
        rows): infinitesimal-jackknife variance, the sum over clusters of the
        squared summed weighted influences sum_j (t_{j+1} - t_j) S(t_j)
        IF_i(log S(t_j)) (as R ``survfit(..., robust=TRUE, influence=TRUE)``;
        weights still treated as fixed). If ``tau`` exceeds the largest observed
        time the curve is carried forward flat, as R does, with a warning.

        Returns
        -------
        dict with ``tau, estimate, se, ci_lower, ci_upper`` (Wald interval).
        """
        self._check_fitted()
        tau = float(tau)
        if not np.isfinite(tau) or tau <= 0:
            raise ValueError(f"tau: {tau!r} must be a positive number of days")
        tab = self.table_
        time = tab["time"].to_numpy()
        if tau > time.max():
            warnings.warn(
                f"rmst ({self.label}): tau={tau:g} is beyond the largest observed time "
                f"{time.max():g}; the last survival value is carried forward",
                stacklevel=2,
            )
        keep = time <= tau
        tt = np.concatenate([time[keep], [tau]])
        ss = np.concatenate([[1.0], tab["survival"].to_numpy()[keep]])
        rect = np.diff(np.concatenate([[0.0], tt])) * ss
        est = float(rect.sum())
        tail = np.cumsum(rect[::-1])[::-1][1:]  # area from t_j to tau, j = 1..m
        if self.variance == "robust":
            infl = self._rmst_influence(tau, tail, keep)
            self._last_rmst_influence = infl  # per row, used by rmst_difference
            if self._cluster is not None:
                infl = np.bincount(self._cluster, weights=infl)
            var = float(np.sum(infl**2))
        else:
            var = float(np.sum(tail**2 * self._hh[keep]))
        se = math.sqrt(var)
        return {
            "tau": tau,
            "estimate": est,
            "se": se,
            "ci_lower": est - self._z * se,
            "ci_upper": est + self._z * se,
        }


def kaplan_meier_by_group(
    durations: Any,
    events: Any,
    groups: Any,
    weights: Any = None,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
    entry: Any = None,
    variance: str = "greenwood",
    cluster: Any = None,
) -> pd.DataFrame:
    """Kaplan-Meier ``table_`` rows for each group, stacked with a ``group`` column.

    See :class:`KaplanMeier` for the estimand and variance (``variance`` =
    "greenwood" or "robust"; ``cluster`` as in :meth:`KaplanMeier.fit`).
    Groups are taken in sorted order; a missing group label raises
    ``ValueError``.
    """
    t, index = _check_durations(durations)
    g = _check_groups(groups, len(t), index)
    d = _check_events(events, len(t), index)
    w = _check_weights(weights, len(t), index)
    e = _check_entry(entry, t, index)
    cl = None
    if cluster is not None:
        cl = np.asarray(cluster, dtype=object)
        if len(cl) != len(t):
            raise ValueError(f"cluster: has {len(cl)} values, expected {len(t)}")
    parts = []
    for label in sorted(pd.unique(g)):
        m = g == label
        km = KaplanMeier(conf_level, conf_type, variance).fit(
            t[m], d[m], w[m], None if entry is None else e[m], label=str(label),
            cluster=None if cl is None else cl[m],
        )
        parts.append(km.table_.assign(group=label))
    out = pd.concat(parts, ignore_index=True)
    return out[["group"] + [c for c in out.columns if c != "group"]]


def numbers_at_risk(durations: Any, groups: Any, times: Any, entry: Any = None) -> pd.DataFrame:
    """Numbers at risk under a Kaplan-Meier plot.

    Returns one row per group and time: ``group, time, n_risk`` where
    ``n_risk`` counts people with entry < time <= duration (unweighted), as
    the table under a published KM figure (and R ``summary(survfit, times)``).
    Counts below a disclosure threshold are *not* suppressed here; pass the
    table through ``evaluation.publish.disclosure`` before publishing.
    """
    t, index = _check_durations(durations)
    g = _check_groups(groups, len(t), index)
    e = _check_entry(entry, t, index)
    at, _ = _as_float(times, "times")
    rows = []
    for label in sorted(pd.unique(g)):
        m = g == label
        n = KaplanMeier._at_risk(t[m], e[m], np.ones(int(m.sum())), at)
        rows.append(pd.DataFrame({"group": label, "time": at, "n_risk": n.round().astype(int)}))
    return pd.concat(rows, ignore_index=True)
