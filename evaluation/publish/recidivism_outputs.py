"""Figures, publishable tables and files of the recidivism notebook.

Everything that leaves :class:`evaluation.analyses.recidivism.RecidivismAnalysis` for a
report goes through here and through :mod:`evaluation.publish.disclosure`:

* ``results.csv``: the results table after
  :func:`evaluation.publish.disclosure.protect_results` (estimates based on fewer than
  10 people blanked);
* ``headline.json``: the JDL headline (:mod:`evaluation.publish.headline`), checked by
  :func:`evaluation.publish.disclosure.check_sentences`;
* tables (CSV): key results, numbers at risk (small counts as ``<10``),
  cumulative incidence at the horizons, balance and overlap summaries (no
  row-level data);
* figures (PNG and SVG): Kaplan-Meier curves with the numbers-at-risk table
  underneath (curves stop where fewer than 10 people remain at risk),
  cumulative incidence with competing risks, Love plot, PS overlap.

Figures use matplotlib's object-oriented API (no pyplot state, no global
style change).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analyses.primary import PrimaryOutcome
from evaluation.analyses.recidivism import RecidivismAnalysis, headline_numbers
from evaluation.contract.results import SUPPRESSION_THRESHOLD, make_results
from evaluation.datasets.design import derive_design
from evaluation.publish import disclosure, writer
from evaluation.publish.figures import (
    LINE_COLOURS,
    NOTE_COLOUR,
    covariate_label,
    join_words,
    percent_axis,
    series_style,
    step_at,
    text_colour,
)
from evaluation.publish.formatting import DEFAULT_LANGUAGE, number, percent
from evaluation.publish.headline import jdl_headline
from evaluation.publish.labels import endpoint_label
from evaluation.stats.designs import SMD_THRESHOLD, love_plot, overlap_plot

LABELS = {
    "en": {"programme": "participants", "comparison": "comparison group", "days": "days since start of follow-up",
           "surv": "proportion without a new case", "cif": "cumulative incidence of a new case",
           "at_risk": "Numbers at risk", "km_title": "Time to first new case ({ep})",
           "cif_title": "New case, with death and emigration as competing events ({ep})",
           "balance": "Covariate balance", "overlap": "Overlap of propensity scores", "before": "before matching/weighting",
           "after": "after matching/weighting", "smd": "absolute standardised mean difference",
           "ps": "propensity score", "people": "number of people",
           "few_events": "{g}: not shown (fewer than {t} new cases)",
           "withheld": "{g}: not shown (with the programmes' own figures it would reveal a small number)"},
    "nl": {"programme": "deelnemers", "comparison": "vergelijkingsgroep", "days": "dagen sinds start follow-up",
           "surv": "aandeel zonder nieuwe zaak", "cif": "cumulatieve incidentie van een nieuwe zaak",
           "at_risk": "Aantal at risk", "km_title": "Tijd tot eerste nieuwe zaak ({ep})",
           "cif_title": "Nieuwe zaak, met overlijden en emigratie als concurrerende gebeurtenissen ({ep})",
           "balance": "Balans van kenmerken", "overlap": "Overlap van propensity scores", "before": "voor matching/weging",
           "after": "na matching/weging", "smd": "absoluut gestandaardiseerd verschil in gemiddelden",
           "ps": "propensity score", "people": "aantal personen",
           "few_events": "{g}: niet getoond (minder dan {t} nieuwe zaken)",
           "withheld": "{g}: niet getoond (met de cijfers van de programma's zelf zou een klein aantal af te "
                       "leiden zijn)"},
}
KEY_ESTIMANDS = ("prevalence_365d_crude", "prevalence_730d_crude", "prevalence_365d_km", "prevalence_730d_km",
                 "hazard_ratio", "hazard_ratio_adjusted", "rmst_730d", "rate_ratio", "cases_per_person_year",
                 "hazard_ratio_at_risk_clock", "e_value", "e_value_ci", "ph_test", "interaction_test")


def _lab(language: str) -> dict:
    if language not in LABELS:
        raise ValueError(f"language must be 'en' or 'nl', not {language!r}")
    return LABELS[language]


def km_figure(analysis, endpoint: str = "GENERAL", language: str = DEFAULT_LANGUAGE, threshold: int = SUPPRESSION_THRESHOLD):
    """Kaplan-Meier curves by group with the numbers-at-risk table under the plot.

    Each curve stops at the last time with at least ``threshold`` people at
    risk (disclosure rule); numbers at risk below the threshold show ``<10``.
    A curve with 1 to ``threshold - 1`` steps (event times) is not drawn: its
    steps would count the new cases that the results tables show as ``<10``.
    """
    from matplotlib.figure import Figure

    lab = _lab(language)
    km = analysis.km_[analysis.km_["endpoint"] == endpoint]
    risk = analysis.at_risk_[analysis.at_risk_["endpoint"] == endpoint]
    risk = disclosure.protect_numbers_at_risk(risk, threshold=threshold)
    groups = [g for g in ("programme", "comparison") if g in set(km["group"])]
    ep_words = endpoint_label(endpoint, language)
    fig = Figure(figsize=(8, 5.5))
    gs = fig.add_gridspec(2, 1, height_ratios=[4, 1], hspace=0.35)
    ax = fig.add_subplot(gs[0])
    tmax = float(risk["time"].max()) if len(risk) else float(max(analysis.horizons))
    for i, g in enumerate(groups):
        k = km[km["group"] == g]
        stop = disclosure.last_time_with_min_at_risk(k["time"], k["n_risk"], threshold)
        k = k[k["time"] <= stop] if np.isfinite(stop) else k.iloc[0:0]
        if 0 < int((k["n_event"] > 0).sum()) < threshold:
            ax.plot([], [], color=LINE_COLOURS[i], ls=":", label=lab["few_events"].format(g=lab[g], t=threshold))
            continue
        if _curve_withheld(analysis, endpoint, g):
            ax.plot([], [], color=LINE_COLOURS[i], ls=":", label=lab["withheld"].format(g=lab[g]))
            continue
        t = np.concatenate([[0.0], k["time"].to_numpy()])
        s = np.concatenate([[1.0], k["survival"].to_numpy()])
        lo = np.concatenate([[1.0], k["ci_lower"].to_numpy()])
        hi = np.concatenate([[1.0], k["ci_upper"].to_numpy()])
        ax.step(t, s, where="post", label=lab[g], **series_style(i))
        ax.fill_between(t, lo, hi, step="post", color=LINE_COLOURS[i], alpha=0.12, linewidth=0)
    ax.set_xlim(-0.04 * tmax, 1.04 * tmax)
    ax.set_ylim(0, 1.02)
    percent_axis(ax, language)
    ax.set_xlabel(lab["days"])
    ax.set_ylabel(lab["surv"])
    ax.set_title(lab["km_title"].format(ep=ep_words))
    ax.legend(loc="lower left", fontsize=8)
    tab = fig.add_subplot(gs[1], sharex=ax)
    tab.set_ylim(-0.5, len(groups) - 0.5)
    for i, g in enumerate(groups):
        r = risk[risk["group"] == g]
        for t, n in zip(r["time"], r["n_risk"], strict=True):
            tab.text(t, len(groups) - 1 - i, str(n), ha="center", va="center", fontsize=8, color=text_colour(i))
    tab.set_yticks(range(len(groups)))
    tab.set_yticklabels([lab[g] for g in reversed(groups)], fontsize=8)
    tab.set_title(lab["at_risk"], fontsize=9, loc="left")
    tab.tick_params(axis="x", labelbottom=False, length=0)
    for side in ("top", "right", "bottom", "left"):
        tab.spines[side].set_visible(False)
    tab.tick_params(axis="y", length=0)
    fig.subplots_adjust(left=0.2, right=0.96)
    return fig


def cif_figure(analysis, endpoint: str = "GENERAL", language: str = DEFAULT_LANGUAGE,
               threshold: int = SUPPRESSION_THRESHOLD):
    """Aalen-Johansen cumulative incidence of a new case by group (deaths/emigrations compete).

    A curve with 1 to ``threshold - 1`` steps is not drawn (its steps would
    count the new cases).
    """
    from matplotlib.figure import Figure

    lab = _lab(language)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    cif = analysis.cif_
    if len(cif):
        cif = cif[(cif["endpoint"] == endpoint) & (cif["cause"] == 1)]
    for i, g in enumerate(g for g in ("programme", "comparison") if len(cif) and g in set(cif["group"])):
        c = cif[cif["group"] == g]
        if 0 < int((np.diff(np.concatenate([[0.0], c["estimate"].to_numpy(float)])) > 0).sum()) < threshold:
            ax.plot([], [], color=LINE_COLOURS[i], ls=":", label=lab["few_events"].format(g=lab[g], t=threshold))
            continue
        if _curve_withheld(analysis, endpoint, g):
            ax.plot([], [], color=LINE_COLOURS[i], ls=":", label=lab["withheld"].format(g=lab[g]))
            continue
        t = np.concatenate([[0.0], c["time"].to_numpy()])
        f = np.concatenate([[0.0], c["estimate"].to_numpy()])
        ax.step(t, f, where="post", label=lab[g], **series_style(i))
    ax.set_ylim(0, 1)
    percent_axis(ax, language)
    ax.set_xlabel(lab["days"])
    ax.set_ylabel(lab["cif"])
    ax.set_title(lab["cif_title"].format(ep=endpoint_label(endpoint, language)), fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


_ALT = {
    "en": {"of": {"programme": "of participants", "comparison": "of the comparison group"},
           "km": "Kaplan-Meier curves ({ep}): after {h} {parts} had a new case.",
           "cif": "Cumulative incidence of a new case ({ep}; death and emigration as competing events): after {h} "
                  "{parts} had a new case.",
           "none": "{kind} ({ep}): no curve shown.", "km_kind": "Kaplan-Meier curves", "cif_kind": "Cumulative incidence",
           "shorter": " The curve {of} stops before {h}.", "hidden": " Not shown, to protect small numbers: {groups}.",
           "year": "1 year", "days": "{d} days", "group": "group", "time": "days since start of follow-up",
           "surv": "share without a new case", "cif_col": "cumulative incidence of a new case", "lo": "95% CI lower limit",
           "hi": "95% CI upper limit", "risk": "numbers at risk"},
    "nl": {"of": {"programme": "van de deelnemers", "comparison": "van de vergelijkingsgroep"},
           "km": "Kaplan-Meier-curves ({ep}): na {h} had {parts} een nieuwe zaak.",
           "cif": "Cumulatieve incidentie van een nieuwe zaak ({ep}; overlijden en emigratie als concurrerende "
                  "gebeurtenissen): na {h} had {parts} een nieuwe zaak.",
           "none": "{kind} ({ep}): geen curve getoond.", "km_kind": "Kaplan-Meier-curves",
           "cif_kind": "Cumulatieve incidentie", "shorter": " De curve {of} stopt voor {h}.",
           "hidden": " Niet getoond, om kleine aantallen te beschermen: {groups}.", "year": "1 jaar",
           "days": "{d} dagen", "group": "groep", "time": "dagen sinds start follow-up",
           "surv": "aandeel zonder nieuwe zaak", "cif_col": "cumulatieve incidentie van een nieuwe zaak",
           "lo": "95%-BI ondergrens", "hi": "95%-BI bovengrens", "risk": "aantal at risk"},
}


def _curve_state(analysis, endpoint: str, g: str, steps: pd.Series, threshold: int) -> str:
    """``"shown"``, ``"few"`` (1 to threshold - 1 steps) or ``"withheld"``: what a figure draws of a curve."""
    if 0 < int((steps > 0).sum()) < threshold:
        return "few"
    return "withheld" if _curve_withheld(analysis, endpoint, g) else "shown"


def _alt_text(kind: str, endpoint: str, values: dict[str, float], states: dict[str, str], horizon: int,
              language: str) -> str:
    a = _ALT[language]
    ep = endpoint_label(endpoint, language)
    h = a["year"] if horizon == 365 else a["days"].format(d=number(horizon, language, 0))
    shown = [g for g, st in states.items() if st == "shown"]
    if not shown:
        text = a["none"].format(kind=a[f"{kind}_kind"], ep=ep)
    else:
        parts = [f"{percent(values[g], language)} {a['of'][g]}" for g in shown if np.isfinite(values[g])]
        text = a[kind].format(ep=ep, h=h, parts=join_words(parts, language)) if parts else a["none"].format(
            kind=a[f"{kind}_kind"], ep=ep)
        text += "".join(a["shorter"].format(of=a["of"][g], h=h) for g in shown if not np.isfinite(values[g]))
    hidden = [_lab(language)[g] for g, st in states.items() if st != "shown"]
    if hidden:
        text += a["hidden"].format(groups=join_words(hidden, language))
    return text


def km_figure_text(analysis, endpoint: str = "GENERAL", language: str = DEFAULT_LANGUAGE,
                   threshold: int = SUPPRESSION_THRESHOLD, horizon: int = 365) -> dict[str, Any]:
    """Title, alt text and data table of :func:`km_figure` (its sidecar, see
    :func:`evaluation.publish.writer.write_figure`).

    The alt text gives the share with a new case (1 - Kaplan-Meier) at ``horizon`` days for each curve
    drawn, read off the curve as drawn (it stops where fewer than ``threshold`` are at risk); the data
    table gives the curves at the times of the numbers-at-risk table with those numbers, protected.
    Percentages only: no count of people.
    """
    lab, a = _lab(language), _ALT[language]
    km = analysis.km_[analysis.km_["endpoint"] == endpoint]
    risk = disclosure.protect_numbers_at_risk(analysis.at_risk_[analysis.at_risk_["endpoint"] == endpoint],
                                              threshold=threshold)
    states, values, rows = {}, {}, []
    for g in (g for g in ("programme", "comparison") if g in set(km["group"])):
        k = km[km["group"] == g]
        stop = disclosure.last_time_with_min_at_risk(k["time"], k["n_risk"], threshold)
        k = k[k["time"] <= stop] if np.isfinite(stop) else k.iloc[0:0]
        states[g] = _curve_state(analysis, endpoint, g, k["n_event"], threshold)
        t = np.r_[0.0, k["time"].to_numpy(float)]
        curve = {c: np.r_[1.0, k[c].to_numpy(float)] for c in ("survival", "ci_lower", "ci_upper")}
        values[g] = 1 - step_at(t, curve["survival"], horizon)
        if states[g] == "shown":
            r = risk[risk["group"] == g]
            for tt, n in zip(r["time"], r["n_risk"], strict=True):
                v = [round(step_at(t, curve[c], float(tt)), 4) for c in ("survival", "ci_lower", "ci_upper")]
                rows.append([lab[g], int(tt), *v, n])
    data = pd.DataFrame(rows, columns=[a["group"], a["time"], a["surv"], a["lo"], a["hi"], a["risk"]])
    return {"title": lab["km_title"].format(ep=endpoint_label(endpoint, language)),
            "alt": _alt_text("km", endpoint, values, states, horizon, language), "data": data}


def cif_figure_text(analysis, endpoint: str = "GENERAL", language: str = DEFAULT_LANGUAGE,
                    threshold: int = SUPPRESSION_THRESHOLD, horizon: int = 365) -> dict[str, Any]:
    """Title, alt text and data table of :func:`cif_figure`: the cumulative incidence at ``horizon`` days
    per curve drawn, and the protected table of :func:`cumulative_incidence_at` for ``endpoint``."""
    lab, a = _lab(language), _ALT[language]
    cif = analysis.cif_
    cif = cif[(cif["endpoint"] == endpoint) & (cif["cause"] == 1)] if len(cif) else cif
    states, values = {}, {}
    for g in (g for g in ("programme", "comparison") if len(cif) and g in set(cif["group"])):
        c = cif[cif["group"] == g]
        est = c["estimate"].to_numpy(float)
        states[g] = _curve_state(analysis, endpoint, g, pd.Series(np.diff(np.r_[0.0, est])), threshold)
        values[g] = step_at(np.r_[0.0, c["time"].to_numpy(float)], np.r_[0.0, est], horizon)
    tab = cumulative_incidence_at(analysis, threshold=threshold)
    tab = tab[(tab["endpoint"] == endpoint) & tab["group"].isin([g for g, st in states.items() if st == "shown"])]
    data = pd.DataFrame({a["group"]: [lab[g] for g in tab["group"]], a["time"]: tab["time"].astype(int).to_numpy(),
                         a["cif_col"]: tab["estimate"].round(4).to_numpy(), a["lo"]: tab["ci_lower"].round(4).to_numpy(),
                         a["hi"]: tab["ci_upper"].round(4).to_numpy()})
    return {"title": lab["cif_title"].format(ep=endpoint_label(endpoint, language)),
            "alt": _alt_text("cif", endpoint, values, states, horizon, language), "data": data}


_BALANCE_STATS = ("mean_programme", "mean_comparison", "smd_before", "variance_ratio_before",
                  "mean_programme_adjusted", "mean_comparison_adjusted", "smd_after", "variance_ratio_after")


def protected_balance(analysis, threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """The balance table as published: a 0/1 characteristic (a level such as ``sex[unknown]``) whose share
    in a group means 1 to ``threshold - 1`` people with (or without) it gets its means, SMDs and variance
    ratios blanked, and a note; the SMD with the other group's mean would give the share back too.

    Group sizes: all people in the propensity model for the columns before adjustment; the matched
    people (weight > 0) for the adjusted columns under matching, and all people under weighting.
    See docs/methods.md, section 'Disclosure control'.
    """
    bal = analysis.balance_.copy()
    ps = analysis.ps_
    treated = ps["treated"].astype(bool).to_numpy()
    n_before = {"programme": int(treated.sum()), "comparison": int((~treated).sum())}
    n_after = dict(n_before)
    m = getattr(analysis, "matching_", None)
    if m is not None and "weight" in m.columns:
        used = m["weight"].to_numpy(float) > 0
        mt = m["treated"].astype(bool).to_numpy()
        n_after = {"programme": int((used & mt).sum()), "comparison": int((used & ~mt).sum())}
    small = np.zeros(len(bal), dtype=bool)
    binary = bal["binary"].astype(bool).to_numpy() if "binary" in bal.columns else np.zeros(len(bal), dtype=bool)
    for col, group, sizes in (("mean_programme", "programme", n_before), ("mean_comparison", "comparison", n_before),
                              ("mean_programme_adjusted", "programme", n_after),
                              ("mean_comparison_adjusted", "comparison", n_after)):
        if col not in bal.columns:
            continue
        k = pd.to_numeric(bal[col], errors="coerce").to_numpy(float) * sizes[group]
        rest = sizes[group] - k
        small |= binary & (((k > 0.5) & (k < threshold - 0.5)) | ((rest > 0.5) & (rest < threshold - 0.5)))
    if small.any():
        cols = [c for c in _BALANCE_STATS if c in bal.columns]
        bal[cols] = bal[cols].astype(float)
        bal.loc[small, cols] = np.nan
        bal["note"] = np.where(small, f"suppressed: fewer than {threshold} people with or without this "
                                      "characteristic in a group", "")
    return bal


def balance_figures(analysis, language: str = DEFAULT_LANGUAGE) -> dict:
    """Love plot and PS-overlap plot (empty dict for rct/descriptive designs); covariates in words, Okabe-Ito
    colours. :func:`balance_figure_text` gives their sidecars."""
    if analysis.balance_ is None:
        return {}
    lab = _lab(language)
    person = analysis.ps_
    bal = protected_balance(analysis)
    bal = bal[bal[["smd_before", "smd_after"]].notna().all(axis=1)]  # a withheld characteristic is not drawn
    bal = bal.assign(covariate=[covariate_label(c, language) for c in bal["covariate"]])
    return {
        "love_plot": love_plot(bal, labels={"before": lab["before"], "after": lab["after"],
                                            "xlabel": lab["smd"], "title": lab["balance"]},
                               colours={"before": NOTE_COLOUR, "after": LINE_COLOURS[0], "threshold": LINE_COLOURS[1]}),
        "overlap": overlap_plot(person["ps"], person["treated"], labels={
            "programme": lab["programme"], "comparison": lab["comparison"], "xlabel": lab["ps"],
            "ylabel": lab["people"], "title": lab["overlap"]},
            colours={"programme": LINE_COLOURS[0], "comparison": LINE_COLOURS[1]}),
    }


def balance_figure_text(analysis, language: str = DEFAULT_LANGUAGE,
                        threshold: int = SUPPRESSION_THRESHOLD) -> dict[str, dict[str, Any]]:
    """Title, alt text and data table of the figures of :func:`balance_figures` (nothing for rct/descriptive).

    Love plot: how many covariates are imbalanced (absolute SMD above the threshold) before and after
    matching/weighting, with the SMD table. Overlap: each group's range of propensity scores and the share
    outside the other group's range, with the overlap table (group sizes protected). No count of people.
    """
    if analysis.balance_ is None:
        return {}
    lab, nl = _lab(language), language == "nl"
    bal = protected_balance(analysis, threshold)
    bal = bal[bal[["smd_before", "smd_after"]].notna().all(axis=1)]
    cut = SMD_THRESHOLD
    before = int((bal["smd_before"].abs() > cut).sum())
    after = int((bal["smd_after"].abs() > cut).sum())
    c = number(cut, language, 1)
    love = (f"{lab['balance']}: van de {len(bal)} kenmerken hadden er {before} voor matching/weging een absoluut "
            f"gestandaardiseerd verschil boven {c}, en {after} erna." if nl else
            f"{lab['balance']}: of {len(bal)} characteristics, {before} had an absolute standardised mean difference "
            f"above {c} before matching/weighting, and {after} after.")
    love_data = pd.DataFrame({
        "kenmerk" if nl else "characteristic": [covariate_label(x, language) for x in bal["covariate"]],
        lab["before"]: bal["smd_before"].abs().round(3).to_numpy(),
        lab["after"]: bal["smd_after"].abs().round(3).to_numpy()})
    ov = analysis.overlap_
    parts = []
    for r in ov.itertuples():
        lo, hi = number(r.ps_min, language, 2), number(r.ps_max, language, 2)
        out = percent(r.share_outside_other_range, language)
        parts.append(f"{lab[r.group]} {'tussen' if nl else 'between'} {lo} {'en' if nl else 'and'} {hi} "
                     f"({out} {'buiten het bereik van de andere groep' if nl else 'outside the other group’s range'})")
    overlap = f"{lab['overlap']}: " + join_words(parts, language) + "."
    n = disclosure.protect_numbers_at_risk(ov[["n"]].rename(columns={"n": "n_risk"}), threshold=threshold)["n_risk"]
    ov_data = pd.DataFrame({
        "groep" if nl else "group": [lab[g] for g in ov["group"]], lab["people"]: n.to_numpy(),
        ("laagste " if nl else "lowest ") + lab["ps"]: ov["ps_min"].round(3).to_numpy(),
        ("hoogste " if nl else "highest ") + lab["ps"]: ov["ps_max"].round(3).to_numpy(),
        ("aandeel buiten het bereik van de andere groep" if nl else "share outside the other group's range"):
            ov["share_outside_other_range"].round(3).to_numpy()})
    return {"love_plot": {"title": lab["balance"], "alt": love, "data": love_data},
            "overlap": {"title": lab["overlap"], "alt": overlap, "data": ov_data}}


def key_results(analysis, endpoint: str | None = None) -> pd.DataFrame:
    """The main rows of the results table (optionally one endpoint), protected for publication."""
    r = analysis.results_
    r = r[r["estimand"].isin(KEY_ESTIMANDS)]
    if endpoint is not None:
        r = r[r["endpoint"] == endpoint]
    cols = ["endpoint", "estimand", "group", "estimate", "ci_lower", "ci_upper", "p_value", "n", "events", "causal",
            "headline_eligible"] + (["role"] if "role" in r.columns else [])
    return disclosure.protect_results(r)[cols + ["suppressed"]].reset_index(drop=True)


def cumulative_incidence_at(analysis, times=None, threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence (cause 1 = new case) at the horizons, per endpoint and group.

    Protected like the results: a value is blanked when the results row
    ``cumulative_incidence_<h>d`` of its endpoint and group is suppressed
    (fewer than ``threshold`` people or new cases: the share times the
    group's size would give them back), or missing for a horizon the
    results do not hold.
    """
    times = list(analysis.horizons if times is None else times)
    cols = ["endpoint", "group", "time", "estimate", "ci_lower", "ci_upper"]
    if not len(analysis.cif_):
        return pd.DataFrame(columns=cols)
    rows = []
    for (ep, g), c in analysis.cif_[analysis.cif_["cause"] == 1].groupby(["endpoint", "group"]):
        tt = c["time"].to_numpy()
        for h in times:
            i = np.searchsorted(tt, h, "right") - 1
            vals = {col: (float(c[col].iloc[i]) if i >= 0 else 0.0) for col in ("estimate", "ci_lower", "ci_upper")}
            rows.append({"endpoint": ep, "group": g, "time": h, **vals})
    out = pd.DataFrame(rows, columns=cols)
    res = analysis.results_
    res = res[res["estimand"].astype(str).str.fullmatch(r"cumulative_incidence_\d+d")]
    pub = disclosure.protect_results(res, threshold=threshold) if len(res) else res.assign(suppressed=[])
    shown = {(r.endpoint, r.group, int(str(r.estimand).split("_")[-1][:-1]))
             for r in pub[~pub["suppressed"].astype(bool)].itertuples()}
    keep = np.array([(r.endpoint, r.group, int(r.time)) in shown for r in out.itertuples()], dtype=bool)
    out.loc[~keep, ["estimate", "ci_lower", "ci_upper"]] = np.nan
    return out


