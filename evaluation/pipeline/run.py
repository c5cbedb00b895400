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
   code 2): the validation report goes to ``<out>/<quarter>.failed-validation/``
   (internal: it may quote row numbers and values; never share it) and no
   quarter folder is created.
3. **Stage the accepted rows** (CSV, ISO dates) in a private folder inside
   the temporary build folder, with the run's validation result cached in it
   (:func:`evaluation.validation.cache.write_validated_cache`, owner-only files); the
   notebooks load that folder with :func:`evaluation.validation.cache.load_validated`,
   which returns the cached result (accepted rows, and the issues, quarantine
   and reconciliation of the delivered intake) instead of validating the
   intake again in every notebook. It is deleted before publication.
   The analysis cutoff is the last day of the quarter, or the extract's own
   cutoff when that is earlier; the index page and the manifest say which.
4. **Execute** every notebook of ``notebooks/registry.yaml`` for every
   selected programme and for all programmes together (per the notebook's
   ``scope``), at most ``jobs`` at a time, in persistent worker processes
   (each imports papermill once and executes one notebook after the other,
   every notebook in a fresh ``python3`` kernel). Each notebook has a cell
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
   counts, cutoff, parameters, versions, git commit, timings, statuses);
   ``run.log``.
6. **Privacy scan** of every output file for identifier values from the
   intake (participant, volunteer, match, contact, event and session ids).
   Any hit fails the run (exit 1) and nothing is published.
7. **Publish**: the previous quarter folder (with ``force``) is renamed to
   ``<quarter>.replaced-<UTC timestamp>``, the build folder is renamed to
   ``<out>/<quarter>/`` (same filesystem, atomic), then the quarter's rows
   replace its partition of the results store.

Exit codes: 0 all notebooks completed; 1 a notebook failed or timed out,
the privacy scan found identifiers, or the run hit its outer timeout (in
the last two cases nothing is published); 2 the intake did not pass
validation (or the arguments were wrong); 3 the quarter exists and
``force`` was not given, or another run of the quarter holds the lock.

The recidivism ``design`` parameter is derived here, from the accepted
participants table, per programme (:func:`derive_design`): ``rct`` when the
programme has comparison persons and everyone in it (participants and
comparison) was randomised, ``matched`` when it has comparison persons
otherwise, ``descriptive`` when it has none. For all programmes together the
common design is passed when all selected programmes share one, otherwise
``descriptive`` (pooling different designs is not a causal comparison). A
programme with design ``descriptive`` and a ``reference_rate`` in
``programmes.yaml`` also gets that published rate (:func:`reference_parameters`),
which its recidivism report sets beside the participants' own rate, labelled
non-causal.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.datasets.design import derive_design
from evaluation.pipeline.store import check_quarter

LOGGER_NAME = "evaluation.pipeline.run"
DEFAULT_NOTEBOOKS_DIR = Path(__file__).resolve().parent / "notebooks"
SCOPES = ("per_programme", "overall", "both")
#: Parameters that are paths: the manifest records their file names only.
PATH_PARAMETERS = ("intake_dir", "output_dir", "reports_dir", "pending_results", "programme_results",
                   "recidivism_results")
DERIVED = ("design", "reference", "results_store", "quarter", "programme_results", "recidivism_results")
KEY_LIBRARIES = (
    "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib", "pyarrow", "papermill",
    "nbconvert", "nbclient", "nbformat", "ipykernel", "jupyter_client", "pyyaml", "jsonschema",
)
EXIT_OK, EXIT_FAILED, EXIT_VALIDATION, EXIT_EXISTS = 0, 1, 2, 3


class RunRefused(RuntimeError):
    """The quarter exists (no force) or another run of it is active."""


# --------------------------------------------------------------------------- small helpers

