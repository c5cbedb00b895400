"""Recidivism estimates for one programme under one of three designs.

:class:`RecidivismAnalysis` turns validated tables into the recidivism
results table (:data:`evaluation.contract.results.RESULT_COLUMNS`): prevalence of
reoffending at 1 and 2 years (crude among people with the full horizon of
follow-up, and Kaplan-Meier based), cumulative incidence with death and
emigration as competing risks, frequency per person-year at risk with a
negative-binomial rate ratio, Cox hazard ratios (unadjusted and adjusted),
a proportional-hazards test, RMST at 730 days, the E-value (not for a
randomised design), a sensitivity hazard ratio on the at-risk clock
(``hazard_ratio_at_risk_clock``: days at liberty), and the subgroups the
study names, each with its 95% interval.

Designs and what they estimate
------------------------------
``rct``
    Randomised comparison: differences estimate the causal effect of being
    offered the programme (intention to treat); ``causal=True``. The
    unadjusted Cox HR is a marginal HR; the adjusted Cox HR a conditional one.
``matched`` with ``weighting="matching"``
    1:``ratio`` nearest-neighbour caliper matching on the logit PS
    (:func:`evaluation.stats.designs.match_nearest`); estimates describe the
    matched programme participants (ATT). Cox and rate models use matching
    weights and a robust SE clustered on the matched set (``subclass``;
    person id when matching with replacement); so do the weighted Kaplan-Meier
    curves, prevalences, their difference and the RMST difference (robust,
    infinitesimal-jackknife variance; docs/methods.md, section 'Survival
    estimators'). Unweighted designs (rct, descriptive) use Greenwood. The adjusted Cox model adds
    the covariates to the matched analysis (doubly robust in spirit, but its
    HR is conditional).
``matched`` with ``weighting="ipw"``
    ATT inverse-probability weights (:func:`evaluation.stats.designs.ipw_weights`),
    robust (sandwich) SE per person; Kaplan-Meier and RMST robust per person.
``descriptive``
    No comparison group: the programme's prevalence with its interval next to
    the user's reference rate (and interval); ``causal=False`` and the note
    says "not causal".

Causal labelling (decision)
---------------------------
For matching/IPW, ``causal`` is True only when after adjustment every
*supported* covariate column has ``|SMD| < 0.1`` and overlap is adequate (at
most 10% of participants outside the comparison PS range)
(:func:`evaluation.stats.designs.causal_judgement`). Levels with too little
support (fewer than 10 people) are pooled before the PS fit
(:func:`evaluation.stats.designs.pool_rare_levels`; ``ps_support_`` lists
them and a warning words them); their SMDs are shown in ``balance_`` but do
not decide. The note always states that the causal reading assumes no
unmeasured confounding (all common causes of taking part and reoffending are
among the intake covariates), which the data cannot check, followed by
``causal_reason_`` ("causal: all supported covariates balanced after
matching (max |SMD| 0.060)" or "not causal: imbalance after matching in
age_at_intake (SMD 0.140)"). See docs/methods.md, section 'Comparison groups
and designs'.

Subgroups (the study's questions; exploratory)
----------------------------------------------
Restorative justice: drug vs other index offences (the study finds RJ less
effective for drug offences); mentoring and peer mentoring: by risk level.
Each gives a Cox HR per subgroup and a Wald test of the programme x subgroup
interaction(s). COSA: the SPECIAL endpoint is a new *sexual* offence for
COSA programmes (whatever the index category), so COSA's sexual recidivism is
the SPECIAL rows of the results.

Gates (JDL)
-----------
Fewer than 60 programme participants: every row's note carries a warning and
:attr:`RecidivismAnalysis.warnings_` lists it. Fewer than 30 programme
participants with the event: time-to-event rows (hazard ratios, RMST,
Kaplan-Meier prevalence) get ``headline_eligible=False``.

References
----------
Ministry of Justice (2023). *Justice Data Lab: methodology paper.*
Wartna et al. (2011). *Recidivemonitor.* WODC.
Austin, P.C. (2014). The use of propensity score methods with survival or
time-to-event outcomes. *Statistics in Medicine* 33, 1242-1258.
VanderWeele, T.J. & Ding, P. (2017). Sensitivity analysis in observational
research: introducing the E-value. *Ann. Intern. Med.* 167, 268-274.
"""

from __future__ import annotations

import inspect
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analyses.primary import PrimaryOutcome, mark_roles, primary_outcome  # noqa: F401  (PrimaryOutcome re-exported)
from evaluation.analyses.recidivism_subgroups import SUBGROUPS, subgroup_rows  # noqa: F401  (re-exported)
from evaluation.contract.results import make_results
from evaluation.datasets.recidivism import COVARIATES, ENDPOINTS, recidivism_endpoints
from evaluation.stats import survival as sv
from evaluation.stats.designs import (
    adjust_design,
    check_design,
    covariates_used,
    describe_covariates,
    model_covariates,
    pool_rare_levels,
)
from evaluation.stats.proportions import (  # noqa: F401  (rate and power re-exported for callers)
    power_two_proportions,
    rate_per_person_year,
    weighted_proportion,
    wilson_interval,
)

MIN_PARTICIPANTS = 60
MIN_EVENTS = 30
AT_RISK_CLOCK = "hazard_ratio_at_risk_clock"
"""Estimand of the sensitivity analysis on the at-risk clock (Cox on ``time_at_risk``, never a headline)."""
NO_CONFOUNDING_NOTE = (
    "causal reading assumes no unmeasured confounding (all common causes of taking part and reoffending are "
    "among the intake covariates) and adequate overlap; estimand ATT"
)


def _tables(data: Any) -> tuple[Mapping[str, pd.DataFrame], list[dict]]:
    if hasattr(data, "tables"):
        return data.tables, list(getattr(data, "programmes", []) or [])
    if isinstance(data, Mapping):
        return data, []
    raise ValueError("RecidivismAnalysis.fit: pass a ValidationResult or a mapping of table name -> DataFrame")