def _curve_withheld(analysis, endpoint: str, group: str) -> bool:
    """Whether a count behind this endpoint's curve of ``group`` is withheld (report of all
    programmes: the curve would give a programme's small count back, see ``withhold_pooled``)."""
    res = analysis.results_
    if disclosure.WITHHOLD_COLUMN not in res.columns:
        return False
    mine = res[(res["endpoint"] == endpoint) & (res["group"] == group)]
    return bool((mine[disclosure.WITHHOLD_COLUMN].fillna("").astype(str) != "").any())


_NO_COMPARISON = ("There is no comparison group", "Er is geen vergelijkingsgroep")


def withhold_pooled_counts(analysis, programme_results: Any) -> None:
    """Mark the counts of all programmes that would give a programme's ``"<10"`` back (disclosure).

    For an analysis of ``programme_id == "all"`` and the programmes' published
    recidivism rows ``programme_results`` (a DataFrame, a CSV path, or a
    folder with their ``results.csv`` and, if present, ``numbers_at_risk.csv``
    with a ``programme_id`` column): ``analysis.results_`` and
    ``analysis.at_risk_`` get the ``withhold`` marks of
    :func:`evaluation.publish.disclosure.withhold_pooled` (and
    :func:`~evaluation.publish.disclosure.withhold_pooled_table`), which
    :func:`write_outputs`, :func:`make_headline` and :func:`km_figure` then
    withhold. The estimates are unchanged. Call it before anything is shown
    or written; nothing happens for a single programme or without
    ``programme_results``.
    """
    if programme_results is None or getattr(analysis, "programme_id", None) != "all":
        return
    analysis.results_ = disclosure.withhold_pooled(analysis.results_, programme_results)
    if isinstance(programme_results, (str, os.PathLike)) and Path(programme_results).is_dir():
        analysis.at_risk_ = disclosure.withhold_pooled_table(
            analysis.at_risk_, programme_results, ("endpoint", "group", "time"), ("n_risk",),
            name="numbers_at_risk.csv")


