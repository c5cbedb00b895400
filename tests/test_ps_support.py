"""Propensity model with rare levels and separation (issue 17 item 12).

References: R glm on the pooled fixture and an independent R ridge fit (optim) on a separation
fixture, both by tests/r/ps_support_reference.R -> tests/r/ps_support_reference_ps.csv,
ps_support_reference_coef.csv, ps_separation_reference.csv. The rules are in docs/methods.md,
section 'Comparison groups and designs'.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tests.recidivism_sim as rs
from evaluation.analyses.recidivism import RecidivismAnalysis
from evaluation.publish.labels import note_label
from evaluation.stats.designs import (
    _ridge_logit,
    balance_table,
    causal_judgement,
    describe_support,
    design_matrix,
    match_nearest,
    pool_rare_levels,
    propensity_scores,
)

R_DIR = Path(__file__).parent / "r"
COVS = ["age", "sex", "risk_level"]


@pytest.fixture(scope="module")
def rare():
    return pd.read_csv(R_DIR / "ps_support_fixture.csv")


@pytest.fixture(scope="module")
def sep():
    return pd.read_csv(R_DIR / "ps_separation_fixture.csv")


def test_fixture_separates_without_pooling(rare):
    # the trigger of the old fallback: R's unpooled glm lets sex=unknown run off (quasi-separation)
    coef = pd.read_csv(R_DIR / "ps_support_reference_coef.csv").set_index(["model", "term"])["estimate"]
    assert coef[("unpooled", "sex_rawunknown")] > 15
    from statsmodels.discrete.discrete_model import Logit

    X = design_matrix(rare, COVS)
    X.insert(0, "const", 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = Logit(rare["treat"].to_numpy(float), X).fit(disp=0, maxiter=200)
    assert abs(res.params["sex[unknown]"]) > 15 or any("separation" in str(w.message).lower() for w in caught)


def test_rare_level_is_pooled_and_ml_fit_agrees_with_r_glm(rare):
    t = rare["treat"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ridge warning, no other warning
        ps = propensity_scores(rare, COVS, treated=t)
    assert not ps.attrs["penalised"]
    assert ps.attrs["method"] == "logistic regression (maximum likelihood)"
    sup = ps.attrs["support"]
    row = sup[(sup["covariate"] == "sex") & (sup["term"] == "unknown")].iloc[0]
    assert (row["action"], row["into"], row["n"], row["n_programme"], row["n_comparison"]) == (
        "pooled", "male", 5, 5, 0)
    assert len(sup) == 1
    assert describe_support(sup) == [
        "propensity model: sex=unknown pooled into 'male' (fewer than 10 people, programme group only)"]
    # R: glm(treat ~ age + sex_pooled + risk_level) after recoding unknown -> male
    ref = pd.read_csv(R_DIR / "ps_support_reference_ps.csv")
    np.testing.assert_allclose(ps["ps"].to_numpy(), ref["ps"].to_numpy(), atol=1e-6)
    coef = pd.read_csv(R_DIR / "ps_support_reference_coef.csv").set_index(["model", "term"])["estimate"]
    assert ps.attrs["coefficients"]["sex[female]"] == pytest.approx(coef[("pooled", "sex_pooledfemale")], abs=1e-6)


def test_two_rare_levels_pool_into_other_when_that_has_support():
    # 6 + 6 people in two rare levels (each < 10): together 12, in both groups -> "other (pooled)"
    n = 200
    t = np.r_[np.ones(80, bool), np.zeros(120, bool)]
    lev = np.array(["a"] * n, dtype=object)
    lev[[0, 1, 2, 100, 101, 102]] = "b"
    lev[[3, 4, 103, 104, 105, 106]] = "c"
    lev[60:100] = "d"  # 20 programme, 20 comparison: supported
    df = pd.DataFrame({"g": lev, "x": np.arange(n) % 7})
    X, sup = pool_rare_levels(df, ["g", "x"], t)
    assert set(sup["term"]) == {"b", "c"} and set(sup["into"]) == {"other (pooled)"}
    assert X["g[other (pooled)]"].sum() == 12 and "g[b]" not in X and "g[d]" in X
    # a 0/1 column with fewer than 10 ones is left out; a missing indicator in one group only too
    df["flag"] = (np.arange(n) < 4).astype(float)
    df["y"] = np.where(np.arange(n) < 12, np.nan, np.arange(n) % 5)  # 12 missing, all in the programme
    X, sup = pool_rare_levels(df, ["g", "flag", "y"], t)
    assert "flag" not in X and "y_missing" not in X and "y" in X
    msgs = describe_support(sup)
    assert "propensity model: flag left out (flag=1: fewer than 10 people, programme group only)" in msgs
    assert ("propensity model: missing indicator of y left out, missing values set to the observed mean "
            "(12 people missing, programme group only)") in msgs


def test_balance_marks_unsupported_levels_and_they_do_not_decide(rare):
    t = (rare["treat"] == 1).to_numpy()
    ps = propensity_scores(rare, COVS, treated=t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m = match_nearest(ps["ps"], t, caliper_sd=0.2)
        bal = balance_table(rare, COVS, t, weights=m["weight"].to_numpy()).set_index("covariate")
    # 5 unknowns, all in the programme: shown, imbalanced, but unsupported
    assert not bal.loc["sex[unknown]", "supported"] and bal.loc["sex[unknown]", "imbalanced"]
    assert bal.loc[["age", "sex[female]", "risk_level[high]"], "supported"].all()
    causal, why = causal_judgement(bal.reset_index(), None, "matching")
    supported_ok = bool((bal.loc[bal["supported"], "smd_after"].abs() < 0.1).all())
    assert causal == supported_ok
    assert "not judged (fewer than 10 people): sex[unknown]" in why
    assert why.startswith("causal: " if causal else "not causal: imbalance after matching in sex[female]")
    # hand-worked judgement: only the unsupported level is imbalanced -> causal (the old rule, every column
    # deciding, said not causal: MENT-RDM's label flipped on such a level)
    tab = pd.DataFrame({"covariate": ["age", "sex[unknown]"], "supported": [True, False],
                        "smd_after": [-0.05, 0.1005]})
    assert causal_judgement(tab) == (True, "causal: all supported covariates balanced after matching "
                                           "(max |SMD| 0.050); not judged (fewer than 10 people): sex[unknown]")
    tab = pd.DataFrame({"covariate": ["age", "sex[unknown]"], "supported": [True, False],
                        "smd_after": [0.14, 0.3]})
    assert causal_judgement(tab) == (False, "not causal: imbalance after matching in age (SMD 0.140); "
                                            "not judged (fewer than 10 people): sex[unknown]")
    ov = pd.DataFrame({"poor_overlap": [True, False], "share_outside_other_range": [0.2, 0.0]})
    assert causal_judgement(tab.iloc[1:], ov, "weighting") == (
        False, "not causal: poor overlap (20% of participants outside the comparison group's PS range); "
               "not judged (fewer than 10 people): sex[unknown]")


def test_separation_gives_ridge_with_unpenalised_intercept(sep):
    t = sep["treat"] == 1
    with pytest.warns(UserWarning, match="ridge-penalised fit was used"):
        ps = propensity_scores(sep, ["x", "z"], treated=t)
    assert ps.attrs["penalised"] and ps.attrs["penalised_reason"]  # ConvergenceWarning here (statsmodels 0.15)
    assert "intercept unpenalised" in ps.attrs["method"]
    # score equation of an unpenalised intercept: mean PS = treated share (a penalised one would not)
    assert ps["ps"].mean() == pytest.approx(t.mean(), abs=1e-9)
    # against the independent R solution (optim on the same objective)
    ref = pd.read_csv(R_DIR / "ps_separation_reference.csv")
    np.testing.assert_allclose(ps["ps"].to_numpy(), ref.loc[ref["alpha"] == 0.001, "ps"].to_numpy(), atol=2e-4)
    X = np.column_stack([np.ones(len(sep)), sep["x"], sep["z"]])
    lin = X @ _ridge_logit(X, t.to_numpy(float), alpha=10.0)
    np.testing.assert_allclose(1 / (1 + np.exp(-lin)), ref.loc[ref["alpha"] == 10, "ps"].to_numpy(), atol=1e-6)
    # a huge penalty: slopes ~0 and every PS ~ the treated share
    b = _ridge_logit(X, t.to_numpy(float), alpha=1e6)
    assert np.abs(b[1:]).max() < 1e-4
    assert b[0] == pytest.approx(np.log(t.mean() / (1 - t.mean())), abs=1e-6)
    # what the old fit gave (statsmodels, intercept penalised too): mean PS pulled towards 0.5
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    old = GLM(t.to_numpy(float), X, family=families.Binomial()).fit_regularized(alpha=1e3, L1_wt=0.0)
    assert abs(1 / (1 + np.exp(-(X @ old.params))).mean() - t.mean()) > 0.01


def test_recidivism_analysis_pools_and_explains_the_label():
    data = rs.simulate(11, n=500, design="observational")
    p = data["participants"]
    prog = p.index[p["group"] == "programme"][:5]
    p.loc[prog, "sex"] = "unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = RecidivismAnalysis("matched", endpoints=("GENERAL",)).fit(data, "P1", rs.CUTOFF, warn=False)
    assert not a.ps_.attrs["penalised"]
    assert "propensity model: sex=unknown pooled into 'male' (fewer than 10 people, programme group only)" in (
        a.warnings_)
    bal = a.balance_.set_index("covariate")
    assert not bal.loc["sex[unknown]", "supported"]
    supported_ok = bool((bal.loc[bal["supported"], "smd_after"].abs() < 0.1).all())
    assert a.causal_ == (supported_ok and not a.overlap_["poor_overlap"].any())
    assert a.causal_reason_.startswith("causal: " if a.causal_ else "not causal: ")
    note = a.results_["note"].iloc[0]
    assert a.causal_reason_ in note
    nl = note_label(note, "nl")
    assert ("causaal: alle kenmerken met voldoende steun" in nl) or ("niet causaal:" in nl)


def test_adjusted_cox_pools_the_same_rare_levels():
    """The adjusted Cox model used the unpooled covariates, so 5 programme-only people with
    sex=unknown put a term in it whose comparison group had no one: an aliased / separated level.
    Now its model matrix is the pooled one: no sex[unknown] term, and the HR is estimable."""
    from evaluation.stats.designs import pool_rare_levels

    data = rs.simulate(11, n=500, design="observational")
    p = data["participants"]
    prog = p.index[p["group"] == "programme"][:5]
    p.loc[prog, "sex"] = "unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = RecidivismAnalysis("matched", endpoints=("GENERAL",)).fit(data, "P1", rs.CUTOFF, warn=False)
    e = a.dataset_[a.dataset_["endpoint"] == "GENERAL"].reset_index(drop=True)
    X, support = pool_rare_levels(e, a.model_covariates_, e["treated"].to_numpy(float) == 1)
    assert not any("unknown" in c for c in X.columns if c.startswith("sex"))
    assert (support["term"].astype(str).str.contains("unknown")).any()
    adj = a.results_[(a.results_["estimand"] == "hazard_ratio_adjusted") & (a.results_["group"] == "difference")]
    assert np.isfinite(adj["estimate"].iloc[0]) and "not estimable" not in adj["note"].iloc[0]
    # the published adjusted HR is the fit on the pooled matrix, not on the unpooled one (they differ)
    from evaluation.stats.designs import design_matrix

    hrs = {}
    for name, M in (("pooled", X), ("unpooled", design_matrix(e, a.model_covariates_))):
        M = M.reset_index(drop=True)
        M.columns = [f"x{i}" for i in range(M.shape[1])]
        cox, _ = a._cox(e, ["treated", *M.columns], M)
        hrs[name] = float(np.exp(cox.summary_.set_index("term").loc["treated", "coef"]))
    assert adj["estimate"].iloc[0] == pytest.approx(hrs["pooled"], rel=1e-10)
    assert abs(hrs["unpooled"] - hrs["pooled"]) > 1e-6


def test_a_separated_tiny_intake_keeps_scores_strictly_inside_0_1():
    """Found by the property test in tests/test_cox_robust.py on 6 people: a linear predictor beyond 37
    gave a PS of float 1.0 and matching refused it. As R's binomial()$linkinv, eta is bounded at +-30 for
    the probability. Fixture: a converged ML fit (no separation: values 0-3 occur in both groups) whose
    two extreme programme participants (x = 1e6, 2e6) get eta of 47 and more."""
    from evaluation.stats.designs import match_nearest, propensity_scores

    x = [0.0, 1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 1e6, 2e6]
    df = pd.DataFrame({"age_at_intake": x}, index=[f"p{i}" for i in range(len(x))])
    treated = pd.Series([False] * 4 + [True] * 6, index=df.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ps = propensity_scores(df, ["age_at_intake"], treated)
    assert not ps.attrs["penalised"] and ps["distance"].max() > 37  # 1 / (1 + exp(-37)) == 1.0 in float64
    assert 1 / (1 + np.exp(-37.0)) == 1.0
    assert ((ps["ps"] > 0) & (ps["ps"] < 1)).all()
    assert ps["ps"].max() == 1 / (1 + np.exp(-30.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = match_nearest(ps["ps"], treated)  # no longer refused
    assert m["matched"].any()
