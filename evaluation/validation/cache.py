"""Validate an intake once per quarterly run: a private, run-bound cache of the validation result.

``evaluation run`` validates the delivered intake, stages the accepted rows
in a private folder and executes every notebook on that folder. Without a
cache each notebook would validate the whole intake again (at national scale
several seconds of CPU per notebook, about 55 notebooks). Instead the run
calls :func:`write_validated_cache` once, and the notebooks load the intake
with :func:`load_validated`, which

* returns the run's validation result when the run handed its cache to the
  notebook's process (the environment variables :data:`CACHE_ENV` and
  :data:`KEY_ENV`, set by the run for its notebook workers only), the cache
  was written for exactly this folder and the files now in it (same names,
  sizes and modification times), and its signature checks out, and
* otherwise calls :func:`evaluation.validation.validate.validate_intake`, so
  interactive use on a delivered intake folder is a fresh validation.

Trust
-----
The result is a pickle, and unpickling runs code, so a pickle is read only
when it carries the run's signature: an HMAC-SHA256 with a random key of 256
bits that the run draws (:func:`new_cache_key`), keeps in memory and passes
to its notebook workers through their environment, never through a file or
a notebook parameter. The signature covers the cache format, the pandas
version, the staged folder's path and file fingerprint, and every byte of
the pickle; it is checked before a single byte is unpickled. The cache lives
in the run's private build folder (``<build>/_private/validated``, mode 0700,
files 0600), never in an intake folder, and :func:`load_validated` never
looks inside the intake folder for one: a ``.validated/result.pickle``
shipped inside an intake (or any file an intake can carry) is never read,
whether the intake is run or opened by hand. The key dies with the run, so a
cache copied elsewhere, or left by another run, is never trusted either.

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

Privacy: the cache holds row-level data (accepted and quarantined rows); it
is deleted with the run's private folder before publication.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import pickle
import secrets
import stat
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from evaluation.intake.private import private_dir, write_private
from evaluation.validation.issues import _check_language
from evaluation.validation.validate import ValidationResult, validate_intake

#: Environment variable with the run's cache folder (set by the run for its notebook workers).
CACHE_ENV = "EVALUATION_VALIDATION_CACHE"
#: Environment variable with the run's cache key, hexadecimal (set by the run for its notebook workers).
KEY_ENV = "EVALUATION_VALIDATION_KEY"
RESULT_FILE = "result.pickle"
META_FILE = "cache.json"
CACHE_FORMAT = 2
_KEY_BYTES = 32
_DOMAIN = b"evaluation validation cache v2\0"


def new_cache_key() -> bytes:
    """A fresh random key (256 bits) for one run's cache."""
    return secrets.token_bytes(_KEY_BYTES)


def cache_environment(cache_dir: str | os.PathLike, key: bytes) -> dict[str, str]:
    """The environment variables that hand the run's cache to a notebook process."""
    return {CACHE_ENV: str(Path(cache_dir).resolve()), KEY_ENV: key.hex()}


