"""Which rows a small count withholds: only its own row, the differences it enters, and what is
derived from it (issue 17, item 2).

The case is the one found in the demo quarter: a risk-level subgroup of MENT-RDM with fewer than
10 events blanked the programme's main hazard ratio (same programme, analysis, estimand and
endpoint), while the E-value row of a blanked hazard ratio stayed published and inverts exactly
to it (E 1.6651 gives HR 0.77805; VanderWeele & Ding 2017, E = RR + sqrt(RR (RR - 1)) with
RR = 1/HR for HR < 1). Expected values are hand-worked from the rules in
evaluation/publish/suppression.py.
"""

from __future__ import annotations

import math

import numpy as np

from evaluation.contract.results import make_results
from evaluation.publish.disclosure import protect_results


def _hr_rows(main_events: int, subgroup_events: int):
    base = {"programme_id": "MENT-RDM", "analysis": "recidivism", "endpoint": "GENERAL"}
    return make_results([
        dict(base, estimand="hazard_ratio", group="difference", estimate=0.77805, ci_lower=0.62,
             ci_upper=0.97292, p_value=0.03, n=554, events=main_events),
        dict(base, estimand="e_value", group="difference", estimate=1.6651, ci_lower=np.nan, ci_upper=1.1591,
             n=np.nan, events=np.nan),
        dict(base, estimand="hazard_ratio", group="subgroup risk=high", estimate=0.5, ci_lower=0.2,
             ci_upper=1.3, p_value=0.15, n=60, events=subgroup_events),
        dict(base, estimand="hazard_ratio", group="subgroup risk=low", estimate=0.9, ci_lower=0.6,
             ci_upper=1.3, p_value=0.6, n=494, events=main_events - subgroup_events),
    ])


def test_e_value_inverts_to_its_hazard_ratio():
    # why withholding the E-value matters: it is a strictly monotone function of the HR, so the
    # published E-value (1.6651) gives the hidden HR back: bisection on the package's own e_value
    from evaluation.stats.survival import e_value

    lo, hi = 0.5, 0.99999
    for _ in range(60):
        mid = (lo + hi) / 2
        if e_value(mid, mid, mid, rare_outcome=False)["e_value"] > 1.6651:  # (a common outcome)
            lo = mid
        else:
            hi = mid
    assert math.isclose(lo, 0.77805, abs_tol=5e-5)


def test_a_small_subgroup_does_not_withhold_the_main_hazard_ratio():
    out = protect_results(_hr_rows(main_events=295, subgroup_events=6))
    main, e_value, high, low = (out.iloc[i] for i in range(4))
    assert not main["suppressed"] and main["estimate"] == 0.77805 and main["events"] == 295
    assert not e_value["suppressed"] and e_value["estimate"] == 1.6651
    assert high["suppressed"] and np.isnan(high["estimate"]) and high["events"] == "<10"
    assert not low["suppressed"] and low["estimate"] == 0.9


def test_the_e_value_of_a_withheld_hazard_ratio_is_withheld_too():
    out = protect_results(_hr_rows(main_events=8, subgroup_events=3))
    main, e_value = out.iloc[0], out.iloc[1]
    assert main["suppressed"] and np.isnan(main["estimate"])
    assert e_value["suppressed"]
    assert np.isnan(e_value["estimate"]) and np.isnan(e_value["ci_upper"])
    assert "derived from an estimate that is suppressed" in e_value["note"]


def test_a_difference_is_still_withheld_when_a_level_it_compares_is():
    base = {"programme_id": "A", "analysis": "recidivism", "estimand": "prevalence_365d", "endpoint": "GENERAL"}
    out = protect_results(make_results([
        dict(base, group="programme", estimate=0.06, ci_lower=0.02, ci_upper=0.1, n=100, events=6),
        dict(base, group="comparison", estimate=0.2, ci_lower=0.15, ci_upper=0.25, n=300, events=60),
        dict(base, group="difference", estimate=-0.14, ci_lower=-0.2, ci_upper=-0.08, p_value=0.001, n=400,
             events=66),
        dict(base, group="subgroup risk=high", estimate=0.3, ci_lower=0.2, ci_upper=0.4, n=100, events=30),
    ]))
    assert out["suppressed"].tolist() == [True, False, True, False]
    assert "a group it compares" in out.iloc[2]["note"]


def test_participants_lost_to_the_caliper_are_named_in_the_headline():
    # issue 17 item 14: 75 of 672 participants without a comparison person within the caliper were shown
    # nowhere; the headline now says how many and that the result is about the matched ones
    from types import SimpleNamespace

    import pandas as pd

    from evaluation.publish.recidivism_outputs import _unmatched_sentences

    treated = [True] * 672 + [False] * 900
    matched = [True] * 597 + [False] * 75 + [True] * 597 + [False] * 303
    a = SimpleNamespace(matching_=pd.DataFrame({"treated": treated, "matched": matched}))
    assert _unmatched_sentences(a, "en") == [
        "75 of the 672 programme participants had no comparable comparison person (caliper) and are not in "
        "this comparison: the result describes the matched participants only."]
    assert _unmatched_sentences(a, "nl")[0].startswith("75 van de 672 deelnemers hadden geen vergelijkbare")
    few = SimpleNamespace(matching_=pd.DataFrame({"treated": [True] * 50, "matched": [True] * 47 + [False] * 3}))
    assert _unmatched_sentences(few, "en")[0].startswith("Fewer than 10 of the 50 programme participants")
    none = SimpleNamespace(matching_=pd.DataFrame({"treated": [True] * 5, "matched": [True] * 5}))
    assert _unmatched_sentences(none, "en") == [] and _unmatched_sentences(SimpleNamespace(), "en") == []


