"""Costs and synthesis use the recidivism estimates of the same run, never a re-estimate with defaults.

The defect this guards against: costs re-ran the recidivism analysis with its
default settings, so a registry with other settings (here IPW weighting and a
2-year serious-offence threshold) gave a costs block whose recidivism inputs
differed from the recidivism report's numbers.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses.costs import CostsAnalysis, cost_per_reoffence_avoided
from evaluation.analyses.recidivism import RecidivismAnalysis
from evaluation.analyses.synthesis import recidivism_inputs
from evaluation.publish import disclosure
from evaluation.publish import recidivism_outputs as ro

sys.path.insert(0, str(Path(__file__).parent))
import recidivism_sim as rs  # noqa: E402

SETTINGS = {"weighting": "ipw", "serious_threshold_years": 2, "horizons": [365, 730], "seed": 20260930}


@pytest.fixture(scope="module")
def case():
    data = rs.simulate(11, n=700, design="observational")
    cutoff = data["cutoff_date"]
    costs = pd.DataFrame({"programme_id": ["P1"], "period_start": [pd.Timestamp("2023-01-01")],
                          "period_end": [pd.Timestamp("2023-12-31")], "category": ["staff"], "amount_eur": [250000.0]})
    validated = {"tables": {"participants": data["participants"], "justice_events": data["justice_events"],
                            "detention_periods": data["detention_periods"], "costs": costs},
                 "programmes": [{"programme_id": "P1", "programme_type": "mentoring"}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_validated = SimpleNamespace(**validated, cutoff_date=cutoff)  # what the recidivism notebook fits
        report = RecidivismAnalysis("matched", **SETTINGS).fit(as_validated, "P1", cutoff, warn=False)
        default = RecidivismAnalysis("matched").fit(as_validated, "P1", cutoff, warn=False)
    published = disclosure.protect_results(report.results_)
    return validated, cutoff, published, default.results_


def _diff(res):
    r = res[(res.estimand == "prevalence_730d_crude") & (res.group == "difference") & (res.endpoint == "GENERAL")]
    return r.iloc[0]


def test_costs_use_the_recidivism_reports_numbers_not_defaults(case, tmp_path):
    validated, cutoff, published, default = case
    rep = _diff(published)
    # the registry's settings matter: with the defaults the effect differs (the old behaviour)
    assert abs(_diff(default)["estimate"] - rep["estimate"]) > 1e-6
    # the run hands over the report's results.csv as written
    folder = tmp_path / "recidivism_results"
    folder.mkdir()
    published.to_csv(folder / "results.csv", index=False)
    a = CostsAnalysis(n_sim=20000, seed=3).fit(validated, "P1", cutoff, recidivism_results=folder)
    ce = a.cost_effectiveness_.set_index("estimand")
    assert ce.loc["cost_per_reoffender_avoided_eur", "p_value"] == rep["p_value"]  # the report's own p-value
    cpp = a.cost_summary_.query("estimand == 'cost_per_active_participant_eur' and period == 'total'")["estimate"]
    expect = cost_per_reoffence_avoided(float(cpp.iloc[0]), rep["estimate"], rep["ci_lower"], rep["ci_upper"],
                                        n_sim=20000, seed=3)
    assert ce.loc["probability_effect_beneficial", "estimate"] == expect["probability_beneficial"]
    # run by hand: the same rows, made with the same settings
    hand = ro.report_results(validated, ["P1"], cutoff, SETTINGS)
    cols = ["estimate", "ci_lower", "ci_upper", "p_value"]
    np.testing.assert_allclose(hand[cols].to_numpy(float), published[cols].to_numpy(float), rtol=1e-12)
    b = CostsAnalysis(n_sim=20000, seed=3).fit(validated, "P1", cutoff, recidivism_results=hand)
    pd.testing.assert_frame_equal(a.cost_effectiveness_, b.cost_effectiveness_)


def test_costs_with_effects_need_the_reports_results(case):
    validated, cutoff, _, _ = case
    with pytest.raises(ValueError, match="never a re-estimate with default settings"):
        CostsAnalysis().fit(validated, "P1", cutoff)


def test_suppressed_effect_is_not_used_and_a_failed_report_is_named(case):
    validated, _, published, _ = case
    hidden = published.copy()
    m = (hidden.estimand == "prevalence_730d_crude") & (hidden.group == "difference")
    hidden.loc[m, ["estimate", "ci_lower", "ci_upper"]] = np.nan  # withheld in the report: not used here
    res, status = recidivism_inputs(hidden, ["P1", "P2"], validated["tables"]["participants"])
    assert status.set_index("programme_id")["status"].to_dict() == {"P1": "ok", "P2": "no_comparison"}
    assert _diff(res)[["estimate"]].isna().all()
    _, status = recidivism_inputs(hidden.iloc[0:0], ["P1"], validated["tables"]["participants"])
    assert status["status"].tolist() == ["failed"] and "no published" in status["reason"].iloc[0]
