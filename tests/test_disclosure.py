"""Small-cell suppression, protection of results, numbers at risk and sentences.

Reference values are hand-worked from the rules in the module docstring of
evaluation/disclosure.py (threshold 10 unless stated); each test says how.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.results import make_results
from evaluation.publish.disclosure import (
    DisclosureError,
    audit_suppression,
    check_sentences,
    differencing_audit,
    last_time_with_min_at_risk,
    protect_count,
    protect_numbers_at_risk,
    protect_results,
    protect_sentence,
    suppress_table,
    suppression_mask,
    withhold_pooled,
)


def _lines_ok(mask: pd.DataFrame, by: pd.Series | None = None) -> bool:
    """Every row and every column (within by-groups) has 0 or >= 2 suppressed cells."""
    sup = mask != ""
    groups = [sup] if by is None else [sup[by == g] for g in by.unique()]
    for g in groups:
        if len(g) >= 2 and ((g.sum(axis=0) == 1).any()):
            return False
    if sup.shape[1] >= 2 and (sup.sum(axis=1) == 1).any():
        return False
    return True


def test_one_way_table_with_total_gets_secondary_cell():
    # Hand-worked: published total 88 = 3 + 12 + 48 + 25. "a" = 3 is primary (<10).
    # Alone it could be recovered as 88 - 12 - 48 - 25, so the smallest other
    # non-zero count, b = 12, is suppressed as secondary ("c").
    df = pd.DataFrame({"category": ["a", "b", "c", "d"], "n": [3, 12, 48, 25]})
    out = suppress_table(df, "n")
    assert out["n"].tolist() == ["<10", "c", 48, 25]
    assert out["suppressed"].tolist() == [True, True, False, False]
    # the analysis table is untouched
    assert df["n"].tolist() == [3, 12, 48, 25]


def test_one_way_without_total_has_no_secondary():
    df = pd.DataFrame({"category": ["a", "b", "c"], "n": [3, 12, 48]})
    out = suppress_table(df, "n", totals="none")
    assert out["n"].tolist() == ["<10", 12, 48]


def test_zero_is_shown_and_not_chosen_as_secondary_when_a_count_is_available():
    # Hand-worked: 0 is not a small cell (describes nobody); primary 4; the
    # secondary is the smallest NON-ZERO other cell (30), not the zero.
    df = pd.DataFrame({"n": [0, 4, 30, 55]})
    out = suppress_table(df, "n")
    assert out["n"].tolist() == [0, "<10", "c", 55]
    out0 = suppress_table(df, "n", suppress_zero=True)
    # zero and 4 are both primary: two suppressed cells, nothing more needed
    assert out0["n"].tolist() == ["<10", "<10", 30, 55]


def test_two_way_table_hand_worked_rectangle():
    # Rows R1..R3 x columns X, Y, Z, row and column totals published.
    #        X   Y   Z
    #   R1   3  20  30
    #   R2  15  45  40
    #   R3  22  18  50
    # Primary: R1/X = 3. Column X has one suppressed cell -> candidates R2/X (15),
    # R3/X (22), neither row has a suppressed cell yet -> smallest: R2/X.
    # Row R1 has one -> candidates R1/Y (20), R1/Z (30) -> R1/Y.
    # Row R2 has one (R2/X) -> candidates R2/Y (45) and R2/Z (40); column Y already
    # has exactly one suppressed cell (R1/Y), so R2/Y fixes both lines and is
    # preferred over the smaller R2/Z. Result: the 2x2 rectangle R1-R2 x X-Y;
    # every row and column now has 0 or 2 suppressed cells.
    df = pd.DataFrame({"row": ["R1", "R2", "R3"], "X": [3, 15, 22], "Y": [20, 45, 18], "Z": [30, 40, 50]})
    mask = suppression_mask(df, ["X", "Y", "Z"])
    assert mask.to_numpy().tolist() == [
        ["primary", "secondary", ""],
        ["secondary", "secondary", ""],
        ["", "", ""],
    ]
    out = suppress_table(df, ["X", "Y", "Z"])
    assert out.loc[0, ["X", "Y", "Z"]].tolist() == ["<10", "c", 30]
    assert out.loc[1, ["X", "Y", "Z"]].tolist() == ["c", "c", 40]
    assert out.loc[2, ["X", "Y", "Z"]].tolist() == [22, 18, 50]


def test_suppressed_cell_cannot_be_recovered_from_margins():
    # For the table above, enumerate all non-negative integer tables with the same
    # published margins and the same shown cells: the primary cell must be
    # consistent with more than one value (it is not recoverable).
    x = np.array([[3, 20, 30], [15, 45, 40], [22, 18, 50]])
    mask = suppression_mask(pd.DataFrame(x, columns=list("XYZ")), list("XYZ")).to_numpy() != ""
    rows, cols = x.sum(axis=1), x.sum(axis=0)
    cells = list(zip(*np.nonzero(mask), strict=True))
    feasible = set()
    for a in range(0, 80):
        # one degree of freedom in a 2x2 rectangle: choose R1/X, the rest follows
        t = x.copy()
        t[0, 0] = a
        t[0, 1] = rows[0] - t[0, 2] - t[0, 0]
        t[1, 0] = cols[0] - t[2, 0] - t[0, 0]
        t[1, 1] = rows[1] - t[1, 2] - t[1, 0]
        if (t >= 0).all() and (t.sum(axis=0) == cols).all() and (t.sum(axis=1) == rows).all():
            if 1 <= t[0, 0] <= 9:  # what "<10" tells the reader
                feasible.add(t[0, 0])
    assert sorted(cells) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert feasible == set(range(1, 10))


def test_two_way_random_tables_every_line_has_zero_or_two():
    rng = np.random.default_rng(7)
    for _ in range(30):
        x = rng.integers(0, 40, size=(5, 4))
        df = pd.DataFrame(x, columns=list("abcd"))
        mask = suppression_mask(df, list("abcd"))
        assert _lines_ok(mask)
        # every primary cell is a count 1..9 and every count 1..9 is primary
        assert ((mask == "primary").to_numpy() == ((x > 0) & (x < 10))).all()


def test_by_groups_are_separate_tables():
    # Hand-worked: programme A: 5, 40, 60 -> 5 primary, 40 secondary;
    # programme B: 30, 50 -> nothing (no cross-programme total assumed).
    df = pd.DataFrame({"programme_id": ["A", "A", "A", "B", "B"], "n": [5, 40, 60, 30, 50]})
    out = suppress_table(df, "n", by="programme_id")
    assert out["n"].tolist() == ["<10", "c", 60, 30, 50]
    mask = suppression_mask(df, "n", by="programme_id")
    assert _lines_ok(mask, df["programme_id"])


def test_rates_are_blanked_with_their_counts():
    # Hand-worked: n = 6 (primary) and 25 (secondary, smallest other); the percentages
    # computed from them are blanked; 70 and its 40% are shown.
    df = pd.DataFrame({"group": ["a", "b", "c"], "n": [6, 25, 70], "pct_reoffended": [50.0, 20.0, 40.0]})
    out = suppress_table(df, "n", rate_cols={"pct_reoffended": "n"})
    assert out["n"].tolist() == ["<10", "c", 70]
    assert np.isnan(out["pct_reoffended"][0]) and np.isnan(out["pct_reoffended"][1])
    assert out["pct_reoffended"][2] == 40.0


def test_threshold_is_a_parameter():
    df = pd.DataFrame({"n": [4, 7, 30, 60]})
    out = suppress_table(df, "n", threshold=5)
    # 4 < 5 primary; 7 is the smallest other -> secondary
    assert out["n"].tolist() == ["<5", "c", 30, 60]


def test_bad_counts_are_refused_with_row_and_column():
    with pytest.raises(ValueError, match=r"column 'n', row 1: count 'abc'"):
        suppress_table(pd.DataFrame({"n": [12, "abc"]}), "n")
    with pytest.raises(ValueError, match="negative count"):
        suppress_table(pd.DataFrame({"n": [12, -1]}), "n")
    with pytest.raises(ValueError, match="not in table"):
        suppress_table(pd.DataFrame({"n": [12]}), "m")
    with pytest.raises(ValueError, match="threshold"):
        suppress_table(pd.DataFrame({"n": [12]}), "n", threshold=0)


def test_protect_results():
    res = make_results(
        [
            {"programme_id": "A", "estimand": "prevalence_2y", "estimate": 0.5, "ci_lower": 0.2, "ci_upper": 0.8,
             "p_value": 0.3, "n": 8, "events": 4},
            {"programme_id": "B", "estimand": "prevalence_2y", "estimate": 0.08, "ci_lower": 0.03, "ci_upper": 0.15,
             "p_value": np.nan, "n": 50, "events": 4, "note": "observational"},
            {"programme_id": "C", "estimand": "hazard_ratio", "estimate": 0.8, "ci_lower": 0.6, "ci_upper": 1.1,
             "p_value": 0.2, "n": 300, "events": 120},
            {"programme_id": "D", "estimand": "pooled_rr", "estimate": 0.9, "ci_lower": 0.7, "ci_upper": 1.1,
             "p_value": 0.4, "n": np.nan, "events": np.nan},
        ]
    )
    out = protect_results(res)
    # A: n = 8 < 10 -> everything blanked, n and events shown as "<10", flagged
    assert out.loc[0, "n"] == "<10" and out.loc[0, "events"] == "<10"
    assert out.loc[0, ["estimate", "ci_lower", "ci_upper", "p_value"]].isna().all()
    assert bool(out.loc[0, "suppressed"]) and "fewer than 10" in out.loc[0, "note"]
    # B: n = 50, events 4 -> "<10", and the estimate blanked too (0.08 x 50 would give the 4 events back)
    assert np.isnan(out.loc[1, "estimate"]) and out.loc[1, "n"] == 50 and out.loc[1, "events"] == "<10"
    assert bool(out.loc[1, "suppressed"]) and out.loc[1, "note"].startswith("observational; suppressed")
    # C: untouched
    assert out.loc[2, "n"] == 300 and out.loc[2, "events"] == 120 and out.loc[2, "estimate"] == 0.8
    # D: n unknown (published studies) -> left alone
    assert out.loc[3, "estimate"] == 0.9 and not bool(out.loc[3, "suppressed"])
    # the unpublished variant keeps B's estimate
    loose = protect_results(res, blank_few_events=False)
    assert loose.loc[1, "estimate"] == 0.08 and not bool(loose.loc[1, "suppressed"])
    # input untouched
    assert res.loc[0, "estimate"] == 0.5


def test_protect_results_requires_result_columns():
    with pytest.raises(ValueError, match="no column 'n'"):
        protect_results(pd.DataFrame({"estimate": [1.0]}))


def test_numbers_at_risk():
    # Long table: 25, 12, 9, 1, 0 -> 25, 12, "<10", "<10", 0 (zero stays 0).
    long = pd.DataFrame({"group": ["p"] * 5, "time": [0, 365, 730, 1095, 1460], "n_risk": [25, 12, 9, 1, 0]})
    out = protect_numbers_at_risk(long)
    assert out["n_risk"].tolist() == [25, 12, "<10", "<10", 0]
    assert out["time"].tolist() == [0, 365, 730, 1095, 1460]
    # wide table: groups x times
    wide = pd.DataFrame({"group": ["programme", "comparison"], "0": [40, 38], "365": [10, 9]})
    outw = protect_numbers_at_risk(wide)
    assert outw["365"].tolist() == [10, "<10"]
    # curves stop at the last time with >= 10 at risk
    assert last_time_with_min_at_risk(long["time"], long["n_risk"]) == 365


def test_protect_count_and_sentence():
    assert protect_count(40) == "40"
    assert protect_count(4) == "fewer than 10"
    assert protect_count(4, language="nl") == "minder dan 10"
    assert protect_count(0) == "0"
    assert protect_count("<10") == "fewer than 10"
    s = protect_sentence("{n} participants, of whom {k} reoffended ({pct} %).", {"n": 40, "k": 4}, pct="10")
    assert s == "40 participants, of whom fewer than 10 reoffended (10 %)."
    nl = protect_sentence("{n} deelnemers, van wie {k} opnieuw.", {"n": 40, "k": 4}, language="nl")
    assert nl == "40 deelnemers, van wie minder dan 10 opnieuw."
    with pytest.raises(ValueError, match="not a count"):
        protect_count(-1)


def test_check_sentences():
    check_sentences(["Within 2 years 40 participants were followed.", "Van de 120 deelnemers recidiveerde 30%.",
                     "About 1 in 5 participants reoffended.", "Ongeveer 1 op de 4 deelnemers stopte.",
                     "In 3 programmes 200 volunteers were active."])
    with pytest.raises(DisclosureError, match="3 participants") as exc:
        check_sentences(["Of the 40 people, 3 participants reoffended."])
    assert len(exc.value.findings) == 1
    with pytest.raises(DisclosureError):
        check_sentences("Bij 4 jonge vrouwen werd de begeleiding beëindigd.")
    with pytest.raises(DisclosureError):
        check_sentences("Van de 5 deelnemers in Zwolle stopten er 2.")


def test_complement_recipe_protects_small_non_event_counts():
    # Hand-worked (docstring recipe): A: 35 of 40 reoffended -> 5 did not (primary).
    # Column no_event has one suppressed cell -> smallest other: B (30).
    # Row A has one -> A/events (35). Row B has one -> B/events (20), preferred because
    # column events then has two. C (50, 60) stays shown.
    df = pd.DataFrame({"group": ["A", "B", "C"], "n": [40, 50, 110], "events": [35, 20, 50]})
    parts = df.assign(no_event=df.n - df.events)
    out = suppress_table(parts, ["events", "no_event"])
    assert out["events"].tolist() == ["c", "c", 50]
    assert out["no_event"].tolist() == ["<10", "c", 60]


def test_unprotectable_cell_warns():
    # one-way table whose other cells are unknown (NaN): the "<10" cell equals total - nothing,
    # no secondary cell exists -> warning rather than false reassurance
    df = pd.DataFrame({"n": [4, np.nan, np.nan]})
    with pytest.warns(UserWarning, match="can still be recovered from the published totals"):
        out = suppress_table(df, "n")
    assert out["n"].tolist() == ["<10", None, None]


def test_protection_is_idempotent_and_keeps_non_integer_n():
    res = make_results(
        [
            {"estimand": "prevalence_2y", "estimate": 0.5, "ci_lower": 0.2, "ci_upper": 0.8, "n": 8, "events": 4},
            {"estimand": "ate", "estimate": 0.1, "ci_lower": 0.0, "ci_upper": 0.2, "n": 123.4, "events": 40},
        ]
    )
    once = protect_results(res)
    twice = protect_results(once)
    assert twice["n"].tolist() == ["<10", 123.4]  # a weighted (effective) n is shown as given
    assert twice["note"].tolist() == once["note"].tolist()
    assert twice["suppressed"].tolist() == [True, False]
    # results read back from CSV (all text) are understood as well
    back = protect_results(once.astype({"n": str, "events": str}))
    assert back["n"].tolist() == ["<10", 123.4] and back["events"].tolist() == ["<10", 40]
    nar = protect_numbers_at_risk(protect_numbers_at_risk(pd.DataFrame({"time": [0, 1], "n_risk": [12, 3]})))
    assert nar["n_risk"].tolist() == [12, "<10"]


def test_numbers_at_risk_from_survival_module():
    survival = pytest.importorskip("evaluation.stats.survival")
    # 12 people in "p" followed 100..1200 days, 5 in "c": hand count at t = 0, 600, 1150:
    # p: 12, 7 (600..1200 -> 700,...,1200 plus 600 itself = 7), 1; c: 5, 0, 0
    durations = list(range(100, 1201, 100)) + [50, 60, 70, 80, 90]
    groups = ["p"] * 12 + ["c"] * 5
    nar = survival.numbers_at_risk(durations, groups, [0, 600, 1150])
    raw = nar.set_index(["group", "time"])["n_risk"]
    assert [raw[("p", 0)], raw[("p", 600)], raw[("p", 1150)], raw[("c", 0)]] == [12, 7, 1, 5]
    out = protect_numbers_at_risk(nar).set_index(["group", "time"])["n_risk"]
    assert out[("p", 0)] == 12
    assert out[("p", 600)] == "<10" and out[("p", 1150)] == "<10"
    assert out[("c", 0)] == "<10" and out[("c", 600)] == 0


def test_audit_bounds_hand_worked_rectangle():
    # Rectangle of the two-way example: a = R1/X (primary, 1..9), secondary cells >= 10.
    # Published margins give R1/Y = 23 - a, R2/X = 18 - a, R2/Y = 42 + a.
    # R2/X >= 10 -> a <= 8; so a in [1, 8], R1/Y in [15, 22], R2/X in [10, 17], R2/Y in [43, 50].
    df = pd.DataFrame({"X": [3, 15, 22], "Y": [20, 45, 18], "Z": [30, 40, 50]})
    a = audit_suppression(df, ["X", "Y", "Z"]).set_index(["row", "column"])
    assert a.loc[(0, "X"), ["lower", "upper"]].tolist() == pytest.approx([1, 8])
    assert a.loc[(0, "Y"), ["lower", "upper"]].tolist() == pytest.approx([15, 22])
    assert a.loc[(1, "X"), ["lower", "upper"]].tolist() == pytest.approx([10, 17])
    assert a.loc[(1, "Y"), ["lower", "upper"]].tolist() == pytest.approx([43, 50])
    assert not a["exact"].any()


def test_two_small_cells_that_pin_each_other_get_a_third():
    # Hand-worked: one-way table with total 128 = 9 + 9 + 50 + 60. The two primaries satisfy
    # "two per line", but a + b = 18 with a, b <= 9 forces a = b = 9. The audit finds this and
    # suppresses the smallest non-small cell (50): then a + b + c = 68 with c >= 10, a, b in 1..9.
    df = pd.DataFrame({"n": [9, 9, 50, 60]})
    before = audit_suppression(df, "n", mask=suppression_mask(df, "n", audit=False))
    assert before["exact"].all()
    out = suppress_table(df, "n")
    assert out["n"].tolist() == ["<10", "<10", "c", 60]
    after = audit_suppression(df, "n")
    assert not after["exact"].any()
    assert after.loc[0, ["lower", "upper"]].tolist() == pytest.approx([1, 9])


def test_six_cycle_exposure_is_repaired():
    # Found by the random audit: the two-per-line pass leaves a 6-cycle through three
    # primaries at their upper bound, which pins them (9, 8, 9). The audit adds a rectangle.
    x = np.array([[17, 39, 15], [10, 9, 33], [8, 24, 9], [32, 28, 25], [17, 14, 37]])
    df = pd.DataFrame(x, columns=list("abc"))
    naive = audit_suppression(df, list("abc"), mask=suppression_mask(df, list("abc"), audit=False))
    assert naive.loc[naive["status"] == "primary", "exact"].any()
    audited = audit_suppression(df, list("abc"))
    assert not audited.loc[audited["status"] == "primary", "exact"].any()
    assert _lines_ok(suppression_mask(df, list("abc")))


def _exposed_without_warning(seed: int, n_tables: int) -> tuple[int, int]:
    import warnings

    rng = np.random.default_rng(seed)
    silent, primaries = 0, 0
    for _ in range(n_tables):
        x = rng.integers(0, 40, size=(rng.integers(2, 6), rng.integers(1, 5)))
        df = pd.DataFrame(x, columns=[f"c{j}" for j in range(x.shape[1])])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mask = suppression_mask(df, list(df.columns))
        a = audit_suppression(df, list(df.columns), mask=mask)
        prim = a[a["status"] == "primary"]
        primaries += len(prim)
        if prim["exact"].any() and not caught:
            silent += 1
    return silent, primaries


def test_no_silent_exposure_quick():
    # Property: after suppression, either no primary cell can be pinned by a reader, or a
    # warning was given. 15 random tables (the slow test runs 400).
    silent, primaries = _exposed_without_warning(11, 15)
    assert primaries > 0 and silent == 0


@pytest.mark.slow
def test_no_silent_exposure_many_tables():
    silent, primaries = _exposed_without_warning(12, 400)
    assert primaries > 500 and silent == 0


def test_stock_flow_relation_hand_worked():
    # Per row: active_start + joiners - leavers - active_end = 0 (no totals across rows).
    # Row 0: 40 + 4 - 12 - 32. joiners = 4 is primary; alone in its relation it would be
    #   32 - 40 + 12 = 4, so the smallest other cell (leavers 12) is secondary; then the reader
    #   knows joiners = leavers - 8 with leavers >= 10: joiners in 2..9 (not pinned).
    # Row 1: 32 + 9 - 1 - 40. Two primaries: joiners - leavers = 8 with both in 1..9 pins
    #   joiners = 9 and leavers = 1; the audit suppresses the smallest other cell of the relation
    #   (active_start 32): then joiners can be 1..9 again.
    df = pd.DataFrame({"quarter": ["Q1", "Q2"], "active_start": [40, 32], "joiners": [4, 9], "leavers": [12, 1],
                       "active_end": [32, 40]})
    cols = ["active_start", "joiners", "leavers", "active_end"]
    rel = [{"active_start": 1, "joiners": 1, "leavers": -1, "active_end": -1}]
    out = suppress_table(df, cols, totals="none", relations=rel)
    assert out.loc[0, cols].tolist() == [40, "<10", "c", 32]
    assert out.loc[1, cols].tolist() == ["c", "<10", "<10", 40]
    a = audit_suppression(df, cols, totals="none", relations=rel).set_index(["row", "column"])
    assert a.loc[(0, "joiners"), ["lower", "upper"]].tolist() == pytest.approx([2, 9])
    assert a.loc[(1, "joiners"), ["lower", "upper"]].tolist() == pytest.approx([1, 9])
    assert not a["exact"].any()
    # without the relation, nothing but the primaries would be hidden (and they would be recoverable)
    plain = suppress_table(df, cols, totals="none")
    assert plain.loc[0, cols].tolist() == [40, "<10", 12, 32]
    with pytest.raises(ValueError, match="not count columns"):
        suppress_table(df, cols, totals="none", relations=[{"active_start": 1, "stock": -1}])


def test_protect_results_blanks_a_difference_that_would_give_a_blanked_level_back():
    """Hand-worked: programme 8 of 83 (blanked), comparison 30 of 100 (0.30), difference 0.096 - 0.30.
    Publishing the difference and the comparison would give 0.096 back, and x 83 the 8 events."""
    rows = [{"programme_id": "P", "analysis": "recidivism", "estimand": "prevalence_365d_crude",
             "endpoint": "GENERAL", "group": g, "estimate": e, "ci_lower": e - 0.05, "ci_upper": e + 0.05,
             "p_value": np.nan, "n": n, "events": k, "note": ""}
            for g, e, n, k in [("programme", 8 / 83, 83, 8), ("comparison", 0.30, 100, 30),
                               ("difference", 8 / 83 - 0.30, 183, 38)]]
    # another endpoint of the same programme with enough events keeps its difference
    rows += [dict(r, endpoint="SERIOUS", events=r["events"] + 20) for r in rows]
    out = protect_results(pd.DataFrame(rows))
    general = out[out["endpoint"] == "GENERAL"].set_index("group")
    assert general["suppressed"].to_dict() == {"programme": True, "comparison": False, "difference": True}
    assert np.isnan(general.loc["difference", "estimate"]) and general.loc["difference", "events"] == 38
    assert "a group it compares" in general.loc["difference", "note"]
    assert not out[out["endpoint"] == "SERIOUS"]["suppressed"].any()


def test_differencing_audit_flags_small_counts_the_total_gives_back():
    """Hand-worked lines (threshold 10):
    A: P1 50, P2 <10, P3 30, all 87 -> P2 = 87 - 80 = 7 exactly.
    B: P1 <10, P2 <10, P3 30, all 47 -> the two hidden sum to 17, so each is 8 or 9 (narrowed, not exact).
    C: P1 <10, P2 <10, P3 30, all 40 -> they sum to 10: each 1..9, nothing learnt.
    D: P1 50, P2 <10, all 40 -> cannot add up (a matched analysis counts fewer): nothing follows."""


    def line(estimand, values):
        return [{"notebook": "recidivism", "analysis": "recidivism", "estimand": estimand, "endpoint": "GENERAL",
                 "group": "programme", "programme_id": pid, "n": v, "events": np.nan} for pid, v in values]

    res = pd.DataFrame(
        line("A", [("P1", 50), ("P2", "<10"), ("P3", 30), ("all", 87)])
        + line("B", [("P1", "<10"), ("P2", "<10"), ("P3", 30), ("all", 47)])
        + line("C", [("P1", "<10"), ("P2", "<10"), ("P3", 30), ("all", 40)])
        + line("D", [("P1", 50), ("P2", "<10"), ("all", 40)]))
    audit = differencing_audit(res).set_index("estimand")
    assert sorted(audit.index) == ["A", "B"]
    assert audit.loc["A", ["hidden", "lower", "upper", "exact"]].tolist() == [1, 7.0, 7.0, True]
    assert audit.loc["B", ["hidden", "lower", "upper", "exact"]].tolist() == [2, 8.0, 9.0, False]
    assert (audit["column"] == "n").all()
    assert differencing_audit(res[res["programme_id"] != "all"]).empty  # no total, no subtraction


def _line_rows(estimand, values, group="programme"):
    """Result rows of one measure: (programme_id, n, events); estimate = events / n."""
    return [{"programme_id": pid, "analysis": "recidivism", "estimand": estimand, "endpoint": "GENERAL",
             "group": group, "estimate": (k / n if isinstance(k, (int, float)) else np.nan), "ci_lower": np.nan,
             "ci_upper": np.nan, "p_value": np.nan, "n": n, "events": k, "note": ""} for pid, n, k in values]


def test_protect_results_withholds_a_total_that_gives_a_programme_count_back():
    """Hand-worked lines (threshold 10), programme rows and the row of all programmes in one table:
    A: events 50, 7 (shown "<10"), 30; all 87 -> 87 - 80 = 7: the total's events are withheld ("c").
    B: events 5 and 5 hidden, 30 shown; all 40 -> the hidden sum to 10: each is 1..9, total shown.
    C: events 50, 7; all 40 -> cannot add up (e.g. a matched analysis): total shown.
    D: nothing hidden: total shown."""
    res = pd.DataFrame(
        _line_rows("A", [("P1", 100, 50), ("P2", 60, 7), ("P3", 80, 30), ("all", 240, 87)])
        + _line_rows("B", [("P1", 100, 5), ("P2", 60, 5), ("P3", 80, 30), ("all", 240, 40)])
        + _line_rows("C", [("P1", 100, 50), ("P2", 60, 7), ("all", 240, 40)])
        + _line_rows("D", [("P1", 100, 50), ("P2", 60, 17), ("all", 160, 67)]))
    out = protect_results(res)
    total = out[out["programme_id"] == "all"].set_index("estimand")
    assert total["events"].tolist() == ["c", 40, 40, 67]
    assert total["suppressed"].tolist() == [True, False, False, False]
    assert np.isnan(total.loc["A", "estimate"]) and total.loc["A", "n"] == 240  # n itself is not withheld
    assert "cannot be derived from this total" in total.loc["A", "note"]
    # the programmes' own rows are protected as before (P2's 7 is "<10"), nothing more
    a = out[(out["estimand"] == "A") & (out["programme_id"] != "all")].set_index("programme_id")
    assert a["events"].tolist() == [50, "<10", 30] and a["suppressed"].tolist() == [False, True, False]
    # a second pass keeps the markers and adds nothing
    again = protect_results(out)
    assert again["events"].tolist() == out["events"].tolist()
    assert again["note"].tolist() == out["note"].tolist()
    # and no line is left that the audit would flag
    assert differencing_audit(out.assign(notebook="recidivism")).empty
    assert set(differencing_audit(protect_results(res.assign(withhold="")).assign(notebook="r"))["estimand"]) == set()


def test_withhold_pooled_uses_the_programmes_published_reports(tmp_path):
    """The report of all programmes holds only the total (87 events); the programmes' own reports
    published 50, "<10" and 30 (hand-worked as line A above). Without those reports nothing is
    withheld; with them (as a frame or a CSV file) the total's events are, and the audit of
    everything published together finds nothing."""
    progs = protect_results(pd.DataFrame(_line_rows("A", [("P1", 100, 50), ("P2", 60, 7), ("P3", 80, 30)])))
    pooled = pd.DataFrame(_line_rows("A", [("all", 240, 87)]))
    assert protect_results(pooled)["events"].tolist() == [87]
    marked = withhold_pooled(pooled, progs)
    assert marked["withhold"].tolist() == ["events"] and marked["events"].tolist() == [87]  # numbers unchanged
    shown = protect_results(marked)
    assert shown["events"].tolist() == ["c"] and shown["suppressed"].tolist() == [True]
    assert "withhold" not in shown.columns
    path = tmp_path / "programmes.csv"
    progs.to_csv(path, index=False)
    assert withhold_pooled(pooled, path)["withhold"].tolist() == ["events"]
    published = pd.concat([progs, shown], ignore_index=True).assign(notebook="recidivism")
    assert differencing_audit(published).empty
    flagged = differencing_audit(pd.concat([progs, protect_results(pooled)]).assign(notebook="recidivism"))
    assert flagged[["column", "lower", "upper"]].values.tolist() == [["events", 7.0, 7.0]]
    # another measure, or a line that does not add up, is not touched
    other = pooled.assign(estimand="B")
    assert withhold_pooled(other, progs)["withhold"].tolist() == [""]
    with pytest.raises(FileNotFoundError, match="not found"):
        withhold_pooled(pooled, tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="lack column"):
        withhold_pooled(pooled, progs.drop(columns=["group"]))


def test_differencing_audit_counts_a_programme_published_twice_once():
    """Hand-worked: P2's row appears in its own report and in the report of all programmes;
    counting it twice (50 + 50 + 30 = 130 > 87) would hide that 87 - 80 = 7."""
    rows = _line_rows("A", [("P1", 100, 50), ("P1", 100, 50), ("P2", 60, "<10"), ("P3", 80, 30), ("all", 240, 87)])
    audit = differencing_audit(pd.DataFrame(rows).assign(notebook="recidivism"))
    assert audit[["column", "lower", "upper", "exact"]].values.tolist() == [["events", 7.0, 7.0, True]]


def test_numbers_at_risk_of_all_programmes_withheld_where_they_give_a_programme_back(tmp_path):
    """Hand-worked numbers at risk (threshold 10): at day 90 P1 shows 40 and P2 "<10", all 47 ->
    P2 = 7 exactly, so the total at day 90 is withheld ("c"); at day 0 nothing is hidden; at day
    180 both are hidden and sum to 11 (each 2..9: narrowed), so that total is withheld too.
    Times written 90.0 by the analysis and 90 in a CSV are one line."""
    from evaluation.publish.disclosure import withhold_pooled_table

    pooled = pd.DataFrame({"endpoint": "GENERAL", "group": "programme", "time": [0.0, 90.0, 180.0],
                           "n_risk": [80, 47, 11]})
    progs = pd.DataFrame({"programme_id": ["P1", "P1", "P1", "P2", "P2", "P2"], "endpoint": "GENERAL",
                          "group": "programme", "time": ["0", "90", "180", "0", "90", "180"],
                          "n_risk": ["60", "40", "<10", "20", "<10", "<10"]})
    marked = withhold_pooled_table(pooled, progs, ("endpoint", "group", "time"), ("n_risk",))
    assert marked["withhold"].tolist() == ["", "n_risk", "n_risk"]
    shown = protect_numbers_at_risk(marked)
    assert shown["n_risk"].tolist() == [80, "c", "c"] and "withhold" not in shown.columns
    assert protect_numbers_at_risk(shown)["n_risk"].tolist() == [80, "c", "c"]  # a second pass keeps them
    # a folder holding the programmes' CSV table (as the quarterly run hands it over)
    progs.to_csv(tmp_path / "numbers_at_risk.csv", index=False)
    again = withhold_pooled_table(pooled, tmp_path, ("endpoint", "group", "time"), ("n_risk",),
                                  name="numbers_at_risk.csv")
    assert again["withhold"].tolist() == ["", "n_risk", "n_risk"]
    # no programme tables: nothing withheld; withhold_pooled reads results.csv from the same folder
    assert withhold_pooled_table(pooled, None, ("endpoint", "group", "time"), ("n_risk",))["withhold"].tolist() == [
        "", "", ""]
    assert withhold_pooled(pd.DataFrame(_line_rows("A", [("all", 240, 87)])), tmp_path)["withhold"].tolist() == [""]
    with pytest.raises(ValueError, match="lack column"):
        withhold_pooled_table(pooled, progs.drop(columns=["programme_id"]), ("endpoint", "group", "time"), ("n_risk",))
