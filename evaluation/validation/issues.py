"""Validation issues: the message of every check in English and Dutch, and the collector of issue rows.

Used by :mod:`evaluation.validation.rules` (which finds the problems) and
:mod:`evaluation.validation.validate` (which assembles the result).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaluation.intake.read import ROW_COLUMN

ISSUE_COLUMNS = ["severity", "level", "table", "row", "field", "value", "rule", "message"]
RECONCILIATION_COLUMNS = ["table", "rows_read", "rows_accepted", "rows_quarantined", "blocking"]
LANGUAGES = ("en", "nl")

_TYPE_NAMES = {
    "integer": ("a whole number", "een geheel getal"),
    "number": ("a number", "een getal"),
    "boolean": ("a yes/no value (true/false, ja/nee, 1/0)", "een ja/nee-waarde (ja/nee, true/false, 1/0)"),
    "date": ("a date (YYYY-MM-DD or DD-MM-YYYY)", "een datum (JJJJ-MM-DD of DD-MM-JJJJ)"),
}

# message templates for the field-level and table-level rules, in both languages
_MESSAGES: dict[str, tuple[str, str]] = {
    "type": ("{field}: the value is not {type_en}", "{field}: de waarde is geen {type_nl}"),
    "required": ("{field}: a value is required", "{field}: een waarde is verplicht"),
    "enum": (
        "{field}: the value is not one of the allowed codes ({allowed})",
        "{field}: de waarde is geen toegestane code ({allowed})",
    ),
    "minimum": ("{field}: the value is below the minimum {limit}", "{field}: de waarde ligt onder het minimum {limit}"),
    "maximum": ("{field}: the value is above the maximum {limit}", "{field}: de waarde ligt boven het maximum {limit}"),
    "pattern": (
        "{field}: the value does not have the required form (letters, digits and _.:- only, at most 64 characters)",
        "{field}: de waarde heeft niet de vereiste vorm (alleen letters, cijfers en _.:-, hoogstens 64 tekens)",
    ),
    "unique": (
        "{field}: the value occurs earlier in the table (duplicate)",
        "{field}: de waarde komt eerder in de tabel voor (dubbel)",
    ),
    "primary_key": (
        "{field}: this combination occurs earlier in the table (duplicate key)",
        "{field}: deze combinatie komt eerder in de tabel voor (dubbele sleutel)",
    ),
    "foreign_key": (
        "{field}: no row with this value in table {parent}",
        "{field}: geen rij met deze waarde in tabel {parent}",
    ),
    "foreign_key_unchecked": (
        "references to table {parent} could not be checked because that table is missing or refused",
        "verwijzingen naar tabel {parent} konden niet worden gecontroleerd omdat die tabel ontbreekt of is geweigerd",
    ),
    "missing_table": (
        "required table {table} is missing (expected {table}.csv, {table}.parquet or a sheet {table})",
        "verplichte tabel {table} ontbreekt (verwacht {table}.csv, {table}.parquet of een werkblad {table})",
    ),
    "missing_column": (
        "required column {field} is missing from table {table}; the table cannot be used",
        "verplichte kolom {field} ontbreekt in tabel {table}; de tabel kan niet worden gebruikt",
    ),
    "identifier_column": (
        "column {field} looks like a direct identifier; the table is refused: pseudonymise first (evaluation pseudonymise)",
        "kolom {field} lijkt een direct identificerend gegeven; de tabel is geweigerd: eerst pseudonimiseren (evaluation pseudonymise)",
    ),
    "identifier_bsn": (
        "column {field} holds values that look like citizen service numbers (BSN) in {n} of {m} filled cells; "
        "the table is refused: pseudonymise first (evaluation pseudonymise)",
        "kolom {field} bevat in {n} van {m} gevulde cellen waarden die op een burgerservicenummer (BSN) lijken; "
        "de tabel is geweigerd: eerst pseudonimiseren (evaluation pseudonymise)",
    ),
    "unknown_column": (
        "column {field} is not part of the contract for table {table}; it is ignored",
        "kolom {field} hoort niet bij het contract voor tabel {table}; de kolom wordt genegeerd",
    ),
    "unknown_table": (
        "{field} is not a table of the contract; it is ignored",
        "{field} is geen tabel uit het contract; het wordt genegeerd",
    ),
    "unreadable": ("{detail}", "bestand kan niet worden gelezen: {detail}"),
    "blocked_row": (
        "row not used: table {table} is refused ({rule})",
        "rij niet gebruikt: tabel {table} is geweigerd ({rule})",
    ),
}


def _msg(key: str, **kw: Any) -> tuple[str, str]:
    en, nl = _MESSAGES[key]
    return en.format(**kw), nl.format(**kw)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be 'en' or 'nl', not {language!r}")




class _Issues:
    """Collects issue frames (vectorised) with the positional row index ``_pos``."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def rows(
        self,
        table: str,
        raw: pd.DataFrame,
        mask: np.ndarray,
        field: str,
        rule: str,
        severity: str,
        messages: tuple[str, str],
        value_col: str | None = None,
    ) -> None:
        """Add one issue per row where ``mask`` is True."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        pos = np.flatnonzero(mask)
        col = value_col if value_col is not None else field
        if col in raw.columns:
            values = raw[col].iloc[pos].to_numpy(dtype=object)
        else:
            values = np.full(len(pos), None, dtype=object)
        self.frames.append(
            pd.DataFrame(
                {
                    "severity": severity,
                    "level": "row",
                    "table": table,
                    "_pos": pos,
                    "row": raw[ROW_COLUMN].to_numpy()[pos],
                    "field": field,
                    "value": values,
                    "rule": rule,
                    "message_en": messages[0],
                    "message_nl": messages[1],
                }
            )
        )

    def table(self, table: str, field: str | None, rule: str, severity: str, messages: tuple[str, str]) -> None:
        self.frames.append(
            pd.DataFrame(
                {
                    "severity": [severity],
                    "level": ["table"],
                    "table": [table],
                    "_pos": [-1],
                    "row": [pd.NA],
                    "field": [field],
                    "value": [None],
                    "rule": [rule],
                    "message_en": [messages[0]],
                    "message_nl": [messages[1]],
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        cols = ["severity", "level", "table", "_pos", "row", "field", "value", "rule", "message_en", "message_nl"]
        if not self.frames:
            df = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
        else:
            df = pd.concat([f for f in self.frames if len(f)], ignore_index=True)
        df["row"] = pd.array(df["row"], dtype="Int64")
        df["_pos"] = df["_pos"].astype(np.int64)
        return df
