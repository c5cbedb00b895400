"""Synthesis across programmes: pooled recidivism effects and volunteer stopping, with moderators.

:class:`SynthesisAnalysis` answers the study's open hypothesis: does an
organisation's vision (risk management versus social inclusion) or
organisation model relate to what its volunteers achieve? It takes each
programme's recidivism effect against its own comparison group, exactly as
the programme's recidivism report published it (same run, same design,
horizon and settings: :func:`recidivism_inputs`), and each programme's
volunteer stopping rate, pools them with a random-effects meta-analysis
(:func:`evaluation.stats.meta.random_effects`) and tests the moderators
(meta-regression). Wording, figures and files are made by
:mod:`evaluation.publish.synthesis_outputs`. See docs/methods.md, section
'Cross-programme synthesis'.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analyses.primary import primary_outcome
from evaluation.contract.results import make_results
from evaluation.datasets.design import derive_design
from evaluation.stats.meta import MetaRegression, _reference_for, moderator_analysis, random_effects
from evaluation.validation.supports import measure_support

MODERATOR_FIELDS = (
    "programme_type",
    "organisation_model",
    "cooperation_model",
    "task_type",
    "vision_focus",
)
#: Reference levels of the moderators in the synthesis: the study's hypothesis
#: contrasts social inclusion with risk management; the commissioner model is
#: the one where probation keeps most control.
DEFAULT_REFERENCE = {
    "vision_focus": "risk_management",
    "organisation_model": "commissioner",
    "cooperation_model": "professional",
    "task_type": "core",
    "programme_type": "mentoring",
}
_Z975 = stats.norm.ppf(0.975)  # 1.959964: SE from a 95% interval


def _programme_moderators(programmes: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for i, p in enumerate(programmes):
        if "programme_id" not in p:
            raise ValueError(f"programmes.yaml: programme entry {i + 1} has no programme_id")
        missing = [m for m in MODERATOR_FIELDS if p.get(m) in (None, "")]
        if missing:
            raise ValueError(
                f"programmes.yaml: programme {p['programme_id']!r} lacks {missing}, "
                "needed as moderators"
            )
        rows.append({"programme_id": str(p["programme_id"]), **{m: p[m] for m in MODERATOR_FIELDS}})
    return pd.DataFrame(rows, columns=["programme_id", *MODERATOR_FIELDS])


def effect_scale(estimand: str) -> tuple[str, bool]:
    """Analysis scale of a results estimand: (name, on the log scale?).

    Ratios (``hazard_ratio``, ``hazard_ratio_adjusted``, ``rate_ratio``)
    are pooled as logs; prevalences and their differences (``prevalence_*``,
    e.g. ``prevalence_730d_crude`` with ``group="difference"``) as they are.
    """
    if estimand.startswith(("hazard_ratio", "rate_ratio")):
        return f"log_{estimand}", True
    if estimand.startswith("prevalence"):
        return estimand, False
    raise ValueError(
        f"unsupported estimand {estimand!r}: use a hazard/rate ratio or a prevalence difference"
    )


def programme_effects(
    results: pd.DataFrame,
    programmes: Iterable[Mapping[str, Any]],
    estimands: Sequence[str] = ("hazard_ratio", "prevalence_730d_crude"),
    endpoint: str | None = "GENERAL",
    quarter: str | None = None,
    group: str | None = "difference",
) -> pd.DataFrame:
    """Per-programme effects with their SEs and moderators, ready to pool.

    Parameters
    ----------
    results : DataFrame
        Results rows (``RESULT_COLUMNS``), e.g. the concatenated recidivism
        results of each programme. Rows with ``programme_id == "all"`` are
        ignored (they are pooled already).
    programmes : iterable of dict
        Entries of ``programmes.yaml``; supplies the moderators
        ``programme_type``, ``organisation_model``, ``cooperation_model``,
        ``task_type`` and ``vision_focus``.
    estimands : sequence of str
        Ratios (``"hazard_ratio"``, ``"hazard_ratio_adjusted"``,
        ``"rate_ratio"``) become ``yi = log(estimate)`` with
        ``sei = (log(ci_upper) - log(ci_lower)) / (2 * 1.959964)``;
        prevalence differences (``"prevalence_730d_crude"``, the WODC 2-year
        prevalence, programme minus comparison) become ``yi = estimate`` with
        ``sei = (ci_upper - ci_lower) / (2 * 1.959964)``. Both assume the
        interval is a symmetric 95% Wald interval on that scale (true for
        :class:`evaluation.analyses.recidivism.RecidivismAnalysis` differences).
    endpoint : str or None
        Keep only this endpoint (None keeps all).
    quarter : str, optional
        Label of the analysis quarter (e.g. ``"2026Q3"``), stored in a
        ``quarter`` column so effects from several quarters can be stacked.
    group : str or None
        Keep only rows of this ``group`` (default ``"difference"``: the
        programme-versus-comparison contrast); ``None`` keeps every row, and
        a programme with more than one row for the same estimand and
        endpoint is then an error.

    Returns
    -------
    DataFrame
        ``programme_id, quarter, estimand, effect_scale, endpoint, yi, sei,
        estimate, ci_lower, ci_upper, n, events, causal`` and the moderators.
        Rows whose interval is missing or degenerate are kept with
        ``yi``/``sei`` NaN and an explanation in ``excluded_reason``;
        callers drop them explicitly before pooling.
    """
    need = {"programme_id", "estimand", "estimate", "ci_lower", "ci_upper"}
    miss = need - set(results.columns)
    if miss:
        raise ValueError(f"results table lacks column(s) {sorted(miss)}")
    mods = _programme_moderators(programmes)
    for e in estimands:
        effect_scale(e)
    r = results[results["programme_id"].astype(str) != "all"]
    r = r[r["estimand"].isin(list(estimands))]
    if endpoint is not None and "endpoint" in r.columns:
        r = r[r["endpoint"].astype(str) == endpoint]
    if group is not None:
        r = r[r["group"].astype(str) == group]
    keys = ["programme_id", "estimand"] + (["endpoint"] if "endpoint" in r.columns else [])
    dup = r.duplicated(keys, keep=False)
    if dup.any():
        raise ValueError(
            "results table has more than one row per programme and estimand for "
            f"{r.loc[dup, keys].drop_duplicates().to_dict('records')}; pass group= to choose"
        )
    unknown_prog = sorted(set(r["programme_id"].astype(str)) - set(mods["programme_id"]))
    if unknown_prog:
        raise ValueError(f"results name programme(s) {unknown_prog} not described in programmes.yaml")
    out = []
    for _, row in r.iterrows():
        scale, is_log = effect_scale(row["estimand"])
        est, lo, hi = float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"])
        reason = ""
        yi = sei = np.nan
        if not np.all(np.isfinite([est, lo, hi])):
            reason = "estimate or interval missing"
        elif is_log and min(est, lo, hi) <= 0:
            reason = "ratio or interval not positive"
        elif hi <= lo:
            reason = "degenerate interval"
        else:
            if is_log:
                yi, sei = np.log(est), (np.log(hi) - np.log(lo)) / (2 * _Z975)
            else:
                yi, sei = est, (hi - lo) / (2 * _Z975)
        out.append(
            {
                "programme_id": str(row["programme_id"]),
                "quarter": quarter if quarter is not None else "",
                "estimand": row["estimand"],
                "effect_scale": scale,
                "endpoint": row.get("endpoint", ""),
                "yi": yi,
                "sei": sei,
                "estimate": est,
                "ci_lower": lo,
                "ci_upper": hi,
                "n": row.get("n", np.nan),
                "events": row.get("events", np.nan),
                "causal": row.get("causal", np.nan),
                "excluded_reason": reason,
            }
        )
    cols = [
        "programme_id", "quarter", "estimand", "effect_scale", "endpoint", "yi", "sei",
        "estimate", "ci_lower", "ci_upper", "n", "events", "causal", "excluded_reason",
    ]
    eff = pd.DataFrame(out, columns=cols)
    return eff.merge(mods, on="programme_id", how="left")


def volunteer_stopping_effects(
    volunteers: pd.DataFrame,
    programmes: Iterable[Mapping[str, Any]],
    cutoff_date: Any,
    quarter: str | None = None,
) -> pd.DataFrame:
    """Per-programme volunteer stopping rate on the log scale, with moderators.

    Estimand: the annual rate at which active volunteers stop, per
    programme, ``lambda_j = stops_j / person-years_j`` (person-time from
    each volunteer's ``start_date`` to ``end_date`` or the cutoff). The
    effect pooled is ``yi = log(lambda_j)`` with the Poisson standard error
    ``sei = 1 / sqrt(stops_j)`` (delta method). A log rate is chosen over a
    log hazard ratio "programme vs all others" because the latter makes the
    programmes' effects mutually dependent (each comparison group contains
    the other programmes), violating the independence the meta-analysis
    assumes. The constant-hazard assumption makes the rate a summary of the
    stopping hazard over the observed tenure mix.

    Programmes with no stops or no person-time are kept with ``yi``/``sei``
    NaN and ``excluded_reason`` filled (never silently dropped).
    """
    need = {"volunteer_id", "programme_id", "start_date", "end_date"}
    miss = need - set(volunteers.columns)
    if miss:
        raise ValueError(f"table 'volunteers' lacks column(s) {sorted(miss)}")
    cutoff = pd.Timestamp(cutoff_date)
    mods = _programme_moderators(programmes)
    v = volunteers.copy()
    start = pd.to_datetime(v["start_date"])
    if start.isna().any():
        pos = np.flatnonzero(start.isna().to_numpy())
        rows = v["_row"].iloc[pos].tolist() if "_row" in v.columns else pos.tolist()
        raise ValueError(f"table 'volunteers', field 'start_date' is missing at row(s) {rows}")
    end = pd.to_datetime(v["end_date"])
    stopped = end.notna() & (end <= cutoff)
    stop = end.where(stopped, cutoff)
    v["_years"] = ((stop - start).dt.days.clip(lower=0)) / 365.25
    v["_stop"] = stopped.astype(int)
    v = v[start <= cutoff]
    agg = v.groupby("programme_id").agg(
        n=("volunteer_id", "size"), events=("_stop", "sum"), person_years=("_years", "sum")
    )
    out = []
    for pid in mods["programme_id"]:
        if pid not in agg.index:
            out.append({"programme_id": pid, "n": 0, "events": 0, "person_years": 0.0})
            continue
        a = agg.loc[pid]
        out.append(
            {
                "programme_id": pid,
                "n": int(a["n"]),
                "events": int(a["events"]),
                "person_years": float(a["person_years"]),
            }
        )
    eff = pd.DataFrame(out)
    ok = (eff["events"] > 0) & (eff["person_years"] > 0)
    eff["rate_per_year"] = np.where(ok, eff["events"] / eff["person_years"].where(ok, 1.0), np.nan)
    eff["yi"] = np.log(eff["rate_per_year"])
    eff["sei"] = np.where(ok, 1.0 / np.sqrt(eff["events"].clip(lower=1)), np.nan)
    eff["excluded_reason"] = np.where(
        eff["person_years"] <= 0,
        "no volunteer person-time",
        np.where(eff["events"] == 0, "no volunteer stopped (rate not estimable on the log scale)", ""),
    )
    eff["estimand"] = "volunteer_stopping_rate"
    eff["effect_scale"] = "log_rate_per_year"
    eff["quarter"] = quarter if quarter is not None else ""
    return eff.merge(mods, on="programme_id", how="left")


def synthesise(
    effects: pd.DataFrame,
    moderators: Sequence[str] = ("vision_focus", "organisation_model"),
    method: str = "REML",
    knapp_hartung: bool = True,
    endpoint: str = "GENERAL",
    min_k: int = 3,
    reference: Mapping[str, str] | None = None,
    test_null: bool = True,
) -> dict[str, Any]:
    """Pool each estimand's programme effects and test the moderators.

    For every ``estimand`` in ``effects`` (from :func:`programme_effects`
    or :func:`volunteer_stopping_effects`): a random-effects model
    (:func:`random_effects`, Knapp-Hartung by default) and one
    meta-regression per moderator (:func:`moderator_analysis`). Estimands
    with fewer than ``min_k`` usable effects are reported as not estimable.
    Reference levels default to :data:`DEFAULT_REFERENCE` (when present
    among the programmes). ``test_null=False`` drops the pooled p-value
    (e.g. for rates).

    Returns
    -------
    dict
        ``results`` (``RESULT_COLUMNS`` rows, ``analysis="synthesis"``,
        ``causal=False``), ``pooled`` (estimand -> :class:`MetaResult`),
        ``moderators`` (tidy table of all meta-regressions with an
        ``estimand`` column), ``not_estimable`` (estimand -> reason).
    """
    frames, pooled, mods, skipped = [], {}, [], {}
    for est, grp in effects.groupby("estimand", sort=True):
        ok = grp["yi"].notna() & grp["sei"].notna()
        use = grp[ok]
        scale = str(grp["effect_scale"].iloc[0])
        is_log = scale.startswith("log_")
        excluded = grp.loc[~ok, ["programme_id", "excluded_reason"]]
        excl_note = (
            "excluded: " + "; ".join(f"{r.programme_id} ({r.excluded_reason})" for r in excluded.itertuples())
            if len(excluded) else ""
        )
        if len(use) < min_k:
            skipped[est] = f"only {len(use)} programme(s) with an estimable effect (need {min_k})"
            frames.append(make_results([{
                "programme_id": "all", "analysis": "synthesis", "estimand": f"{est}_pooled",
                "endpoint": endpoint, "group": "pooled", "causal": False,
                "note": "; ".join(x for x in ["not estimable: " + skipped[est], excl_note] if x),
            }]))
            continue
        n_people = pd.to_numeric(use.get("n", pd.Series(dtype=float)), errors="coerce").sum(min_count=1)
        res = random_effects(use["yi"], use["sei"], method=method, knapp_hartung=knapp_hartung)
        pooled[est] = res
        frames.append(res.to_results(est, endpoint=endpoint, transform="exp" if is_log else None,
                                     n=n_people, note=excl_note, test_null=test_null))
        ref = DEFAULT_REFERENCE if reference is None else reference
        tab = moderator_analysis(use, moderators=moderators, method=method, knapp_hartung=knapp_hartung,
                                 reference=ref)
        tab.insert(0, "estimand", est)
        mods.append(tab)
        for mod in moderators:
            sub = tab[(tab["moderator"] == mod)]
            if (sub["status"] == "ok").all():
                mr = MetaRegression(method, knapp_hartung).fit(
                    use["yi"], use["sei"], use[[mod]], reference=_reference_for(use[[mod]], ref))
                frames.append(mr.to_results(est, endpoint=endpoint, transform="exp" if is_log else None,
                                            n=n_people))
            else:
                frames.append(make_results([{
                    "programme_id": "all", "analysis": "synthesis", "estimand": f"{est}_moderator_test",
                    "endpoint": endpoint, "group": mod, "causal": False,
                    "note": "not estimable: " + str(sub["reason"].iloc[0]),
                }]))
    results = pd.concat(frames, ignore_index=True) if frames else make_results([])
    return {
        "results": results,
        "pooled": pooled,
        "moderators": pd.concat(mods, ignore_index=True) if mods else pd.DataFrame(),
        "not_estimable": skipped,
    }


# ---------------------------------------------------------------------------
# the recidivism effects of the same run
# ---------------------------------------------------------------------------

STATUS_COLUMNS = ["programme_id", "design", "status", "reason", "warnings"]


def read_recidivism_results(source: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The programmes' published recidivism rows, and their run status when known.

    Parameters
    ----------
    source : DataFrame, CSV path or folder
        A folder holds ``results.csv`` (the rows the programmes' recidivism
        reports published) and, from the quarterly run, ``programmes.csv``
        (``programme_id, design, status`` of each programme's recidivism job).

    Returns
    -------
    results : DataFrame
    jobs : DataFrame or None
        ``programmes.csv`` when present.
    """
    if isinstance(source, pd.DataFrame):
        return source, None
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError("recidivism_results: pass a DataFrame, a results.csv path or a folder holding one")
    path = Path(source)
    jobs = None
    if path.is_dir():
        if (path / "programmes.csv").is_file():
            try:
                jobs = pd.read_csv(path / "programmes.csv", dtype=str, keep_default_na=False)
            except pd.errors.EmptyDataError:
                jobs = None
        path = path / "results.csv"
    if not path.is_file():
        raise ValueError(f"recidivism_results: {path} does not exist")
    try:
        res = pd.read_csv(path, dtype={"programme_id": str, "endpoint": str, "group": str},
                          float_precision="round_trip")
    except pd.errors.EmptyDataError:
        res = make_results([])
    if "causal" in res.columns and res["causal"].dtype == object:  # "True"/"False" text next to blanks
        res["causal"] = res["causal"].map({True: True, False: False, "True": True, "False": False})
    return res, jobs


