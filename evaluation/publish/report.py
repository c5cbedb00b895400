"""Report step: the audit trail of each notebook (``report.html``) and the trends figures.

Executed notebooks are rendered to self-contained HTML without code cells
(nbconvert ``HTMLExporter`` with ``exclude_input``, ``exclude_input_prompt``,
``exclude_output_prompt`` and ``embed_images``). Error outputs are reduced to
the exception name and message: tracebacks (which carry file paths and,
potentially, data values) never reach a report. The pages a reader opens
(overview, programme summaries, detail pages) are built by
:mod:`evaluation.publish.site` from the published tables, figures and sentences.

Nothing here computes a statistic; the numbers shown are the notebooks'
results, formatted. Every estimate is shown with its 95% interval and the
``causal`` flag of the design that produced it.
"""

from __future__ import annotations

import copy
import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.results import RESULT_COLUMNS
from evaluation.publish.figures import (
    NOTE_COLOUR,
    PLAIN,
    _plain_figure,
    join_words,
    plain_text,
    series_style,
)
from evaluation.publish.formatting import check_language, number
from evaluation.publish.labels import (
    analysis_label,
    endpoint_label,
    estimand_label,
    group_label,
    warning_line,
)
from evaluation.publish.safe_html import inert_output as _inert_output
from evaluation.publish.writer import write_figure, write_json, write_table, write_text

_check_language = check_language


def format_number(value: Any, language: str = "nl", digits: int = 2) -> str:
    """Format a number for a reader: decimal comma in Dutch, blank for missing.

    Whole numbers are shown without decimals; other values with ``digits``
    decimals.
    """
    check_language(language)
    if value is None:
        return ""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    whole = math.isfinite(x) and float(x).is_integer() and abs(x) < 1e15
    return number(x, language, 0 if whole else digits, thousands=False)


# --------------------------------------------------------------------------- rendering

_WARNING_LINE = re.compile(r"^.*?:\d+: (\w*Warning): (.*)$")
_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"


def sanitize_error(ename: str, evalue: str, replacements: Mapping[str, str] | None = None,
                   max_chars: int = 300) -> str:
    """Reduce an exception to ``"Name: message"`` without paths or tracebacks.

    Known folders (``replacements``: path -> placeholder) are replaced, any
    other absolute path is shortened to its last component, and the message
    is cut at ``max_chars`` characters.
    """
    msg = str(evalue or "")
    for path, placeholder in (replacements or {}).items():
        if path:
            msg = msg.replace(str(path), placeholder)
    msg = re.sub(r"(?<![\w.])/(?:[^\s/'\"]+/)+([^\s/'\"]+)", r"\1", msg)
    msg = " ".join(msg.split())
    if len(msg) > max_chars:
        msg = msg[: max_chars - 1] + "…"
    return f"{ename}: {msg}" if msg else str(ename)


def clean_notebook_for_report(nb: Any, replacements: Mapping[str, str] | None = None,
                              language: str | None = None) -> Any:
    """Return a copy of an executed notebook fit for a reader.

    - with ``language``, cells tagged ``lang-nl`` or ``lang-en`` for the
      other language are removed, so a notebook can carry its prose in both
      languages and each report shows one (untagged cells are always kept);
    - papermill's red "An Exception was encountered" cells are removed;
    - error outputs become one line ``Name: message`` (no traceback);
    - HTML outputs keep only inert elements and attributes (:func:`evaluation.publish.safe_html.sanitise_html`: no script, no
      image, no event handler, no link), Markdown outputs become their plain text, scripts are dropped;
    - stderr streams keep only ``...Warning: message`` lines (without the
      file path and source line Python prints), other stderr text is dropped;
      with ``language`` they read ``Waarschuwing: ...`` / ``Warning: ...``
      with known messages in that language (:func:`labels.warning_line`).
    The executed notebook kept for audit is not changed.
    """
    nb = copy.deepcopy(nb)
    cells = []
    other = {"nl": "lang-en", "en": "lang-nl"}.get(language or "", None)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if _PAPERMILL_ERROR_TAG in tags or (other is not None and other in tags):
            continue
        if cell.get("cell_type") == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    line = sanitize_error(out.get("ename", "Error"), out.get("evalue", ""), replacements)
                    outputs.append({"output_type": "stream", "name": "stdout", "text": line + "\n"})
                elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                    kept = []
                    for raw in str(out.get("text", "")).splitlines():
                        m = _WARNING_LINE.match(raw)
                        if m and language:
                            kept.append(warning_line(m.group(2), language))
                        elif m:
                            kept.append(f"{m.group(1)}: {m.group(2)}")
                    if kept:
                        outputs.append({"output_type": "stream", "name": "stdout", "text": "\n".join(kept) + "\n"})
                else:
                    outputs.append(_inert_output(out))
            cell["outputs"] = outputs
        cells.append(cell)
    nb.cells = cells
    return nb


