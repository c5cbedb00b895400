"""Writing the synthetic intake: text cells as an export writes them, CSV, Parquet and Excel.

CSV is written by pandas, Parquet by pyarrow and the Excel workbook by
openpyxl (write-only mode), with fixed document properties and zip member
timestamps so that the same seed gives the same bytes in every format.
"""

from __future__ import annotations

import datetime as _dt
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.schema import Contract

FORMATS = ("csv", "parquet", "xlsx")

def _fmt_number(v: float) -> str:
    if v != v:
        return ""
    if float(v).is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(float(v))


def _to_text(df: pd.DataFrame, contract: Contract, name: str) -> pd.DataFrame:
    """The table as text cells, as a CSV export writes it (ISO dates, true/false, empty = missing)."""
    res = contract.resources[name]
    out = {}
    for f in res.fields:
        if f["name"] not in df.columns:  # an optional field the generator leaves out (contract additions)
            continue
        s = df[f["name"]]
        typ = f["type"]
        if typ == "date":
            v = s.to_numpy(dtype="datetime64[D]")
            txt = pd.Series(np.datetime_as_string(v, unit="D").astype(object), index=s.index)
            txt[np.isnat(v)] = ""
        elif typ == "boolean":
            txt = s.map({True: "true", False: "false"}).astype(object)
            txt[s.isna().to_numpy()] = ""
        elif typ == "integer":
            arr = s.astype("Int64")
            txt = pd.Series(arr.to_numpy(dtype=np.int64, na_value=0).astype(str).astype(object), index=s.index)
            txt[arr.isna().to_numpy()] = ""
        elif typ == "number":
            vals = s.to_numpy(dtype=float)
            uniq, inv = np.unique(vals, return_inverse=True)
            txt = pd.Series(np.array([_fmt_number(v) for v in uniq], dtype=object)[inv], index=s.index)
        else:
            txt = s.astype(object)
            txt[s.isna().to_numpy()] = ""
        out[f["name"]] = txt.to_numpy(dtype=object)
    return pd.DataFrame(out)


_OUR_FILES_SUFFIX = (".csv", ".parquet")


def _our_files(out: Path, contract: Contract) -> list[Path]:
    names = [r.descriptor["path"].rsplit(".", 1)[0] for r in contract.resources.values()]
    files = [out / f"{base}{suf}" for base in names for suf in _OUR_FILES_SUFFIX]
    files += [out / x for x in ("intake.xlsx", "planted_errors.csv", "truth.json", "programmes.yaml", "extract.yaml")]
    return [p for p in files if p.exists()]


def _check_target(out: Path, contract: Contract) -> None:
    """Refuse to overwrite an intake that this generator did not write (real data may live there)."""
    existing = _our_files(out, contract)
    if not existing:
        return
    extract = out / "extract.yaml"
    synthetic = False
    if extract.exists():
        import yaml

        try:
            synthetic = bool((yaml.safe_load(extract.read_text(encoding="utf-8")) or {}).get("synthetic"))
        except (yaml.YAMLError, AttributeError):
            synthetic = False
    if not synthetic:
        raise ValueError(
            f"synth: {out} already holds intake files ({existing[0].name}, ...) without "
            "'synthetic: true' in extract.yaml; refusing to overwrite them (choose an empty folder)")


def _clear_previous(out: Path, contract: Contract) -> None:
    """Remove the files an earlier run of this generator left (never anything else)."""
    for p in _our_files(out, contract):
        p.unlink()


