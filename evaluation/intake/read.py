"""Read an intake folder exactly as delivered, losing nothing.

An intake is a folder with the contract's tables (``<table>.csv``,
``<table>.parquet`` or ONE Excel workbook ``*.xlsx`` with a sheet per table),
``programmes.yaml`` and ``extract.yaml``. This module only *reads*: every table
cell comes back as text (``str``), with the source row number in ``_row``, so
that the validator (:mod:`evaluation.validation.validate`) can report every problem with
the value as it was delivered. Typing happens in the validator.

Source row numbers (``_row``)
-----------------------------
* CSV: the record number in the file, with the header record = 1, so the first
  data row is 2 (equal to the line number when no field spans several lines).
* Excel: the sheet row number (header in row 1, first data row 2).
* Parquet: the 1-based record index + 1 (first record = 2), so that row numbers
  mean the same thing whatever the format.

Trailing rows in which every cell is empty (typical of spreadsheet exports) are
not data; they are not returned but counted in ``RawTable.trailing_empty_rows``.
Empty rows *between* data rows are kept (they will fail validation and be
reported).

CSV dialects (as produced by Dutch offices)
-------------------------------------------
* encoding: UTF-8 with or without BOM; otherwise Windows-1252 (cp1252). A file
  that is neither is refused.
* separator: ``,`` or ``;``, sniffed on the header line (outside quotes); a
  header containing both, or neither while the file has several columns'
  worth of text, is refused as ambiguous.
* decimal comma: when the separator is ``;`` numbers may be written ``12,5``;
  the table is flagged ``decimal_comma=True`` and the validator accepts them.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.identifiers import normalise_column_name
from evaluation.contract.instruments import instrument_specs
from evaluation.contract.jsonschema_subset import iter_errors
from evaluation.contract.schema import Contract, load_contract
from evaluation.intake.arrow_csv import (
    CsvPrefetch,
    IntakeError,
    header_cells,
    parse_csv,
    read_utf8_csv,
    sniff_separator,
)
from evaluation.intake.files import (
    MAX_CELL_BYTES,
    MAX_COLUMNS,
    MAX_HEADER_BYTES,
    MAX_XLSX_MEMBER_BYTES,
    MAX_XLSX_RATIO,
    MAX_XLSX_SHARED_STRINGS_BYTES,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    NUL_SCAN_BYTES,
    XLSX_RATIO_FLOOR,
    identifier_columns,
    open_regular,
    read_regular_bytes,
    screen_folder,
)

__all__ = [
    "ROW_COLUMN",
    "TABLE_SUFFIXES",
    "CsvPrefetch",
    "IntakeError",
    "RawIntake",
    "RawTable",
    "read_csv_table",
    "read_extract",
    "read_intake",
    "read_parquet_table",
    "read_programmes",
    "read_workbook",
    "sniff_separator",
]

TABLE_SUFFIXES = (".csv", ".parquet")
ROW_COLUMN = "_row"


@dataclass
class RawTable:
    """One table as delivered: all cells as text plus ``_row``.

    Attributes
    ----------
    name : str
        Table (resource) name.
    path : Path
        File the table came from (the workbook for Excel).
    data : DataFrame
        Columns exactly as in the file (names stripped of surrounding
        whitespace and BOM), every cell a ``str`` (empty cells are ``""``),
        plus the integer column ``_row``.
    fmt : str
        ``"csv"``, ``"parquet"`` or ``"xlsx"``.
    encoding, separator : str or None
        CSV only: detected encoding (``"utf-8"``, ``"utf-8-sig"``, ``"cp1252"``)
        and separator.
    decimal_comma : bool
        Number cells may use a decimal comma (CSV with ``;`` separator).
    trailing_empty_rows : int
        Entirely empty rows at the end of the table that were not returned.
    error : str or None
        Set (and ``data`` empty) when the file could not be read and the
        intake was read with ``unreadable="record"``.
    dictionaries : dict
        Arrow dictionary encodings (``pyarrow.DictionaryArray``) of some
        columns, made while reading (see
        :func:`evaluation.intake.arrow_csv.encode_repeating_columns`): cell
        ``i`` of ``data[col]`` is ``dictionary[indices[i]]``. Often empty.
    """

    name: str
    path: Path
    data: pd.DataFrame
    fmt: str
    encoding: str | None = None
    separator: str | None = None
    decimal_comma: bool = False
    trailing_empty_rows: int = 0
    error: str | None = None
    dictionaries: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Column names as delivered (without ``_row``)."""
        return [c for c in self.data.columns if c != ROW_COLUMN]

    @property
    def n_rows(self) -> int:
        return int(len(self.data))