def render_html(executed_path: str | Path, html_path: str | Path,
                replacements: Mapping[str, str] | None = None, language: str = "nl") -> Path:
    """Render an executed notebook to self-contained HTML without code.

    Parameters
    ----------
    executed_path : path
        The executed ``.ipynb`` (kept unchanged for audit).
    html_path : path
        Where to write the HTML.
    replacements : mapping, optional
        Paths to hide in error messages (path -> placeholder).
    language : {"nl", "en"}
        Sets the ``lang`` attribute of the page and keeps only the prose
        cells of that language (cells tagged ``lang-nl`` / ``lang-en``).
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed_path), as_version=4)
    nb = clean_notebook_for_report(nb, replacements, language=_check_language(language))
    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    title = next((line[2:].strip() for c in nb.cells if c.cell_type == "markdown"
                  for line in c.source.splitlines() if line.startswith("# ")), "")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or ("Report" if language == "en" else "Rapport")}})
    lang = _check_language(language)
    body = re.sub(r"<html[^>]*>", f'<html lang="{lang}">', body, count=1)
    # self-contained: no scripts fetched from the internet (require.js, MathJax CDN)
    body = re.sub(r"<script[^>]*\ssrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", body)
    return write_text(html_path, body)


# --------------------------------------------------------------------------- index page

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin-bottom:.3rem}
table{border-collapse:collapse;margin:.4rem 0 1rem 0;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}td.num{text-align:right}
.status-ok{color:#1a7f37}.status-failed,.status-timeout{color:#b42318;font-weight:bold}
.status-skipped{color:#666}.warning{color:#9a6700}.error{background:#fff1f0;padding:.4rem;border-left:3px solid #b42318}
.meta{color:#555;font-size:.9rem}
"""


TREND_TEXT = {
    "nl": {
        "title": "Ontwikkeling over de kwartalen",
        "one_quarter": "De resultatenopslag bevat pas één kwartaal ({q}); ontwikkelingen zijn zichtbaar vanaf het tweede kwartaal.",
        "empty": "De resultatenopslag bevat nog geen resultaten.",
        "summary": "{k} van de {m} maten veranderden tussen {a} en {b}: hun 95%-interval sluit 'geen verandering' uit.",
        "caveat": ("Dit is een beschrijving, geen effect. Opeenvolgende kwartalen bevatten grotendeels dezelfde mensen; "
                   "het interval is daarom ruim (conservatief). Bij veel maten zijn enkele 'veranderingen' door toeval te verwachten."),
        "quarter": "kwartaal",
    },
    "en": {
        "title": "Change across quarters",
        "one_quarter": "The results store holds only one quarter ({q}); trends become visible from the second quarter on.",
        "empty": "The results store holds no results yet.",
        "summary": "{k} of {m} measures changed between {a} and {b}: their 95% interval excludes 'no change'.",
        "caveat": ("This is a description, not an effect. Successive quarters contain largely the same people, so the "
                   "interval is wide (conservative). With many measures, some 'changes' are expected by chance."),
        "quarter": "quarter",
    },
}


def _slug(*parts: Any) -> str:
    s = "_".join(str(p) for p in parts if p not in (None, "") and not (isinstance(p, float) and math.isnan(p)))
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()[:80] or "measure"


