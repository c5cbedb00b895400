"""The quarter site: the pages a reader opens, rendered from jinja2 templates.

Built from the published files of a quarter (``headline.json``, ``results.csv``, table CSVs, figures
and their ``NAME.json`` sidecars), never from raw notebook output; the executed notebooks
(``notebook.ipynb``, ``report.html``) stay as the audit trail and are linked from every detail page.

Pages (all written through :func:`evaluation.publish.writer.write_text`):

- ``index.html``: one-page overview: each programme's primary result (docs/methods.md, section
  'Primary outcome'), its design and whether it is causal, and the status of every notebook;
- ``<pid>/index.html``: one-screen summary per programme (Justice Data Lab style): the question and
  the answer, a "what you can say" and a "what you cannot say" box, the participant flow and links
  to the detail pages;
- ``<pid>/<notebook>/index.html``: a detail page per notebook: headline, key results, figures with
  their data and the tables.

Numbers are shown in the reader's notation (:mod:`evaluation.publish.formatting`) and codes in words
(:mod:`evaluation.publish.labels`); a withheld value shows a short reason instead of a number
(docs/methods.md, section 'Disclosure control'). Nothing here computes a statistic.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from evaluation import __version__
from evaluation.publish.formatting import (
    NOT_ESTIMABLE_TEXT,
    check_language,
    number,
    percent,
    ratio_shown,
)
from evaluation.publish.labels import (
    analysis_label,
    code_label,
    column_label,
    display_table,
    endpoint_label,
    estimand_label,
    name_words,
    note_label,
    value_label,
)
from evaluation.publish.writer import write_text

LANGUAGE_NAMES: dict[str, str] = {"nl": "Nederlands", "en": "English"}
"""Each language named in itself: the link to the other version carries ``lang`` and ``hreflang``."""

TEXT: dict[str, dict[str, str]] = {
    "nl": {
        "site_title": "Vrijwilligersprogramma's reclassering",
        "quarter": "Kwartaal", "cutoff": "Peildatum", "version": "Versie evaluatiepakket", "run": "Run",
        "programme": "Programma", "skip": "Naar de inhoud", "nav_label": "Kruimelpad",
        "overview": "Overzicht", "all_programmes": "Alle programma's samen",
        "cutoff_quarter_end": "einde van het kwartaal", "cutoff_extract": "peildatum van het extract",
        "footer": ("Gemaakt uit de gepubliceerde tabellen en figuren. Aantallen van 1 tot 9 mensen worden niet "
                   "getoond (<10). De uitgevoerde notebooks staan bij elke analyse als verantwoording."),
        "index_intro": ("Per programma de primaire uitkomst: recidive van deelnemers, met het "
                        "95%-betrouwbaarheidsinterval, de opzet van het onderzoek en of het resultaat als "
                        "effect van het programma gelezen mag worden."),
        "failures": "Niet alle analyses zijn gelukt; de overige zijn wel gepubliceerd:",
        "primary_results": "Primaire uitkomst per programma", "analyses_status": "Status van de analyses",
        "manifest": "Herkomst en controle (manifest.json)", "all_results_csv": "Alle resultaten (CSV)",
        "run_log": "Logboek van de run",
        "col_programme": "Programma", "col_design": "Opzet", "col_measure": "Primaire uitkomst",
        "col_result": "Resultaat per 100 deelnemers", "col_ci": "95%-interval", "col_causal": "Causaal",
        "col_why": "Waarom", "col_summary": "Samenvatting",
        "primary_caption": "Primaire uitkomst per programma, kwartaal {q}",
        "status_caption": "Status van elke analyse per programma, kwartaal {q}",
        "summary_link": "samenvatting",
        "status_ok": "gelukt", "status_failed": "mislukt", "status_timeout": "afgebroken (tijdslimiet)",
        "status_skipped": "niet uitgevoerd", "status_missing": "niet in deze run",
        "design_rct": "gerandomiseerd experiment", "design_matched": "gematchte vergelijking",
        "design_descriptive": "beschrijvend (geen vergelijkingsgroep)",
        "yes": "ja", "no": "nee",
        "why_rct": "deelnemers en vergelijkingsgroep zijn door loting ingedeeld",
        "why_matched": ("vergelijkbare groepen na matching; aanname: geen verschil in niet-gemeten "
                        "kenmerken"),
        "why_matched_not": ("na matching verschillen de groepen nog op gemeten kenmerken of overlappen ze "
                            "slecht"),
        "why_descriptive": "er is geen vergelijkingsgroep; het cijfer beschrijft alleen de deelnemers",
        "why_pooled": "programma's van verschillende opzet samengenomen; alleen een beschrijving",
        "why_other": "de opzet ondersteunt geen causale lezing",
        "difference": "verschil met de vergelijkingsgroep", "own_rate": "eigen cijfer van de deelnemers",
        "per100_diff": "{x} per 100 deelnemers", "per100": "{x} van de 100 deelnemers",
        "per100_more": "{x} meer per 100 deelnemers", "per100_fewer": "{x} minder per 100 deelnemers",
        "per100_same": "geen verschil per 100 deelnemers",
        "withheld_small": "<10: berust op minder dan 10 mensen",
        "withheld_secondary": "c: zou een klein aantal prijsgeven",
        "not_estimable": "niet te schatten", "no_primary": "geen primaire uitkomst gepubliceerd",
        "not_estimable_nobody": "niet te schatten: nog niemand heeft de volledige follow-up voor deze termijn",
        "summary_of": "Samenvatting van kwartaal", "design": "Opzet",
        "question": "Vermindert {name} de recidive?", "question_all": "Hoe vaak recidiveren deelnemers?",
        "can_say": "Wat u kunt zeggen", "cannot_say": "Wat u niet kunt zeggen",
        "headline_full": "Toelichting",
        "flow": "Deelnemers in de primaire uitkomst", "no_flow": "Geen aantallen gepubliceerd.",
        "flow_caption": "Mensen in de primaire uitkomst per groep ({measure})",
        "col_group": "Groep", "col_n": "Mensen", "col_events": "Met een nieuw delict",
        "group_programme": "deelnemers", "group_comparison": "vergelijkingsgroep",
        "group_reference": "referentiecijfer",
        "detail": "Analyses in detail", "headline": "Kernboodschap", "key_results": "Belangrijkste resultaten",
        "figures": "Figuren", "tables": "Tabellen", "download_csv": "Tabel downloaden (CSV)",
        "svg": "figuur als SVG", "data_csv": "gegevens (CSV)", "figure_data": "Gegevens bij de figuur",
        "audit": "Verantwoording",
        "audit_intro": "Het uitgevoerde notebook, zoals het is gedraaid, met alle tussenresultaten.",
        "audit_html": "Volledig rapport van het notebook (HTML)", "audit_ipynb": "Uitgevoerd notebook (ipynb)",
        "audit_results": "Alle resultaten van deze analyse (CSV)",
        "error": "Fout",
        "results_caption": "Belangrijkste resultaten: {title}, {who}",
        "col_estimand": "Maat", "col_estimate": "Schatting", "col_note": "Toelichting", "note_ref": "noot",
        "more_rows": "Nog {k} rijen staan in het CSV-bestand.",
        "figure_from_file": "Figuur: {what}", "table_from_file": "Tabel: {what}",
        "can_sig_down": ("De deelnemers hadden minder vaak een nieuw delict dan de vergelijkingsgroep: {d} "
                         "(95%-interval {lo} tot {hi})."),
        "can_sig_up": ("De deelnemers hadden vaker een nieuw delict dan de vergelijkingsgroep: {d} "
                       "(95%-interval {lo} tot {hi})."),
        "can_nonsig": ("De gegevens passen bij geen verschil: het 95%-interval loopt van {lo} tot {hi} per 100 "
                       "deelnemers en sluit verschillen daarbuiten uit."),
        "can_rate": "{x} van de 100 deelnemers had een nieuw delict (95%-interval {lo} tot {hi}).",
        "can_reference": ("Ter vergelijking: het referentiecijfer van een andere populatie is {x} per 100 "
                          "(95%-interval {lo} tot {hi})."),
        "can_causal": "Het verschil mag als effect van het programma worden gelezen: {why}.",
        "can_withheld": "Alleen wat de detailpagina's tonen; het kerncijfer is er niet (zie de reden).",
        "cannot_nonsig": "Dat het programma werkt, of dat het niet werkt: een klein effect is niet uit te sluiten.",
        "cannot_causal": "Dat het programma het verschil veroorzaakt: {why}.",
        "cannot_descriptive": "Dat het programma de recidive verlaagt of verhoogt: {why}.",
        "cannot_small": "Stellige conclusies: minder dan {k} deelnemers, dus het interval is breed.",
        "cannot_withheld": "Het kerncijfer: {reason}.",
        "can_fallback": "Als secundaire maat, niet de primaire uitkomst: de hazard ratio voor algemene recidive over "
                        "alle follow-up tot nu toe is {hr} (95%-BI {lo} tot {hi}); causaal: {causal}.",
        "cannot_fallback": "Een conclusie over de primaire uitkomst: de secundaire maat vervangt die niet, want "
                           "die is niet vooraf als antwoord gekozen. De vraag is pas beantwoord als de primaire "
                           "uitkomst gepubliceerd kan worden.",
        "cannot_general": "Dat het resultaat geldt buiten deze deelnemers en deze periode.",
        "language_other": "English",
    },
    "en": {
        "site_title": "Volunteer programmes in probation",
        "quarter": "Quarter", "cutoff": "Cutoff date", "version": "Evaluation package version", "run": "Run",
        "programme": "Programme", "skip": "Skip to content", "nav_label": "Breadcrumb",
        "overview": "Overview", "all_programmes": "All programmes together",
        "cutoff_quarter_end": "end of the quarter", "cutoff_extract": "the extract's cutoff date",
        "footer": ("Built from the published tables and figures. Counts of 1 to 9 people are not shown (<10). "
                   "The executed notebooks are kept with every analysis as the audit trail."),
        "index_intro": ("For each programme its primary outcome: reoffending of participants, with the 95% "
                        "confidence interval, the study design and whether the result may be read as an effect "
                        "of the programme."),
        "failures": "Not every analysis completed; the others are published:",
        "primary_results": "Primary outcome per programme", "analyses_status": "Status of the analyses",
        "manifest": "Provenance and audit (manifest.json)", "all_results_csv": "All results (CSV)",
        "run_log": "Run log",
        "col_programme": "Programme", "col_design": "Design", "col_measure": "Primary outcome",
        "col_result": "Result per 100 participants", "col_ci": "95% interval", "col_causal": "Causal",
        "col_why": "Why", "col_summary": "Summary",
        "primary_caption": "Primary outcome per programme, quarter {q}",
        "status_caption": "Status of each analysis per programme, quarter {q}",
        "summary_link": "summary",
        "status_ok": "completed", "status_failed": "failed", "status_timeout": "stopped (time limit)",
        "status_skipped": "not run", "status_missing": "not in this run",
        "design_rct": "randomised trial", "design_matched": "matched comparison",
        "design_descriptive": "descriptive (no comparison group)",
        "yes": "yes", "no": "no",
        "why_rct": "participants and comparison group were assigned by lot",
        "why_matched": "comparable groups after matching; assumes no difference in unmeasured characteristics",
        "why_matched_not": "after matching the groups still differ on measured characteristics or overlap poorly",
        "why_descriptive": "there is no comparison group; the figure describes the participants only",
        "why_pooled": "programmes of different designs taken together; a description only",
        "why_other": "the design does not support a causal reading",
        "difference": "difference from the comparison group", "own_rate": "participants' own rate",
        "per100_diff": "{x} per 100 participants", "per100": "{x} of 100 participants",
        "per100_more": "{x} more per 100 participants", "per100_fewer": "{x} fewer per 100 participants",
        "per100_same": "no difference per 100 participants",
        "withheld_small": "<10: rests on fewer than 10 people",
        "withheld_secondary": "c: would reveal a small number",
        "not_estimable": "not estimable", "no_primary": "no primary outcome published",
        "not_estimable_nobody": "not estimable: nobody has the full follow-up for this horizon yet",
        "summary_of": "Summary of quarter", "design": "Design",
        "question": "Does {name} reduce reoffending?", "question_all": "How often do participants reoffend?",
        "can_say": "What you can say", "cannot_say": "What you cannot say",
        "headline_full": "Explanation",
        "flow": "Participants in the primary outcome", "no_flow": "No counts published.",
        "flow_caption": "People in the primary outcome per group ({measure})",
        "col_group": "Group", "col_n": "People", "col_events": "With a new case",
        "group_programme": "participants", "group_comparison": "comparison group",
        "group_reference": "reference rate",
        "detail": "Analyses in detail", "headline": "Headline", "key_results": "Key results",
        "figures": "Figures", "tables": "Tables", "download_csv": "Download the table (CSV)",
        "svg": "figure as SVG", "data_csv": "data (CSV)", "figure_data": "Data behind the figure",
        "audit": "Audit trail",
        "audit_intro": "The executed notebook, as it ran, with every intermediate result.",
        "audit_html": "Full report of the notebook (HTML)", "audit_ipynb": "Executed notebook (ipynb)",
        "audit_results": "All results of this analysis (CSV)",
        "error": "Error",
        "results_caption": "Key results: {title}, {who}",
        "col_estimand": "Measure", "col_estimate": "Estimate", "col_note": "Note", "note_ref": "note",
        "more_rows": "{k} more rows are in the CSV file.",
        "figure_from_file": "Figure: {what}", "table_from_file": "Table: {what}",
        "can_sig_down": ("Participants had a new case less often than the comparison group: {d} "
                         "(95% interval {lo} to {hi})."),
        "can_sig_up": ("Participants had a new case more often than the comparison group: {d} "
                       "(95% interval {lo} to {hi})."),
        "can_nonsig": ("The data are compatible with no difference: the 95% interval runs from {lo} to {hi} per "
                       "100 participants and rules out differences beyond it."),
        "can_rate": "{x} of 100 participants had a new case (95% interval {lo} to {hi}).",
        "can_reference": ("For comparison: the reference rate of another population is {x} per 100 "
                          "(95% interval {lo} to {hi})."),
        "can_causal": "The difference may be read as an effect of the programme: {why}.",
        "can_withheld": "Only what the detail pages show; the headline figure is not available (see the reason).",
        "cannot_nonsig": "That the programme works, or that it does not: a small effect cannot be ruled out.",
        "cannot_causal": "That the programme causes the difference: {why}.",
        "cannot_descriptive": "That the programme lowers or raises reoffending: {why}.",
        "cannot_small": "Firm conclusions: fewer than {k} participants, so the interval is wide.",
        "cannot_withheld": "The headline figure: {reason}.",
        "can_fallback": "As a secondary measure, not the primary outcome: the hazard ratio for general reoffending "
                        "over all follow-up so far is {hr} (95% CI {lo} to {hi}); causal: {causal}.",
        "cannot_fallback": "A conclusion about the primary outcome: the secondary measure does not replace it, as it "
                           "was not chosen in advance as the answer. The question is answered only once the primary "
                           "outcome can be published.",
        "cannot_general": "That the result holds beyond these participants and this period.",
        "language_other": "Nederlands",
    },
}

#: fewer programme participants than this: the summary warns that the interval is wide (as the headline does)
SMALL_SAMPLE = 60

#: figure names (prefix) in words, when a figure has no sidecar NAME.json
FIGURE_WORDS: list[tuple[str, tuple[str, str]]] = [
    ("km_matches", ("how long matches last (Kaplan-Meier)", "hoe lang koppelingen duren (Kaplan-Meier)")),
    ("km_volunteers", ("how long volunteers stay (Kaplan-Meier)", "hoe lang vrijwilligers blijven (Kaplan-Meier)")),
    ("km_", ("share without a new case over time (Kaplan-Meier)", "aandeel zonder nieuw delict in de tijd "
                                                                   "(Kaplan-Meier)")),
    ("cumulative_incidence", ("cumulative incidence of a new case", "cumulatieve incidentie van een nieuw delict")),
    ("cif_reasons", ("why volunteers stop", "waarom vrijwilligers stoppen")),
    ("love_plot", ("balance of characteristics before and after matching",
                   "balans van kenmerken voor en na matching")),
    ("overlap", ("overlap of propensity scores", "overlap van propensityscores")),
    ("workforce", ("volunteers over time", "vrijwilligers in de tijd")),
    ("fidelity", ("implementation fidelity against targets", "programma-integriteit tegenover de normen")),
    ("costs_by_quarter", ("costs per quarter", "kosten per kwartaal")),
    ("completeness_heatmap", ("completeness of the data", "volledigheid van de gegevens")),
    ("forest_", ("estimates per programme (forest plot)", "schattingen per programma (forestplot)")),
    ("trend_", ("change across quarters", "ontwikkeling over de kwartalen")),
]

_MISSING = {"", "nan", "none", "<na>", "nat"}
_TRUE = {"true", "1", "1.0", "yes", "ja"}


# --------------------------------------------------------------------------- environment


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment: templates of this package only, every value escaped, undefined fails."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("evaluation.publish", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "css"), default_for_string=True,
                                            default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def _render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# --------------------------------------------------------------------------- reading published files


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING


def _float(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x


def _truthy(value: Any) -> bool:
    return (not _missing(value)) and str(value).strip().lower() in _TRUE


def read_headline(folder: Path) -> dict[str, Any]:
    """``headline.json`` of a job folder ({} when absent or unreadable)."""
    try:
        data = json.loads((folder / "headline.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_csv(path: Path) -> pd.DataFrame:
    """A published CSV (empty frame when absent or unreadable); text cells such as ``<10`` kept."""
    try:
        return pd.read_csv(path, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _sentences(headline: Mapping[str, Any]) -> list[str]:
    s = headline.get("sentences") or []
    return [str(x) for x in s if not _missing(x)] if isinstance(s, list) else []


# --------------------------------------------------------------------------- cells and tables


def _cell(text: Any, cls: str = "") -> dict[str, str]:
    return {"text": "" if text is None else str(text), "cls": cls}


def _format_column(col: pd.Series, name: str, language: str) -> tuple[list[dict[str, str]], bool]:
    """A column's cells in the reader's notation, and whether it is numeric (right-aligned)."""
    values = list(col)
    nums = pd.to_numeric(col, errors="coerce")
    markers = col.map(lambda v: isinstance(v, str) and bool(re.fullmatch(r"\s*(<\d+|c)\s*", v)))
    numeric = bool(len(col)) and bool((nums.notna() | markers | col.map(_missing)).all()) and bool(nums.notna().any())
    if col.dtype == bool or (col.dtype == object and col.map(lambda v: isinstance(v, (bool, np.bool_))).any()):
        numeric = False
    if not numeric:
        cells = []
        for v in values:
            if isinstance(v, (bool, np.bool_)) or (isinstance(v, str) and v in ("True", "False")):
                v = TEXT[language]["yes" if str(v) == "True" else "no"]
            cells.append(_cell("" if _missing(v) else v, "withheld" if isinstance(v, str) and bool(
                re.fullmatch(r"\s*(<\d+|c)\s*", v)) else ""))
        return cells, False
    finite = nums[np.isfinite(nums)]
    whole = bool(len(finite)) and bool((finite == finite.round()).all())
    share = (not whole and bool(len(finite)) and bool(((finite >= 0) & (finite <= 1)).all())
             and re.search(r"share|proportion|prevalence|rate|aandeel", name, re.IGNORECASE) is not None)
    cells = []
    for v, x, marked in zip(values, nums, markers, strict=True):
        if marked:
            cells.append(_cell(str(v).strip(), "num withheld"))
        elif math.isnan(x):
            cells.append(_cell("", "num"))
        elif math.isinf(x):
            cells.append(_cell(NOT_ESTIMABLE_TEXT[language], "num withheld"))
        elif share:
            cells.append(_cell(percent(x, language, 1), "num"))
        else:
            cells.append(_cell(number(x, language, 0 if whole else 2), "num"))
    return cells, True


def _table_markup(caption: str, headers: Sequence[dict[str, Any]], rows: Sequence[Sequence[dict[str, str]]],
                  more: str = "", notes: Sequence[str] = ()) -> Markup:
    tab = {"caption": caption, "headers": list(headers), "rows": [list(r) for r in rows], "more": more,
           "notes": list(notes)}
    return Markup(_table_template().render(tab=tab))


@functools.lru_cache(maxsize=1)
def _table_template() -> jinja2.Template:
    return environment().from_string('{% import "macros.html" as m %}{{ m.table(tab) }}')


def html_table(df: pd.DataFrame, language: str = "nl", caption: str = "", max_rows: int | None = 40,
               more_href: str | None = None) -> Markup:
    """A published table as an accessible HTML table, in the reader's language and notation.

    Codes and column names in words (:func:`evaluation.publish.labels.display_table`), numbers with
    the decimal comma in Dutch and thousands separators (:func:`evaluation.publish.formatting.number`),
    shares of 0-1 in columns named like a share as percentages, true/false as yes/no, withheld cells
    (``<10``, ``c``) marked as withheld, no index column. The table has a ``<caption>`` and
    ``<th scope="col">`` headers and sits in a scrollable region (reflow on narrow screens). Every
    value is escaped. See docs/methods.md, section 'Disclosure control'.

    Parameters
    ----------
    df : DataFrame
    language : {"nl", "en"}
    caption : str
        What the table shows (required for a reader; an empty caption falls back to "Tabel"/"Table").
    max_rows : int or None
        Rows shown; the rest are counted in a line below the table.
    """
    check_language(language)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"html_table expects a pandas DataFrame, got {type(df).__name__}")
    shown = df.head(max_rows) if max_rows is not None else df
    if "note" in shown.columns:
        shown = shown.assign(note=shown["note"].map(lambda v: _note_text(v, language)))
    labelled = display_table(shown.reset_index(drop=True), language, digits=None)
    columns = []
    for i, c in enumerate(shown.columns):
        raw = labelled.iloc[:, i]
        cells, numeric = _format_column(raw, str(c), language)
        label = column_label(str(c), language)
        if label == str(c):
            label = str(c).replace("_", " ")
        columns.append(({"text": label[:1].upper() + label[1:], "num": numeric}, cells))
    rows = [[col[1][r] for col in columns] for r in range(len(shown))]
    more = TEXT[language]["more_rows"].format(k=len(df) - len(shown)) if len(df) > len(shown) else ""
    return _table_markup(caption or ("Table" if language == "en" else "Tabel"), [c[0] for c in columns], rows, more)


# --------------------------------------------------------------------------- results rows


def _is_prevalence(estimand: str) -> bool:
    return estimand.startswith("prevalence") or estimand.startswith("cumulative_incidence")


def _withheld_reason(row: Mapping[str, Any], language: str) -> str:
    """Why a row has no number: withheld (small numbers) or not estimable, with the reason."""
    t = TEXT[language]
    note = "" if _missing(row.get("note")) else str(row.get("note"))
    if _float(row.get("n")) == 0:  # nobody in the estimate (e.g. nobody has the horizon's follow-up yet)
        return t["not_estimable_nobody"]
    if _truthy(row.get("suppressed")) or note.startswith("suppressed") or "; suppressed" in note:
        if "withheld so that" in note:
            return t["withheld_secondary"]
        return t["withheld_small"]
    parts = [p for p in note.split("; ") if p.startswith("not estimable")]
    if parts:
        shown = note_label(parts[0], language)
        if language == "nl" and shown == parts[0]:  # no Dutch wording for this reason: no English on the page
            return t["not_estimable"]
        return shown if shown.lower().startswith(t["not_estimable"]) else f"{t['not_estimable']}: {shown}"
    return t["not_estimable"]


def estimate_text(row: Mapping[str, Any], language: str) -> tuple[str, str, bool]:
    """(estimate, interval, shown) of a results row in the reader's notation; a withheld or degenerate
    estimate gives its reason and no interval (``shown`` False)."""
    estimand = str(row.get("estimand", ""))
    est, lo, hi = _float(row.get("estimate")), _float(row.get("ci_lower")), _float(row.get("ci_upper"))
    if math.isnan(est) or math.isinf(est) or not ratio_shown(estimand, est, lo, hi):
        return _withheld_reason(row, language), "", False
    to = " tot " if language == "nl" else " to "
    if _is_prevalence(estimand):
        diff = str(row.get("group", "")).startswith("difference")
        unit = " procentpunt" if language == "nl" and diff else (" percentage points" if diff else "%")

        def fmt(x: float) -> str:
            return number(x * 100, language, 1)
        ci = f"{fmt(lo)}{to}{fmt(hi)}{unit}" if np.isfinite([lo, hi]).all() else ""
        return fmt(est) + unit, ci, True
    digits = 2
    ci = f"{number(lo, language, digits)}{to}{number(hi, language, digits)}" if np.isfinite([lo, hi]).all() else ""
    return number(est, language, digits), ci, True


def _note_text(note: Any, language: str) -> str:
    """A results note in the reader's language; on a Dutch page the parts without Dutch wording are left
    out (they stay in results.csv), so that no English sentence reaches a Dutch page."""
    if _missing(note):
        return ""
    parts = str(note).split("; ")
    if language == "en":
        return name_words("; ".join(parts), language)
    shown = [note_label(p, language) for p in parts]
    return "; ".join(d for p, d in zip(parts, shown, strict=True) if d != p)


def key_rows_first(df: pd.DataFrame) -> pd.DataFrame:
    """Order a notebook's results for the index: the main endpoint (``GENERAL``, or rows without an
    endpoint) first, and within that comparisons (difference, ratio) before the groups' own levels;
    otherwise the notebook's order is kept (stable sort)."""
    if df.empty:
        return df
    endpoint = df["endpoint"] if "endpoint" in df else pd.Series("", index=df.index)
    main = endpoint.isna() | endpoint.astype(str).isin(["", "GENERAL", "nan"])
    group = df["group"].astype(str) if "group" in df else pd.Series("", index=df.index)
    comparison = group.str.startswith("difference") | df.get("estimand", group).astype(str).str.contains(
        "ratio", regex=False)
    primary = df["role"].astype(str).eq("primary") if "role" in df else pd.Series(False, index=df.index)
    rank = (~primary).astype(int) * 4 + (~main).astype(int) * 2 + (~comparison).astype(int)
    return df.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable").drop(columns="_rank")


