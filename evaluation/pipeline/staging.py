"""Before the notebooks: the validation stop, the failed-validation report and the staged accepted rows.

A run stops (exit code 2) when the intake has blocking errors, when a table
has a larger share of quarantined rows than the run accepts, or when the
extract's cutoff lies before the quarter's first day
(:func:`validation_stop_reasons`); the report of that stop goes to
``<out>/<quarter>.failed-validation/`` (:func:`write_failed_validation`:
internal, owner-only folder). Otherwise the accepted rows are staged as CSV
in the run's private folder (:func:`stage_accepted_intake`) for the notebooks.

Row-level files go through the one private writer (owner-only); the stop
note and the reconciliation counts through :mod:`evaluation.publish.writer`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.contract.schema import load_contract
from evaluation.intake.private import private_dir, write_private
from evaluation.publish.formatting import DEFAULT_LANGUAGE
from evaluation.publish.writer import write_table, write_text
from evaluation.validation.validate import validate_intake, write_validation_outputs


def default_validator(path: Path, language: str = DEFAULT_LANGUAGE) -> Any:
    """:func:`evaluation.validation.validate.validate_intake`."""
    return validate_intake(path, language=language)


def write_failed_validation(validation: Any, out_dir: Path, quarter: str, reasons: list[str]) -> Path:
    """Write the report of a validation stop to ``<out_dir>/<quarter>.failed-validation/`` (owner-only folder).

    The validator's own report (:func:`evaluation.validation.validate.write_validation_outputs`)
    when it can write one, else the reconciliation counts and the issues
    (row-level: owner-only file); always ``STOPPED.txt`` with the reasons.
    The folder may quote row numbers and values of the intake: it is never shared.
    """
    target = out_dir / f"{quarter}.failed-validation"
    if target.exists():
        shutil.rmtree(target)
    private_dir(target)
    try:
        write_validation_outputs(validation, target)
    except Exception as exc:  # noqa: BLE001 - fall back to the reconciliation table (e.g. a stand-in validator)
        reasons.append(f"(write_validation_outputs failed: {type(exc).__name__}: {exc})")
        rec = getattr(validation, "reconciliation", None)
        if isinstance(rec, pd.DataFrame):
            write_table(target / "reconciliation.csv", rec)
        issues = getattr(validation, "issues", None)
        if isinstance(issues, pd.DataFrame):
            write_private(target / "issues.csv", issues)
    write_text(
        target / "STOPPED.txt",
        f"The quarterly run of {quarter} stopped before any analysis.\n\n" + "\n".join(f"- {r}" for r in reasons) + "\n"
        "\nThis folder may quote row numbers and values of the intake: do not share it.\n",
    )
    return target


def validation_stop_reasons(validation: Any, max_share: float, quarter_start: dt.date) -> list[str]:
    """Why a validated intake may not be analysed (empty when it may): blocking errors, too many
    quarantined rows in a table, or an extract cutoff before the quarter's first day."""
    reasons = []
    if getattr(validation, "blocking", False):
        issues = getattr(validation, "issues", None)
        detail = ""
        if isinstance(issues, pd.DataFrame) and not issues.empty and {"severity", "level", "rule"} <= set(issues.columns):
            # blocking problems are the table-level errors (missing table/column, identifier column, unreadable)
            blocking = issues[(issues["level"].astype(str) == "table") & (issues["severity"].astype(str) == "error")]
            if not blocking.empty:
                detail = ": rules " + ", ".join(sorted(set(blocking["rule"].astype(str))))
        reasons.append(f"the intake has blocking errors{detail}")
    rec = getattr(validation, "reconciliation", None)
    if isinstance(rec, pd.DataFrame) and not rec.empty:
        for _, r in rec.iterrows():
            read = float(r.get("rows_read", 0) or 0)
            quarantined = float(r.get("rows_quarantined", 0) or 0)
            if read > 0 and quarantined / read > max_share:
                reasons.append(
                    f"table {r['table']}: {int(quarantined)} of {int(read)} rows quarantined "
                    f"({quarantined / read:.1%}), above the maximum share of {max_share:.1%}"
                )
            if bool(r.get("blocking", False)) and not getattr(validation, "blocking", False):
                reasons.append(f"table {r['table']}: blocking")
    cutoff = getattr(validation, "cutoff_date", None)
    if cutoff is not None and not pd.isna(cutoff) and pd.Timestamp(cutoff).date() < quarter_start:
        reasons.append(f"the extract's cutoff date {pd.Timestamp(cutoff).date()} lies before the quarter's first day {quarter_start}")
    return reasons



def _cell_text(series: pd.Series) -> pd.Series:
    """One typed column as CSV text (object: str or None), vectorised: ISO dates, true/false,
    integers, floats in their shortest round-trip form (as ``repr``)."""
    import numpy as np

    if series.dtype == object:  # text: missing values (None, NaN) become empty cells in Arrow
        return series
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        days = series.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        out = np.datetime_as_string(days, unit="D").astype(object)
    elif pd.api.types.is_bool_dtype(series) or str(series.dtype) == "boolean":
        out = np.where(series.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
    elif str(series.dtype) == "Int64":
        out = series.astype("string").to_numpy(dtype=object, na_value=None)
    elif pd.api.types.is_float_dtype(series):
        out = series.to_numpy(dtype=float).astype(str).astype(object)
    else:
        return series.astype(object).where(~missing, None)
    out[missing] = None
    return pd.Series(out, index=series.index, dtype=object)


def stage_accepted_intake(validation: Any, intake_dir: Path, target: Path) -> Path:
    """Write the accepted rows of a validated intake as CSV into the private folder ``target``.

    Dates as ``YYYY-MM-DD``, booleans as ``true``/``false``; ``_row`` is
    dropped; ``programmes.yaml`` is copied and ``extract.yaml`` copied with
    ``format: csv``. Every file is owner-only (the one private writer).
    Returns ``target``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import yaml

    contract = load_contract()
    target = private_dir(target)
    rec = getattr(validation, "reconciliation", None)
    delivered = set(rec["table"]) if isinstance(rec, pd.DataFrame) and "table" in rec.columns else None
    for name, df in (validation.tables or {}).items():
        if delivered is not None and name not in delivered:
            continue  # (an optional table the intake does not deliver stays absent when staged)
        fname = contract.resources[name].descriptor.get("path", f"{name}.csv") if name in contract.resources else f"{name}.csv"
        out = df.drop(columns=[c for c in df.columns if c.startswith("_")])
        text = pa.Table.from_pandas(pd.DataFrame({c: _cell_text(out[c]) for c in out.columns}, index=out.index),
                                    preserve_index=False)
        text = text.cast(pa.schema([pa.field(c, pa.string()) for c in text.column_names]))
        buffer = pa.BufferOutputStream()
        pacsv.write_csv(text, buffer)
        write_private(target / Path(fname).name, buffer.getvalue().to_pybytes())
    prog = intake_dir / "programmes.yaml"
    if prog.is_file():
        write_private(target / "programmes.yaml", prog.read_bytes())
    ext = intake_dir / "extract.yaml"
    if ext.is_file():
        meta = yaml.safe_load(ext.read_text(encoding="utf-8")) or {}
        if isinstance(meta, dict) and "format" in meta:
            meta["format"] = "csv"
        write_private(target / "extract.yaml", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))
    return target

