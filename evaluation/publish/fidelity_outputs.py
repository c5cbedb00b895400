"""Publishing implementation fidelity: disclosure control, wording (nl/en), figure and files.

:func:`fidelity_outputs` takes the fidelity table of
:class:`evaluation.analyses.fidelity.FidelityAnalysis` (or :func:`~evaluation.analyses.fidelity.fidelity_table`)
and writes ``results.csv``, ``fidelity_table.csv`` (indicators on fewer than the threshold
blanked), ``headline.json`` and the figure through :func:`evaluation.publish.writer.publish_outputs`.
Target keys come from ``programmes.yaml`` and are supplier text: the figure draws them literally
(:func:`evaluation.publish.figures.plain_text`), the writer neutralises them in CSV cells, and
HTML tables escape them (docs/methods.md, sections 'Implementation fidelity' and 'Disclosure control').
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaluation.analyses.fidelity import FIDELITY_MEASURES, FidelityAnalysis, fidelity_results
from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.figures import LINE_COLOURS, PLAIN, _plain_figure, percent_axis, plain_text
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language
from evaluation.publish.labels import estimand_label, not_measured_sentences
from evaluation.publish.suppression import protect_results
from evaluation.publish.writer import publish_outputs

_TEXT = {
    "en": {
        "title": "Implementation fidelity: delivered as described?",
        "summary": "Of {k} indicators with a target and enough data, {m} meet the programme's own target.",
        "worst": "Furthest below target: {ind} in {pid} ({obs}% observed against a target of {tgt}%).",
        "tidier": "Programme descriptions cover on average {p}% of the 12 TIDieR items.",
        "none": "No fidelity indicator could be computed for this selection.",
        "xlabel": "observed share (95% CI); vertical mark = target",
        "figure": "Fidelity indicators against the programme's own targets",
        "observed": "observed",
        "target": "target",
    },
    "nl": {
        "title": "Programma-integriteit: uitgevoerd zoals beschreven?",
        "summary": "Van de {k} indicatoren met een doel en voldoende gegevens halen er {m} het eigen doel van het programma.",
        "worst": "Het verst onder het doel: {ind} bij {pid} ({obs}% gemeten tegen een doel van {tgt}%).",
        "tidier": "De programmabeschrijvingen dekken gemiddeld {p}% van de 12 TIDieR-items.",
        "none": "Voor deze selectie kon geen enkele integriteitsindicator worden berekend.",
        "xlabel": "gemeten aandeel (95%-BI); verticaal streepje = doel",
        "figure": "Integriteitsindicatoren tegen de eigen doelen van het programma",
        "observed": "gemeten",
        "target": "doel",
    },
}


def plot_fidelity(table: pd.DataFrame, title: str = "", xlabel: str = "observed share (95% CI) and target",
                  language: str | None = None):
    """Dot-and-interval chart of the share indicators with the target marked; returns a Figure.

    With ``language`` ("nl" or "en") the legend and the indicator names on the
    axis are in words of that language (:func:`evaluation.publish.labels.estimand_label`);
    without it they are the machine names.
    """
    from matplotlib.figure import Figure

    t = table.loc[table["unit"].isin(["share", "share of items"])].reset_index(drop=True)
    fig = Figure(figsize=(7, 0.35 * max(len(t), 4) + 1))
    ax = fig.add_subplot(111)
    y = np.arange(len(t))[::-1]
    obs = t["observed"].to_numpy(float)
    lo = np.where(np.isnan(t["ci_lower"].to_numpy(float)), obs, t["ci_lower"].to_numpy(float))
    hi = np.where(np.isnan(t["ci_upper"].to_numpy(float)), obs, t["ci_upper"].to_numpy(float))
    ax.hlines(y, lo, hi, color=LINE_COLOURS[0])
    tx = _TEXT[language] if language in _TEXT else None
    ax.plot(obs, y, "o", color=LINE_COLOURS[0], label=tx["observed"] if tx else "observed")
    ax.plot(t["target"].to_numpy(float), y, "|", color=LINE_COLOURS[1], markersize=14, mew=2,
            label=tx["target"] if tx else "target")
    ax.set_yticks(y)
    names = [estimand_label(b, language) if tx else b for b in t["indicator"]]
    ax.set_yticklabels([plain_text(f"{a} - {b}") for a, b in zip(t["programme_id"], names, strict=True)], fontsize=7,
                       **PLAIN)
    ax.set_xlim(-0.02, 1.02)
    percent_axis(ax, language, "x")
    ax.set_xlabel(plain_text(xlabel), **PLAIN)
    ax.set_ylim(-0.7, len(t) - 0.3)
    ax.set_title(plain_text(title), fontsize=9, loc="right", **PLAIN)
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    _plain_figure(fig)
    fig.tight_layout()
    return fig


def fidelity_figure_text(table: pd.DataFrame, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Title, alt text and data table of :func:`plot_fidelity` for ``table`` as drawn (indicators of fewer than
    the threshold already blanked): how many shown indicators meet their target, and the observed shares with
    their targets (percentages, no counts)."""
    tx = _TEXT[check_language(language)]
    nl = language == "nl"
    t = table.loc[table["unit"].isin(["share", "share of items"])].reset_index(drop=True)
    names = [f"{p} - {estimand_label(i, language)}" for p, i in zip(t["programme_id"], t["indicator"], strict=True)]
    obs, tgt = t["observed"].to_numpy(float), t["target"].to_numpy(float)
    both = ~np.isnan(obs) & ~np.isnan(tgt)
    meets = int((obs[both] >= tgt[both]).sum())
    alt = (f"{tx['figure']}: {len(t)} indicatoren als gemeten aandeel met 95%-BI; van de {int(both.sum())} met een "
           f"doel en een getoonde meting halen er {meets} het doel." if nl else
           f"{tx['figure']}: {len(t)} indicators as observed shares with 95% CI; of the {int(both.sum())} with a "
           f"target and a shown measurement, {meets} meet the target.")
    data = pd.DataFrame({"indicator": names, tx["observed"]: np.round(obs, 4),
                         ("95%-BI ondergrens" if nl else "95% CI lower limit"): t["ci_lower"].astype(float).round(4),
                         ("95%-BI bovengrens" if nl else "95% CI upper limit"): t["ci_upper"].astype(float).round(4),
                         tx["target"]: np.round(tgt, 4)})
    return {"title": tx["figure"], "alt": alt, "data": data}


