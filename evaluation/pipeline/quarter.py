"""Quarterly run: validate the intake, execute every notebook, build the report, publish safely.

``evaluation run --intake DIR --quarter 2026Q3`` (and :func:`run_quarter`)
does, in order:

1. **Lock and clean up.** Takes ``<out>/.<quarter>.lock`` (``flock``; a
   second run of the same quarter waits for nothing and refuses), removes
   temporary folders ``<out>/.tmp-<quarter>-*`` left by interrupted runs.
   An existing ``<out>/<quarter>/`` is never overwritten without ``force``.
2. **Validate** with :func:`evaluation.validation.validate.validate_intake`. Blocking
   errors, a quarantined share above ``max_quarantine_share`` in any table,
   or an extract cutoff before the quarter's first day stop the run (exit
   code 2; :mod:`evaluation.pipeline.staging`): the validation report goes to
   ``<out>/<quarter>.failed-validation/`` (internal: it may quote row numbers
   and values; never share it) and no quarter folder is created.
3. **Stage the accepted rows** (CSV, ISO dates) in a private folder inside
   the temporary build folder, and cache the run's validation result beside
   it (:func:`evaluation.validation.cache.write_validated_cache`, owner-only
   files, signed with a random key that only this run and its notebook
   workers know, handed to them through their environment); the
   notebooks load that folder with :func:`evaluation.validation.cache.load_validated`,
   which returns the cached result (accepted rows, and the issues, quarantine
   and reconciliation of the delivered intake) instead of validating the
   intake again in every notebook. Both are deleted before publication.
   The analysis cutoff is the last day of the quarter, or the extract's own
   cutoff when that is earlier; the index page and the manifest say which.
4. **Execute** every notebook of ``notebooks/registry.yaml``
   (:mod:`evaluation.pipeline.registry`, jobs planned by
   :mod:`evaluation.pipeline.plan`) for every selected programme and for all programmes together (per the notebook's
   ``scope``), at most ``jobs`` at a time, in persistent worker processes
   (each imports papermill once and executes one notebook after the other,
   every notebook in a fresh ``python3`` kernel: :mod:`evaluation.pipeline.workers`). Each notebook has a cell
   timeout (papermill ``execution_timeout``), a kernel start timeout and a
   wall-clock limit after which its process tree is killed (papermill can
   hang after the last cell or at kernel start: papermill issues #711, #684);
   the whole run has an outer ``timeout``. A notebook of all programmes
   with the derived parameter ``programme_results`` starts when the
   programmes' jobs of the same notebook have ended and gets their published
   outputs (a folder: ``results.csv`` with this notebook's programme rows, and
   each CSV table of their reports with a ``programme_id`` column), so that its totals can withhold
   what would give a programme's small count back by subtraction
   (:func:`evaluation.publish.disclosure.withhold_pooled`). Notebooks with
   ``phase: 2`` (the trends notebook) run after the others and see this
   quarter's results.
   A failing notebook does not stop the others.
5. **Report**: each executed notebook kept as ``notebook.ipynb`` and rendered
   to ``report.html`` without code; ``index.html``; ``results.csv`` with all
   the quarter's estimates; ``manifest.json`` (inputs with SHA-256, row
   counts, cutoff, parameters, versions, git commit, timings, statuses:
   :mod:`evaluation.pipeline.manifest`); ``run.log``. Every file of the
   report folder is written through :mod:`evaluation.publish.writer`; the
   job files and the run log are owner-only files in private folders of the
   build folder until then.
6. **Privacy scan** of every output file for identifier values from the
   intake (participant, volunteer, match, contact, event and session ids).
   Any hit fails the run (exit 1) and nothing is published.
7. **Publish** (:mod:`evaluation.pipeline.publication`, with a journal and
   SIGTERM deferred until it is done): the previous quarter folder (with
   ``force``) is renamed to ``<quarter>.replaced-<UTC timestamp>``, the build
   folder is renamed to ``<out>/<quarter>/`` (same filesystem, atomic: the
   commit point), then the quarter's rows replace its partition of the
   results store from the published folder (:mod:`evaluation.pipeline.store`).
   A publication left unfinished (process killed, disk full) is completed or
   rolled back by the next run of the quarter before anything else.

The intake and the reports folder must not overlap (neither inside the
other, after resolving symbolic links): the reports folder is shareable and
the intake holds row-level data. Programme ids that are names the quarter
folder uses itself (``index.html``, ``manifest.json``, ...) are refused.

Exit codes: 0 all notebooks completed; 1 a notebook failed or timed out,
the privacy scan found identifiers, or the run hit its outer timeout (in
the last two cases nothing is published); 2 the intake did not pass
validation, or the arguments were wrong (a malformed quarter, intake and
reports folders that overlap, a reserved programme id); 3 the quarter exists
and ``force`` was not given, or another run of the quarter holds the lock;
4 the reports folder could not be written (read-only, disk full, permission
denied): the message says whether anything was published; 130 interrupted
(SIGINT or SIGTERM) before the publication (during it, the signal waits
until the publication is done).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import errno
import gc
import logging
import os
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.datasets.design import derive_design
from evaluation.intake.private import private_dir, write_private
from evaluation.intake.read import IntakeError
from evaluation.pipeline import publication, store
from evaluation.pipeline.manifest import build_manifest, describe_inputs, sha256_file, utcnow
from evaluation.pipeline.plan import (
    check_programme_ids,
    combined_results,
    plan_jobs,
    programme_list,
    reference_parameters,
    select_programmes,
)
from evaluation.pipeline.registry import (
    DEFAULT_NOTEBOOKS_DIR,
    NotebookSpec,
    load_registry,
    notebook_title,
)
from evaluation.pipeline.staging import (
    default_validator,
    stage_accepted_intake,
    validation_stop_reasons,
    write_failed_validation,
)
from evaluation.pipeline.workers import Job, JobResult, WorkerPool, run_jobs
from evaluation.publish.checks import (
    BLOCKING_CHECKS,
    language_differences,
    longest_follow_up,
    publication_check,
)
from evaluation.publish.disclosure import (
    WITHHELD_NOTE,
    collect_identifiers,
    differencing_audit,
    scan_outputs,
)
from evaluation.publish.formatting import DEFAULT_LANGUAGE, LANGUAGES, parse_languages
from evaluation.publish.page_check import check_pages
from evaluation.publish.site import build_versions
from evaluation.publish.writer import write_json, write_table, write_text
from evaluation.validation.cache import cache_environment, new_cache_key, write_validated_cache
from evaluation.validation.validate import ValidationResult

LOGGER_NAME = "evaluation.pipeline.run"
EXIT_OK, EXIT_FAILED, EXIT_VALIDATION, EXIT_EXISTS, EXIT_WRITE = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


class RunInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped the run; ``message`` says what was published."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RunRefused(RuntimeError):
    """The quarter exists (no force) or another run of it is active."""


@dataclasses.dataclass
class RunResult:
    """Outcome of :func:`run_quarter`."""

    exit_code: int
    quarter: str
    status: str  # published | failed_validation | refused | privacy_failure | timeout | interrupted | write_failed
    quarter_dir: Path | None = None
    index_html: Path | None = None
    failed_validation_dir: Path | None = None
    replaced_dir: Path | None = None
    manifest: dict[str, Any] = dataclasses.field(default_factory=dict)
    jobs: list[JobResult] = dataclasses.field(default_factory=list)
    messages: list[str] = dataclasses.field(default_factory=list)
    privacy_findings: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter such as ``"2026Q3"``."""
    store.check_quarter(quarter)
    year, q = int(quarter[:4]), int(quarter[-1])
    start = dt.date(year, 3 * q - 2, 1)
    end = dt.date(year + 1, 1, 1) - dt.timedelta(days=1) if q == 4 else dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1)
    return start, end


