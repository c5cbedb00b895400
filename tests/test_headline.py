"""Wording tests for evaluation.publish.headline (JDL style, Dutch and English)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses.recidivism import power_two_proportions
from evaluation.contract.results import make_results
from evaluation.publish.headline import headline_numbers, jdl_headline
from evaluation.stats.proportions import minimum_detectable_difference


def _numbers(p1, p0, lo, hi, n=200, design="rct", causal=True, p=0.01):
    return {"design": design, "horizon": 365, "p_programme": p1, "p_comparison": p0, "difference": p1 - p0,
            "ci_lower": lo, "ci_upper": hi, "p_value": p, "n_programme": n, "n_comparison": n, "causal": causal,
            "ci_programme": (p1 - 0.05, p1 + 0.05)}


def test_significant_fewer_both_languages():
    num = _numbers(0.23, 0.30, -0.12, -0.02, p=0.008)
    en = jdl_headline(num, "en")
    assert en["status"] == "ok"
    # 0.23 -> 23 per 100; difference -0.07 -> 7 fewer; CI -0.12..-0.02 -> 2 to 12 fewer
    assert en["sentences"][0] == (
        "Of 100 typical participants, 23 reoffended within one year, 7 fewer than in the comparison group "
        "(95% CI 2 to 12)."
    )
    assert "statistically significant (p = 0.008)" in en["sentences"][1]
    nl = jdl_headline(num, "nl")
    assert nl["sentences"][0] == (
        "Van 100 typische deelnemers pleegden er 23 binnen een jaar een nieuw delict, 7 minder dan in de "
        "vergelijkingsgroep (95%-BI 2 tot 12)."
    )
    assert "p = 0,008" in nl["sentences"][1]


def test_significant_more():
    num = _numbers(0.40, 0.30, 0.04, 0.16)
    s = jdl_headline(num, "en")["sentences"][0]
    assert "40 reoffended within one year, 10 more than in the comparison group (95% CI 4 to 16)." in s
    assert "10 meer dan in de vergelijkingsgroep (95%-BI 4 tot 16)." in jdl_headline(num, "nl")["sentences"][0]


def test_non_significant_says_what_the_interval_rules_out_and_the_detectable_difference():
    num = _numbers(0.25, 0.30, -0.13, 0.03, n=150, p=0.22)
    en = jdl_headline(num, "en")
    # CI crosses zero: written out in both directions
    assert en["sentences"][0].endswith("5 fewer than in the comparison group (95% CI 13 fewer to 3 more).")
    text = " ".join(en["sentences"])
    assert "not statistically significant" in text
    assert "rules out a reduction of more than 13 and an increase of more than 3 reoffenders per 100" in text
    # minimum detectable difference (Bloom 1995), hand-worked: (1.959964 + 0.841621) x
    # sqrt(0.3 x 0.7 x (1/150 + 1/150)) = 2.801585 x 0.052915 = 0.14824 -> about 15 per 100
    assert minimum_detectable_difference(0.30, 150, 150) == pytest.approx(0.148245, abs=1e-5)
    assert "a difference of about 15 per 100 or more would have been detected" in text
    # no post-hoc power: no sample size for the observed difference, and never "does not work"
    assert "would be needed" not in text and "does not work" not in text
    nl = " ".join(jdl_headline(num, "nl")["sentences"])
    assert "niet statistisch significant" in nl and "13 minder tot 3 meer" in nl
    assert "sluit een daling van meer dan 13 en een stijging van meer dan 3 per 100 deelnemers uit" in nl
    assert "ongeveer 15 per 100 of meer gevonden" in nl
    assert "werkt niet" not in nl


def test_the_detectable_difference_does_not_follow_the_observed_one():
    # post-hoc power grows without bound as the observed difference shrinks (446,447 participants in
    # the demo); the minimum detectable difference is the same whatever was observed
    a = " ".join(jdl_headline(_numbers(0.299, 0.30, -0.05, 0.05, n=400), "en")["sentences"])
    b = " ".join(jdl_headline(_numbers(0.33, 0.30, -0.02, 0.08, n=400), "en")["sentences"])
    for t in (a, b):
        assert "a difference of about 9 per 100 or more" in t  # 2.801585 x sqrt(.21 x 2/400) = 0.0908


def test_small_n_warning_first_and_status():
    num = _numbers(0.23, 0.30, -0.12, -0.02, n=45)
    for lang, word in (("en", "Caution: only 45 participants"), ("nl", "Let op: er konden maar 45 deelnemers")):
        h = jdl_headline(num, lang)
        assert h["status"] == "warning"
        assert h["sentences"][0].startswith(word)


def test_counts_below_ten_are_not_published():
    num = _numbers(0.23, 0.30, -0.12, -0.02, n=8)
    en = jdl_headline(num, "en", n_events_programme=3)
    assert en["sentences"][0].startswith("Caution: fewer than 10 participants could be analysed")
    assert any(s.startswith("Fewer than 10 participants reoffended") for s in en["sentences"])
    nl = jdl_headline(num, "nl", n_events_programme=3)
    assert any(s.startswith("Minder dan 10 deelnemers recidiveerden") for s in nl["sentences"])
    from evaluation.publish.disclosure import check_sentences

    check_sentences(en["sentences"] + nl["sentences"])  # raises on "3 participants"


def test_few_events_and_observational_caveat():
    num = _numbers(0.23, 0.30, -0.12, -0.02, design="matched", causal=False)
    en = jdl_headline(num, "en", n_events_programme=12)
    assert any("not a causal estimate" in s for s in en["sentences"])
    assert any("Only 12 participants reoffended" in s for s in en["sentences"])
    num = _numbers(0.23, 0.30, -0.12, -0.02, design="matched", causal=True)
    assert any("assumes that no unmeasured difference" in s for s in jdl_headline(num, "en")["sentences"])
    rct = jdl_headline(_numbers(0.23, 0.30, -0.12, -0.02), "en")["sentences"]
    assert not any("unmeasured" in s for s in rct)


def test_descriptive_wording():
    num = {"design": "descriptive", "horizon": 365, "p_programme": 0.312, "ci_programme": (0.25, 0.38),
           "n_programme": 120, "reference_rate": 0.35, "reference_ci": (0.33, 0.37), "causal": False}
    en = jdl_headline(num, "en")["sentences"]
    assert en[0] == "Of 100 typical participants, 31 reoffended within one year (95% CI 25 to 38)."
    assert en[1] == "The reference rate is 35 per 100 (95% CI 33 to 37)."
    assert en[2].startswith("This is not a causal comparison")
    nl = jdl_headline(num, "nl")["sentences"]
    assert nl[0] == "Van 100 typische deelnemers pleegden er 31 binnen een jaar een nieuw delict (95%-BI 25 tot 38)."
    assert nl[2].startswith("Dit is geen causale vergelijking")


def test_headline_numbers_from_results_prefers_crude_with_60():
    base = {"programme_id": "P", "analysis": "recidivism", "endpoint": "GENERAL", "causal": True}
    rows = [
        dict(base, estimand="prevalence_365d_crude", group="programme", estimate=0.2, ci_lower=0.15, ci_upper=0.25,
             n=80),
        dict(base, estimand="prevalence_365d_crude", group="comparison", estimate=0.3, ci_lower=0.25, ci_upper=0.35,
             n=80),
        dict(base, estimand="prevalence_365d_crude", group="difference", estimate=-0.1, ci_lower=-0.2,
             ci_upper=0.0, p_value=0.05, n=160),
        dict(base, estimand="prevalence_365d_km", group="programme", estimate=0.21, ci_lower=0.15, ci_upper=0.27,
             n=100),
        dict(base, estimand="prevalence_365d_km", group="comparison", estimate=0.31, ci_lower=0.25, ci_upper=0.37,
             n=100),
        dict(base, estimand="prevalence_365d_km", group="difference", estimate=-0.1, ci_lower=-0.19,
             ci_upper=-0.01, p_value=0.03, n=200),
    ]
    res = make_results(rows)
    num = headline_numbers(res, design="rct")
    assert num["source"] == "crude" and num["p_programme"] == 0.2 and num["n_programme"] == 80
    res.loc[res["estimand"] == "prevalence_365d_crude", "n"] = 50
    num = headline_numbers(res, design="rct")
    assert num["source"] == "kaplan_meier" and num["p_programme"] == 0.21 and num["n_programme"] == 100
    # KM rows failing the 30-events gate are not used for the headline
    res["headline_eligible"] = ~res["estimand"].str.endswith("_km")
    assert headline_numbers(res, design="rct")["source"] == "crude"
    with pytest.raises(ValueError, match="prevalence_730d"):
        headline_numbers(res, horizon=730)


def test_power_formula_symmetric_and_infinite():
    assert power_two_proportions(0.3, 0.25) == power_two_proportions(0.25, 0.3)
    assert math.isinf(power_two_proportions(0.3, 0.3))
    # larger differences need fewer people
    assert power_two_proportions(0.2, 0.3) < power_two_proportions(0.25, 0.3)
    assert np.isfinite(power_two_proportions(0.0, 0.1))
    assert isinstance(pd.Series([power_two_proportions(0.1, 0.2)]).iloc[0], float)


def test_pooled_descriptive_headline_does_not_claim_there_is_no_comparison_group(tmp_path):
    """All programmes together, with designs that differ, are analysed descriptively; the headline
    must say the figure is pooled over designs, not that no comparison group exists (some programmes
    have one). Seen in the demo report of 2026Q3."""
    import warnings

    from evaluation.analyses.recidivism import RecidivismAnalysis
    from evaluation.publish import recidivism_outputs as ro
    from evaluation.synth.generate import generate_intake
    from evaluation.validation.validate import validate_intake

    v = validate_intake(generate_intake(tmp_path / "intake", seed=11, scale=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled = RecidivismAnalysis("descriptive").fit(v, "all")
    for lang, marker, wrong in (("en", "All programmes pooled", "There is no comparison group"),
                                ("nl", "Alle programma's samen", "Er is geen vergelijkingsgroep")):
        text = " ".join(ro.make_headline(pooled, lang)["sentences"])
        assert marker in text and wrong not in text