def group_words(group: str, estimand: str, language: str) -> str:
    """The group of a result row in words: a ratio's ``difference`` row compares the programme with the
    comparison group; covariate terms and subgroups (``recruitment_channel[education]``) in words."""
    if group == "difference" and "ratio" in estimand:
        return "programme vs comparison group" if language == "en" else "programma t.o.v. vergelijkingsgroep"
    return value_label(group, language)  # result groups first, then codes, subgroups and covariate terms


def own_rows_first(df: pd.DataFrame, programme_id: str) -> pd.DataFrame:
    """Rows of the section's own programme (``"all"``: the pooled rows) first, then the whole period
    (``period`` total or empty) before single quarters; otherwise :func:`key_rows_first` order. A pooled
    job's results also hold each programme's rows, which must never stand in for the pooled ones."""
    df = key_rows_first(df)
    if df.empty:
        return df
    pid = df["programme_id"].astype(str) if "programme_id" in df else pd.Series(programme_id, index=df.index)
    period = df["period"].astype(str) if "period" in df else pd.Series("", index=df.index)
    whole = period.isin(["", "total", "nan", "None"])
    rank = (pid != str(programme_id)).astype(int) * 2 + (~whole).astype(int)
    return df.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable").drop(columns="_rank")


def results_table(df: pd.DataFrame, language: str, caption: str, programme_id: str,
                  max_rows: int = 15) -> Markup:
    """Key rows of a job's ``results.csv`` (primary first) as a reader's table: measure, group,
    estimate, interval, p-value (3 decimals; "< 0.001"), n, causal and the note; a withheld estimate
    shows its reason (and no p-value). Only the primary row's p decides "significant" in a sentence
    (docs/methods.md, section 'Primary outcome'); the others are shown for completeness."""
    t = TEXT[language]
    if "programme_id" in df.columns:
        df = own_rows_first(df, programme_id)
    else:
        df = key_rows_first(df)
    head = df.head(max_rows)
    # a pooled job's table names the programme of every row once rows of single programmes are shown
    show_pid = "programme_id" in head.columns and bool((head["programme_id"].astype(str) != str(programme_id)).any())
    rows = []
    notes: dict[str, int] = {}
    for r in head.to_dict("records"):
        estimand = str(r.get("estimand", ""))
        measure = estimand_label(estimand, language)
        if not _missing(r.get("endpoint")):
            measure += f" ({endpoint_label(str(r.get('endpoint')), language)})"
        if str(r.get("role", "")) == "primary":
            measure = ("Primair: " if language == "nl" else "Primary: ") + measure
        if not _missing(r.get("period")) and str(r.get("period")) != "total":
            measure += f", {r.get('period')}"
        if str(r.get("missing_data", "")) == "ipw_observation":  # docs/methods.md, section 'Re-integration outcomes'
            measure += (", gewogen voor ontbrekende metingen (IPW)" if language == "nl"
                        else ", weighted for missing assessments (IPW)")
        est, ci, shown = estimate_text(r, language)
        n = r.get("n")
        n_text = str(n).strip() if isinstance(n, str) and not _missing(n) else (
            "" if _missing(n) or math.isnan(_float(n)) else number(_float(n), language, 0))
        note = _note_text(r.get("note"), language)
        if note:  # a note shared by many rows is printed once, below the table
            notes.setdefault(note, len(notes) + 1)
            note = f"{t['note_ref']} {notes[note]}"
        group = "" if _missing(r.get("group")) else group_words(str(r.get("group")), estimand, language)
        p = _float(r.get("p_value"))
        p_text = "" if not shown or math.isnan(p) else ("< 0,001" if language == "nl" else "< 0.001") if p < 0.001 \
            else number(p, language, 3)
        rp = str(r.get("programme_id", ""))
        who = [_cell(t["all_programmes"] if rp == "all" else rp)] if show_pid else []
        rows.append(who + [_cell(measure), _cell(group), _cell(est, "num" if shown else "withheld"), _cell(ci, "num"),
                     _cell(p_text, "num"),
                     _cell(n_text, "num withheld" if n_text.startswith("<") else "num"),
                     _cell(t["yes"] if _truthy(r.get("causal")) else t["no"]), _cell(note)])
    headers = ([{"text": t["col_programme"], "num": False}] if show_pid else []) + [
               {"text": t["col_estimand"], "num": False}, {"text": t["col_group"], "num": False},
               {"text": t["col_estimate"], "num": True}, {"text": t["col_ci"], "num": True},
               {"text": "p", "num": True},
               {"text": t["col_n"], "num": True}, {"text": t["col_causal"], "num": False},
               {"text": t["col_note"], "num": False}]
    more = t["more_rows"].format(k=len(df) - len(head)) if len(df) > len(head) else ""
    return _table_markup(caption, headers, rows, more, notes=[f"{t['note_ref']} {k}: {n}" for n, k in notes.items()])


