"""Speed of ``evaluation pseudonymise`` on a synthetic intake.

Generates an intake with :func:`evaluation.synth.generate.generate_intake` (``scale``
1 = demo size, about 70,000 rows over all tables), adds name and BSN columns
to participants, and times :func:`evaluation.intake.pseudonymise.pseudonymise_intake`
(reading, HMAC of every distinct id, writing owner-only CSV). Prints seconds
and rows per second.

Run: ``.venv/bin/python benchmarks/bench_pseudonymise.py [scale]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def run(scale: float = 1.0) -> dict[str, float]:
    from evaluation.intake.pseudonymise import create_key_file, pseudonymise_intake
    from evaluation.synth.generate import generate_intake

    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "raw"
        generate_intake(raw, seed=1, scale=scale)
        p = pd.read_csv(raw / "participants.csv", dtype=str, keep_default_na=False)
        p.insert(1, "naam", [f"Persoon {i}" for i in range(len(p))])
        p.insert(2, "bsn", [f"{100000000 + i:09d}" for i in range(len(p))])
        p.to_csv(raw / "participants.csv", index=False)
        key = create_key_file(Path(d) / "keys" / "k.key")
        import jsonschema  # noqa: F401  (import cost of the YAML validation is not ours to time)

        t0 = time.perf_counter()
        report = pseudonymise_intake(raw, Path(d) / "out", key)
        secs = time.perf_counter() - t0
        rows = int(report.loc[report["action"] == "rows", "count"].sum())
        ids = int(report.loc[report["action"] == "pseudonymised", "count"].sum())
        out_modes = {oct(os.stat(f).st_mode & 0o777) for f in (Path(d) / "out").iterdir()}
    print(f"scale {scale:g}: {rows} rows, {ids} id cells pseudonymised in {secs:.2f} s "
          f"({rows / secs:,.0f} rows/s); output file modes {sorted(out_modes)}")
    return {"seconds": secs, "rows": rows}


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
