"""Tests for evaluation.stats.designs.

Matching is checked against R MatchIt 4.5.1 (tests/r/matchit_reference.R ->
tests/r/matchit_reference.csv, matchit_reference_ps.csv) on the fixture
tests/r/matchit_fixture.csv (240 units, 68 treated).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.stats.designs import (
    balance_table,
    check_design,
    design_matrix,
    ipw_weights,
    love_plot,
    match_nearest,
    overlap_plot,
    overlap_summary,
    propensity_scores,
)

R_DIR = Path(__file__).parent / "r"


@pytest.fixture(scope="module")
def fixture():
    d = pd.read_csv(R_DIR / "matchit_fixture.csv")
    ref_ps = pd.read_csv(R_DIR / "matchit_reference_ps.csv")
    ref = pd.read_csv(R_DIR / "matchit_reference.csv")
    return d, ref_ps, ref


def test_propensity_scores_agree_with_r_glm(fixture):
    d, ref_ps, _ = fixture
    ps = propensity_scores(d, ["x1", "x2", "x3"], treated=d["treat"] == 1)
    # R: fitted(glm(treat ~ x1 + x2 + x3, family = binomial())); both are the same MLE, so
    # agreement is limited only by the convergence tolerances (1e-8 on the deviance in R).
    np.testing.assert_allclose(ps["ps"].to_numpy(), ref_ps["ps"].to_numpy(), atol=1e-6)
    assert np.allclose(ps["distance"], np.log(ps["ps"] / (1 - ps["ps"])))


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("ratio", [1, 2])
def test_match_nearest_agrees_with_matchit(fixture, replace, ratio):
    d, ref_ps, ref = fixture
    r = ref[(ref["replace"] == replace) & (ref["ratio"] == ratio)].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # some treated are unmatched: expected here
        m = match_nearest(ref_ps["ps"], d["treat"] == 1, caliper_sd=0.2, replace=replace, ratio=ratio)
    # caliper: 0.2 * sd(logit PS) over all units, as MatchIt's std.caliper
    assert m.attrs["caliper"] == pytest.approx(r["caliper"].iloc[0], rel=1e-9)
    # same number matched (treated and controls)
    r_matched = r["weight"] > 0
    assert int(m["matched"].sum()) == int(r_matched.sum())
    assert int((m["matched"] & m["treated"]).sum()) == int((r_matched & (r["treat"] == 1)).sum())
    # same sets: greedy in descending PS order is deterministic (continuous PS, no ties)
    pairs = m.attrs["pairs"]
    ids = d["id"]
    mine = {
        ids[ti]: ";".join(sorted(ids[pairs.loc[pairs["treated_index"] == ti, "control_index"]]))
        for ti in pairs["treated_index"].unique()
    }
    theirs = {
        row.id: ";".join(sorted(row.controls.split(";")))
        for row in r[(r["treat"] == 1) & r["controls"].notna() & (r["controls"] != "")].itertuples()
    }
    assert mine == theirs
    # matching weights as MatchIt (ATT), to numerical precision
    np.testing.assert_allclose(m["weight"].to_numpy(), r["weight"].to_numpy(), atol=1e-9)
    if not replace:  # subclass partitions agree (labels may differ)
        a = pd.Series(m["subclass"].to_numpy(), index=ids).dropna()
        b = r.set_index("id")["subclass"].dropna()
        assert set(a.index) == set(b.index)
        assert pd.crosstab(a, b.reindex(a.index)).astype(bool).sum(axis=1).eq(1).all()


def test_match_nearest_without_caliper_matches_all_treated():
    # hand-worked: logits of PS 0.5, 0.6 (treated) and 0.55, 0.2, 0.7 (controls).
    # largest first: treated 0.6 (logit 0.405) -> nearest control: 0.55 (0.201) vs 0.7 (0.847): 0.55.
    # then treated 0.5 (0) -> remaining 0.2 (-1.386) vs 0.7 (0.847): 0.7.
    ps = pd.Series([0.5, 0.6, 0.55, 0.2, 0.7])
    t = [True, True, False, False, False]
    m = match_nearest(ps, t, caliper_sd=None)
    pairs = m.attrs["pairs"].set_index("treated_index")["control_index"].to_dict()
    assert pairs == {1: 2, 0: 4}
    assert m["weight"].tolist() == [1, 1, 1, 0, 1]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        match_nearest(pd.Series([0.5, 1.0]), [True, False])


def test_ipw_weights_hand_worked():
    ps = pd.Series([0.5, 0.8, 0.2, 0.5])
    t = [True, True, False, False]
    # ATT unstabilised: controls ps/(1-ps) = 0.25 and 1; p = 0.5 so stabilising factor (1-p)/p = 1
    assert ipw_weights(ps, t, stabilise=False).tolist() == [1, 1, 0.25, 1]
    # ATE stabilised: treated p/ps = 0.5/0.5, 0.5/0.8; controls (1-p)/(1-ps) = 0.5/0.8, 0.5/0.5
    np.testing.assert_allclose(ipw_weights(ps, t, estimand="ATE"), [1, 0.625, 0.625, 1])
    w = ipw_weights(pd.Series([0.5, 0.5, 0.1, 0.2, 0.9]), [True, True, False, False, False], truncate_quantile=0.5)
    # control weights (p=0.4: factor 1.5): 1/9*1.5, 0.25*1.5, 9*1.5 -> median 0.375 caps 13.5
    assert w.iloc[4] == pytest.approx(0.375)


def test_balance_table_hand_worked():
    df = pd.DataFrame({"x": [1.0, 3.0, 0.0, 2.0], "b": [1.0, 1.0, 0.0, 1.0]})
    t = [True, True, False, False]
    bal = balance_table(df, ["x", "b"], t).set_index("covariate")
    # x: means 2 and 1; variances 2 and 2; pooled sd sqrt(2): SMD = 1/sqrt(2)
    assert bal.loc["x", "smd_before"] == pytest.approx(1 / np.sqrt(2))
    assert bal.loc["x", "variance_ratio_before"] == pytest.approx(1.0)
    # b: means 1 and 0.5; variances 0 and 0.5; pooled sd 0.5: SMD 1
    assert bal.loc["b", "smd_before"] == pytest.approx(1.0)
    # weights that drop the control with x=0: control means become x=2, b=1 = treated means -> SMD 0
    bal2 = balance_table(df, ["x", "b"], t, weights=[1, 1, 0, 1]).set_index("covariate")
    assert bal2.loc["x", "smd_after"] == pytest.approx(0.0)
    assert bal2.loc["b", "smd_after"] == pytest.approx(0.0)
    assert not bal2["imbalanced"].any()
    # weights that keep only the control with x=0, b=0: SMD x = 2/sqrt(2), b = 1/0.5 (same denominators)
    with pytest.warns(UserWarning, match="SMD"):
        bal3 = balance_table(df, ["x", "b"], t, weights=[1, 1, 1, 0]).set_index("covariate")
    assert bal3.loc["x", "smd_after"] == pytest.approx(np.sqrt(2))
    assert bal3.loc["b", "smd_after"] == pytest.approx(2.0)
    assert bal3["imbalanced"].all()


def test_design_matrix_missing_indicators():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "c": ["x", None, "y", "x"]})
    X = design_matrix(df, ["a", "c"])
    assert X["a_missing"].tolist() == [0, 1, 0, 0]
    assert X["a"].tolist() == [1.0, 8 / 3, 3.0, 4.0]  # mean of observed
    assert "c[missing]" in X.columns and "c[y]" in X.columns and "c[x]" not in X.columns  # x = reference


def test_overlap_summary_warns():
    ps = [0.9, 0.95, 0.5, 0.1, 0.2, 0.3]
    t = [True, True, True, False, False, False]
    with pytest.warns(UserWarning, match="overlap"):
        o = overlap_summary(ps, t)
    assert o.loc[0, "share_outside_other_range"] == pytest.approx(1.0)  # all three above 0.3
    assert o.loc[0, "poor_overlap"]


def test_check_design():
    p = pd.DataFrame({"group": ["programme", "comparison"], "assignment": ["randomised", "observational"],
                      "_row": [2, 3]})
    with pytest.raises(ValueError, match=r"row 3.*assignment"):
        check_design(p, "rct")
    check_design(p, "matched")
    with pytest.raises(ValueError, match="reference_rate"):
        check_design(p, "descriptive")
    check_design(p, "descriptive", reference_rate=0.4)
    with pytest.raises(ValueError, match="comparison persons"):
        check_design(p.iloc[:1], "matched")
    with pytest.raises(ValueError, match="design must be"):
        check_design(p, "quasi")


def test_plots_return_figures(fixture):
    d, ref_ps, _ = fixture
    bal = balance_table(d, ["x1", "x2", "x3"], d["treat"] == 1)
    fig = love_plot(bal)
    assert len(fig.axes) == 1 and len(fig.axes[0].get_yticklabels()) == 3
    fig2 = overlap_plot(ref_ps["ps"], d["treat"] == 1)
    heights = np.array([p.get_height() for p in fig2.axes[0].patches])
    # every bar holds at least 10 people (bins merged where needed: disclosure), and every person is in a bar
    assert (np.abs(heights) >= 10).all()
    treated = (d["treat"] == 1).to_numpy()
    assert heights[heights > 0].sum() == treated.sum() and -heights[heights < 0].sum() == (~treated).sum()
