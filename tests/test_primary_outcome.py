"""One primary outcome per programme: declared in programmes.yaml, used by headline, costs and synthesis.

The defects this guards against (issue 17, items 7 and 8): the headline's
"statistically significant" rested on whichever test the headline picked (a
crude 1-year Wald test) while Cox, RMST and Fisher tests of the same report
disagreed; costs silently used the 2-year difference beside a 1-year headline,
and claimed a probability that the programme reduces reoffending for a
comparison that was not causal. Reference values are hand-worked (comments)
or taken from the analysis's own published rows.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses.costs import CostsAnalysis
from evaluation.analyses.primary import (
    PrimaryOutcome,
    from_entry,
    mark_roles,
    primary_outcome,
    primary_rows,
)
from evaluation.analyses.recidivism import RecidivismAnalysis
from evaluation.contract.jsonschema_subset import iter_errors
from evaluation.contract.schema import load_contract
from evaluation.publish import costs_outputs, disclosure
from evaluation.publish import recidivism_outputs as ro
from evaluation.stats.proportions import minimum_detectable_difference, power_at_difference

sys.path.insert(0, str(Path(__file__).parent))
import recidivism_sim as rs  # noqa: E402

SETTINGS = {"horizons": [365, 730], "seed": 20260930}


def _validated(data, primary=None, costs=None):
    prog = {"programme_id": "P1", "programme_type": "mentoring"}
    if primary is not None:
        prog["primary_outcome"] = primary
    tables = {"participants": data["participants"], "justice_events": data["justice_events"],
              "detention_periods": data["detention_periods"]}
    if costs is not None:
        tables["costs"] = costs
    return SimpleNamespace(tables=tables, programmes=[prog], cutoff_date=data["cutoff_date"])


def _fit(design, data, primary=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecidivismAnalysis(design, **{**SETTINGS, **kw}).fit(_validated(data, primary), "P1",
                                                                    data["cutoff_date"], warn=False)


@pytest.fixture(scope="module")
def rct_data():
    return rs.simulate(5, n=600, design="rct")


# ---------------------------------------------------------------- the declaration


def test_default_is_the_wodc_two_year_crude_prevalence_of_general_reoffending():
    p = from_entry({"programme_id": "P1"})
    assert (p.endpoint, p.horizon_days, p.estimator, p.declared) == ("GENERAL", 730, "crude", False)
    assert p.estimand == "prevalence_730d_crude"
    d = from_entry({"programme_id": "P1", "primary_outcome": {"horizon_days": 365, "estimator": "kaplan_meier",
                                                              "relevant_difference": 0.05}})
    assert (d.estimand, d.declared, d.relevant_difference) == ("prevalence_365d_km", True, 0.05)


@pytest.mark.parametrize("spec, field", [
    ({"horizon_days": 500}, "horizon_days"),
    ({"estimator": "cox"}, "estimator"),
    ({"endpoint": "ANY"}, "endpoint"),
    ({"relevant_difference": 0}, "relevant_difference"),
    ({"horizon": 730}, "unknown key"),
])
def test_an_invalid_declaration_is_refused_naming_programme_and_field(spec, field):
    with pytest.raises(ValueError, match=rf"programme 'P9', field 'primary_outcome'.*{field}"):
        from_entry({"programme_id": "P9", "primary_outcome": spec})


@pytest.mark.parametrize("spec", [{"horizon_days": 500}, {"estimator": "cox"}, {"relevant_difference": 1.5},
                                  {"horizon": 730}])
def test_the_contract_refuses_an_invalid_declaration(spec):
    """The validator reads programmes.yaml against data_schema/programme.schema.json (planted errors)."""
    schema = load_contract().programme_schema
    entry = {"programme_id": "P1", "name": "x", "programme_type": "mentoring", "primary_outcome": spec}
    good = {"programme_id": "P1", "name": "x", "programme_type": "mentoring",
            "primary_outcome": {"endpoint": "SERIOUS", "horizon_days": 365, "estimator": "crude"}}
    bad = [e for e in iter_errors({"programmes": [entry]}, schema) if "primary_outcome" in str(e)]
    ok = [e for e in iter_errors({"programmes": [good]}, schema) if "primary_outcome" in str(e)]
    assert bad and not ok


def test_all_programmes_share_the_primary_only_when_every_programme_declares_the_same():
    same = {"primary_outcome": {"horizon_days": 365}}
    progs = [{"programme_id": "A", **same}, {"programme_id": "B", **same}]
    assert primary_outcome(progs, "all").estimand == "prevalence_365d_crude"
    progs[1] = {"programme_id": "B"}  # B keeps the default: the synthesis falls back to the default
    assert primary_outcome(progs, "all") == PrimaryOutcome()
    assert primary_outcome(progs, "A").horizon_days == 365 and primary_outcome(progs, "ZZ") == PrimaryOutcome()


# ---------------------------------------------------------------- roles and headline


@pytest.mark.parametrize("primary, estimand", [(None, "prevalence_730d_crude"),
                                               ({"horizon_days": 365, "estimator": "kaplan_meier"},
                                                "prevalence_365d_km")])
def test_exactly_the_primary_rows_are_marked_and_the_headline_uses_them(rct_data, primary, estimand):
    a = _fit("rct", rct_data, primary)
    res = a.results_
    prim = res[res["role"] == "primary"]
    assert set(prim["estimand"]) == {estimand} and set(prim["endpoint"]) == {"GENERAL"}
    assert sorted(prim["group"]) == ["comparison", "difference", "programme"]
    assert (res.loc[res["role"] != "primary", "role"] == "secondary").all()
    d = primary_rows(res).iloc[0]
    num = a.headline_numbers()
    assert (num["difference"], num["ci_lower"], num["ci_upper"], num["p_value"]) == (
        d["estimate"], d["ci_lower"], d["ci_upper"], d["p_value"])
    h = ro.make_headline(a, "en")
    text = " ".join(h["sentences"])
    assert "primary outcome" in text
    assert ("declared in programmes.yaml" in text) == (primary is not None)
    assert ("within one year" in text) == (estimand == "prevalence_365d_km")
    # "significant" is decided by the primary row's own interval, never by another test
    sig = d["ci_lower"] > 0 or d["ci_upper"] < 0
    assert ("is statistically significant" in text) == sig
    nl = " ".join(ro.make_headline(a, "nl")["sentences"])
    assert "primaire uitkomstmaat" in nl and "primary" not in nl


def test_a_declared_primary_outside_the_analysis_is_refused(rct_data):
    with pytest.raises(ValueError, match="field 'primary_outcome'.*SERIOUS"):
        _fit("rct", rct_data, {"endpoint": "SERIOUS"}, endpoints=("GENERAL",))


def test_relevant_difference_power_is_hand_worked():
    # p0 = 0.4, n1 = n0 = 100: se = sqrt(0.24 * 0.02) = 0.0692820; 0.10 / se = 1.443376;
    # minus z_0.975 = 1.959964 gives -0.516588; Phi(-0.516588) = 0.302722 (R: pnorm(0.1 / sqrt(0.4 * 0.6 * 0.02) - qnorm(0.975)))
    assert power_at_difference(0.10, 0.4, 100, 100) == pytest.approx(0.302722, abs=1e-6)
    # at the minimum detectable difference the power is 80% by construction
    mdd = minimum_detectable_difference(0.3, 250, 180)
    assert power_at_difference(mdd, 0.3, 250, 180) == pytest.approx(0.80, abs=1e-9)
    assert math.isnan(power_at_difference(0.1, 0.0, 10, 10))
    with pytest.raises(ValueError):
        power_at_difference(0.0, 0.3, 10, 10)


def test_headline_with_a_relevant_difference_says_whether_the_interval_rules_it_out(rct_data):
    a = _fit("rct", rct_data, {"relevant_difference": 0.5})
    text = " ".join(ro.make_headline(a, "en")["sentences"])
    num = a.headline_numbers()
    # a 50-per-100 reduction lies far outside any interval of this size: it is ruled out
    assert -100 * num["ci_lower"] < 50
    assert "smallest reduction that matters was set at 50 per 100: the interval rules out a reduction that large" \
        in text
    pw = power_at_difference(0.5, num["p_comparison"], num["n_programme"], num["n_comparison"])
    assert f"probability of {round(100 * pw)}%" in text


# ---------------------------------------------------------------- costs follow the primary


def _costs_case(design, data, primary, tmp_path):
    costs = pd.DataFrame({"programme_id": ["P1"], "period_start": [pd.Timestamp("2023-01-01")],
                          "period_end": [pd.Timestamp("2023-12-31")], "category": ["staff"],
                          "amount_eur": [250000.0]})
    a = _fit(design, data, primary)
    published = disclosure.protect_results(a.results_)
    folder = tmp_path / "rec"
    folder.mkdir(exist_ok=True)
    published.to_csv(folder / "results.csv", index=False)
    v = _validated(data, primary, costs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = CostsAnalysis(n_sim=5000, seed=2).fit(v, "P1", data["cutoff_date"], recidivism_results=folder)
    return a, published, c


def test_costs_use_the_declared_primary_not_a_fixed_two_year_difference(rct_data, tmp_path):
    a, published, c = _costs_case("rct", rct_data, {"horizon_days": 365}, tmp_path)
    ce = c.cost_effectiveness_.set_index("estimand")
    row = ce.loc["cost_per_reoffender_avoided_eur"]
    assert "prevalence_365d_crude (GENERAL, primary outcome)" in row["method"]
    d = primary_rows(published).iloc[0]
    assert d["estimand"] == "prevalence_365d_crude" and row["p_value"] == d["p_value"]
    text = " ".join(costs_outputs.costs_outputs(c, "en")["headline"]["sentences"])
    assert "within one year" in text and "within two years" not in text and "2 years" not in text


def test_costs_make_no_effect_claim_for_a_comparison_that_is_not_causal(tmp_path):
    data = rs.simulate(11, n=700, design="observational")
    a, published, c = _costs_case("matched", data, None, tmp_path)
    d = primary_rows(published).iloc[0]
    ce = c.cost_effectiveness_
    if bool(d["causal"]):  # the simulated design balanced well: force the non-causal case on the same rows
        published.loc[published["role"] == "primary", "causal"] = False
        published.to_csv(tmp_path / "rec" / "results.csv", index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = CostsAnalysis(n_sim=5000, seed=2).fit(c_validated(data), "P1", data["cutoff_date"],
                                                     recidivism_results=tmp_path / "rec")
        ce = c.cost_effectiveness_
    assert not ce["causal"].astype(bool).any()
    assert ce["note"].str.contains("not causal").all()
    s: list[str] = []
    status = costs_outputs._effect_sentences(s, ce, "P1", None, "en", "ok")
    assert status == "warning" and len(s) == 1
    assert "not causal" in s[0] and "probability" not in s[0] and "within two years" in s[0]


def c_validated(data):
    costs = pd.DataFrame({"programme_id": ["P1"], "period_start": [pd.Timestamp("2023-01-01")],
                          "period_end": [pd.Timestamp("2023-12-31")], "category": ["staff"],
                          "amount_eur": [250000.0]})
    return _validated(data, None, costs)


def test_a_withheld_primary_gives_no_cost_claim():
    ce = pd.DataFrame([{"programme_id": "P1", "estimand": "cost_per_reoffender_avoided_eur", "estimate": np.nan,
                        "causal": False, "method": "", "note": "not estimable: no recidivism effect with a "
                        "confidence interval for this programme"}])
    s: list[str] = []
    assert costs_outputs._effect_sentences(s, ce, "P1", None, "nl", "ok") == "warning"
    assert s and "niet gepubliceerd of niet te schatten" in s[0]


def test_mark_roles_leaves_other_analyses_alone():
    res = pd.DataFrame([
        {"analysis": "recidivism", "estimand": "prevalence_730d_crude", "endpoint": "GENERAL", "group": "difference"},
        {"analysis": "recidivism", "estimand": "prevalence_730d_crude", "endpoint": "SERIOUS", "group": "difference"},
        {"analysis": "recidivism", "estimand": "hazard_ratio", "endpoint": "GENERAL", "group": "difference"},
        {"analysis": "costs", "estimand": "prevalence_730d_crude", "endpoint": "GENERAL", "group": "difference"},
    ])
    assert list(mark_roles(res, PrimaryOutcome())["role"]) == ["primary", "secondary", "secondary", ""]
