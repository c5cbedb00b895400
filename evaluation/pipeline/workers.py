"""Notebook workers: persistent processes that execute one notebook after the other.

A quarterly run keeps at most ``jobs`` worker processes
(``python -m evaluation.pipeline.workers --serve PARENT_PID WORK_DIR``). Each
imports papermill and the renderer once and then executes the notebooks it is
given, every notebook in a fresh ``python3`` kernel, with a cell timeout
(papermill ``execution_timeout``) and a kernel start timeout. The scheduler
(:func:`run_jobs`) adds a wall-clock limit per notebook after which the
worker's process tree is killed (papermill can hang after the last cell or at
kernel start: papermill issues #711, #684) and an outer deadline for the
whole run. A killed or dead worker is replaced by a fresh one.

Files: the job spec, status, log, executed notebook and rendered HTML of
each job live in the run's private job folder (owner-only, through the one
private writer). The executed notebook and its HTML are then published into
the job's report folder through :mod:`evaluation.publish.writer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evaluation.intake.private import write_private
from evaluation.pipeline.manifest import iso, utcnow
from evaluation.publish.formatting import DEFAULT_LANGUAGE
from evaluation.publish.report import render_html, sanitize_error
from evaluation.publish.writer import write_notebook, write_text

Clock = Callable[[], float]


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
class Job:
    """A notebook execution waiting for, or running in, a worker."""

    result: JobResult
    spec: dict[str, Any]
    phase: int
    wall_limit: float
    needs: tuple[Job, ...] = ()  # jobs that must have ended before this one starts
    prepare: Callable[[], None] | None = None  # called just before the job starts (writes its inputs)
    started_at: float = 0.0


# --------------------------------------------------------------------------- inside a worker

def _watch_parent(parent_pid: int) -> None:
    """Exit (killing our children) when the run that started us is gone."""
    import threading

    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                kill_tree(os.getpid(), include_self=False)
                os._exit(137)

    threading.Thread(target=loop, daemon=True).start()


def public_names(spec: Mapping[str, Any]) -> dict[str, str]:
    """Absolute server paths of a job and what a published notebook shows instead.

    Every parameter that is an absolute path becomes its folder or file name
    (as the manifest records it); the other known folders of the run
    (``replacements``: build, private folder, intake, notebooks) become their
    placeholders.
    """
    names = {str(k): str(v) for k, v in (spec.get("replacements") or {}).items() if k}
    for value in (spec.get("parameters") or {}).values():
        if isinstance(value, str) and os.path.isabs(value) and value != os.sep:
            names[os.path.normpath(value)] = Path(value).name
    return names


def _replace_paths(value: Any, pattern: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda m: names[m.group(0)], value)
    if isinstance(value, list):
        return [_replace_paths(v, pattern, names) for v in value]
    if isinstance(value, dict):
        return {k: _replace_paths(v, pattern, names) for k, v in value.items()}
    return value


def public_notebook(nb: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """An executed notebook (nbformat JSON) without the run's absolute server paths.

    In every string of the notebook (the injected parameters cell, papermill's
    metadata, outputs) each path of :func:`public_names` is replaced, longest
    first and only where it ends a path component; papermill's
    ``input_path``, ``output_path`` and ``cwd`` become file names. The
    published ``notebook.ipynb`` and its ``report.html`` are made from this.
    """
    import re

    names = public_names(spec)
    if names:
        alternatives = "|".join(re.escape(p) for p in sorted(names, key=len, reverse=True))
        pattern = re.compile(f"(?:{alternatives})(?![\\w.-])")
        nb = _replace_paths(nb, pattern, names)
    pm_meta = nb.get("metadata", {}).get("papermill")
    if isinstance(pm_meta, dict):
        pm_meta["input_path"] = Path(str(spec.get("input", ""))).name
        pm_meta["output_path"] = "notebook.ipynb"
        if "cwd" in pm_meta:
            pm_meta["cwd"] = None
    return nb


KERNEL_START_ATTEMPTS = 3
"""Attempts to start a notebook's kernel when it dies before answering (no cell has run then)."""


def kernel_start_failed(exc: BaseException) -> bool:
    """True for a kernel that died before replying to ``kernel_info`` (e.g. a port taken between
    jupyter_client's choice and the kernel's bind; jupyter/jupyter_client#154): safe to start again."""
    text = str(exc)
    return "Kernel died before replying to kernel_info" in text or "Address already in use" in text