@dataclass
class RawIntake:
    """Everything in an intake folder, unvalidated (cells as text).

    Attributes
    ----------
    path : Path
        The intake folder.
    tables : dict[str, RawTable]
        Tables found, keyed by contract table name.
    programmes : list[dict]
        ``programmes.yaml`` entries (validated against programme.schema.json).
    extract : dict
        ``extract.yaml`` content (validated against extract.schema.json).
    cutoff_date : pandas.Timestamp
        The extract's cutoff date.
    fmt : str
        ``"csv"``, ``"parquet"``, ``"xlsx"`` or ``"mixed"`` (CSV and Parquet).
    ignored : list[str]
        Files/sheets that look like tables but are not contract tables
        (reported by the validator, never silently dropped).
    """

    path: Path
    tables: dict[str, RawTable]
    programmes: list[dict[str, Any]]
    extract: dict[str, Any]
    cutoff_date: pd.Timestamp
    fmt: str
    ignored: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- CSV


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    """Decode bytes: UTF-16 with a byte-order mark, UTF-8 (with or without BOM), else Windows-1252.

    A file with NUL bytes in its first 64 KiB and no UTF-16 byte-order mark is refused: it is
    UTF-16 without a mark or not text at all, and Windows-1252 would decode
    it into garbage without complaint.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise IntakeError(f"{path}: starts with a UTF-16 byte-order mark but is not valid UTF-16 "
                              f"(position {exc.start}); save it as UTF-8 CSV") from exc
    try:
        text = raw.decode("utf-8-sig")
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        text = None
    nul = raw.find(b"\x00", 0, NUL_SCAN_BYTES)
    if nul >= 0:
        raise IntakeError(f"{path}: holds NUL bytes (first at position {nul}): UTF-16 without a byte-order "
                          "mark, or not a text file; save it as UTF-8 CSV")
    if text is not None:
        return text, encoding
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f"{path}: cannot decode the file as UTF-8 or Windows-1252 "
            f"(byte {raw[exc.start]:#04x} at position {exc.start}); save it as UTF-8 CSV"
        ) from exc


def _check_header(text: str, path: Path) -> str:
    """The header line of decoded CSV text, refused beyond the bounds (docs/methods.md, 'Intake limits')."""
    head = text[: MAX_HEADER_BYTES + 2]
    line = _header_line(head)
    if len(line) > MAX_HEADER_BYTES:
        raise IntakeError(f"{path}: the header line is longer than {MAX_HEADER_BYTES // 1024} KiB; "
                          "this is not the header of a contract table")
    return line


def _check_width(n: int, path: Path | str) -> None:
    if n > MAX_COLUMNS:
        raise IntakeError(f"{path}: {n:,} columns; a table of the contract has far fewer, and at most "
                          f"{MAX_COLUMNS:,} are read")


def _header_line(text: str) -> str:
    """First record of the file (quotes may hide line breaks)."""
    in_quotes = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            return text[:i]
    return text


def _duplicates(names: list[str]) -> list[str]:
    """Names that occur more than once (linear time), sorted."""
    from collections import Counter

    return sorted(n for n, k in Counter(names).items() if k > 1)


def _frame_from_records(
    records: list[list[str]] | pd.DataFrame, path: Path, first_row: int = 1
) -> tuple[pd.DataFrame, int]:
    """Header + data records (all text) -> DataFrame with ``_row``.

    Returns the frame and the number of trailing entirely-empty rows removed.
    """
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame(records)
    if df.shape[0] == 0:
        raise IntakeError(f"{path}: the file is empty (no header line)")
    if not isinstance(records, pd.DataFrame):
        df = df.fillna("").astype(str)
    # work on the column arrays: row-wise pandas access costs ~1 ms per column on wide tables
    arrays = [df[c].array for c in df.columns]  # (the readers' column labels are distinct positions)
    header = [str(a[0]).replace("\ufeff", "").strip() for a in arrays]
    data = [a[1:] for a in arrays]  # (zero-copy slices)
    # drop empty trailing header cells that have no data beneath them
    keep = [
        i
        for i, h in enumerate(header)
        if h != "" or (pd.Series(data[i], copy=False) != "").any()
    ]
    if len(keep) != len(header):
        header = [header[i] for i in keep]
        data = [data[i] for i in keep]
    empty_names = [i + 1 for i, h in enumerate(header) if h == ""]
    if empty_names:
        raise IntakeError(f"{path}: column(s) {empty_names} have no name in the header row")
    _check_width(len(header), path)
    dupes = _duplicates(header)
    if dupes:
        raise IntakeError(f"{path}: duplicate column name(s) in the header: {', '.join(dupes)}")
    if ROW_COLUMN in header:
        raise IntakeError(f"{path}: column name {ROW_COLUMN!r} is reserved")
    n = df.shape[0] - 1
    # trailing rows where every cell is empty are not data (scan back from the end)
    cut = n
    while cut > 0 and header and all(str(a[cut - 1]).strip() == "" for a in data):
        cut -= 1
    trailing = n - cut
    if trailing:
        data = [a[:cut] for a in data]
    cols = {ROW_COLUMN: np.arange(first_row + 1, first_row + 1 + cut, dtype=np.int64)}
    cols.update(dict(zip(header, data, strict=True)))
    body = pd.DataFrame(cols, index=pd.RangeIndex(cut), copy=False)
    return body, trailing


def read_csv_table(path: Path, name: str, prefetch: CsvPrefetch | None = None) -> RawTable:
    """Read one CSV table as text, detecting encoding, separator and decimal comma.

    ``prefetch``: the file may already have been parsed there (same result).
    """
    early = prefetch.take(path) if prefetch is not None else None
    fast, arrow_tried = _read_utf8_csv_arrow(path) if early is None else _utf8_as_pandas(early[0])
    if fast is not None:
        records, encoding, sep = fast
    else:
        raw = read_regular_bytes(path)
        text, encoding = _decode(raw, path)
        if not text or text.isspace():  # (not text.strip(): that would copy the whole file)
            raise IntakeError(f"{path}: the file is empty (no header line)")
        header_line = _check_header(text, path)
        sep = sniff_separator(header_line, path)
        cells = header_cells(header_line, sep)
        if cells is None:
            raise IntakeError(f"{path}: cannot parse the header line as CSV (separator {sep!r})")
        _check_width(len(cells), path)
        # the parsers read UTF-8 bytes (a str would be copied at up to 4 bytes per character)
        data = raw if encoding == "utf-8" else (raw[3:] if encoding == "utf-8-sig" else text.encode("utf-8"))
        del text, raw
        # (a UTF-8 file Arrow refused once is refused again: straight to pandas)
        records = None if arrow_tried and encoding.startswith("utf-8") else _read_csv_arrow(data, sep, header_line)
        if records is None:
            _check_cell_length(data, path)
            records = _read_csv_pandas(data, sep, path)
    data, trailing = _frame_from_records(records, path)
    dictionaries = {}
    if early is not None and fast is not None and not trailing and data.shape[1] == records.shape[1] + 1:
        # (every column kept, no row cut: column k of the file is data column k)
        names = [c for c in data.columns if c != ROW_COLUMN]
        dictionaries = {names[k]: enc for k, enc in early[1].items() if len(enc) == len(data)}
    return RawTable(
        name=name,
        path=path,
        data=data,
        fmt="csv",
        encoding=encoding,
        separator=sep,
        decimal_comma=(sep == ";"),
        trailing_empty_rows=trailing,
        dictionaries=dictionaries,
    )


def _read_utf8_csv_arrow(path: Path) -> tuple[tuple[pd.DataFrame, str, str] | None, bool]:
    """Fast path for UTF-8 files (:func:`evaluation.intake.arrow_csv.read_utf8_csv`) as pandas:
    ``(records, encoding, separator)`` or None, and whether Arrow parsed (or tried to parse) the file."""
    return _utf8_as_pandas(read_utf8_csv(path))


def _utf8_as_pandas(got: tuple[tuple[Any, str, str] | None, bool]) -> tuple[tuple[pd.DataFrame, str, str] | None, bool]:
    fast, tried = got
    return (None if fast is None else (_arrow_to_pandas(fast[0]), fast[1], fast[2])), tried


def _arrow_to_pandas(table) -> pd.DataFrame:
    import pyarrow as pa

    return table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow")}.get)


def _read_csv_arrow(data: bytes, sep: str, header_line: str) -> pd.DataFrame | None:
    """Arrow's CSV reader (:func:`evaluation.intake.arrow_csv.parse_csv`) on UTF-8 bytes, as pandas;
    None when the file is not rectangular or a cell is longer than Arrow's block."""
    table = parse_csv(data, sep, header_line)
    return None if table is None else _arrow_to_pandas(table)