def privacy_scan(root: str | Path, identifiers: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    """Scan the build folder for the intake's identifier values; return findings ``{"file", "field", "location"}``.

    :func:`evaluation.publish.disclosure.scan_outputs` (text, PNG text chunks,
    office files; row-level file formats and identifier-named columns are
    findings too). Values are never part of a finding.
    """
    with warnings.catch_warnings():
        # short numeric ids cannot be searched for; the count is in the manifest, not a warning per run
        warnings.simplefilter("ignore", UserWarning)
        found = scan_outputs(root, identifiers)
    return [{"file": str(r["file"]), "field": str(r["identifier_kind"]), "location": str(r["location"])}
            for r in found.to_dict("records")]


def check_separate_folders(intake_dir: Path, out_dir: Path) -> None:
    """Raise ValueError when the intake and reports folders overlap (after resolving symbolic links).

    The reports folder is shareable and the intake holds row-level data: with
    an overlap, ``--force`` would move the intake into the reports folder, or
    the reports would be written into the intake.
    """
    intake, out = Path(intake_dir).resolve(), Path(out_dir).resolve()
    if intake == out:
        how = "are the same folder"
    elif out in intake.parents:
        how = "overlap: the intake lies inside the reports folder"
    elif intake in out.parents:
        how = "overlap: the reports folder lies inside the intake"
    else:
        return
    raise ValueError(f"the intake folder {intake} and the reports folder {out} {how}; use separate folders "
                     "(the reports folder is shared, the intake holds row-level data)")


def describe_os_error(exc: OSError) -> str:
    """An operator's sentence for a file-system error while writing the reports."""
    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EROFS: "the reports folder is on a read-only file system",
            errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}.get(
        exc.errno, exc.strerror or type(exc).__name__)
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"cannot write the reports: {what}{where}"


