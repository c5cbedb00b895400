"""Validation speed: our validator vs frictionless on a 1,000,000-row contacts table.

Writes a consistent intake into a temporary folder (participants, volunteers,
matches, 1,000,000 contacts referencing the matches; the other required tables
present but empty), plants a few hundred single-table errors in contacts (type,
required, enum, minimum, maximum, pattern, unique), then

1. times ``validate_intake`` on the whole folder (all tables, all checks incl.
   foreign keys and cross-table rules: contacts dominate) and reports rows/s;
2. times ``frictionless.validate`` (default settings) on ``contacts.csv`` alone
   with the same Table Schema (:func:`evaluation.validation.validate.to_frictionless_schema`;
   single-table checks only, so the comparison favours frictionless);
3. times the WHOLE ``evaluation validate INTAKE --out DIR`` process (interpreter
   start, imports, reading, all checks, writing the report and quarantine) as a
   data manager runs it, in wall time;
4. prints the speed ratios (target: ours >= 30x faster) and whether both found
   the same (row, field) errors, and whether both equal the planted set.

Both are timed in CPU time (``time.process_time``, all threads of the measuring
process) and wall time; the headline ratio is on CPU time, because the machine is shared
and wall time depends on the other jobs running. The host's speed still drifts by up to
+-50% within a minute, so the ratio is measured in paired rounds: ours runs ``--repeat``
times in this process and ``--repeat`` times as the ``evaluation validate`` command, then
frictionless once (about half a minute) in a fresh Python process (so neither validator
runs in a heap or import state left by the other), ``--rounds`` times, and ours again at
the end. Each round's ratio divides frictionless's time by the median of our runs just
before and just after it; the headline is the median of the round ratios, with their range.
The command's headline ratio is frictionless's wall time for ``frictionless.validate``
alone (its imports not counted) over the command's wall time with everything counted.

``--phases`` also prints the median CPU time of each validator phase (read, column text,
typing and field checks, foreign keys, rules, rest).

Usage: ``python benchmarks/bench_validate.py [--rows N] [--errors K] [--repeat R] [--rounds K] [--phases]
[--skip-frictionless]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.contract.schema import load_contract
from evaluation.validation.validate import to_frictionless_schema, validate_intake

FIELD_RULES = {"type", "required", "enum", "minimum", "maximum", "pattern", "unique"}
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "intake_clean"
PLANTS = [
    ("minutes", "abc", "type"),
    ("minutes", "0", "minimum"),
    ("minutes", "721", "maximum"),
    ("contact_date", "2025-13-01", "type"),
    ("mode", "", "required"),
    ("mode", "telepathy", "enum"),
    ("reported_to_supervisor", "misschien", "type"),
    ("contact_id", "<space>", "pattern"),
    ("contact_id", "<dup>", "unique"),
]


def build_intake(folder: Path, n_contacts: int, n_errors: int, seed: int = 1) -> set[tuple[int, str, str]]:
    """Write the benchmark intake; return the planted (row, field, rule) set for contacts."""
    rng = np.random.default_rng(seed)
    contract = load_contract()
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("programmes.yaml", "extract.yaml"):
        shutil.copy(FIXTURE / name, folder / name)
    n_p, n_v, n_m = 20_000, 2_000, 40_000
    p = pd.read_csv(FIXTURE / "participants.csv", dtype=str, keep_default_na=False).iloc[[1]]
    p = p.loc[p.index.repeat(n_p)].reset_index(drop=True)
    p["participant_id"] = np.char.add("pp", np.arange(n_p).astype(str))
    p["intake_date"] = p["follow_up_start"] = "2023-06-01"
    p["detained_at_intake"] = "false"
    p.to_csv(folder / "participants.csv", index=False)
    v = pd.read_csv(FIXTURE / "volunteers.csv", dtype=str, keep_default_na=False).iloc[[0]]
    v = v.loc[v.index.repeat(n_v)].reset_index(drop=True)
    v["volunteer_id"] = np.char.add("vv", np.arange(n_v).astype(str))
    v["start_date"] = "2023-01-01"
    v.to_csv(folder / "volunteers.csv", index=False)
    start = np.datetime64("2024-01-01") + rng.integers(0, 365, n_m).astype("timedelta64[D]")
    m = pd.DataFrame({
        "match_id": np.char.add("mm", np.arange(n_m).astype(str)),
        "participant_id": np.char.add("pp", rng.integers(0, n_p, n_m).astype(str)),
        "volunteer_id": np.char.add("vv", rng.integers(0, n_v, n_m).astype(str)),
        "role": "mentor", "circle_id": "", "start_date": np.datetime_as_string(start), "planned_end_date": "",
        "end_date": "", "end_reason": "", "goals_agreed": "true",
    })
    m.to_csv(folder / "matches.csv", index=False)
    midx = rng.integers(0, n_m, n_contacts)
    cdate = start[midx] + rng.integers(0, 600, n_contacts).astype("timedelta64[D]")
    signal = np.where(rng.random(n_contacts) < 0.03, "reoffending_risk", "none")
    c = pd.DataFrame({
        "contact_id": np.char.add("k", np.arange(n_contacts).astype(str)).astype(object),
        "match_id": m["match_id"].to_numpy()[midx],
        "contact_date": np.datetime_as_string(cdate).astype(object),
        "minutes": rng.integers(1, 721, n_contacts).astype(str).astype(object),
        "mode": rng.choice(["face_to_face", "phone", "video", "message"], n_contacts).astype(object),
        "risk_signal": signal,
        "reported_to_supervisor": np.where(signal == "none", "", "true").astype(object),
    })
    planted: dict[tuple[int, str], str] = {}
    rows = rng.choice(np.arange(1, n_contacts), size=n_errors, replace=False)
    id_touched: set[int] = set()
    for i in rows:
        field, value, rule = PLANTS[int(rng.integers(len(PLANTS)))]
        if field == "contact_id":
            if value == "<space>":
                value = f"k {i}"
            else:  # duplicate an earlier, untouched id
                j = int(rng.integers(0, i))
                if j in id_touched:
                    continue
                value = c.at[j, "contact_id"]
            id_touched.add(int(i))
        c.at[int(i), field] = value
        planted[(int(i) + 2, field)] = rule
    c.to_csv(folder / "contacts.csv", index=False)
    for name in ("volunteer_support", "justice_events", "detention_periods"):
        pd.DataFrame(columns=contract.resources[name].field_names).to_csv(folder / f"{name}.csv", index=False)
    return {(r, f, rule) for (r, f), rule in planted.items()}


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since ``start``; CPU time (all threads of this process) is
    robust to other jobs on a shared machine, wall time is what a user waits."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def run_ours(folder: Path, repeat: int = 3) -> tuple[list[tuple[float, float]], set[tuple[int, str, str]], object]:
    """Validate ``repeat`` times; return the (wall, CPU) seconds of each run, the found set and the result."""
    # warm-up on the small fixture: one-off import costs (pandas, pyarrow kernels)
    # are not part of validating a table (the command's timing below includes them)
    validate_intake(FIXTURE)
    times = []
    for _ in range(max(1, repeat)):
        t0 = _clock()
        res = validate_intake(folder)
        times.append(_since(t0))
    print(f"ours: CPU per run {', '.join(f'{c:.2f}' for _, c in times)} s")
    iss = res.issues
    sub = iss[(iss["table"] == "contacts") & iss["rule"].isin(FIELD_RULES)]
    found = {(int(r), f, rule) for r, f, rule in sub[["row", "field", "rule"]].itertuples(index=False)}
    return times, found, res


def _command() -> list[str]:
    """``evaluation`` as installed next to this interpreter (what a data manager runs)."""
    script = Path(sys.executable).with_name("evaluation")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "evaluation"]


def run_command(folder: Path, repeat: int = 3) -> list[tuple[float, float]]:
    """Run ``evaluation validate FOLDER --out ...`` ``repeat`` times as a separate process;
    return (wall, CPU) seconds of each whole process (CPU: user + system of the child).
    Exit code 2 (the planted errors block the intake) is expected."""
    times = []
    with tempfile.TemporaryDirectory(prefix="bench_validate_out_") as out:
        cmd = [*_command(), "validate", str(folder), "--out", out]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPROFILEIMPORTTIME",)}
        for _ in range(max(1, repeat)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode not in (0, 2):
                raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
            times.append((wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))
    print(f"command: wall per run {', '.join(f'{w:.2f}' for w, _ in times)} s "
          f"(CPU {', '.join(f'{c:.2f}' for _, c in times)} s)")
    return times


PHASES = {
    "read_intake": "read the files (CSV parse, text columns)",
    "_check_columns": "column text (strip, distinct values) and table-level checks",
    "_type_and_check_fields": "typing and field checks (type, required, enum, pattern, range, unique)",
    "_check_foreign_keys": "foreign keys",
    "_apply_rules": "cross-field and cross-table rules",
}


def run_phases(folder: Path, repeat: int = 3) -> dict[str, float]:
    """Median CPU seconds per phase of ``validate_intake`` (all tables), by wrapping the
    validator's phase functions for the duration of the runs; ``rest`` is what remains
    (issue table, accepted/quarantine split, reconciliation)."""
    import evaluation.validation.validate as v

    spent: dict[str, float] = {}
    originals = {name: getattr(v, name) for name in PHASES if hasattr(v, name)}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - t0
        return wrapper

    runs: dict[str, list[float]] = {}
    try:
        for name, fn in originals.items():
            setattr(v, name, timed(name, fn))
        v.validate_intake(FIXTURE)
        for _ in range(max(1, repeat)):
            spent.clear()
            t0 = time.process_time()
            res = v.validate_intake(folder)
            total = time.process_time() - t0
            del res
            for name in originals:
                runs.setdefault(name, []).append(spent.get(name, 0.0))
            runs.setdefault("rest", []).append(total - sum(spent.values()))
            runs.setdefault("total", []).append(total)
    finally:
        for name, fn in originals.items():
            setattr(v, name, fn)
    out = {name: float(np.median(vals)) for name, vals in runs.items()}
    for name, sec in out.items():
        print(f"  phase {name:<24} {sec:6.3f} s CPU  {PHASES.get(name, '')}")
    return out


def run_frictionless(folder: Path) -> tuple[tuple[float, float], set[tuple[int, str, str]]]:
    """Validate ``contacts.csv`` with frictionless in this process; (wall, CPU) seconds and the found set."""
    import frictionless

    contract = load_contract()
    schema = frictionless.Schema.from_descriptor(to_frictionless_schema(contract.resources["contacts"], contract))
    resource = frictionless.Resource(path="contacts.csv", basepath=str(folder), schema=schema)
    t0 = _clock()
    report = frictionless.validate(resource)
    elapsed = _since(t0)
    found = set()
    for row, field, etype, note in report.flatten(["rowNumber", "fieldName", "type", "note"]):
        rule = {"type-error": "type", "unique-error": "unique"}.get(etype)
        if rule is None and etype == "constraint-error":
            rule = note.split('"')[1]
        found.add((row, field, rule or etype))
    return elapsed, found


def run_frictionless_apart(folder: Path) -> tuple[tuple[float, float], set[tuple[int, str, str]]]:
    """:func:`run_frictionless` in a fresh Python process (its timings are taken there)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--frictionless-only", str(folder)],
        check=True, capture_output=True, text=True,
    ).stdout
    process_wall = time.perf_counter() - t0
    got = json.loads(out.strip().splitlines()[-1])
    print(f"frictionless: whole process (imports, schema, validate) wall {process_wall:.1f} s")
    return (got["wall"], got["cpu"]), {(int(r), f, rule) for r, f, rule in got["found"]}


