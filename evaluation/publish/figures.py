"""Figures of the published reports: curves, workforce, fidelity and completeness.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (no global style or
``rcParams`` changes) that :func:`evaluation.publish.writer.write_figure` saves. Text a data
supplier controls (programme ids, codes, fidelity target keys, column names) passes through
:func:`plain_text`, so that a ``$`` never starts mathtext and ``usetex`` is never used: a key such
as ``$\\undefinedmacro$`` is drawn as written instead of failing the figure.

Disclosure: curves stop where fewer than ``min_at_risk`` units remain at risk, a curve with fewer
than ``min_at_risk`` steps is not drawn (its steps would count the endings), and the workforce
figure draws only the published (rounded) table (docs/methods.md, section 'Disclosure control').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.contract.schema import load_contract
from evaluation.datasets.retention import DAYS_PER_MONTH
from evaluation.publish.formatting import number, percent
from evaluation.publish.workforce import protect_workforce
from evaluation.stats import survival as sv

PLAIN = {"usetex": False}
"""Text properties of every label drawn from data: never LaTeX."""

OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
"""The colour-blind-safe palette of Okabe and Ito (2008), the one palette of every published figure."""

LINE_COLOURS: tuple[str, ...] = (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["bluish_green"],
                                 OKABE_ITO["reddish_purple"], OKABE_ITO["black"])
"""Colours of lines, markers and bars, in order of use: the Okabe-Ito colours with at least 3:1 contrast on
white (WCAG 2.1, 1.4.11). The first two are the programme and the comparison group."""

TEXT_COLOURS: tuple[str, ...] = ("#0072B2", "#A34800", "#007A5A", "#A8457E", "#000000")
"""Text drawn in a series' colour (numbers at risk): the hues of :data:`LINE_COLOURS`, darkened where needed to
at least 4.5:1 contrast on white (WCAG 2.1, 1.4.3)."""

LINE_STYLES: tuple[str, ...] = ("-", "--", "-.", ":")
"""Line styles that tell series apart beyond the :data:`LINE_COLOURS` (and without colour)."""

NOTE_COLOUR = "#595959"
"""Grey of notes and reference lines (7:1 on white)."""


def series_style(i: int) -> dict[str, str]:
    """Colour and line style of the ``i``-th series (0-based): colours first, then styles."""
    return {"color": LINE_COLOURS[i % len(LINE_COLOURS)],
            "ls": LINE_STYLES[(i // len(LINE_COLOURS)) % len(LINE_STYLES)]}


def text_colour(i: int) -> str:
    """Text colour of the ``i``-th series (see :data:`TEXT_COLOURS`)."""
    return TEXT_COLOURS[i % len(TEXT_COLOURS)]


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a ``#RRGGBB`` colour."""
    h = colour.lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", h):
        raise ValueError(f"relative_luminance: {colour!r} is not a #RRGGBB colour")
    c = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    c = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def contrast_ratio(foreground: str, background: str = "#FFFFFF") -> float:
    """WCAG 2.1 contrast ratio (1 to 21) of two ``#RRGGBB`` colours."""
    a, b = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def plain_text(value: Any) -> str:
    """``value`` as text that matplotlib draws literally: ``$`` escaped (no mathtext)."""
    return str(value).replace("$", r"\$")


def _plain_figure(fig: Any) -> Any:
    """Switch ``usetex`` off on every text of ``fig`` (titles, ticks, legend) and return it."""
    from matplotlib.text import Text

    for t in fig.findobj(Text):
        t.set_usetex(False)
    return fig


_DERIVED_COVARIATES = {"age_at_intake": ("age at intake", "leeftijd bij instroom")}


def covariate_label(name: str, language: str) -> str:
    """Words for a covariate of the balance table: ``prior_cases`` -> "eerdere strafzaken",
    ``sex[female]`` -> "geslacht: vrouw", ``x_missing`` -> "x: onbekend" (the contract's field titles and
    code labels of the participants table); the name itself when the contract does not know it."""
    nl = language == "nl"
    m = re.fullmatch(r"([a-z0-9_]+)\[(.+)\]", str(name))
    key, value = (m.group(1), m.group(2)) if m else (str(name), None)
    missing = value is None and key.endswith("_missing")
    if missing:
        key = key[: -len("_missing")]
    contract = load_contract()
    if key in _DERIVED_COVARIATES:
        base = _DERIVED_COVARIATES[key][1 if nl else 0]
    else:
        try:
            field = contract.resources["participants"].field(key)
        except KeyError:
            return str(name)
        title = field.get("title_nl" if nl else "title") or key
        base = title[:1].lower() + title[1:]
    if missing:
        return f"{base}: {'onbekend' if nl else 'missing'}"
    if value is None:
        return base
    return f"{base}: {contract.code_label('participants', key, value, language)}"