# --------------------------------------------------------------------------- the primary outcome


def primary_of(results: pd.DataFrame, programme_id: str) -> dict[str, Any]:
    """The primary rows of one programme from its recidivism ``results.csv``: the comparison row
    (``difference``), the groups' own rows and whether it is withheld. Empty dict when none."""
    if results.empty or "role" not in results.columns:
        return {}
    r = results[results["role"].astype(str) == "primary"]
    if "programme_id" in r.columns:
        r = r[r["programme_id"].astype(str) == str(programme_id)]
    if r.empty:
        return {}
    groups = {str(g): row for g, row in zip(r["group"].astype(str), r.to_dict("records"), strict=True)}
    # a descriptive programme's answer is its own rate (a reference rate stands beside it, not against it)
    main = groups.get("difference") or groups.get("programme") or groups.get("difference_vs_reference")
    # a withheld primary's fallback: the secondary hazard ratio of the same endpoint, if published (it uses all
    # follow-up so far, not only people followed for the whole horizon); labelled secondary wherever shown
    fallback = None
    all_rows = results[results["programme_id"].astype(str) == str(programme_id)] \
        if "programme_id" in results.columns else results
    col = lambda name: all_rows[name].astype(str) if name in all_rows.columns else pd.Series("", index=all_rows.index)  # noqa: E731
    hr = all_rows[(col("estimand") == "hazard_ratio") & (col("group") == "difference")
                  & (col("endpoint") == str(main.get("endpoint", "GENERAL")))]
    if len(hr):
        row = hr.iloc[0].to_dict()
        est, lo, hi = _float(row.get("estimate")), _float(row.get("ci_lower")), _float(row.get("ci_upper"))
        if np.isfinite([est, lo, hi]).all() and ratio_shown("hazard_ratio", est, lo, hi):
            fallback = row
    return {"main": main, "groups": groups, "comparison": "difference" in groups, "fallback": fallback}