def fidelity_headline(table: pd.DataFrame, language: str = DEFAULT_LANGUAGE, threshold: int = SUPPRESSION_THRESHOLD) -> dict[str, Any]:
    """``headline.json`` content: how many indicators meet their target, the largest shortfall, TIDieR coverage.

    Only indicators with ``n >= threshold`` count (smaller ones are suppressed in
    the published table). Status ``warning`` when any counted indicator's 95% CI
    lies entirely below its target.
    """
    tx = _TEXT[check_language(language)]
    t = table.loc[table["target"].notna() & table["observed"].notna() & (table["n"] >= threshold)
                  & (table["indicator"] != "tidier_complete")]
    if not len(table):
        return {"status": "not_estimable", "title": tx["title"], "sentences": [tx["none"]]}
    sentences = []
    status = "ok"
    if len(t):
        meets = t["meets_target"].astype(bool)
        sentences.append(tx["summary"].format(k=len(t), m=int(meets.sum())))
        shares = t.loc[t["unit"] == "share"]
        if len(shares):
            gap = shares["target"] - shares["observed"]
            w = shares.loc[gap.idxmax()]
            if gap.max() > 0:
                sentences.append(tx["worst"].format(ind=estimand_label(w["indicator"], language), pid=w["programme_id"],
                                                    obs=round(100 * w["observed"]), tgt=round(100 * w["target"])))
            below = (shares["ci_upper"] < shares["target"]).any()
            if below:
                status = "warning"
    tid = table.loc[table["indicator"] == "tidier_complete", "observed"]
    if len(tid):
        sentences.append(tx["tidier"].format(p=round(100 * tid.mean())))
    return {"status": status, "title": tx["title"], "sentences": sentences}


def fidelity_outputs(analysis: FidelityAnalysis | pd.DataFrame, output_dir: Any, language: str = DEFAULT_LANGUAGE,
                     threshold: int = SUPPRESSION_THRESHOLD) -> dict[str, Any]:
    """Write results.csv, headline.json, ``fidelity_table.csv`` (protected) and the figure into ``output_dir``.

    ``analysis``: a fitted :class:`~evaluation.analyses.fidelity.FidelityAnalysis` or its
    ``table_``. Returns ``{"headline", "files", "figures" (png paths), "table" (as published)}``.
    """
    table = analysis.table_ if isinstance(analysis, FidelityAnalysis) else analysis
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"fidelity_outputs: expected a FidelityAnalysis or a fidelity table, got {type(table).__name__}")
    tx = _TEXT[check_language(language)]
    results = fidelity_results(table)
    published = protect_results(results, threshold=threshold)
    tab = published[["programme_id", "estimand", "target", "target_source", "estimate", "ci_lower", "ci_upper",
                     "events", "n", "note"]].rename(columns={"estimand": "indicator", "estimate": "observed",
                                                             "events": "numerator"})
    shown = table.copy()
    shown.loc[shown["n"] < threshold, ["observed", "ci_lower", "ci_upper"]] = np.nan
    figures = {"fidelity": {"figure": plot_fidelity(shown, tx["figure"], tx["xlabel"], language),
                            **fidelity_figure_text(shown, language)}} if len(table) else {}
    headline = fidelity_headline(table, language, threshold)
    support = getattr(analysis, "support_", pd.DataFrame())
    if len(support):
        missing = not_measured_sentences(support, FIDELITY_MEASURES, language, analysis.programme_id)
        if missing:
            headline = {**headline, "sentences": headline["sentences"] + missing,
                        "status": "warning" if headline["status"] == "ok" else headline["status"]}
    written = publish_outputs(output_dir, results, headline, {"fidelity_table": tab}, figures, threshold=threshold)
    files: list[Any] = []
    for v in written.values():
        files.extend(v if isinstance(v, list) else [v])
    return {"headline": headline, "files": files, "figures": [f for f in files if str(f).endswith(".png")],
            "table": tab}
