"""CumulativeIncidence (Aalen-Johansen) and Gray's test against R cmprsk 2.2.

Reference values: ``Rscript tests/r/survival_competing.R`` on
``tests/fixtures/survival_competing.csv`` (integer days: ties within and
across causes; 3 groups). Tolerance 1e-6 relative (same closed-form sums).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.stats.survival import CumulativeIncidence, KaplanMeier

HERE = Path(__file__).resolve().parent
DATA = pd.read_csv(HERE / "fixtures" / "survival_competing.csv")
CURVES = pd.read_csv(HERE / "r" / "survival_competing_cuminc.csv")
GRAY = pd.read_csv(HERE / "r" / "survival_competing_gray.csv")
RTOL = 1e-6


def _r_after_jump(variant, curve):
    """cmprsk lists each corner of the step function; the last row per time is
    the value just after that time (right-continuous)."""
    r = CURVES[(CURVES.variant == variant) & (CURVES.curve == curve)]
    return r.groupby("time", sort=True).last().reset_index()


@pytest.mark.parametrize("variant", ["three_groups", "pooled"])
def test_estimate_and_variance_match_cmprsk(variant):
    groups = None if variant == "pooled" else DATA.group
    ci = CumulativeIncidence().fit(DATA.time, DATA.code, cause=1, groups=groups)
    labels = ["1"] if variant == "pooled" else ["a", "b", "c"]
    checked = 0
    for lab in labels:
        for cause in (1, 2):
            ref = _r_after_jump(variant, f"{lab} {cause}")
            ours = ci.at(ref.time, cause=cause)
            ours = ours[ours.group == ("all" if variant == "pooled" else lab)]
            np.testing.assert_allclose(ours.estimate, ref.est, rtol=RTOL, atol=1e-14)
            np.testing.assert_allclose(ours.variance, ref["var"], rtol=RTOL, atol=1e-14)
            checked += len(ref)
    assert checked > 50
    tab = ci.table_
    assert ((tab.ci_lower <= tab.estimate) & (tab.estimate <= tab.ci_upper)).all()


@pytest.mark.parametrize("variant", ["three_groups", "two_groups"])
def test_gray_test_matches_cmprsk(variant):
    d = DATA if variant == "three_groups" else DATA[DATA.group != "c"]
    ci = CumulativeIncidence().fit(d.time, d.code, groups=d.group)
    ref = GRAY[GRAY.variant == variant].set_index("cause")
    got = ci.gray_test_.set_index("cause")
    for cause in (1, 2):
        assert got.loc[cause, "statistic"] == pytest.approx(ref.loc[cause, "stat"], rel=RTOL)
        assert got.loc[cause, "df"] == ref.loc[cause, "df"]
        assert got.loc[cause, "p_value"] == pytest.approx(ref.loc[cause, "pv"], rel=RTOL)


def test_single_cause_equals_one_minus_km():
    # with no competing events, F_1(t) = 1 - KM(t) (hand identity)
    d = DATA.assign(code=DATA.code.clip(upper=1))
    ci = CumulativeIncidence().fit(d.time, d.code)
    km = KaplanMeier().fit(d.time, d.code)
    tab = ci.table_
    np.testing.assert_allclose(tab.estimate, 1 - km.survival_at(tab.time).estimate, rtol=1e-12)


def test_at_before_first_and_after_last():
    ci = CumulativeIncidence().fit(DATA.time, DATA.code, groups=DATA.group)
    out = ci.at([0, 1e6])
    assert (out[out.time == 0].estimate == 0).all()
    assert out[out.time == 1e6].estimate.isna().all()


def test_bad_codes():
    with pytest.raises(ValueError, match=r"event_codes: value 1.5 at row 1"):
        CumulativeIncidence().fit([1, 2], [0, 1.5])
    with pytest.raises(ValueError, match="no events with code 3"):
        CumulativeIncidence().fit([1, 2], [0, 1], cause=3)