def _design_words(design: str, language: str) -> str:
    return TEXT[language].get(f"design_{design}", design)


def causal_why(design: str, causal: bool, programme_id: str, language: str) -> str:
    """Why the primary result is, or is not, causal, from the design and the causal flag."""
    t = TEXT[language]
    if programme_id == "all":
        return t["why_pooled"]
    if design == "descriptive":
        return t["why_descriptive"]
    if design == "rct":
        return t["why_rct"] if causal else t["why_other"]
    if design == "matched":
        return t["why_matched"] if causal else t["why_matched_not"]
    return t["why_other"]


def _per100(x: float, language: str) -> str:
    return number(x * 100, language, 0)


def _diff_words(x: float, language: str) -> str:
    """A difference per 100 in words: "7 fewer" / "32 more" / "0" (the sign of a difference is easy to misread)."""
    shown = _per100(abs(x), language)
    if shown == "0":
        return shown
    if language == "nl":
        return f"{shown} {'meer' if x > 0 else 'minder'}"
    return f"{shown} {'more' if x > 0 else 'fewer'}"


def primary_summary(primary: Mapping[str, Any], design: str, programme_id: str, language: str) -> dict[str, Any]:
    """What the summary and the index say about a primary outcome: the result, its interval, causal
    yes/no and why, and the "what you can / cannot say" lists."""
    t = TEXT[language]
    to = " tot " if language == "nl" else " to "
    out: dict[str, Any] = {"measure": "", "result": t["no_primary"], "ci": "", "causal": t["no"],
                           "why": causal_why(design, False, programme_id, language), "can": [], "cannot": [],
                           "withheld": True}
    if not primary:
        out["cannot"] = [t["cannot_withheld"].format(reason=t["no_primary"])]
        return out
    main = primary["main"]
    estimand = str(main.get("estimand", ""))
    out["measure"] = estimand_label(estimand, language)
    if not _missing(main.get("endpoint")):
        out["measure"] += f" ({endpoint_label(str(main.get('endpoint')), language)})"
    causal = _truthy(main.get("causal"))
    out["causal"] = t["yes"] if causal else t["no"]
    out["why"] = causal_why(design, causal, programme_id, language)
    est, lo, hi = _float(main.get("estimate")), _float(main.get("ci_lower")), _float(main.get("ci_upper"))
    comparison = str(main.get("group", "")).startswith("difference")
    prog = primary["groups"].get("programme", {})
    n_prog = _float(prog.get("n"))
    if math.isnan(est) or not _is_prevalence(estimand):
        reason = _withheld_reason(main, language) if math.isnan(est) else t["not_estimable"]
        out.update(result=reason, ci="")
        out["can"] = [t["can_withheld"]]
        out["cannot"] = [t["cannot_withheld"].format(reason=reason)]
        fb = primary.get("fallback")
        if fb is not None and design in ("rct", "matched"):  # docs/methods.md, section 'Primary outcome'
            out["can"] = [t["can_fallback"].format(
                hr=number(_float(fb["estimate"]), language, 2), lo=number(_float(fb["ci_lower"]), language, 2),
                hi=number(_float(fb["ci_upper"]), language, 2), causal=t["yes"] if _truthy(fb.get("causal")) else t["no"])]
            out["cannot"].append(t["cannot_fallback"])
        return out
    out["withheld"] = False
    finite = bool(np.isfinite([lo, hi]).all())
    if comparison:
        shown = _per100(abs(est), language)
        key = "per100_same" if shown == "0" else ("per100_more" if est > 0 else "per100_fewer")
        out["result"] = t[key].format(x=shown)
    else:
        out["result"] = t["per100"].format(x=_per100(est, language))
    words = _diff_words if comparison else _per100
    out["ci"] = f"{words(lo, language)}{to}{words(hi, language)}" if finite else ""
    can, cannot = [], []
    if comparison and finite:
        significant = lo > 0 or hi < 0
        d = t["per100_diff"].format(x=_per100(abs(est), language))
        if significant:
            can.append(t["can_sig_down" if est < 0 else "can_sig_up"].format(
                d=d, lo=_diff_words(lo, language), hi=_diff_words(hi, language)))
            if causal:
                can.append(t["can_causal"].format(why=out["why"]))
            else:
                cannot.append(t["cannot_causal"].format(why=out["why"]))
        else:
            can.append(t["can_nonsig"].format(lo=_diff_words(lo, language), hi=_diff_words(hi, language)))
            cannot.append(t["cannot_nonsig"])
            if not causal:
                cannot.append(t["cannot_causal"].format(why=out["why"]))
    elif finite:
        can.append(t["can_rate"].format(x=_per100(est, language), lo=_per100(lo, language),
                                         hi=_per100(hi, language)))
        ref = primary["groups"].get("reference", {})
        r_est, r_lo, r_hi = _float(ref.get("estimate")), _float(ref.get("ci_lower")), _float(ref.get("ci_upper"))
        if np.isfinite([r_est, r_lo, r_hi]).all():
            can.append(t["can_reference"].format(x=_per100(r_est, language), lo=_per100(r_lo, language),
                                                 hi=_per100(r_hi, language)))
        cannot.append(t["cannot_descriptive"].format(why=out["why"]))
    if not math.isnan(n_prog) and n_prog < SMALL_SAMPLE:
        cannot.append(t["cannot_small"].format(k=SMALL_SAMPLE))
    cannot.append(t["cannot_general"])
    out["can"], out["cannot"] = can, cannot
    return out


