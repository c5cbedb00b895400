"""Speed of :func:`evaluation.publish.disclosure.scan_outputs` with many identifiers.

Builds a report folder of about ``mb`` megabytes of HTML/CSV/JSON text and
``n_ids`` pseudonymised identifiers (a few planted), then times the scan
(tokenisation + one set lookup) against a naive scan that searches the text
once per identifier (timed on a subset and extrapolated). Prints seconds,
MB/s and the ratio; checks that every planted identifier was found.

Run: ``.venv/bin/python benchmarks/bench_privacy_scan.py [n_ids] [mb]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def run(n_ids: int = 50_000, mb: float = 5.0) -> dict[str, float]:
    from evaluation.publish.disclosure import scan_outputs

    rng = np.random.default_rng(1)
    ids = {f"P-{x:016x}" for x in rng.integers(0, 2**63, size=n_ids)}
    planted = sorted(ids)[:5]
    words = ["programme", "comparison", "0.31", "n", "410", "<td>", "</td>", "2026-09-30", "Kaplan-Meier", "x_1.2"]
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        line = " ".join(words * 6)
        n_lines = int(mb * 1e6 / (len(line) + 1) / 3)
        for k, ext in enumerate([".html", ".csv", ".json"]):
            lines = [line] * n_lines
            lines[n_lines // 2] = f"leak {planted[k]}."
            (folder / f"out{ext}").write_text("\n".join(lines))
        (folder / "notes.md").write_text(f"{planted[3]} and ({planted[4]})\n")
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        t0 = time.perf_counter()
        findings = scan_outputs(folder, {"participant_id": ids})
        t_scan = time.perf_counter() - t0
        assert len(findings) == 5, findings
        for k, ext in enumerate([".html", ".csv", ".json"]):
            f = folder / f"out{ext}"
            f.write_text(f.read_text().replace(planted[k], "clean"))
        (folder / "notes.md").write_text("nothing here\n")
        t0 = time.perf_counter()
        clean = scan_outputs(folder, {"participant_id": ids})
        t_clean = time.perf_counter() - t0
        assert clean.empty
        text = "".join(p.read_text() for p in folder.iterdir())
        subset = sorted(ids)[:200]
        t0 = time.perf_counter()
        for v in subset:
            _ = v in text
        t_naive = (time.perf_counter() - t0) * len(ids) / len(subset)
    print(f"{n_ids} identifiers, {size:.1f} MB: scan with a leak in every file {t_scan:.2f} s "
          f"({size / t_scan:.1f} MB/s; all 5 planted found), clean folder {t_clean:.2f} s ({size / t_clean:.1f} MB/s); "
          f"naive per-identifier search (extrapolated) {t_naive:.1f} s, ratio naive/clean scan {t_naive / t_clean:.0f}")
    return {"scan_s": t_scan, "clean_s": t_clean, "naive_s": t_naive}


if __name__ == "__main__":
    args = sys.argv[1:]
    run(int(args[0]) if args else 50_000, float(args[1]) if len(args) > 1 else 5.0)