def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter such as ``"2026Q3"``."""
    check_quarter(quarter)
    year, q = int(quarter[:4]), int(quarter[-1])
    start = dt.date(year, 3 * q - 2, 1)
    end = dt.date(year + 1, 1, 1) - dt.timedelta(days=1) if q == 4 else dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1)
    return start, end


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def describe_inputs(intake_dir: str | Path) -> list[dict[str, Any]]:
    """Every file of the intake folder with its size and SHA-256 (sorted by name)."""
    root = Path(intake_dir)
    files = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            files.append({"file": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)})
    return files


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def library_versions(names: Iterable[str] = KEY_LIBRARIES) -> dict[str, str | None]:
    """Installed versions of the key libraries (None when not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_commit(path: str | Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the repository holding the package, if any."""
    repo = Path(path) if path else Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


# --------------------------------------------------------------------------- registry

@dataclasses.dataclass(frozen=True)
class NotebookSpec:
    """One registered notebook (a row of ``registry.yaml``)."""

    id: str
    file: str
    scope: str
    timeout: int
    title: str = ""
    phase: int = 1
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    derived: tuple[str, ...] = ()


def load_registry(path: str | Path) -> list[NotebookSpec]:
    """Read and check ``registry.yaml``.

    Format::

        notebooks:
          - id: recidivism            # folder name in the report
            file: 10_recidivism.ipynb # relative to the notebooks folder
            scope: both               # per_programme | overall | both
            timeout: 1800             # seconds, wall clock per execution
            phase: 1                  # 2 = after all phase-1 notebooks (trends)
            title: {nl: ..., en: ...} # optional
            parameters: {}            # extra literal parameters
            derived: [design]         # parameters the run derives: design, reference, results_store,
                                      # quarter, programme_results

    Raises ValueError naming the file, the entry and the field when an entry
    is malformed.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"notebook registry not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), list) or not data["notebooks"]:
        raise ValueError(f"{path}: expected a mapping with a non-empty list 'notebooks'")
    specs, seen = [], set()
    for i, e in enumerate(data["notebooks"], start=1):
        where = f"{path}: notebooks entry {i}"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(e).__name__}")
        unknown = set(e) - {"id", "file", "scope", "timeout", "title", "phase", "parameters", "derived"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        for f in ("id", "file", "scope", "timeout"):
            if f not in e:
                raise ValueError(f"{where}: field {f!r} is required")
        nid = e["id"]
        if not isinstance(nid, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", nid) or nid in seen:
            raise ValueError(f"{where}: field 'id' must be a unique name of letters, digits, _ or -, got {nid!r}")
        seen.add(nid)
        if e["scope"] not in SCOPES:
            raise ValueError(f"{where} ({nid}): field 'scope' must be one of {SCOPES}, got {e['scope']!r}")
        if not isinstance(e["timeout"], int) or isinstance(e["timeout"], bool) or e["timeout"] <= 0:
            raise ValueError(f"{where} ({nid}): field 'timeout' must be a positive integer (seconds), got {e['timeout']!r}")
        phase = e.get("phase", 1)
        if phase not in (1, 2):
            raise ValueError(f"{where} ({nid}): field 'phase' must be 1 or 2, got {phase!r}")
        params = e.get("parameters") or {}
        if not isinstance(params, dict):
            raise ValueError(f"{where} ({nid}): field 'parameters' must be a mapping")
        derived = tuple(e.get("derived") or ())
        bad = [d for d in derived if d not in DERIVED]
        if bad:
            raise ValueError(f"{where} ({nid}): field 'derived' has unknown name(s) {bad}; known: {DERIVED}")
        title = e.get("title", "")
        specs.append(NotebookSpec(id=nid, file=str(e["file"]), scope=e["scope"], timeout=int(e["timeout"]),
                                  title=json.dumps(title) if isinstance(title, dict) else str(title),
                                  phase=int(phase), parameters=dict(params), derived=derived))
    return specs


def _title(spec: NotebookSpec, language: str) -> str:
    if spec.title.startswith("{"):
        t = json.loads(spec.title)
        return str(t.get(language) or t.get("en") or spec.id)
    return spec.title or spec.id


# --------------------------------------------------------------------------- results of a run

@dataclasses.dataclass
class JobResult:
    """One notebook execution."""

    job_id: str
    notebook: str
    programme_id: str
    folder: str
    status: str = "pending"  # ok | failed | timeout | skipped
    error: str = ""
    started: str | None = None
    ended: str | None = None
    seconds: float | None = None
    cell_seconds: float | None = None
    render_seconds: float | None = None
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunResult:
    """Outcome of :func:`run_quarter`."""

    exit_code: int
    quarter: str
    status: str  # published | failed_validation | refused | privacy_failure | timeout | interrupted
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


# --------------------------------------------------------------------------- privacy

_TOKEN = re.compile(r"[A-Za-z0-9_.:-]+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=\s\\n]{400,}")
_TEXT_SUFFIXES = {".csv", ".json", ".html", ".htm", ".ipynb", ".svg", ".txt", ".log", ".md", ".tsv", ".xml"}


def scan_for_identifiers(root: str | Path, identifiers: Mapping[str, set[str]],
                         min_length: int = 4) -> list[dict[str, Any]]:
    """Find identifier values in the text files under ``root``.

    Every text file (CSV, JSON, HTML, notebooks, SVG, logs) is split into
    tokens of identifier characters (letters, digits, ``_.:-``); a token equal
    to an identifier value is a finding. Embedded base64 images are skipped.
    Values shorter than ``min_length`` or made of digits only with fewer than
    6 digits are not searched (they would match ordinary numbers); the
    findings say how many values were skipped in the ``skipped_values`` key of
    a finding-free summary logged by the run.

    Returns a list of findings ``{"file", "line", "field"}``; the value itself
    is not reported, so the finding list can be logged.
    """
    lookup: dict[str, str] = {}
    for field, values in identifiers.items():
        for v in values:
            if len(v) < min_length or (v.isdigit() and len(v) < 6):
                continue
            lookup.setdefault(v, field)
    findings = []
    if not lookup:
        return findings
    root = Path(root)
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in _TEXT_SUFFIXES:
            continue
        try:
            content = p.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            findings.append({"file": p.relative_to(root).as_posix(), "line": 0, "field": f"unreadable: {exc}"})
            continue
        for lineno, line in enumerate(content.splitlines(), start=1):
            if len(line) > 400:
                line = _BASE64_RUN.sub(" ", line)
            for tok in _TOKEN.findall(line):
                field = lookup.get(tok) or lookup.get(tok.strip(".:-"))
                if field:
                    findings.append({"file": p.relative_to(root).as_posix(), "line": lineno, "field": field})
    return findings


def privacy_scan(root: str | Path, identifiers: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    """Scan the build folder for identifiers; return findings ``{"file", "field", "location"}``.

    Uses the privacy engineer's :func:`evaluation.publish.disclosure.scan_outputs`
    (text, PNG text chunks, office files; row-level file formats and
    identifier-named columns are findings too) when it is available, else
    :func:`scan_for_identifiers`. Values are never part of a finding.
    """
    try:
        from evaluation.publish.disclosure import scan_outputs
    except ImportError:
        scan_outputs = None
    if scan_outputs is None:
        return [{"file": f["file"], "field": f["field"], "location": f"line {f['line']}"}
                for f in scan_for_identifiers(root, identifiers)]
    import warnings

    with warnings.catch_warnings():
        # short numeric ids cannot be searched for; the count is in the manifest, not a warning per run
        warnings.simplefilter("ignore", UserWarning)
        found = scan_outputs(root, identifiers)
    return [{"file": str(r["file"]), "field": str(r["identifier_kind"]), "location": str(r["location"])}
            for r in found.to_dict("records")]


def intake_identifiers(validation: Any) -> dict[str, set[str]]:
    """Identifier values of the intake (accepted and quarantined rows), per kind
    (:func:`evaluation.publish.disclosure.collect_identifiers`)."""
    from evaluation.publish.disclosure import collect_identifiers

    return collect_identifiers(validation)


# --------------------------------------------------------------------------- staging of accepted rows

def _cell_text(series: pd.Series) -> pd.Series:
    """One typed column as CSV text (object: str or None), vectorised: ISO dates, true/false,
    integers, floats in their shortest round-trip form (as ``repr``)."""
    import numpy as np

    if series.dtype == object:  # text: missing values (None, NaN) become empty cells in Arrow
        return series
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        days = series.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        out = np.datetime_as_string(days, unit="D").astype(object)
    elif pd.api.types.is_bool_dtype(series) or str(series.dtype) == "boolean":
        out = np.where(series.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
    elif str(series.dtype) == "Int64":
        out = series.astype("string").to_numpy(dtype=object, na_value=None)
    elif pd.api.types.is_float_dtype(series):
        out = series.to_numpy(dtype=float).astype(str).astype(object)
    else:
        return series.astype(object).where(~missing, None)
    out[missing] = None
    return pd.Series(out, index=series.index, dtype=object)


def stage_accepted_intake(validation: Any, intake_dir: Path, target: Path) -> Path:
    """Write the accepted rows of a validated intake as CSV into ``target``.

    Dates as ``YYYY-MM-DD``, booleans as ``true``/``false``; ``_row`` is
    dropped; ``programmes.yaml`` is copied and ``extract.yaml`` copied with
    ``format: csv``. Returns ``target``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import yaml

    from evaluation.contract.schema import load_contract

    contract = load_contract()
    target.mkdir(parents=True, exist_ok=True)
    for name, df in (validation.tables or {}).items():
        fname = contract.resources[name].descriptor.get("path", f"{name}.csv") if name in contract.resources else f"{name}.csv"
        out = df.drop(columns=[c for c in df.columns if c.startswith("_")])
        text = pa.Table.from_pandas(pd.DataFrame({c: _cell_text(out[c]) for c in out.columns}, index=out.index),
                                    preserve_index=False)
        text = text.cast(pa.schema([pa.field(c, pa.string()) for c in text.column_names]))
        pacsv.write_csv(text, target / Path(fname).name)
    prog = intake_dir / "programmes.yaml"
    if prog.is_file():
        shutil.copy2(prog, target / "programmes.yaml")
    ext = intake_dir / "extract.yaml"
    if ext.is_file():
        meta = yaml.safe_load(ext.read_text(encoding="utf-8")) or {}
        if isinstance(meta, dict) and "format" in meta:
            meta["format"] = "csv"
        (target / "extract.yaml").write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


# --------------------------------------------------------------------------- worker (one notebook)

def _watch_parent(parent_pid: int) -> None:
    """Exit (killing our children) when the run that started us is gone."""
    import threading

    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                _kill_tree(os.getpid(), include_self=False)
                os._exit(137)

    threading.Thread(target=loop, daemon=True).start()


def execute_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Execute one notebook with papermill and render it; return its status record.

    ``spec`` keys: ``input``, ``output_dir``, ``parameters``, ``cwd``,
    ``execution_timeout``, ``start_timeout``, ``language``, ``replacements``.
    Runs inside a worker process; never raises for notebook errors.
    """
    import nbformat
    import papermill as pm

    from evaluation.publish.report import render_html, sanitize_error

    out_dir = Path(spec["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / "notebook.ipynb"
    record: dict[str, Any] = {"status": "ok", "error": "", "started": _iso(_utcnow())}
    t0 = time.perf_counter()
    replacements = dict(spec.get("replacements") or {})
    try:
        pm.execute_notebook(
            spec["input"], str(executed), parameters=dict(spec["parameters"]), kernel_name="python3",
            execution_timeout=spec["execution_timeout"], start_timeout=spec["start_timeout"],
            cwd=spec["cwd"], progress_bar=False, log_output=False, report_mode=False,
        )
    except pm.PapermillExecutionError as exc:
        record["status"] = "failed"
        record["error"] = sanitize_error(exc.ename, exc.evalue, replacements)
    except Exception as exc:  # noqa: BLE001 - a worker reports every failure, it never crashes the run
        name = type(exc).__name__
        record["status"] = "timeout" if "Timeout" in name or "timed out" in str(exc).lower() else "failed"
        record["error"] = sanitize_error(name, str(exc), replacements)
    record["seconds"] = time.perf_counter() - t0
    record["ended"] = _iso(_utcnow())
    if executed.is_file():
        try:
            nb = nbformat.read(str(executed), as_version=4)
            record["cell_seconds"] = float(sum(
                (c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in nb.cells
            ))
            r0 = time.perf_counter()
            render_html(executed, out_dir / "report.html", replacements, spec.get("language", "nl"))
            record["render_seconds"] = time.perf_counter() - r0
        except Exception as exc:  # noqa: BLE001
            if record["status"] == "ok":
                record["status"] = "failed"
                record["error"] = sanitize_error(type(exc).__name__, f"rendering failed: {exc}", replacements)
    return record


def _redirect_output(log_path: Path):
    """Context manager: send this process's stdout/stderr (fd 1 and 2, also of the kernels it starts) to a file."""

    @contextlib.contextmanager
    def cm():
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        fd = os.open(str(log_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for f in (fd, *saved):
                os.close(f)

    return cm()


def _write_status(spec: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    status_path = Path(spec["status_path"])
    tmp = status_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, status_path)


def _serve_main(parent_pid: int) -> int:
    """A persistent worker (``python -m evaluation.pipeline.run --serve PARENT_PID WORK_DIR``).

    Imports papermill and the renderer once, then executes one notebook per
    job-spec path read from stdin, each with its output going to the job's own
    log file, and writes each job's status file; exits at end of input or
    when the run that started it is gone. Every notebook still gets a fresh
    kernel; only the client side (papermill, nbformat, rendering) is reused,
    which saves about two seconds of imports per notebook.
    """
    _watch_parent(parent_pid)
    import papermill  # noqa: F401 - imported once for all jobs of this worker

    import evaluation.publish.report  # noqa: F401

    for line in sys.stdin:
        spec_path = line.strip()
        if not spec_path:
            continue
        spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
        with _redirect_output(Path(spec_path).with_suffix(".log")):
            record = execute_job(spec)
        _write_status(spec, record)
    return 0


def _kill_tree(pid: int, include_self: bool = True) -> None:
    """Kill a process and all its descendants (kernels run in their own session)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        if include_self:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        return
    try:
        proc = psutil.Process(pid)
        procs = proc.children(recursive=True) + ([proc] if include_self else [])
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.kill()
    psutil.wait_procs(procs, timeout=5)


# --------------------------------------------------------------------------- scheduler

@dataclasses.dataclass
class _Job:
    result: JobResult
    spec: dict[str, Any]
    phase: int
    wall_limit: float
    needs: tuple[_Job, ...] = ()  # jobs that must have ended before this one starts
    prepare: Callable[[], None] | None = None  # called just before the job starts (writes its inputs)
    started_at: float = 0.0


@dataclasses.dataclass
class _Worker:
    proc: subprocess.Popen
    job: _Job | None = None


class _WorkerPool:
    """At most ``size`` persistent worker processes (``--serve``), started when needed.

    A worker runs one notebook at a time and takes the next when it is done;
    a worker that is killed (wall-clock limit, outer timeout) or dies is
    replaced by a fresh one for the next notebook.
    """

    def __init__(self, size: int, work_dir: Path, log: logging.Logger):
        self.size, self.work_dir, self.log = max(int(size), 1), work_dir, log
        self.workers: list[_Worker] = []
        self._started = 0

    def idle_worker(self) -> _Worker | None:
        for w in list(self.workers):
            if w.job is None and w.proc.poll() is not None:
                self.workers.remove(w)
        for w in self.workers:
            if w.job is None:
                return w
        if len(self.workers) >= self.size:
            return None
        logf = open(self.work_dir / f"worker-{self._started}.log", "wb")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [sys.executable, "-m", "evaluation.pipeline.run", "--serve", str(os.getpid()), str(self.work_dir)],
            stdin=subprocess.PIPE, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        self._started += 1
        self.log.info("started notebook worker %d (pid %s)", self._started, proc.pid)
        w = _Worker(proc)
        self.workers.append(w)
        return w

    def submit(self, w: _Worker, job: _Job, spec_path: Path) -> None:
        w.job = job
        with contextlib.suppress(OSError):  # a dead worker is noticed by the poll that follows
            w.proc.stdin.write(f"{spec_path}\n".encode())
            w.proc.stdin.flush()

    def kill(self, w: _Worker) -> None:
        _kill_tree(w.proc.pid)
        w.proc.wait()
        with contextlib.suppress(OSError):
            w.proc.stdin.close()
        self.workers.remove(w)

    def close(self) -> None:
        """End idle workers at end of input (they exit by themselves); kill busy ones."""
        for w in list(self.workers):
            if w.job is not None:
                self.kill(w)
                continue
            with contextlib.suppress(OSError):
                w.proc.stdin.close()
        for w in list(self.workers):
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_tree(w.proc.pid)
                w.proc.wait()
            self.workers.remove(w)


def _run_jobs(jobs: list[_Job], pool: _WorkerPool, deadline: float | None, log: logging.Logger,
              progress: bool, work_dir: Path) -> bool:
    """Run jobs in the pool's worker processes. Return False on the outer timeout."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), file=sys.stderr, disable=not progress, unit="notebook", desc="notebooks")
    timed_out = False
    queue = list(jobs)

    def ready() -> int | None:
        """Index of the first queued job whose ``needs`` have all ended."""
        return next((i for i, j in enumerate(queue) if all(d.result.status != "pending" for d in j.needs)), None)

    try:
        while queue or any(w.job is not None for w in pool.workers):
            while queue and not timed_out:
                k = ready()
                if k is None:
                    if not any(w.job is not None for w in pool.workers):
                        raise RuntimeError(f"jobs wait for jobs that never run: {[j.result.job_id for j in queue]}")
                    break
                w = pool.idle_worker()
                if w is None:
                    break
                j = queue.pop(k)
                if j.prepare is not None:
                    try:
                        j.prepare()
                    except Exception as exc:  # the job fails, not the run
                        j.result.status, j.result.error = "failed", f"PrepareError: {type(exc).__name__}: {exc}"
                        log.error("%s: could not prepare its inputs: %s", j.result.job_id, j.result.error)
                        bar.update(1)
                        continue
                spec_path = work_dir / f"job-{len(os.listdir(work_dir))}-{j.result.notebook}.json"
                j.spec["status_path"] = str(spec_path.with_suffix(".status.json"))
                spec_path.write_text(json.dumps(j.spec), encoding="utf-8")
                j.started_at = time.monotonic()
                j.result.started = _iso(_utcnow())
                pool.submit(w, j, spec_path)
                log.info("started %s (worker pid %s)", j.result.job_id, w.proc.pid)
            time.sleep(0.05)
            now = time.monotonic()
            if deadline is not None and now > deadline and not timed_out:
                timed_out = True
                busy = [w for w in pool.workers if w.job is not None]
                log.error("outer run timeout reached: killing %d running notebook(s)", len(busy))
                for j in queue:
                    j.result.status, j.result.error = "skipped", "run timeout reached before start"
                queue = []
            for w in [w for w in pool.workers if w.job is not None]:
                j = w.job
                status_path = Path(j.spec["status_path"])
                done = status_path.is_file()
                dead = not done and w.proc.poll() is not None
                if not (done or dead):
                    if timed_out:
                        pool.kill(w)
                        j.result.status, j.result.error = "timeout", "TimeoutError: run timeout reached"
                    elif now - j.started_at > j.wall_limit:
                        log.error("%s exceeded its wall-clock limit of %.0f s: killing it", j.result.job_id,
                                  j.wall_limit)
                        pool.kill(w)
                        j.result.status = "timeout"
                        j.result.error = f"TimeoutError: notebook exceeded {j.wall_limit:.0f} s and was stopped"
                    else:
                        continue
                w.job = None
                j.result.seconds = time.monotonic() - j.started_at
                j.result.ended = _iso(_utcnow())
                if j.result.status == "pending":
                    if done:
                        rec = json.loads(status_path.read_text(encoding="utf-8"))
                        j.result.status, j.result.error = rec["status"], rec["error"]
                        j.result.cell_seconds = rec.get("cell_seconds")
                        j.result.render_seconds = rec.get("render_seconds")
                        j.result.started = rec.get("started") or j.result.started
                        j.result.ended = rec.get("ended") or j.result.ended
                    else:
                        j.result.status = "failed"
                        j.result.error = f"WorkerError: notebook worker ended with code {w.proc.returncode} without a result"
                        pool.workers.remove(w)
                level = logging.INFO if j.result.status == "ok" else logging.ERROR
                log.log(level, "finished %s: %s in %.1f s %s", j.result.job_id, j.result.status,
                        j.result.seconds, j.result.error)
                tail = spec_path_tail(status_path.with_suffix("").with_suffix(".log"))
                if j.result.status != "ok" and tail:
                    log.info("worker output of %s (last lines):\n%s", j.result.job_id, tail)
                bar.update(1)
    finally:
        for w in list(pool.workers):
            if w.job is not None:
                pool.kill(w)
        bar.close()
    return not timed_out


def spec_path_tail(path: Path, lines: int = 15) -> str:
    """Last lines of a worker log (empty when missing)."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- the run

def _cleanup_stale(out_dir: Path, quarter: str, log: logging.Logger) -> list[str]:
    removed = []
    for p in sorted(out_dir.glob(f".tmp-{quarter}-*")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
            log.warning("removed leftover build folder %s from an interrupted run", p.name)
    from evaluation.pipeline.store import cleanup_temp_files

    for p in cleanup_temp_files(out_dir):
        removed.append(str(p))
    return removed


@contextlib.contextmanager
def _quarter_lock(out_dir: Path, quarter: str):
    import fcntl

    lock_path = out_dir / f".{quarter}.lock"
    fh = open(lock_path, "a+")  # noqa: SIM115
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RunRefused(f"another run of {quarter} is active in {out_dir} (lock {lock_path.name})") from exc
        yield
    finally:
        fh.close()


def _default_validator(path: Path, language: str) -> Any:
    from evaluation.validation.validate import validate_intake

    return validate_intake(path, language=language)


def _write_failed_validation(validation: Any, out_dir: Path, quarter: str, reasons: list[str]) -> Path:
    target = out_dir / f"{quarter}.failed-validation"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, mode=0o700)
    written = False
    try:
        from evaluation.validation.validate import write_validation_outputs
    except ImportError:
        write_validation_outputs = None
    if write_validation_outputs is not None:
        try:
            write_validation_outputs(validation, target)
            written = True
        except Exception as exc:  # noqa: BLE001 - fall back to the reconciliation table
            reasons.append(f"(write_validation_outputs failed: {type(exc).__name__}: {exc})")
    if not written:
        rec = getattr(validation, "reconciliation", None)
        if isinstance(rec, pd.DataFrame):
            rec.to_csv(target / "reconciliation.csv", index=False)
        issues = getattr(validation, "issues", None)
        if isinstance(issues, pd.DataFrame):
            issues.to_csv(target / "issues.csv", index=False)
    (target / "STOPPED.txt").write_text(
        f"The quarterly run of {quarter} stopped before any analysis.\n\n" + "\n".join(f"- {r}" for r in reasons) + "\n"
        "\nThis folder may quote row numbers and values of the intake: do not share it.\n",
        encoding="utf-8",
    )
    return target


def _validation_stop_reasons(validation: Any, max_share: float, quarter_start: dt.date) -> list[str]:
    reasons = []
    if getattr(validation, "blocking", False):
        issues = getattr(validation, "issues", None)
        detail = ""
        if isinstance(issues, pd.DataFrame) and not issues.empty and {"severity", "level", "rule"} <= set(issues.columns):
            # blocking problems are the table-level errors (missing table/column, identifier column, unreadable)
            blocking = issues[(issues["level"].astype(str) == "table") & (issues["severity"].astype(str) == "error")]
            if not blocking.empty:
                detail = ": rules " + ", ".join(sorted(set(blocking["rule"].astype(str))))
        reasons.append(f"the intake has blocking errors{detail}")
    rec = getattr(validation, "reconciliation", None)
    if isinstance(rec, pd.DataFrame) and not rec.empty:
        for _, r in rec.iterrows():
            read = float(r.get("rows_read", 0) or 0)
            quarantined = float(r.get("rows_quarantined", 0) or 0)
            if read > 0 and quarantined / read > max_share:
                reasons.append(
                    f"table {r['table']}: {int(quarantined)} of {int(read)} rows quarantined "
                    f"({quarantined / read:.1%}), above the maximum share of {max_share:.1%}"
                )
            if bool(r.get("blocking", False)) and not getattr(validation, "blocking", False):
                reasons.append(f"table {r['table']}: blocking")
    cutoff = getattr(validation, "cutoff_date", None)
    if cutoff is not None and not pd.isna(cutoff) and pd.Timestamp(cutoff).date() < quarter_start:
        reasons.append(f"the extract's cutoff date {pd.Timestamp(cutoff).date()} lies before the quarter's first day {quarter_start}")
    return reasons


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


def _programme_list(validation: Any) -> list[dict[str, Any]]:
    progs = getattr(validation, "programmes", None) or []
    out = []
    for p in progs:
        if isinstance(p, Mapping) and "programme_id" in p:
            out.append(dict(p))
        elif isinstance(p, str):
            out.append({"programme_id": p, "name": p})
    return out


def _select_programmes(requested: str | Sequence[str] | None, available: list[str]) -> list[str]:
    if requested is None or requested == "all" or requested == ["all"]:
        return list(available)
    if isinstance(requested, str):
        requested = [s.strip() for s in requested.split(",") if s.strip()]
    unknown = [p for p in requested if p not in available]
    if unknown:
        raise ValueError(f"--programmes: unknown programme id(s) {unknown}; the intake describes {available}")
    return list(dict.fromkeys(requested))


def run_quarter(
    intake_dir: str | Path,
    quarter: str,
    out_dir: str | Path = "reports",
    programmes: str | Sequence[str] | None = "all",
    language: str = "nl",
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
    language : {"nl", "en"}
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
    from evaluation.publish.report import _check_language, build_index

    t_start = time.monotonic()
    started = _utcnow()
    deadline = t_start + timeout if timeout else None
    check_quarter(quarter)
    _check_language(language)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if not 0 <= max_quarantine_share <= 1:
        raise ValueError(f"max_quarantine_share must lie between 0 and 1, got {max_quarantine_share}")
    intake_dir = Path(intake_dir).resolve()
    if not intake_dir.is_dir():
        raise FileNotFoundError(f"intake folder not found: {intake_dir}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
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

    try:
        with _quarter_lock(out_dir, quarter):
            if quarter_dir.exists() and not force:
                msg = f"{quarter_dir} exists; use --force to replace it (the old one is kept under a timestamped name)"
                log.error(msg)
                return finish(RunResult(EXIT_EXISTS, quarter, "refused", messages=[msg]))
            _cleanup_stale(out_dir, quarter, log)
            build = out_dir / f".tmp-{quarter}-{run_id}"
            build.mkdir()
            (build / "owner.json").write_text(json.dumps({"pid": os.getpid(), "run_id": run_id}), encoding="utf-8")
            file_handler = logging.FileHandler(build / "run.log", encoding="utf-8")
            file_handler.setFormatter(fmt)
            log.addHandler(file_handler)
            handlers.append(file_handler)
            try:
                result = _run_in_build(
                    build=build, quarter=quarter, quarter_dir=quarter_dir, out_dir=out_dir, intake_dir=intake_dir,
                    programmes=programmes, language=language, jobs=jobs, force=force,
                    max_quarantine_share=max_quarantine_share, notebook_timeout=notebook_timeout,
                    timeout=timeout, deadline=deadline, notebooks_dir=notebooks_dir, registry_path=registry_path,
                    specs=specs, seed=seed, start_timeout=start_timeout, kill_grace=kill_grace, progress=progress,
                    validator=validator or _default_validator, stage_accepted=stage_accepted, run_id=run_id,
                    started=started, q_start=q_start, q_end=q_end, log=log, build_index=build_index,
                )
            finally:
                file_handler.close()
                if build.exists():
                    shutil.rmtree(build, ignore_errors=True)
            return finish(result)
    except RunRefused as exc:
        log.error(str(exc))
        return finish(RunResult(EXIT_EXISTS, quarter, "refused", messages=[str(exc)]))
    except BaseException:
        finish(RunResult(EXIT_FAILED, quarter, "interrupted"))
        raise


def _run_in_build(*, build: Path, quarter: str, quarter_dir: Path, out_dir: Path, intake_dir: Path,
                  programmes: Any, language: str, jobs: int, force: bool, max_quarantine_share: float,
                  notebook_timeout: int | None, timeout: float | None, deadline: float | None,
                  notebooks_dir: Path, registry_path: Path, specs: list[NotebookSpec], seed: int,
                  start_timeout: int, kill_grace: float, progress: bool, validator: Callable[[Path, str], Any],
                  stage_accepted: bool, run_id: str, started: dt.datetime, q_start: dt.date, q_end: dt.date,
                  log: logging.Logger, build_index: Callable[..., Path]) -> RunResult:
    from evaluation.pipeline import store

    log.info("run %s: intake %s, quarter %s (%s to %s)", run_id, intake_dir.name, quarter, q_start, q_end)
    inputs = describe_inputs(intake_dir)
    v0 = time.perf_counter()
    validation = validator(intake_dir, language)
    validation_seconds = time.perf_counter() - v0
    rec = getattr(validation, "reconciliation", None)
    reconciliation = rec.to_dict("records") if isinstance(rec, pd.DataFrame) else []
    reasons = _validation_stop_reasons(validation, max_quarantine_share, q_start)
    if reasons:
        target = _write_failed_validation(validation, out_dir, quarter, reasons)
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

    available = [p["programme_id"] for p in _programme_list(validation)]
    if "all" in available:
        raise ValueError("programmes.yaml: programme_id 'all' is reserved for all programmes together")
    selected = _select_programmes(programmes, available)
    names = {p["programme_id"]: str(p.get("name", p["programme_id"])) for p in _programme_list(validation)}
    participants = (getattr(validation, "tables", None) or {}).get("participants")
    designs = {p: derive_design(participants, p) for p in selected}
    overall_design = next(iter(set(designs.values()))) if len(set(designs.values())) == 1 else "descriptive"
    log.info("designs: %s; all programmes together: %s", designs, overall_design)
    references = {p["programme_id"]: reference_parameters(p) for p in _programme_list(validation)}

    private = build / "_private"
    private.mkdir(mode=0o700)
    work = private / "jobs"
    work.mkdir()
    if isinstance(rec, pd.DataFrame):
        (build / "validation").mkdir()
        rec.to_csv(build / "validation" / "reconciliation.csv", index=False)
    nb_intake = intake_dir
    if stage_accepted and getattr(validation, "tables", None):
        nb_intake = stage_accepted_intake(validation, intake_dir, private / "intake")
        from evaluation.validation.cache import write_validated_cache
        from evaluation.validation.validate import ValidationResult

        if isinstance(validation, ValidationResult):  # not for the stand-in validators of the tests
            c0 = time.perf_counter()
            write_validated_cache(validation, nb_intake)
            log.info("validation result cached for the notebooks in %.1f s", time.perf_counter() - c0)
    pending_store = private / "pending_store.parquet"
    # identifiers for the privacy scan are all the run keeps of the row-level data: the validated
    # tables are released before the notebooks start (each kernel loads its own copy)
    identifiers = intake_identifiers(validation)
    del validation, participants
    import gc

    gc.collect()

    replacements = {str(private): "<intake>", str(intake_dir): "<intake>", str(build): "<report>",
                    str(out_dir): "<reports>", str(notebooks_dir): "<notebooks>"}
    job_list: list[_Job] = []
    waits_for_programmes: set[str] = set()
    for spec in specs:
        targets = []
        if spec.scope in ("per_programme", "both"):
            targets += selected
        if spec.scope in ("overall", "both"):
            targets.append("all")
        for pid in targets:
            folder = f"{pid}/{spec.id}"
            params: dict[str, Any] = {
                "intake_dir": str(nb_intake), "programme_id": pid, "language": language,
                "output_dir": str(build / folder), "cutoff_date": cutoff.isoformat(), "seed": int(seed),
            }
            params.update(spec.parameters)
            if "design" in spec.derived:
                params["design"] = designs[pid] if pid != "all" else overall_design
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
            if after:
                waits_for_programmes.add(jr.job_id)
            job_list.append(_Job(result=jr, phase=spec.phase,
                                 wall_limit=limit + start_timeout + kill_grace, spec={
                "input": str(notebooks_dir / spec.file), "output_dir": str(build / folder), "parameters": params,
                "cwd": str(notebooks_dir), "execution_timeout": int(limit), "start_timeout": int(start_timeout),
                "language": language, "replacements": replacements,
            }))

    def combined_results(only_ok: bool = True) -> pd.DataFrame:
        frames = []
        for j in job_list:
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
                    log.error("%s: %s", j.result.job_id, j.result.error)
                    continue
                frames.append(df)
        if not frames:
            from evaluation.contract.results import make_results

            empty = make_results([])
            empty["notebook"] = []
            return empty
        return pd.concat(frames, ignore_index=True)

    def programme_results_writer(job: _Job):
        """The programmes' published outputs of the job's notebook, for its job of all programmes:
        ``results.csv`` (their results rows) and every other CSV table of their reports, each
        concatenated with a ``programme_id`` column."""
        def write() -> None:
            folder = Path(job.spec["parameters"]["programme_results"])
            folder.mkdir(parents=True, exist_ok=True)
            done = combined_results()
            rows = done[(done["notebook"] == job.result.notebook) & (done["programme_id"].astype(str) != "all")]
            rows.to_csv(folder / "results.csv", index=False)
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
                pd.concat(parts, ignore_index=True).to_csv(folder / name, index=False)
        return write

    # a job of all programmes whose totals must not give a programme's small count back starts when the
    # programmes' jobs of its notebook have ended; phase 2 notebooks read this quarter's phase-1 results
    # through the pending partition
    for j in job_list:
        if j.result.job_id in waits_for_programmes:
            j.needs = tuple(o for o in job_list if o.result.notebook == j.result.notebook
                            and o.result.programme_id != "all" and o.phase == j.phase)
            j.prepare = programme_results_writer(j)
    # costs and synthesis use the recidivism reports of this run (same design, horizons and settings): their
    # jobs start when the recidivism jobs of their programme(s) have ended and get those reports' results.csv
    def recidivism_results_writer(job: _Job, sources: list[_Job], before: Callable[[], None] | None):
        def write() -> None:
            if before is not None:
                before()
            folder = Path(job.spec["parameters"]["recidivism_results"])
            folder.mkdir(parents=True, exist_ok=True)
            frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for o in sources
                      if o.result.status == "ok" and (p := build / o.result.folder / "results.csv").is_file()
                      and p.stat().st_size > 0]
            (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).to_csv(
                folder / "results.csv", index=False)
            pd.DataFrame([{"programme_id": o.result.programme_id, "design": o.spec["parameters"].get("design", ""),
                           "status": o.result.status} for o in sources]).to_csv(folder / "programmes.csv", index=False)
        return write

    for j in job_list:
        if "recidivism_results" in j.spec["parameters"]:
            sources = [o for o in job_list if o.result.notebook == "recidivism" and o.result.programme_id != "all"
                       and j.result.programme_id in ("all", o.result.programme_id)]
            j.needs = (*j.needs, *sources)
            j.prepare = recidivism_results_writer(j, sources, j.prepare)
    phase1 = [j for j in job_list if j.phase == 1]
    phase2 = [j for j in job_list if j.phase == 2]
    pool = _WorkerPool(min(jobs, len(job_list)), work, log)
    try:
        finished = _run_jobs(phase1, pool, deadline, log, progress, work)
        if finished and phase2:
            store.stage_partition(pending_store, quarter, combined_results(), run_id)
            finished = _run_jobs(phase2, pool, deadline, log, progress, work)
    finally:
        pool.close()
    if not finished:
        log.error("run stopped at its outer timeout of %s s; nothing published", timeout)
        return RunResult(EXIT_FAILED, quarter, "timeout", jobs=[j.result for j in job_list],
                         messages=[f"outer timeout of {timeout} s reached"])

    # combined results of the quarter (aggregate estimates only)
    all_results = combined_results()
    all_results.to_csv(build / "results.csv", index=False)
    store.stage_partition(pending_store, quarter, all_results, run_id)
    from evaluation.publish.disclosure import WITHHELD_NOTE, differencing_audit

    differencing = differencing_audit(all_results)
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

    jobs_summary = [dataclasses.asdict(j.result) | {"title": _title(next(s for s in specs if s.id == j.result.notebook), language)}
                    for j in job_list]
    index = build_index(build, quarter, jobs_summary, language=language, cutoff_date=cutoff.isoformat(),
                        cutoff_source=cutoff_source, run_id=run_id, programme_names=names)

    ended = _utcnow()
    manifest = {
        "run_id": run_id,
        "quarter": quarter,
        "quarter_start": q_start.isoformat(),
        "quarter_end": q_end.isoformat(),
        "cutoff_date": cutoff.isoformat(),
        "cutoff_source": cutoff_source,
        "extract_cutoff_date": extract_cutoff.isoformat() if extract_cutoff else None,
        "started": _iso(started),
        "ended": _iso(ended),
        "duration_seconds": round((ended - started).total_seconds(), 3),
        "validation_seconds": round(validation_seconds, 3),
        "intake": {"folder": intake_dir.name, "files": inputs},
        "reconciliation": _jsonable(reconciliation),
        "programmes": selected,
        "designs": designs | {"all": overall_design},
        "parameters": {
            "quarter": quarter, "programmes": selected, "language": language, "jobs": jobs, "force": force,
            "max_quarantine_share": max_quarantine_share, "notebook_timeout": notebook_timeout,
            "timeout": timeout, "seed": seed, "start_timeout": start_timeout, "kill_grace": kill_grace,
            "stage_accepted": stage_accepted, "notebooks_dir": notebooks_dir.name,
            "registry": registry_path.name, "registry_sha256": sha256_file(registry_path),
        },
        "notebooks": [
            {"id": s.id, "file": s.file, "sha256": sha256_file(notebooks_dir / s.file), "scope": s.scope,
             "timeout": notebook_timeout or s.timeout, "phase": s.phase}
            for s in specs
        ],
        "jobs": [dataclasses.asdict(j.result) for j in job_list],
        "software": {
            "evaluation": library_versions(["evaluation"])["evaluation"],
            "git": git_commit(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "libraries": library_versions(),
        },
        "disclosure": {"differencing_lines_flagged": len(differencing),
                       "differencing_exact": int(differencing["exact"].sum()) if len(differencing) else 0,
                       "totals_withheld": totals_withheld,
                       "note": "programme counts shown as <10 that 'all programmes' minus the other programmes "
                               "could narrow, if the line adds up (disclosure.differencing_audit); not blocking. "
                               "totals_withheld: per notebook, rows of all programmes withheld so that they "
                               "do not give a programme's small count back (disclosure.withhold_pooled)"},
        "privacy_scan": {"identifier_fields": sorted(identifiers),
                         "identifier_values": int(sum(len(v) for v in identifiers.values()))},
    }

    # the private copy of the intake and job files never leave the build folder
    shutil.rmtree(private, ignore_errors=True)
    p0 = time.perf_counter()
    (build / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    findings = privacy_scan(build, identifiers)
    manifest["privacy_scan"]["seconds"] = round(time.perf_counter() - p0, 3)
    manifest["privacy_scan"]["findings"] = len(findings)
    if findings:
        for f in findings[:50]:
            log.error("privacy: %s found in %s (%s)", f.get("field"), f.get("file"), f.get("location"))
        log.error("privacy scan found %d identifier value(s) in the outputs: the quarter is NOT published", len(findings))
        return RunResult(EXIT_FAILED, quarter, "privacy_failure", manifest=manifest, jobs=[j.result for j in job_list],
                         privacy_findings=findings, messages=["identifier values found in the outputs"])
    (build / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    (build / "owner.json").unlink(missing_ok=True)

    n_bad = sum(j.result.status != "ok" for j in job_list)
    log.info("%d of %d notebooks completed", len(job_list) - n_bad, len(job_list))

    # publish: keep the old quarter, rename the build into place, then the store partition
    replaced = None
    staged_store = build / ".store.parquet"
    store.stage_partition(staged_store, quarter, all_results, run_id)
    for h in log.handlers:
        h.flush()
    if quarter_dir.exists():
        replaced = out_dir / f"{quarter}.replaced-{_utcnow().strftime('%Y%m%dT%H%M%S%fZ')}"
        os.rename(quarter_dir, replaced)
        log.warning("previous %s kept as %s", quarter, replaced.name)
    os.rename(build, quarter_dir)
    store.publish_partition(quarter_dir / ".store.parquet", out_dir, quarter)
    (quarter_dir / ".store.parquet").unlink(missing_ok=True)
    stale = out_dir / f"{quarter}.failed-validation"
    if stale.exists():
        shutil.rmtree(stale, ignore_errors=True)
    exit_code = EXIT_OK if n_bad == 0 else EXIT_FAILED
    return RunResult(exit_code, quarter, "published", quarter_dir=quarter_dir,
                     index_html=quarter_dir / index.name, replaced_dir=replaced, manifest=manifest,
                     jobs=[j.result for j in job_list],
                     messages=[f"{n_bad} notebook(s) failed"] if n_bad else [])


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str):
        try:
            return obj.item()
        except (ValueError, AttributeError):
            return str(obj)
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    if pd.isna(obj):
        return None
    return str(obj)


# --------------------------------------------------------------------------- CLI

def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``evaluation run``."""
    p.add_argument("--intake", required=True, help="intake folder (tables, programmes.yaml, extract.yaml)")
    p.add_argument("--quarter", required=True, help="quarter to report, e.g. 2026Q3")
    p.add_argument("--out", default="reports", help="reports folder (default: reports)")
    p.add_argument("--programmes", default="all", help="comma-separated programme ids, or 'all' (default)")
    p.add_argument("--language", default="nl", choices=["nl", "en"], help="report language (default: nl)")
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
    except (ValueError, FileNotFoundError) as exc:
        print(f"evaluation run: {exc}", file=sys.stderr)
        return EXIT_VALIDATION
    except KeyboardInterrupt:
        print("evaluation run: interrupted; nothing published", file=sys.stderr)
        return 130
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
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        sys.exit(_serve_main(int(sys.argv[2])))
    _parser = argparse.ArgumentParser(prog="evaluation run")
    configure_parser(_parser)
    sys.exit(main(_parser.parse_args()))