def _check_cell_length(data: bytes, path: Path) -> None:
    """Refuse a file with a stretch of more than MAX_CELL_BYTES bytes without a separator or line break.

    Such a stretch is one cell (or part of one): no field of the contract
    comes near it, and parsing it would cost memory many times its size.
    Checked only before the pandas reader (Arrow's reader already refuses
    cells longer than its 4 MiB block).
    """
    if len(data) <= MAX_CELL_BYTES:
        return
    b = np.frombuffer(data, dtype=np.uint8)
    step, last, longest, at = 1 << 24, -1, 0, 0
    for start in range(0, len(b), step):
        chunk = b[start:start + step]
        cuts = np.flatnonzero((chunk == 44) | (chunk == 59) | (chunk == 10) | (chunk == 13)) + start
        if len(cuts):
            gaps = np.diff(cuts, prepend=last) - 1
            k = int(np.argmax(gaps))
            if gaps[k] > longest:
                longest, at = int(gaps[k]), int(cuts[k] - gaps[k])
            last = int(cuts[-1])
    if len(b) - last - 1 > longest:
        longest, at = len(b) - last - 1, last + 1
    if longest > MAX_CELL_BYTES:
        raise IntakeError(f"{path}: a cell of more than {MAX_CELL_BYTES >> 20} MiB ({longest:,} bytes from byte "
                          f"{at:,} without a separator or line break); no field of the contract is that long")