def join_words(items: Iterable[str], language: str) -> str:
    """``a, b en c`` (nl) or ``a, b and c`` (en)."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + (" en " if language == "nl" else " and ") + items[-1]


def step_at(times: np.ndarray, values: np.ndarray, at: float) -> float:
    """Value of a right-continuous step curve (``times`` ascending, starting at 0) at time ``at``;
    NaN beyond its last time."""
    times = np.asarray(times, float)
    if not len(times) or at > times[-1]:
        return float("nan")
    return float(np.asarray(values, float)[np.searchsorted(times, at, "right") - 1])


def percent_axis(ax, language: str | None, axis: str = "y") -> None:
    """Tick labels of a share axis as percentages in the reader's notation (``12,5%`` in Dutch)."""
    from matplotlib.ticker import FuncFormatter

    if language is None:
        return
    fmt = FuncFormatter(lambda v, _: percent(v, language, 0 if abs(v * 100 - round(v * 100)) < 1e-9 else 1))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _finish(fig, ax, title: str, xlabel: str, ylabel: str, legend: bool = True, language: str | None = None):
    """Axis labels, a literal title, the legend (under the plot) and the plain-text settings of a curve plot;
    with ``language`` the y axis in percentages (:func:`percent_axis`)."""
    ax.set_xlabel(plain_text(xlabel), **PLAIN)
    ax.set_ylabel(plain_text(ylabel), **PLAIN)
    ax.set_title(plain_text(title), loc="left", **PLAIN)
    percent_axis(ax, language)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    _plain_figure(fig)
    fig.tight_layout()
    return fig


def km_curves(data: pd.DataFrame, by: str = "programme_id", max_groups: int = 8,
              min_at_risk: int = SUPPRESSION_THRESHOLD) -> list[dict[str, Any]]:
    """The curves :func:`plot_km` draws: per group ``group``, ``n``, ``shown`` and, when shown, ``time``
    (months, from 0), ``estimate``, ``ci_lower``, ``ci_upper``, stopping at the last time with at least
    ``min_at_risk`` at risk. A group with 1 to ``min_at_risk - 1`` steps is ``shown=False``."""
    out: list[dict[str, Any]] = []
    for level, sub in list(data.groupby(by, sort=True))[:max_groups]:
        km = sv.KaplanMeier().fit(sub["time"].to_numpy(float), sub["event"].to_numpy(int), label=str(level))
        tab = km.table_.loc[km.table_["n_risk"] >= min_at_risk]
        if tab.empty:
            continue
        if 0 < int((tab["n_event"] > 0).sum()) < min_at_risk:
            out.append({"group": level, "n": len(sub), "shown": False})
            continue
        out.append({"group": level, "n": len(sub), "shown": True,
                    "time": np.r_[0.0, tab["time"].to_numpy(float)] / DAYS_PER_MONTH,
                    "estimate": np.r_[1.0, tab["survival"].to_numpy(float)],
                    "ci_lower": np.r_[1.0, tab["ci_lower"].to_numpy(float)],
                    "ci_upper": np.r_[1.0, tab["ci_upper"].to_numpy(float)]})
    return out


