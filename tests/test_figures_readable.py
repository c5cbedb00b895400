"""Figures a reader can read (issue 18, item 4): words, a colour-blind-safe palette with enough contrast,
alt text generated from the data in one language, and the figure sidecar (NAME.json + NAME_data.csv).

Reference values: WCAG 2.1 contrast ratios of known colours (#767676 on white is 4.54:1, black 21:1,
matplotlib's default orange #ff7f0e 2.5:1 as the issue measured); the alt-text numbers are hand-worked on
tiny step curves and tables written out in each test.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

sys.path.insert(0, str(Path(__file__).parent))
import recidivism_sim as rs  # noqa: E402

from evaluation.analyses.recidivism import RecidivismAnalysis  # noqa: E402
from evaluation.analyses.retention import competing_reasons  # noqa: E402
from evaluation.datasets.retention import DAYS_PER_MONTH  # noqa: E402
from evaluation.publish import figures as fg  # noqa: E402
from evaluation.publish import recidivism_outputs as ro  # noqa: E402
from evaluation.publish import writer  # noqa: E402
from evaluation.publish.cells import DisclosureError  # noqa: E402
from evaluation.publish.costs_outputs import costs_by_quarter_figure, costs_figure_text  # noqa: E402
from evaluation.publish.fidelity_outputs import fidelity_figure_text, plot_fidelity  # noqa: E402
from evaluation.publish.labels import ENDPOINTS, value_label  # noqa: E402
from evaluation.publish.retention_outputs import _TEXT as RETENTION_TEXT  # noqa: E402
from evaluation.publish.retention_outputs import _workforce_alt  # noqa: E402
from evaluation.publish.synthesis_outputs import _LABELS, forest_plot, forest_text, forest_title  # noqa: E402
from evaluation.publish.workforce import protect_workforce  # noqa: E402
from evaluation.stats.meta import random_effects  # noqa: E402

LANGS = ("nl", "en")
# words that belong to one language only (checked as whole words in the other language's text; not "of",
# which is Dutch for "or")
EN_ONLY = {"the", "and", "after", "share", "months", "participants", "comparison", "group", "shown", "new",
           "case", "year", "average", "between", "reason", "still", "active", "stopped", "not", "by", "cost",
           "quarter", "programme", "programmes", "days", "without", "lack", "time", "work", "study", "health"}
NL_ONLY = {"de", "van", "en", "na", "aandeel", "maanden", "deelnemers", "vergelijkingsgroep", "niet", "getoond",
           "nieuwe", "zaak", "een", "jaar", "gemiddeld", "tussen", "reden", "nog", "actief", "gestopt", "kosten",
           "kwartaal", "programma", "dagen", "zonder", "tijdgebrek", "werk", "studie", "gezondheid", "wegens"}
RAW = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b(?:" + "|".join(ENDPOINTS) + r")\b")


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def _other_language(text: str, language: str) -> set[str]:
    return _words(text) & (EN_ONLY if language == "nl" else NL_ONLY)


def _texts(fig) -> list[str]:
    """Every visible text of a matplotlib Figure: titles, axis labels, tick labels, legend entries, notes."""
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _fit(design, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecidivismAnalysis(design, **kw).fit(data, "P1", data["cutoff_date"])


@pytest.fixture(scope="module")
def rct():
    # seed 2, n = 60 (as in test_recidivism): GENERAL curves drawn, SPECIAL curves hidden (fewer than 10 steps)
    return _fit("rct", rs.simulate(2, n=60, design="rct"), endpoints=("GENERAL", "SPECIAL"))


@pytest.fixture(scope="module")
def matched():
    return _fit("matched", rs.simulate(3, n=300, design="matched"))


@pytest.fixture(scope="module")
def volunteers():
    """40 volunteers in two programmes, volunteer i (0..39) followed for 30 * (i + 1) days (so 40 - i at risk):
    'moved' ends volunteers 2, 5 and 8 (3 endings: its curve is not drawn), 'time_constraints' 12 of volunteers
    0-14, 'health' volunteers 15-26 (12 endings while 14 or more are at risk); the others are censored."""
    n = 40
    reason = np.full(n, None, dtype=object)
    reason[[2, 5, 8]] = "moved"
    reason[[0, 1, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14]] = "time_constraints"
    reason[15:27] = "health"
    return pd.DataFrame({"programme_id": np.where(np.arange(n) % 2 == 0, "PEER-UT", "MENT-RDM"),
                         "time": 30.0 * (np.arange(n) + 1), "event": (reason != None).astype(int),  # noqa: E711
                         "end_reason": reason})


# ------------------------------------------------------------------------------------------------ palette


def test_wcag_contrast_formula_on_known_colours():
    # WCAG 2.1 definitions; #767676 is the lightest grey with 4.5:1 on white (4.54), black 21:1
    assert fg.contrast_ratio("#000000") == pytest.approx(21.0)
    assert fg.contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)
    assert fg.contrast_ratio("#FFFFFF") == pytest.approx(1.0)
    # the at-risk numbers of issue 18 were printed in matplotlib's orange: 2.5:1
    assert fg.contrast_ratio("#ff7f0e") == pytest.approx(2.5, abs=0.05)
    with pytest.raises(ValueError):
        fg.relative_luminance("orange")


def test_palette_is_okabe_ito_with_enough_contrast():
    assert all(c in fg.OKABE_ITO.values() for c in fg.LINE_COLOURS)
    for c in fg.LINE_COLOURS:
        assert fg.contrast_ratio(c) >= 3.0, c  # WCAG 1.4.11, graphical objects
    for c in (*fg.TEXT_COLOURS, fg.NOTE_COLOUR):
        assert fg.contrast_ratio(c) >= 4.5, c  # WCAG 1.4.3, text
    # beyond the colours, series differ by line style
    assert fg.series_style(len(fg.LINE_COLOURS))["ls"] != fg.series_style(0)["ls"]


def test_at_risk_numbers_are_text_colours_with_contrast(rct):
    fig = ro.km_figure(rct, "GENERAL", "nl")
    numbers = [t for t in fig.axes[1].texts if t.get_text().strip()]
    assert numbers
    from matplotlib.colors import to_hex

    for t in numbers:
        assert fg.contrast_ratio(to_hex(t.get_color())) >= 4.5, (t.get_text(), t.get_color())


# ------------------------------------------------------------------------------- words, no codes, one language


# a published (rounded) workforce table: 20, 30 and 30 active volunteers at the ends of three quarters
WORKFORCE = pd.DataFrame({"group": "all", "quarter": ["2026Q1", "2026Q2", "2026Q3"], "active_start": [0, 20, 30],
                          "joiners": [20, 10, 10], "leavers": [0, 0, 10], "active_end": [20, 30, 30]})


def _all_figures(language, rct, matched, volunteers):
    tx = RETENTION_TEXT[language]
    curves = competing_reasons(volunteers, "end_reason", ["time_constraints", "health", "moved"], (6, 12))[1]
    yi, sei = np.log([0.8, 1.1, 0.95]), np.array([0.2, 0.25, 0.15])
    quarterly = pd.DataFrame({"quarter": ["2026Q1", "2026Q1", "2026Q2"], "category": ["training", "overhead", "training"],
                              "amount_eur": [1000.0, 250.0, 500.0]})
    fid = pd.DataFrame({"programme_id": ["P1", "P1"], "indicator": ["basic_training_in_time", "same_sex_matching"],
                        "unit": ["share", "share"], "observed": [0.8, 0.5], "ci_lower": [0.7, 0.4],
                        "ci_upper": [0.9, 0.6], "target": [0.7, 0.9], "n": [40, 40]})
    def reason(code):
        return value_label(code, language)

    figs = {
        "km": ro.km_figure(rct, "GENERAL", language),
        "km_hidden": ro.km_figure(rct, "SPECIAL", language),
        "cif": ro.cif_figure(rct, "GENERAL", language),
        **ro.balance_figures(matched, language),
        "cif_reasons": fg.plot_cuminc(curves, "t", "x", "y", label=reason, language=language,
                                      few_events=RETENTION_TEXT[language]["few_events"]),
        "costs": costs_by_quarter_figure(quarterly, "P1", language),
        "forest": forest_plot(["P1", "P2", "P3"], yi, sei, result=random_effects(yi, sei), transform="exp",
                              xlabel=_LABELS["hazard_ratio"][1 if language == "nl" else 0],
                              pooled_label="x", title=forest_title("hazard_ratio", language)),
        "fidelity": plot_fidelity(fid, "t", "x", language),
        "km_volunteers": fg.plot_km(volunteers, "programme_id", tx["km_volunteers"], tx["months"], tx["active"],
                                    few_events=tx["few_events"], language=language),
        "workforce": fg.plot_workforce(WORKFORCE, "all", tx["workforce"], tx["volunteers"],
                                       (tx["joiners"], tx["leavers"]), note=tx["rounded_note"]),
    }
    return figs


@pytest.mark.parametrize("language", LANGS)
def test_no_raw_codes_and_one_language_in_figure_texts(language, rct, matched, volunteers):
    figs = _all_figures(language, rct, matched, volunteers)
    for name, fig in figs.items():
        texts = _texts(fig)
        assert texts, name
        for t in texts:
            assert not RAW.search(t), (name, t)
            assert not _other_language(t, language), (name, t, _other_language(t, language))
        assert not {"programme", "comparison"} & set(texts), name  # group codes never shown as they are
    for name in ("km", "cif"):
        title = figs[name].axes[0].get_title()
        assert ("algemene recidive" if language == "nl" else "general reoffending") in title


# ------------------------------------------------------------------------------------------------ cif_reasons


def test_cif_reasons_spans_the_data_and_labels_reasons(volunteers):
    """The retention figure "Waarom vrijwilligers stoppen" was stuck at an x axis of 0-1 month: set_xlim(left=0)
    before drawing switched autoscaling off. Now it spans 0 to the last time drawn."""
    curves = competing_reasons(volunteers, "end_reason", ["time_constraints", "health", "moved"], (6, 12))[1]
    fig = fg.plot_cuminc(curves, "Waarom vrijwilligers stoppen", "maanden", "gestopt",
                         few_events="{group}: niet getoond (minder dan {t} beëindigingen)",
                         label=lambda c: value_label(c, "nl"), language="nl")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    assert len(lines) == 2  # time_constraints and health; moved has 3 endings
    # the data's range: the last time with at least 10 at risk, in months
    shown = curves[(curves["n_risk"] >= 10) & curves["reason"].isin(["time_constraints", "health"])]
    tmax = shown["time"].max() / DAYS_PER_MONTH
    assert tmax > 20  # far beyond the old 0-1 axis
    assert ax.get_xlim() == pytest.approx((0.0, tmax))
    assert max(float(np.max(ln.get_xdata())) for ln in lines) == pytest.approx(tmax)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["tijdgebrek", "gezondheid", "verhuisd: niet getoond (minder dan 10 beëindigingen)"]


# ------------------------------------------------------------------------------------------------ alt text


def test_km_alt_hand_worked():
    # step curves in months: A 1 -> 0.9 (3 m) -> 0.75 (9 m) -> 0.6 (15 m); B 1 -> 0.5 (6 m), ends at 20 m
    curves = [{"group": "A", "n": 30, "shown": True, "time": np.array([0, 3, 9, 15.0]),
               "estimate": np.array([1, 0.9, 0.75, 0.6])},
              {"group": "B", "n": 30, "shown": True, "time": np.array([0, 6, 20.0]), "estimate": np.array([1, 0.5, 0.5])},
              {"group": "C", "n": 12, "shown": False}]
    nl = fg.km_alt(curves, "nog actief", 12, "nl", not_shown=" (minder dan 10 beëindigingen)")
    assert nl == ("Kaplan-Meier-curves, aandeel nog actief na 12 maanden: A 75% en B 50%. "
                  "Niet getoond: C (minder dan 10 beëindigingen).")
    en = fg.km_alt(curves, "still active", 12, "en", not_shown=" (fewer than 10 endings)")
    assert en == ("Kaplan-Meier curves, share still active after 12 months: A 75% and B 50%. "
                  "Not shown: C (fewer than 10 endings).")
    # a horizon no curve reaches falls back to the next one given
    assert "na 6 maanden: A 90% en B 50%" in fg.km_alt(curves, "nog actief", [24, 6], "nl")
    assert not _other_language(nl, "nl") and not _other_language(en, "en")


def test_recidivism_alt_is_the_issues_sentence():
    states = {"programme": "shown", "comparison": "shown"}
    values = {"programme": 0.31, "comparison": 0.41}
    nl = ro._alt_text("km", "GENERAL", values, states, 365, "nl")
    en = ro._alt_text("km", "GENERAL", values, states, 365, "en")
    assert nl == ("Kaplan-Meier-curves (algemene recidive): na 1 jaar had 31% van de deelnemers en 41% van de "
                  "vergelijkingsgroep een nieuwe zaak.")
    assert en == ("Kaplan-Meier curves (general reoffending): after 1 year 31% of participants and 41% of the "
                  "comparison group had a new case.")
    hidden = ro._alt_text("km", "SPECIAL", values, {"programme": "few", "comparison": "few"}, 365, "nl")
    assert "geen curve getoond" in hidden and "%" not in hidden


@pytest.mark.parametrize("language", LANGS)
def test_km_figure_alt_reads_the_curve(rct, language):
    out = ro.km_figure_text(rct, "GENERAL", language)
    for g, words in (("programme", ("van de deelnemers", "of participants")),
                     ("comparison", ("van de vergelijkingsgroep", "of the comparison group"))):
        k = rct.km_[(rct.km_["endpoint"] == "GENERAL") & (rct.km_["group"] == g)]
        s = float(k.loc[k["time"] <= 365, "survival"].iloc[-1])  # the step at 1 year, read by hand
        pct = f"{round(100 * (1 - s))}%"
        assert f"{pct} {words[0 if language == 'nl' else 1]}" in out["alt"]
    assert not _other_language(out["alt"], language)
    assert not re.search(r"\b[1-9] (?:deelnemers|personen|participants|people)\b", out["alt"])
    counts = pd.to_numeric(out["data"].iloc[:, -1], errors="coerce")
    assert ((counts >= 10) | counts.isna()).all()  # numbers at risk: protected
    hidden = ro.km_figure_text(rct, "SPECIAL", language)
    assert "%" not in hidden["alt"] and hidden["data"].empty  # curves not drawn: nothing read off them


@pytest.mark.parametrize("language", LANGS)
def test_other_alt_texts_hand_worked(language, volunteers):
    nl = language == "nl"
    quarterly = pd.DataFrame({"quarter": ["2026Q1", "2026Q1", "2026Q2", "2026Q2"],
                              "category": ["training", "overhead", "training", "overhead"],
                              "amount_eur": [1000.0, 250.0, 500.0, 250.0]})
    c = costs_figure_text(quarterly, "P1", language)
    # total 2,000; training 1,500 = 75%
    assert ("€ 2.000" if nl else "EUR 2,000") in c["alt"] and "75%" in c["alt"] and "2026Q1" in c["alt"]
    assert c["data"].shape == (2, 3)
    yi, sei = np.log([0.8, 1.1, 0.95]), np.array([0.2, 0.25, 0.15])
    res = random_effects(yi, sei)
    f = forest_text(pd.DataFrame({"programme_id": ["P1", "P2", "P3"], "yi": yi, "sei": sei}), res, "hazard_ratio",
                    True, 1, language)
    avg = f"{np.exp(res.estimate):.2f}".replace(".", "," if nl else ".")
    assert ("0,80" if nl else "0.80") in f["alt"] and ("1,10" if nl else "1.10") in f["alt"] and avg in f["alt"]
    assert len(f["data"]) == 4  # three programmes and the average
    fid = pd.DataFrame({"programme_id": ["P1", "P1"], "indicator": ["basic_training_in_time", "same_sex_matching"],
                        "unit": ["share", "share"], "observed": [0.8, 0.5], "ci_lower": [0.7, 0.4],
                        "ci_upper": [0.9, 0.6], "target": [0.7, 0.9], "n": [40, 40]})
    t = fidelity_figure_text(fid, language)
    assert ("van de 2 met een doel" if nl else "of the 2 with a target") in t["alt"]
    assert ("halen er 1 het doel" if nl else "1 meet the target") in t["alt"]
    curves = competing_reasons(volunteers, "end_reason", ["time_constraints", "health", "moved"], (6, 12))[1]
    drawn = fg.cuminc_curves(curves)
    alt = fg.cuminc_alt(drawn, 6, language, lambda r: value_label(r, language))
    tc = curves[(curves["reason"] == "time_constraints") & (curves["time"] <= 6 * DAYS_PER_MONTH)]["estimate"]
    assert f"{value_label('time_constraints', language)} {round(100 * tc.iloc[-1])}%" in alt
    assert value_label("moved", language) in alt.split(".")[-2]  # the reason not shown is named
    w = _workforce_alt(protect_workforce(WORKFORCE, language=language), RETENTION_TEXT[language], language, 10)
    assert ("Aan het eind van 2026Q3: 30 actieve vrijwilligers" if nl else
            "At the end of 2026Q3: 30 active volunteers") in w["alt"]
    assert w["data"].iloc[:, 1].tolist() == [20, 30, 30]
    for text in (c["alt"], f["alt"], t["alt"], alt, w["alt"]):
        assert not _other_language(text, language), text


# -------------------------------------------------------------------------------------------------- sidecar


def _fig():
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def test_sidecar_and_data_written_through_the_door(tmp_path):
    data = pd.DataFrame({"groep": ["=HYPERLINK(\"x\")", "deelnemers"], "aandeel": [0.5, 0.25]})
    paths = writer.write_figure(tmp_path, "f", _fig(), alt="Een lijn van 0% naar 100%.", title="Titel", data=data)
    assert [p.name for p in paths] == ["f.png", "f.svg", "f_data.csv", "f.json"]
    assert json.loads((tmp_path / "f.json").read_text(encoding="utf-8")) == {
        "title": "Titel", "alt": "Een lijn van 0% naar 100%.", "data": "f_data.csv"}
    csv = pd.read_csv(tmp_path / "f_data.csv")
    assert csv["groep"].iloc[0].startswith("'=")  # formula neutralised as in write_table
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o644
    # without data: the sidecar says so; without alt (old callers): no sidecar at all
    writer.write_figure(tmp_path, "g", _fig(), alt="Iets.")
    assert json.loads((tmp_path / "g.json").read_text())["data"] is None
    assert [p.name for p in writer.write_figure(tmp_path, "h", _fig())] == ["h.png", "h.svg"]
    assert not (tmp_path / "h.json").exists()


def test_sidecar_refuses_what_may_not_be_published(tmp_path):
    with pytest.raises(DisclosureError):
        writer.write_figure(tmp_path, "a", _fig(), alt="Na een jaar hadden 3 deelnemers een nieuwe zaak.")
    with pytest.raises(ValueError, match="identifier"):
        writer.write_figure(tmp_path, "b", _fig(), alt="x", data=pd.DataFrame({"participant_id": ["p1"]}))
    with pytest.raises(ValueError, match="alt"):
        writer.write_figure(tmp_path, "c", _fig(), data=pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="empty"):
        writer.write_figure(tmp_path, "d", _fig(), alt="  ")


def test_publish_outputs_takes_figures_with_their_sidecar(tmp_path, rct):
    res = rct.results_
    headline = {"status": "ok", "title": "t", "sentences": []}
    written = writer.publish_outputs(tmp_path, res, headline, figures={
        "old": _fig(), "new": {"figure": _fig(), "alt": "Een lijn.", "title": "T", "data": pd.DataFrame({"x": [1]})}})
    assert not (tmp_path / "old.json").exists() and (tmp_path / "old.png").exists()
    assert json.loads((tmp_path / "new.json").read_text())["data"] == "new_data.csv"
    assert written["new"][0].name == "new.png"
    with pytest.raises(ValueError, match="unknown keys"):
        writer.publish_outputs(tmp_path, res, headline, figures={"x": {"figure": _fig(), "alt_text": "a"}})


@pytest.mark.parametrize("language", LANGS)
def test_recidivism_outputs_write_a_sidecar_for_every_figure(tmp_path, matched, language):
    ro.write_outputs(matched, tmp_path, language)
    pngs = sorted(p.stem for p in tmp_path.glob("*.png"))
    assert {"km_GENERAL", "love_plot", "overlap"} <= set(pngs)
    for stem in pngs:
        side = json.loads((tmp_path / f"{stem}.json").read_text(encoding="utf-8"))
        assert side["alt"] and side["title"] and side["data"] == f"{stem}_data.csv", stem
        assert not _other_language(side["alt"] + " " + side["title"], language), (stem, side)
        assert not RAW.search(side["alt"]), side["alt"]
        data = pd.read_csv(tmp_path / side["data"])
        assert not any(RAW.search(str(c)) for c in data.columns), data.columns