def _protect_small_numbers(message: str) -> str:
    """Replace stand-alone counts 1-9 in a message by "<10" (messages can reach a report).

    A number after ``"= "`` is a value, not a count ("S(t) = 1 throughout"), and stays.
    """
    return re.sub(r"(?<![\w.:/-])(?<!= )([1-9])(?![\w.:/%-])", "<10", message)


class RecidivismAnalysis:
    """Recidivism evaluation of one programme (see the module docstring).

    Parameters
    ----------
    design : {"rct", "matched", "descriptive"}
    horizons : sequence of int
        Prevalence horizons in days (default 365 and 730).
    endpoints : sequence of str
        Endpoints from :data:`evaluation.datasets.recidivism.ENDPOINTS`.
    reference_rate, reference_ci : float, (float, float)
        Descriptive design: reference prevalence at ``reference_horizon`` days
        (a proportion) and its interval (optional).
    reference_horizon : int
        Horizon of the reference rate (default 365, the JDL one-year rate).
    reference_endpoint : str
        Endpoint the reference rate counts (default ``GENERAL``); the other
        endpoints get no reference rows.
    reference_source : str, optional
        Publication and population of the reference rate, repeated in the
        ``note`` of the reference rows.
    caliper_sd, replace, ratio : matching settings (0.2 SD of the logit PS,
        without replacement, 1:1).
    weighting : {"matching", "ipw"}
        Adjustment for design ``matched``.
    conf_level : float
    seed : int
        Used only for random tie-breaking order in matching (``order="random"``).
    serious_threshold_years, very_serious_threshold_years, count_start_day :
        Passed to :func:`evaluation.datasets.recidivism.recidivism_endpoints`.
    covariates : sequence of str
        Intake covariates for the PS and the adjusted Cox model.
    rmst_tau : int
        RMST horizon (default 730 days).
    programme_type : str, optional
        ``mentoring``, ``peer_mentoring``, ``cosa`` or ``restorative_justice``;
        taken from ``programmes.yaml`` when fit gets a ValidationResult.

    Attributes (after ``fit``)
    --------------------------
    results_ : DataFrame (RESULT_COLUMNS + ``headline_eligible``)
    dataset_ : DataFrame  ADTTE rows of the analysis population with
        ``weight`` and ``cluster`` (row-level: never publish)
    km_ : DataFrame  Kaplan-Meier tables by endpoint and group
    at_risk_ : DataFrame  numbers at risk (endpoint, group, time, n_risk)
    cif_ : DataFrame  cumulative incidence (endpoint, group, cause, time, estimate, ...)
    balance_, overlap_, ps_, ps_support_ : design diagnostics (None for rct/descriptive)
    causal_, causal_reason_ : the causal label and its short reason
    warnings_ : list of str
    """

    def __init__(
        self,
        design: str,
        horizons: Sequence[int] = (365, 730),
        endpoints: Sequence[str] = ENDPOINTS,
        reference_rate: float | None = None,
        reference_ci: Sequence[float] | None = None,
        reference_horizon: int = 365,
        reference_endpoint: str = "GENERAL",
        reference_source: str | None = None,
        caliper_sd: float = 0.2,
        replace: bool = False,
        ratio: int = 1,
        weighting: str = "matching",
        conf_level: float = 0.95,
        seed: int = 20260930,
        serious_threshold_years: float = 4,
        very_serious_threshold_years: float = 8,
        count_start_day: bool = False,
        covariates: Sequence[str] = COVARIATES,
        rmst_tau: int = 730,
        programme_type: str | None = None,
    ):
        if design not in ("rct", "matched", "descriptive"):
            raise ValueError(f"design must be 'rct', 'matched' or 'descriptive', not {design!r}")
        if weighting not in ("matching", "ipw"):
            raise ValueError(f"weighting must be 'matching' or 'ipw', not {weighting!r}")
        if reference_ci is not None and len(reference_ci) != 2:
            raise ValueError("reference_ci must be a pair (lower, upper)")
        if reference_rate is not None and reference_ci is not None and not (
                0 <= reference_ci[0] <= reference_rate <= reference_ci[1] <= 1):
            raise ValueError(f"reference_ci {tuple(reference_ci)} must contain reference_rate {reference_rate} "
                             "and lie within [0, 1]")
        if reference_rate is not None and reference_endpoint not in endpoints:
            raise ValueError(f"reference_endpoint {reference_endpoint!r} is not one of the endpoints {tuple(endpoints)}")
        self.design = design
        self.horizons = tuple(int(h) for h in horizons)
        if reference_rate is not None and int(reference_horizon) not in self.horizons:
            raise ValueError(f"reference_horizon {reference_horizon} is not one of the horizons {self.horizons}")
        self.endpoints = tuple(endpoints)
        self.reference_rate = reference_rate
        self.reference_ci = tuple(reference_ci) if reference_ci is not None else None
        self.reference_horizon = int(reference_horizon)
        self.reference_endpoint = reference_endpoint
        self.reference_source = reference_source
        self.caliper_sd = caliper_sd
        self.replace = replace
        self.ratio = ratio
        self.weighting = weighting
        self.conf_level = conf_level
        self.seed = seed
        self.serious_threshold_years = serious_threshold_years
        self.very_serious_threshold_years = very_serious_threshold_years
        self.count_start_day = count_start_day
        self.covariates = tuple(covariates)
        self.rmst_tau = rmst_tau
        self.programme_type = programme_type
        self._z = stats.norm.ppf(0.5 + conf_level / 2)

    # ------------------------------------------------------------------ fit
    def get_params(self) -> dict[str, Any]:
        """The settings given to the constructor (names as in :meth:`__init__`)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def fit(self, validated: Any, programme_id: str, cutoff_date: Any = None,
            config: Mapping[str, Any] | None = None, *, warn: bool = True) -> RecidivismAnalysis:
        """Derive the analysis dataset, adjust for the design and estimate; returns self.

        Parameters
        ----------
        validated : ValidationResult or mapping
            Typed tables ``participants``, ``justice_events``,
            ``detention_periods`` (see docs/ARCHITECTURE.md).
        programme_id : str
            A programme, or ``"all"`` for all programmes together.
        cutoff_date : date-like, optional
            Defaults to the ValidationResult's cutoff date.
        config : mapping, optional
            Settings (constructor arguments such as ``weighting`` or
            ``horizons``) that replace those given at construction, e.g. the
            registry's recidivism parameters.
        warn : bool
            Raise one UserWarning summarising ``warnings_`` (default). A
            caller that shows ``warnings_`` itself (the notebook) passes False.

        Counts of all programmes that would give a programme's ``"<10"``
        back by subtraction are withheld on publication, not here
        (:func:`evaluation.publish.recidivism_outputs.withhold_pooled_counts`).
        """
        if config:
            unknown = sorted(set(config) - set(self.get_params()))
            if unknown:
                raise ValueError(f"RecidivismAnalysis.fit: unknown setting(s) {unknown} in config")
            self.__init__(**{**self.get_params(), **dict(config)})
        data = validated
        tables, programmes = _tables(data)
        if cutoff_date is None:
            cutoff_date = getattr(data, "cutoff_date", None)
            if cutoff_date is None:
                raise ValueError("RecidivismAnalysis.fit: cutoff_date is required with plain tables")
        self.cutoff_date_ = pd.Timestamp(cutoff_date)
        self.programme_id = str(programme_id)
        ptype = self.programme_type
        for prog in programmes:
            if str(prog.get("programme_id")) == self.programme_id:
                ptype = ptype or prog.get("programme_type")
        self.programme_type_ = ptype
        self.primary_ = primary_outcome(programmes, self.programme_id)
        if self.primary_.declared and (self.primary_.horizon_days not in self.horizons
                                       or self.primary_.endpoint not in self.endpoints):
            raise ValueError(
                f"programmes.yaml, programme {self.programme_id!r}, field 'primary_outcome': endpoint "
                f"{self.primary_.endpoint} at {self.primary_.horizon_days} days is not among this analysis's "
                f"endpoints {self.endpoints} and horizons {self.horizons}")
        for name in ("participants", "justice_events"):
            if name not in tables:
                raise ValueError(f"RecidivismAnalysis.fit: table {name!r} is missing")
        parts = tables["participants"]
        if self.programme_id != "all":
            parts = parts[parts["programme_id"].astype(str) == self.programme_id]
        if parts.empty:
            raise ValueError(f"table 'participants': no rows for programme_id {self.programme_id!r}")
        if self.design == "descriptive":
            parts = parts[parts["group"] == "programme"]
        if self.design == "descriptive" and self.reference_rate is None:
            check_design(parts, "descriptive", reference_rate=0.0)  # checks the participants only
        else:
            check_design(parts, self.design, self.reference_rate)
        ids = set(parts["participant_id"].astype(str))
        ev = tables["justice_events"]
        ev = ev[ev["participant_id"].astype(str).isin(ids)]
        det = tables.get("detention_periods")
        if det is not None and len(det):
            det = det[det["participant_id"].astype(str).isin(ids)]
        if self.programme_id == "all":
            special = {str(p["programme_id"]): "sexual" for p in programmes if p.get("programme_type") == "cosa"}
        else:
            special = {self.programme_id: "sexual"} if ptype == "cosa" else None
        self.warnings_: list[str] = []
        if self.design == "descriptive" and self.reference_rate is None:
            self.warnings_.append("descriptive design without a reference rate: only the programme's own rates "
                                  "are reported")
        if self.programme_id == "all":
            self.warnings_.append("all programmes pooled: programme types differ; for matching the propensity "
                                  "model includes the programme, but comparison persons may come from another "
                                  "programme's pool")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = recidivism_endpoints(
                parts, ev, det, self.cutoff_date_, self.serious_threshold_years, self.very_serious_threshold_years,
                count_start_day=self.count_start_day, endpoints=self.endpoints, special_categories=special,
                participant_covariates_table=tables.get("participant_covariates"), extract=getattr(data, "extract", None),
            )
            self.model_covariates_ = model_covariates(self.covariates, ds)
            self._adjust(ds)
            self._estimate()
        self.results_ = mark_roles(self.results_, self.primary_)
        for c in caught:
            self.warnings_.append(str(c.message))
        self.warnings_ = [_protect_small_numbers(m) for m in dict.fromkeys(self.warnings_)]
        if self.warnings_ and warn:
            warnings.warn(
                f"RecidivismAnalysis ({self.programme_id}): {len(self.warnings_)} warning(s), see .warnings_: "
                + " | ".join(self.warnings_[:3]) + (" | ..." if len(self.warnings_) > 3 else ""),
                UserWarning, stacklevel=2,
            )
        return self

    # ------------------------------------------------------------ adjustment
    def _adjust(self, ds: pd.DataFrame) -> None:
        person = ds[ds["endpoint"] == self.endpoints[0]].set_index("participant_id")
        treated = person["group"] == "programme"
        covs = list(self.model_covariates_) + (["programme_id"] if self.programme_id == "all" else [])
        adj = adjust_design(person, covs, treated, self.design, self.weighting, caliper_sd=self.caliper_sd,
                            replace=self.replace, ratio=self.ratio, seed=self.seed,
                            no_confounding_note=NO_CONFOUNDING_NOTE)
        self.ps_, self.balance_, self.overlap_ = adj.ps, adj.balance, adj.overlap
        self.matching_, self.ps_support_ = adj.matching, adj.ps_support
        if adj.ps_covariates is not None:
            self.ps_covariates_ = adj.ps_covariates
        self.causal_, self.causal_reason_, self.causal_note_ = adj.causal, adj.causal_reason, adj.causal_note
        self.method_suffix_ = adj.method_suffix
        self.warnings_ += adj.warnings
        w, cluster = adj.weights, adj.cluster
        if self.design == "descriptive":
            self.causal_note_ = "not causal: programme participants compared with a reference rate"
        if self.programme_id == "all":
            self.causal_note_ = "; ".join(filter(None, [
                self.causal_note_, "all programmes pooled: an average over programmes of different types"]))
        keep = w > 0
        ds = ds[ds["participant_id"].map(keep).astype(bool)].copy()
        ds["weight"] = ds["participant_id"].map(w).astype(float)
        ds["cluster"] = ds["participant_id"].map(cluster).astype(str)
        ds["treated"] = (ds["group"] == "programme").astype(float)
        self.dataset_ = ds.reset_index(drop=True)
        self.n_programme_ = int((ds[ds["endpoint"] == self.endpoints[0]]["group"] == "programme").sum())
        self.n_comparison_ = int((ds[ds["endpoint"] == self.endpoints[0]]["group"] == "comparison").sum())
        if self.n_programme_ < MIN_PARTICIPANTS:
            self.warnings_.append(
                f"only {self.n_programme_} programme participants in the analysis (the Justice Data Lab requires at "
                f"least {MIN_PARTICIPANTS}): results are imprecise and indicative only"
            )

    # ------------------------------------------------------------ estimates
    def _base(self, endpoint: str, **kw) -> dict:
        note = self.causal_note_
        if self.n_programme_ < MIN_PARTICIPANTS:
            note = f"WARNING fewer than {MIN_PARTICIPANTS} participants; " + note
        extra = kw.pop("note", "")
        rec = {"programme_id": self.programme_id, "analysis": "recidivism", "endpoint": endpoint,
               "causal": bool(self.causal_), "note": "; ".join(filter(None, [note, extra])),
               "headline_eligible": True}
        rec.update(kw)
        return rec

    def _estimate(self) -> None:
        rows: list[dict] = []
        self._cif_rows: list[dict] = []
        km_parts, risk_parts, cif_parts = [], [], []
        ds = self.dataset_
        weighted = self.design == "matched"
        for endpoint in self.endpoints:
            e = ds[ds["endpoint"] == endpoint]
            prog_events = int(((e["group"] == "programme") & (e["cnsr"] == 0)).sum())
            tte_ok = prog_events >= MIN_EVENTS
            if not tte_ok:
                self.warnings_.append(
                    f"{endpoint}: {prog_events} programme participants reoffended (fewer than {MIN_EVENTS}): "
                    "time-to-event results are not headline results"
                )
            groups = ["programme"] if self.design == "descriptive" else ["programme", "comparison"]
            absent = [g for g in groups if not (e["group"] == g).any()]
            if absent:
                rows += self._empty_group_rows(e, endpoint, absent)
                continue
            durations = e["time"].to_numpy(float)
            event = (e["cnsr"] == 0).to_numpy(int)
            w = e["weight"].to_numpy(float)
            grp = e["group"].to_numpy(object)
            # Kaplan-Meier by group (weighted designs: robust variance, see _km_variance), numbers at risk
            variance, cluster, _ = self._km_variance(e)
            km = sv.kaplan_meier_by_group(durations, event, grp, weights=w if weighted else None,
                                          conf_level=self.conf_level, variance=variance, cluster=cluster)
            km_parts.append(km.assign(endpoint=endpoint))
            risk_times = np.arange(0, max(self.horizons) + 1, 90)
            risk_parts.append(sv.numbers_at_risk(durations, grp, risk_times).assign(endpoint=endpoint))
            kms = {}
            for g in groups:
                m = grp == g
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    kms[g] = sv.KaplanMeier(self.conf_level, variance=variance).fit(
                        durations[m], event[m], weights=w[m] if weighted else None, label=g,
                        cluster=None if cluster is None else cluster[m])
            # cumulative incidence with competing risks (death/emigration)
            cif_parts.append(self._cif(e, endpoint))
            for h in self.horizons:
                rows += self._prevalence_rows(e, endpoint, h, kms, groups, tte_ok)
            if self.design == "descriptive":
                rows += self._frequency_rows(e, endpoint, groups)
                continue
            rows += self._frequency_rows(e, endpoint, groups)
            rows += self._cox_rows(e, endpoint, tte_ok)
            rows += self._rmst_rows(e, endpoint, tte_ok)
        rows += self._cif_rows
        rows += subgroup_rows(self)
        res = make_results(rows)
        if "headline_eligible" not in res:
            res["headline_eligible"] = True
        res["headline_eligible"] = res["headline_eligible"].fillna(True).astype(bool)
        self.results_ = res
        self.km_ = pd.concat(km_parts, ignore_index=True) if km_parts else pd.DataFrame(
            columns=["group", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower",
                     "ci_upper", "endpoint"])
        self.at_risk_ = pd.concat(risk_parts, ignore_index=True) if risk_parts else pd.DataFrame(
            columns=["group", "time", "n_risk", "endpoint"])
        self.cif_ = pd.concat([c for c in cif_parts if c is not None], ignore_index=True) if any(
            c is not None for c in cif_parts) else pd.DataFrame()

    def _empty_group_rows(self, e: pd.DataFrame, endpoint: str, absent: list[str]) -> list[dict]:
        """Not-estimable rows for an endpoint whose analysis population lacks a group."""
        why = (f"not estimable: no {' and no '.join(absent)} persons in the analysis"
               + (" (no programme participant found a comparison person within the caliper)"
                  if self.design == "matched" and self.weighting == "matching" else ""))
        self.warnings_.append(f"{endpoint}: {why}")
        estimands = [f"prevalence_{h}d_{kind}" for h in self.horizons for kind in ("crude", "km")]
        if self.design != "descriptive":
            estimands += ["rate_ratio", "hazard_ratio", "hazard_ratio_adjusted", AT_RISK_CLOCK, f"rmst_{self.rmst_tau}d"]
        group = "programme" if self.design == "descriptive" else "difference"
        return [self._base(endpoint, estimand=est, group=group, n=len(e), events=int((e["cnsr"] == 0).sum()),
                           headline_eligible=False, note=why) for est in estimands]

    def _cif(self, e: pd.DataFrame, endpoint: str) -> pd.DataFrame | None:
        ci_cls = getattr(sv, "CumulativeIncidence", None)
        if ci_cls is None:
            self.warnings_.append("cumulative incidence not computed: survival.CumulativeIncidence is not available")
            return None
        code = np.select([e["cnsr"] == 0, e["cnsr"].isin([2, 3])], [1, 2], 0)
        if not (code == 1).any():
            self.warnings_.append(f"{endpoint}: no events, cumulative incidence not estimated")
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cif = ci_cls().fit(e["time"].to_numpy(float), code, cause=1, groups=e["group"].to_numpy(object))
        tab = cif.table_.copy()
        tab["endpoint"] = endpoint
        needs_weights = not np.allclose(e["weight"], 1.0) if self.design == "matched" else False
        caveat = ("Aalen-Johansen estimate without the matching/IPW weights: a description, not adjusted"
                  if needs_weights else "")
        if caveat:
            tab["note"] = caveat
        at = cif.at(list(self.horizons))
        n_by = e.groupby("group").size()
        groups = e["group"].to_numpy(object)
        times = e["time"].to_numpy(float)
        for r in at.itertuples():
            # new cases by the horizon: the estimate with its n would give them back (disclosure)
            k = int(((code == 1) & (times <= r.time) & (groups == r.group)).sum())
            self._cif_rows.append(self._base(
                endpoint, estimand=f"cumulative_incidence_{int(r.time)}d", group=r.group, estimate=r.estimate,
                ci_lower=r.ci_lower, ci_upper=r.ci_upper, n=int(n_by.get(r.group, 0)), events=k,
                method="Aalen-Johansen cumulative incidence, death and emigration competing (cmprsk::cuminc)",
                causal=bool(self.causal_) and not caveat, note=caveat))
        if len(cif.gray_test_):
            g = cif.gray_test_[cif.gray_test_["cause"] == 1].iloc[0]
            if not np.isfinite(g["statistic"]):
                self._cif_rows.append(self._base(
                    endpoint, estimand="gray_test", group="difference", n=len(e), events=int((code == 1).sum()),
                    method="Gray's test of equal cumulative incidence", headline_eligible=False,
                    causal=bool(self.causal_) and not caveat,
                    note="; ".join(filter(None, [caveat, "not estimable: singular variance in Gray's test"]))))
                return tab
            self._cif_rows.append(self._base(
                endpoint, estimand="gray_test", group="difference", estimate=float(g["statistic"]),
                p_value=float(g["p_value"]), n=len(e), events=int((code == 1).sum()),
                method=f"Gray's test of equal cumulative incidence, chi-square on {int(g['df'])} df",
                causal=bool(self.causal_) and not caveat, note=caveat, headline_eligible=False))
        return tab

    def _km_variance(self, e: pd.DataFrame) -> tuple[str, np.ndarray | None, str]:
        """Variance of the Kaplan-Meier and RMST estimates, its cluster column and its wording.

        Design ``matched`` (matching or IPW weights): the robust (infinitesimal
        jackknife) variance of R ``survfit(weights=, robust=TRUE)``, clustered
        on the matched set when matching without replacement and on the person
        otherwise, as the Cox model's robust SE; rct and descriptive: Greenwood.
        See docs/methods.md, sections 'Comparison groups and designs' and
        'Survival estimators'.
        """
        if self.design != "matched":
            return "greenwood", None, "Greenwood variance"
        if self.weighting == "matching" and not self.replace:
            return ("robust", e["cluster"].to_numpy(object),
                    "robust (infinitesimal jackknife) variance clustered on the matched set")
        return ("robust", e["participant_id"].astype(str).to_numpy(object),
                "robust (infinitesimal jackknife) variance clustered on the person")

    def _prevalence_rows(self, e, endpoint, h, kms, groups, tte_ok) -> list[dict]:
        rows = []
        var_text = self._km_variance(e)[2]
        full = (e["origin_date"] + pd.Timedelta(days=h)) <= e["obs_end_date"]  # cutoff or observation_end
        y = ((e["cnsr"] == 0) & (e["time"] <= h)).to_numpy(float)
        crude = {}
        for g in groups:
            m = (e["group"] == g).to_numpy() & full.to_numpy()
            wg = e["weight"].to_numpy(float)[m]
            p, se, neff = weighted_proportion(y[m], wg)
            if self.design == "matched" and not np.allclose(wg, 1):
                lo, hi = p - self._z * se, p + self._z * se
                meth = "weighted proportion, Wald interval with Kish effective n"
            else:
                lo, hi = wilson_interval(y[m].sum(), m.sum(), self.conf_level)
                meth = "proportion, Wilson interval"
            crude[g] = (p, se, int(m.sum()), int(y[m].sum()))
            rows.append(self._base(endpoint, estimand=f"prevalence_{h}d_crude", group=g, estimate=p,
                                   ci_lower=lo, ci_upper=hi, n=int(m.sum()), events=int(y[m].sum()),
                                   method=f"{meth}; people with {h} days of potential follow-up before the cutoff "
                                          "(deaths/emigrations without a new case count as not reoffended)"))
            km = kms[g].survival_at([h]).iloc[0]
            rows.append(self._base(endpoint, estimand=f"prevalence_{h}d_km", group=g, estimate=1 - km["estimate"],
                                   ci_lower=1 - km["ci_upper"], ci_upper=1 - km["ci_lower"],
                                   n=int((e["group"] == g).sum()), events=int(((e["group"] == g) & (y == 1)).sum()),
                                   method=("1 - weighted Kaplan-Meier" if self.design == "matched" else
                                           "1 - Kaplan-Meier") + f" at horizon, {var_text}, log-log interval",
                                   headline_eligible=tte_ok))
        if self.design == "descriptive":
            if (self.reference_rate is not None and h == self.reference_horizon
                    and endpoint == self.reference_endpoint):
                rows += self._reference_rows(endpoint, h, crude["programme"])
            return rows
        (p1, se1, n1, k1), (p0, se0, n0, k0) = crude["programme"], crude["comparison"]
        d = p1 - p0
        se = math.sqrt(se1**2 + se0**2)
        pval = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else np.nan
        rows.append(self._base(endpoint, estimand=f"prevalence_{h}d_crude", group="difference", estimate=d,
                               ci_lower=d - self._z * se, ci_upper=d + self._z * se, p_value=pval, n=n1 + n0,
                               events=k1 + k0, method="difference of proportions, Wald interval"
                               + (" (weighted, Kish effective n)" if self.design == "matched" else ""), se=se))
        # (1 - S_1) - (1 - S_0) = -(S_1 - S_0); the SE accounts for matched sets spanning both groups
        sd = sv.survival_difference(kms["programme"], kms["comparison"], h, self.conf_level)
        dk, sek = -sd["estimate"], sd["se"]
        pk = float(2 * stats.norm.sf(abs(dk) / sek)) if sek > 0 else np.nan
        rows.append(self._base(endpoint, estimand=f"prevalence_{h}d_km", group="difference", estimate=dk,
                               ci_lower=dk - self._z * sek, ci_upper=dk + self._z * sek, p_value=pk,
                               n=len(e), events=int(y.sum()),
                               method=("difference of 1 - weighted Kaplan-Meier, " if self.design == "matched"
                                       else "difference of 1 - Kaplan-Meier, ") + f"{var_text}, Wald interval",
                               headline_eligible=tte_ok, se=sek))
        return rows

    def _reference_rows(self, endpoint, h, crude) -> list[dict]:
        p, se, n, k = crude
        ref = float(self.reference_rate)
        rows = []
        if self.reference_ci is not None:
            rlo, rhi = self.reference_ci
            se_ref = (rhi - rlo) / (2 * self._z)
        else:
            rlo = rhi = np.nan
            se_ref = 0.0
        note = "not causal: " + (
            "reference rate from another population; differences may reflect who takes part, not the programme"
        ) + (f"; reference: {self.reference_source}" if self.reference_source else "")
        rows.append(self._base(endpoint, estimand=f"prevalence_{h}d_crude", group="reference", estimate=ref,
                               ci_lower=rlo, ci_upper=rhi, method="user-supplied reference rate", causal=False,
                               note=note))
        d = p - ref
        sed = math.sqrt(se**2 + se_ref**2)
        pval = float(2 * stats.norm.sf(abs(d) / sed)) if sed > 0 else np.nan
        rows.append(self._base(endpoint, estimand=f"prevalence_{h}d_crude", group="difference_vs_reference",
                               estimate=d, ci_lower=d - self._z * sed, ci_upper=d + self._z * sed, p_value=pval,
                               n=n, events=k, causal=False, note=note + (
                                   "" if self.reference_ci is not None else
                                   "; reference rate taken as exact (no interval given)"),
                               method="programme proportion minus reference rate, Wald interval"))
        return rows

    def _frequency_rows(self, e, endpoint, groups) -> list[dict]:
        rows = []
        years = e["exposure_days"].to_numpy(float) / 365.25
        counts = e["n_events"].to_numpy(float)
        w = e["weight"].to_numpy(float)
        for g in groups:
            m = (e["group"] == g).to_numpy()
            r, lo, hi = rate_per_person_year(counts[m], years[m], w[m], self.conf_level)
            rows.append(self._base(endpoint, estimand="cases_per_person_year", group=g, estimate=r, ci_lower=lo,
                                   ci_upper=hi, n=int(m.sum()), events=int(counts[m].sum()),
                                   method="cases per person-year at risk (detention days excluded), ratio "
                                          "estimator with robust SE"))
        if self.design == "descriptive":
            return rows
        nb = getattr(sv, "negative_binomial_rate_ratio", None)
        if nb is None:
            rows.append(self._base(endpoint, estimand="rate_ratio", group="difference", note="not estimated: "
                                   "survival.negative_binomial_rate_ratio is not available", headline_eligible=False))
            return rows
        ok = years > 0
        tr = e["treated"].to_numpy(float)
        few = min(counts[ok & (tr == 1)].sum(), counts[ok & (tr == 0)].sum())
        if few < 10:
            rows.append(self._base(endpoint, estimand="rate_ratio", group="difference", n=int(ok.sum()),
                                   events=int(counts[ok].sum()), headline_eligible=False,
                                   note="not estimated: fewer than 10 new cases in a group (negative binomial "
                                        "model unstable)"))
            return rows
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rr = nb(counts[ok], years[ok], e["treated"].to_numpy(float)[ok],
                        weights=w[ok] if self.design == "matched" else None,
                        cluster=e["cluster"].to_numpy()[ok] if self.design == "matched" else None)
            for c in caught:
                self.warnings_.append(f"{endpoint} rate ratio: {c.message}")
            rec = rr.iloc[0].to_dict()
            base = self._base(endpoint, estimand="rate_ratio", group="difference")
            base.update({k: rec[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value", "method") if k in rec})
            base["n"], base["events"] = int(ok.sum()), int(counts[ok].sum())
            if rec.get("note"):
                base["note"] = f"{base['note']}; {rec['note']}"
            if (~ok).any():
                base["note"] += f"; {int((~ok).sum())} person(s) with no time at risk left out"
            rows.append(base)
        except (ValueError, np.linalg.LinAlgError) as exc:
            rows.append(self._base(endpoint, estimand="rate_ratio", group="difference",
                                   note=f"not estimable: {exc}", headline_eligible=False))
        return rows

    def _cox(self, e: pd.DataFrame, covs: list[str], X: pd.DataFrame | None = None, time_col: str = "time"):
        df = pd.DataFrame({"time": e[time_col].to_numpy(float), "event": (e["cnsr"] == 0).to_numpy(int),
                           "treated": e["treated"].to_numpy(float), "weight": e["weight"].to_numpy(float),
                           "cluster": e["cluster"].to_numpy()})
        if X is not None:
            for c in X.columns:
                df[c] = X[c].to_numpy(float)
        weighted = self.design == "matched"
        cluster = "cluster" if (weighted and not (self.weighting == "matching" and self.replace)) else None
        if weighted and self.weighting == "matching" and self.replace:
            df["cluster"] = e["participant_id"].to_numpy()
            cluster = "cluster"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = sv.CoxModel(conf_level=self.conf_level).fit(
                df, "time", "event", covs, weights_col="weight" if weighted else None, cluster_col=cluster,
                robust=True if weighted else None)
        return model, [str(c.message) for c in caught]

    def _cox_rows(self, e, endpoint, tte_ok) -> list[dict]:
        rows = []
        if e[e["cnsr"] == 0]["treated"].nunique() < 2:
            return [self._base(endpoint, estimand=est, group="difference", headline_eligible=False,
                               n=len(e), events=int((e["cnsr"] == 0).sum()),
                               note="not estimable: no events in one of the groups")
                    for est in ("hazard_ratio", "hazard_ratio_adjusted", AT_RISK_CLOCK)]
        design_note = "" if not self.method_suffix_ else f" after {self.method_suffix_}"
        try:
            cox, msgs = self._cox(e, ["treated"])
            rec = cox.to_results("treated", **self._base(endpoint, estimand="hazard_ratio",
                                                         headline_eligible=tte_ok)).iloc[0].to_dict()
            rec["method"] += design_note + ("; marginal HR" if self.design != "rct" else "")
            rows.append(rec)
            if bool(cox.estimable_["treated"]):
                rows += self._ph_rows(cox, endpoint)
                rows += self._evalue_rows(rec, endpoint, float((e["cnsr"] == 0).mean()))
            else:
                rec["headline_eligible"] = False
        except (ValueError, np.linalg.LinAlgError) as exc:
            rows.append(self._base(endpoint, estimand="hazard_ratio", group="difference",
                                   note=f"not estimable: {exc}", headline_eligible=False))
        rows.append(self._at_risk_clock_row(e, endpoint, design_note))
        # the adjusted model pools rare levels as the propensity model does (a level held by a few
        # people, or by one group only, otherwise separates); see docs/methods.md,
        # section 'Comparison groups and designs'.
        X, _support = pool_rare_levels(e.reset_index(drop=True), self.model_covariates_,
                                       e["treated"].to_numpy(float) == 1)
        X.index = e.index
        used = covariates_used(X.columns, self.model_covariates_)
        X.columns = [f"x{i}" for i in range(X.shape[1])]
        try:
            cox_a, msgs = self._cox(e, ["treated", *X.columns], X)
            rec = cox_a.to_results("treated", **self._base(endpoint, estimand="hazard_ratio_adjusted",
                                                           headline_eligible=tte_ok)).iloc[0].to_dict()
            rec["method"] += design_note + f"; adjusted for {describe_covariates(used, getattr(self, 'ps_covariates_', None))} (conditional HR)"
            if not bool(cox_a.estimable_["treated"]):
                rec["headline_eligible"] = False
            if msgs:
                rec["note"] += "; " + _protect_small_numbers("; ".join(sorted(set(msgs))))[:300]
            rows.append(rec)
        except (ValueError, np.linalg.LinAlgError) as exc:
            rows.append(self._base(endpoint, estimand="hazard_ratio_adjusted", group="difference",
                                   note=f"not estimable: {exc}", headline_eligible=False))
        return rows

    def _ph_rows(self, cox, endpoint) -> list[dict]:
        if not hasattr(cox, "ph_test"):
            return [self._base(endpoint, estimand="ph_test", group="difference", headline_eligible=False,
                               note="proportional-hazards test not available in survival.CoxModel")]
        ph = cox.ph_test()
        r = ph[ph["term"] == "treated"].iloc[0]
        if not np.isfinite(r["statistic"]):
            return [self._base(endpoint, estimand="ph_test", group="difference", headline_eligible=False,
                               note="not estimable: singular information in the proportional-hazards test")]
        return [self._base(endpoint, estimand="ph_test", group="difference", estimate=float(r["statistic"]),
                           p_value=float(r["p_value"]), method="Grambsch-Therneau test (cox.zph, KM transform), "
                           "chi-square statistic", headline_eligible=False,
                           note=("hazards may not be proportional: read the HR as an average over follow-up"
                                 if r["p_value"] < 0.05 else ""))]

    def _at_risk_clock_row(self, e, endpoint, design_note) -> dict:
        """Sensitivity analysis: the hazard ratio on the at-risk clock (``time_at_risk``, days at liberty),
        same design, weights and clusters as the main one; never a headline (docs/methods.md, section
        'Recidivism measures', item 'Time scale of time-to-event estimates')."""
        note = "sensitivity analysis: time at risk (days in detention not counted)"
        try:
            cox, _ = self._cox(e, ["treated"], time_col="time_at_risk")
            rec = cox.to_results("treated", **self._base(endpoint, estimand=AT_RISK_CLOCK, note=note,
                                                         headline_eligible=False)).iloc[0].to_dict()
            rec["method"] += design_note + "; at-risk clock" + ("; marginal HR" if self.design != "rct" else "")
            return rec
        except (ValueError, np.linalg.LinAlgError) as exc:
            return self._base(endpoint, estimand=AT_RISK_CLOCK, group="difference", headline_eligible=False,
                              note=f"{note}; not estimable: {exc}")

    def _evalue_rows(self, rec, endpoint, share_events) -> list[dict]:
        """E-value of the hazard ratio and, in its own row (``e_value_ci``), of the interval limit closest to 1.

        None for a randomised design: the E-value measures sensitivity to unmeasured confounding, which
        randomisation rules out (docs/methods.md, section 'Survival estimators', item 'E-value').
        """
        ev = getattr(sv, "e_value", None)
        if self.design == "rct" or ev is None or not np.isfinite(rec["estimate"]):
            return []
        rare = share_events < 0.15
        v = ev(rec["estimate"], rec["ci_lower"], rec["ci_upper"], rare_outcome=rare)
        conv = "" if rare else ", HR converted to RR for a common outcome"
        return [self._base(endpoint, estimand="e_value", group="difference", estimate=v["e_value"],
                           method="E-value for the hazard ratio (VanderWeele & Ding 2017)" + conv,
                           headline_eligible=False),
                self._base(endpoint, estimand="e_value_ci", group="difference", estimate=v["e_value_ci"],
                           method="E-value for the confidence limit of the hazard ratio closest to 1 (1 when the "
                                  "interval includes 1; VanderWeele & Ding 2017)" + conv,
                           headline_eligible=False)]

    def _rmst_rows(self, e, endpoint, tte_ok) -> list[dict]:
        weighted = self.design == "matched"
        variance, cluster, _ = self._km_variance(e)
        cluster_name = None
        if cluster is not None:
            cluster_name = "the matched set" if self.weighting == "matching" and not self.replace else "the person"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                r = sv.rmst_difference(e["time"].to_numpy(float), (e["cnsr"] == 0).to_numpy(int),
                                       e["group"].to_numpy(object), self.rmst_tau,
                                       weights=e["weight"].to_numpy(float) if weighted else None,
                                       conf_level=self.conf_level, variance=variance, cluster=cluster,
                                       cluster_name=cluster_name)
        except ValueError as exc:
            return [self._base(endpoint, estimand=f"rmst_{self.rmst_tau}d", group="difference",
                               note=f"not estimable: {exc}", headline_eligible=False)]
        out = []
        for rec in r.to_dict("records"):
            base = self._base(endpoint, headline_eligible=tte_ok)
            note = "; ".join(filter(None, [base["note"], rec.get("note", "")]))
            rec.update({k: base[k] for k in ("programme_id", "analysis", "endpoint", "causal", "headline_eligible")})
            rec["note"] = note
            out.append(rec)
        return out

    # ------------------------------------------------------------ helpers
    def headline_numbers(self, endpoint: str | None = None, horizon: int | None = None) -> dict:
        """Numbers the JDL headline needs (:func:`headline_numbers` of ``results_``); by default those
        of the primary outcome (``primary_``)."""
        p = self.primary_
        if endpoint is None and horizon is None:
            return headline_numbers(self.results_, endpoint=p.endpoint, horizon=p.horizon_days,
                                    design=self.design, estimator=p.estimator)
        return headline_numbers(self.results_, endpoint=endpoint or "GENERAL", horizon=horizon or 365,
                                design=self.design)


def headline_numbers(results: pd.DataFrame, endpoint: str = "GENERAL", horizon: int = 365,
                     design: str | None = None, estimator: str | None = None) -> dict:
    """Pick the numbers for the headline from a recidivism results table.

    With ``estimator`` (``"crude"`` or ``"kaplan_meier"``, the primary
    outcome's; docs/methods.md, section 'Primary outcome') that estimator's
    rows. Without it (exploration by hand): the crude prevalence (people with
    the full horizon of follow-up) when at least 60 programme participants
    have it, else the Kaplan-Meier prevalence (everyone) unless that row is
    not ``headline_eligible`` (fewer than 30 reoffending participants: then
    the crude one). The ``source`` key records which. The sentences are made
    by :func:`evaluation.publish.headline.jdl_headline`.

    Returns
    -------
    dict with ``p_programme, p_comparison, difference, ci_lower, ci_upper,
    p_value, n_programme, n_comparison, reference_rate, reference_ci,
    source, design, horizon, causal``.
    """
    r = results[(results["endpoint"] == endpoint)]
    if design is None:
        design = "descriptive" if (r["group"] == "reference").any() else "comparison"
    out = {"design": design, "horizon": horizon}
    crude = r[r["estimand"] == f"prevalence_{horizon}d_crude"].set_index("group")
    km = r[r["estimand"] == f"prevalence_{horizon}d_km"].set_index("group")
    if "programme" not in crude.index:
        raise ValueError(f"headline: no prevalence_{horizon}d rows for endpoint {endpoint!r} in the results")
    if estimator not in (None, "crude", "kaplan_meier"):
        raise ValueError(f"headline: estimator {estimator!r} is not 'crude' or 'kaplan_meier'")
    if estimator == "kaplan_meier" and "programme" not in km.index:
        raise ValueError(f"headline: no prevalence_{horizon}d_km rows for endpoint {endpoint!r} in the results")
    km_ok = "programme" in km.index and bool(km.loc["programme"].get("headline_eligible", True))
    if estimator is None:
        use_crude = float(crude.loc["programme", "n"]) >= MIN_PARTICIPANTS or not km_ok
    else:
        use_crude = estimator == "crude"
    tab = crude if use_crude else km
    out["source"] = "crude" if use_crude else "kaplan_meier"
    out["p_programme"] = float(tab.loc["programme", "estimate"])
    out["ci_programme"] = (float(tab.loc["programme", "ci_lower"]), float(tab.loc["programme", "ci_upper"]))
    out["n_programme"] = int(crude.loc["programme", "n"]) if use_crude else int(km.loc["programme", "n"])
    out["causal"] = bool(tab.loc["programme", "causal"])
    if "reference" in crude.index:
        ref = crude.loc["reference"]
        out["reference_rate"] = float(ref["estimate"])
        out["reference_ci"] = (float(ref["ci_lower"]), float(ref["ci_upper"]))
        out["causal"] = False
        return out
    if "comparison" in tab.index:
        out["p_comparison"] = float(tab.loc["comparison", "estimate"])
        out["n_comparison"] = int(tab.loc["comparison", "n"])
        d = tab.loc["difference"]
        out.update(difference=float(d["estimate"]), ci_lower=float(d["ci_lower"]), ci_upper=float(d["ci_upper"]),
                   p_value=float(d["p_value"]), causal=bool(d["causal"]))
    return out
