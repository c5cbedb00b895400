"""Input checks and confidence intervals shared by the survival estimators.

Bad input raises ``ValueError`` naming the argument, the position (index
label) and the problem; nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

_CONF_TYPES = ("log-log", "log", "plain")


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


def _check_groups(groups: Any, n: int, index: pd.Index, name: str = "groups") -> np.ndarray:
    g = pd.Series(groups.to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups))
    if len(g) != n:
        raise ValueError(f"{name}: has {len(g)} values, expected {n} (one per row)")
    bad = g.isna().to_numpy()
    if bad.any():
        raise ValueError(f"{name}: missing group label at row {_first_bad(bad, index)!r}")
    return g.to_numpy(dtype=object)
