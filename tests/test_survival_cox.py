"""CoxModel against R survival 3.5 coxph, and the published Rossi table.

Reference values: ``Rscript tests/r/survival_cox.R`` on
``tests/fixtures/survival_cox.csv`` (tied days, weights, clusters, strata) and
``tests/fixtures/survival_counting.csv`` ((start, stop] rows with a
time-varying covariate). Tolerance 1e-6 relative: both fits converge far
below that (R with eps = 1e-11, ours 1e-10 relative change in log-likelihood),
and the variance formulas are the same closed forms.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi

from evaluation.contract.results import RESULT_COLUMNS
from evaluation.stats.survival import CoxModel

HERE = Path(__file__).resolve().parent
COX = pd.read_csv(HERE / "fixtures" / "survival_cox.csv")
CP = pd.read_csv(HERE / "fixtures" / "survival_counting.csv")
REF = pd.read_csv(HERE / "r" / "survival_cox_reference.csv")
RTOL = 1e-6

X3 = ["x1", "x2", "x3"]
VARIANTS = {
    "efron": (COX, dict(ties="efron"), dict(covariates=X3)),
    "breslow": (COX, dict(ties="breslow"), dict(covariates=X3)),
    "efron_w_cluster": (COX, dict(), dict(covariates=X3, weights_col="weight",
                                          cluster_col="cluster")),
    "breslow_w_cluster": (COX, dict(ties="breslow"), dict(covariates=X3, weights_col="weight",
                                                          cluster_col="cluster")),
    "efron_w_robust": (COX, dict(), dict(covariates=X3, weights_col="weight")),
    "efron_cluster": (COX, dict(), dict(covariates=X3, cluster_col="cluster")),
    "efron_strata_w_cluster": (COX, dict(), dict(covariates=X3, weights_col="weight",
                                                 cluster_col="cluster", strata_col="stratum")),
    "counting": (CP, dict(), dict(covariates=["x1", "z"], entry_col="start")),
    "counting_w_cluster": (CP, dict(), dict(covariates=["x1", "z"], entry_col="start",
                                            weights_col="weight", cluster_col="id")),
    "counting_breslow_cluster": (CP, dict(ties="breslow"),
                                 dict(covariates=["x1", "z"], entry_col="start",
                                      cluster_col="id")),
}


def _fit(variant):
    data, init, kw = VARIANTS[variant]
    dur = "time" if data is COX else "stop"
    return CoxModel(**init).fit(data, dur, "status", **kw)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cox_matches_r_coxph(variant):
    m = _fit(variant)
    ref = REF[REF.variant == variant].reset_index(drop=True)
    s = m.summary_
    assert s.term.tolist() == ref.term.tolist()
    np.testing.assert_allclose(s.coef, ref.coef, rtol=RTOL)
    np.testing.assert_allclose(s.se, ref.se, rtol=RTOL)
    if ref.robust_se.notna().all():
        np.testing.assert_allclose(s.robust_se, ref.robust_se, rtol=RTOL)
        # CI uses the robust SE, as summary(coxph(..., cluster=)) does
        np.testing.assert_allclose(np.log(s.ci_upper), s.coef + 1.959963984540054 * s.robust_se,
                                   rtol=1e-9)
    else:
        assert s.robust_se.isna().all()
    assert m.loglik_ == pytest.approx(ref.loglik[0], rel=RTOL)
    assert m.loglik_null_ == pytest.approx(ref.loglik_null[0], rel=RTOL)
    assert m.n_ == ref.n[0] and m.events_ == ref.nevent[0]


def test_rossi_reproduces_published_table():
    # docs/methods.md, section 'Published reference figures' (Rossi et al. 1980 data; Fox & Weisberg's Cox appendix):
    # coefficients to the 4 printed decimals, SE of fin to 4 decimals, LR 33.27 on 7 df.
    rossi = load_rossi()
    cov = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    m = CoxModel().fit(rossi, "week", "arrest", cov)
    published = {"fin": -0.3794, "age": -0.0574, "race": 0.3139, "wexp": -0.1498,
                 "mar": -0.4337, "paro": -0.0849, "prio": 0.0915}
    coef = m.params_
    for term, value in published.items():
        assert coef[term] == pytest.approx(value, abs=0.5e-4), term
    se_fin = m.summary_.set_index("term").loc["fin", "se"]
    assert se_fin == pytest.approx(0.1914, abs=0.5e-4)
    assert m.lr_test_["statistic"] == pytest.approx(33.27, abs=0.005)
    assert m.lr_test_["df"] == 7


def test_to_results_row():
    m = _fit("efron_w_cluster")
    res = m.to_results("x2", programme_id="P1", analysis="recidivism", endpoint="GENERAL")
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    row = res.iloc[0]
    ref = REF[(REF.variant == "efron_w_cluster") & (REF.term == "x2")].iloc[0]
    assert row.estimate == pytest.approx(np.exp(ref.coef), rel=RTOL)
    assert row.ci_lower == pytest.approx(np.exp(ref.coef - 1.959963984540054 * ref.robust_se),
                                         rel=RTOL)
    assert row.programme_id == "P1" and not row.causal
    assert "robust SE clustered on cluster" in row.method
    with pytest.raises(ValueError, match="term 'x9' not in the model"):
        m.to_results("x9")


def test_bad_input_messages():
    bad = COX.copy()
    bad.loc[5, "x1"] = np.nan
    with pytest.raises(ValueError, match=r"covariate 'x1': missing or infinite value at row 5"):
        CoxModel().fit(bad, "time", "status", X3)
    with pytest.raises(ValueError, match=r"column\(s\) \['nope'\] not in the data frame"):
        CoxModel().fit(COX, "time", "status", ["x1", "nope"])
    bad = COX.copy()
    bad.loc[7, "status"] = 3
    with pytest.raises(ValueError, match="status: value 3.0 at row 7"):
        CoxModel().fit(bad, "time", "status", X3)
    with pytest.raises(ValueError, match="ties"):
        CoxModel(ties="exact")


ZPH = pd.read_csv(HERE / "r" / "survival_zph_reference.csv")
ROSSI = pd.read_csv(HERE / "fixtures" / "survival_rossi.csv")
ZPH_VARIANTS = {
    "efron": (COX, dict(), dict(covariates=X3)),
    "breslow": (COX, dict(ties="breslow"), dict(covariates=X3)),
    "efron_weighted": (COX, dict(), dict(covariates=X3, weights_col="weight", robust=False)),
    "efron_strata": (COX, dict(), dict(covariates=X3, strata_col="stratum")),
    "counting": (CP, dict(), dict(covariates=["x1", "z"], entry_col="start")),
    "rossi": (ROSSI, dict(), dict(covariates=["fin", "age", "race", "wexp", "mar", "paro",
                                              "prio"])),
}


@pytest.mark.parametrize("variant", list(ZPH_VARIANTS))
def test_ph_test_matches_r_cox_zph(variant):
    # Rscript tests/r/survival_zph.R: cox.zph(fit, transform="km", terms=TRUE), survival 3.5.3
    data, init, kw = ZPH_VARIANTS[variant]
    dur = {"efron": "time", "counting": "stop", "rossi": "week"}.get(variant, "time")
    ev = "arrest" if variant == "rossi" else "status"
    got = CoxModel(**init).fit(data, dur, ev, **kw).ph_test()
    ref = ZPH[ZPH.variant == variant].reset_index(drop=True)
    assert got.term.tolist() == ref.term.tolist()
    np.testing.assert_allclose(got.statistic, ref.chisq, rtol=RTOL)
    np.testing.assert_allclose(got.p_value, ref.p, rtol=RTOL)
    assert got.df.tolist() == ref.df.tolist()


def test_ph_residuals_match_r_scaled_schoenfeld():
    ref = pd.read_csv(HERE / "r" / "survival_zph_residuals.csv")
    res = _fit("efron").ph_residuals()
    for term in X3:
        r = res[res.term == term].reset_index(drop=True)
        np.testing.assert_allclose(r.time, ref.time, rtol=0)
        np.testing.assert_allclose(r.transformed_time, ref.x, rtol=RTOL, atol=1e-12)
        # within tied times R orders rows by its own sort; compare sorted within time
        ours = r.sort_values(["time", "scaled_residual"]).scaled_residual.to_numpy()
        theirs = ref.sort_values(["time", term])[term].to_numpy()
        np.testing.assert_allclose(ours, theirs, rtol=RTOL)


def test_rescaled_covariate_gives_rescaled_coefficient():
    # Hand identity: multiplying x1 by 1000 divides its coefficient and SE by 1000 and
    # leaves the likelihood unchanged (exercises large linear predictors, no overflow).
    big = COX.assign(x1=COX.x1 * 1000)
    m = CoxModel().fit(big, "time", "status", X3)
    ref = REF[REF.variant == "efron"].set_index("term")
    assert m.params_["x1"] == pytest.approx(ref.loc["x1", "coef"] / 1000, rel=1e-8)
    assert m.loglik_ == pytest.approx(ref.loglik.iloc[0], rel=1e-10)


def test_degenerate_models_raise_or_warn():
    # Like R coxph (tests/r/cox_robust.R, tests/test_cox_robust.py): a constant or collinear
    # covariate is not estimable (R: coefficient NA) and the others are fitted; no events at all
    # is an input error.
    with pytest.warns(UserWarning, match=r"not estimable: k \(covariate is constant\)"):
        m = CoxModel().fit(COX.assign(k=1.0), "time", "status", ["x1", "k"])
    assert not m.estimable_["k"] and np.isnan(m.params_["k"]) and m.estimable_["x1"]
    with pytest.raises(ValueError, match="no events in column 'status'"):
        CoxModel().fit(COX.assign(status=0), "time", "status", X3)
    with pytest.warns(UserWarning, match="singular"):
        m = CoxModel().fit(COX.assign(x4=2 * COX.x1), "time", "status", ["x1", "x4"])
    assert m.estimable_["x1"] and not m.estimable_["x4"]
    # all events in x2 == 1 rows: the likelihood increases without bound in beta_x2
    sep = COX.assign(status=np.where(COX.x2 == 1, COX.status, 0))
    with pytest.warns(UserWarning, match="monotone"):
        m = CoxModel().fit(sep, "time", "status", ["x1", "x2"])
    assert m.reasons_["x2"].startswith("not estimable: monotone likelihood") and m.estimable_["x1"]
    few = COX.iloc[:30]
    with pytest.warns(UserWarning, match="fewer than 10 per covariate"):
        CoxModel().fit(few, "time", "status", X3)