def make_headline(analysis, language: str = DEFAULT_LANGUAGE, endpoint: str | None = None,
                  horizon: int | None = None) -> dict:
    """The ``headline.json`` content for one analysis (JDL wording, disclosure-checked).

    The headline is the analysis's primary outcome (``analysis.primary_``;
    docs/methods.md, section 'Primary outcome'), unless ``endpoint`` or
    ``horizon`` is given. Adds the analysis warnings (small sample,
    time-to-event gate) as status ``warning``. A descriptive analysis with a
    reference rate is headlined at the reference rate's endpoint and horizon
    (the only place where the programme's rate has something beside it).
    """
    primary = getattr(analysis, "primary_", None) or PrimaryOutcome()
    estimator = None
    if endpoint is None and horizon is None:
        endpoint, horizon, estimator = primary.endpoint, primary.horizon_days, primary.estimator
    endpoint, horizon = endpoint or "GENERAL", horizon or 365
    if analysis.design == "descriptive" and getattr(analysis, "reference_rate", None) is not None:
        endpoint, horizon, estimator = analysis.reference_endpoint, analysis.reference_horizon, "crude"
    try:
        num = headline_numbers(analysis.results_, endpoint=endpoint, horizon=horizon, design=analysis.design,
                               estimator=estimator)
        if estimator is not None and (endpoint, horizon) == (primary.endpoint, primary.horizon_days):
            num["primary"] = primary.as_dict()
    except ValueError:
        title = "Reoffending" if language == "en" else "Recidive"
        return {"status": "not_estimable", "title": title, "sentences": [
            "Reoffending could not be estimated for this horizon." if language == "en" else
            "Recidive kon voor deze termijn niet worden geschat."]}
    source = "crude" if num.get("source") == "crude" else "km"
    if not num.get("n_programme") or not np.isfinite(num.get("p_programme", np.nan)):
        # nobody has the horizon's follow-up yet (or the curve does not reach it): not estimable, which
        # is not the same as withheld for small numbers
        title = "Reoffending" if language == "en" else "Recidive"
        years = {365: ("one year", "een jaar"), 730: ("two years", "twee jaar")}.get(
            int(horizon), (f"{horizon} days", f"{horizon} dagen"))
        return {"status": "not_estimable", "title": title, "sentences": [
            f"The primary outcome (reoffending within {years[0]}) cannot be estimated yet: no participant has "
            f"{years[0]} of follow-up before the cutoff. The report shows the measures the follow-up allows; they "
            "are secondary." if language == "en" else
            f"De primaire uitkomstmaat (recidive binnen {years[1]}) is nog niet te schatten: geen deelnemer heeft "
            f"{years[1]} follow-up voor de peildatum. Het rapport toont de maten die de follow-up wel toelaat; die "
            "zijn secundair."]}
    published = disclosure.protect_results(analysis.results_)
    behind = published[(published["endpoint"] == endpoint)
                       & (published["estimand"] == f"prevalence_{horizon}d_{source}")
                       & published["group"].isin(["programme", "comparison", "difference"])]
    if behind["suppressed"].astype(bool).any():
        # a rate from fewer than 10 reoffenders (or people) would give their number back
        title = "Reoffending" if language == "en" else "Recidive"
        return {"status": "warning", "title": title, "sentences": [
            "The headline rate rests on fewer than 10 people (participants, or participants who reoffended) in "
            "at least one group and is not published, to protect small numbers; the full report shows what can "
            "be shown." if language == "en" else
            "Het cijfer voor de kernboodschap berust in minstens één groep op minder dan 10 mensen (deelnemers, "
            "of deelnemers die recidiveerden) en wordt niet gepubliceerd, om kleine aantallen te beschermen; het "
            "volledige rapport toont wat wel kan worden getoond."]}
    if "reference_rate" in num and getattr(analysis, "reference_source", None):
        num["reference_source"] = analysis.reference_source
    d = analysis.dataset_
    ev = int(((d["endpoint"] == endpoint) & (d["group"] == "programme") & (d["cnsr"] == 0)).sum())
    h = jdl_headline(num, language, n_events_programme=ev)
    if getattr(analysis, "programme_id", None) == "all" and analysis.design == "descriptive":
        # all programmes pooled: some may have comparison groups, but pooled over different designs
        # the only honest figure is the participants' own rate
        h["sentences"] = [s for s in h["sentences"] if not s.startswith(_NO_COMPARISON)] + [
            "All programmes pooled: the programmes differ in design, so this is the participants' own rate, "
            "not an effect; see each programme and the synthesis for comparisons." if language == "en" else
            "Alle programma's samen: de programma's verschillen in opzet, dus dit is het eigen cijfer van de "
            "deelnemers, geen effect; zie de afzonderlijke programma's en de synthese voor vergelijkingen."]
    h["sentences"] += _unmatched_sentences(analysis, language)
    if analysis.warnings_ and h["status"] == "ok":
        h["status"] = "warning"
    disclosure.check_sentences(h["sentences"])
    return h