def _cleanup_stale(out_dir: Path, quarter: str, log: logging.Logger) -> list[str]:
    removed = []
    for p in sorted(out_dir.glob(f".tmp-{quarter}-*")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
            log.warning("removed leftover build folder %s from an interrupted run", p.name)
    for p in store.cleanup_temp_files(out_dir):
        removed.append(str(p))
    return removed


@contextlib.contextmanager
def _quarter_lock(out_dir: Path, quarter: str):
    import fcntl

    lock_path = out_dir / f".{quarter}.lock"
    fh = open(lock_path, "a+")  # noqa: SIM115 - an empty lock file; nothing is written to it
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RunRefused(f"another run of {quarter} is active in {out_dir} (lock {lock_path.name})") from exc
        yield
    finally:
        fh.close()


def run_quarter(
    intake_dir: str | Path,
    quarter: str,
    out_dir: str | Path = "reports",
    programmes: str | Sequence[str] | None = "all",
    language: str | Sequence[str] = DEFAULT_LANGUAGE,
    jobs: int = 1,
    force: bool = False,
    max_quarantine_share: float = 0.05,
    notebook_timeout: int | None = None,
    timeout: float | None = None,
    notebooks_dir: str | Path | None = None,
    registry: str | Path | None = None,
    seed: int = 20260930,
    start_timeout: int = 120,
    kill_grace: float = 30.0,
    progress: bool = True,
    validator: Callable[[Path, str], Any] | None = None,
    stage_accepted: bool = True,
) -> RunResult:
    """Run one quarter end to end; see the module docstring for the steps.

    Parameters
    ----------
    intake_dir : path
        The intake folder (tables, ``programmes.yaml``, ``extract.yaml``).
    quarter : str
        ``YYYYQn``; the analysis cutoff is the quarter's last day or the
        extract's cutoff if earlier.
    out_dir : path
        Reports folder; the quarter is published as ``out_dir/<quarter>/``.
    programmes : "all", comma-separated str or list
        Programmes analysed one by one; "all programmes together" always runs.
    language : {"nl", "en"}, "nl,en", "en,nl" or a list of them
        Report language(s). With two, the first is the main version at the quarter's root and the
        second a full second version in ``<quarter>/<code>/``, each page linked to its counterpart.
        Every notebook then runs once per language (twice the notebook time); the numbers must be the
        same in both (checked: a difference stops publication).
    jobs : int
        Notebooks executed at the same time (worker processes).
    force : bool
        Replace an existing quarter, keeping it as ``<quarter>.replaced-<UTC time>``.
    max_quarantine_share : float
        Largest share of quarantined rows accepted in any table.
    notebook_timeout : int, optional
        Overrides every registered notebook's timeout (seconds).
    timeout : float, optional
        Outer limit for the whole run (seconds); on expiry every notebook
        process tree is killed and nothing is published.
    notebooks_dir, registry : path, optional
        Notebook folder (default ``notebooks/``) and registry (default
        ``<notebooks_dir>/registry.yaml``).
    seed : int
        Passed to every notebook.
    start_timeout : int
        Kernel start timeout (seconds).
    kill_grace : float
        Seconds after a notebook's timeout (plus start timeout) before its
        process tree is killed (papermill hangs).
    progress : bool
        Show a tqdm progress bar on stderr.
    validator : callable, optional
        ``validator(intake_dir, language) -> ValidationResult``; defaults to
        :func:`evaluation.validation.validate.validate_intake`.
    stage_accepted : bool
        Give the notebooks a copy of the accepted rows (default) instead of
        the original intake.

    Returns
    -------
    RunResult
    """
    t_start = time.monotonic()
    started = utcnow()
    deadline = t_start + timeout if timeout else None
    store.check_quarter(quarter)
    languages = parse_languages(language)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if not 0 <= max_quarantine_share <= 1:
        raise ValueError(f"max_quarantine_share must lie between 0 and 1, got {max_quarantine_share}")
    intake_dir = Path(intake_dir).resolve()
    if not intake_dir.is_dir():
        raise FileNotFoundError(f"intake folder not found: {intake_dir}")
    out_dir = Path(out_dir).resolve()
    check_separate_folders(intake_dir, out_dir)
    notebooks_dir = Path(notebooks_dir).resolve() if notebooks_dir else DEFAULT_NOTEBOOKS_DIR
    registry_path = Path(registry).resolve() if registry else notebooks_dir / "registry.yaml"
    specs = load_registry(registry_path)
    for s in specs:
        if not (notebooks_dir / s.file).is_file():
            raise FileNotFoundError(f"{registry_path}: notebook {s.id!r} file {s.file} not found in {notebooks_dir}")
    quarter_dir = out_dir / quarter
    q_start, q_end = quarter_bounds(quarter)
    run_id = f"{quarter}-{started.strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}"

    log = logging.getLogger(f"{LOGGER_NAME}.{run_id}")
    log.setLevel(logging.INFO)
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(fmt)
    log.addHandler(console)
    handlers: list[logging.Handler] = [console]

    def finish(result: RunResult) -> RunResult:
        for h in handlers:
            log.removeHandler(h)
            h.close()
        return result

    recovered: list[str] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with _quarter_lock(out_dir, quarter):
            done = publication.recover(out_dir, quarter, log)  # a publication left unfinished by a dead run
            recovered += [done] if done else []
            if quarter_dir.exists() and not force:
                msg = f"{quarter_dir} exists; use --force to replace it (the old one is kept under a timestamped name)"
                log.error(msg)
                return finish(RunResult(EXIT_EXISTS, quarter, "refused", messages=[*recovered, msg]))
            _cleanup_stale(out_dir, quarter, log)
            build = out_dir / f".tmp-{quarter}-{run_id}"
            build.mkdir()
            write_private(build / "owner.json", {"pid": os.getpid(), "run_id": run_id})
            run_log = private_dir(build / "_log") / "run.log"  # published as run.log when the run publishes
            write_private(run_log, "")
            file_handler = logging.FileHandler(run_log, mode="a", encoding="utf-8")
            file_handler.setFormatter(fmt)
            log.addHandler(file_handler)
            handlers.append(file_handler)
            try:
                result = _run_in_build(
                    build=build, quarter=quarter, quarter_dir=quarter_dir, out_dir=out_dir, intake_dir=intake_dir,
                    programmes=programmes, languages=languages, jobs=jobs, force=force,
                    max_quarantine_share=max_quarantine_share, notebook_timeout=notebook_timeout,
                    timeout=timeout, deadline=deadline, notebooks_dir=notebooks_dir, registry_path=registry_path,
                    specs=specs, seed=seed, start_timeout=start_timeout, kill_grace=kill_grace, progress=progress,
                    validator=validator or default_validator, stage_accepted=stage_accepted, run_id=run_id,
                    started=started, q_start=q_start, q_end=q_end, log=log, run_log=run_log,
                )
            finally:
                log.removeHandler(file_handler)
                file_handler.close()
                # a build named by a publication journal belongs to the next run's recovery
                if build.exists() and not publication.journal_path(out_dir, quarter).exists():
                    shutil.rmtree(build, ignore_errors=True)
            result.messages[:0] = recovered
            return finish(result)
    except RunRefused as exc:
        log.error(str(exc))
        return finish(RunResult(EXIT_EXISTS, quarter, "refused", messages=[*recovered, str(exc)]))
    except OSError as exc:
        msgs = [*recovered, describe_os_error(exc), publication.state(out_dir, quarter, run_id)]
        for m in msgs:
            log.error(m)
        return finish(RunResult(EXIT_WRITE, quarter, "write_failed", messages=msgs))
    except KeyboardInterrupt as exc:
        finish(RunResult(EXIT_INTERRUPTED, quarter, "interrupted"))
        raise RunInterrupted(f"interrupted; {publication.state(out_dir, quarter, run_id)}") from exc
    except BaseException:
        finish(RunResult(EXIT_FAILED, quarter, "interrupted"))
        raise


def _run_in_build(*, build: Path, quarter: str, quarter_dir: Path, out_dir: Path, intake_dir: Path,
                  programmes: Any, languages: list[str], jobs: int, force: bool, max_quarantine_share: float,
                  notebook_timeout: int | None, timeout: float | None, deadline: float | None,
                  notebooks_dir: Path, registry_path: Path, specs: list[NotebookSpec], seed: int,
                  start_timeout: int, kill_grace: float, progress: bool, validator: Callable[[Path, str], Any],
                  stage_accepted: bool, run_id: str, started: dt.datetime, q_start: dt.date, q_end: dt.date,
                  log: logging.Logger, run_log: Path) -> RunResult:
    language = languages[0]
    log.info("run %s: intake %s, quarter %s (%s to %s), language(s) %s", run_id, intake_dir.name, quarter, q_start,
             q_end, ",".join(languages))
    inputs = describe_inputs(intake_dir)
    v0 = time.perf_counter()
    validation = validator(intake_dir, language)
    validation_seconds = time.perf_counter() - v0
    rec = getattr(validation, "reconciliation", None)
    reconciliation = rec.to_dict("records") if isinstance(rec, pd.DataFrame) else []
    reasons = validation_stop_reasons(validation, max_quarantine_share, q_start)
    if reasons:
        target = write_failed_validation(validation, out_dir, quarter, reasons)
        for r in reasons:
            log.error("validation stop: %s", r)
        log.error("validation report written to %s; nothing published", target)
        return RunResult(EXIT_VALIDATION, quarter, "failed_validation", failed_validation_dir=target,
                         messages=reasons)

    extract_cutoff = getattr(validation, "cutoff_date", None)
    extract_cutoff = None if extract_cutoff is None or pd.isna(extract_cutoff) else pd.Timestamp(extract_cutoff).date()
    if extract_cutoff is not None and extract_cutoff < q_end:
        cutoff, cutoff_source = extract_cutoff, "extract"
    else:
        cutoff, cutoff_source = q_end, "quarter_end"
    log.info("analysis cutoff %s (%s)", cutoff, cutoff_source)

    described = programme_list(validation)
    available = check_programme_ids([p["programme_id"] for p in described])
    selected = select_programmes(programmes, available)
    names = {p["programme_id"]: str(p.get("name", p["programme_id"])) for p in described}
    participants = (getattr(validation, "tables", None) or {}).get("participants")
    designs = {p: derive_design(participants, p) for p in selected}
    # all programmes together are never one causal comparison (their pools differ), whatever --programmes
    # selects: the report of all programmes is descriptive (docs/methods.md, section 'Comparison groups and designs')
    overall_design = "descriptive"
    log.info("designs: %s; all programmes together: %s", designs, overall_design)
    follow_up_days = longest_follow_up(participants, cutoff)
    references = {p["programme_id"]: reference_parameters(p) for p in described}

    private = private_dir(build / "_private")
    work = private_dir(private / "jobs")
    if isinstance(rec, pd.DataFrame):
        (build / "validation").mkdir()
        write_table(build / "validation" / "reconciliation.csv", rec)
    nb_intake = intake_dir
    cache_env: dict[str, str] = {}  # the run's cache and its key: for the notebook workers only
    if stage_accepted and getattr(validation, "tables", None):
        nb_intake = stage_accepted_intake(validation, intake_dir, private / "intake")
        if isinstance(validation, ValidationResult):  # not for the stand-in validators of the tests
            c0 = time.perf_counter()
            key = new_cache_key()
            write_validated_cache(validation, nb_intake, private / "validated", key)
            cache_env = cache_environment(private / "validated", key)
            del key
            log.info("validation result cached for the notebooks in %.1f s", time.perf_counter() - c0)
    pending_store = private / "pending_store.parquet"
    # identifiers for the privacy scan are all the run keeps of the row-level data: the validated
    # tables are released before the notebooks start (each kernel loads its own copy)
    identifiers = collect_identifiers(validation)
    del validation, participants
    gc.collect()

    replacements = {str(private): "<intake>", str(intake_dir): "<intake>", str(build): "<report>",
                    str(out_dir): "<reports>", str(notebooks_dir): "<notebooks>"}
    def plan(lang: str, root: Path, own_private: Path) -> list[Job]:
        return plan_jobs(
            specs=specs, selected=selected, designs=designs | {"all": overall_design}, references=references,
            common={"intake_dir": str(nb_intake), "language": lang, "cutoff_date": cutoff.isoformat(), "seed": seed},
            build=root, private=own_private, out_dir=out_dir, notebooks_dir=notebooks_dir, quarter=quarter,
            notebook_timeout=notebook_timeout, start_timeout=start_timeout, kill_grace=kill_grace,
            replacements=replacements, run_id=run_id, log=log)

    job_list = plan(language, build, private)
    results = lambda: combined_results(job_list, build, quarter, run_id, log)  # noqa: E731
    # a second language: the same notebooks, run again in that language into <quarter>/<code>/ (its own private
    # folder, its own pending results); its numbers must equal the main version's (checked below)
    translations: dict[str, list[Job]] = {}
    for lang in languages[1:]:
        (build / lang).mkdir()
        translations[lang] = plan(lang, build / lang, private_dir(private / f"language-{lang}"))
        for j in translations[lang]:
            j.result.job_id = f"{lang}/{j.result.job_id}"
    every_job = job_list + [j for js in translations.values() for j in js]

    # phase 2 notebooks (trends) read this quarter's phase-1 results through the pending partition
    phase1 = [j for j in every_job if j.phase == 1]
    phase2 = [j for j in every_job if j.phase == 2]
    pool = WorkerPool(min(jobs, len(every_job)), work, log, env=cache_env)
    try:
        finished = run_jobs(phase1, pool, deadline, log, progress)
        if finished and phase2:
            phase1_results = results()
            store.stage_partition(pending_store, quarter, phase1_results, run_id)
            for lang in translations:
                store.stage_partition(private / f"language-{lang}" / "pending_store.parquet", quarter,
                                      phase1_results, run_id)
            finished = run_jobs(phase2, pool, deadline, log, progress)
    finally:
        pool.close()
    if not finished:
        log.error("run stopped at its outer timeout of %s s; nothing published", timeout)
        return RunResult(EXIT_FAILED, quarter, "timeout", jobs=[j.result for j in every_job],
                         messages=[f"outer timeout of {timeout} s reached"])

    # combined results of the quarter (aggregate estimates only)
    all_results = results()
    write_table(build / "results.csv", all_results)
    store.stage_partition(pending_store, quarter, all_results, run_id)
    differencing = differencing_audit(all_results)
    checked = publication_check(all_results, designs | {"all": overall_design},
                                follow_up_days=follow_up_days)
    for lang, ljobs in translations.items():  # the same numbers in every language, or nothing is published
        differ = language_differences(all_results, combined_results(ljobs, build / lang, quarter, run_id, log))
        if len(differ):
            checked = pd.concat([checked, differ.assign(check="language_versions_differ")], ignore_index=True)
    blocking = checked[checked["check"].isin(BLOCKING_CHECKS)]
    for f in checked.head(50).itertuples():
        (log.error if f.check in BLOCKING_CHECKS else log.warning)(
            "publication check %s: %s/%s %s %s %s: %s", f.check, f.programme_id, f.notebook, f.estimand, f.endpoint,
            f.group, f.detail)
    totals_withheld = {str(nb): int(k) for nb, k in all_results[
        (all_results["programme_id"].astype(str) == "all")
        & all_results["note"].fillna("").astype(str).str.contains(WITHHELD_NOTE, regex=False)
    ].groupby("notebook").size().items()}
    if len(differencing):
        # counts and measures only: the flagged ranges themselves would be the disclosure
        log.warning("disclosure: %d small programme count(s) in %d measure line(s) could be narrowed (%d exactly) "
                    "by subtracting the other programmes from 'all programmes', if those lines add up: %s",
                    int(differencing["hidden"].sum()), len(differencing), int(differencing["exact"].sum()),
                    sorted({f"{r.notebook}:{r.estimand}" for r in differencing.itertuples()})[:20])

    spec_of = {s.id: s for s in specs}
    versions = {language: job_list, **translations}
    index = build_versions(
        build, quarter,
        {lang: [dataclasses.asdict(j.result) | {"title": notebook_title(spec_of[j.result.notebook], lang)}
                for j in ljobs] for lang, ljobs in versions.items()},
        cutoff_date=cutoff.isoformat(), cutoff_source=cutoff_source, run_id=run_id, programme_names=names,
        designs=designs | {"all": overall_design})
    # the static page check (issue 18): alt texts, table headers, lang, titles, raw values, machine names and
    # the other language; logged and recorded in the manifest, never blocking (the numbers are checked above)
    pages_checked = check_pages(build)
    for f in pages_checked.head(50).itertuples():
        log.warning("page check %s: %s: %s", f.check, f.page, f.detail)

    manifest = build_manifest(
        run_id=run_id, quarter=quarter, period=(q_start, q_end), cutoff=cutoff, cutoff_source=cutoff_source,
        extract_cutoff=extract_cutoff, started=started, ended=utcnow(), validation_seconds=validation_seconds,
        intake_name=intake_dir.name, inputs=inputs, reconciliation=reconciliation, programmes=selected,
        designs=designs | {"all": overall_design},
        parameters={
            "quarter": quarter, "programmes": selected, "language": language, "languages": languages,
            "jobs": jobs, "force": force,
            "max_quarantine_share": max_quarantine_share, "notebook_timeout": notebook_timeout,
            "timeout": timeout, "seed": seed, "start_timeout": start_timeout, "kill_grace": kill_grace,
            "stage_accepted": stage_accepted, "notebooks_dir": notebooks_dir.name,
            "registry": registry_path.name, "registry_sha256": sha256_file(registry_path),
        },
        notebooks=[{"id": s.id, "file": s.file, "sha256": sha256_file(notebooks_dir / s.file), "scope": s.scope,
                    "timeout": notebook_timeout or s.timeout, "phase": s.phase} for s in specs],
        jobs=[dataclasses.asdict(j.result) for j in job_list],
        differencing=differencing, totals_withheld=totals_withheld, identifiers=identifiers,
    )
    if translations:  # the second version's jobs, with folders relative to the quarter
        manifest["translations"] = {lang: [dataclasses.asdict(j.result) | {"folder": f"{lang}/{j.result.folder}"}
                                           for j in ljobs] for lang, ljobs in translations.items()}
    manifest["publication_check"] = {
        "findings": len(checked), "blocking": len(blocking),
        "by_check": {str(k): int(v) for k, v in checked.groupby("check").size().items()},
        "blocking_checks": sorted(BLOCKING_CHECKS),
    }
    manifest["page_check"] = {
        "findings": len(pages_checked),
        "by_check": {str(k): int(v) for k, v in pages_checked.groupby("check").size().items()},
    }
    if len(blocking):
        log.error("publication check: %d blocking finding(s) (%s): the quarter is NOT published", len(blocking),
                  ", ".join(sorted(set(blocking["check"]))))
        return RunResult(EXIT_FAILED, quarter, "publication_check_failed", manifest=manifest,
                         jobs=[j.result for j in job_list],
                         messages=[f"publication check: {len(blocking)} blocking finding(s): "
                                   + ", ".join(sorted(set(blocking["check"])))])

    # the private copy of the intake and job files never leave the build folder; the run log is scanned
    # with the outputs (in its private folder) and published after the scan
    shutil.rmtree(private, ignore_errors=True)
    p0 = time.perf_counter()
    write_json(build / "manifest.json", manifest)
    findings = privacy_scan(build, identifiers)
    manifest["privacy_scan"]["seconds"] = round(time.perf_counter() - p0, 3)
    manifest["privacy_scan"]["findings"] = len(findings)
    if findings:
        for f in findings[:50]:
            log.error("privacy: %s found in %s (%s)", f.get("field"), f.get("file"), f.get("location"))
        log.error("privacy scan found %d identifier value(s) in the outputs: the quarter is NOT published", len(findings))
        return RunResult(EXIT_FAILED, quarter, "privacy_failure", manifest=manifest, jobs=[j.result for j in job_list],
                         privacy_findings=findings, messages=["identifier values found in the outputs"])
    write_json(build / "manifest.json", manifest)
    (build / "owner.json").unlink(missing_ok=True)

    n_bad = sum(j.result.status != "ok" for j in every_job)
    log.info("%d of %d notebooks completed", len(every_job) - n_bad, len(every_job))
    replaced = _publish(build, quarter_dir, out_dir, quarter, all_results, run_id, run_log, log)
    exit_code = EXIT_OK if n_bad == 0 else EXIT_FAILED
    return RunResult(exit_code, quarter, "published", quarter_dir=quarter_dir,
                     index_html=quarter_dir / index.name, replaced_dir=replaced, manifest=manifest,
                     jobs=[j.result for j in job_list],
                     messages=[f"{n_bad} notebook(s) failed"] if n_bad else [])


def _publish(build: Path, quarter_dir: Path, out_dir: Path, quarter: str, all_results: pd.DataFrame,
             run_id: str, run_log: Path, log: logging.Logger) -> Path | None:
    """Stage the store partition and the run log in the build, then publish it (:mod:`evaluation.pipeline.publication`).

    Returns the folder the previous quarter was kept as (None when there was none).
    """
    store.stage_partition(build / publication.STAGED_STORE, quarter, all_results, run_id)
    replaced = None
    if quarter_dir.exists():
        replaced = out_dir / f"{quarter}.replaced-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}"
        log.warning("previous %s kept as %s", quarter, replaced.name)
    for h in log.handlers:
        h.flush()
    write_text(build / "run.log", run_log.read_bytes().decode("utf-8"))
    shutil.rmtree(run_log.parent, ignore_errors=True)
    publication.publish_build(build, out_dir, quarter, run_id, replaced, log)
    return replaced


# --------------------------------------------------------------------------- CLI

def _languages_argument(text: str) -> list[str]:
    try:
        return parse_languages(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``evaluation run``."""
    p.add_argument("--intake", required=True, help="intake folder (tables, programmes.yaml, extract.yaml)")
    p.add_argument("--quarter", required=True, help="quarter to report, e.g. 2026Q3")
    p.add_argument("--out", default="reports", help="reports folder (default: reports)")
    p.add_argument("--programmes", default="all", help="comma-separated programme ids, or 'all' (default)")
    p.add_argument("--language", default=DEFAULT_LANGUAGE, type=_languages_argument,
                   help=f"report language: {' or '.join(LANGUAGES)}, or both as 'nl,en' (the first is the main "
                        f"version, the second goes to <quarter>/<code>/, linked page by page; every notebook then "
                        f"runs twice) (default: {DEFAULT_LANGUAGE})")
    p.add_argument("--jobs", type=int, default=1, help="notebooks executed in parallel (default: 1)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing quarter; the old one is kept as <quarter>.replaced-<time>")
    p.add_argument("--max-quarantine-share", type=float, default=0.05,
                   help="stop when any table has a larger share of quarantined rows (default: 0.05)")
    p.add_argument("--notebook-timeout", type=int, default=None, help="seconds per notebook (overrides the registry)")
    p.add_argument("--timeout", type=float, default=None, help="seconds for the whole run")
    p.add_argument("--notebooks", default=None, help="notebooks folder (default: the package's notebooks/)")
    p.add_argument("--registry", default=None, help="registry file (default: <notebooks>/registry.yaml)")
    p.add_argument("--seed", type=int, default=20260930, help="seed passed to every notebook")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Entry point of ``evaluation run``; returns the exit code."""
    def on_term(signum, frame):  # SIGTERM (systemd stop, kill) runs the clean-up like Ctrl-C
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        result = run_quarter(
            args.intake, args.quarter, out_dir=args.out, programmes=args.programmes, language=args.language,
            jobs=args.jobs, force=args.force, max_quarantine_share=args.max_quarantine_share,
            notebook_timeout=args.notebook_timeout, timeout=args.timeout, notebooks_dir=args.notebooks,
            registry=args.registry, seed=args.seed, progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, IntakeError) as exc:
        print(f"evaluation run: {exc}", file=sys.stderr)
        return EXIT_VALIDATION
    except KeyboardInterrupt as exc:
        print(f"evaluation run: {getattr(exc, 'message', 'interrupted; nothing published')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    for m in result.messages:
        print(f"evaluation run: {m}", file=sys.stderr)
    if result.index_html is not None:
        print(result.index_html)
    elif result.failed_validation_dir is not None:
        print(f"evaluation run: validation report in {result.failed_validation_dir}", file=sys.stderr)
    return result.exit_code


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="evaluation run")
    configure_parser(_parser)
    sys.exit(main(_parser.parse_args()))