def _read_csv_pandas(data: bytes, sep: str, path: Path) -> pd.DataFrame:
    """Robust path (pandas C parser): blank lines kept as rows, short rows padded with ""."""
    try:
        records = pd.read_csv(
            io.BytesIO(data),
            encoding="utf-8",
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
            quotechar='"',
            doublequote=True,
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise IntakeError(f"{path}: cannot parse the CSV file (separator {sep!r}): {exc}") from exc
    # a blank line inside the file becomes a row whose first cell is "" and the others NaN
    return records.fillna("")


# ------------------------------------------------------------------------- Parquet


def _series_as_text(s: pd.Series) -> pd.Series:
    """Convert a typed column to text the way a CSV export would write it.

    Dates without a time part become ``YYYY-MM-DD``; integral floats lose
    their ``.0`` (so an integer column stored as float reads as integers);
    booleans become ``true``/``false``; missing becomes ``""``.
    """
    missing = s.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(s):
        dt = pd.to_datetime(s)
        has_time = (dt.dropna() != dt.dropna().dt.normalize()).any()
        out = dt.dt.strftime("%Y-%m-%dT%H:%M:%S" if has_time else "%Y-%m-%d")
    elif pd.api.types.is_bool_dtype(s):
        out = s.map({True: "true", False: "false"})
    elif pd.api.types.is_integer_dtype(s):
        out = s.astype("Int64").astype(str)
    elif pd.api.types.is_float_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(vals) & (np.floor(vals) == vals) & (np.abs(vals) < 2**53)
        out = pd.Series([repr(float(v)) for v in vals], index=s.index, dtype=object)
        if integral.any():
            out[integral] = vals[integral].astype(np.int64).astype(str)
    elif pd.api.types.infer_dtype(s, skipna=True) in {"string", "empty"}:
        out = s.astype(object)
    else:
        out = s.map(_cell_as_text)
    out = out.astype(object)
    out[missing] = ""
    return out.astype(str)


def _cell_as_text(v: Any) -> str:
    """One cell from Excel/Parquet/YAML-like objects -> text."""
    if v is None:
        return ""
    if isinstance(v, float):
        if np.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 2**53:
            return str(int(v))
        return repr(v)
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime | pd.Timestamp):
        if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0):
            return v.strftime("%Y-%m-%d")
        return v.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def read_parquet_table(path: Path, name: str) -> RawTable:
    """Read one Parquet table and turn every cell into text (see module notes)."""
    import pyarrow.parquet as pq

    with os.fdopen(open_regular(path), "rb") as fh:
        try:
            pf = pq.ParquetFile(fh)
            _check_width(len(pf.schema_arrow.names), path)
            df = pf.read().to_pandas()
        except IntakeError:
            raise
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise IntakeError(f"{path}: cannot read the Parquet file: {exc}") from exc
    df = df.reset_index(drop=True)
    header = [str(c).strip() for c in df.columns]
    dupes = _duplicates(header)
    if dupes:
        raise IntakeError(f"{path}: duplicate column name(s): {', '.join(dupes)}")
    if ROW_COLUMN in header:
        raise IntakeError(f"{path}: column name {ROW_COLUMN!r} is reserved")
    data = pd.DataFrame({h: _series_as_text(df[c]) for h, c in zip(header, df.columns, strict=True)})
    data.insert(0, ROW_COLUMN, np.arange(2, len(df) + 2, dtype=np.int64))
    return RawTable(name=name, path=path, data=data, fmt="parquet")


