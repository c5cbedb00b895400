"""How often the two-per-line rule alone leaves a "<10" cell recoverable, and what the audit costs.

Random two-way tables of counts (rows 2-6, columns 1-5, counts 0-39, row and
column totals published). For each table: suppression without the audit
(two per line only) and with it; a primary cell is *pinned* when the linear
programming audit (:func:`evaluation.disclosure.audit_suppression`) leaves
fewer than two feasible integers. Prints the share of pinned primary cells,
the share of cells suppressed, warnings, and milliseconds per table.

Run: ``.venv/bin/python benchmarks/bench_disclosure.py [n_tables]``
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd


def run(n_tables: int = 200, seed: int = 1) -> dict[str, float]:
    from evaluation.disclosure import audit_suppression, suppression_mask

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


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
