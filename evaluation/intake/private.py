"""Files at rest: row-level files readable by their owner only.

Row-level files (quarantine, the run's cache, pseudonymisation keys) are written with
:func:`write_private` (mode 0600, atomic) in folders made by :func:`private_dir` (mode 0700).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd


def _make_missing_dirs(p: Path) -> None:
    """Create ``p`` and its missing parents with mode 0700 (set at creation, not afterwards)."""
    missing = []
    q = p
    while not q.exists():
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # created meanwhile by another process
            pass


def private_dir(path: str | os.PathLike) -> Path:
    """Create a folder readable by its owner only (mode 0700), parents included.

    Folders are created with ``os.mkdir(path, 0o700)`` (the mode is applied at
    creation; a umask can only narrow it). An existing folder that is
    accessible to group or others is tightened to 0700 with a warning.
    """
    p = Path(path)
    _make_missing_dirs(p)
    if not p.is_dir():
        raise NotADirectoryError(f"private_dir: {p} exists and is not a folder")
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        warnings.warn(f"private_dir: {p} was accessible to group/others (mode {mode:o}); set to 0700", UserWarning, stacklevel=2)
        os.chmod(p, 0o700)
    return p


def write_private(path: str | os.PathLike, data: Any, index: bool = False) -> Path:
    """Write a row-level file readable by its owner only (mode 0600), atomically.

    The file is created by :func:`tempfile.mkstemp` (``os.open`` with mode
    0600) in the target folder and renamed over ``path``, so the data never
    exist with wider permissions, even if ``path`` existed with a wider mode.
    Missing parent folders are created with mode 0700; an existing parent is
    left as it is (make it private with :func:`private_dir` if it is yours).

    Parameters
    ----------
    path : path
        Target file. A DataFrame is written as Parquet for ``.parquet`` and as
        UTF-8 CSV otherwise.
    data : DataFrame, str, bytes, dict or list
        dict/list are written as JSON.
    index : bool, default False
        Write the DataFrame index (CSV/Parquet).
    """
    p = Path(path)
    _make_missing_dirs(p.parent)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        if isinstance(data, pd.DataFrame):
            if p.suffix.lower() == ".parquet":
                with os.fdopen(fd, "wb") as fh:
                    data.to_parquet(fh, index=index)
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    data.to_csv(fh, index=index)
        elif isinstance(data, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        elif isinstance(data, str):
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
        elif isinstance(data, (dict, list)):
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, indent=2, default=str)
        else:
            os.close(fd)
            raise TypeError(f"write_private: cannot write {type(data).__name__} to {p}")
        os.chmod(tmp, 0o600)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
