"""Controlled rounding of the published volunteer workforce-flow table: cells shown and time taken.

The table of stocks and flows per group and quarter
(:func:`evaluation.datasets.retention.workforce_flow`) at demo scale (``evaluation synth --scale 1``:
8 programmes + all, 43 quarters) and at a national-like size (10 programmes + all, 40 quarters,
about 11,000 volunteers, simulated directly): the share of count cells of 1..9, and the seconds
taken by controlled rounding (:func:`evaluation.publish.rounding.round_stock_flow`) and its audit
(:func:`evaluation.publish.rounding.audit_rounding`, every relation declared). Cell suppression,
which the chaining ``active_end(q) = active_start(q+1)`` defeats, is no longer part of the package.

Run: ``.venv/bin/python benchmarks/bench_disclosure.py``
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

COLS = ["active_start", "joiners", "leavers", "active_end"]


def _national_volunteers(seed: int = 2026, n_programmes: int = 10, total: int = 11_000) -> pd.DataFrame:
    """Volunteers of ``n_programmes`` programmes of unequal size, starts over 2016-2025, exponential tenure."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_programmes, 1.5))
    sizes = np.maximum(30, np.round(weights * total)).astype(int)
    t0, span = pd.Timestamp("2016-01-01"), (pd.Timestamp("2025-09-30") - pd.Timestamp("2016-01-01")).days
    parts = []
    for k, n in enumerate(sizes):
        start = t0 + pd.to_timedelta(rng.integers(0, span, n), unit="D")
        end = start + pd.to_timedelta(rng.exponential(365.25 * rng.uniform(1.0, 3.0), n).astype(int) + 1, unit="D")
        parts.append(pd.DataFrame({"volunteer_id": [f"V{k}-{i}" for i in range(n)], "programme_id": f"P{k:02d}",
                                   "start_date": start, "end_date": end}))
    return pd.concat(parts, ignore_index=True)


def workforce(label: str, volunteers: pd.DataFrame, cutoff: str) -> dict[str, float]:
    from evaluation.datasets.retention import workforce_flow
    from evaluation.publish.rounding import audit_rounding, round_stock_flow

    flow = workforce_flow(volunteers, cutoff)
    vals = flow[COLS].to_numpy()
    n_groups = flow["group"].nunique()
    stats: dict[str, float] = {"cells": vals.size, "small": float(((vals > 0) & (vals < 10)).mean())}
    print(f"{label}: {n_groups} groups x {len(flow) // n_groups} quarters, {len(volunteers):,} volunteers; "
          f"{stats['small']:.0%} of the {vals.size} count cells are 1..9")
    t0 = time.perf_counter()
    rounded = round_stock_flow(flow)
    stats["t_round"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audit = audit_rounding(flow, rounded)
    stats["t_audit"] = time.perf_counter() - t0
    stats["unprotected"] = int((~audit["protected"]).sum())
    dev = (rounded[COLS] - flow[COLS]).abs().to_numpy()
    print(f"  controlled rounding: 100% of cells shown, {1000 * stats['t_round']:.0f} ms; mean |change| "
          f"{dev.mean():.1f}; audit of {len(audit)} counts of 1..9 ({audit['method'].eq('lp').sum()} by whole-table LP): "
          f"{stats['unprotected']} not protected, {stats['t_audit']:.2f} s")
    return stats


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    from evaluation.synth.generate import generate_intake

    with tempfile.TemporaryDirectory(prefix="bench_disclosure_") as tmp:
        intake = generate_intake(Path(tmp) / "demo", seed=1, scale=1)
        workforce("demo scale (synth --scale 1, seed 1)", pd.read_csv(intake / "volunteers.csv"), "2026-09-30")
    workforce("national-like (10 programmes, simulated)", _national_volunteers(), "2025-09-30")
