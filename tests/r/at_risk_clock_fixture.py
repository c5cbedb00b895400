"""Makes tests/r/at_risk_clock_data.csv: the recidivism analysis dataset (GENERAL) of two simulated
programmes with detention periods, one randomised and one matched (weights and matched-set clusters).

Run from the repository root: ``PYTHONPATH=. python tests/r/at_risk_clock_fixture.py``; then
``Rscript tests/r/at_risk_clock.R > tests/r/at_risk_clock.Rout 2>&1``. tests/test_cox_near_separation.py
rebuilds the same dataset and checks it against this file before comparing with R.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
import recidivism_sim as rs  # noqa: E402

from evaluation.analyses.recidivism import RecidivismAnalysis  # noqa: E402


def tables(design: str) -> dict:
    """Simulated tables (seed 11, 300 people) with a detention period for every third person:
    days 20-140 after the start of follow-up (release day at liberty)."""
    data = rs.simulate(11, n=300, design="rct" if design == "rct" else "observational")
    p = data["participants"].iloc[::3]
    data["detention_periods"] = pd.DataFrame({
        "participant_id": p["participant_id"].to_numpy(),
        "start_date": (p["follow_up_start"] + pd.Timedelta(days=20)).to_numpy(),
        "end_date": (p["follow_up_start"] + pd.Timedelta(days=140)).to_numpy(),
    })
    return data


def analysis(design: str) -> RecidivismAnalysis:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecidivismAnalysis(design, endpoints=("GENERAL",), programme_type="cosa").fit(
            tables(design), "P1", rs.CUTOFF, warn=False)


def dataset(design: str) -> pd.DataFrame:
    ds = analysis(design).dataset_
    return pd.DataFrame({
        "design": design, "time": ds["time"].to_numpy(float), "time_at_risk": ds["time_at_risk"].to_numpy(float),
        "event": (ds["cnsr"] == 0).to_numpy(int), "treated": ds["treated"].to_numpy(float),
        "weight": np.round(ds["weight"].to_numpy(float), 12), "cluster": ds["cluster"].astype(str).to_numpy()})


if __name__ == "__main__":
    out = pd.concat([dataset("rct"), dataset("matched")], ignore_index=True)
    out.to_csv(HERE / "at_risk_clock_data.csv", index=False)
    print(out.groupby("design").agg(n=("event", "size"), events=("event", "sum"),
                                    days_total=("time", "sum"), days_at_risk=("time_at_risk", "sum")))
