"""Re-integration outcomes: self-sufficiency (ZRM) change, goals, circumstances and peer mentors' own outcomes.

:class:`ReintegrationAnalysis` turns the re-integration frames
(:func:`evaluation.datasets.reintegration.reintegration_frames`) into results rows with the fixed
columns (``analysis="reintegration"``, ``endpoint="<instrument>:<domain>"``, ``goals:<domain>``,
``circumstances:<measure>`` or ``peer_mentor``) plus ``missing_data`` ("complete_case" /
"ipw_observation") and ``estimable``. Definitions, estimands, the missing-data approach and what is
causal: docs/methods.md, section 'Re-integration outcomes'.

Estimands per instrument domain and group
-----------------------------------------
``share_sufficient_intake``, ``share_sufficient_end`` (score >= ``sufficient_from``, Wilson);
``share_improved_end`` (end - intake >= 1, Wilson); ``mean_change_end``, ``mean_change_follow_up``
(paired mean change from intake, t interval; also with inverse-probability-of-observation weights);
``share_missing_end``, ``share_missing_follow_up`` (among those due, Wilson);
``ancova_difference_end`` / ``_follow_up`` (group difference in the end score at equal intake score,
under the recidivism design: :func:`evaluation.stats.designs.adjust_design`);
``change_per_contact_hour``, ``change_per_match_month`` (association, never causal).
Goals: ``share_goals_achieved``, ``share_goals_achieved_or_partly`` (cluster-adjusted Wilson).
Circumstances: ``share_positive_intake``, ``share_positive_follow_up``.
Peer mentors: ``peer_mentor_new_case_1y`` (Kaplan-Meier), ``peer_mentor_work_start``,
``peer_mentor_work_latest`` and, when given, ``peer_mentor_reference_rate``.

References
----------
Lauriks, S. et al. (2010). *Zelfredzaamheid-Matrix.* GGD Amsterdam.
Ministry of Justice (2023). *Justice Data Lab: methodology paper.*
Seaman, S.R. & White, I.R. (2013). Review of inverse probability weighting for dealing with missing
data. *Statistical Methods in Medical Research* 22, 278-295.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analyses.recidivism import _protect_small_numbers
from evaluation.contract.results import SUPPRESSION_THRESHOLD, make_results
from evaluation.datasets.recidivism import COVARIATES
from evaluation.stats import survival as sv
from evaluation.stats.designs import adjust_design, design_matrix
from evaluation.stats.proportions import wilson_interval
from evaluation.stats.regression import (
    NotEstimableError,
    clustered_proportion,
    fit_logit,
    fit_ols,
    predict_logit,
)

ANALYSIS = "reintegration"
OCCASIONS = ("end", "follow_up")
NO_CONFOUNDING_NOTE = (
    "causal reading assumes no unmeasured confounding (all common causes of taking part and of the change in "
    "self-sufficiency are among the intake covariates and the intake score) and adequate overlap; estimand ATT"
)
SMALL_NOTE = f"fewer than {SUPPRESSION_THRESHOLD} people: imprecise, indicative only"
DOSE_NOTE = "association, not an effect"
REFERENCE_NOTE = "published reference, not a comparison group"
FRAME_FIELDS = ("scores", "goals", "circumstances", "peer_mentors", "excluded")


def _tables(data: Any) -> tuple[Mapping[str, pd.DataFrame], list[dict]]:
    if hasattr(data, "tables"):
        return data.tables, list(getattr(data, "programmes", []) or [])
    if isinstance(data, Mapping):
        return data, []
    raise ValueError("ReintegrationAnalysis.fit: pass a ValidationResult or a mapping of table name -> DataFrame")


def _frames_from(tables: Mapping[str, pd.DataFrame], programme_id: str, cutoff_date: Any,
                 extract: Mapping | None) -> Any:
    """The re-integration frames of :func:`evaluation.datasets.reintegration.reintegration_frames` (the seam
    tests replace with hand-made frames)."""
    # why: helper DATA's module of issue 19, imported where used so that this module loads before it is merged
    from evaluation.datasets import reintegration as ri  # why: see above
    return ri.reintegration_frames(tables, programme_id, cutoff_date, extract)


def _frame(frames: Any, name: str) -> pd.DataFrame:
    got = frames.get(name) if isinstance(frames, Mapping) else getattr(frames, name, None)
    return pd.DataFrame() if got is None else got


def _count(k: int) -> str:
    """A count of people for a note: "fewer than 10" for 1-9 (notes can reach a report)."""
    return str(k) if k == 0 or k >= SUPPRESSION_THRESHOLD else f"fewer than {SUPPRESSION_THRESHOLD}"


def _t_mean(x: np.ndarray, conf_level: float) -> tuple[float, float, float, float]:
    """Mean, t interval and the p-value of mean = 0."""
    n = len(x)
    if n == 0:
        return (np.nan,) * 4
    m = float(np.mean(x))
    if n < 2:
        return m, np.nan, np.nan, np.nan
    se = float(np.std(x, ddof=1) / math.sqrt(n))
    if se == 0:
        return m, m, m, np.nan
    q = stats.t.ppf(0.5 + conf_level / 2, n - 1)
    return m, m - q * se, m + q * se, float(2 * stats.t.sf(abs(m / se), n - 1))


class ReintegrationAnalysis:
    """Re-integration evaluation of one programme (see the module docstring).

    Parameters
    ----------
    design : {"rct", "matched", "descriptive"}
        As the recidivism analysis; the comparison (ANCOVA) rows need ``rct`` or ``matched``.
    weighting, caliper_sd, replace, ratio, seed :
        Matching settings for ``matched`` (as :class:`evaluation.analyses.recidivism.RecidivismAnalysis`).
    covariates : sequence of str
        Person covariates for the propensity model, the ANCOVA of matched designs and the missingness model.
    reference_rate : float, optional
        Published 1-year rate of a new case for people released from probation (peer mentors' reference).
    reference_source : str, optional
        Where ``reference_rate`` comes from (in the row's note).
    horizon_days : int
        Horizon of the peer mentors' new-case probability (default 365).
    conf_level : float

    Attributes (after ``fit``)
    --------------------------
    results_ : DataFrame (RESULT_COLUMNS + ``missing_data``, ``estimable``, ``n_due``)
    tables_ : dict of DataFrame: ``missingness_model`` (odds ratios), ``balance`` (per endpoint),
        ``excluded`` (rows the frame builder could not use)
    warnings_ : list of str

    See docs/methods.md, section 'Re-integration outcomes'.
    """

    def __init__(
        self,
        design: str = "descriptive",
        weighting: str = "matching",
        caliper_sd: float = 0.2,
        replace: bool = False,
        ratio: int = 1,
        seed: int = 20260930,
        covariates: Sequence[str] = COVARIATES,
        reference_rate: float | None = None,
        reference_source: str | None = None,
        horizon_days: int = 365,
        conf_level: float = 0.95,
    ):
        if design not in ("rct", "matched", "descriptive"):
            raise ValueError(f"design must be 'rct', 'matched' or 'descriptive', not {design!r}")
        if weighting not in ("matching", "ipw"):
            raise ValueError(f"weighting must be 'matching' or 'ipw', not {weighting!r}")
        if reference_rate is not None and not 0 <= float(reference_rate) <= 1:
            raise ValueError(f"reference_rate must be a proportion in [0, 1], not {reference_rate!r}")
        if not 0 < conf_level < 1:
            raise ValueError(f"conf_level must lie in (0, 1), not {conf_level!r}")
        self.design = design
        self.weighting = weighting
        self.caliper_sd = caliper_sd
        self.replace = replace
        self.ratio = ratio
        self.seed = seed
        self.covariates = tuple(covariates)
        self.reference_rate = reference_rate
        self.reference_source = reference_source
        self.horizon_days = int(horizon_days)
        self.conf_level = conf_level

    def get_params(self) -> dict[str, Any]:
        """The settings given to the constructor (names as in :meth:`__init__`)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    # ------------------------------------------------------------------ fit
    def fit(self, validated: Any, programme_id: str, cutoff_date: Any = None,
            config: Mapping[str, Any] | None = None, *, warn: bool = True) -> ReintegrationAnalysis:
        """Build the frames from validated tables and estimate; returns self.

        ``config`` replaces constructor settings (e.g. the registry's parameters). See docs/methods.md,
        section 'Re-integration outcomes'.
        """
        if config:
            unknown = sorted(set(config) - set(self.get_params()))
            if unknown:
                raise ValueError(f"ReintegrationAnalysis.fit: unknown setting(s) {unknown} in config")
            self.__init__(**{**self.get_params(), **dict(config)})
        tables, programmes = _tables(validated)
        if self.reference_rate is None and str(programme_id) != "all":
            # the programme's own published reference for peer mentors (programmes.yaml), when given
            for prog in programmes:
                ref = prog.get("peer_mentor_reference_rate") if str(prog.get("programme_id")) == str(programme_id) \
                    else None
                if ref:
                    self.reference_rate, self.reference_source = float(ref["rate"]), str(ref["source"])
        if cutoff_date is None:
            cutoff_date = getattr(validated, "cutoff_date", None)
            if cutoff_date is None:
                raise ValueError("ReintegrationAnalysis.fit: cutoff_date is required with plain tables")
        frames = _frames_from(tables, str(programme_id), pd.Timestamp(cutoff_date),
                              getattr(validated, "extract", None))
        return self.fit_frames(frames, programme_id, warn=warn)

    def fit_frames(self, frames: Any, programme_id: str, *, warn: bool = True) -> ReintegrationAnalysis:
        """Estimate from re-integration frames (a ReintegrationFrames or a mapping with its fields)."""
        self.programme_id = str(programme_id)
        self.warnings_: list[str] = []
        self._rows: list[dict] = []
        self._miss_tables: list[pd.DataFrame] = []
        self._balance: list[pd.DataFrame] = []
        scores = _frame(frames, "scores")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if len(scores):
                for (instrument, domain), part in scores.groupby(["instrument", "domain"], sort=True):
                    self._domain(f"{instrument}:{domain}", part.reset_index(drop=True))
            self._goals(_frame(frames, "goals"))
            self._circumstances(_frame(frames, "circumstances"))
            self._peer_mentors(_frame(frames, "peer_mentors"))
        for c in caught:
            self.warnings_.append(str(c.message))
        self.results_ = make_results(self._rows) if self._rows else make_results([]).assign(
            missing_data=pd.Series(dtype=object), estimable=pd.Series(dtype=bool), n_due=pd.Series(dtype=float))
        self.tables_ = {
            "missingness_model": pd.concat(self._miss_tables, ignore_index=True) if self._miss_tables else
            pd.DataFrame(columns=["endpoint", "occasion", "term", "odds_ratio", "ci_lower", "ci_upper",
                                  "p_value", "n", "n_observed", "note"]),
            "balance": pd.concat(self._balance, ignore_index=True) if self._balance else pd.DataFrame(),
            "excluded": _frame(frames, "excluded"),
        }
        self.warnings_ = [_protect_small_numbers(m) for m in dict.fromkeys(self.warnings_)]
        if self.warnings_ and warn:
            warnings.warn(f"ReintegrationAnalysis ({self.programme_id}): {len(self.warnings_)} warning(s), see "
                          ".warnings_: " + " | ".join(self.warnings_[:3]), UserWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------ row helpers
    def _add(self, estimand: str, endpoint: str, group: str, estimate: float = np.nan, ci_lower: float = np.nan,
             ci_upper: float = np.nan, p_value: float = np.nan, n: int = 0, method: str = "", causal: bool = False,
             note: str = "", missing_data: str = "", events: float = np.nan,
             n_due: float = np.nan, not_estimable: str = "") -> None:
        notes = [note]
        if not_estimable:
            estimate = ci_lower = ci_upper = p_value = np.nan
            notes.append(f"not estimable: {not_estimable}")
        elif 0 < n < SUPPRESSION_THRESHOLD:
            notes.append(SMALL_NOTE)
        self._rows.append({
            "programme_id": self.programme_id, "analysis": ANALYSIS, "estimand": estimand, "endpoint": endpoint,
            "group": group, "estimate": estimate, "ci_lower": ci_lower, "ci_upper": ci_upper, "p_value": p_value,
            "n": int(n), "events": events, "method": method, "causal": bool(causal) and not not_estimable,
            "note": "; ".join(filter(None, notes)), "missing_data": missing_data, "estimable": not not_estimable,
            "n_due": n_due,
        })

    def _share(self, estimand: str, endpoint: str, group: str, y: np.ndarray, method: str = "", **kw) -> None:
        y = np.asarray(y, dtype=float)
        y = y[~np.isnan(y)]
        n, x = len(y), float(np.sum(y))
        if n == 0:
            self._add(estimand, endpoint, group, n=0, method=method or "share, Wilson interval",
                      not_estimable=kw.pop("why", "nobody with this value"), **kw)
            return
        kw.pop("why", None)
        lo, hi = wilson_interval(x, n, self.conf_level)
        self._add(estimand, endpoint, group, x / n, lo, hi, n=n, events=x,
                  method=method or "share, Wilson score interval", **kw)

    # ------------------------------------------------------------ domains
    def _groups(self, part: pd.DataFrame) -> list[str]:
        if self.design == "descriptive":
            return ["programme"]
        return ["programme", "comparison"]

    def _domain(self, endpoint: str, part: pd.DataFrame) -> None:
        suff = float(part["sufficient_from"].iloc[0])
        part = part[part["baseline"].notna()]
        weights_obs = {occ: self._observation_weights(endpoint, occ, part) for occ in OCCASIONS}
        for group in self._groups(part):
            g = part[part["group"] == group]
            if g.empty:
                for est in ("share_sufficient_intake", "mean_change_end", "share_improved_end"):
                    self._add(est, endpoint, group, not_estimable=f"no {group} persons with an intake score")
                continue
            base = g["baseline"].to_numpy(float)
            self._share("share_sufficient_intake", endpoint, group, (base >= suff).astype(float),
                        note=f"sufficient = score {suff:g} or higher")
            for occ in OCCASIONS:
                val = g[occ].to_numpy(float)
                due = g[f"{occ}_due"].astype(bool).to_numpy()
                n_due = int(due.sum())
                self._share(f"share_missing_{occ}", endpoint, group, np.where(due, np.isnan(val), np.nan),
                            method="share of those due without the assessment, Wilson score interval",
                            n_due=n_due, why="nobody due by the cutoff")
                obs = ~np.isnan(val)
                change = (val - base)[obs]
                m, lo, hi, p = _t_mean(change, self.conf_level)
                why = "nobody with the assessment" if not len(change) else ""
                self._add(f"mean_change_{occ}", endpoint, group, m, lo, hi, p, n=len(change),
                          method=f"paired mean change intake -> {occ.replace('_', '-')}, t interval",
                          n_due=n_due, not_estimable=why, missing_data="complete_case",
                          note="complete case: everyone with the assessment")
                self._ipw_mean(endpoint, occ, group, g, weights_obs[occ], n_due)
                if occ == "end":
                    self._share("share_improved_end", endpoint, group,
                                np.where(obs, (val - base) >= 1, np.nan), n_due=n_due, missing_data="complete_case",
                                note="improved = at least one level higher at the end than at intake",
                                why="nobody with an end assessment")
                    self._share("share_sufficient_end", endpoint, group, np.where(obs, val >= suff, np.nan),
                                n_due=n_due, missing_data="complete_case", note=f"sufficient = score {suff:g} or higher",
                                why="nobody with an end assessment")
        adj = self._adjust(endpoint, part)
        for occ in OCCASIONS:
            self._ancova(endpoint, occ, part, weights_obs[occ], adj)
        self._dose(endpoint, part)

    def _covariate_matrix(self, df: pd.DataFrame) -> pd.DataFrame:
        covs = [c for c in self.covariates if c in df.columns]
        return design_matrix(df, covs) if covs else pd.DataFrame(index=df.index)

    def _observation_weights(self, endpoint: str, occ: str, part: pd.DataFrame) -> pd.Series | str:
        """1 / P(observed | group, intake score, covariates) for the observed among those due (Seaman & White
        2013), or the reason why none; the fitted model's odds ratios go to ``tables_["missingness_model"]``."""
        due = part[part[f"{occ}_due"].astype(bool)]
        if due.empty:
            return "nobody due by the cutoff"
        observed = due[occ].notna().astype(float)
        if observed.all():
            return pd.Series(1.0, index=due.index[observed.astype(bool)])
        if not observed.any():
            return "nobody due has the assessment"
        base = pd.DataFrame({"const": 1.0, "baseline": due["baseline"].astype(float)}, index=due.index)
        if due["group"].nunique() > 1:
            base.insert(1, "group[comparison]", (due["group"] == "comparison").astype(float))
        full = pd.concat([base, self._covariate_matrix(due)], axis=1)
        fit, errors, used_label, Xused = None, [], "", full
        for X, label in ((full, ""), (base, "covariates left out of the missingness model")):
            try:
                fit = fit_logit(X, observed)
                Xused, used_label = X, label
                break
            except NotEstimableError as exc:
                errors.append(str(exc))
        if fit is None:
            self.warnings_.append(f"{endpoint} {occ}: missingness model not estimable ({errors[-1]})")
            return f"missingness model not estimable ({errors[-1]})"
        note = f"{used_label} ({errors[0]})" if used_label else ""
        if note:
            self.warnings_.append(f"{endpoint} {occ}: {note}")
        tab = fit.tidy(exponentiate=True).rename(columns={"estimate": "odds_ratio"}).drop(columns="se")
        tab = tab[tab["term"] != "const"]
        tab.insert(0, "occasion", occ)
        tab.insert(0, "endpoint", endpoint)
        tab["n_observed"] = int(observed.sum())
        tab["note"] = note
        self._miss_tables.append(tab)
        p = pd.Series(predict_logit(fit, Xused), index=due.index)
        obs_idx = due.index[observed.astype(bool)]
        return 1.0 / p.loc[obs_idx]

    def _ipw_mean(self, endpoint: str, occ: str, group: str, g: pd.DataFrame, w: pd.Series | str,
                  n_due: int) -> None:
        method = (f"paired mean change intake -> {occ.replace('_', '-')}, IPW for missing follow-up "
                  "(weights 1/P(observed | group, intake score, covariates)), robust (HC1) t interval")
        if isinstance(w, str):
            self._add(f"mean_change_{occ}", endpoint, group, n=0, method=method, missing_data="ipw_observation",
                      n_due=n_due, not_estimable=w)
            return
        idx = g.index.intersection(w.index)
        if len(idx) < 2:
            self._add(f"mean_change_{occ}", endpoint, group, n=len(idx), method=method,
                      missing_data="ipw_observation", n_due=n_due,
                      not_estimable="fewer than 2 people due with the assessment")
            return
        change = (g.loc[idx, occ] - g.loc[idx, "baseline"]).to_numpy(float)
        try:
            r = fit_ols(np.ones((len(idx), 1)), change, weights=w.loc[idx].to_numpy(), cov_type="HC1").tidy().iloc[0]
        except NotEstimableError as exc:
            self._add(f"mean_change_{occ}", endpoint, group, n=len(idx), method=method,
                      missing_data="ipw_observation", n_due=n_due, not_estimable=str(exc))
            return
        self._add(f"mean_change_{occ}", endpoint, group, r["estimate"], r["ci_lower"], r["ci_upper"],
                  r["p_value"], n=len(idx), method=method, missing_data="ipw_observation", n_due=n_due,
                  note="among those due; the weights' estimation is ignored in the SE (conservative)")

    def _adjust(self, endpoint: str, part: pd.DataFrame) -> Any:
        """The design adjustment of one domain's people (:func:`evaluation.stats.designs.adjust_design`), or the
        reason why there is none (a str)."""
        if self.design == "descriptive":
            return "no comparison group"
        absent = [g for g in ("programme", "comparison") if not (part["group"] == g).any()]
        if absent:
            return f"no {' and no '.join(absent)} persons with an intake score"
        person = part.set_index("participant_id", drop=False)
        covs = [c for c in self.covariates if c in person.columns] + ["baseline"]
        if self.programme_id == "all" and person["programme_id"].nunique() > 1:
            covs.append("programme_id")
        try:
            adj = adjust_design(person, covs, person["group"] == "programme", self.design, self.weighting,
                                caliper_sd=self.caliper_sd, replace=self.replace, ratio=self.ratio, seed=self.seed,
                                no_confounding_note=NO_CONFOUNDING_NOTE)
        except ValueError as exc:
            return f"design adjustment: {exc}"
        self.warnings_ += [f"{endpoint}: {m}" for m in adj.warnings]
        if adj.balance is not None:
            self._balance.append(adj.balance.assign(endpoint=endpoint))
        return adj

    def _ancova(self, endpoint: str, occ: str, part: pd.DataFrame, w_obs: pd.Series | str, adj: Any) -> None:
        estimand = f"ancova_difference_{occ}"
        if isinstance(adj, str):
            self._add(estimand, endpoint, "difference", n=len(part), missing_data="complete_case",
                      not_estimable=adj)
            return
        person = part.set_index("participant_id", drop=False)
        treated = person["group"] == "programme"
        wd = adj.weights.to_numpy(float)
        cl = adj.cluster.astype(str).to_numpy()
        y = person[occ].to_numpy(float)
        base = pd.DataFrame({"const": 1.0, "treated": treated.astype(float).to_numpy(),
                             "baseline": person["baseline"].to_numpy(float)})
        X = base
        if self.design == "matched":
            X = pd.concat([base, self._covariate_matrix(person).reset_index(drop=True)], axis=1)
        design_txt = "randomised, unweighted" if self.design == "rct" else adj.method_suffix
        cov_type = "HC3" if self.design == "rct" else "CR1"
        se_txt = ("HC3 robust SE" if self.design == "rct" else
                  "cluster-robust SE (CR1) on the matched set" if self.weighting == "matching" and not self.replace
                  else "cluster-robust SE (CR1) per person")
        for kind in ("complete_case", "ipw_observation"):
            if kind == "complete_case":
                keep = ~np.isnan(y) & (wd > 0)
                w = wd
            else:
                if isinstance(w_obs, str):
                    self._add(estimand, endpoint, "difference", missing_data=kind, not_estimable=w_obs,
                              method="ANCOVA, IPW for missing follow-up")
                    continue
                wo = np.zeros(len(person))
                pos = {ix: i for i, ix in enumerate(part.index)}
                for ix, val in w_obs.items():
                    wo[pos[ix]] = val
                w = wd * wo
                keep = ~np.isnan(y) & (w > 0)
            n = int(keep.sum())
            method = (f"ANCOVA of the {occ.replace('_', '-')} score on group and intake score"
                      + (" and covariates" if X.shape[1] > 3 else "") + f", {design_txt}, {se_txt}"
                      + (", IPW for missing follow-up" if kind == "ipw_observation" else ""))
            fit, note = None, ""
            for XX in ((X, base) if X.shape[1] > 3 else (X,)):
                try:
                    fit = fit_ols(XX[keep], y[keep], weights=w[keep], cov_type=cov_type, cluster=cl[keep])
                    if XX is base and X.shape[1] > 3:
                        note = "covariates left out of the ANCOVA (not estimable with them)"
                        method = method.replace(" and covariates", "")
                    break
                except NotEstimableError as exc:
                    note = str(exc)
            if fit is None:
                self._add(estimand, endpoint, "difference", n=n, method=method, missing_data=kind,
                          not_estimable=note)
                continue
            r = fit.row("treated")
            self._add(estimand, endpoint, "difference", r["estimate"], r["ci_lower"], r["ci_upper"],
                      r["p_value"], n=n, method=method, causal=adj.causal, missing_data=kind,
                      note="; ".join(filter(None, [adj.causal_note, note])))

    def _dose(self, endpoint: str, part: pd.DataFrame) -> None:
        g = part[(part["group"] == "programme") & part["end"].notna()]
        for col, estimand, unit in (("contact_hours", "change_per_contact_hour", "contact hour"),
                                    ("match_months", "change_per_match_month", "month of the match")):
            method = (f"OLS of the change intake -> end on {unit}s and intake score, cluster-robust SE (CR1) "
                      "by volunteer")
            if col not in g.columns:
                self._add(estimand, endpoint, "programme", method=method, not_estimable=f"no {col} in the data")
                continue
            d = g[g[col].notna()]
            X = pd.DataFrame({"const": 1.0, col: d[col].to_numpy(float), "baseline": d["baseline"].to_numpy(float)})
            try:
                fit = fit_ols(X, (d["end"] - d["baseline"]).to_numpy(float), cov_type="CR1",
                              cluster=d["cluster"].astype(str).to_numpy())
            except (NotEstimableError, ValueError) as exc:
                self._add(estimand, endpoint, "programme", n=len(d), method=method, causal=False, note=DOSE_NOTE,
                          not_estimable=str(exc))
                continue
            r = fit.row(col)
            self._add(estimand, endpoint, "programme", r["estimate"], r["ci_lower"], r["ci_upper"], r["p_value"],
                      n=len(d), method=method, causal=False, note=DOSE_NOTE, missing_data="complete_case")

    # ------------------------------------------------------------ goals, circumstances, peer mentors
    def _goals(self, goals: pd.DataFrame) -> None:
        if goals.empty:
            return
        rev = goals[goals["reviewed"].astype(bool)]
        domains = sorted(goals["domain"].astype(str).unique())
        for domain in ["all", *domains]:
            d = rev if domain == "all" else rev[rev["domain"].astype(str) == domain]
            for estimand, ok in (("share_goals_achieved", ("achieved",)),
                                 ("share_goals_achieved_or_partly", ("achieved", "partly"))):
                method = ("share of reviewed goals, Wilson interval on the cluster-adjusted effective n "
                          "(goals cluster within people)")
                if d.empty:
                    self._add(estimand, f"goals:{domain}", "programme", method=method,
                              not_estimable="no reviewed goals")
                    continue
                r = clustered_proportion(d["status"].isin(ok).astype(float), d["participant_id"].astype(str),
                                         self.conf_level)
                self._add(estimand, f"goals:{domain}", "programme", r["estimate"], r["ci_lower"], r["ci_upper"],
                          n=len(d), events=float(d["status"].isin(ok).sum()), method=method,
                          note=f"{_count(d['participant_id'].nunique())} people; n counts goals")

    def _circumstances(self, circ: pd.DataFrame) -> None:
        if circ.empty:
            return
        for measure, m in circ.groupby("measure", sort=True):
            for group in self._groups(m):
                g = m[m["group"] == group]
                due = g["follow_up_due"].astype(bool) if "follow_up_due" in g else pd.Series(True, g.index)
                n_due = int(due.sum())
                ep = f"circumstances:{measure}"
                self._share("share_positive_intake", ep, group, g["intake_positive"].to_numpy(float),
                            why=f"no {group} persons with an intake value")
                fu = g["follow_up_positive"].where(due).to_numpy(float)
                n_obs = int(np.sum(~np.isnan(fu)))
                self._share("share_positive_follow_up", ep, group, fu, n_due=n_due, missing_data="complete_case",
                            note=f"complete case: {_count(n_obs)} of {_count(n_due)} due have a follow-up value",
                            why="nobody due with a follow-up value")

    def _peer_mentors(self, pm: pd.DataFrame) -> None:
        ep, h = "peer_mentor", self.horizon_days
        if pm.empty and self.reference_rate is None:
            return
        method = f"Kaplan-Meier 1 - S({h} days) from the start of volunteering, Greenwood, log-log interval"
        est = "peer_mentor_new_case_1y"
        if pm.empty:
            self._add(est, ep, "programme", method=method, not_estimable="no peer mentors with consented outcomes")
        else:
            km = sv.KaplanMeier(conf_level=self.conf_level).fit(pm["time"].to_numpy(float),
                                                               pm["event"].to_numpy(int))
            s = km.survival_at([h]).iloc[0]
            if np.isnan(s["estimate"]):
                self._add(est, ep, "programme", n=len(pm), method=method,
                          not_estimable=f"nobody followed for {h} days yet")
            else:
                self._add(est, ep, "programme", 1 - s["estimate"], 1 - s["ci_upper"], 1 - s["ci_lower"],
                          n=len(pm), events=float(pm["event"].sum()), method=method,
                          note="own new justice cases of consenting volunteers with lived experience")
            self._share("peer_mentor_work_start", ep, "programme", pm["work_at_start"].to_numpy(float),
                        note="paid work or education within 90 days of the start",
                        why="no work status near the start")
            self._share("peer_mentor_work_latest", ep, "programme", pm["work_latest"].to_numpy(float),
                        note="paid work or education at the latest observation", why="no work status recorded")
        if self.reference_rate is not None:
            self._add("peer_mentor_reference_rate", ep, "reference", float(self.reference_rate), method="given",
                      causal=False, note="; ".join(filter(None, [REFERENCE_NOTE, self.reference_source])))