def plot_km(data: pd.DataFrame, by: str = "programme_id", title: str = "", xlabel: str = "months",
            ylabel: str = "still active", max_groups: int = 8, min_at_risk: int = SUPPRESSION_THRESHOLD,
            few_events: str = "{group}: not shown (fewer than {t} endings)", language: str | None = None):
    """Kaplan-Meier step curves per group (months on the x axis); returns a matplotlib Figure.

    Each curve stops at the last time with at least ``min_at_risk`` units at risk
    (disclosure rule; groups with fewer from the start are not drawn). A curve
    with 1 to ``min_at_risk - 1`` steps is replaced by a legend entry
    (``few_events``): its steps would count the endings. Colours: :func:`series_style`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot(111)
    curves = km_curves(data, by, max_groups, min_at_risk)
    bands = sum(bool(c["shown"]) for c in curves) <= 2  # confidence bands of many curves hide the curves
    for i, c in enumerate(curves):
        style = series_style(i)
        if not c["shown"]:
            ax.plot([], [], color=style["color"], ls=":", label=plain_text(few_events.format(group=c["group"],
                                                                                             t=min_at_risk)))
            continue
        ax.step(c["time"], c["estimate"], where="post", label=plain_text(f"{c['group']} (n={c['n']})"), **style)
        if bands:
            ax.fill_between(c["time"], c["ci_lower"], c["ci_upper"], step="post", alpha=0.12, color=style["color"],
                            linewidth=0)
    ax.set_ylim(0, 1.02)
    return _finish(fig, ax, title, xlabel, ylabel, language=language)


def km_alt(curves: list[dict[str, Any]], what: str, horizon: float | Sequence[float], language: str,
           unit: str = "months", not_shown: str = "") -> str:
    """Alt text of :func:`plot_km`: the share ``what`` ("still active") of each shown group at the first
    of ``horizon`` (in the curves' time unit) that a shown curve reaches, and the groups not shown or
    followed for less time. Percentages only, no counts."""
    nl = language == "nl"
    u = {"months": ("maanden", "months"), "days": ("dagen", "days")}[unit][0 if nl else 1]
    shown = [c for c in curves if c["shown"]]
    hidden = [str(c["group"]) for c in curves if not c["shown"]]
    tail = ((f" Niet getoond: {join_words(hidden, language)}{not_shown}." if nl else
             f" Not shown: {join_words(hidden, language)}{not_shown}.") if hidden else "")
    horizons = [float(horizon)] if np.isscalar(horizon) else [float(h) for h in horizon]
    reached = [h for h in horizons if any(h <= float(c["time"][-1]) for c in shown)]
    if not reached:
        return ("Kaplan-Meier-curves: geen curve getoond." if nl else "Kaplan-Meier curves: no curve shown.") + tail
    h = reached[0]
    parts, short = [], []
    for c in shown:
        v = step_at(c["time"], c["estimate"], h)
        (short if np.isnan(v) else parts).append(str(c["group"]) if np.isnan(v) else f"{c['group']} {percent(v, language)}")
    hw = number(h, language, 0)
    text = (f"Kaplan-Meier-curves, aandeel {what} na {hw} {u}: " if nl else
            f"Kaplan-Meier curves, share {what} after {hw} {u}: ") + join_words(parts, language) + "."
    if short:
        text += (f" Korter gevolgd: {join_words(short, language)}." if nl else
                 f" Followed for less time: {join_words(short, language)}.")
    return text + tail


def km_data(curves: list[dict[str, Any]], columns: tuple[str, str, str, str, str], step: float = 3.0) -> pd.DataFrame:
    """The numbers a curve figure plots, every ``step`` time units: group, time, estimate and 95% CI
    (columns named by ``columns``); shares, no counts."""
    rows = []
    for c in curves:
        if not c["shown"]:
            continue
        for t in np.arange(0.0, float(c["time"][-1]) + 1e-9, step):
            rows.append([str(c["group"]), float(t)] + [round(step_at(c["time"], c[k], t), 4)
                                                       for k in ("estimate", "ci_lower", "ci_upper")])
    return pd.DataFrame(rows, columns=list(columns))


def cuminc_curves(curves: pd.DataFrame, min_at_risk: int = SUPPRESSION_THRESHOLD,
                  withheld: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The curves :func:`plot_cuminc` draws: per reason ``group``, ``shown`` (True, ``"few"`` or
    ``"withheld"``) and, when shown, ``time`` (months, from 0) and ``estimate``."""
    withheld = {str(w) for w in withheld}
    out: list[dict[str, Any]] = []
    for reason, sub in curves.groupby("reason", sort=False):
        if "n_risk" in sub.columns:
            sub = sub.loc[sub["n_risk"] >= min_at_risk]
        if sub.empty:
            continue
        if 0 < int((np.diff(np.r_[0.0, sub["estimate"].to_numpy(float)]) > 0).sum()) < min_at_risk:
            out.append({"group": reason, "shown": "few"})
        elif str(reason) in withheld:
            out.append({"group": reason, "shown": "withheld"})
        else:
            out.append({"group": reason, "shown": True,
                        "time": np.r_[0.0, sub["time"].to_numpy(float)] / DAYS_PER_MONTH,
                        "estimate": np.r_[0.0, sub["estimate"].to_numpy(float)]})
    return out


def plot_cuminc(curves: pd.DataFrame, title: str = "", xlabel: str = "months", ylabel: str = "cumulative incidence",
                min_at_risk: int = SUPPRESSION_THRESHOLD, few_events: str = "{group}: not shown (fewer than {t} endings)",
                withheld: Iterable[str] = (), withheld_label: str = "{group}: not shown",
                label: Any = str, language: str | None = None):
    """Cumulative incidence curves per reason from :func:`evaluation.analyses.retention.competing_reasons`; returns a Figure.

    Curves stop at the last time with at least ``min_at_risk`` units at risk; a
    curve with 1 to ``min_at_risk - 1`` steps, or of a reason in ``withheld``
    (its results are withheld, see :func:`evaluation.publish.pooled.withhold_pooled`),
    is replaced by a legend entry. ``label`` turns a reason code into words.
    The x axis spans the drawn curves (0 to the last time shown).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot(111)
    drawn = cuminc_curves(curves, min_at_risk, withheld)
    tmax = 0.0
    for i, c in enumerate(drawn):
        style = series_style(i)
        name = label(c["group"])
        if c["shown"] is True:
            ax.step(c["time"], c["estimate"], where="post", label=plain_text(name), **style)
            tmax = max(tmax, float(c["time"][-1]))
        else:
            text = (few_events.format(group=name, t=min_at_risk) if c["shown"] == "few"
                    else withheld_label.format(group=name))
            ax.plot([], [], color=style["color"], ls=":", label=plain_text(text))
    # the limits are set after drawing: set_xlim before it switched autoscaling off and froze the axis at 0-1
    ax.set_xlim(0, tmax if tmax > 0 else 1)
    top = max([float(np.nanmax(c["estimate"])) for c in drawn if c["shown"] is True] or [0.0])
    ax.set_ylim(0, min(1.0, max(0.05, 1.15 * top)))
    return _finish(fig, ax, title, xlabel, ylabel, language=language)


def cuminc_alt(drawn: list[dict[str, Any]], horizon: float, language: str, label: Any = str) -> str:
    """Alt text of :func:`plot_cuminc`: per shown reason the cumulative incidence at ``horizon`` months
    (percentages only), and the reasons not shown."""
    nl = language == "nl"
    h = number(horizon, language, 0)
    parts = []
    for c in drawn:
        if c["shown"] is True:
            v = step_at(c["time"], c["estimate"], horizon)
            if not np.isnan(v):
                parts.append(f"{label(c['group'])} {percent(v, language)}")
    text = "Cumulatieve incidentie per reden van stoppen" if nl else "Cumulative incidence by reason for stopping"
    if parts:
        text += (f", aandeel gestopt na {h} maanden per reden: " if nl else
                 f", share stopped after {h} months by reason: ") + join_words(parts, language)
    text += "."
    hidden = [label(c["group"]) for c in drawn if c["shown"] is not True]
    if hidden:
        text += (f" Niet getoond, om kleine aantallen te beschermen: {join_words(hidden, language)}." if nl else
                 f" Not shown, to protect small numbers: {join_words(hidden, language)}.")
    return text


def plot_workforce(flow: pd.DataFrame, group: str = "all", title: str = "", ylabel: str = "active volunteers",
                   labels: tuple[str, str] = ("joiners", "leavers"), threshold: int = SUPPRESSION_THRESHOLD,
                   note: str = "counts rounded to multiples of {base}"):
    """Active volunteers at the end of each quarter, with joiners and leavers as bars; returns a Figure.

    Disclosure: the figure draws the published table of :func:`protect_workforce`
    (controlled rounding to multiples of ``threshold``), whatever it is given
    (the raw :func:`workforce_flow` or the protected table), so it shows
    exactly the numbers of the table and nothing more. ``note`` (with
    ``{base}``) is printed in the corner.
    """
    from matplotlib.figure import Figure

    pub = protect_workforce(flow, threshold=threshold)
    f = pub.loc[pub["group"].astype(str) == group]
    base = pub.attrs.get("rounding_base", threshold)

    def shown(col: str) -> np.ndarray:
        return f[col].to_numpy(dtype=float, na_value=np.nan)

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    x = np.arange(len(f))
    ax.bar(x - 0.2, np.nan_to_num(shown("joiners")), width=0.4, label=labels[0], color=LINE_COLOURS[2])
    ax.bar(x + 0.2, -np.nan_to_num(shown("leavers")), width=0.4, label=labels[1], color=LINE_COLOURS[1])
    ax.plot(x, shown("active_end"), marker="o", color=LINE_COLOURS[0], label=plain_text(ylabel))
    ax.axhline(0, color=NOTE_COLOUR, lw=0.5)
    step = max(1, len(f) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([plain_text(q) for q in f["quarter"].to_numpy()[::step]], rotation=90, fontsize=7, **PLAIN)
    ax.set_ylabel(ylabel)
    ax.set_title(plain_text(title), **PLAIN)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.text(0.99, 0.01, note.format(base=base), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            color=NOTE_COLOUR)
    _plain_figure(fig)
    fig.tight_layout()
    return fig
