"""Publishing the data-quality report: headline wording (nl/en), heatmap and files.

The tables come from :mod:`evaluation.analyses.quality` (aggregate counts of rows, never
row-level values); this module words the headline, draws the completeness heatmap and writes
everything through :mod:`evaluation.publish.writer` (identifier columns refused, CSV formulas
neutralised). Counts here are rows, not people, and are published as counted: the share of
accepted rows is a property of the delivery (docs/methods.md, section 'Data quality').
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.analyses.quality import (
    _check_programme,
    completeness,
    issues_by_rule,
    quality_results,
    reconciliation_table,
)
from evaluation.contract.schema import Contract, load_contract
from evaluation.publish.figures import PLAIN, _plain_figure, plain_text
from evaluation.publish.formatting import check_language, number, percent
from evaluation.publish.labels import code_label
from evaluation.publish.writer import write_figure, write_json, write_table
from evaluation.validation.validate import ValidationResult


def quality_headline(result: ValidationResult, programme_id: str = "all", language: str | None = None) -> dict[str, Any]:
    """``{"status", "title", "sentences"}`` for the data-quality notebook (aggregate numbers only).

    status: ``ok`` (no errors), ``warning`` (rows quarantined) or
    ``not_estimable`` (a table refused as a whole: analyses cannot run).
    """
    lang = check_language(language or result.language)
    nl = lang == "nl"
    rec = result.reconciliation
    read, acc, q = int(rec["rows_read"].sum()), int(rec["rows_accepted"].sum()), int(rec["rows_quarantined"].sum())
    share = acc / read if read else float("nan")
    status = "ok" if result.ok else ("not_estimable" if result.blocking else "warning")
    title = "Datakwaliteit van de intake" if nl else "Data quality of the intake"
    pct = number(100 * share, lang, 1, thousands=False)

    def count(k: int) -> str:  # thousands separator: 72.679 in Dutch, 72,679 in English
        return number(k, lang, 0)

    if nl:
        sentences = [f"Van de {count(read)} aangeleverde rijen in {len(rec)} tabellen zijn er {count(acc)} ({pct}%) "
                     f"goedgekeurd en {count(q)} in quarantaine geplaatst."]
    else:
        sentences = [f"Of {count(read)} rows delivered in {len(rec)} tables, {count(acc)} ({pct}%) passed validation "
                     f"and {count(q)} were quarantined."]
    refused = rec.loc[rec["blocking"], "table"].tolist()
    if refused:
        sentences.append(("Geweigerde tabellen (analyses niet mogelijk): " if nl else
                          "Tables refused (analyses cannot run): ") + ", ".join(refused) + ".")
    counts = result.counts_by_rule()
    err = counts[counts["severity"] == "error"].sort_values("n_rows", ascending=False, kind="mergesort")
    if len(err) and err["n_rows"].iloc[0] > 0:
        top = err.iloc[0]
        k = int(top["n_rows"])
        rows = ("rij" if k == 1 else "rijen") if nl else ("row" if k == 1 else "rows")
        sentences.append(f"Meest voorkomende fout: {top['rule']} in {top['table']} ({count(k)} {rows})." if nl
                         else f"Most frequent error: {top['rule']} in {top['table']} ({count(k)} {rows}).")
    n_warn = int((result.issues_all["severity"] == "warning").sum())
    if n_warn:
        sentences.append(f"{count(n_warn)} waarschuwingen (rijen wel gebruikt)." if nl
                         else f"{count(n_warn)} warnings (rows still used).")
    sentences.append("Aantallen tellen rijen, geen personen." if nl else "Counts describe rows, not people.")
    if programme_id != "all":
        sentences.append(f"Programma: {programme_id}." if nl else f"Programme: {programme_id}.")
    return {"status": status, "title": title, "sentences": sentences}


def _field_words(table: str, field: str, language: str) -> str:
    """``table: field`` in words (the contract's table label and field title); the names when unknown."""
    try:
        f = load_contract().resources[str(table)].field(str(field))
        title = f.get("title_nl" if language == "nl" else "title") or str(field)
    except KeyError:
        title = str(field)
    return f"{code_label(str(table), language)}: {title[:1].lower() + title[1:]}"


def completeness_figure_text(table: pd.DataFrame, language: str = "nl") -> dict[str, Any]:
    """Title, alt text and data table of :func:`completeness_heatmap`: how many fields are filled in fewer than
    90% of the accepted rows, the least filled field; shares only."""
    nl = language == "nl"
    title = "Aandeel gevulde cellen (goedgekeurde rijen)" if nl else "Share of filled cells (accepted rows)"
    df = table.copy()
    if "programme_id" not in df.columns:
        df["programme_id"] = "all"
    df["label"] = [_field_words(t, f, language) for t, f in zip(df["table"], df["field"], strict=True)]
    share = pd.to_numeric(df["share_filled"], errors="coerce")
    low = df.loc[share < 0.9]
    alt = (f"Heatmap van het aandeel gevulde cellen per veld en programma ({df['label'].nunique()} velden): "
           f"{low['label'].nunique()} velden zijn bij minstens één programma in minder dan 90% van de rijen gevuld."
           if nl else
           f"Heatmap of the share of filled cells by field and programme ({df['label'].nunique()} fields): "
           f"{low['label'].nunique()} fields are filled in fewer than 90% of the rows for at least one programme.")
    if share.notna().any():
        w = df.loc[share.idxmin()]
        alt += (f" Het minst gevuld: {w['label']} ({percent(float(share.min()), language)})." if nl else
                f" Least filled: {w['label']} ({percent(float(share.min()), language)}).")
    data = df.pivot_table(index="label", columns="programme_id", values="share_filled", aggfunc="first",
                          sort=False).round(4).reset_index().rename(columns={"label": "veld" if nl else "field"})
    return {"title": title, "alt": alt, "data": data}


def completeness_heatmap(table: pd.DataFrame, language: str = "nl"):
    """Heatmap of ``share_filled``: rows ``table.field``, columns programmes.

    ``table`` is :func:`completeness` output (with or without programme_id).
    Returns a matplotlib Figure (no global style changes).
    """
    import matplotlib.figure

    df = table.copy()
    if "programme_id" not in df.columns:
        df["programme_id"] = "all"
    df["label"] = [_field_words(t, f, language) for t, f in zip(df["table"], df["field"], strict=True)]
    wide = df.pivot_table(index="label", columns="programme_id", values="share_filled", aggfunc="first", sort=False)
    wide = wide.reindex(pd.unique(df["label"]))
    fig = matplotlib.figure.Figure(figsize=(2.0 + 0.9 * wide.shape[1], 1.5 + 0.16 * wide.shape[0]))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(wide.to_numpy(dtype=float), aspect="auto", vmin=0, vmax=1, cmap="viridis",
                   interpolation="nearest")
    ax.set_xticks(range(wide.shape[1]), [plain_text(c) for c in wide.columns], rotation=45, ha="right", **PLAIN)
    ax.set_yticks(range(wide.shape[0]), [plain_text(x) for x in wide.index], fontsize=6, **PLAIN)
    ax.set_xlabel("programma" if language == "nl" else "programme")
    ax.set_title("Aandeel gevulde cellen (goedgekeurde rijen)" if language == "nl"
                 else "Share of filled cells (accepted rows)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05)
    _plain_figure(fig)
    fig.tight_layout()
    return fig


def write_quality_outputs(result: ValidationResult, output_dir: str | Path, programme_id: str = "all",
                          language: str | None = None, contract: Contract | None = None,
                          cutoff_date: str | None = None) -> dict[str, Path]:
    """Write the data-quality outputs (aggregates only) into ``output_dir``.

    ``cutoff_date`` (notebook parameter, "YYYY-MM-DD") is the date later
    analyses will use; validation itself always uses the extract's cutoff.
    A date after the extract's cutoff is refused; an earlier one is noted in
    the headline.

    Files: ``results.csv`` (RESULT_COLUMNS), ``headline.json``,
    ``reconciliation.csv``, ``reconciliation_by_programme.csv``,
    ``issues_by_rule.csv``, ``completeness.csv``,
    ``completeness_by_programme.csv``, ``completeness_heatmap.png`` and
    ``.svg``. Nothing row-level is written.
    """
    lang = check_language(language or result.language)
    contract = contract or load_contract()
    _check_programme(result, programme_id)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def csv(name: str, df: pd.DataFrame) -> None:
        paths[name] = write_table(out / f"{name}.csv", df)

    csv("results", quality_results(result, programme_id, contract))
    rec_p = reconciliation_table(result, by_programme=True, contract=contract)
    if programme_id != "all":
        rec_p = rec_p[rec_p["programme_id"] == programme_id]
    csv("reconciliation", reconciliation_table(result))
    csv("reconciliation_by_programme", rec_p)
    csv("issues_by_rule", issues_by_rule(result, lang))
    csv("completeness", completeness(result, programme_id=programme_id, contract=contract))
    comp_p = completeness(result, by_programme=True, programme_id=programme_id, contract=contract)
    csv("completeness_by_programme", comp_p)
    head = quality_headline(result, programme_id, lang)
    if cutoff_date is not None:
        try:
            analysis_cutoff = pd.Timestamp(cutoff_date)
        except ValueError as exc:
            raise ValueError(f"cutoff_date {cutoff_date!r} is not a date (YYYY-MM-DD)") from exc
        if analysis_cutoff > result.cutoff_date:
            raise ValueError(
                f"cutoff_date {cutoff_date} lies after the extract's cutoff date "
                f"{result.cutoff_date:%Y-%m-%d} (extract.yaml): data after it do not exist"
            )
        if analysis_cutoff < result.cutoff_date:
            head["sentences"].append(
                f"Analyses gebruiken peildatum {analysis_cutoff:%Y-%m-%d}; de validatie gebruikt de peildatum "
                f"van het extract ({result.cutoff_date:%Y-%m-%d})." if lang == "nl" else
                f"Analyses use cutoff {analysis_cutoff:%Y-%m-%d}; validation uses the extract's cutoff "
                f"({result.cutoff_date:%Y-%m-%d})."
            )
    paths["headline"] = write_json(out / "headline.json", head)
    png, svg, *_ = write_figure(out, "completeness_heatmap", completeness_heatmap(comp_p, lang), dpi=120,
                                **completeness_figure_text(comp_p, lang))
    paths["completeness_heatmap_png"], paths["completeness_heatmap_svg"] = png, svg
    return paths
