"""Opening the files of an untrusted intake folder: regular files only, never through a link.

Everything in an intake folder is treated as hostile input (docs/privacy.md,
section 'Threat model'). This module holds the few primitives every reader
of :mod:`evaluation.intake.read` goes through:

* :func:`open_regular` opens a file with ``O_NOFOLLOW | O_NONBLOCK`` and
  refuses anything that is not a regular file: a symbolic link (which could
  point out of the folder), a FIFO (which would block the run), a device or
  a socket. The check is made on the opened descriptor, so a file swapped
  for a link between the check and the read is still refused.
* :func:`fd_path` names an opened descriptor for libraries that only take a
  path (Arrow's memory map): ``/proc/self/fd/N`` on Linux, which is the
  opened file itself, not whatever the name points to later.
* :func:`screen_folder` refuses a pseudonym key or a raw export with
  identifier columns anywhere in the intake before anything reads or hashes
  it, and a tree so large that listing it would be the attack.

The bounds (``MAX_*``) are documented in docs/methods.md, section 'Intake limits'.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path


class IntakeError(Exception):
    """An intake folder or file cannot be read; the message names the file."""


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

#: Header line of a CSV table: longer is not a header (the contract's widest table needs ~1 KiB).
MAX_HEADER_BYTES = 256 * 1024
#: Columns in one table (file or sheet); the contract's widest table has fewer than 60.
MAX_COLUMNS = 1000
#: One CSV cell (bytes without a separator or line break); the contract's longest free text needs a few KiB.
MAX_CELL_BYTES = 1 << 20
#: A NUL byte in the first bytes of a text table means UTF-16 without a byte-order mark, or not text.
NUL_SCAN_BYTES = 64 * 1024
#: programmes.yaml and extract.yaml are a few KiB; a larger one is not a description.
MAX_YAML_BYTES = 1 << 20
#: Nesting depth of a YAML document (the schemas need 4).
MAX_YAML_DEPTH = 32
#: Uncompressed bytes of one member of an .xlsx workbook, and its compression ratio.
MAX_XLSX_MEMBER_BYTES = 1 << 30
MAX_XLSX_RATIO = 200
#: The shared-string table is read whole (cells of every sheet point into it); 256 MiB is far beyond
#: the unique texts of a national intake (about 40 MiB for a million identifiers).
MAX_XLSX_SHARED_STRINGS_BYTES = 256 << 20
#: A member smaller than this is never a bomb, whatever its ratio.
XLSX_RATIO_FLOOR = 16 << 20
#: Files in the intake tree.
MAX_INTAKE_FILES = 10_000
#: Folders of the intake tree that the toolkit writes itself (never screened as delivered data).
OWN_FOLDERS = ("_validation",)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike) -> int:
    """Open ``path`` read-only without following a link; return the descriptor of a regular file.

    Raises
    ------
    IntakeError
        The path is a symbolic link, a FIFO, a device, a socket or a folder,
        or cannot be opened; the message names the file and what it is.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
    except OSError as exc:
        try:
            what = _kind(os.lstat(p).st_mode)
        except OSError:
            what = None
        if what == "a symbolic link":
            raise IntakeError(f"{p}: is a symbolic link; deliver the file itself inside the intake folder "
                              "(links are not followed)") from exc
        raise IntakeError(f"{p}: cannot open the file ({exc.strerror})") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise IntakeError(f"{p}: is {_kind(mode)}, not a regular file; deliver a plain file")
    return fd


def read_regular_bytes(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of a regular file (:func:`open_regular`); refuse more than ``limit`` bytes."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise IntakeError(f"{path}: larger than {limit:,} bytes; this file is never that large")
    return data


def fd_path(fd: int, fallback: str | os.PathLike) -> str:
    """A path that names the opened file ``fd`` itself (Linux ``/proc/self/fd``), else ``fallback``."""
    p = f"/proc/self/fd/{fd}"
    return p if os.path.exists(p) else str(fallback)


def is_own_folder(rel: Path) -> bool:
    """Whether ``rel`` (relative to the intake) lies in a folder the toolkit writes itself."""
    return bool(rel.parts) and rel.parts[0] in OWN_FOLDERS


def walk_files(root: Path) -> list[Path]:
    """Every entry below ``root`` that is not a folder, without following links (own folders skipped).

    Raises IntakeError beyond :data:`MAX_INTAKE_FILES` entries.
    """
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in OWN_FOLDERS]
        # (a link to a folder is listed in dirnames but not entered: report it as an entry)
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        out.extend(Path(dirpath) / n for n in sorted(filenames) + sorted(links))
        if len(out) > MAX_INTAKE_FILES:
            raise IntakeError(f"{root}: more than {MAX_INTAKE_FILES:,} files in the intake folder; "
                              "deliver the contract's tables and the two YAML files only")
    return out


