"""Provenance of a quarterly run: its inputs, software, git commit and the manifest.

``manifest.json`` in every published quarter records the intake files with
their SHA-256, the reconciliation of the delivered rows, the cutoff, every
parameter, the notebooks with their hashes, each job's status and timings,
the versions of the key libraries, the git commit, and summaries of the
disclosure audit and the identifier scan (counts only, never values). Paths
are recorded by their last component, never as absolute private paths.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.contract.schema import load_contract
from evaluation.intake.read import TABLE_SUFFIXES

KEY_LIBRARIES = (
    "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "pyarrow", "papermill",
    "nbconvert", "nbclient", "nbformat", "ipykernel", "jupyter_client", "pyyaml",
)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file (never through a symbolic link)."""
    h = hashlib.sha256()
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def describe_inputs(intake_dir: str | Path) -> list[dict[str, Any]]:
    """The intake's contract files with their size and SHA-256 (sorted by name).

    Only what the contract reads is described: the table files
    (``<table>.csv`` or ``.parquet``), the workbook and the two YAML files,
    as regular files at the top of the folder. Nothing else an intake
    carries is hashed into the manifest (a stray key's hash would allow
    offline guessing; docs/privacy.md, 'Threat model'), and no link is
    followed.
    """
    root = Path(intake_dir)
    tables = set(load_contract().table_names)
    files = []
    for p in sorted(root.iterdir()):
        suffix = p.suffix.lower()
        wanted = (p.stem in tables and suffix in TABLE_SUFFIXES) or suffix == ".xlsx" \
            or p.name in {"programmes.yaml", "extract.yaml"}
        if not wanted or p.name.startswith((".", "~$")) or not stat.S_ISREG(p.lstat().st_mode):
            continue
        files.append({"file": p.name, "bytes": p.lstat().st_size, "sha256": sha256_file(p)})
    return files


def utcnow() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    """``t`` as ISO 8601 to the second, UTC written as ``Z``."""
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



def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy scalars, NaN and other values JSON cannot hold made plain (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
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



def build_manifest(
    *,
    run_id: str,
    quarter: str,
    period: tuple[dt.date, dt.date],
    cutoff: dt.date,
    cutoff_source: str,
    extract_cutoff: dt.date | None,
    started: dt.datetime,
    ended: dt.datetime,
    validation_seconds: float,
    intake_name: str,
    inputs: list[dict[str, Any]],
    reconciliation: Any,
    programmes: Sequence[str],
    designs: Mapping[str, str],
    parameters: Mapping[str, Any],
    notebooks: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    differencing: pd.DataFrame,
    totals_withheld: Mapping[str, int],
    identifiers: Mapping[str, set[str]],
) -> dict[str, Any]:
    """The manifest of a run (a JSON-ready dict; written by the quarter with the one writer).

    ``differencing`` is the audit of :func:`evaluation.publish.disclosure.differencing_audit`
    (one row per flagged measure line); ``identifiers`` are the intake's
    identifier values per kind, of which only the kinds and the count are recorded.
    """
    return {
        "run_id": run_id,
        "quarter": quarter,
        "quarter_start": period[0].isoformat(),
        "quarter_end": period[1].isoformat(),
        "cutoff_date": cutoff.isoformat(),
        "cutoff_source": cutoff_source,
        "extract_cutoff_date": extract_cutoff.isoformat() if extract_cutoff else None,
        "started": iso(started),
        "ended": iso(ended),
        "duration_seconds": round((ended - started).total_seconds(), 3),
        "validation_seconds": round(validation_seconds, 3),
        "intake": {"folder": intake_name, "files": inputs},
        "reconciliation": jsonable(reconciliation),
        "programmes": list(programmes),
        "designs": dict(designs),
        "parameters": dict(parameters),
        "notebooks": notebooks,
        "jobs": jobs,
        "software": {
            "evaluation": library_versions(["evaluation"])["evaluation"],
            "git": git_commit(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "libraries": library_versions(),
        },
        "disclosure": {"differencing_lines_flagged": len(differencing),
                       "differencing_exact": int(differencing["exact"].sum()) if len(differencing) else 0,
                       "totals_withheld": dict(totals_withheld),
                       "note": f"programme counts shown as <{SUPPRESSION_THRESHOLD} that 'all programmes' minus the other programmes "
                               "could narrow, if the line adds up (disclosure.differencing_audit); not blocking. "
                               "totals_withheld: per notebook, rows of all programmes withheld so that they "
                               "do not give a programme's small count back (disclosure.withhold_pooled)"},
        "privacy_scan": {"identifier_fields": sorted(identifiers),
                         "identifier_values": int(sum(len(v) for v in identifiers.values()))},
    }
