"""The jobs of a quarter: which notebook runs for which programme, with which parameters.

Every notebook of the registry runs for every selected programme and for all
programmes together, per its ``scope``. Each job gets the common parameters
(staged intake, programme, language, output folder, cutoff, seed), the
registry's literal ones, and the ones the run derives (``derived``):

- ``design``: the programme's recidivism design (``derive_design``); for all
  programmes together the common design when all selected programmes share
  one, otherwise ``descriptive`` (pooling different designs is not a causal
  comparison);
- ``reference``: for a programme with design ``descriptive``, the published
  reference rate of its ``programmes.yaml`` entry (:func:`reference_parameters`);
- ``results_store``: the reports folder and this quarter's pending partition;
- ``quarter``;
- ``programme_results``: the job of all programmes starts when the
  programmes' jobs of its notebook have ended, and gets their published
  outputs (:func:`programme_results_writer`) so that its totals can withhold
  what would give a programme's small count back by subtraction
  (:func:`evaluation.publish.disclosure.withhold_pooled`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.results import make_results
from evaluation.intake.private import private_dir, write_private
from evaluation.pipeline import store
from evaluation.pipeline.registry import NotebookSpec
from evaluation.pipeline.workers import Job, JobResult
from evaluation.publish.formatting import LANGUAGES

#: Parameters that are paths: the manifest records their file names only.
PATH_PARAMETERS = ("intake_dir", "output_dir", "reports_dir", "pending_results", "programme_results",
                   "recidivism_results")


def reference_parameters(programme: Mapping[str, Any]) -> dict[str, Any]:
    """Recidivism notebook parameters from a programme's ``reference_rate`` entry (empty if it has none).

    Passed only to programmes without comparison persons (design
    ``descriptive``); the rate is then set beside the participants' own rate,
    labelled non-causal. Raises ValueError when the interval does not contain
    the rate (the JSON Schema cannot say that).
    """
    ref = programme.get("reference_rate")
    if not ref:
        return {}
    pid = programme.get("programme_id")
    rate = float(ref["rate"])
    ci = None
    if ref.get("ci_lower") is not None or ref.get("ci_upper") is not None:
        if ref.get("ci_lower") is None or ref.get("ci_upper") is None:
            raise ValueError(f"programmes.yaml, programme {pid!r}, field 'reference_rate': give both ci_lower and "
                             "ci_upper, or neither")
        ci = [float(ref["ci_lower"]), float(ref["ci_upper"])]
        if not ci[0] <= rate <= ci[1]:
            raise ValueError(f"programmes.yaml, programme {pid!r}, field 'reference_rate': the interval "
                             f"{ci[0]}-{ci[1]} does not contain the rate {rate}")
    return {"reference_rate": rate, "reference_ci": ci, "reference_horizon": int(ref["horizon_days"]),
            "reference_endpoint": str(ref.get("endpoint", "GENERAL")), "reference_source": str(ref["source"])}


def programme_list(validation: Any) -> list[dict[str, Any]]:
    """The programmes a validated intake describes (``programmes.yaml``), as dicts with ``programme_id``."""
    progs = getattr(validation, "programmes", None) or []
    out = []
    for p in progs:
        if isinstance(p, Mapping) and "programme_id" in p:
            out.append(dict(p))
        elif isinstance(p, str):
            out.append({"programme_id": p, "name": p})
    return out


#: Names the run writes at the top of a quarter folder (and "all"): never a programme's folder name.
RESERVED_FOLDER_NAMES = frozenset({"all", "index.html", "manifest.json", "results.csv", "run.log", "validation",
                                   "owner.json", "notebook.ipynb", "report.html", "_private", "_log",
                                   *LANGUAGES})  # a second language's version lives in <quarter>/<code>/
_PROGRAMME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", re.ASCII)


def check_programme_ids(ids: Sequence[Any]) -> list[str]:
    """Return ``ids`` when each can name a folder of the quarter; raise ValueError otherwise.

    A programme id names its report folder ``<quarter>/<programme_id>/``, so
    it must match the contract's pattern (ASCII letters, digits, ``_.:-``,
    at most 64 characters, checked here on the whole string) and may not be
    one of :data:`RESERVED_FOLDER_NAMES` (compared without case: case-blind
    file systems), nor appear twice.
    """
    out: list[str] = []
    for pid in ids:
        if not isinstance(pid, str) or not _PROGRAMME_ID.fullmatch(pid) or pid in (".", ".."):
            raise ValueError(f"programmes.yaml: programme_id {pid!r} cannot name a report folder: use ASCII "
                             "letters, digits and _ . : - (at most 64, starting with a letter or digit)")
        if pid.lower() in RESERVED_FOLDER_NAMES:
            raise ValueError(f"programmes.yaml: programme_id {pid!r} is reserved (the quarter folder uses "
                             f"{pid.lower()!r} itself); choose another id")
        if pid.lower() in {o.lower() for o in out}:
            raise ValueError(f"programmes.yaml: programme_id {pid!r} appears twice (case ignored)")
        out.append(pid)
    return out


def select_programmes(requested: str | Sequence[str] | None, available: list[str]) -> list[str]:
    """The programmes asked for (``"all"``, a comma-separated string or a list), checked against ``available``."""
    if requested is None or requested == "all" or requested == ["all"]:
        return list(available)
    if isinstance(requested, str):
        requested = [s.strip() for s in requested.split(",") if s.strip()]
    unknown = [p for p in requested if p not in available]
    if unknown:
        raise ValueError(f"--programmes: unknown programme id(s) {unknown}; the intake describes {available}")
    return list(dict.fromkeys(requested))


def plan_jobs(*, specs: Sequence[NotebookSpec], selected: Sequence[str], designs: Mapping[str, str],
              references: Mapping[str, Mapping[str, Any]], common: Mapping[str, Any], build: Path,
              private: Path, out_dir: Path, notebooks_dir: Path, quarter: str, notebook_timeout: int | None,
              start_timeout: int, kill_grace: float, replacements: Mapping[str, str], run_id: str,
              log: logging.Logger | None = None) -> list[Job]:
    """One :class:`~evaluation.pipeline.workers.Job` per notebook and target, in registry order.

    ``designs`` holds every selected programme and ``"all"``; ``common`` the
    parameters every notebook gets (``intake_dir``, ``language``,
    ``cutoff_date``, ``seed``). A job's wall-clock limit is its timeout plus
    ``start_timeout`` plus ``kill_grace``. Jobs of all programmes with the
    derived parameter ``programme_results`` wait for the programmes' jobs of
    their notebook and phase, and write those jobs' outputs before they start.
    """
    jobs: list[Job] = []
    waits_for_programmes: list[Job] = []
    pending_store = private / "pending_store.parquet"
    for spec in specs:
        targets = []
        if spec.scope in ("per_programme", "both"):
            targets += list(selected)
        if spec.scope in ("overall", "both"):
            targets.append("all")
        for pid in targets:
            folder = f"{pid}/{spec.id}"
            params: dict[str, Any] = {
                "intake_dir": common["intake_dir"], "programme_id": pid, "language": common["language"],
                "output_dir": str(build / folder), "cutoff_date": common["cutoff_date"], "seed": int(common["seed"]),
            }
            params.update(spec.parameters)
            if "design" in spec.derived:
                params["design"] = designs[pid]
            if "reference" in spec.derived and pid != "all" and designs[pid] == "descriptive":
                params.update(references.get(pid) or {})
            if "quarter" in spec.derived:
                params["quarter"] = quarter
            if "results_store" in spec.derived:
                params["reports_dir"] = str(out_dir)
                params["pending_results"] = str(pending_store)
                params["quarter"] = quarter
            after = "programme_results" in spec.derived and pid == "all" and spec.scope == "both"
            if after:
                params["programme_results"] = str(private / "programme_results" / spec.id)
            if "recidivism_results" in spec.derived:
                params["recidivism_results"] = str(private / "recidivism_results" / f"{pid}-{spec.id}")
            limit = notebook_timeout or spec.timeout
            jr = JobResult(job_id=f"{pid}/{spec.id}", notebook=spec.id, programme_id=pid, folder=folder,
                           parameters={k: (v if k not in PATH_PARAMETERS else Path(v).name) for k, v in params.items()})
            job = Job(result=jr, phase=spec.phase, wall_limit=limit + start_timeout + kill_grace, spec={
                "input": str(notebooks_dir / spec.file), "output_dir": str(build / folder), "parameters": params,
                "cwd": str(notebooks_dir), "execution_timeout": int(limit), "start_timeout": int(start_timeout),
                "language": common["language"], "replacements": dict(replacements),
            })
            jobs.append(job)
            if after:
                waits_for_programmes.append(job)
    for j in waits_for_programmes:
        j.needs = tuple(o for o in jobs if o.result.notebook == j.result.notebook
                        and o.result.programme_id != "all" and o.phase == j.phase)
        j.prepare = programme_results_writer(j, lambda: combined_results(jobs, build, quarter, run_id, log), build)
    # costs and synthesis use the recidivism reports of this run (same design, horizons and settings): their
    # jobs start when the recidivism jobs of their programme(s) have ended and get those reports' results.csv
    for j in jobs:
        if "recidivism_results" in j.spec["parameters"]:
            sources = [o for o in jobs if o.result.notebook == "recidivism" and o.result.programme_id != "all"
                       and j.result.programme_id in ("all", o.result.programme_id)]
            j.needs = (*j.needs, *sources)
            j.prepare = recidivism_results_writer(j, sources, build, j.prepare)
    return jobs


def combined_results(jobs: Sequence[Job], build: Path, quarter: str, run_id: str,
                     log: logging.Logger | None) -> pd.DataFrame:
    """The ``results.csv`` rows of every completed job, with a ``notebook`` column.

    A malformed ``results.csv`` fails its job (status ``failed``,
    ``ResultsError``), not the run; its rows are left out.
    """
    frames = []
    for j in jobs:
        p = build / j.result.folder / "results.csv"
        if j.result.status == "ok" and p.is_file():
            try:
                df = pd.read_csv(p, dtype={"programme_id": str, "endpoint": str, "group": str})
            except pd.errors.EmptyDataError:
                continue
            if df.empty:
                continue
            df.insert(len(df.columns), "notebook", j.result.notebook)
            try:  # a malformed results.csv fails its notebook, not the run
                store.normalise_results(df, quarter, run_id, source=f"{j.result.folder}/results.csv")
            except ValueError as exc:
                j.result.status, j.result.error = "failed", f"ResultsError: {exc}"
                if log is not None:
                    log.error("%s: %s", j.result.job_id, j.result.error)
                continue
            frames.append(df)
    if not frames:
        empty = make_results([])
        empty["notebook"] = []
        return empty
    return pd.concat(frames, ignore_index=True)


def recidivism_results_writer(job: Job, sources: Sequence[Job], build: Path,
                              before: Callable[[], None] | None) -> Callable[[], None]:
    """The ``prepare`` of a costs or synthesis job: the published recidivism results of its programme(s).

    Into the job's private ``recidivism_results`` folder: ``results.csv`` (the
    rows of the recidivism reports of ``sources`` that ended ``ok``, as text)
    and ``programmes.csv`` (programme_id, design, job status), so that costs
    and the synthesis use the estimates the recidivism reports published, made
    with the registry's settings, and never a re-estimate with defaults.
    """
    def write() -> None:
        if before is not None:
            before()
        folder = private_dir(job.spec["parameters"]["recidivism_results"])
        frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for o in sources
                  if o.result.status == "ok" and (p := build / o.result.folder / "results.csv").is_file()
                  and p.stat().st_size > 0]
        write_private(folder / "results.csv", pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
        write_private(folder / "programmes.csv", pd.DataFrame(
            [{"programme_id": o.result.programme_id, "design": o.spec["parameters"].get("design", ""),
              "status": o.result.status} for o in sources], columns=["programme_id", "design", "status"]))
    return write


def programme_results_writer(job: Job, results: Callable[[], pd.DataFrame], build: Path) -> Callable[[], None]:
    """The ``prepare`` of a job of all programmes: write the programmes' published outputs of its notebook.

    Into the job's private ``programme_results`` folder: ``results.csv`` (the
    programmes' rows of ``results()``) and every other CSV table of their
    reports, each concatenated with a ``programme_id`` column.
    """
    def write() -> None:
        folder = private_dir(job.spec["parameters"]["programme_results"])
        done = results()
        rows = done[(done["notebook"] == job.result.notebook) & (done["programme_id"].astype(str) != "all")]
        write_private(folder / "results.csv", rows)
        tables: dict[str, list[pd.DataFrame]] = {}
        for o in job.needs:
            if o.result.status != "ok":
                continue
            for f in sorted((build / o.result.folder).glob("*.csv")):
                if f.name == "results.csv":
                    continue
                try:
                    t = pd.read_csv(f, dtype=object)
                except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
                    continue
                if "programme_id" not in t.columns:  # (tables of a programme report may name it already)
                    t.insert(0, "programme_id", o.result.programme_id)
                tables.setdefault(f.name, []).append(t)
        for name, parts in tables.items():
            write_private(folder / name, pd.concat(parts, ignore_index=True))
    return write