_KEY_FILE_NAME = re.compile(r"(?:^|[^a-z])(?:key|keys|secret|sleutel|passphrase|password|wachtwoord)(?:[^a-z]|$)"
                            r"|\.(?:key|pem|p12|pfx|jks|keystore|gpg|asc)$", re.IGNORECASE)


def looks_like_key_file(path: str | os.PathLike, max_bytes: int = 4096) -> str | None:
    """Why the file at ``path`` looks like a secret key, or None.

    For the validator, which refuses such a file inside an intake before anything hashes it: a name
    like ``pseudonym.key`` or ``secret.txt``, or a small file whose content is 64 or more hex
    characters, base64 of 32 or more bytes, or a PEM block. Reads at most ``max_bytes`` bytes, without
    following a symbolic link.
    """
    p = Path(path)
    if _KEY_FILE_NAME.search(p.name):
        return f"its name {p.name!r} is a key file's name"
    try:
        fd = os.open(p, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        head = fh.read(max_bytes + 1)
    if len(head) > max_bytes:
        return None
    text = head.strip()
    if re.fullmatch(rb"[0-9a-fA-F]{64,}", text):
        return f"it holds {len(text)} hex characters, like a key made by secrets.token_hex"
    if re.fullmatch(rb"[A-Za-z0-9+/]{43,}={0,2}", text):
        return "it holds one long base64 string, like an encoded key"
    if text.startswith(b"-----BEGIN ") and b"KEY" in text[:64]:
        return "it holds a PEM key block"
    return None


#: Suffixes of files whose header is read to spot a raw export (with identifiers) in an intake.
TEXT_TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".tab")


def header_names(path: Path) -> list[str]:
    """Column names of a delivered text or Parquet table (first line only; empty when unreadable)."""
    import csv

    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq

            fd = open_regular(path)
            with os.fdopen(fd, "rb") as fh:
                return list(pq.read_schema(fh).names)
        except Exception:  # noqa: BLE001 (a damaged file is not a raw export we can recognise)
            return []
    try:
        head = read_regular_prefix(path, MAX_HEADER_BYTES)
    except IntakeError:
        return []
    for enc in ("utf-16", "utf-8-sig", "cp1252"):
        if enc == "utf-16" and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            text = head.decode(enc, errors="strict" if enc != "utf-16" else "ignore")
            break
        except UnicodeDecodeError:
            continue
    else:
        return []
    line = text.splitlines()[0] if text else ""
    sep = max(",;\t", key=line.count)
    try:
        return [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]
    except csv.Error:
        return line.split(sep)


def read_regular_prefix(path: str | os.PathLike, n: int) -> bytes:
    """The first ``n`` bytes of a regular file (:func:`open_regular`)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(n)


def identifier_columns(names: list[str], identifier_names: set[str]) -> list[str]:
    """The names in ``names`` that are identifier columns (already normalised ``identifier_names``)."""
    from evaluation.contract.identifiers import normalise_column_name  # why: lazy (numpy)

    return [n for n in names if normalise_column_name(n) in identifier_names]


def screen_folder(root: Path, table_files: set[str], identifier_names: set[str]) -> None:
    """Refuse an intake that carries a pseudonym key or a raw export with identifiers.

    Every entry of the tree (links not followed, the toolkit's own
    ``_validation`` folder skipped) is checked before any file is read as a
    table or hashed for the manifest:

    * a file that looks like a secret key (:func:`looks_like_key_file`: its
      name, or a small file holding one long hex, base64 or PEM string);
    * a table-like file that is not one of the contract's tables
      (``table_files``) with a column named like an identifier (the
      contract's ``x_identifier_columns``, e.g. ``bsn``, ``naam``): a raw
      export that must be pseudonymised and removed before delivery.

    Raises
    ------
    IntakeError
        Listing every such file and why; nothing of the intake is then read.
    """
    problems: list[str] = []
    for p in walk_files(root):
        rel = p.relative_to(root)
        if p.is_symlink():
            continue  # (never read; a table or YAML file that is a link is refused when opened)
        if rel.as_posix() not in table_files:
            why = looks_like_key_file(p)
            if why:
                problems.append(f"{rel.as_posix()}: looks like a pseudonym key ({why}); a key never travels "
                                "with the data it protects: move it out of the intake and keep it with the "
                                "pseudonymisation step only")
                continue
        if rel.as_posix() in table_files or p.suffix.lower() not in TEXT_TABLE_SUFFIXES + (".parquet",):
            continue
        ids = identifier_columns(header_names(p), identifier_names)
        if ids:
            problems.append(f"{rel.as_posix()}: holds identifier column(s) {', '.join(ids)}: a raw export does "
                            "not belong in an intake; pseudonymise it (evaluation pseudonymise) and remove it")
    if problems:
        raise IntakeError(f"{root}: the intake folder holds files that must not be there:\n  "
                          + "\n  ".join(problems))
