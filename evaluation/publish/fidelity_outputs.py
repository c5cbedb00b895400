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
from evaluation.publish.figures import PLAIN, _plain_figure, plain_text
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
        "xlabel": "observed share (95% CI); red mark = target",
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
        "xlabel": "gemeten aandeel (95%-BI); rode streep = doel",
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
    ax.hlines(y, lo, hi, color="#1f4e79")
    tx = _TEXT[language] if language in _TEXT else None
    ax.plot(obs, y, "o", color="#1f4e79", label=tx["observed"] if tx else "observed")
    ax.plot(t["target"].to_numpy(float), y, "|", color="#c0504d", markersize=14, mew=2,
            label=tx["target"] if tx else "target")
    ax.set_yticks(y)
    names = [estimand_label(b, language) if tx else b for b in t["indicator"]]
    ax.set_yticklabels([plain_text(f"{a} - {b}") for a, b in zip(t["programme_id"], names, strict=True)], fontsize=7,
                       **PLAIN)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(plain_text(xlabel), **PLAIN)
    ax.set_ylim(-0.7, len(t) - 0.3)
    ax.set_title(plain_text(title), fontsize=9, loc="right", **PLAIN)
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    _plain_figure(fig)
    fig.tight_layout()
    return fig


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
    figures = {"fidelity": plot_fidelity(shown, tx["figure"], tx["xlabel"], language)} if len(table) else {}
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
