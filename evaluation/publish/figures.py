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

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.datasets.retention import DAYS_PER_MONTH
from evaluation.publish.workforce import protect_workforce
from evaluation.stats import survival as sv

PLAIN = {"usetex": False}
"""Text properties of every label drawn from data: never LaTeX."""


def plain_text(value: Any) -> str:
    """``value`` as text that matplotlib draws literally: ``$`` escaped (no mathtext)."""
    return str(value).replace("$", r"\$")


def _plain_figure(fig: Any) -> Any:
    """Switch ``usetex`` off on every text of ``fig`` (titles, ticks, legend) and return it."""
    from matplotlib.text import Text

    for t in fig.findobj(Text):
        t.set_usetex(False)
    return fig


def _finish(fig, ax, title: str, xlabel: str, ylabel: str):
    """Axis labels, a literal title, the legend and the plain-text figure settings of a curve plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(plain_text(title), **PLAIN)
    ax.legend(fontsize=8, frameon=False)
    _plain_figure(fig)
    fig.tight_layout()
    return fig


def plot_km(data: pd.DataFrame, by: str = "programme_id", title: str = "", xlabel: str = "months",
            ylabel: str = "still active", max_groups: int = 8, min_at_risk: int = SUPPRESSION_THRESHOLD,
            few_events: str = "{group}: not shown (fewer than {t} endings)"):
    """Kaplan-Meier step curves per group (months on the x axis); returns a matplotlib Figure.

    Each curve stops at the last time with at least ``min_at_risk`` units at risk
    (disclosure rule; groups with fewer from the start are not drawn). A curve
    with 1 to ``min_at_risk - 1`` steps is replaced by a legend entry
    (``few_events``): its steps would count the endings.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    for level, sub in list(data.groupby(by, sort=True))[:max_groups]:
        km = sv.KaplanMeier().fit(sub["time"].to_numpy(float), sub["event"].to_numpy(int), label=str(level))
        tab = km.table_.loc[km.table_["n_risk"] >= min_at_risk]
        if tab.empty:
            continue
        if 0 < int((tab["n_event"] > 0).sum()) < min_at_risk:
            ax.plot([], [], ls=":", label=plain_text(few_events.format(group=level, t=min_at_risk)))
            continue
        t = np.r_[0.0, tab["time"].to_numpy(float)] / DAYS_PER_MONTH
        s = np.r_[1.0, tab["survival"].to_numpy(float)]
        lo = np.r_[1.0, tab["ci_lower"].to_numpy(float)]
        hi = np.r_[1.0, tab["ci_upper"].to_numpy(float)]
        (line,) = ax.step(t, s, where="post", label=plain_text(f"{level} (n={len(sub)})"))
        ax.fill_between(t, lo, hi, step="post", alpha=0.15, color=line.get_color())
    ax.set_ylim(0, 1.02)
    return _finish(fig, ax, title, xlabel, ylabel)


def plot_cuminc(curves: pd.DataFrame, title: str = "", xlabel: str = "months", ylabel: str = "cumulative incidence",
                min_at_risk: int = SUPPRESSION_THRESHOLD, few_events: str = "{group}: not shown (fewer than {t} endings)",
                withheld: Iterable[str] = (), withheld_label: str = "{group}: not shown"):
    """Cumulative incidence curves per reason from :func:`evaluation.analyses.retention.competing_reasons`; returns a Figure.

    Curves stop at the last time with at least ``min_at_risk`` units at risk; a
    curve with 1 to ``min_at_risk - 1`` steps, or of a reason in ``withheld``
    (its results are withheld, see :func:`evaluation.publish.pooled.withhold_pooled`),
    is replaced by a legend entry.
    """
    withheld = {str(w) for w in withheld}
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(111)
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    for reason, sub in curves.groupby("reason", sort=False):
        if "n_risk" in sub.columns:
            sub = sub.loc[sub["n_risk"] >= min_at_risk]
        if sub.empty:
            continue
        if 0 < int((np.diff(np.r_[0.0, sub["estimate"].to_numpy(float)]) > 0).sum()) < min_at_risk:
            ax.plot([], [], ls=":", label=plain_text(few_events.format(group=reason, t=min_at_risk)))
            continue
        if str(reason) in withheld:
            ax.plot([], [], ls=":", label=plain_text(withheld_label.format(group=reason)))
            continue
        t = np.r_[0.0, sub["time"].to_numpy(float)] / DAYS_PER_MONTH
        ax.step(t, np.r_[0.0, sub["estimate"].to_numpy(float)], where="post", label=plain_text(reason))
    return _finish(fig, ax, title, xlabel, ylabel)


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
    ax.bar(x - 0.2, np.nan_to_num(shown("joiners")), width=0.4, label=labels[0], color="#4c9f70")
    ax.bar(x + 0.2, -np.nan_to_num(shown("leavers")), width=0.4, label=labels[1], color="#c0504d")
    ax.plot(x, shown("active_end"), marker="o", color="#1f4e79", label=ylabel)
    ax.axhline(0, color="grey", lw=0.5)
    step = max(1, len(f) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([plain_text(q) for q in f["quarter"].to_numpy()[::step]], rotation=90, fontsize=7, **PLAIN)
    ax.set_ylabel(ylabel)
    ax.set_title(plain_text(title), **PLAIN)
    ax.legend(fontsize=8, frameon=False)
    ax.text(0.99, 0.01, note.format(base=base), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            color="grey")
    _plain_figure(fig)
    fig.tight_layout()
    return fig
