"""Validate an intake once per quarterly run: a private cache of the validation result.

``evaluation run`` validates the delivered intake, stages the accepted rows
in a private folder and executes every notebook on that folder. Without a
cache each notebook would validate the whole intake again (at national scale
several seconds of CPU per notebook, about 55 notebooks). Instead the run
calls :func:`write_validated_cache` once, and the notebooks load the intake
with :func:`load_validated`, which

* returns the run's validation result when ``intake_dir`` holds a cache
  written for exactly the files now in the folder (same names, sizes and
  modification times, recorded by the run), and
* otherwise calls :func:`evaluation.validation.validate.validate_intake`, so interactive
  use on a delivered intake folder is unchanged.

What the cached result contains
-------------------------------
* ``tables``: the accepted rows, identical (values, dtypes, index) to what a
  fresh validation of the staged folder gives; ``_row`` is the record number
  in the *staged* file (first data row 2), as a fresh validation would give.
* ``issues``, ``quarantine``, ``reconciliation``, ``ignored``, ``extract``:
  from the run's validation of the *delivered* intake. The data-quality
  notebook therefore reports the real problems of the delivery (row numbers
  in issues refer to the delivered files), not the clean staged copy.
* ``programmes`` and ``cutoff_date``: from the delivered intake (the staged
  copy carries the same ``programmes.yaml`` and ``extract.yaml``).

Privacy: the cache holds row-level data (accepted and quarantined rows). It
lives in the hidden sub-folder ``.validated`` of the staged intake, which is
inside the run's private build folder and is deleted before publication; the
folder is created with mode 0700 and the files with mode 0600. A cache folder
or file that is not owned by the current user or is accessible to group or
others is never read (the result is a pickle, and a pickle must only be read
from a trusted source); the intake is then validated afresh, with a warning.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.intake.private import private_dir, write_private
from evaluation.validation.issues import _check_language
from evaluation.validation.validate import ValidationResult, validate_intake

CACHE_DIRNAME = ".validated"
RESULT_FILE = "result.pickle"
FINGERPRINT_FILE = "fingerprint.json"
CACHE_FORMAT = 1


def intake_fingerprint(intake_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Names, sizes and modification times (ns) of the regular files directly in ``intake_dir``.

    Hidden entries (names starting with ``.``, such as the cache folder) are
    left out; sorted by name.
    """
    root = Path(intake_dir)
    out = []
    for p in sorted(root.iterdir(), key=lambda q: q.name):
        if p.name.startswith(".") or not p.is_file():
            continue
        st = p.stat()
        out.append({"file": p.name, "bytes": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)})
    return out


def _staged_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Shallow copies with the index and ``_row`` a fresh validation of the staged CSVs would give."""
    out = {}
    for name, df in tables.items():
        t = df.copy(deep=False)
        t.index = pd.RangeIndex(len(t))
        if "_row" in t.columns:
            t["_row"] = np.arange(2, len(t) + 2, dtype=t["_row"].dtype)
        out[name] = t
    return out


def write_validated_cache(validation: ValidationResult, intake_dir: str | os.PathLike) -> Path:
    """Store the run's validation result for the staged intake folder ``intake_dir``.

    Parameters
    ----------
    validation : evaluation.validation.validate.ValidationResult
        The validation of the delivered intake whose accepted rows were
        written to ``intake_dir`` by :func:`evaluation.pipeline.staging.stage_accepted_intake`
        (same tables, same row order).
    intake_dir : path
        The staged folder. Write the cache after the staged files, and do not
        change them afterwards: any change makes the cache stale.

    Returns
    -------
    Path
        The cache folder ``<intake_dir>/.validated`` (mode 0700; files 0600).
    """
    intake_dir = Path(intake_dir)
    if not intake_dir.is_dir():
        raise NotADirectoryError(f"write_validated_cache: {intake_dir} is not a folder")
    target = private_dir(intake_dir / CACHE_DIRNAME)
    (target / FINGERPRINT_FILE).unlink(missing_ok=True)  # never a fingerprint next to a half-written result
    cached = dataclasses.replace(validation, tables=_staged_tables(validation.tables), intake_path=None)
    write_private(target / RESULT_FILE, lambda fh: pickle.dump(cached, fh, protocol=pickle.HIGHEST_PROTOCOL))
    write_private(target / FINGERPRINT_FILE, {
        "format": CACHE_FORMAT, "pandas": pd.__version__, "files": intake_fingerprint(intake_dir),
    })
    return target


def _owner_only(p: Path) -> bool:
    st = p.lstat()
    return st.st_uid == os.getuid() and not stat.S_ISLNK(st.st_mode) and not (stat.S_IMODE(st.st_mode) & 0o077)


def _read_cache(intake_dir: Path) -> Any | None:
    """The cached result, or None (with a warning when a cache exists but cannot be used)."""
    target = intake_dir / CACHE_DIRNAME
    if not target.exists():
        return None
    fp_path, res_path = target / FINGERPRINT_FILE, target / RESULT_FILE
    try:
        if not (_owner_only(target) and _owner_only(fp_path) and _owner_only(res_path)):
            warnings.warn(f"{target}: cache not owned by this user or readable by others; validating afresh",
                          UserWarning, stacklevel=3)
            return None
        fp = json.loads(fp_path.read_text(encoding="utf-8"))
        if fp.get("format") != CACHE_FORMAT or fp.get("pandas") != pd.__version__:
            warnings.warn(f"{target}: cache of another format or pandas version; validating afresh",
                          UserWarning, stacklevel=3)
            return None
        if fp.get("files") != intake_fingerprint(intake_dir):
            warnings.warn(f"{target}: the files of {intake_dir} changed since the cache was written; "
                          "validating afresh", UserWarning, stacklevel=3)
            return None
        with open(res_path, "rb") as fh:
            return pickle.load(fh)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        warnings.warn(f"{target}: cache unreadable ({type(exc).__name__}: {exc}); validating afresh",
                      UserWarning, stacklevel=3)
        return None


def load_validated(intake_dir: str | os.PathLike, language: str = "nl") -> ValidationResult:
    """Validated intake: the run's cached result when valid for these files, else a fresh validation.

    Parameters
    ----------
    intake_dir : path
        Intake folder (a delivered intake, or the staged folder of a run).
    language : {"en", "nl"}
        Language of the issue messages (``result.issues``).

    Returns
    -------
    evaluation.validation.validate.ValidationResult
        See the module docstring for what a cached result holds; without a
        usable cache, exactly ``validate_intake(intake_dir, language=language)``.
    """
    intake_dir = Path(intake_dir)
    cached = _read_cache(intake_dir) if intake_dir.is_dir() else None
    if cached is None:
        return validate_intake(intake_dir, language=language)
    _check_language(language)
    return dataclasses.replace(cached, language=language, intake_path=intake_dir)