# --------------------------------------------------------------------------- pages


def _href(*parts: str) -> str:
    """A relative link to a published path: every part percent-encoded, starting with ``./`` so that a
    folder named like a scheme (``javascript:x``) stays a relative link."""
    return "./" + "/".join(quote(str(p), safe="") for p in parts)


def _programme_label(pid: str, names: Mapping[str, str], language: str) -> str:
    if pid == "all":
        return TEXT[language]["all_programmes"]
    name = str(names.get(pid, pid))
    return f"{name} ({pid})" if name != pid else pid


def _status(code: str, language: str) -> dict[str, str]:
    return {"code": re.sub(r"[^a-z]", "", str(code)) or "missing",
            "text": TEXT[language].get(f"status_{code}", str(code))}


def _figure_title(stem: str, language: str) -> str:
    for prefix, pair in FIGURE_WORDS:
        if stem.startswith(prefix):
            what = pair[0 if language == "en" else 1]
            rest = stem[len(prefix):].strip("_")
            if rest and prefix in ("km_", "cumulative_incidence"):
                what += f": {endpoint_label(rest, language)}"
            return what[:1].upper() + what[1:]
    return stem.replace("_", " ")


def _words(name: str, language: str) -> str:
    """A file or table name in words: its label when the contract has one, else the name without underscores."""
    for label in (code_label(name, language), analysis_label(name, language), estimand_label(name, language)):
        if label != name:
            return label
    return name.replace("_", " ")


