"""Wording, figures and files of the synthesis across programmes (notebook 50).

Everything that leaves :class:`evaluation.analyses.synthesis.SynthesisAnalysis`
for a report goes through :func:`synthesis_outputs` (disclosure control of the
per-programme table, forest plots, the headline in Dutch or English) and
:func:`evaluation.publish.writer.publish_outputs`. See docs/methods.md,
section 'Cross-programme synthesis'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analyses.primary import PrimaryOutcome
from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish import disclosure, writer
from evaluation.publish.figures import LINE_COLOURS, NOTE_COLOUR, PLAIN, plain_text
from evaluation.publish.formatting import DEFAULT_LANGUAGE, check_language, number
from evaluation.publish.labels import estimand_label, not_measured_sentences, note_label
from evaluation.stats.meta import MetaResult, _as_effects, random_effects


def _fmt(x: float, language: str, digits: int = 2) -> str:
    return number(x, language, digits, thousands=False)


_LABELS = {
    "hazard_ratio": ("hazard ratio of reoffending (programme vs comparison)",
                     "hazard ratio recidive (programma t.o.v. vergelijking)"),
    "prevalence_730d_crude": ("difference in 2-year reoffending (programme minus comparison)",
                              "verschil in 2-jarige recidive (programma min vergelijking)"),
    "prevalence_365d_crude": ("difference in 1-year reoffending (programme minus comparison)",
                              "verschil in 1-jarige recidive (programma min vergelijking)"),
    "prevalence_730d_km": ("difference in 2-year reoffending, Kaplan-Meier (programme minus comparison)",
                           "verschil in 2-jarige recidive, Kaplan-Meier (programma min vergelijking)"),
    "prevalence_365d_km": ("difference in 1-year reoffending, Kaplan-Meier (programme minus comparison)",
                           "verschil in 1-jarige recidive, Kaplan-Meier (programma min vergelijking)"),
    "volunteer_stopping_rate": ("volunteers stopping per volunteer-year",
                                "vrijwilligers die stoppen per vrijwilligersjaar"),
}


def forest_plot(
    labels: Sequence[str],
    yi: Sequence[float] | np.ndarray,
    sei: Sequence[float] | np.ndarray,
    result: MetaResult | None = None,
    transform: str | None = None,
    xlabel: str = "effect",
    null_value: float | None = None,
    title: str | None = None,
    pooled_label: str | None = None,
    footnote: str | None = None,
):
    """Forest plot: programmes sorted by effect, pooled diamond, prediction interval.

    Parameters
    ----------
    labels, yi, sei :
        Programme labels (no person-level information), effects and SEs on
        the analysis scale.
    result : MetaResult, optional
        Pooled model; drawn as a diamond (its confidence interval) with its
        prediction interval as a dashed line. Fitted with
        :func:`random_effects` (REML) when omitted.
    transform : {None, "exp"}
        Show ratios (log axis) for log-scale effects.
    null_value : float, optional
        Vertical reference line (default 1 for ratios, 0 otherwise).
    pooled_label, footnote : str, optional
        Label of the pooled row (default names the method) and a note under
        the plot (e.g. programmes pooled but not shown).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator

    y, s = _as_effects(yi, sei, "forest plot")
    labels = [str(x) for x in labels]
    if len(labels) != y.size:
        raise ValueError(f"forest plot: {len(labels)} labels for {y.size} effects")
    if result is None:
        result = random_effects(y, s)
    crit = stats.norm.ppf(1 - (1 - result.conf_level) / 2)
    order = np.argsort(y)[::-1]
    f = np.exp if transform == "exp" else (lambda x: x)
    n = y.size
    fig = Figure(figsize=(7.5, 1.6 + 0.38 * (n + 2)))
    ax = fig.add_subplot(1, 1, 1)
    w = 1.0 / (s**2 + result.tau2)
    size = 30 + 170 * w / w.max()
    for pos, i in enumerate(order):
        ypos = n + 1 - pos
        ax.plot([f(y[i] - crit * s[i]), f(y[i] + crit * s[i])], [ypos, ypos], color="0.3", lw=1.2)
        ax.scatter([f(y[i])], [ypos], s=size[i], marker="s", color="0.2", zorder=3)
    yp = 0.6
    ax.plot([f(result.pi_lower), f(result.pi_upper)], [yp, yp], color=LINE_COLOURS[0], lw=1.2, ls="--", zorder=2)
    dx = [f(result.ci_lower), f(result.estimate), f(result.ci_upper), f(result.estimate)]
    ax.fill(dx, [yp, yp + 0.3, yp, yp - 0.3], color=LINE_COLOURS[0], zorder=3)
    ref = null_value if null_value is not None else (1.0 if transform == "exp" else 0.0)
    ax.axvline(ref, color=NOTE_COLOUR, lw=0.8, ls=":")
    if pooled_label is None:
        pooled_label = f"pooled ({result.method}{', Knapp-Hartung' if result.test == 'knha' else ''})"
    ax.set_yticks([n + 1 - pos for pos in range(n)] + [yp], [labels[i] for i in order] + [pooled_label])
    if transform == "exp":
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=2.0))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, n + 1.8)
    if title:
        ax.set_title(plain_text(title), loc="left", **PLAIN)
    if footnote:
        fig.text(0.01, 0.01, plain_text(footnote), fontsize=7, color=NOTE_COLOUR, ha="left", va="bottom", **PLAIN)
    fig.tight_layout(rect=(0, 0.04 if footnote else 0, 1, 1))
    return fig