def test_a_count_of_zero_is_shown_as_zero_not_as_small():
    # issue 17 item 2: "a count of 0 is shown as '<10'"; zero is no small count (docs/methods.md,
    # section 'Disclosure control'), but an estimate on nobody is blanked all the same
    out = protect_results(make_results([
        {"programme_id": "A", "analysis": "recidivism", "estimand": "prevalence_365d_crude", "group": "programme",
         "estimate": np.nan, "n": 0, "events": 0},
        {"programme_id": "A", "analysis": "recidivism", "estimand": "prevalence_365d_crude", "group": "comparison",
         "estimate": 0.2, "ci_lower": 0.1, "ci_upper": 0.3, "n": 4, "events": 1},
    ]))
    assert out["n"].tolist() == [0, "<10"] and out["events"].tolist() == [0, "<10"]
    assert out["suppressed"].tolist() == [True, True] and out["estimate"].isna().all()


def test_a_value_after_an_equals_sign_is_not_taken_for_a_count():
    # issue 17 item 2: "S(t) = <10 throughout" came from rewriting the value 1 as a small count
    from evaluation.analyses.recidivism import _protect_small_numbers

    got = _protect_small_numbers("KaplanMeier (comparison): no events among 7 rows; S(t) = 1 throughout")
    assert got == "KaplanMeier (comparison): no events among <10 rows; S(t) = 1 throughout"


def test_the_standard_error_of_a_withheld_proportion_is_withheld_too():
    """A proportion's SE with its n gives the proportion back: p(1 - p) = n SE^2. Here 6 of 100:
    SE = sqrt(0.06 * 0.94 / 100) = 0.023749, and 100 * 0.023749^2 = 0.0564 = 0.06 * 0.94
    (the root below one half is 0.06). Found after the robust KM variance added SE columns
    (issue 17 item 5): withheld rows still carried their `se`."""
    se = math.sqrt(0.06 * 0.94 / 100)
    assert math.isclose((1 - math.sqrt(1 - 4 * 100 * se**2)) / 2, 0.06, abs_tol=1e-12)
    base = {"programme_id": "A", "analysis": "recidivism", "estimand": "prevalence_365d_crude", "endpoint": "GENERAL"}
    rows = make_results([
        dict(base, group="programme", estimate=0.06, ci_lower=0.02, ci_upper=0.1, n=100, events=6, se=se,
             coef=math.log(0.06)),
        dict(base, group="comparison", estimate=0.2, ci_lower=0.15, ci_upper=0.25, n=300, events=60, se=0.023,
             coef=math.log(0.2)),
    ])
    out = protect_results(rows)
    assert out["suppressed"].tolist() == [True, False]
    assert np.isnan(out.iloc[0]["se"]) and np.isnan(out.iloc[0]["coef"])
    assert out.iloc[1]["se"] == 0.023


def test_balance_table_withholds_the_share_of_a_level_held_by_a_few_people():
    """Found on the demo pages: balance.csv showed sex[unknown] with a programme mean of 0.0119 among 84
    people (1 person) and its SMD, and the love plot drew it. Both now withhold such a row."""
    import sys
    import warnings
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import recidivism_sim as rs

    from evaluation.analyses.recidivism import RecidivismAnalysis
    from evaluation.publish import recidivism_outputs as ro

    data = rs.simulate(11, n=500, design="observational")
    p = data["participants"]
    p.loc[p.index[p["group"] == "programme"][:3], "sex"] = "unknown"  # 3 people: a share that gives 3 back
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = RecidivismAnalysis("matched", endpoints=("GENERAL",)).fit(data, "P1", rs.CUTOFF, warn=False)
    raw = a.balance_.set_index("covariate")
    n1 = int(a.ps_["treated"].sum())
    assert round(raw.loc["sex[unknown]", "mean_programme"] * n1) == 3  # what the old table gave back
    pub = ro.protected_balance(a).set_index("covariate")
    assert pub.loc["sex[unknown]", ["mean_programme", "mean_comparison", "smd_before", "smd_after"]].isna().all()
    assert "fewer than 10 people" in pub.loc["sex[unknown]", "note"]
    assert pub.loc["age_at_intake", "smd_before"] == raw.loc["age_at_intake", "smd_before"]  # others unchanged
    figs = ro.balance_figure_text(a, "en")
    shown = list(map(str, figs["love_plot"]["data"].iloc[:, 0]))
    assert len(shown) == int(pub[["smd_before", "smd_after"]].notna().all(axis=1).sum()) < len(raw)
    assert ro.covariate_label("sex[unknown]", "en") not in shown


def test_ps_histogram_bars_hold_at_least_ten_people():
    """Hand-worked (bins of 0.04): 3 people in [0, 0.04), 12 in [0.04, 0.08) and 4 at 0.5: the first two
    bins merge into a bar of 15; the 4 left over join it (a bar of 19 up to 1); 5 people in all give no bar."""
    from evaluation.stats.designs import min_count_bins

    edges = np.linspace(0, 1, 26)
    x = [0.01] * 3 + [0.05] * 12 + [0.5] * 4
    assert min_count_bins(x, edges) == [(0.0, 1.0, 19)]
    # empty bins join the bar that follows; a bar ends at the bin edge where it reaches 10
    bars = min_count_bins([0.05] * 12 + [0.5] * 11, edges)
    assert [b[2] for b in bars] == [12, 11]
    assert np.allclose([b[:2] for b in bars], [(0.0, 0.08), (0.08, 0.52)])
    assert min_count_bins([0.3] * 5, edges) == []
