"""Publishing the retention analysis: disclosure control, wording (nl/en), figures and files.

:func:`retention_outputs` takes a fitted :class:`evaluation.analyses.retention.RetentionAnalysis`
and, when the notebook publishes,

1. withholds totals of all programmes that would give a programme's hidden count back
   (:func:`evaluation.publish.pooled.withhold_pooled`, with the programmes' published results);
2. draws the figures (curves stop where fewer than the threshold remain at risk);
3. rounds the workforce flow (:func:`evaluation.publish.workforce.protect_workforce`);
4. words the headline with protected counts;
5. writes everything through :func:`evaluation.publish.writer.publish_outputs`, which applies
   :func:`~evaluation.publish.suppression.protect_results` to ``results.csv``.

:func:`key_results` and :func:`published_rows` give the same protected rows for display in the
notebook. See docs/methods.md, sections 'Retention' and 'Disclosure control'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analyses.retention import SMALL_N, RetentionAnalysis, key_rows
from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.figures import (
    cuminc_alt,
    cuminc_curves,
    km_alt,
    km_curves,
    km_data,
    plot_cuminc,
    plot_km,
    plot_workforce,
)
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language, number
from evaluation.publish.labels import not_measured_sentences, value_label
from evaluation.publish.pooled import WITHHOLD_COLUMN, withhold_pooled
from evaluation.publish.sentences import check_sentences, protect_sentence
from evaluation.publish.suppression import protect_results
from evaluation.publish.workforce import (
    _warning_rows,
    _wf_text,
    protect_workforce,
    workforce_warnings,
)
from evaluation.publish.writer import publish_outputs

__all__ = ["key_results", "protect_workforce", "published_rows", "publishable_results", "retention_headline",
           "retention_outputs", "workforce_warnings"]

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Retention of volunteers, matches and participants",
        "months": "months since start",
        "active": "still active",
        "match_running": "no early ending yet",
        "cuminc": "stopped (cumulative incidence)",
        "volunteers": "active volunteers",
        "joiners": "joiners",
        "leavers": "leavers",
        "km_volunteers": "Volunteers still active, by programme",
        "km_matches": "Matches without early ending, by programme",
        "cif_reasons": "Why volunteers stop (competing reasons)",
        "workforce": "Volunteer workforce per quarter (all programmes)",
        "rounded_note": "counts rounded to multiples of {base}",
        "few_events": "{group}: not shown (fewer than {t} endings)",
        "withheld": "{group}: not shown (with the programmes' own figures it would reveal a small number)",
        "median": "Half of the volunteers had stopped after {m} months (95% CI {lo} to {hi}).",
        "median_not": "More than half of the volunteers were still active at the end of follow-up.",
        "ret12": "{p}% of volunteers were still active {h} months after their start (95% CI {lo}% to {hi}%), "
                 "based on {n} volunteers.",
        "early12": "{p}% of matches had ended early by {h} months (95% CI {lo}% to {hi}%), based on {n} matches.",
        "training": "Volunteers from the moment they had basic training stopped {dir} often (hazard ratio {hr}, "
                    "95% CI {lo} to {hi}); this is an association in observational data, not proof of an effect.",
        "more": "more",
        "less": "less",
        "unclear": "neither clearly more nor less",
        "no_volunteers": "No volunteers in the data for this selection: retention cannot be estimated.",
        "small": "Few volunteers ({n}): all figures are imprecise.",
        "alt_few": " (fewer than {t} endings)",
        "alt_match": "without early ending",
        "col_group": "programme", "col_reason": "reason for stopping", "col_months": "months since start",
        "col_estimate": "share", "col_lower": "95% CI lower limit", "col_upper": "95% CI upper limit",
        "col_quarter": "quarter", "col_active": "active volunteers at the end of the quarter",
        "wf_alt": "Volunteer workforce per quarter from {q0} to {q1}, all programmes: active volunteers at the end of "
                  "each quarter (line), joiners and leavers (bars). At the end of {q1}: {a} active volunteers "
                  "(counts rounded to multiples of {base}).",
    },
    "nl": {
        "title": "Behoud van vrijwilligers, koppelingen en deelnemers",
        "months": "maanden sinds start",
        "active": "nog actief",
        "match_running": "nog niet voortijdig beëindigd",
        "cuminc": "gestopt (cumulatieve incidentie)",
        "volunteers": "actieve vrijwilligers",
        "joiners": "instroom",
        "leavers": "uitstroom",
        "km_volunteers": "Vrijwilligers nog actief, per programma",
        "km_matches": "Koppelingen zonder voortijdig einde, per programma",
        "cif_reasons": "Waarom vrijwilligers stoppen (concurrerende redenen)",
        "workforce": "Vrijwilligersbestand per kwartaal (alle programma's)",
        "rounded_note": "aantallen afgerond op veelvouden van {base}",
        "few_events": "{group}: niet getoond (minder dan {t} beëindigingen)",
        "withheld": "{group}: niet getoond (met de cijfers van de programma's zelf zou een klein aantal af te "
                    "leiden zijn)",
        "median": "De helft van de vrijwilligers was na {m} maanden gestopt (95%-BI {lo} tot {hi}).",
        "median_not": "Meer dan de helft van de vrijwilligers was aan het einde van de follow-up nog actief.",
        "ret12": "{p}% van de vrijwilligers was {h} maanden na de start nog actief (95%-BI {lo}% tot {hi}%), "
                 "op basis van {n} vrijwilligers.",
        "early12": "{p}% van de koppelingen was binnen {h} maanden voortijdig beëindigd (95%-BI {lo}% tot {hi}%), "
                   "op basis van {n} koppelingen.",
        "training": "Vrijwilligers stopten vanaf hun basistraining {dir} vaak (hazard ratio {hr}, 95%-BI {lo} tot {hi}); "
                    "dit is een samenhang in observationele gegevens, geen bewijs van effect.",
        "more": "vaker",
        "less": "minder",
        "unclear": "niet duidelijk vaker of minder",
        "no_volunteers": "Geen vrijwilligers in de gegevens voor deze selectie: behoud is niet te schatten.",
        "small": "Weinig vrijwilligers ({n}): alle cijfers zijn onnauwkeurig.",
        "alt_few": " (minder dan {t} beëindigingen)",
        "alt_match": "zonder voortijdig einde",
        "col_group": "programma", "col_reason": "reden van stoppen", "col_months": "maanden sinds start",
        "col_estimate": "aandeel", "col_lower": "95%-BI ondergrens", "col_upper": "95%-BI bovengrens",
        "col_quarter": "kwartaal", "col_active": "actieve vrijwilligers aan het eind van het kwartaal",
        "wf_alt": "Vrijwilligersbestand per kwartaal van {q0} tot {q1}, alle programma's: actieve vrijwilligers aan "
                  "het eind van elk kwartaal (lijn), instroom en uitstroom (staven). Aan het eind van {q1}: {a} "
                  "actieve vrijwilligers (aantallen afgerond op veelvouden van {base}).",
    },
}


RETENTION_MEASURES: tuple[str, ...] = ("volunteer_retention", "volunteer_support", "match_duration")
"""Measures of :mod:`evaluation.validation.supports` the retention report says it could not make."""


def _lang(language: str) -> dict[str, str]:
    """The texts of one language."""
    return _TEXT[check_language(language)]


def _reason_label(language: str):
    """Words for a volunteer's reason for stopping (contract code)."""
    return lambda code: value_label(str(code), language)