def forest_title(estimand: str, language: str = DEFAULT_LANGUAGE) -> str:
    """Title of a forest plot: the estimand in words, per programme and on average."""
    words = (_LABELS[estimand][1 if language == "nl" else 0] if estimand in _LABELS
             else estimand_label(estimand, language))
    words = words[:1].upper() + words[1:]
    return f"{words}: per programma en gemiddeld" if language == "nl" else f"{words}: by programme and on average"


def forest_text(effects: pd.DataFrame, pooled: MetaResult, estimand: str, log: bool, hidden: int = 0,
                language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Alt text and data table of a forest plot: the range of the programmes shown, the pooled estimate
    with its 95% CI and prediction interval; the table holds each programme's estimate and 95% CI as
    plotted (only programmes with at least the threshold of people are in ``effects``)."""
    nl = language == "nl"
    f = np.exp if log else (lambda x: x)
    est = f(effects["yi"].to_numpy(float))
    crit = stats.norm.ppf(1 - (1 - pooled.conf_level) / 2)
    lo = f(effects["yi"].to_numpy(float) - crit * effects["sei"].to_numpy(float))
    hi = f(effects["yi"].to_numpy(float) + crit * effects["sei"].to_numpy(float))
    d = 2 if log else 3
    what = _LABELS[estimand][1 if nl else 0] if estimand in _LABELS else estimand_label(estimand, language)
    e, cl, cu, pl, pu = (number(x, language, d) for x in f(
        np.array([pooled.estimate, pooled.ci_lower, pooled.ci_upper, pooled.pi_lower, pooled.pi_upper])))
    rng = (number(est.min(), language, d), number(est.max(), language, d))
    alt = (f"Forest plot, {what}: {len(est)} programma's, per programma van {rng[0]} tot {rng[1]}; gemiddeld "
           f"{e} (95%-BI {cl} tot {cu}); bij een nieuw programma tussen {pl} en {pu} (voorspellingsinterval)."
           if nl else
           f"Forest plot, {what}: {len(est)} programmes, ranging from {rng[0]} to {rng[1]}; on average {e} "
           f"(95% CI {cl} to {cu}); in a new programme between {pl} and {pu} (prediction interval).")
    if hidden > 0:
        alt += (f" Meegeteld maar niet getoond: {hidden} programma('s) met weinig personen." if nl else
                f" Pooled but not shown: {hidden} programme(s) with few people.")
    data = pd.DataFrame({"programma" if nl else "programme": effects["programme_id"].astype(str).to_numpy(),
                         "schatting" if nl else "estimate": np.round(est, 4),
                         "95%-BI ondergrens" if nl else "95% CI lower limit": np.round(lo, 4),
                         "95%-BI bovengrens" if nl else "95% CI upper limit": np.round(hi, 4)})
    pooled_row = pd.DataFrame([[("gemiddelde" if nl else "average"), *np.round(f(np.array(
        [pooled.estimate, pooled.ci_lower, pooled.ci_upper])), 4)]], columns=data.columns)
    return {"alt": alt, "data": pd.concat([data, pooled_row], ignore_index=True)}


def moderation_sentences(synthesis: Mapping[str, Any], estimand: str, language: str = DEFAULT_LANGUAGE,
                         alpha: float = 0.05, subject: tuple[str, str] = ("effects", "effecten"),
                         caveat: bool = True) -> list[str]:
    """Plain-language statements of the moderator tests for one estimand.

    States, per moderator, whether the data show a difference between
    programme groups (omnibus test at ``alpha``), with the number of
    programmes, and (``caveat=True``) that the comparison is between
    programmes (ecological) and not causal. ``subject`` names what is
    compared in English and Dutch. ``language`` is ``"en"`` or ``"nl"``.
    """
    check_language(language)
    tab = synthesis["moderators"]
    out: list[str] = []
    if tab.empty or estimand not in set(tab["estimand"]):
        reason = synthesis["not_estimable"].get(estimand, "no effects")
        out.append(
            f"The moderator test could not be carried out: {reason}." if language == "en"
            else f"De moderatortoets kon niet worden uitgevoerd: {note_label(reason, language)}."
        )
        return out
    sub = tab[tab["estimand"] == estimand]
    names = {"vision_focus": ("vision focus", "visie"), "organisation_model": ("organisation model", "organisatiemodel"),
             "cooperation_model": ("cooperation model", "samenwerkingsmodel"), "task_type": ("task type", "soort taken"),
             "programme_type": ("programme type", "soort programma")}
    for mod, g in sub.groupby("moderator", sort=False):
        label = names.get(mod, (mod, mod))[0 if language == "en" else 1]
        first = g.iloc[0]
        if first["status"] != "ok":
            out.append(
                f"Whether the {label} matters could not be tested: {first['reason']}" if language == "en"
                else f"Of de {label} uitmaakt kon niet worden getoetst: {first['reason']}"
            )
            continue
        k, p = int(first["k"]), float(first["QM_p"])
        ps = _fmt(p, language, 3)
        if p < alpha:
            out.append(
                f"Across {k} programmes, {subject[0]} differ by {label} (test of moderation p = {ps})."
                if language == "en" else
                f"Over {k} programma's verschillen de {subject[1]} naar {label} (toets op moderatie p = {ps})."
            )
        else:
            out.append(
                f"Across {k} programmes, the data show no clear difference in {subject[0]} by {label} "
                f"(p = {ps}); with this few programmes a real difference could be missed."
                if language == "en" else
                f"Over {k} programma's laten de gegevens geen duidelijk verschil in {subject[1]} naar {label} zien "
                f"(p = {ps}); met zo weinig programma's kan een echt verschil gemist worden."
            )
    if not caveat:
        return out
    out.append(
        "This is a comparison between programmes, not between people: organisations with another vision also "
        "differ in other ways, so a difference is an association, not proof that the vision causes it."
        if language == "en" else
        "Dit is een vergelijking tussen programma's, niet tussen personen: organisaties met een andere visie "
        "verschillen ook op andere punten, dus een verschil is een samenhang, geen bewijs dat de visie het veroorzaakt."
    )
    return out


def _primary_sentences(res: MetaResult | None, primary: PrimaryOutcome, analysis: Any, language: str) -> list[str]:
    """The pooled primary outcome in words (per 100 participants), with how many of the pooled programmes
    have a causal comparison (docs/methods.md, section 'Primary outcome')."""
    if res is None:
        return []
    en = language == "en"
    tab = analysis.tables_["programme_effects"]
    used = tab[(tab["estimand"] == primary.estimand) & tab["yi"].notna()]
    causal = int(used["causal"].map(lambda v: str(v).lower() == "true").sum())
    h = {365: ("within one year", "binnen een jaar"), 730: ("within two years", "binnen twee jaar")}[
        primary.horizon_days][0 if en else 1]
    fewer = [-100 * x for x in (res.estimate, res.ci_upper, res.ci_lower, res.pi_upper, res.pi_lower)]
    e, lo, hi, plo, phi = (number(x, language, 1, thousands=False) for x in fewer)
    if en:
        out = [f"Primary outcome: across {res.k} programmes with a comparison group, on average {e} fewer per 100 "
               f"participants reoffended {h} than in their comparison groups (95% CI {lo} to {hi}; a negative number "
               f"means more); in a new, similar programme the difference could lie between {plo} and {phi}."]
        out.append(f"{causal} of these {res.k} comparisons are causal (randomised, or matched with good balance); the "
                   "average is therefore " + ("an average of causal effects." if causal == res.k else
                                              "not a causal effect."))
    else:
        out = [f"Primaire uitkomstmaat: over {res.k} programma's met een vergelijkingsgroep recidiveerden {h} "
               f"gemiddeld {e} per 100 deelnemers minder dan in hun vergelijkingsgroepen (95%-BI {lo} tot {hi}; "
               f"een negatief getal betekent meer); bij een nieuw, vergelijkbaar programma kan het verschil tussen "
               f"{plo} en {phi} liggen."]
        out.append(f"{causal} van deze {res.k} vergelijkingen zijn causaal (gerandomiseerd, of gematcht met goede "
                   "balans); het gemiddelde is daarom " + ("een gemiddelde van causale effecten." if causal == res.k
                                                           else "geen causaal effect."))
    return out


def synthesis_outputs(analysis: Any, language: str = DEFAULT_LANGUAGE,
                      threshold: int = SUPPRESSION_THRESHOLD) -> dict[str, Any]:
    """What the synthesis report shows, after disclosure control.

    Effects of programmes with fewer than ``threshold`` people are blanked in
    the per-programme table and left out of the forest plots (they are pooled;
    the plot's note says how many are not shown); counts below ``threshold``
    become ``"<10"``.

    Returns
    -------
    dict
        ``results`` (``analysis.results_``), ``tables`` (``programme_effects``,
        ``moderator_tests``), ``figures`` (forest plots), ``headline``.
    """
    check_language(language)
    syn_r, syn_v = analysis.pooled_["recidivism"], analysis.pooled_["retention"]
    effects_tab = analysis.tables_["programme_effects"].copy()
    small = pd.to_numeric(effects_tab["n"], errors="coerce") < threshold
    effects_tab.loc[small, ["yi", "sei", "estimate", "ci_lower", "ci_upper"]] = np.nan
    effects_tab.loc[small, "excluded_reason"] = f"not shown: fewer than {threshold} people"
    for col in ("n", "events"):
        effects_tab[col] = [disclosure.protect_count(x, threshold, language) if pd.notna(x) else ""
                            for x in pd.to_numeric(effects_tab[col], errors="coerce")]
    figures = {}
    li = 0 if language == "en" else 1
    primary = getattr(analysis, "primary_", None) or PrimaryOutcome()
    for est, syn in [("hazard_ratio", syn_r), (primary.estimand, syn_r), ("volunteer_stopping_rate", syn_v)]:
        if syn is None or est not in syn["pooled"]:
            continue
        e = effects_tab[(effects_tab.estimand == est) & effects_tab.yi.notna()]
        if len(e) < 2:
            continue
        log = not est.startswith("prevalence")
        pooled = syn["pooled"][est]
        hidden = pooled.k - len(e)
        pooled_label = (f"average of {pooled.k} programmes" if language == "en"
                        else f"gemiddelde van {pooled.k} programma's")
        note = ("diamond: 95% CI of the average; dashed: prediction interval for a new programme"
                if language == "en" else
                "ruit: 95%-BI van het gemiddelde; stippellijn: voorspellingsinterval voor een nieuw programma")
        if hidden > 0:
            note += (f"; {hidden} programme(s) with fewer than {threshold} people pooled but not shown"
                     if language == "en" else
                     f"; {hidden} programma('s) met minder dan {threshold} personen meegeteld maar niet getoond")
        title = forest_title(est, language)
        figures[f"forest_{est}"] = {
            "figure": forest_plot(e["programme_id"], e["yi"], e["sei"], result=pooled,
                                  transform="exp" if log else None, xlabel=_LABELS[est][li],
                                  pooled_label=pooled_label, footnote=note, title=title),
            "title": title, **forest_text(e, pooled, est, log, hidden, language)}
    s: list[str] = []
    status_h = "warning"
    s += _primary_sentences(syn_r["pooled"].get(primary.estimand), primary, analysis, language)
    hr = syn_r["pooled"].get("hazard_ratio")
    if hr is not None:
        e, lo, hi, plo, phi = (_fmt(x, language) for x in np.exp(
            [hr.estimate, hr.ci_lower, hr.ci_upper, hr.pi_lower, hr.pi_upper]))
        s.append(
            (f"A secondary measure: across {hr.k} programmes with a comparison group, the average hazard ratio of "
             f"reoffending is {e} (95% CI {lo} to {hi}); in a new, similar programme it could lie between {plo} "
             f"and {phi}.")
            if language == "en" else
            (f"Een secundaire maat: over {hr.k} programma's met een vergelijkingsgroep is de gemiddelde hazard ratio "
             f"voor recidive {e} (95%-BI {lo} tot {hi}); bij een nieuw, vergelijkbaar programma kan die tussen "
             f"{plo} en {phi} liggen.")
        )
    s += moderation_sentences(syn_r, "hazard_ratio", language, caveat=False)
    if syn_v is not None and syn_v["pooled"]:
        s += moderation_sentences(syn_v, "volunteer_stopping_rate", language, caveat=False,
                                  subject=("volunteer stopping rates", "stoppercentages van vrijwilligers"))
    s += moderation_sentences(syn_r, "hazard_ratio", language)[-1:]
    if hr is None and primary.estimand not in syn_r["pooled"]:
        status_h = "not_estimable"
        s.insert(0, "Too few programmes with a comparison group to pool their effects." if language == "en"
                 else "Te weinig programma's met een vergelijkingsgroep om de effecten samen te nemen.")
    support = getattr(analysis, "support_", None)
    if support is not None and len(support):
        # only when no programme has volunteers: the pooled stopping rates are then absent altogether
        s += not_measured_sentences(support.loc[support["programme_id"] == "all"], ["volunteer_retention"],
                                    language, "all")
    title = "Synthesis across programmes" if language == "en" else "Synthese over programma's"
    return {
        "results": analysis.results_,
        "tables": {"programme_effects": effects_tab.drop(columns=["yi", "sei"]),
                   "moderator_tests": analysis.tables_["moderator_tests"]},
        "figures": figures,
        "headline": {"status": status_h, "title": title, "sentences": s},
    }


def write_outputs(output_dir: str | Path, outputs: Mapping[str, Any],
                  threshold: int = SUPPRESSION_THRESHOLD) -> dict[str, Any]:
    """Publish :func:`synthesis_outputs` (or the costs report's equivalent) into ``output_dir``.

    Through :func:`evaluation.publish.writer.publish_outputs`: ``results.csv``
    (disclosure-controlled), ``headline.json``, a CSV per table, PNG + SVG per
    figure (150 dpi).
    """
    return writer.publish_outputs(output_dir, outputs["results"], outputs["headline"], outputs.get("tables"),
                                  outputs.get("figures"), threshold=threshold, dpi=150)


def display_figure(fig: Any) -> None:
    """Show a matplotlib Figure in a notebook as a PNG image (nothing when ``fig`` is None or outside IPython);
    a figure given with its sidecar (``{"figure", "alt", ...}``) shows its figure."""
    if isinstance(fig, Mapping):
        fig = fig.get("figure")
    if fig is None:
        return
    try:
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover
        return
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    display(Image(data=buf.getvalue()))
