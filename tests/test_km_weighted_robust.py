"""Weighted and matched Kaplan-Meier: robust (infinitesimal jackknife) variance (issue 17, items 5, 13).

Reference values: ``Rscript tests/r/survival_km_weighted.R`` (R survival 3.5.3,
``survfit(Surv(time, status) ~ 1, weights = w, cluster = ..., robust = TRUE,
influence = TRUE)``) on ``tests/fixtures/survival_km_weighted.csv`` (written by that
script): non-integer IPW-like weights; clusters = rows, matched sets spanning both
groups, and comparison persons repeated across sets (matching with replacement).
The SE of the difference S_programme - S_comparison is R's per-cluster influence
summed over clusters of the difference. Tolerance 1e-6 relative.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.stats.survival import KaplanMeier, rmst_difference, survival_difference

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import recidivism_sim as rs  # noqa: E402

from evaluation.analyses.recidivism import RecidivismAnalysis  # noqa: E402

DATA = pd.read_csv(HERE / "fixtures" / "survival_km_weighted.csv")
REF = pd.read_csv(HERE / "r" / "survival_km_weighted.csv")
TIMES = sorted(REF["time"].unique())
RTOL = 1e-6


def _fit(group, cluster, scale=1.0, variance="robust"):
    d = DATA[DATA["group"] == group]
    return KaplanMeier(conf_type="log", variance=variance).fit(
        d["time"], d["status"], weights=d["w"] * scale, cluster=d[cluster])


def _se_at(km, times):
    tab = km.table_
    idx = np.searchsorted(tab["time"].to_numpy(), times, "right") - 1
    return tab["std_err"].to_numpy()[idx]


@pytest.mark.parametrize("cluster", ["row", "set", "person"])
@pytest.mark.parametrize("group", ["programme", "comparison"])
def test_weighted_robust_km_matches_r(group, cluster):
    ref = REF[(REF["cluster"] == cluster) & (REF["group"] == group)].set_index("time")
    km = _fit(group, cluster)
    at = km.survival_at(TIMES).set_index("time")
    np.testing.assert_allclose(at["estimate"], ref["surv"], rtol=RTOL)
    np.testing.assert_allclose(_se_at(km, TIMES), ref["se_surv"], rtol=RTOL)
    np.testing.assert_allclose(at["ci_lower"], ref["lower"], rtol=RTOL)
    np.testing.assert_allclose(at["ci_upper"], ref["upper"], rtol=RTOL)
    # the per-cluster influence gives the same SE (its sum of squares is the variance)
    se_inf = [float(np.sqrt(np.sum(km.influence_at(t).to_numpy() ** 2))) for t in TIMES]
    np.testing.assert_allclose(se_inf, ref["se_surv"], rtol=RTOL)


@pytest.mark.parametrize("cluster", ["row", "set", "person"])
def test_difference_se_sums_influence_over_clusters_as_r(cluster):
    ref = REF[(REF["cluster"] == cluster) & (REF["group"] == "difference")].set_index("time")
    k1, k0 = _fit("programme", cluster), _fit("comparison", cluster)
    for t in TIMES:
        d = survival_difference(k1, k0, t)
        assert d["estimate"] == pytest.approx(ref.loc[t, "surv"], rel=RTOL)
        assert d["se"] == pytest.approx(ref.loc[t, "se_surv"], rel=RTOL)
        assert d["variance"] == "robust"
    # matched sets span both groups: the clustered SE differs from the independent-groups one
    if cluster == "set":
        indep = np.sqrt(_se_at(k1, [12])[0] ** 2 + _se_at(k0, [12])[0] ** 2)
        assert abs(survival_difference(k1, k0, 12)["se"] / indep - 1) > 0.05


def test_scaling_the_weights_leaves_the_robust_interval_unchanged():
    # weights x4: the robust interval is unchanged; Greenwood (weights as frequencies) narrows
    for cluster in ("row", "set"):
        a, b = _fit("comparison", cluster), _fit("comparison", cluster, scale=4)
        np.testing.assert_allclose(b.table_["ci_lower"], a.table_["ci_lower"], rtol=1e-12)
        np.testing.assert_allclose(b.table_["std_err"], a.table_["std_err"], rtol=1e-12)
    g1 = _fit("comparison", "row", variance="greenwood").survival_at([20]).iloc[0]
    g4 = _fit("comparison", "row", scale=4, variance="greenwood").survival_at([20]).iloc[0]
    assert (g4["ci_upper"] - g4["ci_lower"]) < 0.6 * (g1["ci_upper"] - g1["ci_lower"])


def test_survival_difference_greenwood_and_bad_input():
    k1 = _fit("programme", "row", variance="greenwood")
    k0 = _fit("comparison", "row", variance="greenwood")
    d = survival_difference(k1, k0, 20)
    se = np.sqrt(_se_at(k1, [20])[0] ** 2 + _se_at(k0, [20])[0] ** 2)
    assert d["se"] == pytest.approx(se, rel=1e-12) and d["variance"] == "greenwood"
    assert survival_difference(k1, k0, 0.5)["se"] == 0  # before the first time S = 1 exactly
    with pytest.raises(ValueError, match="variances differ"):
        survival_difference(k1, _fit("comparison", "row"), 20)
    with pytest.raises(ValueError, match="variance='robust'"):
        k1.influence_at(20)


def _analysis(design, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return RecidivismAnalysis(design, endpoints=("GENERAL",), **kw).fit(data, "P1", data["cutoff_date"])


def _rows(a, estimand):
    r = a.results_
    return r[(r["estimand"] == estimand) & (r["endpoint"] == "GENERAL")].set_index("group")


@pytest.mark.parametrize("weighting, replace, on", [("ipw", False, "the person"),
                                                    ("matching", False, "the matched set"),
                                                    ("matching", True, "the person")])
def test_recidivism_weighted_km_rows_use_the_robust_variance(weighting, replace, on):
    a = _analysis("matched", rs.simulate(11, n=300, design="observational"), weighting=weighting, replace=replace)
    e = a.dataset_[a.dataset_["endpoint"] == "GENERAL"]
    cl = e["participant_id"] if on == "the person" else e["cluster"]
    km = {}
    for g in ("programme", "comparison"):
        m = (e["group"] == g).to_numpy()
        km[g] = KaplanMeier(variance="robust").fit(e["time"][m], (e["cnsr"] == 0)[m].astype(int),
                                                   weights=e["weight"][m], cluster=cl[m])
    rows = _rows(a, "prevalence_365d_km")
    for g in ("programme", "comparison"):
        s = km[g].survival_at([365]).iloc[0]
        assert rows.loc[g, "estimate"] == pytest.approx(1 - s["estimate"], rel=1e-12)
        assert rows.loc[g, "ci_lower"] == pytest.approx(1 - s["ci_upper"], rel=1e-12)
        assert rows.loc[g, "ci_upper"] == pytest.approx(1 - s["ci_lower"], rel=1e-12)
        assert f"robust (infinitesimal jackknife) variance clustered on {on}" in rows.loc[g, "method"]
    d = survival_difference(km["programme"], km["comparison"], 365)
    assert rows.loc["difference", "se"] == pytest.approx(d["se"], rel=1e-12)
    assert "Greenwood" not in rows.loc["difference", "method"]
    # the curves published with the report carry the same variance
    tab = a.km_[(a.km_["endpoint"] == "GENERAL") & (a.km_["group"] == "comparison")]
    np.testing.assert_allclose(tab["std_err"].to_numpy(), km["comparison"].table_["std_err"].to_numpy(),
                               rtol=1e-12)
    rm = _rows(a, "rmst_730d")
    assert f"clustered on {on}" in rm.loc["difference", "method"]
    ref = rmst_difference(e["time"], (e["cnsr"] == 0).astype(int), e["group"], 730, weights=e["weight"],
                          cluster=cl).set_index("group")
    assert rm.loc["difference", "ci_lower"] == pytest.approx(ref.loc["difference", "ci_lower"], rel=1e-12)


def test_recidivism_unweighted_designs_keep_greenwood():
    a = _analysis("rct", rs.simulate(12, n=300, design="rct"))
    e = a.dataset_[a.dataset_["endpoint"] == "GENERAL"]
    m = (e["group"] == "comparison").to_numpy()
    s = KaplanMeier().fit(e["time"][m], (e["cnsr"] == 0)[m].astype(int)).survival_at([365]).iloc[0]
    rows = _rows(a, "prevalence_365d_km")
    assert rows.loc["comparison", "ci_lower"] == pytest.approx(1 - s["ci_upper"], rel=1e-12)
    assert "Greenwood variance" in rows.loc["comparison", "method"]
    assert "Greenwood variance" in rows.loc["difference", "method"]
    assert "variance as R survfit rmean" in _rows(a, "rmst_730d").loc["difference", "method"]


@pytest.mark.slow
def test_ipw_prevalence_coverage_over_200_seeds():
    # scripts/bench_ipw_coverage.py: 200 seeds, n = 400; target >= 93% (was 26/30 with Greenwood)
    sys.path.insert(0, str(HERE.parent / "scripts"))
    import bench_ipw_coverage as b

    df = b.run(range(5000, 5200), n=400)
    assert df["comparison_covered"].mean() >= 0.93