def round_ratios(fl_cpu: list[float], ours_blocks: list[list[float]]) -> list[float]:
    """Ratio per round: frictionless CPU of round ``i`` over the median of our CPU times in the
    blocks just before (``i``) and just after (``i + 1``) it."""
    return [fl / float(np.median(ours_blocks[i] + ours_blocks[i + 1])) for i, fl in enumerate(fl_cpu)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--errors", type=int, default=300)
    ap.add_argument("--skip-frictionless", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs of ours per block (default 3)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="paired rounds: a block of ours, then frictionless once (default 3)")
    ap.add_argument("--phases", action="store_true", help="also print the median CPU time per validator phase")
    ap.add_argument("--frictionless-only", metavar="FOLDER", help=argparse.SUPPRESS)  # (child process)
    args = ap.parse_args(argv)
    if args.frictionless_only:
        (wall, cpu), found = run_frictionless(Path(args.frictionless_only))
        print(json.dumps({"wall": wall, "cpu": cpu, "found": sorted(found)}))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_validate_") as tmp:
        folder = Path(tmp) / "intake"
        t0 = time.perf_counter()
        planted = build_intake(folder, args.rows, args.errors)
        print(f"intake written in {time.perf_counter() - t0:.1f} s: {args.rows:,} contacts, "
              f"{len(planted)} planted errors ({(folder / 'contacts.csv').stat().st_size / 1e6:.0f} MB)")
        times, ours, res = run_ours(folder, args.repeat)
        ours_wall = float(np.median([w for w, _ in times]))
        ours_cpu = float(np.median([c for _, c in times]))
        total_rows = int(res.reconciliation["rows_read"].sum())
        print(f"ours (median): wall {ours_wall:.2f} s, CPU {ours_cpu:.2f} s for the whole intake ({total_rows:,} rows, "
              f"all checks) = {args.rows / ours_wall:,.0f} contacts rows/s (wall), "
              f"{args.rows / ours_cpu:,.0f} rows/s (CPU); ok={res.ok}")
        print(f"ours: found {len(ours)} single-table errors in contacts; equal to planted: {ours == planted}")
        other = res.errors[~((res.errors["table"] == "contacts") & res.errors["rule"].isin(FIELD_RULES))]
        print(f"ours: other errors (cascades/false alarms): {len(other)}")
        del res
        if args.phases:
            print(f"ours: median CPU per phase over {args.repeat} runs (phase timers add a little):")
            run_phases(folder, args.repeat)
        run_command(folder, 1)  # warm-up: file cache and compiled modules, as on a second run
        commands = [run_command(folder, args.repeat)]
        cmd_wall = float(np.median([w for w, _ in commands[0]]))
        print(f"COMMAND `evaluation validate` (whole process, median of {args.repeat}): wall {cmd_wall:.2f} s "
              f"= {args.rows / cmd_wall:,.0f} contacts rows/s")
        if args.skip_frictionless:
            return 0
        blocks = [[c for _, c in times]]
        walls = [[w for w, _ in times]]
        fl_times: list[tuple[float, float]] = []
        fl: set = set()
        for k in range(max(1, args.rounds)):
            (fl_wall, fl_cpu), fl = run_frictionless_apart(folder)
            fl_times.append((fl_wall, fl_cpu))
            print(f"round {k + 1}: frictionless wall {fl_wall:.1f} s, CPU {fl_cpu:.1f} s for contacts.csv "
                  f"(single-table checks only) = {args.rows / fl_wall:,.0f} rows/s (wall)")
            more, _, _ = run_ours(folder, args.repeat)
            blocks.append([c for _, c in more])
            walls.append([w for w, _ in more])
            commands.append(run_command(folder, args.repeat))
        print(f"frictionless: found {len(fl)} errors; same (row, field, rule) as ours: {fl == ours}; "
              f"same (row, field): {({(r, f) for r, f, _ in fl} == {(r, f) for r, f, _ in ours})}")
        ratios = round_ratios([c for _, c in fl_times], blocks)
        wall_ratios = round_ratios([w for w, _ in fl_times], walls)
        ratio = float(np.median(ratios))
        print(f"round ratios (CPU): {', '.join(f'{r:.1f}x' for r in ratios)}")
        print(f"SPEED RATIO frictionless / ours (CPU time, median of {len(ratios)} paired rounds): {ratio:.1f}x "
              f"(range {min(ratios):.1f}-{max(ratios):.1f}x; target >= 30x: {'met' if ratio >= 30 else 'NOT met'}); "
              f"frictionless CPU median {float(np.median([c for _, c in fl_times])):.2f} s, "
              f"ours {float(np.median(sum(blocks, []))):.2f} s")
        print(f"speed ratio frictionless / ours (wall time, in-process, noisy on a shared machine): "
              f"{float(np.median(wall_ratios)):.1f}x")
        cmd_walls = [[w for w, _ in block] for block in commands]
        cmd_ratios = round_ratios([w for w, _ in fl_times], cmd_walls)
        cmd_ratio = float(np.median(cmd_ratios))
        print(f"round ratios (wall, whole `evaluation validate` process): {', '.join(f'{r:.1f}x' for r in cmd_ratios)}")
        print(f"WALL RATIO frictionless.validate / whole `evaluation validate` process (median of {len(cmd_ratios)} "
              f"paired rounds): {cmd_ratio:.1f}x (range {min(cmd_ratios):.1f}-{max(cmd_ratios):.1f}x; "
              f"target >= 30x: {'met' if cmd_ratio >= 30 else 'NOT met'}); "
              f"command wall median {float(np.median(sum(cmd_walls, []))):.2f} s, "
              f"frictionless wall median {float(np.median([w for w, _ in fl_times])):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