# --------------------------------------------------------------------------- Excel


def read_workbook(path: Path) -> dict[str, RawTable]:
    """Read every sheet of one workbook as text tables keyed by sheet name.

    Excel dates become ``YYYY-MM-DD`` (with time only when it is not
    midnight), whole numbers lose their ``.0``; ``_row`` is the sheet row.
    """
    import openpyxl

    fh = os.fdopen(open_regular(path), "rb")
    try:
        _check_workbook_sizes(fh, path)
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
    except IntakeError:
        fh.close()
        raise
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException...
        fh.close()
        raise IntakeError(f"{path}: cannot read the Excel workbook: {exc}") from exc
    out: dict[str, RawTable] = {}
    try:
        for ws in wb.worksheets:
            # (the sheet's declared dimension may claim A1:XFD1048576: count the cells that exist)
            ws.reset_dimensions()
            records = []
            for row in ws.iter_rows(values_only=True):
                _check_width(len(row), Path(f"{path}[{ws.title}]"))
                records.append([_cell_as_text(v) for v in row])
            sheet = ws.title.strip()
            where = Path(f"{path}[{ws.title}]")
            if not records:
                raise IntakeError(f"{where}: the sheet is empty (no header row)")
            width = max(len(r) for r in records)
            records = [r + [""] * (width - len(r)) for r in records]
            data, trailing = _frame_from_records(records, where)
            out[sheet] = RawTable(
                name=sheet, path=path, data=data, fmt="xlsx", trailing_empty_rows=trailing
            )
    finally:
        wb.close()
        fh.close()
    return out


