"""Degenerate hazard ratios are not published as numbers; E-values; the at-risk clock (issue 17 items 11, 13).

Cases from the issue: "HR 0.00 (0.00-0.00)" and "0,00 0 - ∞" (zero events or complete separation),
"HR 108 (13-909)" from near-separation (one event against thirty), E-values for a randomised trial,
and an E-value row that kept the E-value of the interval limit in ``ci_upper``. The rule is
docs/methods.md, section 'Survival estimators' (item 'Estimability of a hazard ratio'). The
at-risk-clock hazard ratio is checked against R survival 3.5-3 ``coxph`` on the stored fixture
(tests/r/at_risk_clock.R, its data from tests/r/at_risk_clock_fixture.py, output in
tests/r/at_risk_clock.Rout and at_risk_clock_reference.csv).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "r"))
import at_risk_clock_fixture as arc  # noqa: E402
import recidivism_sim as rs  # noqa: E402

from evaluation.analyses.recidivism import RecidivismAnalysis  # noqa: E402
from evaluation.contract.results import make_results  # noqa: E402
from evaluation.publish.checks import BLOCKING_CHECKS, publication_check  # noqa: E402
from evaluation.publish.labels import display_table, note_label  # noqa: E402
from evaluation.publish.site import results_table  # noqa: E402
from evaluation.publish.suppression import protect_results  # noqa: E402
from evaluation.stats.survival import CoxModel, e_value  # noqa: E402
from evaluation.stats.survival.cox import (  # noqa: E402
    MIN_EVENTS_PER_GROUP,
    NOT_ESTIMABLE_FEW_EVENTS,
    NOT_ESTIMABLE_MONOTONE,
    ratio_degenerate,
)

R_DIR = Path(__file__).parent / "r"


def _two_groups(events_1: int, events_0: int, n: int = 40) -> pd.DataFrame:
    """Hand-made: n people per group, the first ``events_k`` of group k with an event at days 1, 2, ...,
    the others censored at day 100."""
    rows = []
    for g, k in ((1, events_1), (0, events_0)):
        for i in range(n):
            rows.append({"time": float(i + 1 + g * 0.5) if i < k else 100.0, "event": int(i < k), "g": float(g)})
    return pd.DataFrame(rows)


def _fit(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxModel().fit(df, "time", "event", ["g"])


def test_zero_events_in_one_group_is_not_estimable():
    # the degenerate fit behind "HR 0.00 (0.00-0.00)": no events in group 1
    m = _fit(_two_groups(0, 30))
    row = m.to_results("g").iloc[0]
    assert np.isnan(row["estimate"]) and np.isnan(row["ci_lower"]) and np.isnan(row["ci_upper"])
    assert row["note"] == NOT_ESTIMABLE_MONOTONE


def test_one_event_against_thirty_is_not_estimable_with_its_reason():
    # near-separation: the fitter converges (HR about 0.03, a finite but meaningless interval);
    # one event in group 1 is below the rule's five
    m = _fit(_two_groups(1, 30))
    assert np.isfinite(m.params_["g"]) and m.params_["g"] < -2  # the fit itself is fine
    row = m.to_results("g", note="pre").iloc[0]
    assert np.isnan(row["estimate"]) and np.isnan(row["p_value"])
    assert row["note"] == "pre; " + NOT_ESTIMABLE_FEW_EVENTS
    assert note_label(NOT_ESTIMABLE_FEW_EVENTS, "nl").startswith("niet te schatten: minder dan vijf")


def test_five_events_per_group_is_published():
    # the boundary of the rule: MIN_EVENTS_PER_GROUP = 5 events in the smaller group is enough
    assert MIN_EVENTS_PER_GROUP == 5
    assert not bool(_fit(_two_groups(4, 30)).estimable_["g"])
    m = _fit(_two_groups(5, 30))
    row = m.to_results("g").iloc[0]
    assert bool(m.estimable_["g"]) and 0 < row["ci_lower"] < row["estimate"] < row["ci_upper"]


def test_ratio_rule_hand_worked():
    assert ratio_degenerate(108, 13, 909)          # the case: upper limit above 200
    assert ratio_degenerate(0.0, 0.0, 0.0)         # printed 0.00 (0.00-0.00)
    assert ratio_degenerate(0.004, 0.001, 0.02)    # a limit below 0.005 prints as 0.00
    assert ratio_degenerate(1.0, 0.09, 11.0)       # interval wider than a factor of 100 (122)
    assert ratio_degenerate(0.5, 0.0, np.inf)      # "0 - ∞"
    assert not ratio_degenerate(0.41, 0.11, 1.6)
    assert not ratio_degenerate(1.0, 0.11, 9.0)    # factor 82
    assert not ratio_degenerate(0.7, np.nan, np.nan)


def _matched(seed=7, n=400):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecidivismAnalysis("matched", endpoints=("GENERAL",)).fit(
            rs.simulate(seed, n=n, design="observational"), "P1", rs.CUTOFF, warn=False)


def test_near_separation_in_the_recidivism_analysis_is_not_published():
    # keep the new cases of only two programme participants (near-separation in the main HR)
    data = rs.simulate(7, n=400, design="observational")
    ev = data["justice_events"]
    prog = set(data["participants"].loc[data["participants"]["group"] == "programme", "participant_id"])
    keep_prog = sorted(set(ev["participant_id"]) & prog)[:2]
    data["justice_events"] = ev[~ev["participant_id"].isin(prog) | ev["participant_id"].isin(keep_prog)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = RecidivismAnalysis("matched", endpoints=("GENERAL",)).fit(data, "P1", rs.CUTOFF, warn=False)
    res = a.results_.set_index("estimand")
    for est in ("hazard_ratio", "hazard_ratio_adjusted", "hazard_ratio_at_risk_clock"):
        r = res.loc[est]
        assert np.isnan(r["estimate"]) and not r["headline_eligible"], est
        assert NOT_ESTIMABLE_FEW_EVENTS in r["note"], est
    assert not {"e_value", "e_value_ci", "ph_test"} & set(res.index)


def test_rct_has_no_e_value_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = RecidivismAnalysis("rct", endpoints=("GENERAL", "SERIOUS")).fit(
            rs.simulate(3, n=500, design="rct"), "P1", rs.CUTOFF, warn=False)
    hr = a.results_[a.results_["estimand"] == "hazard_ratio"]
    assert len(hr) == 2 and np.isfinite(hr["estimate"]).all()
    assert not a.results_["estimand"].isin(["e_value", "e_value_ci"]).any()


def test_e_value_of_the_limit_has_its_own_row():
    res = _matched().results_.set_index("estimand")
    hr, ev, ev_ci = res.loc["hazard_ratio"], res.loc["e_value"], res.loc["e_value_ci"]
    share = None
    for rare in (True, False):  # the analysis picks by the share with an event; one of the two matches
        v = e_value(hr["estimate"], hr["ci_lower"], hr["ci_upper"], rare_outcome=rare)
        if v["e_value"] == pytest.approx(ev["estimate"], rel=1e-12):
            share = v
    assert share is not None
    assert ev_ci["estimate"] == pytest.approx(share["e_value_ci"], rel=1e-12)
    for row in (ev, ev_ci):
        assert np.isnan(row["ci_lower"]) and np.isnan(row["ci_upper"]) and not row["headline_eligible"]
    assert "ci_upper" not in ev["method"]


def test_e_value_of_the_limit_is_withheld_with_its_hazard_ratio():
    base = dict(programme_id="P", analysis="recidivism", endpoint="GENERAL", group="difference", n=40)
    df = make_results([
        dict(base, estimand="hazard_ratio", estimate=0.6, ci_lower=0.4, ci_upper=0.9, events=5),
        dict(base, estimand="e_value", estimate=2.7),
        dict(base, estimand="e_value_ci", estimate=1.5),
    ])
    out = protect_results(df)
    assert out["suppressed"].all() and out["estimate"].isna().all()
    # the E-value rows have no small count of their own: withheld because their source is
    assert "derived from an estimate that is suppressed" in out["note"].iloc[2]
    assert publication_check(out).empty


def test_degenerate_ratio_is_never_shown_as_a_number_and_blocks_publication():
    base = dict(programme_id="P", analysis="recidivism", endpoint="GENERAL", group="difference", n=400,
                events=60, causal=False, note="", p_value=np.nan)
    df = pd.DataFrame([
        dict(base, estimand="hazard_ratio", estimate=0.0, ci_lower=0.0, ci_upper=np.inf),
        dict(base, estimand="rate_ratio", estimate=108.0, ci_lower=13.0, ci_upper=909.0),
        dict(base, estimand="hazard_ratio_adjusted", estimate=0.8, ci_lower=0.6, ci_upper=1.1),
    ])
    found = publication_check(df.assign(suppressed=False))
    assert found["check"].tolist() == ["ratio_zero_or_infinite", "ratio_uninformative"]
    assert "ratio_zero_or_infinite" in BLOCKING_CHECKS
    for lang, word in (("nl", "niet te schatten"), ("en", "not estimable")):
        shown = display_table(df[["estimand", "estimate", "ci_lower", "ci_upper"]], lang)
        cells = shown.iloc[:, 1:].astype(str).to_numpy()
        assert cells[0].tolist() == [word, "", ""] and cells[1].tolist() == [word, "", ""]
        assert "∞" not in str(results_table(df, lang, "t", "P1", max_rows=10)) and "0,00" not in str(results_table(df, lang, "t", "P1", max_rows=10))
        assert word in str(results_table(df, lang, "t", "P1", max_rows=10))
    ok = display_table(df[["estimand", "estimate", "ci_lower", "ci_upper"]], "en").iloc[2].tolist()
    assert ok[1:] == ["0.800", "0.600", "1.100"]


@pytest.mark.parametrize("design", ["rct", "matched"])
def test_at_risk_clock_hazard_ratio_equals_r(design):
    stored = pd.read_csv(R_DIR / "at_risk_clock_data.csv")
    stored = stored[stored["design"] == design].reset_index(drop=True)
    a = arc.analysis(design)
    now = arc.dataset(design)
    # the fixture R read is the dataset the analysis builds
    pd.testing.assert_frame_equal(now.drop(columns="cluster"), stored.drop(columns="cluster"), check_dtype=False)
    assert (now["time_at_risk"] < now["time"]).any()  # detention days make the two clocks differ
    ref = pd.read_csv(R_DIR / "at_risk_clock_reference.csv").set_index(["design", "clock"])
    res = a.results_.set_index("estimand")
    for est, clock in (("hazard_ratio", "time"), ("hazard_ratio_at_risk_clock", "time_at_risk")):
        r, want = res.loc[est], ref.loc[(design, clock)]
        for col, rcol in (("estimate", "hr"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper"),
                          ("p_value", "p_value")):
            assert r[col] == pytest.approx(want[rcol], rel=1e-6), (est, col)
        assert r["n"] == want["n"] and r["events"] == want["events"]
    sens = res.loc["hazard_ratio_at_risk_clock"]
    assert not sens["headline_eligible"] and sens["note"].endswith(
        "sensitivity analysis: time at risk (days in detention not counted)")
    assert "at-risk clock" in sens["method"]


def test_a_between_programme_variance_about_hazard_ratios_is_not_a_ratio():
    """Found in a quarter: the synthesis's tau^2 of the log hazard ratios (0.047, interval 0 - 0.81) was
    blocked as a degenerate ratio; a variance's interval may start at 0. The pooled HR stays a ratio."""
    from evaluation.publish.formatting import is_ratio_estimand

    base = dict(programme_id="all", analysis="synthesis", endpoint="GENERAL", group="between_programmes", n=900,
                events=np.nan, causal=False, note="", p_value=np.nan, suppressed=False)
    df = pd.DataFrame([
        dict(base, estimand="hazard_ratio_tau2", estimate=0.04694, ci_lower=0.0, ci_upper=0.8147),
        dict(base, estimand="hazard_ratio_I2", estimate=0.0, ci_lower=np.nan, ci_upper=np.nan),
        dict(base, estimand="hazard_ratio_pooled", group="pooled", estimate=0.0, ci_lower=0.0, ci_upper=0.3),
    ])
    found = publication_check(df)
    assert found["estimand"].tolist() == ["hazard_ratio_pooled"]
    assert [is_ratio_estimand(e) for e in ("hazard_ratio_tau2", "hazard_ratio_moderator_test",
                                           "hazard_ratio_moderator_ratio", "rate_ratio")] == [False, False, True, True]
