"""Run the quarter on many generator seeds and count the notebooks that fail (issue 16; target 0).

    python scripts/bench_seeds.py [--seeds 4101-4120] [--scale 1] [--jobs 2] [--quarter 2026Q3]
                                  [--workdir DIR] [--keep] [--timeout SECONDS]

For every seed, one after the other: ``evaluation synth --seed S --scale X`` into a
temporary folder, then ``evaluation run`` on it (``--jobs`` notebooks in parallel), both
as subprocesses of this interpreter with this checkout first on ``PYTHONPATH``. Prints
per seed the run's exit code, the notebooks ok and failed (from the run's
``manifest.json``, with the first failing notebooks and their errors) and the wall
times of generation and run; at the end the total number of failed notebooks. A run
that publishes no manifest (refused intake, timeout) counts as one failure. Per seed it also
audits the published quarter (issue 17): every programme with at least 10 participants with a new
case in each group must publish its main hazard ratio (:func:`main_hr_audit`), and the run's
publication check (inversion and differencing of withheld numbers, p-values in [0, 1], degenerate
ratios) must have no blocking finding.

The default seeds (4101-4120) are neither the demo seed (20260930) nor a seed any
test uses; ``make bench`` runs them at scale 1. ``--seeds`` takes a comma-separated
list and ranges (``21,33,71`` or ``4101-4105``). Exit status 0 when every notebook
of every seed is ok, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_SEED = 20260930
DEFAULT_SEEDS = "4101-4120"


def parse_seeds(text: str) -> list[int]:
    """``"1,5-7"`` -> ``[1, 5, 6, 7]`` (order kept, duplicates dropped)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else [int(part)]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--seeds: {part!r} is not a seed or a range a-b") from None
        if sep and int(hi) < int(lo):
            raise argparse.ArgumentTypeError(f"--seeds: empty range {part!r}")
        seeds += [s for s in values if s not in seeds]
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds: no seeds given")
    return seeds


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _count(value) -> float | None:
    """A published count: a number, or None when it is withheld ("<10") or missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def main_hr_audit(results_csv: Path, horizon: int = 730) -> list[dict]:
    """Per programme with a comparison group: is its main hazard ratio (GENERAL, programme vs comparison)
    published, and must it be (issue 17: at least 10 events in each group)?

    Events per group are the published numbers of participants with a new case by ``horizon`` days
    (``prevalence_<horizon>d_km`` rows): a lower bound on the events behind the hazard ratio, so a
    programme with 10 or more in each group must have its hazard ratio published. Programmes whose
    group counts are withheld (``<10``) are listed with ``required`` False.
    """
    import pandas as pd

    res = pd.read_csv(results_csv, dtype={"programme_id": str}, keep_default_na=True)
    res = res[(res["analysis"] == "recidivism") & (res["programme_id"] != "all") & (res["endpoint"] == "GENERAL")]
    out = []
    for pid, r in res.groupby("programme_id", sort=True):
        hr = r[(r["estimand"] == "hazard_ratio") & (r["group"] == "difference")]
        if hr.empty:
            continue  # descriptive design: no comparison group
        km = r[r["estimand"] == f"prevalence_{horizon}d_km"].set_index("group")
        ev = [_count(km["events"].get(g)) if g in km.index else None for g in ("programme", "comparison")]
        required = all(e is not None and e >= 10 for e in ev)
        published = bool(pd.notna(hr["estimate"].iloc[0]))
        out.append({"programme_id": pid, "events_programme": ev[0], "events_comparison": ev[1],
                    "required": required, "published": published,
                    "note": "" if published else str(hr["note"].iloc[0])[:160]})
    return out


def run_seed(seed: int, scale: float, jobs: int, quarter: str, workdir: Path, timeout: float | None) -> dict:
    """Generate and run one seed; returns seed, exit code, ok/failed counts, failures and timings."""
    intake, out = workdir / f"intake_{seed}", workdir / f"reports_{seed}"
    for p in (intake, out):
        shutil.rmtree(p, ignore_errors=True)
    t0 = time.monotonic()
    gen = subprocess.run([sys.executable, "-m", "evaluation", "synth", "--seed", str(seed), "--scale", str(scale),
                          "--out", str(intake)], env=_env(), capture_output=True, text=True)
    t_gen = time.monotonic() - t0
    rec = {"seed": seed, "synth_seconds": t_gen, "run_seconds": 0.0, "exit": None, "ok": 0, "failed": 0,
           "failures": [], "hr": [], "check_findings": 0, "check_blocking": 0}
    if gen.returncode != 0:
        rec.update(exit=f"synth {gen.returncode}", failed=1,
                   failures=[f"synth: {(gen.stderr.strip().splitlines() or ['?'])[-1]}"])
        return rec
    cmd = [sys.executable, "-m", "evaluation", "run", "--intake", str(intake), "--quarter", quarter, "--out",
           str(out), "--jobs", str(jobs), "--no-progress", "--force"]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    t1 = time.monotonic()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    rec["run_seconds"] = time.monotonic() - t1
    rec["exit"] = proc.returncode
    manifest = out / quarter / "manifest.json"
    if not manifest.is_file():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        rec.update(failed=1, failures=[f"run published nothing (exit {proc.returncode}): {tail}"])
        return rec
    m = json.loads(manifest.read_text(encoding="utf-8"))
    jobs_ = m["jobs"]
    check = m.get("publication_check") or {}
    rec["check_findings"], rec["check_blocking"] = check.get("findings", 0), check.get("blocking", 0)
    results_csv = out / quarter / "results.csv"
    rec["hr"] = main_hr_audit(results_csv) if results_csv.is_file() else []
    rec["ok"] = sum(j["status"] == "ok" for j in jobs_)
    bad = [j for j in jobs_ if j["status"] != "ok"]
    rec["failed"] = len(bad)
    rec["failures"] = [f"{j['programme_id']}/{j['notebook']} {j['status']}: {j.get('error', '')}"[:200] for j in bad]
    return rec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds(DEFAULT_SEEDS),
                        help=f"comma-separated seeds and ranges (default {DEFAULT_SEEDS})")
    parser.add_argument("--scale", type=float, default=1.0, help="generator scale (default 1 = demo size)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks in parallel within a run (default 2)")
    parser.add_argument("--quarter", default="2026Q3", help="quarter to run (default 2026Q3, the generator's)")
    parser.add_argument("--workdir", type=Path, help="folder for intakes and reports (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the intakes and reports")
    parser.add_argument("--timeout", type=float, help="seconds for each whole run (evaluation run --timeout)")
    args = parser.parse_args(argv)
    if DEMO_SEED in args.seeds:
        print(f"note: seed {DEMO_SEED} is the demo seed; the issue asks for seeds it did not see", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_seeds_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{len(args.seeds)} seed(s) at scale {args.scale:g}, {args.jobs} job(s), quarter {args.quarter}, "
          f"in {workdir}", flush=True)
    print(f"{'seed':>8} {'exit':>6} {'ok':>4} {'failed':>6} {'synth s':>8} {'run s':>8} {'HR due':>7} "
          f"{'HR pub':>7} {'checks':>7}", flush=True)
    records = []
    started = time.monotonic()
    try:
        for seed in args.seeds:
            r = run_seed(seed, args.scale, args.jobs, args.quarter, workdir, args.timeout)
            records.append(r)
            due = [h for h in r["hr"] if h["required"]]
            print(f"{r['seed']:>8} {r['exit']!s:>6} {r['ok']:>4} {r['failed']:>6} {r['synth_seconds']:>8.1f} "
                  f"{r['run_seconds']:>8.1f} {len(due):>7} {sum(h['published'] for h in due):>7} "
                  f"{r['check_findings']:>7}", flush=True)
            for line in r["failures"][:5]:
                print(f"{'':>10}{line}", flush=True)
            for h in r["hr"]:
                if not h["published"]:
                    print(f"{'':>10}main HR withheld: {h['programme_id']} (events by 730 d {h['events_programme']} "
                          f"vs {h['events_comparison']}): {h['note']}", flush=True)
            if not args.keep:
                for p in (workdir / f"intake_{seed}", workdir / f"reports_{seed}"):
                    shutil.rmtree(p, ignore_errors=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = sum(r["failed"] for r in records)
    clean = sum(r["failed"] == 0 and r["exit"] == 0 for r in records)
    due = [h for r in records for h in r["hr"] if h["required"]]
    missing = sum(not h["published"] for h in due)
    blocking = sum(r["check_blocking"] for r in records)
    print(f"main hazard ratios due (>= 10 events per group): {len(due)}; published {len(due) - missing}; "
          f"withheld {missing} (target 0)", flush=True)
    print(f"publication check: {sum(r['check_findings'] for r in records)} finding(s), {blocking} blocking "
          "(target 0; a blocking finding stops publication)", flush=True)
    print(f"seeds with every notebook ok: {clean} of {len(records)}; "
          f"wall time {time.monotonic() - started:.0f} s", flush=True)
    print(f"failed notebooks: {failed} (target 0)", flush=True)
    return 0 if failed == 0 and clean == len(records) and missing == 0 and blocking == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
