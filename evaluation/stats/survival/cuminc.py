"""Competing risks: Aalen-Johansen cumulative incidence and Gray's test.

Checked against R ``cmprsk::cuminc`` (``tests/r/survival_competing.R``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.stats.survival._checks import (
    _as_float,
    _check_durations,
    _check_groups,
    _z,
)


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
    try:
        stat = float(s @ np.linalg.solve(V, s))
    except np.linalg.LinAlgError:
        stat = np.nan  # singular variance (e.g. no events of this cause in a group): not estimable
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
