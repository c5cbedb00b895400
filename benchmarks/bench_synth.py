"""Benchmark: national-scale synthetic intake (evaluation.synth.generate).

Generates ``--scale 40`` (50,000 participants, 100,000 comparison persons,
~10,000 volunteers, ~1.5 million contacts) as CSV and Parquet and prints
wall time, rows and rows per second. Target: a couple of minutes per format.
Excel is not benchmarked at this scale: contacts exceed the sheet limit of
1,048,576 rows (the generator refuses with a clear message).
"""

import json
import tempfile
import time
from pathlib import Path

from evaluation.synth.generate import generate_intake

SCALE = 40
TARGET_SECONDS = 180.0

with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
    for fmt in ("csv", "parquet"):
        t0 = time.perf_counter()
        out = generate_intake(Path(tmp) / fmt, seed=20260930, scale=SCALE, fmt=fmt)
        secs = time.perf_counter() - t0
        counts = json.loads((out / "truth.json").read_text())["counts"]
        rows = sum(counts.values())
        size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
        print(f"synth scale={SCALE} format={fmt}: {secs:.1f} s, {rows:,} rows ({rows / secs:,.0f} rows/s), "
              f"{size:.0f} MB; ratio to {TARGET_SECONDS:.0f} s target: {secs / TARGET_SECONDS:.2f}")
        print("  " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
