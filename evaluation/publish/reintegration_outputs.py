"""Publishing re-integration outcomes: disclosure control, wording (nl/en), figure and files.

:func:`reintegration_outputs` takes a fitted
:class:`evaluation.analyses.reintegration.ReintegrationAnalysis` and writes ``results.csv``,
``headline.json``, the table ``self_sufficiency_by_domain.csv`` (one row per instrument domain, from
the published rows only), the missingness model and the figure of the share sufficiently
self-sufficient at intake and at the end, through :func:`evaluation.publish.writer.publish_outputs`.
Every sentence is built from rows after disclosure control, so no sentence shows a number the
results withhold (docs/methods.md, sections 'Re-integration outcomes' and 'Disclosure control').
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.figures import LINE_COLOURS, PLAIN, _plain_figure, percent_axis, plain_text
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language, number
from evaluation.publish.labels import code_label, endpoint_label, name_words, note_label
from evaluation.publish.pooled import withhold_pooled
from evaluation.publish.suppression import protect_results
from evaluation.publish.writer import publish_outputs

#: Domains a headline names first, in this order, when the programme assessed them: the outcomes the
#: study links to volunteer work (housing, money, daytime activity or work, social network).
KEY_DOMAINS: tuple[str, ...] = ("housing", "finances", "work_education", "daytime_activities", "social_network")
MAX_HEADLINE_DOMAINS = 3

_TEXT = {
    "en": {
        "title": "Re-integration: self-sufficiency, personal goals and circumstances",
        "none": "This selection records no re-integration outcomes (no self-sufficiency assessments, goals, "
                "circumstances or consented outcomes of volunteers with lived experience).",
        "assessed": "Self-sufficiency was assessed with the {instrument} for {n} participants at intake.",
        "domain": "{domain}: of 100 participants, {end} were sufficiently self-sufficient at the end and {intake} at "
                  "intake (among those with both assessments: {people}).",
        "domain_no_end": "{domain}: of 100 participants, {intake} were sufficiently self-sufficient at intake; no end "
                         "assessments can be shown yet.",
        "diff": "{domain}: at equal intake scores, participants scored {diff} levels {direction} than the comparison "
                "group at the end (95% CI {lo} to {hi}); {causal}.",
        "causal_yes": "this may be read as an effect of the programme ({why})",
        "causal_no": "this cannot be read as an effect of the programme ({why})",
        "no_comparison": "There is no comparison group: a change from intake to the end is not an effect of the "
                         "programme, as people's situations also change without it.",
        "missing": "{share} of the end assessments that were due are missing. Weighting for who is missing changes "
                   "the mean change in {domain} from {cc} to {ipw} levels; both are published.",
        "missing_plain": "{share} of the end assessments that were due are missing; results for those assessed may "
                         "not hold for everyone.",
        "goals": "Of the reviewed personal goals, {share} were achieved (95% CI {lo} to {hi}).",
        "peer": "Of the volunteers with lived experience who consented to linkage, {share} had a new justice case "
                "within a year of starting (95% CI {lo} to {hi}){ref}.",
        "peer_ref": "; the published reference rate for people released from probation is {ref} (not a comparison "
                    "group)",
        "missing_same": "{share} of the end assessments that were due are missing. Weighting for who is missing "
                        "leaves the mean change in {domain} at {cc} levels; both are published.",
        "all_withheld": "The re-integration outcomes recorded for this selection rest on fewer than {k} people and are "
                        "not shown.",
        "small": "Fewer than {k} people in at least one figure: those figures are withheld and the rest are "
                 "indicative only.",
        "figure": "Sufficiently self-sufficient at intake and at the end, per domain (participants)",
        "xlabel": "share sufficiently self-sufficient (95% CI)",
        "intake": "at intake",
        "end": "at the end",
        "higher": "higher",
        "lower": "lower",
        "people_few": "fewer than {k}",
        "col_domain": "domain",
        "col_n": "participants with an intake score",
        "col_intake": "sufficient at intake",
        "col_end": "sufficient at the end",
        "col_change": "mean change to the end (levels)",
        "col_change_ci": "95% CI of the change",
        "col_diff": "difference with the comparison group (levels)",
        "col_diff_ci": "95% CI of the difference",
        "col_missing": "end assessment missing (of those due)",
        "alt": "{title}: {k} domains; {summary}",
        "alt_item": "{domain} {intake}% at intake, {end}% at the end",
    },
    "nl": {
        "title": "Re-integratie: zelfredzaamheid, persoonlijke doelen en omstandigheden",
        "none": "Deze selectie legt geen re-integratie-uitkomsten vast (geen metingen van zelfredzaamheid, doelen, "
                "omstandigheden of uitkomsten van ervaringsdeskundige vrijwilligers met toestemming).",
        "assessed": "De zelfredzaamheid is bij instroom gemeten met de {instrument} bij {n} deelnemers.",
        "domain": "{domain}: van 100 deelnemers waren er {end} voldoende zelfredzaam aan het eind en {intake} bij "
                  "instroom (onder wie beide metingen heeft: {people}).",
        "domain_no_end": "{domain}: van 100 deelnemers waren er {intake} voldoende zelfredzaam bij instroom; "
                         "eindmetingen kunnen nog niet worden getoond.",
        "diff": "{domain}: bij gelijke instroomscore scoorden deelnemers aan het eind {diff} niveau {direction} dan "
                "de vergelijkingsgroep (95%-BI {lo} tot {hi}); {causal}.",
        "causal_yes": "dit mag worden gelezen als effect van het programma ({why})",
        "causal_no": "dit mag niet als effect van het programma worden gelezen ({why})",
        "no_comparison": "Er is geen vergelijkingsgroep: een verandering van instroom tot het eind is geen effect van "
                         "het programma, want de situatie van mensen verandert ook zonder programma.",
        "missing": "Van de eindmetingen die hadden moeten plaatsvinden, ontbreekt {share}. Weging voor wie ontbreekt "
                   "verandert de gemiddelde verandering in {domain} van {cc} in {ipw} niveau; beide staan in de "
                   "resultaten.",
        "missing_plain": "Van de eindmetingen die hadden moeten plaatsvinden, ontbreekt {share}; de resultaten van wie "
                         "gemeten is, gelden misschien niet voor iedereen.",
        "goals": "Van de geëvalueerde persoonlijke doelen is {share} behaald (95%-BI {lo} tot {hi}).",
        "peer": "Van de ervaringsdeskundige vrijwilligers die toestemming gaven voor koppeling, kreeg {share} binnen "
                "een jaar na de start een nieuwe justitiezaak (95%-BI {lo} tot {hi}){ref}.",
        "peer_ref": "; het gepubliceerde referentiecijfer voor mensen na reclasseringstoezicht is {ref} (geen "
                    "vergelijkingsgroep)",
        "missing_same": "Van de eindmetingen die hadden moeten plaatsvinden, ontbreekt {share}. Weging voor wie "
                        "ontbreekt laat de gemiddelde verandering in {domain} op {cc} niveau; beide staan in de "
                        "resultaten.",
        "all_withheld": "De re-integratie-uitkomsten die voor deze selectie zijn vastgelegd, berusten op minder dan {k} "
                        "personen en worden niet getoond.",
        "small": "Minder dan {k} personen in ten minste één cijfer: die cijfers worden niet getoond en de andere zijn "
                 "slechts indicatief.",
        "figure": "Voldoende zelfredzaam bij instroom en aan het eind, per domein (deelnemers)",
        "xlabel": "aandeel voldoende zelfredzaam (95%-BI)",
        "intake": "bij instroom",
        "end": "aan het eind",
        "higher": "hoger",
        "lower": "lager",
        "people_few": "minder dan {k}",
        "col_domain": "domein",
        "col_n": "deelnemers met een instroomscore",
        "col_intake": "voldoende bij instroom",
        "col_end": "voldoende aan het eind",
        "col_change": "gemiddelde verandering tot het eind (niveaus)",
        "col_change_ci": "95%-BI van de verandering",
        "col_diff": "verschil met de vergelijkingsgroep (niveaus)",
        "col_diff_ci": "95%-BI van het verschil",
        "col_missing": "eindmeting ontbreekt (van wie die had moeten hebben)",
        "alt": "{title}: {k} domeinen; {summary}",
        "alt_item": "{domain} {intake}% bij instroom, {end}% aan het eind",
    },
}


def _value(rows: pd.DataFrame, estimand: str, endpoint: str, group: str = "programme",
           missing_data: str | None = None) -> dict[str, Any] | None:
    """The published row (estimate shown, i.e. not withheld) of one estimand, or None."""
    sel = rows[(rows["estimand"] == estimand) & (rows["endpoint"] == endpoint) & (rows["group"] == group)]
    if missing_data is not None and "missing_data" in sel:
        sel = sel[sel["missing_data"].fillna("").astype(str) == missing_data]
    if sel.empty:
        return None
    r = sel.iloc[0].to_dict()
    est = pd.to_numeric(pd.Series([r.get("estimate")]), errors="coerce").iloc[0]
    return None if pd.isna(est) else r


def _why(note: Any, language: str) -> str:
    """Why a comparison is (not) causal, from its note, in the reader's language (the parts with words in
    that language; the rest stays in results.csv)."""
    parts = [p.strip() for p in str(note or "").split(";") if p.strip()]
    parts = [p for p in parts if p.startswith(("causal:", "not causal", "randomised"))] or parts[-1:]
    if language == "en":
        return _terms(name_words("; ".join(parts), language), language) or "-"
    shown = [note_label(p, language) for p in parts]
    text = name_words("; ".join(d for p, d in zip(parts, shown, strict=True) if d != p), language)
    return _terms(text, language) or "-"


def _terms(text: str, language: str) -> str:
    """Model terms left in a note in words: ``baseline`` (the intake score) and ``key[level]``."""
    text = re.sub(r"\bbaseline\b", code_label("baseline", language), text)
    return re.sub(r"\b([a-z][a-z_]*)\[([^\]]+)\]",
                  lambda m: f"{code_label(m[1], language)}: {code_label(m[2], language)}", text)


def _pct(x: Any, language: str) -> str:
    return f"{number(100 * float(x), language, 0)}%"


def _per100(x: Any, language: str) -> str:
    return number(100 * float(x), language, 0)


def _levels(x: Any, language: str, signed: bool = False) -> str:
    v = float(x)
    text = number(abs(v) if not signed else v, language, 2)
    return ("+" + text) if signed and v > 0 else text


def _domain_words(endpoint: str, language: str, with_instrument: bool = False) -> str:
    """A domain in words, capitalised; with the instrument in brackets when several instruments are shown."""
    words = endpoint_label(endpoint, language)
    instrument, _, domain = words.rpartition(": ")
    text = domain[:1].upper() + domain[1:]
    return f"{text} ({instrument})" if with_instrument and instrument else text


def _domains(rows: pd.DataFrame) -> list[str]:
    """Instrument domains with an intake share, key domains first (:data:`KEY_DOMAINS`), then the rest in order."""
    eps = [e for e in dict.fromkeys(rows.loc[rows["estimand"] == "share_sufficient_intake", "endpoint"].astype(str))]
    rank = {d: i for i, d in enumerate(KEY_DOMAINS)}
    return sorted(eps, key=lambda e: (rank.get(e.partition(":")[2], len(rank)), eps.index(e)))


def domain_table(published: pd.DataFrame, language: str = DEFAULT_LANGUAGE) -> pd.DataFrame:
    """One row per instrument domain from the published (protected) rows: people with an intake score,
    the shares sufficient at intake and at the end, the mean change with its interval, the difference
    with the comparison group at equal intake score with its interval, and the share of end assessments
    missing. A withheld or non-estimable value is empty (its reason is in results.csv)."""
    tx = _TEXT[check_language(language)]
    out = []
    for ep in _domains(published):
        def est(estimand, group="programme", md=None, col="estimate", ep=ep):
            r = _value(published, estimand, ep, group, md)
            return float(r[col]) if r is not None and not pd.isna(r.get(col)) else np.nan

        n_row = published[(published["estimand"] == "share_sufficient_intake") & (published["endpoint"] == ep)
                           & (published["group"] == "programme")]
        n = n_row["n"].iloc[0] if len(n_row) else np.nan
        out.append({
            tx["col_domain"]: endpoint_label(ep, language),
            tx["col_n"]: n,
            tx["col_intake"]: est("share_sufficient_intake"),
            tx["col_end"]: est("share_sufficient_end"),
            tx["col_change"]: est("mean_change_end", md="complete_case"),
            tx["col_change_ci"]: _ci_text(est("mean_change_end", md="complete_case", col="ci_lower"),
                                          est("mean_change_end", md="complete_case", col="ci_upper"), language),
            tx["col_diff"]: est("ancova_difference_end", "difference", md="complete_case"),
            tx["col_diff_ci"]: _ci_text(est("ancova_difference_end", "difference", md="complete_case", col="ci_lower"),
                                        est("ancova_difference_end", "difference", md="complete_case", col="ci_upper"),
                                        language),
            tx["col_missing"]: est("share_missing_end"),
        })
    return pd.DataFrame(out)


def _ci_text(lo: float, hi: float, language: str) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return ""
    return f"{number(lo, language, 2)} {'tot' if language == 'nl' else 'to'} {number(hi, language, 2)}"


def reintegration_headline(published: pd.DataFrame, language: str = DEFAULT_LANGUAGE,
                           threshold: int = SUPPRESSION_THRESHOLD,
                           design: str = "descriptive") -> dict[str, Any]:
    """``headline.json`` content from the published rows only (so it never shows a withheld number).

    Names the instrument and how many participants were assessed, then for up to
    :data:`MAX_HEADLINE_DOMAINS` domains (:data:`KEY_DOMAINS` first) the share sufficiently
    self-sufficient per 100 at the end and at intake, the difference with the comparison group with
    whether it may be read as causal, the share of end assessments missing (with the weighted result
    beside the complete-case one), goal attainment and the peer mentors' new cases. Status
    ``warning`` when a number is withheld for small numbers or more than a fifth of end assessments is
    missing; ``not_estimable`` when nothing was recorded.
    """
    tx = _TEXT[check_language(language)]
    if published.empty:
        return {"status": "not_estimable", "title": tx["title"], "sentences": [tx["none"]]}
    sentences: list[str] = []
    status = "ok"
    notes = published["note"].fillna("").astype(str)
    domains = _domains(published)
    # a warning when a number the headline would give is withheld (small numbers), not for any small cell
    headline_rows = published["endpoint"].astype(str).isin([*domains[:MAX_HEADLINE_DOMAINS], "goals:all", "peer_mentor"])
    key_withheld = bool((headline_rows & notes.str.contains("suppressed|withheld", regex=True)).any())
    if key_withheld:
        status = "warning"
    if domains:
        instruments = list(dict.fromkeys(e.partition(":")[0] for e in domains))
        first = published[(published["estimand"] == "share_sufficient_intake") & (published["group"] == "programme")]
        # people assessed: per instrument the largest domain count, summed (one instrument per programme)
        n_people = pd.to_numeric(first["n"], errors="coerce").groupby(
            first["endpoint"].astype(str).str.partition(":")[0]).max().sum(min_count=1)
        if not pd.isna(n_people):
            ins_words = " / ".join(endpoint_label(f"{i}:x", language).split(":")[0] for i in instruments)
            sentences.append(tx["assessed"].format(instrument=ins_words, n=number(n_people, language, 0)))
        for ep in domains[:MAX_HEADLINE_DOMAINS]:
            dom = _domain_words(ep, language, with_instrument=len(instruments) > 1)
            intake = _value(published, "share_sufficient_intake", ep)
            end = _value(published, "share_sufficient_end", ep, missing_data="complete_case")
            if intake is not None and end is not None:
                people = pd.to_numeric(pd.Series([end.get("n")]), errors="coerce").iloc[0]
                sentences.append(tx["domain"].format(domain=dom, end=_per100(end["estimate"], language),
                                                     intake=_per100(intake["estimate"], language),
                                                     people=number(people, language, 0)))
            elif intake is not None:
                sentences.append(tx["domain_no_end"].format(domain=dom, intake=_per100(intake["estimate"], language)))
            diff = _value(published, "ancova_difference_end", ep, "difference", "complete_case")
            if diff is not None and not pd.isna(diff.get("ci_lower")):
                causal = str(diff.get("causal")).strip().lower() in ("true", "1")
                why = _why(diff.get("note"), language)
                sentences.append(tx["diff"].format(
                    domain=dom, diff=_levels(diff["estimate"], language),
                    direction=tx["higher"] if float(diff["estimate"]) >= 0 else tx["lower"],
                    lo=number(float(diff["ci_lower"]), language, 2), hi=number(float(diff["ci_upper"]), language, 2),
                    causal=(tx["causal_yes"] if causal else tx["causal_no"]).format(why=why)))
        if design == "descriptive":  # its difference rows say "not estimable: no comparison group"
            sentences.append(tx["no_comparison"])
        miss = _value(published, "share_missing_end", domains[0])
        if miss is not None:
            share = float(miss["estimate"])
            if share > 0.2:
                status = "warning"
            cc = _value(published, "mean_change_end", domains[0], missing_data="complete_case")
            ipw = _value(published, "mean_change_end", domains[0], missing_data="ipw_observation")
            if share > 0 and cc is not None and ipw is not None and _levels(cc["estimate"], language, True) == \
                    _levels(ipw["estimate"], language, True):
                sentences.append(tx["missing_same"].format(share=_pct(share, language),
                                                           domain=_domain_words(domains[0], language).lower(),
                                                           cc=_levels(cc["estimate"], language, True)))
            elif share > 0 and cc is not None and ipw is not None:
                sentences.append(tx["missing"].format(share=_pct(share, language),
                                                      domain=_domain_words(domains[0], language).lower(),
                                                      cc=_levels(cc["estimate"], language, True),
                                                      ipw=_levels(ipw["estimate"], language, True)))
            elif share > 0:
                sentences.append(tx["missing_plain"].format(share=_pct(share, language)))
    goals = published[(published["estimand"] == "share_goals_achieved")
                      & (published["endpoint"].astype(str) == "goals:all")]
    if len(goals) and not pd.isna(pd.to_numeric(goals["estimate"], errors="coerce").iloc[0]):
        g = goals.iloc[0]
        sentences.append(tx["goals"].format(share=_pct(g["estimate"], language), lo=_pct(g["ci_lower"], language),
                                            hi=_pct(g["ci_upper"], language)))
    peer = _value(published, "peer_mentor_new_case_1y", "peer_mentor")
    if peer is not None:
        ref = _value(published, "peer_mentor_reference_rate", "peer_mentor", "reference")
        sentences.append(tx["peer"].format(
            share=_pct(peer["estimate"], language), lo=_pct(peer["ci_lower"], language),
            hi=_pct(peer["ci_upper"], language),
            ref=tx["peer_ref"].format(ref=_pct(ref["estimate"], language)) if ref is not None else ""))
    withheld = notes.str.contains("suppressed|withheld", regex=True).any()
    if not sentences:
        if withheld:
            return {"status": "warning", "title": tx["title"], "sentences": [tx["all_withheld"].format(k=threshold)]}
        return {"status": "not_estimable", "title": tx["title"], "sentences": [tx["none"]]}
    if key_withheld:
        sentences.append(tx["small"].format(k=threshold))
    return {"status": status, "title": tx["title"], "sentences": sentences}


def plot_self_sufficiency(published: pd.DataFrame, language: str = DEFAULT_LANGUAGE) -> dict[str, Any] | None:
    """Dumbbell chart: per domain the share sufficiently self-sufficient at intake and at the end
    (programme participants, complete case, 95% Wilson intervals), from published rows only; with its
    title, alt text and data table. None when no domain has both shares published."""
    tx = _TEXT[check_language(language)]
    items = []
    for ep in _domains(published):
        a = _value(published, "share_sufficient_intake", ep)
        b = _value(published, "share_sufficient_end", ep, missing_data="complete_case")
        if a is not None and b is not None:
            items.append((endpoint_label(ep, language), a, b))
    if not items:
        return None
    from matplotlib.figure import Figure  # why: matplotlib only when a figure is drawn

    fig = Figure(figsize=(7.5, 0.45 * len(items) + 1.4))
    ax = fig.add_subplot(111)
    y = np.arange(len(items))[::-1]
    for yi, (_, a, b) in zip(y, items, strict=True):
        ax.plot([float(a["estimate"]), float(b["estimate"])], [yi, yi], color="#999999", lw=1, zorder=1)
    for key, idx, colour, marker in (("intake", 1, LINE_COLOURS[1], "o"), ("end", 2, LINE_COLOURS[0], "s")):
        xs = np.array([float(it[idx]["estimate"]) for it in items])
        lo = np.array([float(it[idx]["ci_lower"]) for it in items])
        hi = np.array([float(it[idx]["ci_upper"]) for it in items])
        ax.errorbar(xs, y, xerr=[xs - lo, hi - xs], fmt=marker, color=colour, ecolor=colour, elinewidth=1,
                    capsize=2, label=tx[key], zorder=2)
    ax.set_yticks(y, [plain_text(it[0]) for it in items], fontsize=8, **PLAIN)
    ax.set_xlim(0, 1)
    percent_axis(ax, language, "x")
    ax.set_xlabel(plain_text(tx["xlabel"]), fontsize=8, **PLAIN)
    ax.set_title(plain_text(tx["figure"]), fontsize=10, loc="left", **PLAIN)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _plain_figure(fig)
    fig.tight_layout()
    summary = "; ".join(tx["alt_item"].format(domain=it[0], intake=_per100(it[1]["estimate"], language),
                                              end=_per100(it[2]["estimate"], language)) for it in items)
    nl = language == "nl"
    data = pd.DataFrame({
        tx["col_domain"]: [it[0] for it in items],
        tx["col_intake"]: [round(float(it[1]["estimate"]), 4) for it in items],
        tx["col_end"]: [round(float(it[2]["estimate"]), 4) for it in items],
        ("95%-BI ondergrens aan het eind" if nl else "95% CI lower limit at the end"):
            [round(float(it[2]["ci_lower"]), 4) for it in items],
        ("95%-BI bovengrens aan het eind" if nl else "95% CI upper limit at the end"):
            [round(float(it[2]["ci_upper"]), 4) for it in items],
    })
    return {"figure": fig, "title": tx["figure"],
            "alt": tx["alt"].format(title=tx["figure"], k=len(items), summary=summary) + ".", "data": data}


def reintegration_outputs(analysis: Any, output_dir: Any, language: str = DEFAULT_LANGUAGE,
                          threshold: int = SUPPRESSION_THRESHOLD, design: str = "descriptive",
                          programme_results: Any = None) -> dict[str, Any]:
    """Write results.csv, headline.json, ``self_sufficiency_by_domain.csv``, ``missingness_model.csv`` and the
    figure into ``output_dir``; everything shown is taken from the rows after disclosure control.

    ``programme_results`` (all programmes together only): the programmes' published re-integration rows
    (a folder with their ``results.csv``); totals that would give a programme's "<10" back by
    subtraction are withheld (:func:`evaluation.publish.pooled.withhold_pooled`).

    Returns ``{"headline", "files", "figures" (png paths), "table" (the domain table as published)}``.
    """
    check_language(language)
    results = analysis.results_
    if programme_results is not None and getattr(analysis, "programme_id", None) == "all":
        results = withhold_pooled(results, programme_results, threshold)
    published = protect_results(results, threshold=threshold)
    headline = reintegration_headline(published, language, threshold, design)
    table = domain_table(published, language)
    tables: dict[str, pd.DataFrame] = {}
    if len(table):
        tables["self_sufficiency_by_domain"] = table
    miss = analysis.tables_.get("missingness_model")
    if miss is not None and len(miss):
        miss = miss.copy()
        small = pd.to_numeric(miss.get("n"), errors="coerce") < threshold
        miss.loc[small, ["odds_ratio", "ci_lower", "ci_upper", "p_value"]] = np.nan
        v = pd.to_numeric(miss.get("n"), errors="coerce")
        miss["n"] = v.where(~((v > 0) & (v < threshold)))
        # the observed count beside n would give the number missing, which may be 1-9 people
        tables["missingness_model"] = miss.drop(columns=["n_observed"], errors="ignore")
    figures = {}
    fig = plot_self_sufficiency(published, language)
    if fig is not None:
        figures["self_sufficiency"] = fig
    written = publish_outputs(output_dir, results, headline, tables, figures, threshold=threshold)
    files: list[Any] = []
    for v in written.values():
        files.extend(v if isinstance(v, list) else [v])
    return {"headline": headline, "files": files, "table": table,
            "figures": [p for p in files if str(p).endswith(".png")]}
