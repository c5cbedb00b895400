"""Retention estimates against R on a stored fixture.

Reference: ``Rscript tests/r/retention_reference.R`` (cmprsk 2.2.11 ``cuminc`` +
``timepoints``; survival ``survfit(conf.type = "log-log")`` and ``quantile``),
outputs stored in tests/r/retention_*_reference.csv. Fixture:
tests/fixtures/retention_cuminc_fixture.csv (80 volunteers, 49 stops for three
reasons, tied times at 30 and 120 days).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.analyses import retention as rt
from evaluation.datasets import retention as rds

HERE = Path(__file__).resolve().parent
FIX = pd.read_csv(HERE / "fixtures" / "retention_cuminc_fixture.csv").assign(programme_id="P1")


def test_cumulative_incidence_per_reason_agrees_with_cmprsk():
    ref = pd.read_csv(HERE / "r" / "retention_cuminc_reference.csv")
    res, curves = rt.competing_reasons(FIX, horizons_months=(3, 6, 12, 24))
    got = res.set_index(["group", "estimand"])
    for _, r in ref.iterrows():
        row = got.loc[(r["reason"], f"cuminc_{r['months']:g}m")]
        # estimates printed by R to full double precision; 1e-6 allows for the CSV round trip
        assert row["estimate"] == pytest.approx(r["estimate"], abs=1e-6)
        # variance: value of the stored curve at the horizon (step function) against cmprsk's var
        c = curves.loc[(curves["reason"] == r["reason"]) & (curves["time"] <= r["months"] * rds.DAYS_PER_MONTH)]
        assert c["variance"].iloc[-1] == pytest.approx(r["variance"], rel=1e-5)
        assert row["ci_lower"] < row["estimate"] < row["ci_upper"]
    # the reasons add up to 1 - KM of stopping for any reason at 12 months (Aalen-Johansen identity)
    s = rt.km_summary(FIX, by=(), horizons_months=(12,))
    km12 = s.loc[s["estimand"] == "retention_12m", "estimate"].iloc[0]
    assert got.xs("cuminc_12m", level="estimand")["estimate"].sum() == pytest.approx(1 - km12, abs=1e-10)


def test_median_tenure_and_retention_agree_with_survfit():
    ref = pd.read_csv(HERE / "r" / "retention_median_reference.csv").iloc[0]
    s = rt.km_summary(FIX, by=("programme_id",), horizons_months=(6,)).set_index(["group", "estimand"])
    med = s.loc[("all", "median_months")]
    # R quantile(survfit, 0.5): 295 (157, 391) days; we report months
    np.testing.assert_allclose(
        np.array([med["estimate"], med["ci_lower"], med["ci_upper"]]) * rds.DAYS_PER_MONTH,
        [ref["median"], ref["lower"], ref["upper"]],
        atol=1e-9,
    )
    r6 = s.loc[("programme_id=P1", "retention_6m")]
    # summary(survfit, times = 182.625): survival and log-log limits; 1e-7 for the CSV round trip
    assert r6["estimate"] == pytest.approx(ref["s6"], abs=1e-7)
    assert r6["ci_lower"] == pytest.approx(ref["s6_lower"], abs=1e-7)
    assert r6["ci_upper"] == pytest.approx(ref["s6_upper"], abs=1e-7)
    assert med["n"] == 80 and med["events"] == 49


def test_unknown_reason_and_missing_reason_raise():
    bad = FIX.copy()
    with pytest.raises(ValueError, match=r"reasons \['moved'\].*not among the causes"):
        rt.competing_reasons(bad, causes=["dissatisfied", "time_constraints"])
    bad.loc[bad["event"] == 1, "end_reason"] = None
    with pytest.raises(ValueError, match="event row"):
        rt.competing_reasons(bad)


def test_reason_without_events_gets_zero_and_a_note():
    res, _ = rt.competing_reasons(FIX, causes=["dissatisfied", "moved", "time_constraints", "health"],
                                  horizons_months=(6,))
    h = res.set_index("group").loc["health"]
    assert h["estimate"] == 0 and h["events"] == 0 and "no events" in h["note"]
