"""Survival analysis core: Kaplan-Meier, RMST, Aalen-Johansen, Cox, PH test.

Every estimator here is checked against R (``survival`` 3.5, ``cmprsk``,
``MASS``) on stored fixtures; see ``tests/r/survival_*.R`` for the reference
scripts and ``tests/test_survival_*.py`` for the tolerances.

Conventions
-----------
* Times are in days unless stated otherwise; durations must be >= 0.
* Events are coded 1 (event) and 0 (censored); competing-risk codes are
  0 = censored and 1..k = cause.
* Weights are case weights (R's ``weights=``): a weight of 2 counts a row
  twice in every sum. Inverse-probability weights enter the same way; the
  variance formulas that treat weights as frequencies are stated per method.
* Bad input raises ``ValueError`` naming the argument, the position (index
  label) and the problem. Nothing is dropped silently.

References
----------
Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete
observations. JASA 53:457-481.
Therneau TM, Grambsch PM (2000). Modeling Survival Data: Extending the Cox
Model. Springer.
Royston P, Parmar MKB (2013). Restricted mean survival time. BMC Med Res
Methodol 13:152.
Efron B (1977). The efficiency of Cox's likelihood function for censored
data. JASA 72:557-565.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards
model. JASA 84:1074-1078.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.contract.results import make_results

__all__ = [
    "KaplanMeier",
    "kaplan_meier_by_group",
    "numbers_at_risk",
    "rmst_difference",
    "CoxModel",
    "CumulativeIncidence",
    "e_value",
    "negative_binomial_rate_ratio",
]

_CONF_TYPES = ("log-log", "log", "plain")


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _as_float(values: Any, name: str, n: int | None = None) -> tuple[np.ndarray, pd.Index]:
    """Return ``values`` as a float array plus the labels used in messages."""
    if isinstance(values, pd.Series):
        index = values.index
        raw = values
    else:
        raw = pd.Series(np.asarray(values).ravel() if np.ndim(values) else [values])
        index = raw.index
    if n is not None and len(raw) != n:
        raise ValueError(f"{name}: has {len(raw)} values, expected {n} (one per row)")
    try:
        arr = pd.to_numeric(raw, errors="raise").astype("float64").to_numpy()
    except (TypeError, ValueError) as exc:
        bad = [i for i, v in zip(index, raw, strict=True) if not _is_number(v)]
        where = f" at row {bad[0]!r}" if bad else ""
        raise ValueError(f"{name}: non-numeric value{where} ({exc})") from None
    return arr, index


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _first_bad(mask: np.ndarray, index: pd.Index) -> Any:
    return index[int(np.flatnonzero(mask)[0])]


def _check_durations(durations: Any, name: str = "durations") -> tuple[np.ndarray, pd.Index]:
    t, index = _as_float(durations, name)
    if len(t) == 0:
        raise ValueError(f"{name}: no rows")
    bad = ~np.isfinite(t)
    if bad.any():
        raise ValueError(f"{name}: missing or infinite value at row {_first_bad(bad, index)!r}")
    bad = t < 0
    if bad.any():
        raise ValueError(
            f"{name}: negative duration {float(t[bad][0])!r} at row {_first_bad(bad, index)!r}"
        )
    return t, index


def _check_events(events: Any, n: int, index: pd.Index, name: str = "events") -> np.ndarray:
    e, _ = _as_float(events, name, n)
    bad = ~np.isin(e, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"{name}: value {float(e[bad][0])!r} at row {index[int(np.flatnonzero(bad)[0])]!r} "
            "is not 0 (censored) or 1 (event)"
        )
    return e


def _check_weights(weights: Any, n: int, index: pd.Index, name: str = "weights") -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w, _ = _as_float(weights, name, n)
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        raise ValueError(
            f"{name}: value {float(w[bad][0])!r} at row {index[int(np.flatnonzero(bad)[0])]!r} "
            "must be finite and > 0"
        )
    return w


def _check_entry(entry: Any, t: np.ndarray, index: pd.Index, name: str = "entry") -> np.ndarray:
    if entry is None:  # at risk from the start: (-inf, duration]
        return np.full(len(t), -np.inf)
    e, _ = _as_float(entry, name, len(t))
    bad = ~np.isfinite(e)
    if bad.any():
        raise ValueError(f"{name}: missing or infinite value at row {_first_bad(bad, index)!r}")
    bad = e >= t
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: entry time {float(e[i])!r} at row {index[i]!r} is not before the "
            f"duration {float(t[i])!r}; a row must cover (entry, duration]"
        )
    return e


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level: {conf_level!r} must lie strictly between 0 and 1")
    return float(stats.norm.ppf(1 - (1 - conf_level) / 2))


def _survival_ci(
    surv: np.ndarray, se_log: np.ndarray, z: float, conf_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI for a survival curve as R ``survfit_confint``.

    ``se_log`` is the standard error of the cumulative hazard (log S). Where
    S = 1 (before the first event) the interval is [1, 1] (R gives NA for
    log-log); where S = 0 the interval is NaN, as in R.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = z * se_log * surv
            lo, hi = np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        elif conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            lo = np.exp(np.log(xx) - z * se_log)
            hi = np.minimum(np.exp(np.log(xx) + z * se_log), 1.0)
        else:  # log-log
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            half = z * se_log / np.log(xx)
            lo = np.exp(-np.exp(np.log(-np.log(xx)) - half))
            hi = np.exp(-np.exp(np.log(-np.log(xx)) + half))
    one = (surv == 1) & (se_log == 0)
    lo = np.where(one, 1.0, lo)
    hi = np.where(one, 1.0, hi)
    return lo, hi


# ---------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------


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
    still ignores the estimation of the weights.

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
        if cluster is not None:
            cl = pd.Series(np.asarray(cluster))
            if len(cl) != len(t):
                raise ValueError(f"cluster: has {len(cl)} values, expected {len(t)}")
            bad = cl.isna().to_numpy()
            if bad.any():
                raise ValueError(f"cluster: missing value at row {_first_bad(bad, index)!r}")
            self._cluster = pd.factorize(cl)[0]
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
) -> pd.DataFrame:
    """Kaplan-Meier ``table_`` rows for each group, stacked with a ``group`` column.

    See :class:`KaplanMeier` for the estimand and variance (``variance`` =
    "greenwood" or "robust"). Groups are taken in sorted order; a missing
    group label raises ``ValueError``.
    """
    t, index = _check_durations(durations)
    g = _check_groups(groups, len(t), index)
    d = _check_events(events, len(t), index)
    w = _check_weights(weights, len(t), index)
    e = _check_entry(entry, t, index)
    parts = []
    for label in sorted(pd.unique(g)):
        m = g == label
        km = KaplanMeier(conf_level, conf_type, variance).fit(
            t[m], d[m], w[m], None if entry is None else e[m], label=str(label)
        )
        parts.append(km.table_.assign(group=label))
    out = pd.concat(parts, ignore_index=True)
    return out[["group"] + [c for c in out.columns if c != "group"]]


def _check_groups(groups: Any, n: int, index: pd.Index, name: str = "groups") -> np.ndarray:
    g = pd.Series(groups.to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups))
    if len(g) != n:
        raise ValueError(f"{name}: has {len(g)} values, expected {n} (one per row)")
    bad = g.isna().to_numpy()
    if bad.any():
        raise ValueError(f"{name}: missing group label at row {_first_bad(bad, index)!r}")
    return g.to_numpy(dtype=object)


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
    clusters it reduces to var_1 + var_0. Estimated weights (IPW) are
    treated as fixed, which is usually conservative for the ATE (Austin
    2016); the note column says so. The comparison is *not* causal by itself:
    ``causal`` is False unless the caller passes ``causal=True`` in ``fixed``
    for a randomised or adequately adjusted design.

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
        method += " clustered"
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


# ---------------------------------------------------------------------------
# Cox proportional hazards
# ---------------------------------------------------------------------------


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
        const = [c for j, c in enumerate(covariates) if np.ptp(X[:, j]) == 0]
        if const:
            raise ValueError(f"CoxModel.fit: covariate(s) {const} are constant; cannot estimate")
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
        if np.any(den <= 0):
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

    def _newton(self, X, w, rs, max_iter=50, tol=1e-10):
        p = X.shape[1]
        beta = np.zeros(p)
        loglik, score, info, _ = self._derivs(beta, X, w, rs)
        loglik0 = loglik
        converged = False
        for _ in range(max_iter):
            try:
                step = np.linalg.solve(info, score)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "CoxModel.fit: information matrix is singular (collinear covariates "
                    "or a covariate with no variation among people with events)"
                ) from None
            halve = 0
            while True:
                new = beta + step
                try:
                    ll_new, sc_new, inf_new, _ = self._derivs(new, X, w, rs)
                    ok = np.isfinite(ll_new)
                except FloatingPointError:
                    ok = False
                if ok and ll_new >= loglik - 1e-12 * abs(loglik):
                    break
                step = step / 2
                halve += 1
                if halve > 30:
                    break
            done = abs(ll_new - loglik) <= tol * abs(ll_new)
            beta, loglik, score, info = new, ll_new, sc_new, inf_new
            if done and halve == 0:
                converged = True
                break
        if not converged:
            warnings.warn(
                "CoxModel: Newton-Raphson did not converge in "
                f"{max_iter} iterations; a coefficient may be infinite (monotone likelihood)",
                stacklevel=3,
            )
        if np.any(np.abs(beta) > 20):
            warnings.warn(
                "CoxModel: a coefficient exceeds 20 on the log scale; the likelihood is "
                "probably monotone (no events in one covariate level)",
                stacklevel=3,
            )
        return beta, loglik, loglik0, score, info

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
        beta, loglik, loglik0, _, info = self._newton(Xc, w, rs)
        var = np.linalg.inv(info)
        self.params_ = pd.Series(beta, index=covariates)
        self.var_ = var
        self.loglik_ = loglik
        self.loglik_null_ = loglik0
        self.covariates_ = covariates
        self.robust_var_ = None
        if robust:
            _, _, _, parts = self._derivs(beta, Xc, w, rs, need_info=False)
            L = self._score_residuals(Xc, parts, rs)
            U = w[:, None] * L
            if cluster is not None:
                Uc = np.zeros((cluster.max() + 1, len(beta)))
                np.add.at(Uc, cluster, U)
                U = Uc
            Dfb = U @ var
            self.robust_var_ = Dfb.T @ Dfb
            self.n_clusters_ = len(U)
        self._data = {"X": X, "Xc": Xc, "w": w, "rs": rs, "stop": stop, "event": event,
                      "entry": entry, "stratum": stratum, "center": center}
        se = np.sqrt(np.diag(var))
        rse = np.sqrt(np.diag(self.robust_var_)) if robust else np.full(len(beta), np.nan)
        use = rse if robust else se
        zval = beta / use
        with np.errstate(over="ignore"):  # monotone likelihood: inf, already warned
            self.summary_ = pd.DataFrame(
                {
                    "term": covariates,
                    "coef": beta,
                    "se": se,
                    "robust_se": rse,
                    "hazard_ratio": np.exp(beta),
                    "ci_lower": np.exp(beta - self._z * use),
                    "ci_upper": np.exp(beta + self._z * use),
                    "z": zval,
                    "p_value": 2 * stats.norm.sf(np.abs(zval)),
                }
            )
        self.lr_test_ = {
            "statistic": 2 * (loglik - loglik0),
            "df": len(beta),
            "p_value": float(stats.chi2.sf(2 * (loglik - loglik0), len(beta))),
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
        beta = self.params_.to_numpy()
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
        """
        self._check_fitted()
        U, info, _ = self._per_group_terms()
        _, gt = self._km_time_transform()
        p = U.shape[1]
        u_int = (gt[:, None] * U).sum(0)
        i00 = info.sum(0)
        i01 = (gt[:, None, None] * info).sum(0)
        i11 = (gt[:, None, None] ** 2 * info).sum(0)
        imat = np.block([[i00, i01], [i01.T, i11]])
        rows = []
        for j, term in enumerate(self.covariates_):
            kk = list(range(p)) + [p + j]
            u = np.concatenate([np.zeros(p), [u_int[j]]])
            stat = float(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u))
            rows.append({"term": term, "statistic": stat, "df": 1})
        u = np.concatenate([np.zeros(p), u_int])
        rows.append({"term": "GLOBAL", "statistic": float(u @ np.linalg.solve(imat, u)),
                     "df": p})
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
        schoen = d["Xc"][er] - m3[g]
        scale = np.linalg.inv(info.sum(0) / len(er))
        scaled = schoen @ scale + self.params_.to_numpy()
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
        """
        self._check_fitted()
        s = self.summary_.set_index("term")
        if term not in s.index:
            raise ValueError(f"to_results: term {term!r} not in the model ({list(s.index)})")
        row = s.loc[term]
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


# ---------------------------------------------------------------------------
# Competing risks: Aalen-Johansen cumulative incidence and Gray's test
# ---------------------------------------------------------------------------


def _cuminc_one(t: np.ndarray, code: np.ndarray, cause: int) -> pd.DataFrame:
    """Cumulative incidence of ``cause`` with cmprsk's variance (Gray's ``cinc``).

    Returns one row per distinct time with an event of ``cause``.
    """
    times, inv = np.unique(t, return_inverse=True)
    n_at = np.bincount(inv, minlength=len(times))
    rs = (len(t) - np.concatenate([[0], np.cumsum(n_at)[:-1]])).astype(float)
    nd1 = np.bincount(inv, weights=(code == cause).astype(float), minlength=len(times))
    nd = np.bincount(inv, weights=(code > 0).astype(float), minlength=len(times))
    nd2 = nd - nd1
    step = 1 - nd / rs
    fkn = np.cumprod(step)  # all-cause KM just after each time
    fk = np.concatenate([[1.0], fkn[:-1]])  # just before
    f = np.cumsum(fk * nd1 / rs)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_fkn = np.where(fkn > 0, 1 / fkn, 0.0)
        t5o = np.where(nd2 > 1, 1 - (nd2 - 1) / (rs - 1), 1.0)
        t6o = np.where((nd2 > 0) & (fkn > 0), fk**2 * t5o * nd2 / rs**2, 0.0)
        t4o = f * inv_fkn
        t5c = np.where(nd1 > 1, 1 - (nd1 - 1) / (rs - 1), 1.0)
        t6c = np.where(nd1 > 0, fk**2 * t5c * nd1 / rs**2, 0.0)
        t4c = 1 + inv_fkn * f
    v1 = np.cumsum(t4o**2 * t6o + t4c**2 * t6c)
    v2 = np.cumsum(inv_fkn * t4o * t6o + inv_fkn * t4c * t6c)
    v3 = np.cumsum(inv_fkn**2 * t6o + inv_fkn**2 * t6c)
    var = v1 + f**2 * v3 - 2 * f * v2
    jump = nd1 > 0
    return pd.DataFrame(
        {"time": times[jump], "estimate": f[jump], "variance": var[jump], "n_risk": rs[jump]}
    )


def _gray_test(t: np.ndarray, code: np.ndarray, g: np.ndarray, cause: int, rho: float = 0.0):
    """Gray's (1988) K-sample test for cumulative incidence of ``cause``.

    Score and variance as cmprsk's ``crstm`` (one stratum); returns
    (statistic, df). ``g`` holds group codes 0..K-1.
    """
    ng = int(g.max()) + 1
    m = np.where(code == cause, 1, np.where(code > 0, 2, 0))
    times, inv = np.unique(t, return_inverse=True)
    d1 = np.zeros((len(times), ng))
    d2 = np.zeros((len(times), ng))
    nn = np.zeros((len(times), ng))
    np.add.at(d1, (inv, g), m == 1)
    np.add.at(d2, (inv, g), m == 2)
    np.add.at(nn, (inv, g), 1)
    rs = np.bincount(g, minlength=ng).astype(float)
    ng1 = ng - 1
    f1m = np.zeros(ng)
    skmm = np.ones(ng)
    fm = 0.0
    s = np.zeros(ng1)
    V = np.zeros((ng1, ng1))
    C = np.zeros((ng, ng))
    v2 = np.zeros((ng1, ng))
    v3 = np.zeros(ng)
    for j in range(len(times)):
        n1 = d1[j].sum()
        n2 = d2[j].sum()
        if n1 > 0 or n2 > 0:
            act = rs > 0
            skm = skmm.copy()
            f1 = f1m.copy()
            skm[act] = skmm[act] * (rs[act] - d1[j, act] - d2[j, act]) / rs[act]
            f1[act] = f1m[act] + skmm[act] * d1[j, act] / rs[act]
            t1 = np.where(act, rs / np.where(act, skmm, 1.0), 0.0)
            tr = t1.sum()
            tq = np.sum(np.where(act, rs * (1 - f1m) / np.where(act, skmm, 1.0), 0.0))
            f = fm + n1 / tr
            fb = (1 - fm) ** rho
            A = fb * (np.diag(t1) - np.outer(t1, t1) / tr)
            C += A * n1 / (tr * (1 - fm))
            sc = fb * (d1[j] - n1 * t1 * (1 - f1m) / tq)
            s += np.where(act, sc, 0.0)[:ng1]
            if n1 > 0:
                k = act
                t4 = np.where(skm > 0, 1 - (1 - f) / np.where(skm > 0, skm, 1.0), 1.0)
                t5 = 1 - (n1 - 1) / (tr * skmm - 1) if n1 > 1 else np.ones(ng)
                t3 = np.where(k, t5 * skmm * n1 / (tr * np.where(k, rs, 1.0)), 0.0)
                v3 += t4**2 * t3
                T1 = A[:ng1] - t4 * C[:ng1]
                v2 += T1 * t4 * t3
                V += (T1 * t3) @ T1.T
            if n2 > 0:
                k = (skm > 0) & (d2[j] > 0)
                sk = np.where(k, skm, 1.0)
                t4 = np.where(k, (1 - f) / sk, 0.0)
                rr = np.where(k, rs, 2.0)
                t5 = np.where(d2[j] > 1, 1 - (d2[j] - 1) / (rr - 1), 1.0)
                t3 = np.where(k, t5 * skmm**2 * d2[j] / rr**2, 0.0)
                v3 += t4**2 * t3
                T1 = t4 * C[:ng1]
                v2 -= T1 * t4 * t3
                V += (T1 * t3) @ T1.T
            fm = f
            f1m = f1
            skmm = skm
        rs = rs - nn[j]
    Cs = C[:ng1]
    V = V + (Cs * v3) @ Cs.T + Cs @ v2.T + v2 @ Cs.T
    stat = float(s @ np.linalg.solve(V, s))
    return stat, ng1


class CumulativeIncidence:
    """Aalen-Johansen cumulative incidence with competing risks (cmprsk::cuminc).

    Estimand: the cumulative incidence function F_k(t) = P(T <= t, cause = k),
    the probability of an event of cause k by time t when other causes
    (death, emigration) can happen first. Censoring is assumed independent;
    competing events are *not* censored (1 - KM would overstate F_k).

    Variance: Gray's delta-method estimator as computed by R
    ``cmprsk::cuminc`` (Fortran ``cinc``); it changes only at times of a
    cause-k event. Pointwise interval on the log(-log) scale,
    F^{exp(+-z se / (F log F))} (Choudhury 2002; Pintilie 2006, sec. 4.2).
    Gray's test compares F_k between groups (K-1 df, rho = 0).

    Attributes (after ``fit``)
    --------------------------
    table_ : DataFrame  ``group, cause, time, estimate, variance, ci_lower,
        ci_upper, n_risk``: one row per time with a cause-k event.
    gray_test_ : DataFrame  ``cause, statistic, df, p_value`` (with groups).

    References
    ----------
    Aalen OO, Johansen S (1978), Scand J Stat 5:141-150. Gray RJ (1988), Ann
    Stat 16:1141-1154. Pintilie M (2006), Competing Risks: A Practical
    Perspective. Wiley.
    """

    def __init__(self, conf_level: float = 0.95):
        self.conf_level = conf_level
        self._z = _z(conf_level)

    def fit(self, durations: Any, event_codes: Any, cause: int = 1,
            groups: Any = None) -> CumulativeIncidence:
        """Fit for every cause present; ``cause`` is the default for :meth:`at`.

        ``event_codes``: 0 = censored, 1..k = cause of the event (integers).
        """
        t, index = _check_durations(durations)
        c, _ = _as_float(event_codes, "event_codes", len(t))
        bad = ~np.isfinite(c) | (c < 0) | (c != np.round(c))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"event_codes: value {float(c[i])!r} at row {index[i]!r} is not 0 (censored) "
                "or a positive integer cause code"
            )
        c = c.astype(int)
        self.causes_ = sorted(int(k) for k in np.unique(c[c > 0]))
        if int(cause) not in self.causes_:
            raise ValueError(f"cause: no events with code {cause!r} (codes found: {self.causes_})")
        self.cause = int(cause)
        g = np.full(len(t), "all", dtype=object) if groups is None else _check_groups(
            groups, len(t), index)
        labels = sorted(pd.unique(g))
        parts = []
        self._last_time = {}
        for lab in labels:
            msk = g == lab
            self._last_time[lab] = float(t[msk].max())
            for k in self.causes_:
                tab = _cuminc_one(t[msk], c[msk], k)
                parts.append(tab.assign(group=lab, cause=k))
        tab = pd.concat(parts, ignore_index=True)
        est = tab["estimate"].to_numpy()
        se = np.sqrt(tab["variance"].to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.exp(self._z * se / (est * np.log(est)))
            lo, hi = est ** (1 / a), est**a
        tab["ci_lower"] = np.where(est >= 1, np.nan, np.minimum(lo, hi))
        tab["ci_upper"] = np.where(est >= 1, np.nan, np.maximum(lo, hi))
        self.table_ = tab[["group", "cause", "time", "estimate", "variance", "ci_lower",
                           "ci_upper", "n_risk"]]
        self.groups_ = labels
        if groups is not None and len(labels) > 1:
            codes = pd.Categorical(g, categories=labels).codes.astype(int)
            rows = []
            for k in self.causes_:
                stat, df = _gray_test(t, c, codes, k)
                rows.append({"cause": k, "statistic": stat, "df": df,
                             "p_value": float(stats.chi2.sf(stat, df))})
            self.gray_test_ = pd.DataFrame(rows)
        else:
            self.gray_test_ = pd.DataFrame(columns=["cause", "statistic", "df", "p_value"])
        return self

    def at(self, times: Any, cause: int | None = None) -> pd.DataFrame:
        """F_k(t) at given times, per group (step function, as cmprsk ``timepoints``).

        Before the first cause-k event the estimate, variance and interval are 0; after the
        group's largest follow-up time it is NaN (not estimable).
        """
        if not hasattr(self, "table_"):
            raise ValueError("CumulativeIncidence: call fit() first")
        k = self.cause if cause is None else int(cause)
        at, _ = _as_float(times, "times")
        rows = []
        for lab in self.groups_:
            tab = self.table_[(self.table_["group"] == lab) & (self.table_["cause"] == k)]
            idx = np.searchsorted(tab["time"].to_numpy(), at, "right") - 1
            out = {}
            for col in ("estimate", "variance", "ci_lower", "ci_upper"):
                vals = tab[col].to_numpy()
                v = np.where(idx >= 0, vals[np.maximum(idx, 0)] if len(vals) else 0.0, 0.0)
                out[col] = np.where(at > self._last_time[lab], np.nan, v)
            rows.append(pd.DataFrame({"group": lab, "cause": k, "time": at, **out}))
        return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------
# Sensitivity to unmeasured confounding and count outcomes
# ---------------------------------------------------------------------------


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