def recidivism_inputs(
    recidivism_results: Any,
    programme_ids: Sequence[str],
    participants: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The recidivism effects that costs and synthesis use: those the recidivism reports published.

    Costs and the synthesis never estimate recidivism themselves: they take
    the rows of the programmes' recidivism reports of the same run (same
    design, horizons and settings; estimates withheld there are missing here
    too). Each programme gets a status: ``ok``, ``no_comparison``
    (descriptive design: no effect to use) or ``failed`` (its report did not
    complete or published no rows), with the reason.

    Parameters
    ----------
    recidivism_results : DataFrame, CSV path or folder
        See :func:`read_recidivism_results`.
    programme_ids : sequence of str
    participants : DataFrame, optional
        The accepted participants, for the design of a programme whose job
        status is not given (:func:`evaluation.datasets.design.derive_design`).

    Returns
    -------
    results : DataFrame
        The published rows of ``programme_ids`` with a comparison group.
    status : DataFrame
        ``programme_id, design, status, reason, warnings``.
    """
    if recidivism_results is None:
        raise ValueError(
            "recidivism_results is required: costs and synthesis use the recidivism report's own published "
            "estimates (the quarterly run passes them; by hand, see "
            "evaluation.publish.recidivism_outputs.report_results), never a re-estimate with default settings")
    res, jobs = read_recidivism_results(recidivism_results)
    pid_col = res["programme_id"].astype(str) if len(res) else pd.Series(dtype=str)
    known = {} if jobs is None else {str(r["programme_id"]): r for r in jobs.to_dict("records")}
    status, keep = [], []
    for pid in programme_ids:
        job = known.get(pid)
        design = (job or {}).get("design") or derive_design(participants, pid)
        rows = res[(pid_col == pid).to_numpy()]
        if design == "descriptive":
            status.append([pid, design, "no_comparison", "no comparison group: no programme effect to use", ""])
        elif job is not None and job.get("status") != "ok":
            status.append([pid, design, "failed", f"the programme's recidivism report did not complete "
                                                  f"({job.get('status')})", ""])
        elif rows.empty:
            status.append([pid, design, "failed", "no published recidivism results for this programme", ""])
        else:
            few = rows["note"].fillna("").astype(str).str.startswith("WARNING").any() if "note" in rows else False
            status.append([pid, design, "ok", "", "fewer than 60 participants: indicative only" if few else ""])
            keep.append(rows)
    out = pd.concat(keep, ignore_index=True) if keep else make_results([])
    return out, pd.DataFrame(status, columns=STATUS_COLUMNS)


def _tables_and_programmes(validated: Any) -> tuple[Mapping[str, pd.DataFrame], list[dict]]:
    if hasattr(validated, "tables"):
        return validated.tables, list(getattr(validated, "programmes", []) or [])
    if isinstance(validated, Mapping) and "tables" in validated:
        return validated["tables"], list(validated.get("programmes", []))
    raise ValueError("expected a ValidationResult or a mapping with 'tables' and 'programmes'")


class SynthesisAnalysis:
    """Synthesis across programmes (scope: all programmes; see the module docstring).

    Parameters
    ----------
    method : {"REML", "DL", "PM", "FE"}
    knapp_hartung : bool
    moderators : sequence of str
        Fields of ``programmes.yaml`` tested one at a time.
    endpoint : str
        Recidivism endpoint of the effects (default ``GENERAL``).
    quarter : str, optional
        Label stored with the effects.

    Attributes (after ``fit``)
    --------------------------
    results_ : DataFrame (``RESULT_COLUMNS`` + ``k``, ``analysis`` ``synthesis``
        or ``synthesis_retention``)
    tables_ : dict of DataFrame
        ``programme_effects`` (per programme: effect, interval, n, events,
        moderators; not yet disclosure-controlled) and ``moderator_tests``.
    effect_status_ : DataFrame  which programmes contribute a recidivism effect, and why not
    pooled_ : dict  ``{"recidivism": ..., "retention": ...}`` as :func:`synthesise` returns
    primary_ : PrimaryOutcome  the pooled primary outcome: the one all programmes declare, else the
        WODC default (docs/methods.md, section 'Primary outcome'); its pooled row has ``role`` primary
    """

    def __init__(self, method: str = "REML", knapp_hartung: bool = True,
                 moderators: Sequence[str] = ("vision_focus", "organisation_model"), endpoint: str = "GENERAL",
                 quarter: str | None = None):
        self.method = method
        self.knapp_hartung = knapp_hartung
        self.moderators = tuple(moderators)
        self.endpoint = endpoint
        self.quarter = quarter

    def fit(self, validated: Any, programme_id: str = "all", cutoff_date: Any = None,
            config: Mapping[str, Any] | None = None, *, recidivism_results: Any = None) -> SynthesisAnalysis:
        """Pool the programmes' effects and test the moderators; returns self.

        ``recidivism_results``: the programmes' published recidivism rows of
        the same run (:func:`recidivism_inputs`); required. ``config``
        replaces constructor settings.
        """
        for k, v in (config or {}).items():
            if k not in ("method", "knapp_hartung", "moderators", "endpoint", "quarter"):
                raise ValueError(f"SynthesisAnalysis.fit: unknown setting {k!r} in config")
            setattr(self, k, tuple(v) if k == "moderators" else v)
        if str(programme_id) != "all":
            raise ValueError(f"the synthesis is across all programmes: programme_id must be 'all', not {programme_id!r}")
        tables, programmes = _tables_and_programmes(validated)
        if cutoff_date is None:
            cutoff_date = getattr(validated, "cutoff_date", None)
        if cutoff_date is None:
            raise ValueError("SynthesisAnalysis.fit: cutoff_date is required")
        self.cutoff_date_ = pd.Timestamp(cutoff_date)
        ids = [str(p["programme_id"]) for p in programmes]
        self.support_ = measure_support(SimpleNamespace(
            tables=tables, programmes=programmes,
            **({"reconciliation": validated.reconciliation} if hasattr(validated, "reconciliation") else {})), "all")
        rec, self.effect_status_ = recidivism_inputs(recidivism_results, ids, tables.get("participants"))
        moderators, method, kh, endpoint = self.moderators, self.method, self.knapp_hartung, self.endpoint
        self.primary_ = primary_outcome(programmes, "all")
        eff = pd.concat([
            programme_effects(rec, programmes, estimands=(self.primary_.estimand,), endpoint=self.primary_.endpoint,
                              quarter=self.quarter),
            programme_effects(rec, programmes, estimands=("hazard_ratio",), endpoint=endpoint, quarter=self.quarter),
        ], ignore_index=True)
        syn_r = synthesise(eff, moderators, method, kh, endpoint)
        frames, all_eff, syn_v = [syn_r["results"]], [eff], None
        if "volunteers" in tables and tables["volunteers"] is not None and len(tables["volunteers"]):
            stop = volunteer_stopping_effects(tables["volunteers"], programmes, cutoff_date, self.quarter)
            syn_v = synthesise(stop, moderators, method, kh, endpoint="", test_null=False)
            frames.append(syn_v["results"].assign(analysis="synthesis_retention"))
            all_eff.append(stop)
        res = pd.concat(frames, ignore_index=True)
        res["role"] = np.where(res["estimand"].astype(str) == f"{self.primary_.estimand}_pooled", "primary",
                               "secondary")
        self.results_ = res
        cols = ["programme_id", "estimand", "effect_scale", "yi", "sei", "n", "events", "causal", "excluded_reason",
                *MODERATOR_FIELDS]
        tab = pd.concat([e.reindex(columns=cols) for e in all_eff], ignore_index=True)
        is_log = tab["effect_scale"].astype(str).str.startswith("log_")
        z = stats.norm.ppf(0.975)
        for name, f in [("estimate", 0), ("ci_lower", -z), ("ci_upper", z)]:
            v = tab["yi"] + f * tab["sei"]
            tab[name] = np.where(is_log, np.exp(v), v)
        mods = [x["moderators"] for x in (syn_r, syn_v) if x is not None and len(x["moderators"])]
        self.tables_ = {"programme_effects": tab,
                        "moderator_tests": pd.concat(mods, ignore_index=True) if mods else pd.DataFrame()}
        self.pooled_ = {"recidivism": syn_r, "retention": syn_v}
        return self