def _unmatched_sentences(analysis, language: str) -> list[str]:
    """Who the matched comparison leaves out: programme participants without a comparison person within
    the caliper are not in the estimate, which then describes the matched participants only."""
    m = getattr(analysis, "matching_", None)
    if m is None or "matched" not in m.columns:
        return []
    treated = m["treated"].astype(bool) if "treated" in m.columns else None
    if treated is None:
        return []
    n_prog = int(treated.sum())
    n_out = int((treated & ~m["matched"].astype(bool)).sum())
    if n_out == 0:
        return []
    k = disclosure.protect_count(n_out, language=language)
    n = disclosure.protect_count(n_prog, language=language)
    if language == "en":
        return [f"{k[:1].upper() + k[1:]} of the {n} programme participants had no comparable comparison person "
                "(caliper) and are not in this comparison: the result describes the matched participants only."]
    return [f"{k[:1].upper() + k[1:]} van de {n} deelnemers hadden geen vergelijkbare vergelijkingspersoon "
            "(caliper) en tellen in deze vergelijking niet mee: het resultaat gaat alleen over de gematchte "
            "deelnemers."]


def write_outputs(analysis, output_dir: str | Path, language: str = DEFAULT_LANGUAGE, headline: dict | None = None,
                  threshold: int = SUPPRESSION_THRESHOLD,
                  km_endpoints: tuple[str, ...] = ("GENERAL", "SPECIAL")) -> dict[str, Any]:
    """Write results.csv, headline.json, tables (CSV) and figures (PNG+SVG) into ``output_dir``.

    Kaplan-Meier figures are drawn for ``km_endpoints`` (those analysed);
    every endpoint is in the tables. Returns a dict name -> path(s). Nothing
    row-level is written.
    """
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {}
    res = disclosure.protect_results(analysis.results_, threshold=threshold)
    written["results"] = writer.write_table(folder / "results.csv", res)
    h = headline if headline is not None else make_headline(analysis, language)
    written["headline"] = writer.write_json(folder / "headline.json", h)
    tables = {
        "key_results": key_results(analysis),
        "numbers_at_risk": disclosure.protect_numbers_at_risk(analysis.at_risk_, threshold=threshold),
        "cumulative_incidence": cumulative_incidence_at(analysis, threshold=threshold),
    }
    if analysis.balance_ is not None:
        tables["balance"] = protected_balance(analysis, threshold)
        ov = analysis.overlap_.copy()
        ov["n"] = disclosure.protect_numbers_at_risk(ov[["n"]].rename(columns={"n": "n_risk"}),
                                                     threshold=threshold)["n_risk"]
        tables["overlap"] = ov
    for name, tab in tables.items():
        written[name] = writer.write_table(folder / f"{name}.csv", tab)
    figs = {f"km_{ep}": {"figure": km_figure(analysis, ep, language, threshold),
                         **km_figure_text(analysis, ep, language, threshold)}
            for ep in analysis.endpoints if ep in km_endpoints}
    cif_ep = "GENERAL" if "GENERAL" in analysis.endpoints else analysis.endpoints[0]
    figs[f"cumulative_incidence_{cif_ep}"] = {"figure": cif_figure(analysis, cif_ep, language, threshold),
                                              **cif_figure_text(analysis, cif_ep, language, threshold)}
    texts = balance_figure_text(analysis, language, threshold)
    figs.update({name: {"figure": fig, **texts[name]} for name, fig in balance_figures(analysis, language).items()})
    for name, value in figs.items():
        f = writer.figure_parts(value)
        written[name] = writer.write_figure(folder, name, f["figure"], dpi=120, alt=f["alt"], title=f["title"],
                                            data=f["data"], threshold=threshold)
    return written


