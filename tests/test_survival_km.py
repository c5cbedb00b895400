"""Kaplan-Meier, RMST and RMST difference against R survival 3.5.

Reference values: ``Rscript tests/r/survival_km.R`` on
``tests/fixtures/survival_km.csv`` (written by tests/r/survival_fixtures.py).
Tolerance 1e-6 relative: both sides compute the same closed-form sums in
double precision, so any disagreement beyond rounding means a different formula.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.results import RESULT_COLUMNS
from evaluation.stats.survival import (
    KaplanMeier,
    kaplan_meier_by_group,
    numbers_at_risk,
    rmst_difference,
)

HERE = Path(__file__).resolve().parent
DATA = pd.read_csv(HERE / "fixtures" / "survival_km.csv")
CURVES = pd.read_csv(HERE / "r" / "survival_km_curves.csv")
RMST = pd.read_csv(HERE / "r" / "survival_km_rmst.csv").set_index("variant")
RTOL = 1e-6

VARIANTS = {
    # variant: (conf_type, conf_level, subset, weights?, entry?)
    "plain": ("plain", 0.95, None, False, False),
    "log": ("log", 0.95, None, False, False),
    "loglog": ("log-log", 0.95, None, False, False),
    "loglog90": ("log-log", 0.90, None, False, False),
    "programme": ("log-log", 0.95, "programme", False, False),
    "comparison": ("log-log", 0.95, "comparison", False, False),
    "weighted": ("log-log", 0.95, None, True, False),
    "entry": ("log-log", 0.95, None, False, True),
}


def _fit(variant):
    conf_type, level, subset, weighted, entry = VARIANTS[variant]
    d = DATA if subset is None else DATA[DATA.group == subset]
    return KaplanMeier(conf_level=level, conf_type=conf_type).fit(
        d.time, d.status,
        weights=d.weight if weighted else None,
        entry=d.entry if entry else None,
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_curve_matches_r_survfit(variant):
    km = _fit(variant)
    ref = CURVES[CURVES.variant == variant].reset_index(drop=True)
    tab = km.table_
    np.testing.assert_allclose(tab.time, ref.time, rtol=0)
    for ours, theirs in [("n_risk", "n_risk"), ("n_event", "n_event"), ("n_censor", "n_censor"),
                         ("survival", "surv"), ("std_err", "se_surv")]:
        np.testing.assert_allclose(tab[ours], ref[theirs], rtol=RTOL, err_msg=ours)
    # R gives NA for the log-log interval where S = 1; we give [1, 1] there
    finite = ref.lower.notna() & ref.upper.notna()
    assert finite.sum() > 10
    np.testing.assert_allclose(tab.ci_lower[finite], ref.lower[finite], rtol=RTOL)
    np.testing.assert_allclose(tab.ci_upper[finite], ref.upper[finite], rtol=RTOL)
    ones = (tab.survival == 1) & ~finite
    assert (tab.ci_lower[ones] == 1).all() and (tab.ci_upper[ones] == 1).all()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rmst_matches_r_rmean(variant):
    r = _fit(variant).rmst(30)
    np.testing.assert_allclose(r["estimate"], RMST.loc[variant, "rmean"], rtol=RTOL)
    np.testing.assert_allclose(r["se"], RMST.loc[variant, "se_rmean"], rtol=RTOL)
    assert r["ci_lower"] < r["estimate"] < r["ci_upper"]


def test_rmst_at_event_time_and_beyond_last_time():
    km = _fit("loglog")
    r10 = km.rmst(10)  # 10 is an observed time
    np.testing.assert_allclose(r10["estimate"], RMST.loc["loglog_tau10", "rmean"], rtol=RTOL)
    np.testing.assert_allclose(r10["se"], RMST.loc["loglog_tau10", "se_rmean"], rtol=RTOL)
    with pytest.warns(UserWarning, match="beyond the largest observed time"):
        r60 = km.rmst(60)
    np.testing.assert_allclose(r60["estimate"], RMST.loc["loglog_tau60", "rmean"], rtol=RTOL)
    np.testing.assert_allclose(r60["se"], RMST.loc["loglog_tau60", "se_rmean"], rtol=RTOL)


def test_rmst_hand_worked():
    # times 1, 2, 3 all events, n = 3: S = 2/3 on [1,2), 1/3 on [2,3), 0 after.
    # RMST(3) = 1 + 2/3 + 1/3 = 2.  Areas after t_j: A1 = 1, A2 = 1/3, A3 = 0.
    # var = A1^2 * 1/(3*2) + A2^2 * 1/(2*1) + 0 = 1/6 + 1/18 = 2/9.
    r = KaplanMeier().fit([1, 2, 3], [1, 1, 1]).rmst(3)
    assert r["estimate"] == pytest.approx(2.0, rel=1e-12)
    assert r["se"] == pytest.approx(np.sqrt(2 / 9), rel=1e-12)


def test_survival_at_steps_and_numbers_at_risk():
    km = _fit("loglog")
    tab = km.table_
    out = km.survival_at([0, 4, 4.5, tab.time.max(), tab.time.max() + 1])
    row4 = tab[tab.time == 4].iloc[0]
    assert out.estimate[0] == 1 and out.ci_lower[0] == 1
    assert out.estimate[1] == pytest.approx(row4.survival)
    assert out.estimate[2] == pytest.approx(row4.survival)  # right-continuous step
    assert np.isnan(out.estimate[4])
    # number at risk at 4.5 = people with duration >= 4.5 (no entry)
    assert out.n_risk[2] == (DATA.time >= 4.5).sum()
    nar = numbers_at_risk(DATA.time, DATA.group, [0, 10, 20])
    exp = DATA.groupby("group").time.apply(lambda s: [(s >= t).sum() for t in (0, 10, 20)])
    for g in ("programme", "comparison"):
        assert nar[nar.group == g].n_risk.tolist() == exp[g]


def test_by_group_equals_separate_fits():
    tab = kaplan_meier_by_group(DATA.time, DATA.status, DATA.group)
    for g in ("programme", "comparison"):
        ref = CURVES[CURVES.variant == g].reset_index(drop=True)
        np.testing.assert_allclose(tab[tab.group == g].survival, ref.surv, rtol=RTOL)


def test_rmst_difference_matches_r_groups():
    res = rmst_difference(DATA.time, DATA.status, DATA.group, tau=30, programme_id="all",
                          analysis="recidivism")
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    by = res.set_index("group")
    d = RMST.loc["programme", "rmean"] - RMST.loc["comparison", "rmean"]
    se = np.hypot(RMST.loc["programme", "se_rmean"], RMST.loc["comparison", "se_rmean"])
    assert by.loc["difference", "estimate"] == pytest.approx(d, rel=RTOL)
    assert by.loc["difference", "ci_lower"] == pytest.approx(d - 1.959963984540054 * se, rel=RTOL)
    from scipy.stats import norm
    assert by.loc["difference", "p_value"] == pytest.approx(2 * norm.sf(abs(d) / se), rel=RTOL)
    assert by.loc["programme", "n"] == 40 and not by.causal.any()
    assert (res.programme_id == "all").all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(durations=[1, -2], events=[1, 0]), "durations: negative duration -2.0 at row 1"),
        (dict(durations=[1, 2], events=[1, 2]), "events: value 2.0 at row 1"),
        (dict(durations=[1, np.nan], events=[1, 0]), "durations: missing"),
        (dict(durations=[1, 2], events=[1, 0], weights=[1, 0]), "weights: value 0.0 at row 1"),
        (dict(durations=[1, 2], events=[1, 0], entry=[0, 2]), "entry: entry time 2.0 at row 1"),
        (dict(durations=[1, 2, 3], events=[1, 0]), "events: has 2 values, expected 3"),
    ],
)
def test_bad_input_names_field_and_row(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        KaplanMeier().fit(**kwargs)


ROBUST = pd.read_csv(HERE / "r" / "survival_km_rmst_robust.csv").set_index("variant")
PAIR = np.tile(np.arange(1, 41), 2)  # pair i = row i (programme) and row 40 + i (comparison)
ROBUST_VARIANTS = {
    # R: survfit(..., robust = TRUE, influence = TRUE); see tests/r/survival_km.R
    "weighted_robust": ("log-log", dict(weights=DATA.weight)),
    "entry_weighted_robust": ("log-log", dict(weights=DATA.weight, entry=DATA.entry)),
    "cluster_robust": ("log-log", dict(cluster=PAIR)),
    "weighted_cluster_robust": ("log", dict(weights=DATA.weight, cluster=PAIR)),
}


@pytest.mark.parametrize("variant", list(ROBUST_VARIANTS))
def test_robust_variance_matches_r(variant):
    conf_type, kw = ROBUST_VARIANTS[variant]
    km = KaplanMeier(conf_type=conf_type, variance="robust").fit(DATA.time, DATA.status, **kw)
    ref = CURVES[CURVES.variant == variant].reset_index(drop=True)
    tab = km.table_
    np.testing.assert_allclose(tab.survival, ref.surv, rtol=RTOL)
    finite = ref.se_surv.notna() & ref.lower.notna()
    np.testing.assert_allclose(tab.std_err[finite], ref.se_surv[finite], rtol=RTOL)
    np.testing.assert_allclose(tab.ci_lower[finite], ref.lower[finite], rtol=RTOL)
    np.testing.assert_allclose(tab.ci_upper[finite], ref.upper[finite], rtol=RTOL)
    r = km.rmst(30)
    assert r["estimate"] == pytest.approx(ROBUST.loc[variant, "rmean"], rel=RTOL)
    assert r["se"] == pytest.approx(ROBUST.loc[variant, "se_rmean"], rel=RTOL)


def test_robust_close_to_greenwood_without_weights():
    # Unweighted, one row per cluster: the jackknife and Greenwood variances estimate the
    # same quantity; on 80 rows they agree within 10% (a check of scale, not of formula).
    g = KaplanMeier().fit(DATA.time, DATA.status).rmst(30)["se"]
    r = KaplanMeier(variance="robust").fit(DATA.time, DATA.status).rmst(30)["se"]
    assert abs(r / g - 1) < 0.10


def test_rmst_difference_with_matched_pairs_matches_r():
    res = rmst_difference(DATA.time, DATA.status, DATA.group, tau=30, weights=DATA.weight,
                          cluster=PAIR).set_index("group")
    ref = ROBUST.loc["pair_difference"]
    assert res.loc["difference", "estimate"] == pytest.approx(ref.rmean, rel=RTOL)
    assert res.loc["difference", "se"] == pytest.approx(ref.se_rmean, rel=RTOL)
    assert "clustered" in res.loc["difference", "method"]
    # without clusters the robust SE of the difference is sqrt(var_1 + var_0)
    res2 = rmst_difference(DATA.time, DATA.status, DATA.group, tau=30, weights=DATA.weight,
                           variance="robust").set_index("group")
    se1 = KaplanMeier(variance="robust").fit(
        DATA.time[:40], DATA.status[:40], DATA.weight[:40]).rmst(30)["se"]
    se0 = KaplanMeier(variance="robust").fit(
        DATA.time[40:], DATA.status[40:], DATA.weight[40:]).rmst(30)["se"]
    assert res2.loc["difference", "se"] == pytest.approx(np.hypot(se1, se0), rel=1e-12)