def plot_trends(history: pd.DataFrame, output_dir: str | Path, language: str = "nl",
                max_figures: int = 24, min_quarters: int = 2) -> list[Path]:
    """One figure per measure across quarters, with 95% CI bands; PNG and SVG.

    A measure is (analysis, estimand, endpoint); each (programme_id, group)
    is a line with its interval as a band. Only measures seen in at least
    ``min_quarters`` quarters are drawn, at most ``max_figures`` of them
    (sorted by analysis, estimand, endpoint). Returns the PNG paths.
    """
    from matplotlib.figure import Figure

    _check_language(language)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if history.empty:
        return []
    quarters = sorted(history["quarter"].unique())
    pos = {q: i for i, q in enumerate(quarters)}
    paths = []
    keys = ["analysis", "estimand", "endpoint"]
    for key, g in history.groupby(keys, sort=True, dropna=False):
        if g["quarter"].nunique() < min_quarters:
            continue
        if len(paths) >= max_figures:
            break
        fig = Figure(figsize=(7, 4.4))
        ax = fig.add_subplot()
        endpoint = f" ({endpoint_label(str(key[2]), language)})" if isinstance(key[2], str) and key[2] else ""
        what = estimand_label(str(key[1]), language)
        title = f"{analysis_label(str(key[0]), language)}: {what}{endpoint}"
        title = title[:1].upper() + title[1:]
        nl = language == "nl"
        rows, moves = [], []
        for i, ((pid, grp), line) in enumerate(g.groupby(["programme_id", "group"], sort=True, dropna=False)):
            line = line.sort_values("quarter")
            x = line["quarter"].map(pos).to_numpy()
            name = f"{pid} · {group_label(str(grp), language)}"
            style = series_style(i)
            y = line["estimate"].to_numpy(dtype=float)
            ax.plot(x, y, marker="o", label=plain_text(name), **style)
            lo, hi = line["ci_lower"].to_numpy(dtype=float), line["ci_upper"].to_numpy(dtype=float)
            ax.fill_between(x, lo, hi, alpha=0.12, color=style["color"], linewidth=0)
            finite = [(q, v) for q, v in zip(line["quarter"], y, strict=True) if math.isfinite(v)]
            if len(finite) >= 2:
                moves.append(f"{name} {'van' if nl else 'from'} {number(finite[0][1], language, 2)} "
                             f"({finite[0][0]}) {'naar' if nl else 'to'} {number(finite[-1][1], language, 2)} "
                             f"({finite[-1][0]})")
            rows += [[name, q, *(round(float(v), 4) if math.isfinite(float(v)) else None for v in vals)]
                     for q, *vals in zip(line["quarter"], y, lo, hi, strict=True)]
        ax.set_xticks(range(len(quarters)), [plain_text(q) for q in quarters], **PLAIN)
        ax.set_xlabel(TREND_TEXT[language]["quarter"])
        ax.set_ylabel(plain_text(what), fontsize=8, **PLAIN)
        ax.set_title(plain_text(title), fontsize=10, loc="left", **PLAIN)
        if is_ratio := bool(re.search(r"ratio", str(key[1]))):
            ax.axhline(1.0, color=NOTE_COLOUR, lw=0.8, ls="--")
        if not is_ratio and str(key[1]).startswith(("difference", "risk_difference", "rmst_difference")):
            ax.axhline(0.0, color=NOTE_COLOUR, lw=0.8, ls="--")
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        _plain_figure(fig)
        fig.tight_layout()
        alt = (f"{title}, per kwartaal van {quarters[0]} tot en met {quarters[-1]} met 95%-BI"
               if nl else f"{title}, per quarter from {quarters[0]} to {quarters[-1]} with 95% CI")
        alt += (": " + join_words(moves, language) + ".") if moves else "."
        data = pd.DataFrame(rows, columns=["reeks" if nl else "series", TREND_TEXT[language]["quarter"],
                                           "schatting" if nl else "estimate",
                                           "95%-BI ondergrens" if nl else "95% CI lower limit",
                                           "95%-BI bovengrens" if nl else "95% CI upper limit"])
        paths.append(write_figure(out, "trend_" + _slug(*key), fig, dpi=110, alt=alt, title=title, data=data)[0])
    return paths


def trend_headline(history: pd.DataFrame, changes: pd.DataFrame, language: str = "nl",
                   clear: pd.DataFrame | None = None) -> dict[str, Any]:
    """``headline.json`` content for the trends notebook.

    ``clear``: the rows of ``changes`` whose 95% interval excludes "no change"
    (:func:`evaluation.pipeline.store.changes_excluding_no_change`, computed by the notebook);
    required when ``changes`` has rows.
    """
    t = TREND_TEXT[_check_language(language)]
    if history.empty:
        return {"status": "not_estimable", "title": t["title"], "sentences": [t["empty"]]}
    quarters = sorted(history["quarter"].unique())
    if len(quarters) < 2 or changes.empty:
        return {"status": "not_estimable", "title": t["title"], "sentences": [t["one_quarter"].format(q=quarters[-1])]}
    if clear is None:
        raise ValueError("trend_headline: pass clear=changes_excluding_no_change(changes) (evaluation.pipeline.store)")
    moved = len(clear)
    a, b = changes["quarter_from"].iloc[0], changes["quarter_to"].iloc[0]
    return {"status": "ok", "title": t["title"],
            "sentences": [t["summary"].format(k=int(moved), m=len(changes), a=a, b=b), t["caveat"]]}


def write_trend_outputs(output_dir: str | Path, history: pd.DataFrame, changes: pd.DataFrame,
                        language: str = "nl", clear: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write the trends notebook's ``results.csv``, ``headline.json`` and ``trend_table.csv``.

    Through :mod:`evaluation.publish.writer`; ``clear`` as in :func:`trend_headline`.

    ``trend_table.csv`` is the store's aggregate estimates per quarter (no
    per-person rows); ``results.csv`` holds the quarter-on-quarter changes.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cols = ["quarter", "programme_id", "analysis", "estimand", "endpoint", "group",
            "estimate", "ci_lower", "ci_upper", "n", "causal"]
    return {"results": write_table(out / "results.csv", changes[RESULT_COLUMNS]),
            "headline": write_json(out / "headline.json", trend_headline(history, changes, language, clear)),
            "table": write_table(out / "trend_table.csv", history[cols])}


def show_figures(paths: Sequence[str | Path]) -> None:
    """Display saved PNG figures in a notebook (no-op outside IPython)."""
    try:
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover
        return
    for p in paths:
        display(Image(filename=str(p)))