def _write_csv(path: Path, text: pd.DataFrame) -> None:
    text.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _write_parquet(path: Path, typed: pd.DataFrame, text: pd.DataFrame, text_cols: set[str],
                   contract: Contract, name: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, fields = [], []
    for f in contract.resources[name].fields:
        col = f["name"]
        if col not in text.columns:
            continue
        if col in text_cols:
            arr = pa.array(text[col].tolist(), type=pa.string())
        elif f["type"] == "date":
            v = typed[col].to_numpy(dtype="datetime64[D]")
            arr = pa.array(v, type=pa.date32())
        elif f["type"] == "integer":
            arr = pa.array(typed[col].astype("Int64"), type=pa.int64(), from_pandas=True)
        elif f["type"] == "number":
            arr = pa.array(typed[col].to_numpy(dtype=float), type=pa.float64(), from_pandas=True)
        elif f["type"] == "boolean":
            arr = pa.array(typed[col].astype("boolean"), type=pa.bool_(), from_pandas=True)
        else:
            s = typed[col]
            arr = pa.array([None if (v is None or v != v) else str(v) for v in s.tolist()], type=pa.string())
        arrays.append(arr)
        fields.append(pa.field(col, arr.type))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    pq.write_table(table, path, compression="snappy")


# Excel limit (1,048,576 rows) minus the header row
XLSX_MAX_ROWS = 1_048_575
_XLSX_STAMP = _dt.datetime(2026, 10, 5)


def _xlsx_columns(text: pd.DataFrame, text_cols: set[str], contract: Contract, name: str) -> list[np.ndarray]:
    """The cells of each column as Python values for openpyxl (None = empty cell)."""
    cols = []
    for f in contract.resources[name].fields:
        if f["name"] not in text.columns:
            continue
        col = text[f["name"]].to_numpy(dtype=object)
        present = col != ""
        out = np.full(len(col), None, dtype=object)
        typ = "string" if f["name"] in text_cols else f["type"]
        if present.any():
            vals = col[present]
            if typ == "integer":
                out[present] = [int(v) for v in vals]
            elif typ == "number":
                out[present] = [float(v) if any(c in v for c in ".eEn") else int(v) for v in vals]
            elif typ == "boolean":
                out[present] = vals == "true"
            elif typ == "date":
                out[present] = vals.astype("datetime64[D]").astype(object)  # datetime.date
            else:
                out[present] = vals
        cols.append(out)
    return cols


def _as_text_cell(ws: Any, value: str) -> Any:
    """A cell that holds ``value`` as text even when it starts with ``=`` or is an error code such as ``#N/A``."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    return cell


def _write_xlsx(path: Path, text: dict[str, pd.DataFrame], text_cols: dict[str, set[str]], contract: Contract) -> None:
    """Write one workbook with a sheet per table through openpyxl, byte-for-byte reproducible.

    Integers, numbers and booleans are typed cells, dates are date cells
    (format ``yyyy-mm-dd``), text (and every cell of a column with planted
    errors) is a text cell. The document properties are fixed (created and
    modified 2026-10-05) and the zip members get a fixed timestamp.
    """
    import openpyxl
    from openpyxl.cell.cell import ERROR_CODES
    from openpyxl.xml.functions import tostring

    names = [n for n in contract.resources if n in text]
    for name in names:
        if len(text[name]) > XLSX_MAX_ROWS:
            raise ValueError(
                f"synth: table {name} has {len(text[name])} rows, more than an Excel sheet holds "
                f"({XLSX_MAX_ROWS}); use --format csv or parquet at this scale")
    wb = openpyxl.Workbook(write_only=True)
    wb.properties.creator = "evaluation synth"
    wb.properties.title = "Synthetic intake"
    wb.properties.created = wb.properties.modified = _XLSX_STAMP
    for name in names:
        ws = wb.create_sheet(name)
        ws.append([f["name"] for f in contract.resources[name].fields if f["name"] in text[name].columns])
        cols = _xlsx_columns(text[name], text_cols.get(name, set()), contract, name)
        for row in zip(*cols, strict=True):
            if any(isinstance(v, str) and (v.startswith("=") or v in ERROR_CODES) for v in row):
                row = tuple(_as_text_cell(ws, v) if isinstance(v, str) else v for v in row)
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps the zip members and the document's "modified" with the time of writing:
    # re-pack with a fixed member time and the fixed document properties
    wb.properties.modified = _XLSX_STAMP
    core = tostring(wb.properties.to_tree())
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, core if info.filename == "docProps/core.xml" else src.read(info.filename))


def _yaml_dump(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