def data_summary(analysis, threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """Who is in the analysis: people, new cases, deaths/emigrations and follow-up per group (protected)."""
    d = analysis.dataset_
    first = d[d["endpoint"] == analysis.endpoints[0]]
    rows = []
    for g, x in first.groupby("group"):
        # the end of potential follow-up: the cutoff or a person's observation_end (docs/methods.md,
        # section 'Analysis datasets'); death or emigration before it ends follow-up early
        obs_end = x["obs_end_date"] if "obs_end_date" in x.columns else pd.Series(analysis.cutoff_date_, index=x.index)
        rows.append({
            "group": g,
            "people": len(x),
            "full_1y_follow_up": int((x["origin_date"] + pd.Timedelta(days=365) <= obs_end).sum()),
            "died_or_emigrated": int((x["fu_end_date"] < obs_end).sum()),
            "median_follow_up_days": float(x["fu_days"].median()),
            "person_years_at_risk": round(float(x["exposure_days"].sum()) / 365.25, 1),
        })
    out = pd.DataFrame(rows, columns=["group", "people", "full_1y_follow_up", "died_or_emigrated",
                                      "median_follow_up_days", "person_years_at_risk"])
    return disclosure.protect_numbers_at_risk(out, threshold=threshold,
                                              count_cols=["people", "full_1y_follow_up", "died_or_emigrated"])


def as_image(fig):
    """PNG of a Figure for display in a notebook (IPython ``Image``)."""
    import io

    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return Image(data=buf.getvalue())


def report_results(validated: Any, programme_ids: Sequence[str] | None = None, cutoff_date: Any = None,
                   settings: Mapping[str, Any] | None = None,
                   threshold: int = SUPPRESSION_THRESHOLD) -> pd.DataFrame:
    """The rows each programme's recidivism report publishes, for costs and synthesis run by hand.

    The quarterly run hands costs and synthesis the recidivism reports'
    own ``results.csv`` (parameter ``recidivism_results``). Without it this
    function makes the same rows: for each programme,
    :class:`~evaluation.analyses.recidivism.RecidivismAnalysis` with the
    design the run derives (:func:`evaluation.datasets.design.derive_design`)
    and ``settings`` (the registry's recidivism parameters, e.g.
    ``weighting``, ``horizons``, ``serious_threshold_years``, and the run's
    ``seed``), through :func:`~evaluation.publish.disclosure.protect_results`.
    People whose follow-up starts after ``cutoff_date`` are left out (no
    follow-up yet). Programmes without a comparison group and programmes
    whose analysis fails get no rows (their status is given by
    :func:`evaluation.analyses.synthesis.recidivism_inputs`).
    """
    tables = validated.tables if hasattr(validated, "tables") else validated["tables"]
    programmes = list(getattr(validated, "programmes", None) or (
        validated.get("programmes", []) if isinstance(validated, Mapping) else []))
    if cutoff_date is None:
        cutoff_date = getattr(validated, "cutoff_date", None)
    if cutoff_date is None:
        raise ValueError("report_results: cutoff_date is required")
    cutoff = pd.Timestamp(cutoff_date)
    settings = dict(settings or {})
    known = set(inspect.signature(RecidivismAnalysis.__init__).parameters) - {"self", "design"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"report_results: {unknown} are not settings of the recidivism analysis")
    parts = tables["participants"]
    start = pd.to_datetime(parts["follow_up_start"]) if "follow_up_start" in parts.columns else None
    late = pd.to_datetime(parts["intake_date"]) > cutoff
    if start is not None:
        late |= start > cutoff
    data = {"tables": {**tables, "participants": parts[~late.fillna(False).to_numpy(dtype=bool)]},
            "programmes": programmes}
    ids = list(programme_ids) if programme_ids is not None else [str(p["programme_id"]) for p in programmes]
    frames = []
    for pid in ids:
        design = derive_design(parts, pid)
        if design == "descriptive":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ra = RecidivismAnalysis(design, **settings).fit(_Tables(data, cutoff), pid, cutoff, warn=False)
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            continue
        frames.append(disclosure.protect_results(ra.results_, threshold=threshold))
    return pd.concat(frames, ignore_index=True) if frames else make_results([])


class _Tables:
    """Tables and programmes in the shape :meth:`RecidivismAnalysis.fit` reads."""

    def __init__(self, data: Mapping[str, Any], cutoff: pd.Timestamp):
        self.tables, self.programmes, self.cutoff_date = data["tables"], data["programmes"], cutoff
