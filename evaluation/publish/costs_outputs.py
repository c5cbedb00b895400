"""Wording, figures and files of the costs report (notebook 40).

Everything that leaves :class:`evaluation.analyses.costs.CostsAnalysis` for a
report goes through :func:`costs_outputs`: withholding totals of all
programmes that would give a programme's small count back
(:func:`evaluation.publish.disclosure.withhold_pooled`), blanking unit costs
of fewer than ``threshold`` participants, the figure and the headline in
Dutch or English; then :func:`evaluation.publish.synthesis_outputs.write_outputs`
(the one writer) publishes it. See docs/methods.md, section 'Costs'.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD, make_results
from evaluation.contract.schema import load_contract
from evaluation.publish import disclosure
from evaluation.publish.figures import LINE_COLOURS, PLAIN, plain_text
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language, euro, number, percent
from evaluation.publish.labels import not_measured_sentences
from evaluation.publish.synthesis_outputs import display_figure, write_outputs  # noqa: F401  (the notebook's)

_HATCHES = ("", "//", "..", "xx")


def costs_by_quarter_figure(quarterly: pd.DataFrame, title: str = "", language: str = DEFAULT_LANGUAGE):
    """Stacked bars of recorded cost per quarter by category (matplotlib Figure).

    Categories in words (the contract's labels), Okabe-Ito colours (:data:`~evaluation.publish.figures.LINE_COLOURS`)
    with a hatch pattern once the colours repeat, euro amounts on the y axis in the reader's notation.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    wide = quarterly.pivot_table(index="quarter", columns="category", values="amount_eur", aggfunc="sum", fill_value=0.0)
    fig = Figure(figsize=(10, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    bottom = np.zeros(len(wide))
    x = np.arange(len(wide))
    contract = load_contract()
    for i, cat in enumerate(wide.columns):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        ax.bar(x, wide[cat].to_numpy(), bottom=bottom, width=0.8, color=colour, edgecolor="white", linewidth=0.5,
               hatch=_HATCHES[(i // len(LINE_COLOURS)) % len(_HATCHES)],
               label=plain_text(contract.code_label("costs", "category", cat, language)))
        bottom += wide[cat].to_numpy()
    step = max(1, len(wide) // 12)
    ax.set_xticks(x[::step], [plain_text(q) for q in wide.index[::step]], rotation=45, ha="right")
    ax.set_xlabel("kwartaal" if language == "nl" else "quarter")
    ax.set_ylabel("kosten (euro)" if language == "nl" else "cost (euro)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: euro(v, language)))
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(plain_text(title), loc="left", **PLAIN)
    fig.tight_layout()
    return fig


def costs_figure_text(quarterly: pd.DataFrame, label: str, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Title, alt text and data table of :func:`costs_by_quarter_figure`: the total and period, the largest
    category and its share; the data table is the amounts per quarter and category (no counts of people)."""
    nl = language == "nl"
    contract = load_contract()
    title = (f"Kosten per kwartaal: {label}" if nl else f"Costs per quarter: {label}")
    if not len(quarterly):
        return {"title": title, "alt": title + ("; geen kosten geregistreerd." if nl else "; no costs recorded."),
                "data": None}
    by_cat = quarterly.groupby("category")["amount_eur"].sum().sort_values(ascending=False)
    total = float(by_cat.sum())
    q = sorted(quarterly["quarter"].astype(str).unique())
    top = contract.code_label("costs", "category", by_cat.index[0], language)
    share = percent(by_cat.iloc[0] / total, language) if total > 0 else ""
    alt = (f"Gestapelde staven van de geregistreerde kosten per kwartaal en categorie, van {q[0]} tot en met {q[-1]}, "
           f"{label}: in totaal {euro(total, language)}; de grootste categorie is {top} ({share})." if nl else
           f"Stacked bars of recorded costs per quarter and category, from {q[0]} to {q[-1]}, {label}: "
           f"{euro(total, language)} in total; the largest category is {top.lower()} ({share}).")
    wide = quarterly.pivot_table(index="quarter", columns="category", values="amount_eur", aggfunc="sum",
                                 fill_value=0.0).round(2)
    wide.columns = [contract.code_label("costs", "category", c, language) for c in wide.columns]
    data = wide.reset_index().rename(columns={"quarter": "kwartaal" if nl else "quarter"})
    return {"title": title, "alt": alt, "data": data}


def costs_outputs(analysis: Any, language: str = DEFAULT_LANGUAGE, threshold: int = SUPPRESSION_THRESHOLD,
                  programme_results: Any = None) -> dict[str, Any]:
    """What the costs report shows, after disclosure control.

    For all programmes, counts of all programmes that would give a
    programme's ``"<10"`` back by subtraction (from the programme rows of
    this analysis and ``programme_results``, the programmes' published cost
    rows: a DataFrame, CSV path or folder) are withheld in the results, the
    unit-cost table and the headline.

    Returns
    -------
    dict
        ``results`` (``RESULT_COLUMNS``), ``tables`` (``unit_costs``,
        ``costs_by_quarter``, ``cost_effectiveness``; aggregates only),
        ``figures`` (``costs_by_quarter``), ``headline`` (status, title,
        sentences in ``language``).
    """
    check_language(language)
    programme_id = analysis.programme_id
    support = getattr(analysis, "support_", pd.DataFrame())
    missing = not_measured_sentences(support, ["costs"], language, programme_id) if len(support) else []
    if not analysis.has_costs_:
        who = "" if programme_id == "all" else f" ({programme_id})"
        title = ("Kosten" if language == "nl" else "Costs") + who
        sentence = (f"Er zijn geen kosten aangeleverd{who}; de kosten kunnen niet worden berekend."
                    if language == "nl" else f"No costs were supplied{who}; costs cannot be computed.")
        results = analysis.results_ if len(analysis.results_) else make_results([])
        return {"results": results, "tables": {}, "figures": {},
                "headline": {"status": "not_estimable", "title": title, "sentences": missing or [sentence]}}
    cs, ce, res = analysis.cost_summary_, analysis.cost_effectiveness_, analysis.results_
    withheld_total = False
    if programme_id == "all":
        res = disclosure.withhold_pooled(res, programme_results, threshold)
        active = res[(res["programme_id"] == "all") & (res["estimand"] == "cost_per_active_participant_eur")
                     & (res["period"] == "total") & (res["group"] == "all")]
        withheld_total = bool(active[disclosure.WITHHOLD_COLUMN].map(lambda w: "n" in w.split(",")).any())
    unit = analysis.tables_["unit_costs"].copy()
    small = pd.to_numeric(unit["participants_active"], errors="coerce") < threshold
    # the total of all programmes minus the programmes shown would give a hidden "<10" back
    hide_total = (unit["programme_id"] == "all").to_numpy() & withheld_total
    for col in ("cost_per_active_participant_eur", "cost_per_completed_trajectory_eur"):
        if col in unit.columns:
            unit.loc[small | hide_total, col] = np.nan
    unit["participants_active"] = [
        disclosure.SECONDARY_MARKER if h else (disclosure.protect_count(x, threshold, language) if pd.notna(x) else "")
        for x, h in zip(unit["participants_active"], hide_total, strict=True)]
    qc_in = analysis.quarterly_
    label = "alle programma's" if (programme_id == "all" and language == "nl") else (
        "all programmes" if programme_id == "all" else programme_id)
    fig = {"figure": costs_by_quarter_figure(qc_in, title=label, language=language),
           **costs_figure_text(qc_in, label, language)}
    tot = cs[(cs["period"] == "total") & (cs["group"] == "all")]
    scope = tot[tot.programme_id == ("all" if programme_id == "all" and "all" in set(tot.programme_id) else
                                     (programme_id if programme_id != "all" else tot.programme_id.iloc[0]))]

    def val(estimand):
        r = scope[scope.estimand == estimand]
        return (float(r["estimate"].iloc[0]), r["n"].iloc[0], r["events"].iloc[0]) if len(r) else (np.nan, np.nan, np.nan)

    total, _, _ = val("cost_total_eur")
    cpp, n_active, _ = val("cost_per_active_participant_eur")
    cpt, _, n_done = val("cost_per_completed_trajectory_eur")
    hours, _, _ = val("volunteer_contact_hours")
    value, _, _ = val("volunteer_time_value_eur")
    q0, q1 = (sorted(qc_in.quarter.unique())[0], sorted(qc_in.quarter.unique())[-1]) if len(qc_in) else ("", "")
    pc = disclosure.protect_count(n_active, threshold, language) if pd.notna(n_active) else "?"
    few = (pd.notna(n_active) and n_active < threshold) or withheld_total
    rate = analysis.hourly_rate_eur
    nl = language == "nl"
    s = [f"Van {q0} tot en met {q1} zijn voor {label} {euro(total, 'nl')} aan kosten geregistreerd." if nl else
         f"From {q0} to {q1}, {label} recorded costs of {euro(total, 'en')}."]
    if not few and np.isfinite(cpp):
        s.append(f"Dat is {euro(cpp, 'nl')} per deelnemer ({pc} deelnemers waren in die periode actief)"
                 + (f" en {euro(cpt, 'nl')} per afgerond traject." if np.isfinite(cpt) else ".") if nl else
                 f"That is {euro(cpp, 'en')} per participant ({pc} participants were active in that period)"
                 + (f" and {euro(cpt, 'en')} per completed trajectory." if np.isfinite(cpt) else "."))
    no_contacts = not_measured_sentences(support, ["contacts"], language, programme_id) if len(support) else []
    if np.isfinite(hours):
        s.append(f"Vrijwilligers besteedden {number(hours, 'nl')} uur aan contact met deelnemers, "
                 f"gewaardeerd op {euro(value, 'nl')} tegen {euro(rate, 'nl', 2)} per uur." if nl else
                 f"Volunteers spent {number(hours, 'en')} hours in contact with participants, valued at "
                 f"{euro(value, 'en')} at {euro(rate, 'en', 2)} per hour.")
    status = "ok"
    if few and withheld_total and not (pd.notna(n_active) and n_active < threshold):
        status = "warning"
        s.append("De kosten per deelnemer van alle programma's samen worden niet getoond: met de cijfers van de "
                 "afzonderlijke programma's zouden ze een klein aantal deelnemers prijsgeven." if nl
                 else "Costs per participant of all programmes together are not shown: with the programmes' own "
                 "figures they would reveal a small number of participants.")
    elif few:
        status = "warning"
        s.append("Te weinig deelnemers om kosten per deelnemer te tonen." if nl
                 else "Too few participants to show costs per participant.")
    if missing or no_contacts:
        status = "warning"
        s.extend(missing + no_contacts)
    st = analysis.effect_status_
    failed = [r for r in (st.to_dict("records") if len(st) else []) if r["status"] == "failed"]
    if programme_id != "all" and failed:
        status = "warning"
        s.append("De recidiveanalyse kon voor dit programma niet worden uitgevoerd; er is daarom geen bedrag per "
                 "voorkomen recidivist." if nl else
                 "The recidivism analysis could not be run for this programme, so there is no cost per "
                 "reoffender avoided.")
    if programme_id != "all" and len(ce):
        status = _effect_sentences(s, ce, programme_id, analysis.cost_per_reoffence_eur, language, status)
    out_tables = {"unit_costs": unit, "costs_by_quarter": analysis.tables_["costs_by_quarter"]}
    if len(ce):
        ce_tab = disclosure.protect_results(ce, threshold=threshold)
        out_tables["cost_effectiveness"] = ce_tab[
            ["programme_id", "estimand", "estimate", "ci_lower", "ci_upper", "n", "causal", "note"]]
    return {"results": res, "tables": out_tables, "figures": {"costs_by_quarter": fig},
            "headline": {"status": status, "title": f"Kosten: {label}" if nl else f"Costs: {label}",
                         "sentences": s}}


def _effect_horizon(row: pd.Series, language: str) -> str:
    """'within two years' (or one year) from the effect estimand in the row's method text."""
    m = re.search(r"prevalence_(\d+)d", str(row.get("method", "")))
    days = int(m.group(1)) if m else 730
    words = {("en", 365): "within one year", ("en", 730): "within two years",
             ("nl", 365): "binnen een jaar", ("nl", 730): "binnen twee jaar"}
    return words.get((language, days), f"within {days} days" if language == "en" else f"binnen {days} dagen")


def _effect_sentences(s: list[str], ce: pd.DataFrame, programme_id: str, cost_per_reoffence_eur: float | None,
                      language: str, status: str) -> str:
    """Sentences on the cost per reoffender avoided (appended to ``s``); returns the headline status.

    The effect is the programme's primary outcome, as its recidivism report published it (same
    horizon and endpoint as that headline). A withheld or non-estimable effect, or one from a
    comparison that is not causal, gives no cost per reoffender avoided and no probability that the
    programme reduces reoffending (docs/methods.md, section 'Primary outcome')."""
    nl = language == "nl"
    row = ce[(ce.programme_id == programme_id) & (ce.estimand == "cost_per_reoffender_avoided_eur")]
    if not len(row):
        return status
    r = row.iloc[0]
    h = _effect_horizon(r, language)
    if "not estimable" in str(r["note"]):
        s.append("De primaire recidiveuitkomst van dit programma is niet gepubliceerd of niet te schatten; daarom is "
                 "er geen bedrag per voorkomen recidivist." if nl else
                 "The programme's primary reoffending outcome is withheld or not estimable, so there is no cost per "
                 "reoffender avoided.")
        return "warning"
    if not bool(r["causal"]):
        s.append(f"De vergelijking achter de primaire recidiveuitkomst ({h}) is niet causaal; daarom zetten we de "
                 "kosten niet af tegen een effect van het programma." if nl else
                 f"The comparison behind the primary reoffending outcome ({h}) is not causal, so the costs are not "
                 "set against an effect of the programme.")
        return "warning"
    if np.isfinite(r["estimate"]):
        s.append(
            f"Elke deelnemer die {h} niet recidiveerde dankzij het programma kostte ongeveer "
            f"{euro(r['estimate'], 'nl')} (95%-interval {euro(r['ci_lower'], 'nl')} tot {euro(r['ci_upper'], 'nl')})."
            if nl else
            f"Each participant kept from reoffending {h} cost about {euro(r['estimate'], 'en')} "
            f"(95% interval {euro(r['ci_lower'], 'en')} to {euro(r['ci_upper'], 'en')}).")
    else:
        status = "warning"
        pb = ce[(ce.programme_id == programme_id) & (ce.estimand == "probability_effect_beneficial")]
        p_b = float(pb["estimate"].iloc[0]) if len(pb) else np.nan
        s.append(
            f"De daling in recidive {h} (de primaire uitkomstmaat) is niet statistisch significant; daarom noemen "
            f"we geen bedrag per voorkomen recidivist. De kans dat het programma recidive {h} vermindert is "
            f"{percent(p_b, 'nl')} (bij een vlakke voorkennis)." if nl else
            f"The reduction in reoffending {h} (the primary outcome) is not statistically significant, so no cost "
            f"per reoffender avoided is given. The probability that the programme reduces reoffending {h} is "
            f"{percent(p_b, 'en')} (under a flat prior).")
    if cost_per_reoffence_eur is not None:
        be = ce[(ce.programme_id == programme_id) & (ce.estimand == "probability_break_even")]
        if len(be) and np.isfinite(be["estimate"].iloc[0]):
            p = percent(float(be["estimate"].iloc[0]), language)
            s.append(f"Bij {euro(cost_per_reoffence_eur, 'nl')} per recidive is de kans dat het programma zichzelf "
                     f"terugverdient {p}." if nl else
                     f"At {euro(cost_per_reoffence_eur, 'en')} per reoffence, the probability that the programme "
                     f"pays for itself is {p}.")
    return status