def _figures(folder: Path, language: str) -> tuple[list[dict[str, Any]], set[str]]:
    """Figures of a job folder with title, alt text and data table (sidecar ``NAME.json`` when present)."""
    t = TEXT[language]
    figs, data_files = [], set()
    for png in sorted(folder.glob("*.png")):
        stem = png.stem
        side: dict[str, Any] = {}
        try:
            loaded = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
            side = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            pass
        title = str(side.get("title") or "").strip() or _figure_title(stem, language)
        alt = str(side.get("alt") or "").strip() or t["figure_from_file"].format(what=title)
        data_name = side.get("data")
        data_table, data_href = None, None
        if isinstance(data_name, str) and data_name and "/" not in data_name and (folder / data_name).is_file():
            data_files.add(data_name)
            data_href = _href(data_name)
            data_table = html_table(read_csv(folder / data_name), language, caption=title, max_rows=60)
        figs.append({"src": _href(png.name), "svg": _href(f"{stem}.svg"), "title": title, "alt": alt,
                     "data_table": data_table, "data_href": data_href})
    return figs, data_files


def _meta(language: str, quarter: str, cutoff_date: str | None, cutoff_source: str, run_id: str,
          programme: str | None = None) -> list[tuple[str, str]]:
    t = TEXT[language]
    cutoff = t["cutoff_quarter_end"] if cutoff_source == "quarter_end" else t["cutoff_extract"]
    meta = [(t["programme"], programme)] if programme else []
    return meta + [(t["quarter"], quarter), (t["cutoff"], f"{cutoff_date or ''} ({cutoff})".strip()),
                   (t["version"], __version__), (t["run"], run_id or "")]


