"""CSV parsing with Arrow, without pandas: the fast path of :mod:`evaluation.intake.read`.

This module imports only the standard library at import time (pyarrow inside
the functions), so that a command can start parsing the large tables of an
intake in a background thread (:class:`CsvPrefetch`) while pandas is still
being imported: Arrow's parser releases the GIL, the import does not need it
back for long, and the two use both cores. The parsed tables are exactly what
:func:`read_utf8_csv` returns when called later; the dialect rules are those
of :mod:`evaluation.intake.read`.
"""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evaluation.intake.files import MAX_COLUMNS, NUL_SCAN_BYTES, IntakeError, fd_path, open_regular

__all__ = ["CsvPrefetch", "IntakeError", "encode_repeating_columns", "header_cells", "parse_csv", "read_utf8_csv",
           "sniff_separator"]


def sniff_separator(header: str, path: Path | str = "<csv>") -> str:
    """Return ``","`` or ``";"`` from the header line; refuse when ambiguous.

    Separators inside double quotes are ignored.
    """
    unquoted = re.sub(r'"[^"]*"', "", header)
    n_comma, n_semi = unquoted.count(","), unquoted.count(";")
    if n_comma and n_semi:
        raise IntakeError(
            f"{path}: ambiguous separator: the header line contains both ',' ({n_comma}x) "
            f"and ';' ({n_semi}x); export the table with one separator"
        )
    if n_semi:
        return ";"
    if n_comma:
        return ","
    if "\t" in unquoted:
        raise IntakeError(f"{path}: tab-separated files are not supported; use ',' or ';'")
    # a single column: no separator needed
    return ","


def header_cells(header_line: str, sep: str) -> list[str] | None:
    """The cells of a header record (quoted line breaks allowed), or None when it does not parse as CSV."""
    import io

    try:
        return next(csv.reader(io.StringIO(header_line, newline=""), delimiter=sep, quotechar='"'), [])
    except csv.Error:
        return None


_LINE_END = re.compile(rb"[\r\n]")


def read_utf8_csv(path: Path) -> tuple[tuple[Any, str, str] | None, bool]:
    """Fast path for UTF-8 files: ``(arrow_table, encoding, separator)`` without decoding the file in
    Python, and whether Arrow parsed (or tried to parse) the file.

    The file is memory-mapped (not copied); only the header record is decoded
    (to sniff the separator). Arrow checks that every cell is valid UTF-8
    while parsing, and every byte of a CSV file is in a cell or is a
    separator, quote or line break (ASCII), so a successful parse means the
    whole file is UTF-8, exactly as the general path's decoding would find.
    None when that is not so (or the file cannot be mapped, is empty, has a
    blank or very long header line, or is not rectangular): the caller then
    reads and decodes the file the general way, with the same outcome and
    messages.
    """
    import os

    import pyarrow as pa

    try:
        fd = open_regular(path)  # (a link, FIFO or device: the general path refuses it with its reason)
    except IntakeError:
        return None, False
    try:
        if os.fstat(fd).st_size == 0:
            return None, False
        with pa.memory_map(fd_path(fd, path), "r") as mapped:
            return _read_utf8_buffer(mapped.read_buffer(), path)
    except (OSError, pa.ArrowException):
        return None, False
    finally:
        os.close(fd)


def _read_utf8_buffer(buf, path: Path) -> tuple[tuple[Any, str, str] | None, bool]:
    """:func:`read_utf8_csv` on the file's bytes (a pyarrow Buffer)."""
    head = buf.slice(0, min(buf.size, 1 << 20)).to_pybytes()
    if b"\x00" in head[:NUL_SCAN_BYTES]:  # (UTF-16 without a mark, or binary: the general path refuses it)
        return None, False
    off = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    # end of the header record: the first line break outside double quotes (as read._header_line)
    end, quotes, at = None, 0, off
    for m in _LINE_END.finditer(head, off):
        quotes += head.count(b'"', at, m.start())
        at = m.start()
        if quotes % 2 == 0:
            end = m.start()
            break
    if end is None:
        if len(head) < buf.size:  # header longer than the first MB (or an unclosed quote)
            return None, False
        end = len(head)
    try:
        header_line = head[off:end].decode("utf-8")
        if not header_line or header_line.isspace():
            return None, False
        sep = sniff_separator(header_line, path)
    except (UnicodeDecodeError, IntakeError):  # the general path reports it (after any decoding error)
        return None, False
    if header_line.count(sep) >= MAX_COLUMNS:  # (the general path refuses it; never one Arrow column per cell)
        return None, False
    table = parse_csv(buf.slice(off), sep, header_line)
    return (None if table is None else (table, "utf-8-sig" if off else "utf-8", sep)), True


