"""Cox models of retention: volunteers stopping and matches ending early.

Counting-process and landmark Cox models (docs/methods.md, section 'Retention')
on the datasets of :mod:`evaluation.datasets.retention`, returned
as :data:`evaluation.contract.results.RESULT_COLUMNS` rows with a
Grambsch-Therneau test of proportional hazards. Nothing here is causal:
volunteers are not randomised to training or supervision, so every row carries
``causal = False``.

References
----------
Therneau T, Crowson C, Atkinson E (2024). Using time dependent covariates and
time dependent coefficients in the Cox model. R survival vignette.
Anderson JR, Cain KC, Gelber RD (1983). Analysis of survival by tumor
response. J Clin Oncol 1:710-719 (landmark analysis).
Prentice RL et al. (1978). The analysis of failure times in the presence of
competing risks. Biometrics 34:541-554.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD, make_results, volunteer_count
from evaluation.datasets.retention import (
    DAYS_PER_MONTH,
    _bool01,
    _cutoff,
    _first_support_dates,
    _require_columns,
    landmark_dataset,
    volunteer_tenure,
)
from evaluation.stats import survival as sv

SMALL_N = 30
"""Below this many units (or events) an estimate carries a small-sample warning."""


def _design(
    df: pd.DataFrame,
    covariates: Sequence[str],
    categorical: Mapping[str, str] | None = None,
    min_level_size: int = SUPPRESSION_THRESHOLD,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Numeric design columns for a Cox model, with complete cases only.

    Booleans become 0/1; each categorical in ``categorical`` (name -> reference
    level) becomes indicator columns ``name[level]``, with levels of fewer than
    ``min_level_size`` units pooled into ``name[other_small]``. Returns the data,
    the design column names and notes (pooled levels, dropped incomplete rows).
    """
    categorical = dict(categorical or {})
    d = df.copy()
    terms: list[str] = []
    notes: list[str] = []
    for c in covariates:
        if c not in d.columns:
            raise ValueError(f"covariate {c!r} is not a column of the analysis dataset")
        if c in categorical:
            ref = categorical[c]
            lev = d[c].astype(object)
            unit_counts = lev.value_counts()
            small = [x for x, k in unit_counts.items() if k < min_level_size and x != ref]
            if small:
                lev = lev.where(~lev.isin(small), "other_small")
                notes.append(f"{c}: levels {', '.join(sorted(map(str, small)))} (fewer than {min_level_size} rows) pooled")
            if ref not in set(lev.dropna()):
                ref = lev.value_counts().index[0] if lev.notna().any() else ref
                notes.append(f"{c}: reference level {ref!r}")
            for level in sorted(set(lev.dropna()) - {ref}, key=str):
                name = f"{c}[{level}]"
                d[name] = np.where(lev.isna(), np.nan, (lev == level).astype(float))
                terms.append(name)
        else:
            col = d[c]
            if str(col.dtype) == "boolean" or col.dtype == bool:
                d[c] = _bool01(col)
            else:
                d[c] = pd.to_numeric(col, errors="raise").astype(float)
            terms.append(c)
    incomplete = d[terms].isna().any(axis=1)
    if incomplete.any():
        notes.append(f"{int(incomplete.sum())} row(s) with a missing covariate left out (complete-case analysis)")
        warnings.warn(
            f"{int(incomplete.sum())} row(s) have a missing covariate and are left out of the Cox model",
            UserWarning,
            stacklevel=3,
        )
        d = d.loc[~incomplete]
    # constant columns cannot be estimated
    constant = [t for t in terms if d[t].nunique() < 2]
    if constant:
        notes.append(f"constant covariate(s) {', '.join(constant)} left out")
        terms = [t for t in terms if t not in constant]
    return d, terms, notes