def build_site(
    quarter_dir: str | Path,
    quarter: str,
    jobs: Sequence[Mapping[str, Any]],
    language: str = "nl",
    cutoff_date: str | None = None,
    cutoff_source: str = "quarter_end",
    run_id: str = "",
    programme_names: Mapping[str, str] | None = None,
    designs: Mapping[str, str] | None = None,
    primary_notebook: str = "recidivism",
    alternate: Mapping[str, str] | None = None,
    files_root: str = "",
) -> Path:
    """Write the quarter site: ``index.html``, ``<pid>/index.html`` and ``<pid>/<notebook>/index.html``.

    Parameters
    ----------
    quarter_dir : path
        The quarter folder being built; job folders are relative to it.
    quarter : str
        e.g. ``"2026Q3"``.
    jobs : sequence of mappings
        One per notebook with keys ``programme_id`` (``"all"`` for all programmes together),
        ``notebook``, ``title``, ``folder`` (relative to ``quarter_dir``), ``status`` and ``error``.
    language : {"nl", "en"}
    cutoff_date, cutoff_source, run_id : str
        Named on every page.
    programme_names : mapping, optional
        programme_id -> name.
    designs : mapping, optional
        programme_id -> ``rct``, ``matched`` or ``descriptive``.
    primary_notebook : str
        The notebook whose ``results.csv`` holds the primary outcome (docs/methods.md, section
        'Primary outcome').
    alternate : mapping, optional
        The same quarter in other languages: language code -> path from this site's root to that
        language's site root (e.g. ``{"en": "en/"}``, and ``{"nl": "../"}`` from the English site).
        Every page links to its counterpart, with ``hreflang``.
    files_root : str
        Path from this site's root to the quarter folder that holds ``manifest.json``,
        ``results.csv`` and ``run.log`` (``"../"`` for a site in a language subfolder).

    Returns
    -------
    Path of the written ``index.html``.
    """
    check_language(language)
    t = TEXT[language]
    qdir = Path(quarter_dir)
    names = dict(programme_names or {})
    designs = dict(designs or {})
    order: list[str] = []
    for j in jobs:
        if str(j["programme_id"]) not in order:
            order.append(str(j["programme_id"]))
    order.sort(key=lambda p: (p == "all", p))
    notebooks: list[str] = []
    for j in jobs:
        if str(j["notebook"]) not in notebooks:
            notebooks.append(str(j["notebook"]))

    alternate = {check_language(k): str(v) for k, v in (alternate or {}).items() if k != language}

    def base(root: str, crumbs: list[dict[str, Any]], title: str, programme: str | None,
             page: str = "index.html") -> dict[str, Any]:
        """Context of every page; ``page`` is the page's path from this site's root."""
        others = [{"code": code, "href": f"{root}{prefix}{page}", "text": LANGUAGE_NAMES[code]}
                  for code, prefix in alternate.items()]
        return {"language": language, "t": t, "quarter": quarter, "root": root, "crumbs": crumbs,
                "page_title": title, "other_language": others[0] if others else None,
                "meta": _meta(language, quarter, cutoff_date, cutoff_source, run_id, programme)}

    summaries: dict[str, dict[str, Any]] = {}
    failures = []
    for pid in order:
        label = _programme_label(pid, names, language)
        design = designs.get(pid, "descriptive" if pid == "all" else "")
        own = [j for j in jobs if str(j["programme_id"]) == pid]
        recid = next((j for j in own if str(j["notebook"]) == primary_notebook and j.get("status") == "ok"), None)
        rec_results = read_csv(qdir / str(recid["folder"]) / "results.csv") if recid else pd.DataFrame()
        primary = primary_of(rec_results, pid)
        summary = primary_summary(primary, design, pid, language)
        summaries[pid] = summary
        job_items = []
        for j in own:
            folder = qdir / str(j["folder"])
            status = str(j.get("status", "skipped"))
            headline = read_headline(folder) if status == "ok" else {}
            title = str(j.get("title") or headline.get("title") or j["notebook"])  # the registry's title
            if status != "ok":
                failures.append({"where": f"{label}: {title}", "status": _status(status, language),
                                 "error": str(j.get("error") or "")})
            _detail_page(qdir, j, headline, title, label, pid, status, language, quarter, base)
            sentences = _sentences(headline)
            job_items.append({"href": _href(str(j["notebook"]), "index.html"), "title": title,
                              "status": _status(status, language), "error": str(j.get("error") or ""),
                              "sentences": sentences[:1] if str(j["notebook"]) != primary_notebook else []})
        # the summary page
        rec_headline = read_headline(qdir / str(recid["folder"])) if recid else {}
        rec_sentences = _sentences(rec_headline)
        answer = [f"{summary['measure'][:1].upper()}{summary['measure'][1:]}: {summary['result']}"
                  + (f" ({t['col_ci']} {summary['ci']})" if summary["ci"] else "")
                  + f". {t['design']}: {_design_words(design, language)}. {t['col_causal']}: {summary['causal']}, "
                  + f"{summary['why']}."] if summary["measure"] else [summary["result"]]
        question = t["question_all"] if pid == "all" else t["question"].format(name=names.get(pid, pid))
        flow = _flow_table(primary, language, summary["measure"])
        html = _render("programme.html", **base(
            "../", [{"href": "../index.html", "text": t["overview"]}, {"href": None, "text": label}],
            f"{label} · {t['quarter'].lower()} {quarter} · {t['site_title']}", label, f"{pid}/index.html"),
            programme_label=label, design=_design_words(design, language) or "-", question=question,
            answer=answer, can_say=summary["can"], cannot_say=summary["cannot"], sentences=rec_sentences,
            flow_table=flow, jobs=job_items)
        if not (qdir / pid / "index.html").is_dir():
            (qdir / pid).mkdir(parents=True, exist_ok=True)
            write_text(qdir / pid / "index.html", html)

    # the overview
    prim_rows = []
    for pid in order:
        s = summaries[pid]
        label = _programme_label(pid, names, language)
        prim_rows.append([
            _cell(label), _cell(_design_words(designs.get(pid, "descriptive" if pid == "all" else ""), language)),
            _cell(s["measure"] or "-"), _cell(s["result"], "withheld" if s["withheld"] else "num"),
            _cell(s["ci"], "num"), _cell(s["causal"]), _cell(s["why"])])
    keys = ["col_programme", "col_design", "col_measure", "col_result", "col_ci", "col_causal", "col_why"]
    caption = t["primary_caption"].format(q=quarter)
    measures = {summaries[p]["measure"] for p in order} - {""}
    if len(measures) == 1:  # one primary outcome for all: named once, in the caption
        caption = f"{caption}: {measures.pop()}"
        prim_rows = [r[:2] + r[3:] for r in prim_rows]
        keys.remove("col_measure")
    prim_headers = [{"text": t[k], "num": k in ("col_result", "col_ci")} for k in keys]
    primary_table = _table_markup(caption, prim_headers, prim_rows)
    # status matrix: programme x notebook, each cell the status linking to its detail page
    status_rows = []
    for pid in order:
        label = _programme_label(pid, names, language)
        row = [_link_cell(_href(pid, "index.html"), label)]
        for nb in notebooks:
            j = next((j for j in jobs if str(j["programme_id"]) == pid and str(j["notebook"]) == nb), None)
            if j is None:
                row.append(_cell("-"))
                continue
            st = str(j.get("status", "skipped"))
            row.append(_link_cell(_href(*str(j["folder"]).strip("/").split("/"), "index.html"),
                                  t.get(f"status_{st}", st), cls=f"status status-{_status(st, language)['code']}",
                                  extra=_href(*str(j["folder"]).strip("/").split("/"), "report.html")
                                  if (qdir / str(j["folder"]) / "report.html").is_file() else None,
                                  extra_text="notebook"))
        status_rows.append(row)
    titles = {}
    for j in jobs:
        titles.setdefault(str(j["notebook"]), str(j.get("title") or j["notebook"]))
    status_headers = [{"text": t["col_programme"], "num": False}] + [
        {"text": titles[nb], "num": False} for nb in notebooks]
    status_table = _table_markup(t["status_caption"].format(q=quarter), status_headers, status_rows)
    html = _render("index.html", **base("", [{"href": None, "text": t["overview"]}],
                                        f"{t['site_title']} · {t['quarter'].lower()} {quarter}", None),
                   files_root=files_root, failures=failures, primary_table=primary_table, status_table=status_table)
    return write_text(qdir / "index.html", html)


