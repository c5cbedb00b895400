"""Disclosure control of the published volunteer workforce-flow table (stocks and flows per quarter).

The table is published after controlled rounding to multiples of the threshold
(evaluation.publish.rounding.round_stock_flow, evaluation.publish.workforce.protect_workforce) and audited
with every relation declared (evaluation.publish.rounding.audit_rounding). Reference values are
hand-worked (the dynamic programme of the rounding, the reader's recomputation) or come from
brute-force enumeration; each test says which.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from evaluation.datasets import retention as rds
from evaluation.publish import figures as figs
from evaluation.publish import retention_outputs as rout
from evaluation.publish import workforce as wfo
from evaluation.publish.rounding import audit_rounding, round_stock_flow

COLS = ["active_start", "joiners", "leavers", "active_end"]


def _hand_flow() -> pd.DataFrame:
    # one programme, three quarters; start + joiners - leavers = end in every row, end = next start
    return pd.DataFrame({
        "group": ["P"] * 3, "quarter": ["2025Q1", "2025Q2", "2025Q3"], "partial": [False] * 3,
        "active_start": [30, 13, 16], "joiners": [3, 15, 24], "leavers": [20, 12, 5], "active_end": [13, 16, 35],
        "annual_turnover": [np.nan] * 3,
    })


def _volunteers(seed: int, sizes: dict[str, int], first: str = "2019-01-01", last: str = "2024-12-31",
                mean_years: float = 2.0) -> pd.DataFrame:
    """Volunteers with uniform start dates and exponential durations (ends after the cutoff are unknown)."""
    rng = np.random.default_rng(seed)
    rows = []
    t0, t1 = pd.Timestamp(first), pd.Timestamp(last)
    for prog, n in sizes.items():
        start = t0 + pd.to_timedelta(rng.integers(0, (t1 - t0).days, n), unit="D")
        end = start + pd.to_timedelta(rng.exponential(365.25 * mean_years, n).astype(int) + 1, unit="D")
        rows.append(pd.DataFrame({"volunteer_id": [f"{prog}-{i}" for i in range(n)], "programme_id": prog,
                                  "start_date": start, "end_date": end}))
    return pd.concat(rows, ignore_index=True)


CUTOFF = "2025-06-30"


# ------------------------------------------------------------------------------------------
# the leak of cell suppression, and the rounded table
# ------------------------------------------------------------------------------------------


def test_rounding_keeps_the_relations_and_protects_small_counts():
    """Hand-worked: the stock-flow table of _hand_flow. Cell suppression (removed) left joiners 3 and
    leavers 5 recoverable from the neighbouring stocks; the rounded table keeps every relation and
    leaves every small count at least as uncertain as "<10"."""
    flow = _hand_flow()
    new = round_stock_flow(flow)
    # Controlled rounding by hand (dynamic programme over the stock roundings, cost = total |change|):
    # S0 = 30 and L0 = 20 are multiples and stay. 30 + J0 - S1 = 20 with J0 in {0, 10}, S1 in {10, 20}:
    # (0, 10) costs 3 + 3 = 6, (10, 20) costs 14. Q2 from S1 = 10: J1 = 20, S2 = 20, L1 = 10 costs
    # 5 + 4 + 2 = 11 (total 17; the best alternative reaches S2 = 10 at 19). Q3 from S2 = 20: J2 = 20,
    # L2 = 10, S3 = 30 costs 4 + 5 + 5 = 14 (total 31, tied with S3 = 40, L2 = 0; ties go to the lower stock).
    assert new[COLS].to_numpy().tolist() == [[30, 0, 20, 10], [10, 20, 10, 20], [20, 20, 10, 30]]
    # the relations hold in the published table; every count moved by less than 10
    assert (new["active_start"] + new["joiners"] - new["leavers"] == new["active_end"]).all()
    assert (new["active_end"].iloc[:-1].to_numpy() == new["active_start"].iloc[1:].to_numpy()).all()
    assert ((new[COLS] - flow[COLS]).abs() < 10).all().all()
    # The reader's recomputation now gives the published joiners, 10 - 30 + 20 = 0, which stands for 0..9;
    # the audit (linear programming, chaining and the known totals 42 joiners / 37 leavers declared)
    # confirms that every value 0..9 is consistent with everything published.
    a = audit_rounding(flow, new, window=None).set_index(["quarter", "column"])
    assert a.loc[("2025Q1", "joiners"), ["lower", "upper"]].tolist() == pytest.approx([0, 9])
    # leavers 5 is shown as 10: 1..19 possible
    assert a.loc[("2025Q3", "leavers"), ["lower", "upper"]].tolist() == pytest.approx([1, 19])
    assert a["protected"].all()


def test_rounding_is_optimal_against_brute_force():
    # Reference: enumerate every combination of neighbouring multiples of 10 for a chain of 3
    # quarters, keep those satisfying both identities, take the smallest total |change|.
    rng = np.random.default_rng(7)
    for _ in range(25):
        s0 = int(rng.integers(0, 40))
        j = rng.integers(0, 25, 3)
        lv = np.minimum(rng.integers(0, 25, 3), 0)
        s = [s0]
        for q in range(3):
            lv[q] = min(int(rng.integers(0, 25)), s[-1] + j[q])
            s.append(s[-1] + int(j[q]) - int(lv[q]))
        flow = pd.DataFrame({"group": "G", "quarter": [1, 2, 3], "active_start": s[:-1], "joiners": j,
                             "leavers": lv, "active_end": s[1:]})

        def opts(x: int) -> list[int]:
            lo = 10 * (x // 10)
            return [lo] if lo == x else [lo, lo + 10]

        best = None
        for rs in itertools.product(*[opts(x) for x in s]):
            for rj in itertools.product(*[opts(int(x)) for x in j]):
                rl = [rs[q] + rj[q] - rs[q + 1] for q in range(3)]
                if all(rl[q] in opts(int(lv[q])) for q in range(3)):
                    cost = sum(abs(a - b) for a, b in zip(rs + rj + tuple(rl), s + list(j) + list(lv), strict=True))
                    best = cost if best is None else min(best, cost)
        out = round_stock_flow(flow)
        got = (out[COLS] - flow[COLS]).abs()
        total = int(got[["joiners", "leavers"]].sum().sum() + got["active_start"].sum() + got["active_end"].iloc[-1])
        assert best is not None and total == best


def test_round_stock_flow_checks_input_and_is_idempotent():
    flow = _hand_flow()
    once = round_stock_flow(flow)
    assert round_stock_flow(once)[COLS].equals(once[COLS])
    bad = flow.copy()
    bad.loc[1, "active_start"] = 14  # not the end stock 13 of 2025Q1 (and the row identity breaks)
    with pytest.raises(ValueError, match="row 1"):
        round_stock_flow(bad)
    bad = flow.copy()
    bad.loc[1, ["active_start", "active_end"]] = [14, 17]  # row identity holds, chain broken
    with pytest.raises(ValueError, match=r"group 'P', row 1: active_start 14 differs from active_end 13"):
        round_stock_flow(bad)
    bad = flow.copy()
    bad["joiners"] = bad["joiners"].astype(float)
    bad.loc[0, "joiners"] = 2.5
    with pytest.raises(ValueError, match="'joiners', row 0"):
        round_stock_flow(bad)


# ------------------------------------------------------------------------------------------
# audit on synthetic data
# ------------------------------------------------------------------------------------------


SIZES = {"TINY": 6, "SMALL": 25, "MID": 60, "LARGE": 400}


def _check_published(flow: pd.DataFrame, pub: pd.DataFrame, base: int = 10) -> None:
    vals = pub[COLS].astype(float)
    assert (vals % base == 0).all().all()
    assert ((vals - flow[COLS].to_numpy()).abs() < base).all().all()
    assert (vals["active_start"] + vals["joiners"] - vals["leavers"] == vals["active_end"]).all()
    for _, g in pub.groupby("group"):
        assert (g["active_end"].iloc[:-1].to_numpy() == g["active_start"].iloc[1:].to_numpy()).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_audit_with_relations_passes_on_synthetic_data(seed):
    flow = rds.workforce_flow(_volunteers(seed, SIZES), CUTOFF)
    pub = wfo.protect_workforce(flow)
    _check_published(flow, pub)
    assert pub[COLS].notna().all().all()  # no group had to be blanked
    a = audit_rounding(flow, round_stock_flow(flow))
    assert len(a) > 50  # plenty of counts of 1..9 to protect (TINY and SMALL)
    assert a["protected"].all(), a.loc[~a["protected"]]


def test_window_bounds_lie_inside_exact_bounds():
    # The windowed audit fixes counts outside the window at their true values: a restriction of the
    # reader's feasible set, so its intervals must lie inside the exact (whole-table) intervals.
    flow = rds.workforce_flow(_volunteers(3, {"A": 12, "B": 30}, first="2022-01-01"), CUTOFF)
    pub = round_stock_flow(flow)
    win = audit_rounding(flow, pub, window=1).set_index(["group", "quarter", "column"])
    exact = audit_rounding(flow, pub, window=None).set_index(["group", "quarter", "column"])
    assert len(exact) > 20 and win.index.equals(exact.index)
    assert (win["lower"] >= exact["lower"] - 1e-6).all() and (win["upper"] <= exact["upper"] + 1e-6).all()
    assert exact["protected"].all()


def test_audit_catches_a_pinned_count():
    # The audit must be able to fail: with base 1 (counts published as they are) the reader knows
    # every count, so each count of 1..9 has exactly one possible value.
    flow = pd.DataFrame({"group": "P", "quarter": [1, 2], "active_start": [0, 3], "joiners": [3, 9],
                         "leavers": [0, 0], "active_end": [3, 12]})
    a = audit_rounding(flow, flow, base=1)
    assert set(zip(a["quarter"], a["column"], strict=True)) == {(1, "joiners"), (2, "joiners"), (2, "active_start")}
    assert not a["protected"].any() and (a["n_values"] == 1).all()
    # Base 10: the published table is (0, 0, 0, 0), (0, 10, 0, 10). With the total of 12 joiners known
    # (it is at least 10) and the last stock 12 known, joiners of Q1 = 12 - joiners of Q2, where joiners
    # of Q2 can be 3..12 (1..19 from its rounding, at most the known total): joiners of Q1 in 0..9.
    pub = round_stock_flow(flow)
    assert pub[COLS].to_numpy().tolist() == [[0, 0, 0, 0], [0, 10, 0, 10]]
    b = audit_rounding(flow, pub, window=None).set_index(["quarter", "column"])
    assert b.loc[(1, "joiners"), ["lower", "upper"]].tolist() == pytest.approx([0, 9])
    assert b["protected"].all()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 20))
def test_audit_passes_many_seeds(seed):
    sizes = {"TINY": 4 + seed % 5, "SMALL": 15 + seed, "MID": 50 + 3 * seed, "LARGE": 300 + 20 * seed}
    flow = rds.workforce_flow(_volunteers(seed, sizes, mean_years=1 + seed % 3), CUTOFF)
    pub = round_stock_flow(flow)
    _check_published(flow, pub)
    assert audit_rounding(flow, pub)["protected"].all()


# ------------------------------------------------------------------------------------------
# the published table, figure and warnings
# ------------------------------------------------------------------------------------------


def test_large_programme_keeps_its_cells_and_turnover():
    flow = rds.workforce_flow(_volunteers(5, {"LARGE": 2000, "SMALL": 20}, mean_years=3), CUTOFF)
    pub = wfo.protect_workforce(flow)
    big = pub.loc[pub["group"] == "LARGE"].reset_index(drop=True)
    true = flow.loc[flow["group"] == "LARGE"].reset_index(drop=True)
    assert big[COLS].notna().all().all()
    # every count within 9 of the truth: a stock of several hundred is shown to within about 1-2%
    late = true["active_end"] > 500
    assert late.sum() > 8
    rel = (big.loc[late, "active_end"].astype(float) - true.loc[late, "active_end"]).abs() / true.loc[late, "active_end"]
    assert rel.max() < 0.02
    # turnover from the published counts, shown once four quarters are available and the stock is large
    shown = big["annual_turnover"].notna()
    assert shown.sum() >= 10
    # rounding changes four-quarter leavers by at most 4 * 9 and the mean stock by at most 9
    diff = (big.loc[shown, "annual_turnover"] - true.loc[shown, "annual_turnover"]).abs()
    assert (diff < (36 + 9) / true.loc[shown, ["active_start", "active_end"]].mean(axis=1).clip(lower=50)).all()


def test_turnover_is_computed_from_published_counts():
    flow = rds.workforce_flow(_volunteers(2, SIZES), CUTOFF)
    pub = wfo.protect_workforce(flow)
    for _, g in pub.groupby("group"):
        v = g[COLS].astype(float)
        mean_stock = ((v["active_start"] + v["active_end"]) / 2).rolling(4).mean()
        expected = v["leavers"].rolling(4).sum() / mean_stock
        show = mean_stock >= 50  # 5 x base: below that rounding alone moves turnover by > ~20 points
        assert np.allclose(g.loc[show, "annual_turnover"], expected[show])
        assert g.loc[~show, "annual_turnover"].isna().all()
    # the tiny programme (6 volunteers) never gets a turnover
    assert pub.loc[pub["group"] == "TINY", "annual_turnover"].isna().all()


def test_figure_shows_the_published_counts_only():
    flow = rds.workforce_flow(_volunteers(1, SIZES), CUTOFF)
    pub = wfo.protect_workforce(flow)
    for group in ("all", "SMALL"):
        fig = figs.plot_workforce(flow, group)  # given the raw flow, it still draws the rounded table
        ax = fig.axes[0]
        p = pub.loc[pub["group"] == group]
        line = ax.get_lines()[0].get_ydata()
        np.testing.assert_array_equal(line, p["active_end"].astype(float).to_numpy())
        heights = [r.get_height() for r in ax.patches]
        n = len(p)
        np.testing.assert_array_equal(heights[:n], p["joiners"].astype(float).to_numpy())
        np.testing.assert_array_equal(heights[n:2 * n], -p["leavers"].astype(float).to_numpy())
        drawn = np.abs(np.concatenate([line, heights]))
        assert not ((drawn > 0) & (drawn < 10)).any()  # no small count is drawn
        assert "rounded to multiples of 10" in " ".join(t.get_text() for t in ax.texts)


def test_warnings_use_published_counts_in_both_languages():
    # LARGE: 800 volunteers start in 2021-2022 and nearly all stop during 2024, so the stock falls
    # from several hundred to about 100: a certain fall even after rounding.
    rng = np.random.default_rng(11)
    n = 800
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    end = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    end = end.where(rng.random(n) < 0.85, pd.NaT)
    v = pd.DataFrame({"volunteer_id": [f"L{i}" for i in range(n)], "programme_id": "LARGE", "start_date": start,
                      "end_date": end})
    tiny = _volunteers(4, {"TINY": 5}, first="2023-01-01", last="2023-06-30", mean_years=0.5)
    flow = rds.workforce_flow(pd.concat([v, tiny], ignore_index=True), "2024-12-31")
    en = wfo.workforce_warnings(flow, language="en")
    nl = wfo.workforce_warnings(flow, language="nl")
    assert any(w.startswith("LARGE (2024Q4): ") and "fell by" in w for w in en)
    assert any(w.startswith("alle programma's (2024Q4): ") and "daalde" in w for w in nl)
    assert not any("TINY" in w for w in en + nl)  # 5 volunteers: no sentence about their decline
    # the stated range of declines follows from the published stocks a year apart (true values are
    # within 9 of them): (1 - (now + 9) / (ago - 9), 1 - (now - 9) / (ago + 9)), in whole percents
    pub = wfo.protect_workforce(flow).query("group == 'LARGE'").set_index("quarter")
    ago, now = float(pub.loc["2023Q4", "active_end"]), float(pub.loc["2024Q4", "active_end"])
    lo, hi = int(np.floor(100 * (1 - (now + 9) / (ago - 9)))), int(np.ceil(100 * (1 - (now - 9) / (ago + 9))))
    assert any(f"fell by {lo} to {hi}% over four quarters" in w for w in en)
    true = flow.query("group == 'LARGE'").set_index("quarter")
    share = 1 - true.loc["2024Q4", "active_end"] / true.loc["2023Q4", "active_end"]
    assert lo <= 100 * share <= hi
    with pytest.raises(ValueError, match="language"):
        wfo.workforce_warnings(flow, language="de")


def test_demo_scale_keeps_every_cell(tmp_path):
    from evaluation.synth.generate import generate_intake

    intake = generate_intake(tmp_path / "demo", seed=1, scale=1)
    v = pd.read_csv(intake / "volunteers.csv")
    flow = rds.workforce_flow(v, "2026-09-30")
    vals = flow[COLS].to_numpy()
    assert ((vals > 0) & (vals < 10)).mean() > 0.4  # the old suppression had to hide most of these
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no group blanked by the audit
        pub = wfo.protect_workforce(flow)
    assert pub[COLS].notna().all().all()
    _check_published(flow, pub)
    # the "all programmes" stock stays close to the truth (within 9 of about 100)
    alls = pub["group"] == "all"
    assert (pub.loc[alls, "active_end"].astype(float) - flow.loc[alls, "active_end"]).abs().max() <= 9


def test_headline_workforce_warning_comes_from_the_published_table():
    from evaluation.analyses.retention import RetentionAnalysis
    from evaluation.contract.results import make_results

    rng = np.random.default_rng(11)
    n = 800
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    end = (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")).where(
        rng.random(n) < 0.85, pd.NaT)
    v = pd.DataFrame({"volunteer_id": [f"L{i}" for i in range(n)], "programme_id": "LARGE", "start_date": start,
                      "end_date": end})
    flow = rds.workforce_flow(pd.concat([v, _volunteers(4, {"TINY": 5}, first="2023-01-01", last="2023-06-30",
                                                       mean_years=0.5)], ignore_index=True), "2024-12-31")
    analysis = RetentionAnalysis()
    analysis.results_, analysis.tenure_, analysis.programme_id = make_results([]), pd.DataFrame({"event": np.zeros(50)}), "all"
    analysis.tables_ = {"workforce_flow": flow}
    for language, prefix in (("en", "Workforce warning: all (2024Q4): "),
                             ("nl", "Waarschuwing vrijwilligersbestand: alle programma's (2024Q4): ")):
        head = rout.retention_headline(analysis, language=language)
        assert head["status"] == "warning"
        warn = [s for s in head["sentences"] if s.startswith(prefix)]
        assert len(warn) == 1
        # the same sentence as workforce_warnings gives for the "all programmes" group
        assert warn[0][len(prefix):] == wfo.workforce_warnings(flow, language=language)[0].split("): ", 1)[1]
        assert not any("TINY" in s or "LARGE" in s for s in head["sentences"])  # programme_id "all": only "all"


def test_bounds_solver_and_its_fallback_agree():
    # Hand-worked LP: x0 + x1 = 10 with 0 <= x0, x1 <= 9 gives x0 in [1, 9]; x0 - x2 = 0, x2 in [0, 4]
    # then narrows x0 to [1, 4]. The warm-started HiGHS model and the linprog fallback must agree.
    from scipy.sparse import coo_matrix

    from evaluation.publish.rounding import _BoundsLP

    a = coo_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, -1.0]]))
    b = np.array([10.0, 0.0])
    fast = _BoundsLP(a, b, np.zeros(3), np.array([9.0, 9.0, 4.0]))
    slow = _BoundsLP(a, b, np.zeros(3), np.array([9.0, 9.0, 4.0]))
    slow.highs = None  # force scipy.optimize.linprog
    for lp in (fast, slow):
        assert lp.bounds(0) == pytest.approx((1.0, 4.0))
        assert lp.bounds(1) == pytest.approx((6.0, 9.0))
        assert lp.bounds(0) == pytest.approx((1.0, 4.0))  # re-solving after other objectives gives the same


def test_single_programme_report_rounds_all_and_programme_alike():
    # A report restricted to one programme has "all" rows equal to the programme's rows. Rounded
    # independently they could differ (e.g. joiners 5 as 0 in one and 10 in the other), telling the
    # reader that the count is 1..9; identical counts therefore get the identical rounding.
    flow = rds.workforce_flow(_volunteers(8, {"ONLY": 40}), CUTOFF)
    pub = wfo.protect_workforce(flow)
    a = pub.loc[pub["group"] == "all", COLS].reset_index(drop=True)
    p = pub.loc[pub["group"] == "ONLY", COLS].reset_index(drop=True)
    assert a.equals(p)
    assert audit_rounding(flow, round_stock_flow(flow))["protected"].all()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_demo_scale_audit_other_seeds(tmp_path, seed):
    from evaluation.synth.generate import generate_intake

    intake = generate_intake(tmp_path / "demo", seed=seed, scale=1)
    flow = rds.workforce_flow(pd.read_csv(intake / "volunteers.csv"), "2026-09-30")
    pub = round_stock_flow(flow)
    _check_published(flow, pub)
    a = audit_rounding(flow, pub)
    assert len(a) > 300 and a["protected"].all()