def intake_fingerprint(intake_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Names, sizes and modification times (ns) of the regular files directly in ``intake_dir``.

    Hidden entries (names starting with ``.``) are left out; sorted by name.
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


def _signed_header(meta: dict[str, Any]) -> bytes:
    return _DOMAIN + json.dumps(meta, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\0"


class _Signing:
    """A binary file wrapper that feeds every written byte to an HMAC."""

    def __init__(self, fh: BinaryIO, mac: hmac.HMAC):
        self.fh, self.mac = fh, mac

    def write(self, data: bytes) -> int:
        self.mac.update(data)
        return self.fh.write(data)


def write_validated_cache(validation: ValidationResult, intake_dir: str | os.PathLike,
                          cache_dir: str | os.PathLike, key: bytes) -> Path:
    """Store the run's validation result for the staged intake folder ``intake_dir``, signed with ``key``.

    Parameters
    ----------
    validation : evaluation.validation.validate.ValidationResult
        The validation of the delivered intake whose accepted rows were
        written to ``intake_dir`` by :func:`evaluation.pipeline.staging.stage_accepted_intake`
        (same tables, same row order).
    intake_dir : path
        The staged folder. Write the cache after the staged files, and do not
        change them afterwards: any change makes the cache stale.
    cache_dir : path
        A folder of the run's own private build folder (created with mode
        0700), outside ``intake_dir``.
    key : bytes
        The run's key (:func:`new_cache_key`, at least 32 bytes); hand it to
        the notebook processes with :func:`cache_environment`.

    Returns
    -------
    Path
        ``cache_dir`` (mode 0700; files 0600).
    """
    intake_dir = Path(intake_dir).resolve()
    if not intake_dir.is_dir():
        raise NotADirectoryError(f"write_validated_cache: {intake_dir} is not a folder")
    if not isinstance(key, bytes) or len(key) < _KEY_BYTES:
        raise ValueError(f"write_validated_cache: the key must be at least {_KEY_BYTES} random bytes")
    target = private_dir(cache_dir).resolve()
    if target == intake_dir or intake_dir in target.parents:
        raise ValueError(f"write_validated_cache: the cache folder {target} must lie outside the intake folder")
    (target / META_FILE).unlink(missing_ok=True)  # never a signature next to a half-written result
    cached = dataclasses.replace(validation, tables=_staged_tables(validation.tables), intake_path=None)
    meta = {"format": CACHE_FORMAT, "pandas": pd.__version__, "intake": str(intake_dir),
            "files": intake_fingerprint(intake_dir)}
    mac = hmac.new(key, _signed_header(meta), hashlib.sha256)
    write_private(target / RESULT_FILE,
                  lambda fh: pickle.dump(cached, _Signing(fh, mac), protocol=pickle.HIGHEST_PROTOCOL))
    write_private(target / META_FILE, meta | {"hmac_sha256": mac.hexdigest()})
    return target


def _owner_only(p: Path) -> bool:
    st = p.lstat()
    return st.st_uid == os.getuid() and not stat.S_ISLNK(st.st_mode) and not (stat.S_IMODE(st.st_mode) & 0o077)


def _run_cache() -> tuple[Path, bytes] | None:
    """The cache folder and key the run handed to this process, or None."""
    folder, key_hex = os.environ.get(CACHE_ENV), os.environ.get(KEY_ENV)
    if not folder or not key_hex:
        return None
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        return None
    return (Path(folder), key) if len(key) >= _KEY_BYTES else None


def _read_cache(intake_dir: Path) -> Any | None:
    """The run's cached result for ``intake_dir``, or None (with a warning when it exists but cannot be used)."""
    handed = _run_cache()
    if handed is None:
        return None  # opened by hand: never a cache, whatever the folder holds
    target, key = handed
    meta_path, res_path = target / META_FILE, target / RESULT_FILE
    try:
        if not target.is_dir():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("intake") != str(intake_dir.resolve()):
            return None  # the run's cache is for another folder
        if not (_owner_only(target) and _owner_only(meta_path) and _owner_only(res_path)):
            warnings.warn(f"{target}: cache not owned by this user or readable by others; validating afresh",
                          UserWarning, stacklevel=3)
            return None
        if meta.get("format") != CACHE_FORMAT or meta.get("pandas") != pd.__version__:
            warnings.warn(f"{target}: cache of another format or pandas version; validating afresh",
                          UserWarning, stacklevel=3)
            return None
        if meta.get("files") != intake_fingerprint(intake_dir):
            warnings.warn(f"{target}: the files of {intake_dir} changed since the cache was written; "
                          "validating afresh", UserWarning, stacklevel=3)
            return None
        signature = str(meta.pop("hmac_sha256", ""))
        fd = os.open(res_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            payload = fh.read()
        mac = hmac.new(key, _signed_header(meta), hashlib.sha256)
        mac.update(payload)
        if not hmac.compare_digest(mac.hexdigest(), signature):
            warnings.warn(f"{target}: the cache does not carry this run's signature; validating afresh",
                          UserWarning, stacklevel=3)
            return None
        return pickle.loads(payload)  # noqa: S301 - signed by this run's secret key, checked above
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        warnings.warn(f"{target}: cache unreadable ({type(exc).__name__}: {exc}); validating afresh",
                      UserWarning, stacklevel=3)
        return None


def load_validated(intake_dir: str | os.PathLike, language: str = "nl") -> ValidationResult:
    """Validated intake: the run's cached result when it was handed to this process, else a fresh validation.

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
        Nothing inside ``intake_dir`` other than its tables and YAML files is
        ever read.
    """
    intake_dir = Path(intake_dir)
    cached = _read_cache(intake_dir) if intake_dir.is_dir() else None
    if cached is None:
        return validate_intake(intake_dir, language=language)
    _check_language(language)
    return dataclasses.replace(cached, language=language, intake_path=intake_dir)