def _cox_rows(
    model: Any,
    terms: Sequence[str],
    programme_id: str,
    analysis: str,
    endpoint: str,
    method: str,
    notes: Sequence[str],
    n_units: int,
) -> pd.DataFrame:
    rows = []
    summ = model.summary_.set_index("term")
    small = model.events_ < SMALL_N
    for t in terms:
        r = summ.loc[t]
        note = list(notes)
        if small:
            note.append(f"only {int(model.events_)} events: imprecise, read as exploratory")
        note.append("observational association, not a causal effect")
        # |log HR| > 20: the likelihood is monotone (no stops in one level), the estimate is an artefact;
        # the fitter marks monotone, aliased (singular) and unconverged coefficients not estimable, and
        # near-separation (fewer than five events at a value of a 0/1 covariate, a degenerate interval)
        why = str(r.get("reason", "") or "")
        degenerate = bool(why) or not np.isfinite(float(r["coef"])) or abs(float(r["coef"])) > 20
        if degenerate:
            note.append(why if why and why != sv.NOT_ESTIMABLE_MONOTONE else
                        "not estimable: the likelihood is monotone (no events in one level of this covariate)")
        rows.append(
            {
                "programme_id": programme_id,
                "analysis": analysis,
                "estimand": "hazard_ratio",
                "endpoint": endpoint,
                "group": t,
                "estimate": np.nan if degenerate else float(r["hazard_ratio"]),
                "ci_lower": np.nan if degenerate else float(r["ci_lower"]),
                "ci_upper": np.nan if degenerate else float(r["ci_upper"]),
                "p_value": np.nan if degenerate else float(r["p_value"]),
                "n": n_units,
                "events": int(model.events_),
                "method": method,
                "causal": False,
                "note": "; ".join(note),
                # a hazard ratio that is not given is not given back through its log either
                "coef": np.nan if degenerate else float(r["coef"]),
                "se": np.nan if degenerate else (
                    float(r["robust_se"]) if np.isfinite(r.get("robust_se", np.nan)) else float(r["se"])),
            }
        )
    try:
        ph = model.ph_test()
    except Exception as exc:  # PH test can fail on tiny data; say so rather than hide it
        rows.append(
            {
                "programme_id": programme_id,
                "analysis": analysis,
                "estimand": "ph_test",
                "endpoint": endpoint,
                "group": "GLOBAL",
                "n": n_units,
                "method": "cox.zph (transform='km')",
                "causal": False,
                "note": f"proportional-hazards test not computable: {exc}",
            }
        )
    else:
        for _, r in ph.iterrows():
            rows.append(
                {
                    "programme_id": programme_id,
                    "analysis": analysis,
                    "estimand": "ph_test",
                    "endpoint": endpoint,
                    "group": str(r["term"]),
                    "estimate": float(r["statistic"]),
                    "p_value": float(r["p_value"]),
                    "n": n_units,
                    "events": int(model.events_),
                    "method": "Grambsch-Therneau test, cox.zph (transform='km')",
                    "causal": False,
                    "note": "p < 0.05 suggests the hazard ratio changes over time" if r["p_value"] < 0.05 else "",
                }
            )
    return make_results(rows)


def stopping_cox(
    episodes: pd.DataFrame,
    covariates: Sequence[str] = (
        "lived_experience",
        "recruitment_channel",
        "basic_training",
        "supervision",
        "recognition",
    ),
    channel_reference: str = "local_network",
    programme_id: str = "all",
    min_level_size: int = SUPPRESSION_THRESHOLD,
    conf_level: float = 0.95,
    strata_col: str | None = "programme_id",
) -> tuple[Any, pd.DataFrame]:
    """Cox model of volunteers stopping on the retention mechanisms.

    Estimand: hazard ratios of stopping for lived experience, recruitment
    channel (against ``channel_reference``), and the time-varying mechanisms
    basic training, supervision and recognition (on from their first date),
    each adjusted for the others. Counting-process rows from
    :func:`volunteer_episodes`; Efron ties; a separate baseline hazard per
    programme when there are several (``strata_col``: programmes differ both
    in how long volunteers stay and in how they train them, so comparing
    within programmes avoids confounding by programme); robust standard
    errors clustered on volunteer (as R ``coxph(Surv(start, stop, event) ~
    ... + strata(programme_id), cluster = id)``).

    Assumptions: proportional hazards (checked with the Grambsch-Therneau test,
    rows ``estimand == "ph_test"``); no unmeasured confounding for a causal
    reading, which observational data cannot guarantee (``causal = False``);
    independent censoring at the cutoff.

    Returns
    -------
    (CoxModel, DataFrame)
        The fitted model and the RESULT_COLUMNS rows (hazard ratios and PH test).
    """
    _require_columns(episodes, "volunteer_episodes", ["volunteer_id", "start", "stop", "event"])
    cat = {"recruitment_channel": channel_reference} if "recruitment_channel" in covariates else {}
    d, terms, notes = _design(episodes, covariates, cat, min_level_size=min_level_size)
    if not terms or d["event"].sum() == 0:
        raise ValueError("volunteer_episodes: no events or no estimable covariates for the Cox model")
    st = strata_col if strata_col in d.columns and d[strata_col].nunique() > 1 else None
    model = sv.CoxModel(conf_level=conf_level).fit(
        d, duration_col="stop", event_col="event", covariates=terms, entry_col="start", cluster_col="volunteer_id",
        strata_col=st,
    )
    res = _cox_rows(
        model,
        terms,
        programme_id,
        "retention",
        "VOLUNTEER_STOP",
        "Cox PH, counting process (time-varying support), Efron ties"
        + (f", stratified by {st}" if st else "") + ", robust SE by volunteer",
        notes,
        int(d["volunteer_id"].nunique()),
    )
    return model, res


