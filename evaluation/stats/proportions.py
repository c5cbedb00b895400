"""Proportions, rates and their intervals, shared by every module that reports a share.

See docs/methods.md, section 'Recidivism measures'.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def wilson_interval(successes, n, conf_level: float = 0.95):
    """Wilson score interval for a binomial proportion ``successes / n``.

    Vectorised: arrays in, arrays out; scalars in, floats out. ``n = 0``
    gives NaN. Equals R ``prop.test(x, n, correct = FALSE)$conf.int``.
    The interval treats the counted units as independent; where units are
    clustered (rows of one person, contacts of one match) it is too narrow.

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and
    statistical inference. JASA 22, 209-212. Newcombe, R. G. (1998).
    Statistics in Medicine 17, 857-872.
    """
    z = stats.norm.ppf(0.5 + conf_level / 2)
    x = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / m
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
    lo = np.where(m > 0, np.clip(centre - half, 0, 1), np.nan)
    hi = np.where(m > 0, np.clip(centre + half, 0, 1), np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def weighted_proportion(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """Weighted proportion, its SE (Kish effective n) and the effective n."""
    sw = w.sum()
    if sw <= 0:
        return np.nan, np.nan, 0.0
    p = float((w * y).sum() / sw)
    n_eff = float(sw**2 / (w**2).sum())
    return p, math.sqrt(max(p * (1 - p), 0.0) / n_eff), n_eff


def rate_per_person_year(counts: np.ndarray, exposure_years: np.ndarray, w: np.ndarray, conf_level: float = 0.95):
    """Ratio estimator sum(w y) / sum(w t) with a robust (sandwich) SE.

    Var(r) = sum w_i^2 (y_i - r t_i)^2 / (sum w_i t_i)^2, which does not
    assume Poisson variation (robust to overdispersion); interval on the log
    scale. Returns (rate, lower, upper).
    """
    tt = (w * exposure_years).sum()
    if tt <= 0:
        return np.nan, np.nan, np.nan
    r = float((w * counts).sum() / tt)
    if r == 0:
        return 0.0, 0.0, np.nan
    se = math.sqrt(float((w**2 * (counts - r * exposure_years) ** 2).sum())) / tt
    z = stats.norm.ppf(0.5 + conf_level / 2)
    f = math.exp(z * se / r)
    return r, r / f, r * f


def power_two_proportions(p1: float, p0: float, alpha: float = 0.05, power: float = 0.80) -> float:
    """Participants per group to detect p1 vs p0 (two-sided test of two proportions).

    Fleiss (1981) formula without continuity correction, equal group sizes:
    ``n = (z_{1-a/2} sqrt(2 pbar qbar) + z_{power} sqrt(p1 q1 + p0 q0))^2 / (p1 - p0)^2``
    with ``pbar = (p1 + p0) / 2``. Returns ``inf`` when p1 == p0.
    """
    if not (0 <= p1 <= 1 and 0 <= p0 <= 1):
        raise ValueError("power_two_proportions: proportions must lie in [0, 1]")
    d = abs(p1 - p0)
    if d == 0:
        return math.inf
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    pbar = (p1 + p0) / 2
    n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p0 * (1 - p0))) ** 2 / d**2
    return float(math.ceil(n))


def minimum_detectable_difference(p0: float, n1: int, n0: int, alpha: float = 0.05, power: float = 0.80) -> float:
    """Smallest difference in proportions a two-sided test detects with the given power, at the actual sizes.

    Normal approximation with the comparison proportion's variance in both groups:
    ``MDD = (z_{1-a/2} + z_{power}) sqrt(p0 q0 (1/n1 + 1/n0))`` (Bloom 1995, "Minimum detectable
    effects"). Unlike post-hoc power it does not depend on the observed difference: it says what
    this analysis could have found. NaN when a group is empty or p0 is 0 or 1.
    """
    if not 0 <= p0 <= 1:
        raise ValueError("minimum_detectable_difference: p0 must lie in [0, 1]")
    if n1 <= 0 or n0 <= 0 or p0 in (0, 1):
        return math.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * math.sqrt(p0 * (1 - p0) * (1 / n1 + 1 / n0)))


def power_at_difference(delta: float, p0: float, n1: int, n0: int, alpha: float = 0.05) -> float:
    """Power of the two-sided test of two proportions to detect a declared difference ``delta`` at the
    actual group sizes (the inverse of :func:`minimum_detectable_difference`).

    ``Phi(|delta| / sqrt(p0 q0 (1/n1 + 1/n0)) - z_{1-a/2})`` (normal approximation, the comparison
    proportion's variance in both groups; the far tail is ignored). ``delta`` is declared before the
    results (``primary_outcome.relevant_difference``), never the observed difference: power for the
    observed difference only restates the p-value (Hoenig & Heisey 2001). NaN when a group is empty or
    p0 is 0 or 1.
    """
    if not 0 <= p0 <= 1:
        raise ValueError("power_at_difference: p0 must lie in [0, 1]")
    if not delta or not math.isfinite(delta):
        raise ValueError("power_at_difference: delta must be a non-zero finite difference")
    if n1 <= 0 or n0 <= 0 or p0 in (0, 1):
        return math.nan
    se = math.sqrt(p0 * (1 - p0) * (1 / n1 + 1 / n0))
    return float(stats.norm.cdf(abs(delta) / se - stats.norm.ppf(1 - alpha / 2)))