def _link_cell(href: str, text: str, cls: str = "", extra: str | None = None, extra_text: str = "") -> dict[str, Any]:
    """A table cell holding a link (built from escaped parts, so it may be Markup)."""
    inner = Markup('<a href="{}">{}</a>').format(href, text)
    if cls:
        inner = Markup('<span class="{}">{}</span>').format(cls, inner)
    if extra:
        inner += Markup(' <span class="meta">(<a href="{}">{}</a>)</span>').format(extra, extra_text)
    return {"text": inner, "cls": ""}


def _flow_table(primary: Mapping[str, Any], language: str, measure: str) -> Markup | None:
    """People (and people with a new case) per group in the primary outcome, as published."""
    t = TEXT[language]
    rows = []
    for g in ("programme", "comparison", "reference"):
        r = primary.get("groups", {}).get(g) if primary else None
        if r is None:
            continue
        cells = []
        for key in ("n", "events"):
            v = r.get(key)
            if isinstance(v, str) and not _missing(v) and math.isnan(_float(v)):
                cells.append(_cell(v.strip(), "num withheld"))
            elif _missing(v) or math.isnan(_float(v)):
                cells.append(_cell("", "num"))
            else:
                cells.append(_cell(number(_float(v), language, 0), "num"))
        rows.append([_cell(t[f"group_{g}"])] + cells)
    if not rows:
        return None
    headers = [{"text": t["col_group"], "num": False}, {"text": t["col_n"], "num": True},
               {"text": t["col_events"], "num": True}]
    return _table_markup(t["flow_caption"].format(measure=measure), headers, rows)


def _detail_page(qdir: Path, job: Mapping[str, Any], headline: Mapping[str, Any], title: str, label: str,
                 pid: str, status: str, language: str, quarter: str, base: Any) -> None:
    t = TEXT[language]
    folder = qdir / str(job["folder"])
    if (folder / "index.html").is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True)  # a job that failed before writing anything still gets its page
    results = read_csv(folder / "results.csv") if status == "ok" else pd.DataFrame()
    figures, data_files = _figures(folder, language) if status == "ok" else ([], set())
    tables = []
    if status == "ok":
        for csv in sorted(folder.glob("*.csv")):
            if csv.name == "results.csv" or csv.name in data_files:
                continue
            what = _figure_title(csv.stem, language) if any(csv.stem.startswith(p) for p, _ in FIGURE_WORDS) \
                else _words(csv.stem, language)
            frame = read_csv(csv)
            if frame.columns.empty:  # an empty file (e.g. no moderator could be tested): nothing to show
                continue
            tables.append({"html": html_table(frame, language,
                                              caption=f"{t['table_from_file'].format(what=what)} ({label})"),
                           "href": _href(csv.name)})
    audit = [{"href": _href(name), "text": t[key]} for name, key in
             (("report.html", "audit_html"), ("notebook.ipynb", "audit_ipynb"), ("results.csv", "audit_results"))
             if (folder / name).is_file()]
    res_table = results_table(results, language, t["results_caption"].format(title=title, who=label), pid) \
        if not results.empty else None
    depth = len([p for p in str(job["folder"]).split("/") if p])
    root = "../" * depth
    html = _render("detail.html", **base(
        root, [{"href": f"{root}index.html", "text": t["overview"]},
               {"href": "../index.html", "text": label}, {"href": None, "text": title}],
        f"{title} · {label} · {t['quarter'].lower()} {quarter}", label,
        "/".join([*(p for p in str(job["folder"]).split("/") if p), "index.html"])),
        heading=f"{title}: {label}", programme_label=label, status=_status(status, language),
        error=str(job.get("error") or "") if status != "ok" else "",
        sentences=_sentences(headline),
        results_table=res_table, figures=figures, tables=tables, audit=audit)
    write_text(folder / "index.html", html)


def build_versions(quarter_dir: str | Path, quarter: str, jobs_by_language: Mapping[str, Sequence[Mapping[str, Any]]],
                   **common: Any) -> Path:
    """Write the site of every language version of a quarter: the first language of ``jobs_by_language``
    at the quarter's root, each other one in ``<quarter>/<code>/`` (its jobs' folders relative to that
    folder), every page linked to its counterparts. ``common``: the other arguments of :func:`build_site`.
    Returns the path of the main ``index.html``."""
    qdir = Path(quarter_dir)
    main, *others = list(jobs_by_language)
    for lang in others:
        build_site(qdir / lang, quarter, jobs_by_language[lang], language=lang, files_root="../",
                   alternate={main: "../"} | {o: f"../{o}/" for o in others if o != lang}, **common)
    return build_site(qdir, quarter, jobs_by_language[main], language=main,
                      alternate={lang: f"{lang}/" for lang in others}, **common)


def rebuild_site(quarter_dir: str | Path, programme_names: Mapping[str, str] | None = None) -> Path:
    """Build the site again for a published quarter from its ``manifest.json`` (jobs, run id, cutoff,
    designs and language as the run recorded them, and the second language's version in
    ``<quarter>/<code>/`` when the run made one); programme names default to the ids (the manifest
    does not hold them). Returns the path of ``index.html``."""
    qdir = Path(quarter_dir)
    m = json.loads((qdir / "manifest.json").read_text(encoding="utf-8"))
    versions = {check_language(str(m.get("parameters", {}).get("language", "nl"))): m.get("jobs", [])}
    versions |= {check_language(str(k)): [dict(j, folder=str(j["folder"]).removeprefix(f"{k}/")) for j in v]
                 for k, v in (m.get("translations") or {}).items()}
    root = {lang: qdir if i == 0 else qdir / lang for i, lang in enumerate(versions)}
    jobs_by_language = {lang: [dict(j, title=read_headline(root[lang] / str(j["folder"])).get("title") or j["notebook"])
                               for j in jobs] for lang, jobs in versions.items()}
    return build_versions(qdir, str(m["quarter"]), jobs_by_language, cutoff_date=m.get("cutoff_date"),
                          cutoff_source=str(m.get("cutoff_source", "quarter_end")), run_id=str(m.get("run_id", "")),
                          programme_names=programme_names, designs=m.get("designs"))
