"""How often the two-per-line rule alone leaves a "<10" cell recoverable, and what the audit costs.

Random two-way tables of counts (rows 2-6, columns 1-5, counts 0-39, row and
column totals published). For each table: suppression without the audit
(two per line only) and with it; a primary cell is *pinned* when the linear
programming audit (:func:`evaluation.publish.disclosure.audit_suppression`) leaves
fewer than two feasible integers. Prints the share of pinned primary cells,
the share of cells suppressed, warnings, and milliseconds per table.

Second part: the published volunteer workforce-flow table (stocks and flows per
group and quarter, :func:`evaluation.analyses.retention.workforce_flow`). At demo scale
(``evaluation synth --scale 1``: 8 programmes + all, 43 quarters) and at a
national-like size (10 programmes + all, 40 quarters, about 11,000 volunteers,
simulated directly): the share of count cells shown and the seconds taken by
the old cell suppression (``suppress_table(..., totals="rows")``), and by the
controlled rounding (:func:`evaluation.publish.disclosure.round_stock_flow`) with its
audit (:func:`evaluation.publish.disclosure.audit_rounding`, every relation declared).
For the old suppression it also counts the primary cells a reader recovers
exactly through the chaining ``active_end(q) = active_start(q+1)`` (the
stock-flow leak).

Run: ``.venv/bin/python benchmarks/bench_disclosure.py [n_tables] [--skip-old]``
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd


def run(n_tables: int = 200, seed: int = 1) -> dict[str, float]:
    from evaluation.publish.disclosure import audit_suppression, suppression_mask

    rng = np.random.default_rng(seed)
    stats = {"primary": 0, "pinned_naive": 0, "pinned_audit": 0, "cells": 0, "sup_naive": 0, "sup_audit": 0,
             "warned": 0, "t_naive": 0.0, "t_audit": 0.0}
    for _ in range(n_tables):
        x = rng.integers(0, 40, size=(rng.integers(2, 7), rng.integers(1, 6)))
        df = pd.DataFrame(x, columns=[f"c{j}" for j in range(x.shape[1])])
        cols = list(df.columns)
        t0 = time.perf_counter()
        naive = suppression_mask(df, cols, audit=False)
        t1 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            audited = suppression_mask(df, cols)
        t2 = time.perf_counter()
        stats["t_naive"] += t1 - t0
        stats["t_audit"] += t2 - t1
        stats["warned"] += bool(caught)
        for key, mask in (("naive", naive), ("audit", audited)):
            a = audit_suppression(df, cols, mask=mask)
            prim = a[a["status"] == "primary"]
            stats[f"pinned_{key}"] += int(prim["exact"].sum())
            stats[f"sup_{key}"] += int((mask != "").to_numpy().sum())
            if key == "naive":
                stats["primary"] += len(prim)
        stats["cells"] += x.size
    print(f"{n_tables} random tables, {stats['primary']} primary cells of {stats['cells']} cells")
    print(f"  two per line only: {stats['pinned_naive'] / stats['primary']:.1%} of primary cells pinned, "
          f"{stats['sup_naive'] / stats['cells']:.1%} of cells suppressed, {1000 * stats['t_naive'] / n_tables:.1f} ms/table")
    print(f"  with LP audit:     {stats['pinned_audit'] / stats['primary']:.1%} pinned (each with a warning: "
          f"{stats['warned']} tables warned), {stats['sup_audit'] / stats['cells']:.1%} suppressed, "
          f"{1000 * stats['t_audit'] / n_tables:.1f} ms/table")
    return stats


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


def _chain_leaks(out: pd.DataFrame) -> int:
    """Primary cells of the old table recovered exactly (a lower bound): the only unknown left in
    start + joiners - leavers = end once every suppressed stock is read off the neighbouring quarter."""
    leaks = 0
    for _, idx in out.groupby("group", sort=False).groups.items():
        o = out.loc[idx]
        known = o[COLS].map(lambda x: not isinstance(x, str)).to_numpy()
        # a stock is known if shown either as the end of one quarter or the start of the next
        end_known = known[:, 3].copy()
        end_known[:-1] |= known[1:, 0]
        start_known = known[:, 0].copy()
        start_known[1:] |= known[:-1, 3]
        k = np.column_stack([start_known, known[:, 1], known[:, 2], end_known])
        prim = o[COLS].eq("<10").to_numpy()
        one_unknown = (~k).sum(axis=1) == 1
        leaks += int((prim & one_unknown[:, None] & ~k).sum())
    return leaks


def workforce(label: str, volunteers: pd.DataFrame, cutoff: str, skip_old: bool = False) -> dict[str, float]:
    from evaluation.analyses import retention as rt
    from evaluation.publish.disclosure import audit_rounding, round_stock_flow, suppress_table

    flow = rt.workforce_flow(volunteers, cutoff)
    vals = flow[COLS].to_numpy()
    n_groups = flow["group"].nunique()
    stats: dict[str, float] = {"cells": vals.size, "small": float(((vals > 0) & (vals < 10)).mean())}
    print(f"{label}: {n_groups} groups x {len(flow) // n_groups} quarters, {len(volunteers):,} volunteers; "
          f"{stats['small']:.0%} of the {vals.size} count cells are 1..9")
    if not skip_old:
        pub = flow.drop(columns=["quarter_start", "quarter_end"])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old = suppress_table(pub, COLS, 10, by="group", totals="rows",
                                 rate_cols={"annual_turnover": ["leavers", "active_start", "active_end"]})
        stats["t_old"] = time.perf_counter() - t0
        shown = old[COLS].map(lambda x: not isinstance(x, str)).to_numpy()
        stats["shown_old"] = float(shown.mean())
        stats["leaks_old"] = _chain_leaks(old)
        print(f"  old suppression: {stats['shown_old']:.0%} of cells shown, {stats['t_old']:.2f} s; "
              f"{stats['leaks_old']} '<10' cells recovered exactly through the chaining")
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
    if not skip_old:
        print(f"  ratio rounding+audit / old suppression time: {(stats['t_round'] + stats['t_audit']) / stats['t_old']:.2f}")
    return stats


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    skip = "--skip-old" in sys.argv
    run(int(args[0]) if args else 200)
    import tempfile
    from pathlib import Path

    from evaluation.synth.generate import generate_intake

    with tempfile.TemporaryDirectory(prefix="bench_disclosure_") as tmp:
        intake = generate_intake(Path(tmp) / "demo", seed=1, scale=1)
        workforce("demo scale (synth --scale 1, seed 1)", pd.read_csv(intake / "volunteers.csv"), "2026-09-30", skip)
    workforce("national-like (10 programmes, simulated)", _national_volunteers(), "2025-09-30", skip)