def parse_csv(data, sep: str, header_line: str):
    """pyarrow's CSV reader on UTF-8 bytes (a Buffer or bytes): every cell a string, nothing skipped;
    the header record is data row 0 (columns ``c0``, ``c1``, ...).

    Returns a pyarrow Table with one chunk per column, or None when the file
    is not rectangular (ragged rows, blank lines in a multi-column file); the
    pandas reader then handles it, so that row numbers stay exact (pyarrow
    would have to skip such lines).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cells = header_cells(header_line, sep)
    if cells is None:
        return None
    ncol = len(cells)
    names = [f"c{i}" for i in range(ncol)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),  # (zero-copy; io.BytesIO would be read through Python calls)
            # one thread, 4 MB blocks: ~40% less CPU than the threaded reader with 16 MB blocks
            # on a shared machine (rows longer than a block fall back to the pandas reader)
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22, use_threads=False),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, quote_char='"', double_quote=True, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                # large_string: what pandas' Arrow string arrays hold (no cast when converting)
                column_types={n: pa.large_string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    # one chunk per column: later row takes and hashing would otherwise concatenate the blocks each time
    return table.combine_chunks()


_SAMPLE_ROWS = 20_000


def encode_repeating_columns(table) -> dict[int, Any]:
    """Arrow dictionary encodings of the data cells (the rows after the header record) of the
    columns of a parsed table (:func:`parse_csv`) whose values repeat, keyed by column position.

    A column is encoded when some value repeats among its first
    ``_SAMPLE_ROWS`` data cells (identifiers do not: encoding them would be
    wasted); the validator decides from the whole dictionary whether to use
    it. Cell ``i`` of the column is ``dictionary[indices[i]]``.
    """
    import pyarrow.compute as pc

    out: dict[int, Any] = {}
    if table.num_rows <= 2:
        return out
    for i, col in enumerate(table.columns):
        arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
        data = arr.slice(1)
        sample = data.slice(0, _SAMPLE_ROWS)
        if pc.count_distinct(sample).as_py() < len(sample):
            out[i] = pc.dictionary_encode(data, null_encoding="encode")
    return out


class CsvPrefetch:
    """Parse the large CSV files of an intake folder in a background thread.

    :func:`read_utf8_csv` runs on every ``*.csv`` file of at least
    ``min_bytes`` in ``folder`` (largest first; with ``tables``, only files
    named ``<table>.csv`` for one of them) as soon as the object is made,
    followed by :func:`encode_repeating_columns`. :meth:`take` waits
    until the thread is done with that file and hands out its result, once,
    and only when the file's size and modification time are still those it
    had when it was parsed; otherwise (or for any other file) it returns None and the caller
    reads the file itself. A failure in the thread is never raised: the
    caller then reads the file itself and meets the problem there.
    """

    def __init__(self, folder: str | Path, min_bytes: int = 1 << 20, tables: Iterable[str] | None = None):
        self._results: dict[Path, tuple[tuple[int, int], Any, dict[int, Any]]] = {}
        names = None if tables is None else set(tables)
        try:
            files = [
                p for p in Path(folder).iterdir()
                if p.suffix.lower() == ".csv" and (names is None or p.stem in names) and p.is_file()
            ]
            files = sorted((p for p in files if p.stat().st_size >= min_bytes), key=lambda p: -p.stat().st_size)
        except OSError:
            files = []
        self._done = {p.resolve(): threading.Event() for p in files}
        self._thread = threading.Thread(target=self._run, args=(files,), name="csv-prefetch", daemon=True)
        self._thread.start()

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_size, st.st_mtime_ns

    def _run(self, files: list[Path]) -> None:
        for p in files:
            try:
                stamp = self._stamp(p)
                got = read_utf8_csv(p)
                dicts = encode_repeating_columns(got[0][0]) if got[0] is not None else {}
                self._results[p.resolve()] = (stamp, got, dicts)
            except Exception:  # noqa: BLE001 (the caller reads the file itself and reports)
                pass
            finally:
                self._done[p.resolve()].set()

    def take(self, path: Path) -> tuple[tuple[tuple[Any, str, str] | None, bool], dict[int, Any]] | None:
        """``(result of read_utf8_csv, encode_repeating_columns of its table)`` for ``path``,
        or None (read the file yourself)."""
        try:
            key = Path(path).resolve()
            done = self._done.get(key)
            if done is None:
                return None
            done.wait()
            entry = self._results.pop(key, None)
            if entry is None or entry[0] != self._stamp(key):
                return None
        except OSError:
            return None
        return entry[1], entry[2]
