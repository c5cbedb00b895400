"""Publishing re-integration outcomes (issue 19): sentences from published rows only, in both languages.

The rows are hand-built, so every number in an expected sentence is worked out by hand from them
(shares per 100, levels with two decimals, the Dutch decimal comma).
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.results import make_results
from evaluation.publish.reintegration_outputs import (
    domain_table,
    reintegration_headline,
    reintegration_outputs,
)
from evaluation.publish.suppression import protect_results


def _row(estimand, endpoint, group="programme", estimate=np.nan, lo=np.nan, hi=np.nan, n=100, events=np.nan,
         causal=False, note="", missing_data="complete_case"):
    return {"programme_id": "P1", "analysis": "reintegration", "estimand": estimand, "endpoint": endpoint,
            "group": group, "estimate": estimate, "ci_lower": lo, "ci_upper": hi, "n": n, "events": events,
            "method": "m", "causal": causal, "note": note, "missing_data": missing_data}


def _results(housing_end_events=60.0, design_note="randomised comparison (intention to treat)", causal=True):
    ep = "zrm_2017:housing"
    rows = [
        _row("share_sufficient_intake", ep, estimate=0.5, lo=0.4, hi=0.6, n=100, events=50, missing_data=""),
        _row("share_sufficient_end", ep, estimate=0.6, lo=0.5, hi=0.7, n=100, events=housing_end_events),
        _row("share_missing_end", ep, estimate=0.25, lo=0.18, hi=0.34, n=120, events=30, missing_data=""),
        _row("mean_change_end", ep, estimate=0.3, lo=0.1, hi=0.5, n=90),
        _row("mean_change_end", ep, estimate=0.41, lo=0.2, hi=0.6, n=90, missing_data="ipw_observation"),
        _row("ancova_difference_end", ep, "difference", estimate=0.256, lo=0.05, hi=0.46, n=180, causal=causal,
             note=design_note),
        _row("share_goals_achieved", "goals:all", estimate=0.42, lo=0.36, hi=0.47, n=300, events=126,
             missing_data=""),
    ]
    return make_results(rows)


def test_headline_in_both_languages_from_hand_built_rows():
    published = protect_results(_results())
    nl = reintegration_headline(published, "nl", design="rct")
    assert nl["status"] == "warning"  # a quarter of the due end assessments is missing (> 20%)
    assert nl["sentences"] == [
        "De zelfredzaamheid is bij instroom gemeten met de ZRM 2017 bij 100 deelnemers.",
        "Huisvesting: van 100 deelnemers waren er 60 voldoende zelfredzaam aan het eind en 50 bij instroom "
        "(onder wie beide metingen heeft: 100).",
        "Huisvesting: bij gelijke instroomscore scoorden deelnemers aan het eind 0,26 niveau hoger dan de "
        "vergelijkingsgroep (95%-BI 0,05 tot 0,46); dit mag worden gelezen als effect van het programma "
        "(gerandomiseerde vergelijking (analyse naar loting: iedereen telt mee in de groep waarin hij is ingeloot)).",
        "Van de eindmetingen die hadden moeten plaatsvinden, ontbreekt 25%. Weging voor wie ontbreekt verandert de "
        "gemiddelde verandering in huisvesting van +0,30 in +0,41 niveau; beide staan in de resultaten.",
        "Van de geëvalueerde persoonlijke doelen is 42% behaald (95%-BI 36% tot 47%).",
    ]
    en = reintegration_headline(published, "en", design="rct")
    assert en["sentences"][2] == (
        "Housing: at equal intake scores, participants scored 0.26 levels higher than the comparison group at the "
        "end (95% CI 0.05 to 0.46); this may be read as an effect of the programme (randomised comparison "
        "(intention to treat)).")
    assert "from +0.30 to +0.41 levels" in en["sentences"][3]


def test_a_withheld_share_never_reaches_a_sentence_and_a_non_causal_difference_says_so():
    # 6 people sufficient at the end: the row is withheld on publication, and its sentence with it
    published = protect_results(_results(housing_end_events=6.0,
                                         design_note="not causal: imbalance after matching in sex[female] (SMD 0.110)",
                                         causal=False))
    assert pd.isna(published.loc[published["estimand"] == "share_sufficient_end", "estimate"]).all()
    nl = reintegration_headline(published, "nl", design="matched")
    assert nl["sentences"][1] == ("Huisvesting: van 100 deelnemers waren er 50 voldoende zelfredzaam bij instroom; "
                                  "eindmetingen kunnen nog niet worden getoond.")
    assert "dit mag niet als effect van het programma worden gelezen (niet causaal: onbalans na matching bij "\
           "geslacht: vrouw (SMD 0.110))" in nl["sentences"][2]
    assert nl["sentences"][-1].startswith("Minder dan 10 personen")
    assert not any(re.search(r"(?<![\d,])6(?![\d,])", s) for s in nl["sentences"])


def test_nothing_recorded_and_everything_withheld_are_told_apart():
    assert reintegration_headline(make_results([]), "en")["status"] == "not_estimable"
    only_small = protect_results(make_results([_row("peer_mentor_new_case_1y", "peer_mentor", estimate=0.2, lo=0.05,
                                                    hi=0.5, n=7, events=1, missing_data="")]))
    h = reintegration_headline(only_small, "nl")
    assert h["status"] == "warning"
    assert h["sentences"] == ["De re-integratie-uitkomsten die voor deze selectie zijn vastgelegd, berusten op "
                              "minder dan 10 personen en worden niet getoond."]


def test_no_comparison_group_is_said_and_the_domain_table_holds_published_values_only():
    res = _results()
    # as the analysis writes it for a descriptive design (found on seed 8123: the sentence was missing)
    res.loc[res["estimand"] == "ancova_difference_end", ["estimate", "ci_lower", "ci_upper", "causal", "note"]] = [
        np.nan, np.nan, np.nan, False, "not estimable: no comparison group"]
    published = protect_results(res)
    h = reintegration_headline(published, "en", design="descriptive")
    assert "There is no comparison group" in " ".join(h["sentences"])
    table = domain_table(published, "en")
    assert list(table["domain"]) == ["ZRM 2017: housing"]
    row = table.iloc[0]
    assert row["participants with an intake score"] == 100 and row["sufficient at the end"] == pytest.approx(0.6)
    assert row["mean change to the end (levels)"] == pytest.approx(0.3)  # the complete-case row, not the IPW one
    assert row["95% CI of the change"] == "0.10 to 0.50" and pd.isna(row["difference with the comparison group (levels)"])


def test_outputs_write_the_files_and_keep_small_counts_out_of_the_missingness_model(tmp_path):
    miss = pd.DataFrame({"endpoint": ["zrm_2017:housing"] * 2, "occasion": ["end"] * 2,
                         "term": ["group[programme]", "baseline"], "odds_ratio": [1.2, 0.9], "ci_lower": [0.8, 0.7],
                         "ci_upper": [1.8, 1.1], "p_value": [0.4, 0.3], "n": [120, 8], "n_observed": [111, 5],
                         "note": ["", ""]})
    analysis = SimpleNamespace(results_=_results(), tables_={"missingness_model": miss})
    out = reintegration_outputs(analysis, tmp_path, language="nl", design="rct")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert {"results.csv", "headline.json", "self_sufficiency_by_domain.csv", "missingness_model.csv",
            "self_sufficiency.png", "self_sufficiency.json", "self_sufficiency_data.csv"} <= set(names)
    written = pd.read_csv(tmp_path / "missingness_model.csv")
    assert "n_observed" not in written.columns  # n minus n_observed would give the number missing
    assert written["n"].tolist()[0] == 120 and pd.isna(written["n"].tolist()[1])
    assert pd.isna(written.loc[1, "odds_ratio"])
    side = json.loads((tmp_path / "self_sufficiency.json").read_text(encoding="utf-8"))
    assert side["alt"].endswith("huisvesting 50% bij instroom, 60% aan het eind.")
    assert json.loads((tmp_path / "headline.json").read_text(encoding="utf-8"))["sentences"] == out["headline"][
        "sentences"]


def test_a_not_estimable_variant_of_a_difference_does_not_withhold_the_difference():
    """Found on seed 8123: COSA-TRIAL's ANCOVA differences (n = 37) were withheld because their
    IPW variant was not estimable (n = 0) and counted as a withheld level of the comparison. Only a
    withheld level (programme or comparison row) withholds a difference (publication check: over_withheld)."""
    ep = "zrm_2010:housing"
    rows = make_results([
        _row("ancova_difference_end", ep, "difference", estimate=0.3, lo=0.1, hi=0.5, n=37),
        _row("ancova_difference_end", ep, "difference", n=0, missing_data="ipw_observation",
             note="not estimable: missingness model not estimable"),
        _row("share_sufficient_end", ep, "programme", estimate=0.5, lo=0.3, hi=0.7, n=20, events=10),
        _row("share_sufficient_end", ep, "comparison", estimate=0.4, lo=0.2, hi=0.6, n=17, events=7),
        _row("share_sufficient_end", ep, "difference", estimate=0.1, lo=-0.2, hi=0.4, n=37),
    ])
    published = protect_results(rows)
    assert published["estimate"].iloc[0] == pytest.approx(0.3)  # published
    # a withheld level (7 events in the comparison group) still withholds the difference of its own family
    assert pd.isna(published["estimate"].iloc[3]) and pd.isna(published["estimate"].iloc[4])
