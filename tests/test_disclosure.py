"""Protection of results, pooled totals, numbers at risk and sentences.

Reference values are hand-worked from the rules in the module docstring of
evaluation/publish/disclosure.py (threshold 10 unless stated); each test says how.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.results import make_results
from evaluation.publish.disclosure import (
    DisclosureError,
    check_sentences,
    differencing_audit,
    last_time_with_min_at_risk,
    protect_count,
    protect_numbers_at_risk,
    protect_results,
    protect_sentence,
    withhold_pooled,
)


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
    assert protect_count(4, language="en") == "fewer than 10"
    assert protect_count(4) == "minder dan 10"  # the one language default is Dutch
    assert protect_count(0) == "0"
    assert protect_count("<10", language="en") == "fewer than 10"
    s = protect_sentence("{n} participants, of whom {k} reoffended ({pct} %).", {"n": 40, "k": 4}, language="en",
                         pct="10")
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