def _workforce_alt(wf_pub: pd.DataFrame, tx: dict[str, str], language: str, threshold: int) -> dict[str, Any]:
    """Alt text and data table of the workforce figure, from the published (rounded) table only."""
    f = wf_pub.loc[wf_pub["group"].astype(str) == "all"]
    if not len(f):
        return {"alt": tx["workforce"] + ".", "data": None}
    last = f.iloc[-1]
    a = last["active_end"]
    a = number(a, language, 0) if pd.notna(pd.to_numeric(a, errors="coerce")) else str(a)
    alt = tx["wf_alt"].format(q0=f["quarter"].iloc[0], q1=last["quarter"], a=a,
                              base=wf_pub.attrs.get("rounding_base", threshold))
    data = f[["quarter", "active_end", "joiners", "leavers"]].rename(columns={
        "quarter": tx["col_quarter"], "active_end": tx["col_active"], "joiners": tx["joiners"],
        "leavers": tx["leavers"]})
    return {"alt": alt, "data": data.reset_index(drop=True)}


def _fmt(x: float, language: str, digits: int = 1) -> str:
    return number(x, language, digits, thousands=False)


def publishable_results(analysis: RetentionAnalysis, programme_results: Any = None,
                        threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """The analysis's results with pooled totals marked for withholding (not yet protected).

    ``programme_results`` (only for ``programme_id == "all"``): the programmes' published retention
    rows (DataFrame or ``results.csv`` path). Counts of all programmes that would give a
    programme's ``"<10"`` back by subtraction are marked in the ``withhold`` column and withheld by
    :func:`~evaluation.publish.suppression.protect_results`; estimates are unchanged.
    """
    res = analysis.results_
    if programme_results is not None and analysis.programme_id == "all":
        res = withhold_pooled(res, programme_results, threshold)
    return res


def published_rows(results: pd.DataFrame, endpoints: Sequence[str], estimands: Sequence[str],
                   threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """Rows of ``results`` for the given endpoints and estimands, protected by
    :func:`~evaluation.publish.suppression.protect_results`, with the columns a reader needs.

    ``results`` is ``retention_outputs(...)["results"]`` (pooled totals already marked).
    """
    keep = results["endpoint"].isin(list(endpoints)) & results["estimand"].isin(list(estimands))
    cols = ["programme_id", "endpoint", "estimand", "group", "estimate", "ci_lower", "ci_upper", "p_value", "n",
            "events", "note"]
    return protect_results(results.loc[keep], threshold=threshold)[cols].reset_index(drop=True)


def key_results(results: pd.DataFrame, threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """The main published rows (overall and per programme), protected, for display in the notebook."""
    cols = ["programme_id", "endpoint", "estimand", "group", "estimate", "ci_lower", "ci_upper", "n", "events", "note"]
    return protect_results(results.loc[key_rows(results)], threshold=threshold)[cols].reset_index(drop=True)


def retention_headline(analysis: RetentionAnalysis, language: str = DEFAULT_LANGUAGE,
                       threshold: int = SUPPRESSION_THRESHOLD, workforce: pd.DataFrame | None = None,
                       results: pd.DataFrame | None = None) -> dict[str, Any]:
    """``headline.json`` content: status, title and sentences (counts protected by :func:`~evaluation.publish.sentences.protect_sentence`).

    Workforce warnings come from the published (rounded) workforce table: ``workforce`` if given (the
    output of :func:`~evaluation.publish.workforce.protect_workforce`), else the analysis's
    ``workforce_flow`` table protected here. ``results``: the results to word (default
    ``analysis.results_``).
    """
    tx = _lang(language)
    res = analysis.results_ if results is None else results
    ten = analysis.tenure_
    support = getattr(analysis, "support_", pd.DataFrame())
    missing = (not_measured_sentences(support, RETENTION_MEASURES, language, analysis.programme_id)
               if len(support) else [])
    if not len(ten):
        return {"status": "not_estimable", "title": tx["title"], "sentences": missing or [tx["no_volunteers"]]}
    sentences = []
    status = "warning" if missing else "ok"
    allrow = res.loc[(res["endpoint"] == "VOLUNTEER_STOP") & (res["group"] == "all")].set_index("estimand")
    if "median_months" in allrow.index:
        r = allrow.loc["median_months"]
        if np.isfinite(r["estimate"]):
            lo = _fmt(r["ci_lower"], language) if np.isfinite(r["ci_lower"]) else "?"
            hi = _fmt(r["ci_upper"], language) if np.isfinite(r["ci_upper"]) else ("niet bereikt" if language == "nl"
                                                                                   else "not reached")
            sentences.append(tx["median"].format(m=_fmt(r["estimate"], language), lo=lo, hi=hi))
        else:
            sentences.append(tx["median_not"])
    horizons = list(analysis.horizons_months or [12])
    h = 12 if 12 in horizons else horizons[0]
    key = f"retention_{h:g}m"
    if key in allrow.index and np.isfinite(allrow.loc[key, "estimate"]):
        r = allrow.loc[key]
        sentences.append(protect_sentence(
            tx["ret12"], {"n": r["n"]}, threshold, language, p=_fmt(100 * r["estimate"], language, 0),
            lo=_fmt(100 * r["ci_lower"], language, 0), hi=_fmt(100 * r["ci_upper"], language, 0), h=f"{h:g}"))
    mrow = res.loc[(res["endpoint"] == "MATCH_EARLY_END") & (res["group"] == "all")
                   & (res["estimand"] == f"no_early_end_{h:g}m")]
    if len(mrow) and np.isfinite(mrow["estimate"].iloc[0]):
        r = mrow.iloc[0]
        sentences.append(protect_sentence(
            tx["early12"], {"n": r["n"]}, threshold, language, p=_fmt(100 * (1 - r["estimate"]), language, 0),
            lo=_fmt(100 * (1 - r["ci_upper"]), language, 0), hi=_fmt(100 * (1 - r["ci_lower"]), language, 0),
            h=f"{h:g}"))
    tr = res.loc[(res["endpoint"] == "VOLUNTEER_STOP") & (res["estimand"] == "hazard_ratio")
                 & (res["group"] == "basic_training")]
    if len(tr) and np.isfinite(tr["estimate"].iloc[0]) and tr["n"].iloc[0] >= threshold:
        r = tr.iloc[0]
        unclear = r["ci_lower"] <= 1 <= r["ci_upper"]
        sentences.append(tx["training"].format(dir=tx["unclear"] if unclear else (
                                                   tx["less"] if r["estimate"] < 1 else tx["more"]),
                                               hr=_fmt(r["estimate"], language, 2), lo=_fmt(r["ci_lower"], language, 2),
                                               hi=_fmt(r["ci_upper"], language, 2)))
    wf = workforce if workforce is not None else analysis.tables_.get("workforce_flow", pd.DataFrame())
    warns = _warning_rows(wf, language, threshold) if len(wf) else []
    warns = [(g, q, w) for g, q, w in warns if g == "all" or analysis.programme_id != "all"]
    if warns:
        status = "warning"
        label = _wf_text(language)["all"]
        sentences.extend(("Waarschuwing vrijwilligersbestand: " if language == "nl" else "Workforce warning: ")
                         + f"{label if g == 'all' else g} ({q}): {w}" for g, q, w in warns)
    if len(ten) < SMALL_N:
        status = "warning"
        sentences.append(protect_sentence(tx["small"], {"n": len(ten)}, threshold, language))
    sentences.extend(missing)
    check_sentences(sentences, threshold)
    return {"status": status, "title": tx["title"], "sentences": sentences}


def retention_outputs(analysis: RetentionAnalysis, output_dir: Any, language: str = DEFAULT_LANGUAGE,
                      threshold: int = SUPPRESSION_THRESHOLD, programme_results: Any = None) -> dict[str, Any]:
    """Publish a fitted :class:`~evaluation.analyses.retention.RetentionAnalysis` into ``output_dir``.

    Figures, the rounded workforce table, the headline and ``results.csv``, all through
    :func:`evaluation.publish.writer.publish_outputs`. ``programme_results``: see
    :func:`publishable_results`.

    Returns ``{"headline": ..., "files": [...], "figures": [png paths], "results": results}``, where
    ``results`` are the results as published (pooled totals marked, before
    :func:`~evaluation.publish.suppression.protect_results`), for :func:`key_results` and
    :func:`published_rows`.
    """
    if not isinstance(analysis, RetentionAnalysis):
        raise TypeError(f"retention_outputs: expected a fitted RetentionAnalysis, got {type(analysis).__name__}")
    results = publishable_results(analysis, programme_results, threshold)

    tx = _lang(language)
    figures: dict[str, Any] = {}
    horizon = 12.0 if 12 in list(analysis.horizons_months or [12]) else float(list(analysis.horizons_months)[0])
    km_horizons = sorted({horizon, *map(float, analysis.horizons_months or [12]), 6.0, 3.0, 1.0},
                         key=lambda h: (h > horizon, -h))  # the horizon first, then shorter ones
    data_cols = tuple(tx[k] for k in ("col_group", "col_months", "col_estimate", "col_lower", "col_upper"))
    if len(analysis.tenure_):
        drawn = km_curves(analysis.tenure_, "programme_id", min_at_risk=threshold)
        figures["km_volunteers"] = {
            "figure": plot_km(analysis.tenure_, "programme_id", tx["km_volunteers"], tx["months"], tx["active"],
                              min_at_risk=threshold, few_events=tx["few_events"], language=language),
            "title": tx["km_volunteers"], "alt": km_alt(drawn, tx["active"], km_horizons, language,
                                                        not_shown=tx["alt_few"].format(t=threshold)),
            "data": km_data(drawn, data_cols)}
    curves = analysis.tables_.get("reason_curves", pd.DataFrame())
    if len(curves):
        res = results
        marks = res.get(WITHHOLD_COLUMN, pd.Series("", index=res.index)).fillna("").astype(str)
        withheld = set(res.loc[(marks != "") & (res["endpoint"] == "VOLUNTEER_STOP")
                               & (res["programme_id"].astype(str) == str(analysis.programme_id)), "group"])
        drawn = cuminc_curves(curves, threshold, withheld)
        if any(c["shown"] is True for c in drawn):  # a figure of legend entries only shows nothing
            reason = _reason_label(language)
            figures["cif_reasons"] = {
                "figure": plot_cuminc(curves, tx["cif_reasons"], tx["months"], tx["cuminc"], min_at_risk=threshold,
                                      few_events=tx["few_events"], withheld=withheld, withheld_label=tx["withheld"],
                                      label=reason, language=language),
                "title": tx["cif_reasons"], "alt": cuminc_alt(drawn, horizon, language, reason),
                "data": km_data([{**c, "group": reason(c["group"]), "ci_lower": c["estimate"] * np.nan,
                                  "ci_upper": c["estimate"] * np.nan} for c in drawn if c["shown"] is True],
                                (tx["col_reason"],) + data_cols[1:]).drop(columns=list(data_cols[3:]))}
    md = analysis.matches_
    if len(md) and md["circle_id"].isna().any():
        single = md.loc[md["circle_id"].isna()]
        drawn = km_curves(single, "programme_id", min_at_risk=threshold)
        figures["km_matches"] = {
            "figure": plot_km(single, "programme_id", tx["km_matches"], tx["months"], tx["match_running"],
                              min_at_risk=threshold, few_events=tx["few_events"], language=language),
            "title": tx["km_matches"], "alt": km_alt(drawn, tx["alt_match"], km_horizons, language,
                                                     not_shown=tx["alt_few"].format(t=threshold)),
            "data": km_data(drawn, data_cols)}
    tables = {}
    wf = analysis.tables_.get("workforce_flow", pd.DataFrame())
    wf_pub = None
    if len(wf):
        # controlled rounding (see publish.workforce.protect_workforce): table, figure and warnings show the same rounded counts
        wf_pub = protect_workforce(wf, threshold=threshold, language=language)
        figures["workforce"] = {
            "figure": plot_workforce(wf_pub, "all", tx["workforce"], tx["volunteers"], (tx["joiners"], tx["leavers"]),
                                     threshold, note=tx["rounded_note"]),
            "title": tx["workforce"], **_workforce_alt(wf_pub, tx, language, threshold)}
        tables["workforce_flow"] = wf_pub
    headline = retention_headline(analysis, language, threshold, workforce=wf_pub, results=results)
    written = publish_outputs(output_dir, results, headline, tables, figures, threshold=threshold)
    files: list[Any] = []
    for v in written.values():
        files.extend(v if isinstance(v, list) else [v])
    return {"headline": headline, "files": files, "figures": [f for f in files if str(f).endswith(".png")],
            "results": results}