def _check_workbook_sizes(fh, path: Path) -> None:
    """Refuse a workbook whose parts would unpack far beyond its size (a zip bomb, e.g. one
    300 MB shared string in a 1 MB file); docs/methods.md, 'Intake limits'."""
    import zipfile

    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntakeError(f"{path}: cannot read the Excel workbook: {exc}") from exc
    for info in zf.infolist():
        ratio = info.file_size / max(info.compress_size, 1)
        limit = MAX_XLSX_SHARED_STRINGS_BYTES if info.filename.lower().endswith("sharedstrings.xml") \
            else MAX_XLSX_MEMBER_BYTES
        if info.file_size > limit or (info.file_size > XLSX_RATIO_FLOOR and ratio > MAX_XLSX_RATIO):
            raise IntakeError(
                f"{path}: part {info.filename!r} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                f"({ratio:,.0f} to 1); refused as a zip bomb (limits: {limit >> 20:,} MiB, "
                f"or {MAX_XLSX_RATIO} to 1 above {XLSX_RATIO_FLOOR >> 20} MiB); export the sheets as CSV"
            )
    fh.seek(0)


# ---------------------------------------------------------------------------- YAML


def _jsonable(obj: Any) -> Any:
    """YAML may parse unquoted dates as date objects; the JSON Schemas expect strings."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    return obj


def _yaml_text(path: Path) -> str:
    """The text of a YAML file: a regular file of at most MAX_YAML_BYTES, UTF-8 or UTF-16 with a mark."""
    if not os.path.lexists(path):
        raise IntakeError(f"{path}: file is missing from the intake folder")
    raw = read_regular_bytes(path, limit=MAX_YAML_BYTES)
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc


def _check_yaml_structure(text: str, path: Path, yaml) -> None:
    """Refuse aliases, deep nesting and duplicate keys before anything is built from the events.

    An alias (``*name``) lets a few hundred bytes expand into gigabytes once
    the document is walked (a 'billion laughs' bomb); the contract's YAML
    files never need one. A key given twice would silently lose the first
    value.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    for ev in yaml.parse(text, Loader=loader):
        if isinstance(ev, yaml.AliasEvent):
            raise IntakeError(f"{path}: line {ev.start_mark.line + 1}: YAML aliases (*{ev.anchor}) are not "
                              "allowed; write the value out in full")
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise IntakeError(f"{path}: line {ev.start_mark.line + 1}: nested deeper than "
                                  f"{MAX_YAML_DEPTH} levels; not a description of programmes")
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    stack = [yaml.compose(text, Loader=loader)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                key = (k.tag, k.value) if isinstance(k, yaml.ScalarNode) else None
                if key is not None and key in seen:
                    raise IntakeError(f"{path}: line {k.start_mark.line + 1}: key {k.value!r} given twice "
                                      f"(first on line {seen[key]}); keep one")
                if key is not None:
                    seen[key] = k.start_mark.line + 1
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _read_yaml(path: Path, schema: dict[str, Any]) -> Any:
    import yaml

    text = _yaml_text(path)
    try:
        _check_yaml_structure(text, path, yaml)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        content = yaml.load(text, Loader=loader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise IntakeError(f"{path}: invalid YAML: {exc}") from exc
    content = _jsonable(content)
    errors = sorted(iter_errors(content, schema), key=lambda e: list(e.path))
    if errors:
        lines = [
            f"  at {'/'.join(str(p) for p in e.path) or '(top level)'}: {e.message}"
            for e in errors[:10]
        ]
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise IntakeError(
            f"{path}: does not match {schema.get('$id', 'its schema')}:\n" + "\n".join(lines) + more
        )
    return content


def read_extract(path: Path, contract: Contract) -> tuple[dict[str, Any], pd.Timestamp]:
    """Read ``extract.yaml``; return its content and the cutoff date."""
    extract = _read_yaml(path, contract.extract_schema)
    try:
        cutoff = pd.Timestamp(_dt.date.fromisoformat(extract["cutoff_date"]))
    except ValueError as exc:
        raise IntakeError(f"{path}: cutoff_date {extract['cutoff_date']!r} is not a valid date") from exc
    try:
        instrument_specs(extract, contract)
    except ValueError as exc:
        raise IntakeError(f"{path}: {exc}") from exc
    return extract, cutoff


def read_programmes(path: Path, contract: Contract) -> list[dict[str, Any]]:
    """Read ``programmes.yaml``; refuse duplicate programme ids."""
    content = _read_yaml(path, contract.programme_schema)
    programmes = content["programmes"]
    ids = [p["programme_id"] for p in programmes]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise IntakeError(f"{path}: programme_id used more than once: {', '.join(dupes)}")
    return programmes


# --------------------------------------------------------------------------- folder


def read_intake(
    path: str | Path, contract: Contract | None = None, unreadable: str = "raise",
    prefetch: CsvPrefetch | None = None,
) -> RawIntake:
    """Read an intake folder: all tables as text with source row numbers.

    Parameters
    ----------
    path : str or Path
        The intake folder.
    contract : Contract, optional
        Data contract; defaults to :func:`evaluation.contract.schema.load_contract`.
    unreadable : {"raise", "record"}
        What to do with a table file that cannot be read (undecodable,
        ambiguous separator, damaged): raise :class:`IntakeError` (default), or
        record it in ``RawTable.error`` with empty data so that the validator
        reports it as a blocking ``unreadable`` table. Folder-level problems
        (missing folder, no tables, two formats for one table, several
        workbooks, missing or invalid YAML) always raise.

    Returns
    -------
    RawIntake

    Raises
    ------
    IntakeError
        With a message naming the file.
    """
    if unreadable not in {"raise", "record"}:
        raise ValueError(f"unreadable must be 'raise' or 'record', not {unreadable!r}")
    contract = contract or load_contract()
    folder = Path(path)
    if not folder.exists():
        raise IntakeError(f"{folder}: intake folder does not exist")
    if not folder.is_dir():
        raise IntakeError(f"{folder}: not a folder (give the intake folder, not a file)")

    known = set(contract.table_names)
    # every entry but folders (a link, FIFO or device named like a table is refused when opened)
    files = sorted(p for p in folder.iterdir()
                   if not p.name.startswith((".", "~$")) and (p.is_symlink() or not p.is_dir()))
    contract_files = {p.name for p in files if (p.stem in known and p.suffix.lower() in TABLE_SUFFIXES)
                      or p.suffix.lower() == ".xlsx"} | {"programmes.yaml", "extract.yaml"}
    id_names = {normalise_column_name(n) for n in contract.identifier_column_names}
    screen_folder(folder, contract_files, id_names)
    workbooks = [p for p in files if p.suffix.lower() == ".xlsx"]
    if len(workbooks) > 1:
        raise IntakeError(
            f"{folder}: more than one Excel workbook ({', '.join(p.name for p in workbooks)}); "
            "deliver one workbook with a sheet per table"
        )
    by_table: dict[str, list[Path]] = {}
    ignored: list[str] = []
    for p in files:
        suffix = p.suffix.lower()
        if suffix not in TABLE_SUFFIXES:
            continue
        if p.stem in known:
            by_table.setdefault(p.stem, []).append(p)
        else:
            ignored.append(p.name)

    tables: dict[str, RawTable] = {}

    def _guarded(name: str, p: Path, reader) -> None:
        try:
            tables[name] = reader(p, name)
        except IntakeError as exc:
            if unreadable == "raise":
                raise
            tables[name] = RawTable(
                name=name, path=p, data=pd.DataFrame({ROW_COLUMN: pd.Series([], dtype=np.int64)}),
                fmt=p.suffix.lower().lstrip("."), error=str(exc),
            )

    if workbooks:
        wb = workbooks[0]
        if by_table:
            raise IntakeError(
                f"{folder}: both an Excel workbook ({wb.name}) and table files "
                f"({', '.join(sorted(str(q.name) for ps in by_table.values() for q in ps))}); "
                "deliver the tables in one format"
            )
        # an unreadable workbook hides which tables it holds: always an IntakeError
        sheets = read_workbook(wb)
        raw_sheets = []
        for sheet, table in sheets.items():
            if sheet in known:
                tables[sheet] = table
            else:
                ignored.append(f"{wb.name}[{sheet}]")
                ids = identifier_columns([c for c in table.data.columns if c != ROW_COLUMN], id_names)
                if ids:
                    raw_sheets.append(f"sheet {sheet!r} holds identifier column(s) {', '.join(ids)}")
        if raw_sheets:
            raise IntakeError(f"{wb}: " + "; ".join(raw_sheets) + ": a raw export does not belong in an "
                              "intake; pseudonymise it (evaluation pseudonymise) and remove the sheet")
        fmt = "xlsx"
    else:
        for name, paths in by_table.items():
            if len(paths) > 1:
                raise IntakeError(
                    f"{folder}: table {name!r} is delivered in two formats "
                    f"({', '.join(p.name for p in paths)}); keep one"
                )
            p = paths[0]
            if p.suffix.lower() == ".csv":
                _guarded(name, p, lambda q, n: read_csv_table(q, n, prefetch))
            else:
                _guarded(name, p, read_parquet_table)
        kinds = {t.fmt for t in tables.values()}
        fmt = kinds.pop() if len(kinds) == 1 else "mixed"
    if not tables:
        raise IntakeError(
            f"{folder}: no tables found (expected files such as participants.csv, "
            "participants.parquet, or one .xlsx workbook with a sheet per table)"
        )
    # contract order
    tables = {n: tables[n] for n in contract.table_names if n in tables}
    programmes = read_programmes(folder / "programmes.yaml", contract)
    extract, cutoff = read_extract(folder / "extract.yaml", contract)
    return RawIntake(
        path=folder,
        tables=tables,
        programmes=programmes,
        extract=extract,
        cutoff_date=cutoff,
        fmt=fmt,
        ignored=ignored,
    )
