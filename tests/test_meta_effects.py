"""Tests of the assembly of per-programme effects and the synthesis driver (hand-worked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses import synthesis
from evaluation.contract.results import make_results
from evaluation.publish import synthesis_outputs as so
from evaluation.stats import meta

FIX = Path(__file__).resolve().parent / "fixtures"
Z = 1.959963984540054


def programmes(ids=("P1", "P2", "P3")):
    orgs = ["commissioner", "employer", "contractor", "employer"]
    vis = ["risk_management", "social_inclusion", "mixed", "social_inclusion"]
    return [
        {"programme_id": pid, "programme_type": "mentoring", "organisation_model": orgs[i % 4],
         "cooperation_model": "shared", "task_type": "supplementary", "vision_focus": vis[i % 4]}
        for i, pid in enumerate(ids)
    ]


def recid_results():
    return make_results([
        {"programme_id": "P1", "estimand": "hazard_ratio", "endpoint": "GENERAL", "group": "difference",
         "estimate": 0.8, "ci_lower": 0.64, "ci_upper": 1.0, "n": 200, "events": 90, "causal": True},
        {"programme_id": "P1", "estimand": "hazard_ratio", "endpoint": "GENERAL", "group": "subgroup sex=male",
         "estimate": 0.7, "ci_lower": 0.5, "ci_upper": 1.0},
        {"programme_id": "P2", "estimand": "prevalence_730d_crude", "endpoint": "GENERAL", "group": "difference",
         "estimate": -0.05, "ci_lower": -0.15, "ci_upper": 0.05, "n": 150},
        {"programme_id": "P3", "estimand": "hazard_ratio", "endpoint": "GENERAL", "group": "difference",
         "estimate": 0.9, "ci_lower": np.nan, "ci_upper": np.nan},
        {"programme_id": "all", "estimand": "hazard_ratio", "endpoint": "GENERAL", "group": "difference",
         "estimate": 0.85, "ci_lower": 0.7, "ci_upper": 1.0},
        {"programme_id": "P2", "estimand": "hazard_ratio", "endpoint": "SERIOUS", "group": "difference",
         "estimate": 0.85, "ci_lower": 0.7, "ci_upper": 1.0},
    ])


def test_programme_effects_se_from_ci():
    eff = synthesis.programme_effects(recid_results(), programmes(), quarter="2026Q3").set_index(["programme_id", "estimand"])
    p1 = eff.loc[("P1", "hazard_ratio")]
    # hand: log(0.8) = -0.22314; SE = (log 1.0 - log 0.64) / (2 x 1.959964) = 0.446287 / 3.919928 = 0.1138508
    assert p1["yi"] == pytest.approx(np.log(0.8))
    assert p1["sei"] == pytest.approx(-np.log(0.64) / (2 * Z))
    assert p1["sei"] == pytest.approx(0.1138508, abs=1e-6)
    assert p1["organisation_model"] == "commissioner" and p1["quarter"] == "2026Q3"
    p2 = eff.loc[("P2", "prevalence_730d_crude")]
    assert p2["yi"] == -0.05 and p2["sei"] == pytest.approx(0.20 / (2 * Z))  # (0.05 - -0.15) / 3.92
    p3 = eff.loc[("P3", "hazard_ratio")]
    assert np.isnan(p3["yi"]) and "missing" in p3["excluded_reason"]
    # the subgroup row, the pooled "all" row and the SERIOUS endpoint are not programme effects here
    assert len(eff) == 3


def test_programme_effects_refuses_unknown_programme_and_duplicates():
    r = recid_results()
    with pytest.raises(ValueError, match="not described in programmes.yaml"):
        synthesis.programme_effects(r, programmes(("P1", "P2")))
    with pytest.raises(ValueError, match="more than one row"):
        synthesis.programme_effects(r, programmes(), group=None)
    with pytest.raises(ValueError, match="lacks"):
        synthesis.programme_effects(r, [{"programme_id": "P1"}])


def test_volunteer_stopping_effects_hand_computed():
    D = pd.Timestamp
    vol = pd.DataFrame({
        "volunteer_id": ["v1", "v2", "v3"],
        "programme_id": ["P1", "P1", "P2"],
        "start_date": [D("2025-01-01"), D("2025-01-01"), D("2025-06-01")],
        "end_date": [D("2025-07-02"), pd.NaT, pd.NaT],
    })
    eff = synthesis.volunteer_stopping_effects(vol, programmes(), cutoff_date="2026-01-01").set_index("programme_id")
    # P1: 1 stop; person-time (182 + 365) days / 365.25 = 1.497604 years
    py = (182 + 365) / 365.25
    assert eff.loc["P1", "person_years"] == pytest.approx(py)
    assert eff.loc["P1", "yi"] == pytest.approx(np.log(1 / py))
    assert eff.loc["P1", "sei"] == pytest.approx(1.0)
    assert np.isnan(eff.loc["P2", "yi"]) and "no volunteer stopped" in eff.loc["P2", "excluded_reason"]
    assert eff.loc["P3", "n"] == 0 and "person-time" in eff.loc["P3", "excluded_reason"]


def _fixture_effects():
    d = pd.read_csv(FIX / "meta_fixture.csv")
    return pd.DataFrame({
        "programme_id": d["programme_id"], "estimand": "hazard_ratio", "effect_scale": "log_hazard_ratio",
        "yi": d["yi"], "sei": d["sei"], "n": 100, "excluded_reason": "",
        "organisation_model": d["org_model"], "vision_focus": d["vision_focus"],
    })


def test_synthesise_matches_core_functions():
    eff = _fixture_effects()
    syn = synthesis.synthesise(eff)
    res = meta.random_effects(eff["yi"], eff["sei"], knapp_hartung=True)
    pooled = syn["results"].query("estimand == 'hazard_ratio' and group == 'pooled'").iloc[0]
    assert pooled["estimate"] == pytest.approx(np.exp(res.estimate))
    assert pooled["ci_lower"] == pytest.approx(np.exp(res.ci_lower))
    assert pooled["n"] == 1200
    tab = meta.meta_regression(eff["yi"], eff["sei"], eff[["organisation_model"]])
    test_row = syn["results"].query("estimand == 'hazard_ratio_moderator_test' and group == 'organisation_model'").iloc[0]
    assert test_row["p_value"] == pytest.approx(tab["QM_p"].iloc[0])
    assert not syn["results"]["causal"].astype(bool).any()
    s = so.moderation_sentences(syn, "hazard_ratio", "en")
    assert any("organisation model" in x for x in s) and "not proof" in s[-1]
    assert "p = " in s[0]


def test_synthesise_too_few_programmes_is_not_estimable():
    eff = _fixture_effects().iloc[:2]
    syn = synthesis.synthesise(eff)
    row = syn["results"].iloc[0]
    assert np.isnan(row["estimate"]) and "not estimable" in row["note"]
    assert "could not be carried out" in so.moderation_sentences(syn, "hazard_ratio", "en")[0]


def test_forest_plot_returns_sorted_figure():
    eff = _fixture_effects()
    fig = so.forest_plot(eff["programme_id"], eff["yi"], eff["sei"], transform="exp", xlabel="hazard ratio")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # top of the plot (first tick, highest y) = largest effect; the pooled row last
    order = eff.sort_values("yi", ascending=False)["programme_id"].tolist()
    assert labels[:-1] == order and labels[-1].startswith("pooled")
    assert ax.get_xscale() == "log"
