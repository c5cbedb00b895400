"""The primary outcome of a programme: the one recidivism measure its headline, costs and synthesis use.

A programme declares it in ``programmes.yaml`` (``primary_outcome``: endpoint,
horizon, estimator and optionally the smallest relevant difference). Without a
declaration the default follows the WODC Recidivemonitor: general reoffending,
prevalence within two years among people with two years of follow-up (crude),
programme minus comparison, with the Wald interval and test of that difference.
Every other measure of the recidivism report is *secondary*: it is published
with its interval and p-value but never called "significant" in a sentence.

See docs/methods.md, section 'Primary outcome'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

ESTIMATORS = {"crude": "crude", "kaplan_meier": "km"}
HORIZONS = (365, 730)
ENDPOINTS = ("GENERAL", "SERIOUS", "VERY_SERIOUS", "SPECIAL", "CUSTODIAL")


@dataclass(frozen=True)
class PrimaryOutcome:
    """One programme's primary outcome (docs/methods.md, section 'Primary outcome').

    Attributes
    ----------
    endpoint : str
        ADTTE endpoint code (``GENERAL`` by default).
    horizon_days : int
        365 or 730 (default, WODC).
    estimator : {"crude", "kaplan_meier"}
        Crude prevalence among people with the full horizon of follow-up
        (default, WODC) or 1 - Kaplan-Meier at the horizon.
    relevant_difference : float or None
        Smallest difference in the share reoffending that matters (0-1).
    declared : bool
        True when ``programmes.yaml`` declares it; False for the default.
    """

    endpoint: str = "GENERAL"
    horizon_days: int = 730
    estimator: str = "crude"
    relevant_difference: float | None = None
    declared: bool = False

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"primary_outcome: endpoint {self.endpoint!r} is not one of {ENDPOINTS}")
        if self.horizon_days not in HORIZONS:
            raise ValueError(f"primary_outcome: horizon_days {self.horizon_days!r} is not 365 or 730")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"primary_outcome: estimator {self.estimator!r} is not 'crude' or 'kaplan_meier'")
        rd = self.relevant_difference
        if rd is not None and not (0 < float(rd) <= 1):
            raise ValueError(f"primary_outcome: relevant_difference {rd!r} is not a share in (0, 1]")

    @property
    def estimand(self) -> str:
        """The results estimand, e.g. ``prevalence_730d_crude``."""
        return f"prevalence_{self.horizon_days}d_{ESTIMATORS[self.estimator]}"

    def as_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "horizon_days": self.horizon_days, "estimator": self.estimator,
                "relevant_difference": self.relevant_difference, "declared": self.declared,
                "estimand": self.estimand}


def from_entry(entry: Mapping[str, Any] | None) -> PrimaryOutcome:
    """The primary outcome of one ``programmes.yaml`` entry (the WODC default when it declares none).

    Raises ValueError naming the programme and field when the declaration is
    invalid (the validator's JSON Schema catches this first; the check here
    protects a hand-built entry).
    """
    entry = entry or {}
    spec = entry.get("primary_outcome")
    if not spec:
        return PrimaryOutcome()
    if not isinstance(spec, Mapping):
        raise ValueError(f"programmes.yaml, programme {entry.get('programme_id')!r}, field 'primary_outcome': "
                         "expected a mapping with endpoint, horizon_days, estimator")
    unknown = sorted(set(spec) - {"endpoint", "horizon_days", "estimator", "relevant_difference"})
    if unknown:
        raise ValueError(f"programmes.yaml, programme {entry.get('programme_id')!r}, field 'primary_outcome': "
                         f"unknown key(s) {unknown}")
    try:
        rd = spec.get("relevant_difference")
        return PrimaryOutcome(endpoint=str(spec.get("endpoint", "GENERAL")),
                              horizon_days=int(spec.get("horizon_days", 730)),
                              estimator=str(spec.get("estimator", "crude")),
                              relevant_difference=None if rd is None else float(rd), declared=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"programmes.yaml, programme {entry.get('programme_id')!r}, field 'primary_outcome': "
                         f"{exc}") from None


def primary_outcome(programmes: Iterable[Mapping[str, Any]] | None, programme_id: str) -> PrimaryOutcome:
    """The primary outcome of ``programme_id``; for ``"all"`` the one every programme shares.

    All programmes together get the common declaration when every programme
    declares the same one (relevant difference aside), else the WODC default.
    """
    entries = [p for p in (programmes or []) if isinstance(p, Mapping)]
    if str(programme_id) != "all":
        for p in entries:
            if str(p.get("programme_id")) == str(programme_id):
                return from_entry(p)
        return PrimaryOutcome()
    outs = {(o.endpoint, o.horizon_days, o.estimator) for o in (from_entry(p) for p in entries)}
    if len(outs) == 1:
        endpoint, horizon, estimator = outs.pop()
        declared = any(p.get("primary_outcome") for p in entries)
        return PrimaryOutcome(endpoint, horizon, estimator, declared=declared)
    return PrimaryOutcome()


def mark_roles(results: pd.DataFrame, primary: PrimaryOutcome, analysis: str = "recidivism") -> pd.DataFrame:
    """Add the ``role`` column: ``primary`` for the rows of the primary outcome, else ``secondary``.

    Rows of other analyses (not ``analysis``) get an empty role. The primary
    rows are the programme, comparison, reference and difference rows of the
    primary estimand at the primary endpoint.
    """
    out = results.copy()
    if out.empty:
        out["role"] = pd.Series(dtype=object)
        return out
    mine = out["analysis"].astype(str) == analysis
    is_primary = (mine & (out["estimand"].astype(str) == primary.estimand)
                  & (out["endpoint"].astype(str) == primary.endpoint)
                  & out["group"].astype(str).isin(["programme", "comparison", "reference", "difference",
                                                   "difference_vs_reference"]))
    out["role"] = ""
    out.loc[mine, "role"] = "secondary"
    out.loc[is_primary, "role"] = "primary"
    return out


def primary_rows(results: pd.DataFrame, group: str = "difference") -> pd.DataFrame:
    """The ``role == "primary"`` rows of ``group`` (one per programme), from a results table with roles."""
    if "role" not in results.columns or results.empty:
        return results.iloc[0:0]
    r = results[(results["role"].astype(str) == "primary")]
    return r[r["group"].astype(str) == group] if group is not None else r
