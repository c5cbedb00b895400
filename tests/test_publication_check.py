"""The publication check (evaluation/publish/checks.py): each check finds the case it names and
nothing in a clean table. The cases are those of issue 17, built by hand; expected findings are
hand-worked from the check's rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.contract.results import make_results
from evaluation.publish.checks import BLOCKING_CHECKS, longest_follow_up, publication_check
from evaluation.publish.disclosure import protect_results

BASE = {"programme_id": "A", "analysis": "recidivism", "endpoint": "GENERAL", "notebook": "recidivism"}


def _clean():
    return protect_results(make_results([
        dict(BASE, estimand="hazard_ratio", group="difference", estimate=0.8, ci_lower=0.6, ci_upper=1.05,
             p_value=0.1, n=400, events=150, causal=True),
        dict(BASE, estimand="e_value", group="difference", estimate=1.8, ci_upper=1.0, causal=True),
        dict(BASE, estimand="ph_test", group="difference", estimate=4.32, p_value=0.038),
        dict(BASE, estimand="prevalence_365d_km", group="programme", estimate=0.3, ci_lower=0.25, ci_upper=0.35,
             n=200, events=60),
        dict(BASE, estimand="prevalence_365d_km", group="comparison", estimate=0.35, ci_lower=0.3, ci_upper=0.4,
             n=200, events=70),
        dict(BASE, estimand="prevalence_365d_km", group="difference", estimate=-0.05, ci_lower=-0.14,
             ci_upper=0.04, p_value=0.3, n=400, events=130),
    ]))


def test_a_clean_table_passes_every_check():
    found = publication_check(_clean(), {"A": "matched"}, {"A": 400.0})
    assert found.empty


def test_p_values_outside_0_1_are_found():
    t = _clean()
    t.loc[2, "p_value"] = 4.32  # the synthesis case: the statistic in the p column
    found = publication_check(t)
    assert found["check"].tolist() == ["p_range"] and "p_range" in BLOCKING_CHECKS


def test_a_statistic_under_a_p_label_is_found(monkeypatch):
    # the label "(p)" that issue 17 found on a chi-square statistic; the labels now say what the
    # number is, so the case is rebuilt with the old label
    from evaluation.publish import checks

    monkeypatch.setitem(checks.ESTIMANDS, "ph_test", ("test of proportional hazards (p)", "(p)"))
    found = publication_check(_clean())
    assert found["check"].tolist() == ["p_label"] and found["estimand"].tolist() == ["ph_test"]


def test_an_e_value_of_a_withheld_hazard_ratio_is_found():
    t = _clean()
    t.loc[0, ["estimate", "ci_lower", "ci_upper", "p_value"]] = np.nan
    t.loc[0, "suppressed"] = True
    t.loc[0, "events"] = "<10"
    found = publication_check(t)
    assert found["check"].tolist() == ["gives_back"] and found["estimand"].tolist() == ["e_value"]


def test_a_difference_beside_a_withheld_level_is_found():
    t = _clean()
    t.loc[3, ["estimate", "ci_lower", "ci_upper"]] = np.nan
    t.loc[3, "suppressed"] = True
    t.loc[3, "events"] = "<10"
    found = publication_check(t)
    assert found[["check", "group"]].values.tolist() == [["gives_back", "difference"]]


def test_a_main_estimate_withheld_by_a_subgroup_is_found():
    # the demo case: MENT-TWE's main HR (n 390, events 164) withheld with the note of a compared group,
    # while no compared level is withheld
    t = _clean()
    t.loc[0, ["estimate", "ci_lower", "ci_upper", "p_value"]] = np.nan
    t.loc[0, "suppressed"] = True
    t.loc[0, "note"] = "suppressed: a group it compares is based on fewer than 10 people or events"
    t.loc[1, ["estimate", "ci_upper"]] = np.nan
    t.loc[1, "suppressed"] = True
    t.loc[1, "note"] = "suppressed: derived from an estimate that is suppressed (it would give that estimate back)"
    found = publication_check(t)
    assert found[["check", "estimand"]].values.tolist() == [["over_withheld", "hazard_ratio"]]


def test_causal_labels_must_match_the_design():
    found = publication_check(_clean(), {"A": "descriptive"})
    assert found["check"].unique().tolist() == ["causal_design"]
    assert sorted(found["estimand"]) == ["e_value", "hazard_ratio"]


def test_horizons_beyond_follow_up_are_found():
    found = publication_check(_clean(), follow_up_days={"A": 364.0})  # Rossi: 52 weeks of follow-up
    assert found["check"].unique().tolist() == ["horizon"]
    assert len(found) == 3  # the three prevalence_365d_km rows


def test_longest_follow_up_is_cutoff_minus_earliest_start():
    p = pd.DataFrame({"programme_id": ["A", "A", "B"],
                      "follow_up_start": pd.to_datetime(["2025-01-01", "2025-06-01", "2026-01-01"])})
    assert longest_follow_up(p, "2026-01-01") == {"A": 365.0, "B": 0.0, "all": 365.0}