def execute_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Execute one notebook with papermill, render it and publish both; return its status record.

    ``spec`` keys: ``input``, ``output_dir`` (the job's report folder),
    ``parameters``, ``cwd``, ``execution_timeout``, ``start_timeout``,
    ``language``, ``replacements``, and the private ``executed`` and
    ``rendered`` paths (set by :func:`run_jobs`). The executed notebook is
    published as ``notebook.ipynb`` and its rendering as ``report.html``.
    Runs inside a worker process; never raises for notebook errors.
    """
    import nbformat
    import papermill as pm

    out_dir = Path(spec["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, rendered = Path(spec["executed"]), Path(spec["rendered"])
    record: dict[str, Any] = {"status": "ok", "error": "", "started": iso(utcnow())}
    t0 = time.perf_counter()
    replacements = dict(spec.get("replacements") or {})
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                pm.execute_notebook(
                    spec["input"], str(executed), parameters=dict(spec["parameters"]), kernel_name="python3",
                    execution_timeout=spec["execution_timeout"], start_timeout=spec["start_timeout"],
                    cwd=spec["cwd"], progress_bar=False, log_output=False, report_mode=False,
                )
                break
            except RuntimeError as exc:
                # a kernel that dies before it answers has run no cell: start it again (jupyter_client picks
                # its ports by guessing free ones, and kernels started at the same moment can collide)
                if not kernel_start_failed(exc) or attempt == KERNEL_START_ATTEMPTS:
                    raise
                record["kernel_restarts"] = attempt
                time.sleep(0.5 + random.random())
    except pm.PapermillExecutionError as exc:
        record["status"] = "failed"
        record["error"] = sanitize_error(exc.ename, exc.evalue, replacements)
    except Exception as exc:  # noqa: BLE001 - a worker reports every failure, it never crashes the run
        name = type(exc).__name__
        record["status"] = "timeout" if "Timeout" in name or "timed out" in str(exc).lower() else "failed"
        record["error"] = sanitize_error(name, str(exc), replacements)
    record["seconds"] = time.perf_counter() - t0
    record["ended"] = iso(utcnow())
    if executed.is_file():
        try:
            nb = public_notebook(json.loads(executed.read_bytes().decode("utf-8")), spec)
            text = json.dumps(nb, ensure_ascii=False, indent=1) + "\n"
            public = write_private(executed.with_name(executed.stem + ".public.ipynb"), text)
            write_notebook(out_dir / "notebook.ipynb", text)
            record["cell_seconds"] = float(sum(
                (c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
                for c in nbformat.from_dict(nb).cells
            ))
            r0 = time.perf_counter()
            render_html(public, rendered, replacements, spec.get("language", DEFAULT_LANGUAGE))
            write_text(out_dir / "report.html", rendered.read_bytes().decode("utf-8"))
            record["render_seconds"] = time.perf_counter() - r0
        except Exception as exc:  # noqa: BLE001
            if record["status"] == "ok":
                record["status"] = "failed"
                record["error"] = sanitize_error(type(exc).__name__, f"rendering failed: {exc}", replacements)
    return record


def _open_private_log(path: Path) -> int:
    """A file descriptor appending to ``path``, created empty and owner-only by the private writer."""
    write_private(path, b"")
    return os.open(str(path), os.O_WRONLY | os.O_APPEND)


@contextlib.contextmanager
def _redirect_output(log_path: Path):
    """Send this process's stdout/stderr (fd 1 and 2, also of the kernels it starts) to a private file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = _open_private_log(log_path)
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


def serve_main(parent_pid: int) -> int:
    """A persistent worker (``python -m evaluation.pipeline.workers --serve PARENT_PID WORK_DIR``).

    Imports papermill and the renderer once, then executes one notebook per
    job-spec path read from stdin, each with its output going to the job's own
    log file, and writes each job's status file; exits at end of input or
    when the run that started it is gone. Every notebook still gets a fresh
    kernel; only the client side (papermill, nbformat, rendering) is reused,
    which saves about two seconds of imports per notebook.
    """
    _watch_parent(parent_pid)
    import papermill  # noqa: F401 - imported once for all jobs of this worker

    for line in sys.stdin:
        spec_path = line.strip()
        if not spec_path:
            continue
        spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
        with _redirect_output(Path(spec_path).with_suffix(".log")):
            record = execute_job(spec)
        write_private(spec["status_path"], record)
    return 0


def kill_tree(pid: int, include_self: bool = True) -> None:
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


# --------------------------------------------------------------------------- the pool and the scheduler

@dataclasses.dataclass
class Worker:
    """A worker process and the job it runs (None when idle)."""

    proc: subprocess.Popen
    job: Job | None = None


class WorkerPool:
    """At most ``size`` persistent worker processes (``--serve``), started when needed.

    A worker runs one notebook at a time and takes the next when it is done;
    a worker that is killed (wall-clock limit, outer timeout) or dies is
    replaced by a fresh one for the next notebook. ``work_dir`` is the run's
    private job folder; ``env`` holds variables added to the workers'
    environment only (the run's validation cache and its key), never the
    run's own.
    """

    def __init__(self, size: int, work_dir: Path, log: logging.Logger, env: Mapping[str, str] | None = None):
        self.size, self.work_dir, self.log = max(int(size), 1), Path(work_dir), log
        self.env = dict(env or {})  # added to the workers' environment (their kernels inherit it)
        self.workers: list[Worker] = []
        self._started = 0
        self._submitted = 0

    def idle_worker(self) -> Worker | None:
        """An idle worker, a newly started one when there is room, or None when all are busy."""
        for w in list(self.workers):
            if w.job is None and w.proc.poll() is not None:
                self.workers.remove(w)
        for w in self.workers:
            if w.job is None:
                return w
        if len(self.workers) >= self.size:
            return None
        fd = _open_private_log(self.work_dir / f"worker-{self._started}.log")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "evaluation.pipeline.workers", "--serve", str(os.getpid()),
                 str(self.work_dir)],
                stdin=subprocess.PIPE, stdout=fd, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env} if self.env else None)
        finally:
            os.close(fd)  # the child keeps its copy
        self._started += 1
        self.log.info("started notebook worker %d (pid %s)", self._started, proc.pid)
        w = Worker(proc)
        self.workers.append(w)
        return w

    def submit(self, w: Worker, job: Job) -> None:
        """Write the job's spec into the private job folder and hand its path to worker ``w``."""
        stem = f"job-{self._submitted}-{job.result.notebook}"
        self._submitted += 1
        spec_path = self.work_dir / f"{stem}.json"
        job.spec["status_path"] = str(self.work_dir / f"{stem}.status.json")
        job.spec["executed"] = str(self.work_dir / f"{stem}.ipynb")
        job.spec["rendered"] = str(self.work_dir / f"{stem}.html")
        write_private(spec_path, job.spec)
        w.job = job
        with contextlib.suppress(OSError):  # a dead worker is noticed by the poll that follows
            w.proc.stdin.write(f"{spec_path}\n".encode())
            w.proc.stdin.flush()

    def kill(self, w: Worker) -> None:
        """Kill worker ``w`` with its kernels and forget it."""
        kill_tree(w.proc.pid)
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
                kill_tree(w.proc.pid)
                w.proc.wait()
            self.workers.remove(w)


