"""Benchmark: a full quarterly run end to end on a national-scale synthetic intake.

    .venv/bin/python benchmarks/bench_run.py [--scale 40] [--jobs 2] [--programmes all]
                                             [--workdir DIR] [--fixture-notebooks] [--keep]

Generates the intake with ``evaluation.synth.generate.generate_intake(scale=...)``
(scale 40: 50,000 participants, 100,000 comparison persons, ~10,000
volunteers, ~1.5 million contacts), then times ``run_quarter`` (validation,
all notebooks of ``notebooks/registry.yaml`` for every programme and all
together, rendering, privacy scan, publication). Prints:

- wall time of the run (and of generation, validation);
- peak memory: this process's max RSS, the largest child's max RSS
  (``resource.getrusage(RUSAGE_CHILDREN)``) and the peak of the whole process
  tree's summed RSS sampled every 0.5 s (psutil, else /proc);
- the share of time outside the statistical computations: per notebook, its
  wall time (worker start, kernel start, papermill, rendering) minus the sum of
  cell execution times papermill records in the executed notebook; summed over
  notebooks and divided by the summed notebook wall time.

Targets (issue 5): peak memory under 4 GB, overhead under 30%. The script
prints the ratios against the targets; it does not fail on them.
With ``--fixture-notebooks`` (or when the real notebooks are missing) it runs
the fixture notebook of the tests instead, which measures the orchestration
overhead alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tree_rss_bytes(pid: int) -> int:
    """Summed RSS of a process and all its descendants."""
    try:
        import psutil

        try:
            p = psutil.Process(pid)
            procs = [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for q in procs:
            try:
                total += q.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total
    except ImportError:  # /proc fallback: every process whose ancestry leads to pid
        parents, rss = {}, {}
        page = os.sysconf("SC_PAGE_SIZE")
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(d.name)] = int(stat[1])
                rss[int(d.name)] = int((d / "statm").read_text().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
        total = 0
        for p in rss:
            q = p
            while q in parents and q not in (0, 1, pid):
                q = parents[q]
            if q == pid:
                total += rss[p]
        return total


class Sampler(threading.Thread):
    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.peak, self._stop_flag = interval, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_flag.is_set():
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))
            self._stop_flag.wait(self.interval)

    def stop(self) -> int:
        self._stop_flag.set()
        self.join()
        return self.peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=40.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--programmes", default="all")
    ap.add_argument("--seed", type=int, default=20260930)
    ap.add_argument("--workdir", default=None, help="folder for the intake and reports (default: a temp folder)")
    ap.add_argument("--fixture-notebooks", action="store_true", help="use the tests' fixture notebook")
    ap.add_argument("--keep", action="store_true", help="keep the intake and reports")
    ap.add_argument("--reuse-intake", action="store_true",
                    help="use <workdir>/intake if it exists (generated earlier with the same seed and scale)")
    args = ap.parse_args()

    from evaluation.pipeline.quarter import run_quarter
    from evaluation.pipeline.registry import load_registry
    from evaluation.synth.generate import generate_intake

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_run_"))
    work.mkdir(parents=True, exist_ok=True)
    notebooks_dir, registry = ROOT / "notebooks", None
    missing = [s.file for s in load_registry(notebooks_dir / "registry.yaml") if not (notebooks_dir / s.file).is_file()]
    if args.fixture_notebooks or missing:
        if missing:
            print(f"note: real notebooks missing {missing}: timing the fixture notebook instead")
        notebooks_dir = ROOT / "tests" / "fixtures" / "notebooks"
        registry = work / "registry.yaml"
        registry.write_text(
            "notebooks:\n  - {id: ok, file: ok.ipynb, scope: both, timeout: 600, derived: [design]}\n"
            f"  - {{id: trends, file: {ROOT / 'notebooks' / '60_trends.ipynb'}, scope: overall, timeout: 600,"
            " phase: 2, derived: [results_store]}\n")

    t0 = time.perf_counter()
    if args.reuse_intake and (work / "intake" / "extract.yaml").is_file():
        intake = work / "intake"
    else:
        intake = generate_intake(work / "intake", seed=args.seed, scale=args.scale)
    t_gen = time.perf_counter() - t0
    sizes = {p.name: p.stat().st_size for p in intake.iterdir() if p.is_file()}
    print(f"intake: scale {args.scale}, {sum(sizes.values()) / 1e6:.0f} MB, generated in {t_gen:.1f} s")

    sampler = Sampler()
    sampler.start()
    t0 = time.perf_counter()
    result = run_quarter(intake, "2026Q3", work / "reports", programmes=args.programmes, jobs=args.jobs,
                         force=True, notebooks_dir=notebooks_dir, registry=registry, seed=args.seed, progress=True)
    wall = time.perf_counter() - t0
    peak_tree = sampler.stop()
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    m = result.manifest
    jobs = m.get("jobs", [])
    nb_wall = sum(j["seconds"] or 0 for j in jobs)
    nb_cells = sum(j["cell_seconds"] or 0 for j in jobs)
    nb_render = sum(j["render_seconds"] or 0 for j in jobs)
    overhead = nb_wall - nb_cells
    share = overhead / nb_wall if nb_wall else float("nan")
    validation = m.get("validation_seconds", float("nan"))
    statuses = {}
    for j in jobs:
        statuses[j["status"]] = statuses.get(j["status"], 0) + 1

    print(f"run: exit code {result.exit_code}, status {result.status}, {len(jobs)} notebooks {statuses}")
    print(f"wall time: {wall:.1f} s (validation {validation:.1f} s, privacy scan "
          f"{m.get('privacy_scan', {}).get('seconds', float('nan')):.1f} s)")
    print(f"notebooks: summed wall {nb_wall:.1f} s, cells {nb_cells:.1f} s, rendering {nb_render:.1f} s")
    print(f"overhead outside the statistics (worker + kernel start, papermill, rendering): {overhead:.1f} s "
          f"= {share:.1%} of notebook time (target < 30%: ratio {share / 0.30:.2f})")
    run_overhead = wall - validation - nb_cells / max(args.jobs, 1)
    print(f"whole run outside validation and cells (cells divided by --jobs): {run_overhead:.1f} s "
          f"= {run_overhead / wall:.1%} of wall time")
    gb = 1024 ** 3
    print(f"peak memory: process tree (sampled) {peak_tree / gb:.2f} GB; this process {self_rss / gb:.2f} GB; "
          f"largest child {child_rss / gb:.2f} GB (target < 4 GB: ratio {peak_tree / (4 * gb):.2f})")
    slowest = sorted(jobs, key=lambda j: -(j["seconds"] or 0))[:10]
    print("slowest notebooks (wall / cells): " + ", ".join(
        f"{j['job_id']} {j['seconds'] or 0:.0f}/{j['cell_seconds'] or 0:.0f} s" for j in slowest))
    failed = [f"{j['job_id']} ({j['status']}: {(j.get('error') or '')[:200]})" for j in jobs if j["status"] != "ok"]
    if failed:
        print("not ok: " + "; ".join(failed))
    print(json.dumps({"bench": "run", "scale": args.scale, "jobs": args.jobs, "wall_s": round(wall, 1),
                      "notebooks": len(jobs), "overhead_share": round(share, 3),
                      "peak_tree_gb": round(peak_tree / gb, 3), "exit_code": result.exit_code}))
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    elif result.index_html:
        print(result.index_html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