def training_landmark(
    volunteers: pd.DataFrame,
    volunteer_support: pd.DataFrame,
    cutoff_date: Any,
    landmark_months: float = 3,
    mechanism: str = "basic_training",
    adjust_for: Sequence[str] = ("lived_experience",),
    programme_id: str = "all",
) -> pd.DataFrame:
    """Landmark analysis: trained by the landmark vs not, among volunteers active then.

    Estimand: hazard ratio of stopping after the landmark (default 3 months)
    for volunteers who had ``mechanism`` by the landmark against those who had
    not, among volunteers still active at the landmark (Anderson et al. 1983).
    Support after the landmark is ignored (the exposure is fixed at the
    landmark), which avoids immortal-time bias at the price of misclassifying
    late-trained volunteers as untrained.
    """
    cutoff = _cutoff(cutoff_date)
    ten = volunteer_tenure(volunteers, cutoff)
    first = _first_support_dates(volunteer_support, cutoff)[mechanism]
    lm = landmark_dataset(ten, first, landmark_months * DAYS_PER_MONTH, exposure_name=f"{mechanism}_by_landmark")
    covs = [f"{mechanism}_by_landmark", *[c for c in adjust_for if c in lm.columns]]
    d, terms, notes = _design(lm, covs)
    notes.append(
        f"landmark at {landmark_months:g} months: {volunteer_count(lm.attrs['excluded_before_landmark'])} "
        "who stopped or were censored before it are not in this analysis"
    )
    if not terms or d["event"].sum() == 0 or f"{mechanism}_by_landmark" not in terms:
        return make_results(
            [
                {
                    "programme_id": programme_id,
                    "analysis": "retention",
                    "estimand": "hazard_ratio_landmark",
                    "endpoint": "VOLUNTEER_STOP",
                    "group": f"{mechanism}_by_landmark",
                    "n": len(d),
                    "events": int(d["event"].sum()) if len(d) else 0,
                    "method": "landmark Cox",
                    "causal": False,
                    "note": "not estimable: no events or no variation in exposure at the landmark; " + "; ".join(notes),
                }
            ]
        )
    st = "programme_id" if d["programme_id"].nunique() > 1 else None
    model = sv.CoxModel().fit(d, duration_col="time", event_col="event", covariates=terms, strata_col=st)
    res = _cox_rows(
        model,
        terms,
        programme_id,
        "retention",
        "VOLUNTEER_STOP",
        f"landmark Cox at {landmark_months:g} months, Efron ties" + (", stratified by programme_id" if st else ""),
        notes,
        len(d),
    )
    res.loc[res["estimand"] == "hazard_ratio", "estimand"] = "hazard_ratio_landmark"
    return res


def match_cox(
    match_rows: pd.DataFrame,
    covariates: Sequence[str] = ("same_sex", "lived_experience", "goals_agreed", "participant_risk_high"),
    programme_id: str = "all",
    cluster_col: str | None = "participant_id",
    time_col: str = "time",
    endpoint: str = "MATCH_EARLY_END",
    method_prefix: str = "Cox PH",
    causes: Sequence[str] | None = None,
    strata_col: str | None = "programme_id",
) -> pd.DataFrame:
    """Cox model of early match ending on match characteristics.

    Estimand: hazard ratios of an early end for same-sex matching, a volunteer
    with lived experience and agreed goals, adjusted for each other and for a
    high participant risk level, with a separate baseline hazard per programme
    (``strata_col``; programmes differ in planned duration and in who they
    serve, so pooling their baselines would confound the comparison) and
    robust SE clustered on participant (a participant may have several
    matches). With ``causes`` the model is cause-specific: only early ends for
    those reasons are events, the others censor (Prentice et al. 1978).
    Associations only (``causal = False``). Returns RESULT_COLUMNS rows, or one
    ``not estimable`` row when there are no events or no variation.
    """
    if causes is not None:
        match_rows = match_rows.assign(event=(match_rows["event"].astype(int) == 1)
                                       & match_rows["early_cause"].isin(list(causes))).astype({"event": int})
        method_prefix = f"{method_prefix}, cause-specific ({', '.join(causes)})"
    covariates = [c for c in covariates if c in match_rows.columns]
    d, terms, notes = _design(match_rows, covariates)
    if not terms or len(d) == 0 or d["event"].sum() == 0:
        return make_results(
            [
                {
                    "programme_id": programme_id,
                    "analysis": "retention",
                    "estimand": "hazard_ratio",
                    "endpoint": endpoint,
                    "group": ",".join(covariates),
                    "n": len(d),
                    "events": int(d["event"].sum()) if len(d) else 0,
                    "method": method_prefix,
                    "causal": False,
                    "note": "not estimable: no events or no variation in the covariates; " + "; ".join(notes),
                }
            ]
        )
    cl = cluster_col if cluster_col in d.columns and d[cluster_col].duplicated().any() else None
    st = strata_col if strata_col in d.columns and d[strata_col].nunique() > 1 else None
    model = sv.CoxModel().fit(d, duration_col=time_col, event_col="event", covariates=terms, cluster_col=cl,
                              strata_col=st)
    method = (f"{method_prefix}, Efron ties" + (f", stratified by {st}" if st else "")
              + (f", robust SE by {cl}" if cl else ""))
    return _cox_rows(model, terms, programme_id, "retention", endpoint, method, notes, len(d))