def _collect(j: Job, w: Worker, pool: WorkerPool, done: bool, log: logging.Logger) -> None:
    """Record the end of job ``j`` (its status file when ``done``, else its worker died)."""
    status_path = Path(j.spec["status_path"])
    if j.result.status == "pending":
        if done:
            rec = json.loads(status_path.read_text(encoding="utf-8"))
            j.result.status, j.result.error = rec["status"], rec["error"]
            j.result.cell_seconds = rec.get("cell_seconds")
            j.result.render_seconds = rec.get("render_seconds")
            j.result.started = rec.get("started") or j.result.started
            j.result.ended = rec.get("ended") or j.result.ended
            if rec.get("kernel_restarts"):
                log.warning("%s: its kernel died at start and was started again (%d time(s))", j.result.job_id,
                            rec["kernel_restarts"])
        else:
            j.result.status = "failed"
            j.result.error = f"WorkerError: notebook worker ended with code {w.proc.returncode} without a result"
            pool.workers.remove(w)
    level = logging.INFO if j.result.status == "ok" else logging.ERROR
    log.log(level, "finished %s: %s in %.1f s %s", j.result.job_id, j.result.status, j.result.seconds,
            j.result.error)
    tail = log_tail(status_path.with_suffix("").with_suffix(".log"))
    if j.result.status != "ok" and tail:
        log.info("worker output of %s (last lines):\n%s", j.result.job_id, tail)


def run_jobs(jobs: list[Job], pool: WorkerPool, deadline: float | None, log: logging.Logger,
             progress: bool = False, clock: Clock = time.monotonic, poll_seconds: float = 0.05) -> bool:
    """Run jobs in the pool's worker processes; return False when the outer deadline was reached.

    A job starts when a worker is free and every job in its ``needs`` has
    ended; its ``prepare`` runs just before (a failure fails that job only).
    A job still running ``wall_limit`` seconds after it started is killed
    (status ``timeout``). At ``deadline`` every running job is killed and the
    queued ones are skipped. Wall-clock limits and the deadline are measured
    with ``clock`` (default :func:`time.monotonic`; tests inject a fake one).
    """
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
                j.started_at = clock()
                j.result.started = iso(utcnow())
                pool.submit(w, j)
                log.info("started %s (worker pid %s)", j.result.job_id, w.proc.pid)
            time.sleep(poll_seconds)
            now = clock()
            if deadline is not None and now > deadline and not timed_out:
                timed_out = True
                busy = [w for w in pool.workers if w.job is not None]
                log.error("outer run timeout reached: killing %d running notebook(s)", len(busy))
                for j in queue:
                    j.result.status, j.result.error = "skipped", "run timeout reached before start"
                queue = []
            for w in [w for w in pool.workers if w.job is not None]:
                j = w.job
                done = Path(j.spec["status_path"]).is_file()
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
                j.result.seconds = clock() - j.started_at
                j.result.ended = iso(utcnow())
                _collect(j, w, pool, done, log)
                bar.update(1)
    finally:
        for w in list(pool.workers):
            if w.job is not None:
                pool.kill(w)
        bar.close()
    return not timed_out


def log_tail(path: Path, lines: int = 15) -> str:
    """Last lines of a worker log (empty when missing)."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    """``--serve PARENT_PID WORK_DIR``: run as a notebook worker (see :func:`serve_main`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 3 or argv[0] != "--serve":
        print("usage: python -m evaluation.pipeline.workers --serve PARENT_PID WORK_DIR", file=sys.stderr)
        return 2
    return serve_main(int(argv[1]))


if __name__ == "__main__":
    sys.exit(main())
