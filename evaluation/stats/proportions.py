"""Intervals for proportions, shared by every module that reports a share."""

from __future__ import annotations

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
