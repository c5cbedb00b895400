"""ReintegrationAnalysis on hand-made frames (issue 19): hand-worked means and shares, not-estimable rows,
and a planted MAR missingness where complete case is biased and IPW of observation recovers the mean.

Frames have the columns of evaluation.datasets.reintegration.reintegration_frames (brief of issue 19).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.analyses import reintegration as ri
from evaluation.analyses.reintegration import ReintegrationAnalysis
from evaluation.stats.proportions import wilson_interval


def _scores(baseline, end, group="programme", follow_up=None, domain="housing", **extra):
    n = len(baseline)
    df = pd.DataFrame({
        "participant_id": [f"{group[0]}{i}" for i in range(n)], "programme_id": "P1", "group": group,
        "instrument": "zrm_2017", "domain": domain, "score_min": 1, "score_max": 5, "sufficient_from": 4,
        "baseline": np.asarray(baseline, float), "end": np.asarray(end, float),
        "follow_up": np.full(n, np.nan) if follow_up is None else np.asarray(follow_up, float),
        "end_due": True, "follow_up_due": False, "days_to_end": 200.0, "days_to_follow_up": np.nan,
        "age_at_intake": 30.0, "sex": "male", "risk_level": "medium", "contact_hours": np.nan,
        "match_months": np.nan, "cluster": [f"v{i // 2}" for i in range(n)],
    })
    for k, v in extra.items():
        df[k] = v
    return df


def _row(res, estimand, group="programme", endpoint="zrm_2017:housing", missing="complete_case"):
    r = res[(res["estimand"] == estimand) & (res["group"] == group) & (res["endpoint"] == endpoint)]
    if "missing_data" in r and estimand.startswith(("mean_change", "ancova")):
        r = r[r["missing_data"] == missing]
    assert len(r) == 1, r
    return r.iloc[0]


def test_paired_change_and_shares_hand_worked():
    # 12 people: intake 2,2,2,3,3,3,3,1,1,4,4,2; end 3,2,4,3,4,3,5,1,2,4,5,3 (one without an end: NaN)
    base = [2, 2, 2, 3, 3, 3, 3, 1, 1, 4, 4, 2]
    end = [3, 2, 4, 3, 4, 3, 5, 1, 2, 4, 5, np.nan]
    a = ReintegrationAnalysis().fit_frames({"scores": _scores(base, end)}, "P1", warn=False)
    res = a.results_
    change = np.array(end[:11]) - np.array(base[:11])  # 1,0,2,0,1,0,2,0,1,0,1: sum 8, n 11
    m = _row(res, "mean_change_end")
    assert m["estimate"] == pytest.approx(8 / 11) and m["n"] == 11
    se = change.std(ddof=1) / np.sqrt(11)
    q = stats.t.ppf(0.975, 10)
    assert (m["ci_lower"], m["ci_upper"]) == pytest.approx((8 / 11 - q * se, 8 / 11 + q * se))
    imp = _row(res, "share_improved_end")  # 6 of 11 improved by >= 1 level
    assert imp["estimate"] == pytest.approx(6 / 11)
    assert (imp["ci_lower"], imp["ci_upper"]) == pytest.approx(wilson_interval(6, 11))
    assert _row(res, "share_sufficient_intake")["estimate"] == pytest.approx(2 / 12)
    assert _row(res, "share_sufficient_end")["estimate"] == pytest.approx(5 / 11)  # 4,4,5,4,5
    miss = _row(res, "share_missing_end")
    assert miss["estimate"] == pytest.approx(1 / 12) and miss["n_due"] == 12
    # descriptive design: the ANCOVA row says why there is no number
    anc = _row(res, "ancova_difference_end", group="difference")
    assert np.isnan(anc["estimate"]) and "not estimable: no comparison group" in anc["note"]
    assert not anc["causal"]
    # follow-up not due for anyone: not estimable, never a number
    fu = _row(res, "mean_change_follow_up")
    assert np.isnan(fu["estimate"]) and fu["note"].startswith("complete case") and "not estimable" in fu["note"]


def test_small_sample_note_and_empty_frames():
    a = ReintegrationAnalysis().fit_frames({"scores": _scores([2, 3, 2], [3, 3, 4])}, "P1", warn=False)
    assert ri.SMALL_NOTE in _row(a.results_, "mean_change_end")["note"]
    empty = ReintegrationAnalysis().fit_frames({}, "P1", warn=False)
    assert empty.results_.empty and "missing_data" in empty.results_.columns
    assert list(empty.tables_["missingness_model"].columns[:3]) == ["endpoint", "occasion", "term"]


def _mar_frame(seed=1, n=4000):
    """Planted MAR: change depends on baseline; observation of the end depends on the baseline only."""
    rng = np.random.default_rng(seed)
    base = rng.integers(1, 6, n).astype(float)
    # true change: +1 for baseline 1-2, +0.5 mean for 3, 0 for 4-5 (integer scores)
    change = np.where(base <= 2, 1.0, np.where(base == 3, rng.integers(0, 2, n), 0.0))
    end = base + change
    p_obs = 1 / (1 + np.exp(2 - 0.9 * base))  # logistic in the intake score: low scorers (who improve) missing more
    observed = rng.uniform(size=n) < p_obs
    df = _scores(base, np.where(observed, end, np.nan))
    return df, float(change.mean())


def test_ipw_of_observation_recovers_mar_mean():
    df, truth = _mar_frame()
    a = ReintegrationAnalysis(covariates=()).fit_frames({"scores": df}, "P1", warn=False)
    cc = _row(a.results_, "mean_change_end", missing="complete_case")
    ipw = _row(a.results_, "mean_change_end", missing="ipw_observation")
    assert cc["estimate"] < truth - 0.1  # complete case is biased down (improvers are missing)
    assert abs(ipw["estimate"] - truth) < 0.03
    assert ipw["ci_lower"] < truth < ipw["ci_upper"]
    mm = a.tables_["missingness_model"]
    b = mm[(mm["term"] == "baseline") & (mm["occasion"] == "end")].iloc[0]
    assert b["odds_ratio"] > 1 and b["ci_lower"] > 1  # higher intake score -> more often observed


def test_rct_ancova_and_causal_label():
    rng = np.random.default_rng(3)
    n = 300
    bp, bc = rng.integers(1, 5, n).astype(float), rng.integers(1, 5, n).astype(float)
    ep = np.clip(bp + rng.integers(0, 2, n) + (rng.uniform(size=n) < 0.3), 1, 5)
    ec = np.clip(bc + rng.integers(0, 2, n), 1, 5)
    df = pd.concat([_scores(bp, ep), _scores(bc, ec, group="comparison")], ignore_index=True)
    a = ReintegrationAnalysis(design="rct", covariates=()).fit_frames({"scores": df}, "P1", warn=False)
    r = _row(a.results_, "ancova_difference_end", group="difference")
    assert r["causal"] and "HC3" in r["method"] and 0.1 < r["estimate"] < 0.5 and r["ci_lower"] > 0
    # the same value as a direct least-squares fit (hand check of the design matrix)
    X = np.column_stack([np.ones(2 * n), np.r_[np.ones(n), np.zeros(n)], np.r_[bp, bc]])
    beta = np.linalg.lstsq(X, np.r_[ep, ec], rcond=None)[0]
    assert r["estimate"] == pytest.approx(beta[1])
    desc = _row(a.results_, "share_sufficient_intake", group="comparison")
    assert desc["estimate"] == pytest.approx((bc >= 4).mean())


def test_goals_circumstances_peer_mentors():
    goals = pd.DataFrame({
        "goal_id": [f"g{i}" for i in range(8)], "match_id": "m", "participant_id": ["a", "a", "b", "c", "c", "d", "e", "e"],
        "programme_id": "P1", "domain": ["housing"] * 4 + ["finances"] * 4,
        "status": ["achieved", "partly", "achieved", "not_achieved", "dropped", "achieved", "", "achieved"],
        "reviewed": [True] * 6 + [False, True],
    })
    circ = pd.DataFrame({
        "participant_id": list("abcdef"), "programme_id": "P1", "group": "programme", "measure": "housing",
        "intake": "", "follow_up": "", "intake_positive": [1, 0, 0, 1, 0, 1.0],
        "follow_up_positive": [1, 1, np.nan, 1, 0, np.nan], "follow_up_due": [True] * 5 + [False],
    })
    pm = pd.DataFrame({"volunteer_id": [f"v{i}" for i in range(6)], "programme_id": "P1", "start_date": None,
                       "time": [100, 400, 500, 200, 600, 700.0], "event": [1, 0, 0, 1, 0, 0],
                       "work_at_start": [1, 0, np.nan, 1, 1, 0.0], "work_latest": [1, 1, 1, 0, 1, np.nan]})
    a = ReintegrationAnalysis(reference_rate=0.4, reference_source="WODC 2024").fit_frames(
        {"goals": goals, "circumstances": circ, "peer_mentors": pm}, "P1", warn=False)
    res = a.results_
    g = _row(res, "share_goals_achieved", endpoint="goals:all")  # 4 achieved of 7 reviewed
    assert g["estimate"] == pytest.approx(4 / 7) and g["n"] == 7
    assert _row(res, "share_goals_achieved_or_partly", endpoint="goals:housing")["estimate"] == pytest.approx(3 / 4)
    assert _row(res, "share_positive_intake", endpoint="circumstances:housing")["estimate"] == pytest.approx(3 / 6)
    fu = _row(res, "share_positive_follow_up", endpoint="circumstances:housing")  # due: a-e; observed a,b,d,e
    assert fu["estimate"] == pytest.approx(3 / 4) and fu["n_due"] == 5 and "fewer than 10 of fewer than 10 due" in fu["note"]
    # KM: events at 100 (6 at risk) and 200 (5 at risk): S(365) = 5/6 * 4/5 = 2/3
    k = _row(res, "peer_mentor_new_case_1y", endpoint="peer_mentor")
    assert k["estimate"] == pytest.approx(1 / 3) and k["ci_lower"] < 1 / 3 < k["ci_upper"]
    assert _row(res, "peer_mentor_work_start", endpoint="peer_mentor")["estimate"] == pytest.approx(3 / 5)
    ref = _row(res, "peer_mentor_reference_rate", group="reference", endpoint="peer_mentor")
    assert ref["estimate"] == 0.4 and not ref["causal"] and "not a comparison group" in ref["note"]


def test_input_checks():
    with pytest.raises(ValueError, match="design"):
        ReintegrationAnalysis(design="cohort")
    with pytest.raises(ValueError, match="reference_rate"):
        ReintegrationAnalysis(reference_rate=1.5)
    with pytest.raises(ValueError, match="unknown setting"):
        ReintegrationAnalysis().fit({}, "P1", cutoff_date="2026-01-01", config={"nonsense": 1})


def test_matched_design_uses_the_shared_adjustment():
    # selection on age; the end score depends on age; true effect +0.3 (share 0.3 gain one extra level)
    rng = np.random.default_rng(7)
    n = 400
    age = rng.uniform(18, 60, 2 * n)
    treated = rng.uniform(size=2 * n) < 1 / (1 + np.exp(-(age - 35) / 8))
    base = rng.integers(1, 4, 2 * n).astype(float)
    end = np.clip(base + (age < 30) + (treated & (rng.uniform(size=2 * n) < 0.3)), 1, 5)
    prog = _scores(base[treated], end[treated], age_at_intake=age[treated])
    comp = _scores(base[~treated], end[~treated], group="comparison", age_at_intake=age[~treated])
    df = pd.concat([prog, comp], ignore_index=True)
    a = ReintegrationAnalysis(design="matched", covariates=("age_at_intake",)).fit_frames(
        {"scores": df}, "P1", warn=False)
    r = _row(a.results_, "ancova_difference_end", group="difference")
    assert "matching" in r["method"] and "CR1" in r["method"] and "no unmeasured confounding" in r["note"]
    assert r["ci_lower"] < 0.3 < r["ci_upper"]
    assert set(a.tables_["balance"]["covariate"]) >= {"age_at_intake", "baseline"}
    dose = _row(a.results_, "change_per_contact_hour")
    assert not dose["causal"] and "not estimable" in dose["note"]  # no contact hours in these frames


def test_fit_goes_through_the_frames_seam(monkeypatch):
    seen = {}

    def fake(tables, programme_id, cutoff_date, extract):
        seen.update(programme_id=programme_id, cutoff=cutoff_date)
        return {"scores": _scores([2, 3] * 6, [3, 3] * 6)}

    monkeypatch.setattr(ri, "_frames_from", fake)
    a = ReintegrationAnalysis().fit({"participants": pd.DataFrame()}, "P1", cutoff_date="2026-09-30",
                                    config={"design": "descriptive"}, warn=False)
    assert seen == {"programme_id": "P1", "cutoff": pd.Timestamp("2026-09-30")}
    assert _row(a.results_, "mean_change_end")["estimate"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="cutoff_date is required"):
        ReintegrationAnalysis().fit({"participants": pd.DataFrame()}, "P1")


@pytest.mark.parametrize("spec, ok", [({"rate": 0.3, "source": "WODC 2024, tabel 3"}, True),
                                      ({"rate": 1.3, "source": "WODC 2024, tabel 3"}, False),
                                      ({"rate": 0.3}, False),
                                      ({"rate": 0.3, "source": "WODC 2024", "horizon_days": 730}, False)])
def test_the_peer_mentor_reference_rate_in_programmes_yaml(spec, ok, monkeypatch):
    """Contract (planted errors) and use: a programme's own published reference for peer mentors reaches the
    analysis as the reference row, never for all programmes together."""
    from evaluation.contract.jsonschema_subset import iter_errors
    from evaluation.contract.schema import load_contract

    entry = {"programme_id": "P1", "name": "x", "programme_type": "peer_mentoring", "peer_mentor_reference_rate": spec}
    errors = [e for e in iter_errors({"programmes": [entry]}, load_contract().programme_schema)
              if "peer_mentor_reference_rate" in str(e)]
    assert (not errors) == ok, errors
    if not ok:
        return
    validated = type("V", (), {"tables": {}, "programmes": [entry], "cutoff_date": pd.Timestamp("2026-09-30")})()
    seen = {}

    def frames(tables, pid, cutoff, extract):
        seen[pid] = True
        return {"peer_mentors": pd.DataFrame(columns=["time", "event", "work_at_start", "work_latest"])}

    monkeypatch.setattr(ri, "_frames_from", frames)
    a = ReintegrationAnalysis().fit(validated, "P1", warn=False)
    ref = a.results_[a.results_["estimand"] == "peer_mentor_reference_rate"]
    assert ref["estimate"].tolist() == [0.3] and "WODC 2024, tabel 3" in ref["note"].iloc[0]
    b = ReintegrationAnalysis().fit(validated, "all", warn=False)
    assert "peer_mentor_reference_rate" not in set(b.results_["estimand"])
