"""The one private writer: row-level files readable by their owner only.

Row-level data (pseudonymised intakes, quarantined rows, the validation
report, the run's cache, analysis datasets) are never published. They are
written here, and nowhere else, with mode 0600 in folders with mode 0700,
set when the file or folder is created (a umask can only narrow it). A
symbolic link as the target file or folder is refused (``O_NOFOLLOW``):
whoever can plant a link could otherwise redirect row-level data to a place
of their choosing. What goes into a report folder goes through
:mod:`evaluation.publish.writer` instead (docs/methods.md, section
'Disclosure control').
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

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class SymlinkError(OSError):
    """A private file or folder would be written through a symbolic link."""


def make_missing_dirs(p: str | os.PathLike) -> None:
    """Create ``p`` and its missing parents with mode 0700 (set at creation, not afterwards).

    Existing folders are left as they are.
    """
    missing = []
    q = Path(p)
    while not os.path.lexists(q):
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:  # created meanwhile by another process
            pass


def _refuse_link(p: Path, who: str) -> None:
    if p.is_symlink():
        raise SymlinkError(f"{who}: {p} is a symbolic link; refusing to write private data through it")


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (renames, new files) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def own_dir(path: str | os.PathLike) -> Path:
    """A folder to write into that is not a symbolic link; created with mode 0700 when missing.

    Unlike :func:`private_dir`, an existing folder keeps its mode (it may be
    the operator's own folder, given with ``--out``).

    Raises
    ------
    SymlinkError
        ``path`` is a symbolic link (e.g. ``INTAKE/_validation`` planted in a delivered intake).
    NotADirectoryError
        ``path`` exists and is not a folder.
    """
    return _folder(path, "own_dir")


def _folder(path: str | os.PathLike, who: str) -> Path:
    """``path`` as a folder: missing folders created with mode 0700, a link refused, a file refused."""
    p = Path(path)
    make_missing_dirs(p)
    _refuse_link(p, who)
    if not p.is_dir():
        raise NotADirectoryError(f"{who}: {p} exists and is not a folder")
    return p


def private_dir(path: str | os.PathLike) -> Path:
    """Create a folder readable by its owner only (mode 0700), parents included.

    Folders are created with ``os.mkdir(path, 0o700)``. An existing folder
    that is accessible to group or others is tightened to 0700 with a
    warning. A symbolic link in place of the folder is refused.

    Raises
    ------
    SymlinkError
        ``path`` is a symbolic link.
    NotADirectoryError
        ``path`` exists and is not a folder.
    """
    p = _folder(path, "private_dir")
    fd = os.open(p, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            warnings.warn(f"private_dir: {p} was accessible to group/others (mode {mode:o}); set to 0700",
                          UserWarning, stacklevel=2)
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return p


def write_private(path: str | os.PathLike, data: Any, index: bool = False, durable: bool = False) -> Path:
    """Write a row-level file readable by its owner only (mode 0600), atomically.

    The file is created by :func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``,
    mode 0600, never through a link) in the target folder and renamed over
    ``path``, so the data never exist with wider permissions, even if ``path``
    existed with a wider mode. Missing parent folders are created with mode
    0700; an existing parent is left as it is (make it private with
    :func:`private_dir` if it is yours).

    Parameters
    ----------
    path : path
        Target file. A DataFrame is written as Parquet for ``.parquet`` and as
        UTF-8 CSV otherwise.
    data : DataFrame, str, bytes, dict, list or callable
        dict/list are written as JSON; a callable is called with the open
        binary file and writes into it (e.g. ``lambda fh: pickle.dump(obj, fh)``,
        which streams instead of building the bytes in memory first).
    index : bool, default False
        Write the DataFrame index (CSV/Parquet).
    durable : bool, default False
        Flush the file to disk before the rename and the folder after it
        (``fsync``), so that a power cut leaves either the old or the new
        file (a journal must survive the crash it is there for).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SymlinkError
        ``path`` is a symbolic link (make the folder with :func:`private_dir`,
        which refuses a link as well).
    TypeError
        ``data`` is of another type.
    """
    p = Path(path)
    make_missing_dirs(p.parent)
    _refuse_link(p, "write_private")
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
        elif callable(data):
            with os.fdopen(fd, "wb") as fh:
                data(fh)
        else:
            os.close(fd)
            raise TypeError(f"write_private: cannot write {type(data).__name__} to {p}")
        os.chmod(tmp, 0o600)
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, p)
        if durable:
            fsync_dir(p.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
