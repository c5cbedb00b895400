"""Crash-consistent publication of a quarter: a journal, one commit rename, recovery by the next run.

A quarter is published in these steps (:func:`publish_build`), with SIGTERM
and SIGINT deferred until the last one has ended:

1. the build folder is complete (reports, ``manifest.json`` with the run's
   ``run_id``, ``run.log``, the staged store partition ``.store.parquet``);
2. the journal ``<out>/.<quarter>.publishing.json`` (owner-only, written
   atomically) names the build folder, the run and, with ``force``, the name
   the previous quarter will be kept under;
3. with ``force``, ``<out>/<quarter>`` is renamed to ``<quarter>.replaced-<time>``;
4. the build folder is renamed to ``<out>/<quarter>``: the **commit point**;
5. the results store's partition of the quarter is replaced from the
   published folder's ``.store.parquet``, which is then removed; a stale
   ``<quarter>.failed-validation`` is removed;
6. the journal is removed.

An error in steps 2-5 is handled at once: before the commit point the
previous quarter is put back and the build removed (rolled back), after it
the store is updated (completed). When the process dies instead (SIGKILL,
power loss) or the handling fails too, the journal stays, and the next run
of the quarter (:func:`recover`, called under the quarter's lock before
anything else) completes or rolls back the same way. Whether the commit
point was passed is read from the folder itself: ``<out>/<quarter>/manifest.json``
carries the journal's ``run_id``.

:func:`_fault_point` is the seam the tests use to stop a publication at each
step (a no-op otherwise).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

from evaluation.intake.private import fsync_dir, write_private
from evaluation.pipeline import store

STAGED_STORE = ".store.parquet"


def _fault_point(step: str) -> None:
    """Seam for the tests: called after each step of a publication; does nothing."""


def journal_path(out_dir: Path, quarter: str) -> Path:
    """The publication journal of ``quarter`` in the reports folder ``out_dir``."""
    return out_dir / f".{quarter}.publishing.json"


def read_journal(out_dir: Path, quarter: str) -> dict[str, Any] | None:
    """The journal of an unfinished publication of ``quarter``, or None.

    Raises ValueError when the journal exists but does not name a build
    folder and kept name of this quarter (it is then left for the operator).
    """
    p = journal_path(out_dir, quarter)
    if not p.is_file():
        return None
    j = json.loads(p.read_text(encoding="utf-8"))
    build, replaced = j.get("build") if isinstance(j, dict) else None, j.get("replaced") if isinstance(j, dict) else None
    if (not isinstance(build, str) or not build.startswith(f".tmp-{quarter}-") or "/" in build
            or (replaced is not None and (not isinstance(replaced, str) or "/" in replaced
                                          or not replaced.startswith(f"{quarter}.replaced-")))
            or not isinstance(j.get("run_id"), str)):
        raise ValueError(f"{p}: not a publication journal of {quarter}; inspect and remove it by hand")
    return j


def _published_run(quarter_dir: Path) -> str | None:
    """The ``run_id`` in ``<quarter_dir>/manifest.json``, or None."""
    try:
        data = json.loads((quarter_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("run_id") if isinstance(data, dict) else None


def _finish_committed(out_dir: Path, quarter: str) -> None:
    quarter_dir = out_dir / quarter
    staged = quarter_dir / STAGED_STORE
    if staged.is_file():
        store.publish_partition(staged, out_dir, quarter)
        staged.unlink()
    stale = out_dir / f"{quarter}.failed-validation"
    if stale.exists():
        shutil.rmtree(stale, ignore_errors=True)


def recover(out_dir: Path, quarter: str, log: logging.Logger | None = None) -> str | None:
    """Complete or roll back an unfinished publication of ``quarter``; return what was done (None: nothing to do).

    Completed when ``<out>/<quarter>/manifest.json`` carries the journal's
    run (the commit rename happened): the store partition is updated from the
    published folder. Rolled back otherwise: the previous quarter is renamed
    back from its kept name (when it was moved and nothing is in its place)
    and the build folder removed.
    """
    j = read_journal(out_dir, quarter)
    if j is None:
        return None
    quarter_dir = out_dir / quarter
    if _published_run(quarter_dir) == j["run_id"]:
        _finish_committed(out_dir, quarter)
        msg = (f"completed the interrupted publication of {quarter} (run {j['run_id']}): the quarter and "
               "its results-store partition are in place")
    else:
        restored = False
        if j.get("replaced") and (out_dir / j["replaced"]).is_dir() and not os.path.lexists(quarter_dir):
            os.rename(out_dir / j["replaced"], quarter_dir)
            restored = True
        if (out_dir / j["build"]).is_dir():
            shutil.rmtree(out_dir / j["build"])
        msg = (f"rolled back the interrupted publication of {quarter} (run {j['run_id']}): "
               + ("the previous quarter is back in place" if restored
                  else "the previous quarter is in place" if quarter_dir.is_dir() else "nothing was published"))
    journal_path(out_dir, quarter).unlink()
    if log is not None:
        log.warning(msg)
    return msg


def state(out_dir: Path, quarter: str, run_id: str) -> str:
    """One sentence on what a run that stopped has published."""
    if journal_path(out_dir, quarter).is_file():
        return (f"the publication of {quarter} is unfinished; the next run of {quarter} completes it or "
                "rolls it back")
    if _published_run(out_dir / quarter) == run_id:
        return f"{quarter} was published"
    return f"nothing published; {quarter} is unchanged"


@contextlib.contextmanager
def _deferred_signals(received: list[int]):
    """SIGTERM and SIGINT are recorded in ``received`` instead of interrupting (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def publish_build(build: Path, out_dir: Path, quarter: str, run_id: str, replaced: Path | None,
                  log: logging.Logger) -> list[int]:
    """Publish the complete build folder as ``<out_dir>/<quarter>`` (steps 2-6 of the module docstring).

    ``build`` must hold ``manifest.json`` with ``run_id`` and the staged
    store partition :data:`STAGED_STORE`. ``replaced`` is the name the
    existing quarter is kept under (None when there is none). Returns the
    signals received (and deferred) during the publication.
    """
    quarter_dir = out_dir / quarter
    received: list[int] = []
    with _deferred_signals(received):
        write_private(journal_path(out_dir, quarter), {
            "quarter": quarter, "run_id": run_id, "build": build.name,
            "replaced": replaced.name if replaced is not None else None,
        }, durable=True)
        try:
            _fault_point("journal_written")
            if replaced is not None:
                os.rename(quarter_dir, replaced)
                _fault_point("old_quarter_kept")
            os.rename(build, quarter_dir)  # the commit point
            fsync_dir(out_dir)  # (the renames reach the disk before the journal goes)
            _fault_point("quarter_renamed")
            _finish_committed(out_dir, quarter)
            _fault_point("store_updated")
            journal_path(out_dir, quarter).unlink()
        except Exception:
            # complete (after the commit point) or roll back now; if that fails too, the journal stays
            with contextlib.suppress(Exception):
                recover(out_dir, quarter, log)
            raise
    if received:
        log.warning("signal(s) %s received during the publication of %s: the publication was finished first",
                    sorted(set(received)), quarter)
    return received
