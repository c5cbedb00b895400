"""Validate an intake against the data contract, losing nothing.

Every row read ends up either in ``ValidationResult.tables`` (accepted, typed)
or in ``ValidationResult.quarantine`` (rejected, as delivered, with the rules it
broke); ``ValidationResult.reconciliation`` proves it per table
(``rows_read == rows_accepted + rows_quarantined``, checked on every run).

What is checked
---------------
Table level (blocking: the whole table is quarantined)
    ``unreadable`` (file cannot be decoded/parsed), ``missing_table`` (a
    required table is absent), ``missing_column`` (a required field is
    absent), ``identifier_column`` (a column named like a direct identifier,
    or holding values that look like Dutch citizen service numbers (BSN: 9
    digits passing the 11-check) in more than half of its non-missing cells).
    Unknown extra columns give an ``unknown_column`` warning and are dropped
    from the typed table; files that are no contract table give an
    ``unknown_table`` warning.
Field level (row)
    ``type`` (integer, number, boolean, date), ``required``, ``enum``,
    ``minimum``, ``maximum``, ``pattern``, ``unique``, ``primary_key``,
    ``foreign_key``.
Resource rules (row)
    every rule in ``datapackage.json`` ``rules``, reported under its ``id``
    with the rule's severity (``error`` quarantines the row, ``warning`` only
    reports it).

Decisions (documented here because results depend on them)
----------------------------------------------------------
* Missing: after stripping surrounding whitespace, an empty cell or one of the
  contract's ``missingValues`` is missing.
* Duplicates (``unique`` and ``primary_key``): as in Frictionless, the first
  occurrence in file order is accepted and every later occurrence is an error.
  A single-field primary key that also carries ``unique`` is reported once,
  as ``unique``. A composite key is reported as ``primary_key`` with ``field``
  the comma-joined key fields.
* Foreign keys and parent rules: a parent row counts as present when it exists
  in the file with a valid key, *even if the parent row itself was
  quarantined*; one error therefore does not cascade into its children (the
  child rows remain usable for their own analyses; analyses that join
  children to parents must use the accepted parent table and will simply not
  find the quarantined parent). Parent values used by parent rules come from
  the first row with that key. When the parent table is absent or blocked,
  references cannot be checked: a table-level ``foreign_key`` warning says so.
* Rules whose inputs are missing or mistyped are not evaluated for that row
  (the missing or mistyped value is reported by its own check).
* ``no_overlap``: periods are ordered by start within the key; a period
  overlaps when it starts strictly before the latest end of the earlier
  periods (an open end lasts to the cutoff). The later period is reported
  (field = the start field). Touching periods (end = next start) are allowed.
* ``plausible_age`` is reported on the ``birth_year`` field; ``parent_*`` and
  ``after_birth`` rules on the rule's ``field`` (``parent_value`` on ``key``).

References
----------
Frictionless Data Table Schema specification, https://specs.frictionlessdata.io/table-schema/
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.schema import Contract, Resource, load_contract
from evaluation.intake.read import ROW_COLUMN, IntakeError, RawIntake, RawTable, read_intake

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


def _arrow(s: pd.Series) -> pd.Series:
    """Text as a pyarrow-backed string Series (vectorised string kernels)."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        return s
    return s.astype("string[pyarrow]")


def _mask(x: pd.Series) -> np.ndarray:
    """Nullable boolean -> NumPy bool (NA -> False); always a new array."""
    return _b(x)


def normalise_column_name(name: str) -> str:
    """Lower-case and remove spaces, dots, dashes and underscores (identifier matching)."""
    return re.sub(r"[\s.\-_]", "", str(name)).lower()


def bsn_like(values: pd.Series) -> np.ndarray:
    """Boolean mask: the text is 9 digits passing the BSN 11-check.

    The 11-check: ``9*d1 + 8*d2 + ... + 2*d8 - 1*d9`` is divisible by 11 (and
    the number is not 000000000). Vectorised over the digits.
    """
    s = _arrow(values).str.strip()
    nine = _mask(s.str.fullmatch(r"\d{9}"))
    out = np.zeros(len(s), dtype=bool)
    if nine.any():
        digits = np.frombuffer("".join(s[nine].tolist()).encode("ascii"), dtype=np.uint8)
        digits = (digits - ord("0")).astype(np.int64).reshape(-1, 9)
        weights = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1], dtype=np.int64)
        total = digits @ weights
        out[nine] = (total % 11 == 0) & (digits.sum(axis=1) > 0)
    return out


# ------------------------------------------------------------------------ results


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_intake`.

    Attributes
    ----------
    tables : dict[str, DataFrame]
        Accepted rows of every contract table, typed per docs/ARCHITECTURE.md,
        with ``_row``; absent tables are empty frames with the contract columns.
    quarantine : dict[str, DataFrame]
        Rejected rows as delivered (text), with ``_row``, ``_rules`` and
        ``_messages`` (``; ``-separated); only tables with rejected rows.
        Columns refused as identifiers are not kept.
    issues : DataFrame
        One row per problem: severity, level, table, row, field, value, rule,
        message (in ``language``).
    reconciliation : DataFrame
        table, rows_read, rows_accepted, rows_quarantined, blocking.
    programmes : list[dict]
    cutoff_date : pandas.Timestamp
    language : str
    intake_path : Path or None
    """

    tables: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    issues_all: pd.DataFrame
    reconciliation: pd.DataFrame
    programmes: list[dict[str, Any]]
    cutoff_date: pd.Timestamp
    language: str = "en"
    intake_path: Path | None = None
    extract: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def issues_in(self, language: str) -> pd.DataFrame:
        """The issues table with messages in ``language`` ("en" or "nl")."""
        _check_language(language)
        df = self.issues_all.rename(columns={f"message_{language}": "message"})
        return df[ISSUE_COLUMNS].reset_index(drop=True)

    @property
    def issues(self) -> pd.DataFrame:
        return self.issues_in(self.language)

    @property
    def errors(self) -> pd.DataFrame:
        return self.issues[self.issues["severity"] == "error"].reset_index(drop=True)

    @property
    def warnings(self) -> pd.DataFrame:
        return self.issues[self.issues["severity"] == "warning"].reset_index(drop=True)

    @property
    def blocking(self) -> bool:
        """True when some table is refused as a whole (table-level error)."""
        return bool(self.reconciliation["blocking"].any())

    @property
    def ok(self) -> bool:
        """True when there is no error at all (warnings allowed)."""
        return not bool((self.issues_all["severity"] == "error").any())

    def counts_by_rule(self) -> pd.DataFrame:
        """Issues per table, rule and severity: n_issues and n_rows (distinct rows)."""
        df = self.issues_all
        if df.empty:
            return pd.DataFrame(columns=["table", "rule", "severity", "n_issues", "n_rows"])
        g = df.groupby(["table", "rule", "severity"], sort=True)
        out = g.size().rename("n_issues").to_frame()
        out["n_rows"] = g["row"].nunique()
        return out.reset_index()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (issues include row numbers and values: internal use)."""
        issues = self.issues.astype(object).where(self.issues.notna(), None)
        return {
            "intake": str(self.intake_path) if self.intake_path else None,
            "cutoff_date": self.cutoff_date.strftime("%Y-%m-%d"),
            "ok": self.ok,
            "blocking": self.blocking,
            "n_errors": int((self.issues_all["severity"] == "error").sum()),
            "n_warnings": int((self.issues_all["severity"] == "warning").sum()),
            "programmes": [p["programme_id"] for p in self.programmes],
            "ignored_files": list(self.ignored),
            "reconciliation": [
                {k: (bool(v) if k == "blocking" else (int(v) if k != "table" else v)) for k, v in r.items()}
                for r in self.reconciliation.to_dict("records")
            ],
            "counts_by_rule": [
                {k: (int(v) if k in {"n_issues", "n_rows"} else v) for k, v in r.items()}
                for r in self.counts_by_rule().to_dict("records")
            ],
            "issues": [
                {k: (int(v) if k == "row" and v is not None else v) for k, v in r.items()}
                for r in issues.to_dict("records")
            ],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The report as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary(self, language: str | None = None) -> str:
        """A readable text summary (no row-level values) in Dutch or English."""
        lang = language or self.language
        _check_language(lang)
        nl = lang == "nl"
        lines: list[str] = []
        head = "Validatie van intake" if nl else "Validation of intake"
        lines.append(f"{head} {self.intake_path or ''}".rstrip())
        lines.append(("Peildatum: " if nl else "Cutoff date: ") + self.cutoff_date.strftime("%Y-%m-%d"))
        lines.append("")
        hdr = ("tabel", "gelezen", "geaccepteerd", "quarantaine", "") if nl else (
            "table", "read", "accepted", "quarantined", "")
        width = max([len(hdr[0])] + [len(t) for t in self.reconciliation["table"]])
        lines.append(f"{hdr[0]:<{width}}  {hdr[1]:>9}  {hdr[2]:>12}  {hdr[3]:>11}")
        for r in self.reconciliation.itertuples(index=False):
            flag = ("  GEWEIGERD" if nl else "  REFUSED") if r.blocking else ""
            lines.append(
                f"{r.table:<{width}}  {r.rows_read:>9}  {r.rows_accepted:>12}  {r.rows_quarantined:>11}{flag}"
            )
        lines.append("")
        counts = self.counts_by_rule()
        for sev, title in (("error", ("Fouten", "Errors")), ("warning", ("Waarschuwingen", "Warnings"))):
            sub = counts[counts["severity"] == sev]
            label = title[0] if nl else title[1]
            if sub.empty:
                lines.append(f"{label}: " + ("geen" if nl else "none"))
                continue
            lines.append(f"{label} ({'per tabel en regel' if nl else 'by table and rule'}):")
            for r in sub.itertuples(index=False):
                rows_word = "rijen" if nl else "rows"
                lines.append(f"  {r.table}: {r.rule}: {r.n_issues} ({r.n_rows} {rows_word})")
            # table-level problems spelled out: they block whole tables
            tl = self.issues_all[(self.issues_all["level"] == "table") & (self.issues_all["severity"] == sev)]
            for m in tl[f"message_{lang}"].drop_duplicates():
                lines.append(f"  - {m}")
        lines.append("")
        if self.ok:
            lines.append(
                "Resultaat: geen fouten; de intake kan worden gebruikt."
                if nl
                else "Result: no errors; the intake can be used."
            )
        elif self.blocking:
            lines.append(
                "Resultaat: een of meer tabellen zijn geweigerd; herstel de intake en valideer opnieuw."
                if nl
                else "Result: one or more tables were refused; correct the intake and validate again."
            )
        else:
            lines.append(
                "Resultaat: rijen met fouten staan in quarantaine en worden niet gebruikt; zie de quarantainebestanden."
                if nl
                else "Result: rows with errors are quarantined and not used; see the quarantine files."
            )
        return "\n".join(lines) + "\n"


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be 'en' or 'nl', not {language!r}")


# ---------------------------------------------------------------- issue building


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


# ------------------------------------------------------------------ typing cells

_INT_RE = r"[+-]?\d{1,18}"
_NUM_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUM_COMMA_RE = r"[+-]?\d+,\d+"
_DATE_GATE = {
    "%Y-%m-%d": r"\d{4}-\d{1,2}-\d{1,2}",
    "%d-%m-%Y": r"\d{1,2}-\d{1,2}-\d{4}",
    "%d/%m/%Y": r"\d{1,2}/\d{1,2}/\d{4}",
    "%Y/%m/%d": r"\d{4}/\d{1,2}/\d{1,2}",
}


def _pa_values(sa: pd.Series, mask: np.ndarray, pa_type) -> np.ndarray | None:
    """Cast the masked text cells with Arrow (C++); None if Arrow refuses one of them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(_arrow(sa).array)  # Arrow array behind the pandas string array
    try:
        return pc.cast(arr.filter(pa.array(mask)), pa_type).to_numpy(zero_copy_only=False)
    except pa.ArrowException:  # invalid value or a cast Arrow does not offer
        return None


def _subset_match(sa: pd.Series, where: np.ndarray, regex: str) -> np.ndarray:
    """``where & sa.fullmatch(regex)``, running the regex on the ``where`` rows only."""
    out = np.zeros(len(sa), dtype=bool)
    if where.all():
        return _mask(sa.str.fullmatch(regex))
    if where.any():
        idx = np.flatnonzero(where)
        out[idx] = _mask(sa.iloc[idx].str.fullmatch(regex))
    return out


def _dictionary(sa: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, uniq)`` with ``uniq.iloc[codes]`` equal to ``sa`` (Arrow hash, nulls kept as a value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(_arrow(sa).array)
    if isinstance(arr, pa.ChunkedArray):  # one dictionary for the whole column
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    uniq = pd.Series(pd.arrays.ArrowStringArray(enc.dictionary))
    return codes, uniq


def _expand(values: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``values`` taken at ``codes`` (dtype kept), with ``index``."""
    if isinstance(values.dtype, np.dtype):  # object, float64, datetime64: plain NumPy indexing
        return pd.Series(values.to_numpy()[codes], index=index, dtype=values.dtype, copy=False)
    return pd.Series(values.array.take(codes), index=index, copy=False)


def parse_column(
    text: pd.Series,
    ftype: str,
    contract: Contract,
    missing_values: list[str],
    decimal_comma: bool = False,
    return_text: bool = False,
    stripped: bool = False,
    encode: bool | None = None,
):
    """Type one text column.

    Returns ``(typed, missing, bad)``: the typed Series (dtype per
    docs/ARCHITECTURE.md, missing for missing or bad cells), the mask of
    missing cells and the mask of non-missing cells that are not of the type.
    With ``return_text`` also the stripped text (pyarrow string Series).
    Cells are stripped of surrounding whitespace first (``stripped=True``
    says the caller already did).

    Typing is cell by cell, so a column with repeated values is typed once per
    distinct value and the results are expanded to the rows (``encode=None``:
    when the column has fewer distinct values than half its length;
    ``True``/``False`` force either way; the result is the same).
    """
    sa = _arrow(text) if stripped else _arrow(text).str.strip()
    typed, missing, bad, _ = _parse_encoded(sa, ftype, contract, missing_values, decimal_comma, encode)
    return (typed, missing, bad, sa) if return_text else (typed, missing, bad)


def _parse_encoded(sa: pd.Series | None, ftype: str, contract: Contract, missing_values: list[str],
                   decimal_comma: bool, encode: bool | None, pre: tuple[np.ndarray, pd.Series] | None = None):
    """:func:`parse_column` on stripped text; also ``(codes, uniq, typed_uniq)`` when typed per distinct
    value, else None. ``pre``: the column already as ``(codes, stripped distinct values)`` (``sa`` unused)."""
    if pre is None and encode is not False and len(sa) > 1:
        codes, uniq = _dictionary(sa)
        if encode or 2 * len(uniq) <= len(sa):
            pre = (codes, uniq)
    if pre is not None:
        codes, uniq = pre
        typed_u, missing_u, bad_u = _parse_text(uniq, ftype, contract, missing_values, decimal_comma)
        typed = _expand(typed_u, codes, pd.RangeIndex(len(codes)) if sa is None else sa.index)
        return typed, _take_mask(missing_u, codes), _take_mask(bad_u, codes), (codes, uniq, typed_u)
    typed, missing, bad = _parse_text(sa, ftype, contract, missing_values, decimal_comma)
    return typed, missing, bad, None


def _text_mask(text: pd.Series, encoded: tuple | None, test) -> np.ndarray:
    """``test(text)`` (an elementwise NumPy bool mask), run once per distinct value when encoded."""
    if encoded is None:
        return test(text)
    return _take_mask(np.asarray(test(encoded[1]), dtype=bool), encoded[0])


def _take_mask(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``mask[codes]`` (a new array), without the gather when ``mask`` is constant."""
    if not mask.any():
        return np.zeros(len(codes), dtype=bool)
    if mask.all():
        return np.ones(len(codes), dtype=bool)
    return mask[codes]


def _parse_text(sa: pd.Series, ftype: str, contract: Contract, missing_values: list[str], decimal_comma: bool):
    """:func:`parse_column` on stripped pyarrow text, without the distinct-value shortcut."""
    import pyarrow as pa

    missing = _isin_text(sa, list(missing_values) + [""])
    present = ~missing
    n = len(sa)
    bad = np.zeros(n, dtype=bool)
    idx = sa.index
    if ftype == "string" or ftype not in _TYPE_NAMES:
        values = pa.array(sa.array)  # Arrow -> Python str directly (faster than pandas' astype)
        obj = values.to_numpy(zero_copy_only=False).astype(object, copy=False)
        obj[~present] = None
        typed = pd.Series(obj, index=idx, dtype=object)
    elif ftype == "integer":
        ok = present & _mask(sa.str.fullmatch(_INT_RE))
        vals = np.zeros(n, dtype=np.int64)
        if ok.any():
            cast = _pa_values(sa.str.lstrip("+"), ok, pa.int64())
            vals[ok] = cast if cast is not None else sa[ok].astype(object).to_numpy().astype(np.int64)
        typed = pd.Series(pd.arrays.IntegerArray(vals, ~ok), index=idx)
        bad = present & ~ok
    elif ftype == "number":
        ok = present & _mask(sa.str.fullmatch(_NUM_RE))
        t = sa
        if decimal_comma:
            comma = _subset_match(sa, present & ~ok, _NUM_COMMA_RE)
            if comma.any():
                t = sa.str.replace(",", ".", regex=False)
                ok = ok | comma
        vals = np.full(n, np.nan)
        if ok.any():
            cast = _pa_values(t.str.lstrip("+"), ok, pa.float64())
            vals[ok] = cast if cast is not None else t[ok].astype(object).to_numpy().astype(float)
        finite = np.isfinite(vals)
        bad = present & ~(ok & finite)
        vals[~finite] = np.nan
        typed = pd.Series(vals, index=idx, dtype="float64")
    elif ftype == "boolean":
        is_true = _isin_text(sa, list(contract.true_values))
        is_false = _isin_text(sa, list(contract.false_values))
        ok = present & (is_true | is_false)
        typed = pd.Series(pd.arrays.BooleanArray(is_true & ok, ~ok), index=idx)
        bad = present & ~ok
    else:  # date
        out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        todo = present.copy()
        for fmt in contract.date_formats:
            if not todo.any():
                break
            gate = _DATE_GATE.get(fmt)
            cand = _subset_match(sa, todo, gate) if gate else todo.copy()
            if not cand.any():
                continue
            parsed = pd.to_datetime(sa[cand].astype(object), format=fmt, errors="coerce").to_numpy(
                dtype="datetime64[ns]"
            )
            good = ~np.isnat(parsed)
            where = np.flatnonzero(cand)[good]
            out[where] = parsed[good]
            todo[where] = False
        bad = todo
        typed = pd.Series(out, index=idx)
    return typed, missing, bad


# ------------------------------------------------- byte-level checks on Arrow text
#
# Columns meant to hold distinct values (identifiers), where the per-distinct-value
# shortcut does not apply, are checked on their Arrow string buffers with NumPy
# instead of per-cell Python/regex calls. Every shortcut is exact: the pattern check
# only takes patterns it can decide byte by byte (else the regex runs), the
# duplicate check uses a hash only to find candidate rows, whose values are then
# compared as Python strings, and the missing-value, strip and length gates only
# skip work that provably changes nothing (tests/test_validate_speed_paths.py
# compares each with the general path).


def _offsets(text: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """``(offsets, data)`` of a pyarrow string Series without copying the bytes: cell ``i``
    is ``data[offsets[i]:offsets[i + 1]]`` (UTF-8). None when the column holds nulls or
    is not plain Arrow text (callers then use the general path)."""
    import pyarrow as pa

    arr = pa.array(_arrow(text).array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    bufs = arr.buffers()
    if len(arr) == 0 or bufs[1] is None:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    odt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offs = np.frombuffer(bufs[1], dtype=odt)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
    return offs, data


def _string_buffers(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(starts, lengths, data)`` of a pyarrow string Series: cell ``i`` is the UTF-8
    bytes ``data[starts[i]:starts[i] + lengths[i]]``; ``data`` (a copy) has 64 zero
    bytes of padding at the end. None as for :func:`_offsets`."""
    od = _offsets(text)
    if od is None:
        return None
    offs, raw = od
    offs = offs.astype(np.int64)
    lo, hi = (int(offs[0]), int(offs[-1])) if len(offs) else (0, 0)
    data = np.zeros(hi - lo + 64, dtype=np.uint8)
    if hi > lo:
        data[: hi - lo] = raw[lo:hi]
    return offs[:-1] - lo, np.diff(offs), data


def _needs_strip(text: pd.Series) -> bool:
    """False when no cell can start or end with whitespace: every non-empty cell's
    first and last byte is printable ASCII other than space (then stripping is a
    no-op). True when in doubt (nulls, non-ASCII edges)."""
    od = _offsets(text)
    if od is None:
        return True
    offs, data = od
    full = offs[1:] > offs[:-1]
    if not full.any():
        return False
    edges = np.concatenate([data[offs[:-1][full]], data[offs[1:][full] - 1]])
    return not bool(((edges > 0x20) & (edges < 0x7F)).all())


def _isin_text(text: pd.Series, values: list[str]) -> np.ndarray:
    """``text.isin(values)`` as a NumPy mask; on long columns only the cells whose byte
    length equals that of some value are compared (lengths from the Arrow offsets)."""
    od = _offsets(text) if len(text) > 1000 else None
    if od is None:
        if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
            import pyarrow as pa
            import pyarrow.compute as pc

            arr = pa.array(text.array)  # (pandas' isin adds ~0.2 ms per call: many calls on short text)
            strs = [v for v in values if isinstance(v, str)]  # (other values never equal a text cell)
            found = pc.is_in(arr, value_set=pa.array(strs, type=arr.type))  # (nulls: False, as isin)
            return found.to_numpy(zero_copy_only=False) & pc.is_valid(arr).to_numpy(zero_copy_only=False)
        return _mask(text.isin(values))
    lengths = np.diff(od[0])
    cand = np.flatnonzero(np.isin(lengths, [len(v.encode("utf-8")) for v in values]))
    out = np.zeros(len(text), dtype=bool)
    if len(cand):
        out[cand] = _mask(text.iloc[cand].isin(values))
    return out


_WORD_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _text_hash(starts: np.ndarray, lengths: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A 64-bit hash per cell of its length and first 64 bytes (equal text -> equal hash;
    unequal text may collide, so callers compare candidates exactly)."""
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))  # 8 bytes at each offset
    n_words = min((int(lengths.max()) + 7) // 8, 8) if len(lengths) else 0
    h = lengths.astype(np.uint64)
    for j in range(n_words):  # (data has 64 bytes of padding: starts + 8 * j stays inside)
        rest = lengths if n_words == 1 else np.clip(lengths - 8 * j, 0, 8)
        w = words[starts + 8 * j if j else starts] & _WORD_MASKS[rest]
        h = (h * np.uint64(0x9E3779B97F4A7C15)) ^ w
    return h


def _duplicated_text(bufs: tuple | None, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``pd.Series(values).duplicated(keep="first")`` restricted to ``rows`` (bool mask).

    ``values`` are the cells of the text with buffers ``bufs`` (from
    :func:`_string_buffers`) as Python objects, equal text <=> equal value.
    Rows whose hash is unique among ``rows`` (found by sorting the hashes)
    cannot be duplicates; the remaining candidates (rows whose hash bucket
    holds a repeated hash) are compared exactly, in file order. ``bufs=None``:
    all rows are compared as Python objects.
    """
    out = np.zeros(len(values), dtype=bool)
    everywhere = bool(rows.all())
    pos = None if everywhere else np.flatnonzero(rows)
    if bufs is not None:
        h = _text_hash(*bufs)
        if pos is not None:
            h = h[pos]
        srt = np.sort(h)
        repeated = srt[1:][srt[1:] == srt[:-1]]
        if not len(repeated):
            return out
        # a 4 MB table of hash buckets (multiply-shift: the top bits of h * odd constant) gives a
        # cheap superset of the rows with a repeated hash
        mix, shift = np.uint64(0x9E3779B97F4A7C15), np.uint64(64 - 22)
        bucket = np.zeros(1 << 22, dtype=bool)
        bucket[((repeated * mix) >> shift).astype(np.intp)] = True
        cand = np.flatnonzero(bucket[((h * mix) >> shift).astype(np.intp)])
        pos = cand if pos is None else pos[cand]
    elif pos is None:
        pos = np.arange(len(values))
    if len(pos):
        out[pos] = pd.Series(values[pos]).duplicated(keep="first").to_numpy()
    return out


_CLASS_RE = re.compile(r"\[((?:[A-Za-z0-9_.:\-])+)\]")


def _char_class(body: str) -> np.ndarray | None:
    """Byte lookup table of a simple ASCII character class body (``A-Za-z0-9_.:-``)."""
    table = np.zeros(256, dtype=bool)
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = ord(body[i]), ord(body[i + 2])
            if lo > hi:
                return None
            table[lo: hi + 1] = True
            i += 3
        else:
            table[ord(body[i])] = True
            i += 1
    return table


def _simple_pattern(regex: str) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """``(first, rest, lo, hi)`` when ``regex`` is ``[first][rest]{lo,hi}`` with plain ASCII
    classes (the contract's identifier pattern), else None."""
    m = re.fullmatch(r"(\[[^\]\\\[]+\])(\[[^\]\\\[]+\])\{(\d+),(\d+)\}", regex)
    if m is None:
        return None
    classes = []
    for part in (m.group(1), m.group(2)):
        cm = _CLASS_RE.fullmatch(part)
        table = _char_class(cm.group(1)) if cm else None
        if table is None:
            return None
        classes.append(table)
    lo, hi = int(m.group(3)), int(m.group(4))
    return (classes[0], classes[1], lo, hi) if lo <= hi else None


def _fullmatch(text: pd.Series, regex: str, bufs: tuple | None = None) -> np.ndarray:
    """``text.str.fullmatch(regex)`` as a NumPy mask (missing -> False).

    Byte by byte for the simple patterns of :func:`_simple_pattern` on long
    columns (ASCII classes: a cell with any other byte, e.g. a non-ASCII
    letter, does not match, as with the regex), else with the regex. ``bufs``:
    the text's :func:`_string_buffers`, if already at hand.
    """
    simple = _simple_pattern(regex) if len(text) > 1000 else None
    if simple is not None and bufs is None:
        bufs = _string_buffers(text)
    if simple is None or bufs is None:
        return _mask(text.str.fullmatch(regex))
    first, rest, lo, hi = simple
    starts, lengths, data = bufs
    ok = (lengths >= 1 + lo) & (lengths <= 1 + hi)
    ok &= first[data[starts]]
    # bytes outside the class of the cell's tail: translate to 1 (else 0) in one C pass
    flags = data[: len(data) - 64].tobytes().translate(bytes((~rest).astype(np.uint8)))
    n_bad = flags.count(1)
    if n_bad:
        if n_bad < 10_000:  # a few: C-speed find from one to the next
            bad, at = np.empty(n_bad, dtype=np.int64), -1
            for i in range(n_bad):
                at = flags.find(1, at + 1)
                bad[i] = at
        else:
            bad = np.flatnonzero(np.frombuffer(flags, dtype=np.uint8))
        cell = np.searchsorted(starts, bad, side="right") - 1  # empty cells hold no bytes
        ok[cell[bad > starts[cell]]] = False  # (a cell's first byte is checked against ``first``)
    return ok


def _limit(value: Any, ftype: str) -> Any:
    if ftype == "date":
        return pd.Timestamp(value)
    return value


# ------------------------------------------------------------------- validation


@dataclass
class _TableState:
    resource: Resource
    raw: RawTable | None
    typed: pd.DataFrame | None = None  # all rows, typed (bad cells missing)
    blocked: str | None = None  # rule that blocked the table
    available: bool = False  # rows usable as parents (present, not blocked)
    # string columns typed per distinct value: col -> (codes, values), typed[col] == values[codes]
    encoded: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # key column -> (Index of its distinct non-missing values, row of the first occurrence of each)
    key_index: dict[str, tuple[pd.Index, np.ndarray]] = field(default_factory=dict)

    def first_rows(self, key: str) -> tuple[pd.Index, np.ndarray]:
        """Distinct non-missing values of column ``key`` and the first row holding each
        (the parent rows that lookups and foreign keys use), computed once per column."""
        if key not in self.key_index:
            col = self.typed[key]
            rows = np.flatnonzero(col.notna().to_numpy())
            if len(rows):
                rows = rows[~pd.Series(col.to_numpy()[rows]).duplicated(keep="first").to_numpy()]
            self.key_index[key] = (pd.Index(col.iloc[rows]), rows)
        return self.key_index[key]


def _per_value(state: _TableState, col: str, test) -> np.ndarray:
    """``test(state.typed[col])`` (elementwise, NumPy bool), once per distinct value when encoded."""
    enc = state.encoded.get(col)
    if enc is None:
        return np.asarray(test(state.typed[col]), dtype=bool)
    codes, values = enc
    return _take_mask(np.asarray(test(pd.Series(values, dtype=object)), dtype=bool), codes)


def _notna(state: _TableState, col: str) -> np.ndarray:
    return _per_value(state, col, lambda x: x.notna().to_numpy())


def _table_order(contract: Contract) -> list[str]:
    """Contract tables with parents before children (FKs and parent rules)."""
    deps: dict[str, set[str]] = {}
    for name, res in contract.resources.items():
        parents = {fk["reference"]["resource"] for fk in res.foreign_keys}
        parents |= {r["parent"] for r in res.rules if "parent" in r}
        deps[name] = {p for p in parents if p != name}
    order: list[str] = []
    pending = list(contract.table_names)
    while pending:
        progressed = False
        for name in list(pending):
            if deps[name] <= set(order):
                order.append(name)
                pending.remove(name)
                progressed = True
        if not progressed:  # a cycle: keep contract order for the rest
            order.extend(pending)
            break
    return order


def _empty_typed(res: Resource, only: list[str] | None = None) -> pd.DataFrame:
    """No rows, the contract's columns and dtypes (``only``: just these fields)."""
    dtypes = {"integer": "Int64", "number": "float64", "boolean": "boolean", "date": "datetime64[ns]"}
    cols = {
        f["name"]: pd.Series([], dtype=dtypes.get(f["type"], object))
        for f in res.fields if only is None or f["name"] in only
    }
    cols[ROW_COLUMN] = pd.Series([], dtype=np.int64)
    return pd.DataFrame(cols)


def _column_text(raw: RawTable, col: str, cache: dict[str, tuple], distinct: bool = False) -> tuple:
    """Column text stripped of surrounding whitespace, computed once per column.

    Returns ``(stripped, None)`` (pyarrow string Series) or, when values
    repeat (fewer distinct values than half the rows; not tried for columns
    meant to hold distinct values), ``(None, (codes, uniq))`` with the
    stripped distinct raw values ``uniq`` (which may repeat after stripping)
    and ``uniq.iloc[codes]`` the stripped column.
    """
    if col not in cache:
        text = _arrow(raw.data[col])
        entry: tuple = (None, None)
        if not distinct and len(text) > 1:
            codes, uniq = _dictionary(text)
            if 2 * len(uniq) <= len(text):
                entry = (None, (codes, uniq.str.strip()))
        if entry[1] is None:
            entry = (text.str.strip() if _needs_strip(text) else text, None)
        cache[col] = entry
    return cache[col]


def _distinct_fields(res: Resource) -> set[str]:
    """Fields meant to hold distinct values (``unique`` or the one-field primary key)."""
    out = {f["name"] for f in res.fields if f.get("constraints", {}).get("unique")}
    if len(res.primary_key or []) == 1:
        out.add(res.primary_key[0])
    return out


def _byte_length_is(text: pd.Series, k: int) -> bool:
    """Whether some cell of the (pyarrow) text has exactly ``k`` bytes (UTF-8)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    od = _offsets(text)
    if od is not None:
        return bool((np.diff(od[0]) == k).any())
    return bool(pc.any(pc.equal(pc.binary_length(pa.array(_arrow(text).array)), k)).as_py())


def _check_columns(
    name: str, raw: RawTable, res: Resource, contract: Contract, issues: _Issues, cache: dict[str, tuple]
) -> str | None:
    """Table-level checks; returns the blocking rule or None. Adds issues."""
    if raw.error is not None:
        issues.table(name, None, "unreadable", "error", _msg("unreadable", detail=raw.error))
        return "unreadable"
    blocked = None
    id_names = {normalise_column_name(n) for n in contract.identifier_column_names}
    missing_values = res.descriptor["schema"].get("missingValues", [""])
    distinct = _distinct_fields(res)
    for col in raw.columns:
        if normalise_column_name(col) in id_names:
            issues.table(name, col, "identifier_column", "error", _msg("identifier_column", field=col))
            blocked = blocked or "identifier_column"
            continue
        stripped, enc = _column_text(raw, col, cache, col in distinct)
        values = stripped if enc is None else enc[1]
        # cheap pre-filter before the digit check: 9 ASCII digits are 9 bytes
        if not _byte_length_is(values, 9) or not (values.str.len() == 9).any():
            continue
        filled = _text_mask(stripped, enc, lambda x: ~_mask(x.isin(list(missing_values) + [""])))
        m = int(filled.sum())
        if m:
            n = int(_text_mask(stripped, enc, bsn_like).sum())
            if n > m / 2:
                issues.table(name, col, "identifier_column", "error", _msg("identifier_bsn", field=col, n=n, m=m))
                blocked = blocked or "identifier_column"
    present = set(raw.columns)
    for f in res.required_fields:
        if f not in present:
            issues.table(name, f, "missing_column", "error", _msg("missing_column", field=f, table=name))
            blocked = blocked or "missing_column"
    known = set(res.field_names)
    for col in raw.columns:
        if col not in known and normalise_column_name(col) not in id_names:
            issues.table(name, col, "unknown_column", "warning", _msg("unknown_column", field=col, table=name))
    return blocked


def _type_and_check_fields(
    name: str, raw: RawTable, res: Resource, contract: Contract, issues: _Issues, cache: dict[str, tuple],
    encoded_out: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> pd.DataFrame:
    """Type every contract field; field-level checks within the table.

    ``encoded_out`` receives, for string columns typed per distinct value,
    ``(codes, values)`` with ``typed[col] == values[codes]`` (see ``_per_value``).
    """
    data = raw.data
    n = len(data)
    missing_values = list(res.descriptor["schema"].get("missingValues", [""]))
    distinct = _distinct_fields(res)
    typed: dict[str, pd.Series] = {}
    missing_masks: dict[str, np.ndarray] = {}
    for f in res.fields:
        fname, ftype = f["name"], f["type"]
        cons = f.get("constraints", {})
        if fname not in data.columns:
            typed[fname] = _empty_typed(res, [fname])[fname].reindex(range(n))
            missing_masks[fname] = np.ones(n, dtype=bool)
            continue
        # distinct-value typing pays off unless the values are meant to be distinct
        text, pre = _column_text(raw, fname, cache, fname in distinct)
        col, missing, bad, encoded = _parse_encoded(
            text, ftype, contract, missing_values, raw.decimal_comma, False, pre
        )
        col.index = pd.RangeIndex(n)  # col is new: relabel instead of reset_index (a copy)
        typed[fname] = col
        missing_masks[fname] = missing
        if bad.any():
            t_en, t_nl = _TYPE_NAMES[ftype]
            issues.rows(name, data, bad, fname, "type", "error", _msg("type", field=fname, type_en=t_en, type_nl=t_nl))
        if cons.get("required"):
            issues.rows(name, data, missing, fname, "required", "error", _msg("required", field=fname))
        valid = ~missing & ~bad
        tv = typed[fname]
        # identifier-like text typed cell by cell: its Arrow buffers serve the pattern and unique checks
        bufs = (
            _string_buffers(text)
            if ftype == "string" and encoded is None and len(text) > 1000 and ("pattern" in cons or "unique" in cons)
            else None
        )
        if "enum" in cons:
            allowed = [str(v) for v in cons["enum"]]
            enum_values = cons["enum"]
            viol = valid & ~(
                _text_mask(text, encoded, lambda x, e=enum_values: _isin_text(x, [str(v) for v in e]))
                if ftype == "string" else tv.isin(enum_values).to_numpy()
            )
            issues.rows(name, data, viol, fname, "enum", "error", _msg("enum", field=fname, allowed=", ".join(allowed)))
        if "pattern" in cons and ftype == "string":
            pat = cons["pattern"]
            regex = pat.removeprefix("^").removesuffix("$")
            viol = valid & ~_text_mask(text, encoded, lambda x, r=regex, b=bufs: _fullmatch(x, r, b))
            issues.rows(name, data, viol, fname, "pattern", "error", _msg("pattern", field=fname))
        for key, op in (("minimum", np.less), ("maximum", np.greater)):
            if key in cons and ftype in {"integer", "number", "date"}:
                lim = _limit(cons[key], ftype)
                cmp = op(tv, lim)
                viol = valid & np.asarray(cmp.fillna(False) if hasattr(cmp, "fillna") else cmp, dtype=bool)
                issues.rows(name, data, viol, fname, key, "error", _msg(key, field=fname, limit=cons[key]))
        if cons.get("unique"):
            if ftype == "string" and encoded is None:  # the text is the typed value: hash its bytes
                dup = _duplicated_text(bufs, tv.to_numpy(dtype=object), valid)
            else:
                dup = valid & tv.duplicated(keep="first").to_numpy()
            issues.rows(name, data, dup, fname, "unique", "error", _msg("unique", field=fname))
        # a value that broke its own constraint must not trigger other rules (no cascade)
        broken = valid & ~_still_valid(issues, name, fname, n)
        if broken.any():
            vals = np.asarray(tv.array) if tv.dtype == object else None
            if vals is not None and vals.flags.writeable:  # tv is this function's own new column
                vals[broken] = np.nan  # in place, as tv.mask(broken) would set it
            else:
                typed[fname] = tv.mask(broken)
        if encoded is not None and ftype == "string" and encoded_out is not None:
            codes, values = encoded[0], np.append(encoded[2].to_numpy(dtype=object), None)
            if broken.any():
                codes = codes.copy()
                codes[broken] = len(values) - 1  # the appended None
            encoded_out[fname] = (codes, values)
    out = pd.DataFrame(typed, copy=False)  # the columns are new: no copy, no block consolidation
    pk = res.primary_key
    if pk and all(k in data.columns for k in pk):
        single_unique = len(pk) == 1 and res.field(pk[0]).get("constraints", {}).get("unique")
        if not single_unique:
            complete = np.logical_and.reduce([~missing_masks[k] & out[k].notna().to_numpy() for k in pk])
            dup = complete & out[pk].duplicated(keep="first").to_numpy()
            label = ",".join(pk)
            issues.rows(name, data, dup, label, "primary_key", "error", _msg("primary_key", field=label), value_col=pk[0])
            if dup.any():  # value: the whole key as delivered
                issues.frames[-1]["value"] = (
                    data[pk].astype(str).agg("|".join, axis=1).to_numpy(dtype=object)[np.flatnonzero(dup)]
                )
    out[ROW_COLUMN] = data[ROW_COLUMN].to_numpy()
    return out


def _still_valid(issues: _Issues, table: str, fname: str, n: int) -> np.ndarray:
    """Rows whose cell ``fname`` broke no enum/pattern/minimum/maximum constraint."""
    ok = np.ones(n, dtype=bool)
    for f in issues.frames:
        if len(f) and f["table"].iat[0] == table and f["field"].iat[0] == fname and f["rule"].iat[0] in {
            "enum", "pattern", "minimum", "maximum"
        }:
            ok[f["_pos"].to_numpy()] = False
    return ok


def _lookup(child_keys: pd.Series, parent: _TableState, parent_key: str, parent_field: str | list[str],
            child_encoded: tuple[np.ndarray, np.ndarray] | None = None):
    """Value(s) of ``parent_field`` of the first parent row with the child's key (NA if none).

    One hash lookup of the keys (of the distinct keys with ``child_encoded``,
    see ``_per_value``), then positional takes; a list of fields gives a list
    of Series.
    """
    out, codes = _lookup_distinct(child_keys, parent, parent_key, parent_field, child_encoded)
    if codes is not None:
        out = [_expand(s, codes, child_keys.index) for s in out]
    return out[0] if isinstance(parent_field, str) else out


def _lookup_distinct(child_keys: pd.Series, parent: _TableState, parent_key: str, parent_field: str | list[str],
                     child_encoded: tuple[np.ndarray, np.ndarray] | None = None):
    """:func:`_lookup` before expansion: ``(list of Series, codes)``; with ``child_encoded``
    the Series hold one value per distinct key and ``codes`` maps rows to them, else
    they are per row and ``codes`` is None."""
    fields = [parent_field] if isinstance(parent_field, str) else list(parent_field)
    keys, rows = parent.first_rows(parent_key)
    codes = None
    if child_encoded is None:
        pos = keys.get_indexer(child_keys)
        index = child_keys.index
    else:
        codes, values = child_encoded
        pos = keys.get_indexer(values)
        index = pd.RangeIndex(len(pos))
    found = pos >= 0
    out = []
    for f in fields:
        col = parent.typed[f]
        taken = col.iloc[rows[np.where(found, pos, 0)]] if len(rows) else col.iloc[:0].reindex(range(len(pos)))
        taken = pd.Series(taken.to_numpy(), index=index, dtype=col.dtype)
        out.append(taken.where(found))
    return out, codes


def _year(dates: pd.Series) -> pd.Series:
    return dates.dt.year.astype("Int64")


def _cond(state: _TableState, conditions: dict[str, Any]) -> np.ndarray:
    """Rows where every ``col == value`` holds (missing -> False)."""
    mask = np.ones(len(state.typed), dtype=bool)
    for col, value in conditions.items():
        mask &= _per_value(state, col, lambda x, v=value: _b(x == v))
    return mask


def _known(conditions: dict[str, Any], state: _TableState) -> np.ndarray:
    mask = np.ones(len(state.typed), dtype=bool)
    for col in conditions:
        mask &= _notna(state, col)
    return mask


def _b(x: Any) -> np.ndarray:
    """Boolean array from a possibly nullable comparison (NA -> False); always a new array."""
    arr = x.array if isinstance(x, pd.Series) else x
    # the two results comparisons give, without pandas' fillna (a copy and ~0.1 ms per call)
    if isinstance(arr, pd.arrays.BooleanArray):
        return arr.to_numpy(dtype=bool, na_value=False)
    if isinstance(arr, pd.arrays.NumpyExtensionArray):
        arr = np.asarray(arr)  # (no copy)
    if isinstance(arr, np.ndarray) and arr.dtype == bool:
        return arr.copy()
    if hasattr(x, "fillna"):
        x = x.fillna(False)
    return np.array(x, dtype=bool)


def _apply_rules(
    name: str,
    state: _TableState,
    states: dict[str, _TableState],
    programme_ids: set[str],
    cutoff: pd.Timestamp,
    issues: _Issues,
) -> None:
    """Evaluate the resource ``rules`` of one table (vectorised)."""
    t = state.typed
    data = state.raw.data
    for rule in state.resource.rules:
        kind, rid, sev = rule["kind"], rule["id"], rule["severity"]
        msgs = (rule["message_en"], rule["message_nl"])
        parent_st = None
        if "parent" in rule:
            ps = states.get(rule["parent"])
            if ps is None or not ps.available:
                continue  # reported once as a table-level warning by the FK step
            parent_st = ps
        if kind == "date_order":
            viol = _b(t[rule["later"]] < t[rule["earlier"]])
            issues.rows(name, data, viol, rule["later"], rid, sev, msgs)
        elif kind == "required_with":
            viol = _notna(state, rule["when_present"]) & ~_notna(state, rule["field"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "required_when":
            viol = _cond(state, rule["when"]) & ~_notna(state, rule["field"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "required_unless":
            viol = _known(rule["unless"], state) & ~_cond(state, rule["unless"]) & ~_notna(state, rule["field"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "absent_when":
            viol = _cond(state, rule["when"]) & _notna(state, rule["field"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "in_programmes":
            viol = _per_value(state, rule["field"], lambda x: x.notna().to_numpy() & ~x.isin(programme_ids).to_numpy())
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "plausible_age":
            age = _year(t[rule["date"]]) - t[rule["birth_year"]]
            viol = _b((age < rule["minimum"]) | (age > rule["maximum"]))
            issues.rows(name, data, viol, rule["birth_year"], rid, sev, msgs)
        elif kind == "plausible_age_first_case":
            age = _year(t[rule["date"]]) - t[rule["birth_year"]]
            viol = _b(t[rule["field"]] > age)
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "maximum_warning":
            viol = _b(t[rule["field"]] > rule["maximum"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "not_after_cutoff":
            for f in rule["fields"]:
                issues.rows(name, data, _b(t[f] > cutoff), f, rid, sev, msgs)
        elif kind == "parent_value":
            pv = _lookup(t[rule["key"]], parent_st, rule["parent_key"], rule["parent_field"], state.encoded.get(rule["key"]))
            viol = pv.notna().to_numpy() & ~pv.isin(rule["allowed"]).to_numpy()
            issues.rows(name, data, viol, rule["key"], rid, sev, msgs)
        elif kind == "parent_date_order":
            pdate = _lookup(t[rule["key"]], parent_st, rule["parent_key"], rule["parent_date"], state.encoded.get(rule["key"]))
            if rule.get("relation", "not_before") != "not_before":
                raise ValueError(f"rule {rid}: unknown relation {rule.get('relation')!r}")
            viol = _b(t[rule["field"]] < pdate)
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "parent_period":
            key = t[rule["key"]]
            (pstart, pend), codes = _lookup_distinct(
                key, parent_st, rule["parent_key"], [rule["parent_start"], rule["parent_end"]], state.encoded.get(rule["key"])
            )
            tol = pd.Timedelta(days=int(rule.get("start_tolerance_days", 0)))
            # per parent (distinct key): has a parent, earliest and latest allowed date
            has_parent = pstart.notna().to_numpy()
            lo = pstart - tol
            hi = pend.where(pend.notna(), cutoff)  # open end: up to the cutoff
            d = t[rule["field"]]
            if codes is not None and all(x.dtype == "datetime64[ns]" for x in (d, lo, hi)):
                # NumPy on the rows (NaT compares False, as pandas' NA -> False below)
                lo, hi, dn = lo.to_numpy()[codes], hi.to_numpy()[codes], d.to_numpy()
                viol = has_parent[codes] & ((dn < lo) | (dn > hi))
            else:
                if codes is not None:
                    has_parent = has_parent[codes]
                    lo, hi = _expand(lo, codes, key.index), _expand(hi, codes, key.index)
                viol = has_parent & (_b(d < lo) | _b(d > hi))
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "after_birth":
            by = _lookup(t[rule["key"]], parent_st, rule["parent_key"], rule["birth_year"], state.encoded.get(rule["key"]))
            viol = _b(_year(t[rule["field"]]) < pd.array(by, dtype="Int64"))
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "no_overlap":
            k, s_, e_ = rule["key"], rule["start"], rule["end"]
            d = pd.DataFrame({"k": t[k], "s": t[s_], "e": t[e_].where(t[e_].notna(), cutoff)})
            d["pos"] = np.arange(len(d))
            d = d.dropna(subset=["k", "s"]).sort_values(["k", "s", "pos"], kind="mergesort")
            d["cummax_end"] = d.groupby("k", sort=False)["e"].cummax()
            prev_end = d.groupby("k", sort=False)["cummax_end"].shift(1)
            over = (d["s"] < prev_end).fillna(False).to_numpy(dtype=bool)
            viol = np.zeros(len(t), dtype=bool)
            viol[d["pos"].to_numpy()[over]] = True
            issues.rows(name, data, viol, s_, rid, sev, msgs)
        else:
            raise ValueError(f"table {name}: rule {rid} has an unknown kind {kind!r}")


def _check_foreign_keys(
    name: str, state: _TableState, states: dict[str, _TableState], issues: _Issues
) -> None:
    t, data = state.typed, state.raw.data
    unchecked: set[str] = set()
    for fk in state.resource.foreign_keys:
        parent = fk["reference"]["resource"]
        ps = states.get(parent)
        if ps is None or not ps.available:
            unchecked.add(parent)
            continue
        cf, pf = fk["fields"], fk["reference"]["fields"]
        cf = [cf] if isinstance(cf, str) else list(cf)
        pf = [pf] if isinstance(pf, str) else list(pf)
        complete = np.logical_and.reduce([_notna(state, c) for c in cf])
        if len(cf) == 1:
            pkeys = ps.first_rows(pf[0])[0]
            found = _per_value(state, cf[0], lambda x, pk=pkeys: x.isin(pk).to_numpy())
        else:
            idx = pd.MultiIndex.from_frame(ps.typed[pf].dropna())
            found = pd.MultiIndex.from_frame(t[cf]).isin(idx)
        viol = complete & ~found
        label = ",".join(cf)
        issues.rows(name, data, viol, label, "foreign_key", "error", _msg("foreign_key", field=label, parent=parent), value_col=cf[0])
    for rule in state.resource.rules:
        if "parent" in rule:
            ps = states.get(rule["parent"])
            if ps is None or not ps.available:
                unchecked.add(rule["parent"])
    for parent in sorted(unchecked):
        issues.table(name, None, "foreign_key", "warning", _msg("foreign_key_unchecked", parent=parent))


def _filter_rows(df: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``df[keep]`` (same columns, dtypes and values), column by column on the arrays:
    a third of the time of pandas' boolean row indexing on wide frames."""
    cols = {}
    for c in df.columns:
        arr = df[c].array
        # (np.asarray: NumpyExtensionArray.to_numpy would scan an object column for missing values)
        cols[c] = np.asarray(arr)[keep] if isinstance(arr, pd.arrays.NumpyExtensionArray) else arr[keep]
    return pd.DataFrame(cols, copy=False)


def validate_intake(
    path_or_raw: str | Path | RawIntake,
    language: str = "en",
    contract: Contract | None = None,
) -> ValidationResult:
    """Validate an intake against the data contract.

    Parameters
    ----------
    path_or_raw : path or RawIntake
        Intake folder (read with :func:`evaluation.intake.read.read_intake`, with
        unreadable tables recorded as blocking issues) or an intake already read.
    language : {"en", "nl"}
        Language of ``issues.message`` and of the default summary.
    contract : Contract, optional
        Defaults to :func:`evaluation.contract.schema.load_contract`.

    Returns
    -------
    ValidationResult

    Raises
    ------
    IntakeError
        When the folder itself cannot be read (see ``read_intake``).
    RuntimeError
        If the reconciliation ``rows_read == rows_accepted + rows_quarantined``
        ever fails (a bug, never a data problem).

    Notes
    -----
    All checks are vectorised over rows (pandas/NumPy/Arrow). Columns whose
    values repeat (codes, dates, amounts, foreign keys) are stripped, typed
    and checked once per distinct value and the results expanded to the rows
    (an Arrow dictionary per column); the outcome is the same as checking
    every cell. See the module docstring for the decisions on duplicates,
    foreign keys of quarantined parents and overlapping periods.
    """
    _check_language(language)
    contract = contract or load_contract()
    raw = path_or_raw if isinstance(path_or_raw, RawIntake) else read_intake(
        path_or_raw, contract=contract, unreadable="record"
    )
    issues = _Issues()
    for ign in raw.ignored:
        issues.table("(intake)", ign, "unknown_table", "warning", _msg("unknown_table", field=ign))
    states: dict[str, _TableState] = {}
    for name in _table_order(contract):
        res = contract.resources[name]
        rt = raw.tables.get(name)
        st = _TableState(resource=res, raw=rt)
        states[name] = st
        if rt is None:
            if name in contract.required_tables:
                issues.table(name, None, "missing_table", "error", _msg("missing_table", table=name))
                st.blocked = "missing_table"
            continue
        cache: dict[str, tuple] = {}
        st.blocked = _check_columns(name, rt, res, contract, issues, cache)
        if st.blocked:
            continue
        st.typed = _type_and_check_fields(name, rt, res, contract, issues, cache, st.encoded)
        st.available = True
    programme_ids = {p["programme_id"] for p in raw.programmes}
    for name, st in states.items():
        if st.available:
            _check_foreign_keys(name, st, states, issues)
            _apply_rules(name, st, states, programme_ids, raw.cutoff_date, issues)
    all_issues = issues.frame()

    tables: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    recon: list[dict[str, Any]] = []
    for name in contract.table_names:
        st = states[name]
        res = st.resource
        if st.raw is None:
            tables[name] = _empty_typed(res)
            if st.blocked:
                recon.append({"table": name, "rows_read": 0, "rows_accepted": 0, "rows_quarantined": 0, "blocking": True})
            continue
        data = st.raw.data
        n_read = len(data)
        if st.blocked:
            tables[name] = _empty_typed(res)
            id_cols = set(
                all_issues.loc[(all_issues["table"] == name) & (all_issues["rule"] == "identifier_column"), "field"]
            )
            q = data[[c for c in data.columns if c not in id_cols]].copy()
            en, nl = _msg("blocked_row", table=name, rule=st.blocked)
            q["_rules"] = st.blocked
            q["_messages"] = en if language == "en" else nl
        else:
            mine = all_issues[(all_issues["table"] == name) & (all_issues["level"] == "row")]
            err = mine[mine["severity"] == "error"]
            bad_pos = np.unique(err["_pos"].to_numpy())
            keep = np.ones(n_read, dtype=bool)
            keep[bad_pos] = False
            accepted = st.typed if keep.all() else _filter_rows(st.typed, keep)
            accepted.index = pd.RangeIndex(len(accepted))  # (reset_index would copy every column)
            tables[name] = accepted
            q = data.iloc[bad_pos].copy()
            if len(bad_pos):
                # per row: its distinct rules and messages in issue order, "; "-joined
                rules: dict[int, dict[str, None]] = {}
                texts: dict[int, dict[str, None]] = {}
                for p, r, m in zip(err["_pos"].tolist(), err["rule"].tolist(),
                                   err[f"message_{language}"].tolist(), strict=True):
                    rules.setdefault(p, {})[r] = None
                    texts.setdefault(p, {})[m] = None
                q["_rules"] = np.array(["; ".join(rules[p]) for p in bad_pos.tolist()], dtype=object)
                q["_messages"] = np.array(["; ".join(texts[p]) for p in bad_pos.tolist()], dtype=object)
            else:
                q["_rules"] = pd.Series([], dtype=object)
                q["_messages"] = pd.Series([], dtype=object)
        q = q.reset_index(drop=True)
        if len(q):
            quarantine[name] = q
        n_acc, n_q = len(tables[name]), len(q)
        if n_read != n_acc + n_q:
            raise RuntimeError(
                f"reconciliation failed for table {name}: read {n_read}, accepted {n_acc}, quarantined {n_q}"
            )
        recon.append(
            {"table": name, "rows_read": n_read, "rows_accepted": n_acc, "rows_quarantined": n_q, "blocking": bool(st.blocked)}
        )
    reconciliation = pd.DataFrame(recon, columns=RECONCILIATION_COLUMNS)
    reconciliation["blocking"] = reconciliation["blocking"].astype(bool)
    all_issues = all_issues.drop(columns="_pos")
    return ValidationResult(
        tables=tables,
        quarantine=quarantine,
        issues_all=all_issues,
        reconciliation=reconciliation,
        programmes=raw.programmes,
        cutoff_date=raw.cutoff_date,
        language=language,
        intake_path=raw.path,
        extract=raw.extract,
        ignored=list(raw.ignored),
    )


# ------------------------------------------------------------ interoperability


def to_frictionless_schema(resource: Resource, contract: Contract, keys: bool = False) -> dict[str, Any]:
    """A plain Frictionless Table Schema descriptor for one contract table.

    Keeps each field's ``name``, ``type`` and ``constraints``; drops the
    contract's extra properties (titles, Dutch texts, ``codes``, ``rules``);
    boolean fields get the contract's ``trueValues``/``falseValues``; the
    table's ``missingValues`` are kept. Dates are left at the Frictionless
    default format, i.e. ISO ``YYYY-MM-DD`` only (the Dutch ``DD-MM-YYYY``
    accepted by :func:`validate_intake` is not). Primary and foreign keys are
    included only with ``keys=True`` (foreign keys need the whole package).

    Used by the tests and the benchmark to compare this validator with the
    reference implementation (``frictionless.validate``).
    """
    fields = []
    for f in resource.fields:
        out: dict[str, Any] = {"name": f["name"], "type": f["type"]}
        if f.get("constraints"):
            out["constraints"] = dict(f["constraints"])
        if f["type"] == "boolean":
            out["trueValues"] = contract.true_values
            out["falseValues"] = contract.false_values
        fields.append(out)
    schema: dict[str, Any] = {
        "fields": fields,
        "missingValues": list(resource.descriptor["schema"].get("missingValues", [""])),
    }
    if keys and resource.primary_key:
        schema["primaryKey"] = resource.primary_key
    return schema


# ------------------------------------------------------------------------ output


def _write_private(path: Path, text: str) -> None:
    """Write text to a file readable by the owner only (mode 0o600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def write_validation_outputs(result: ValidationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``validation_report.json``, ``validation_summary.txt`` and ``quarantine/<table>.csv``.

    The report and the quarantine files hold row-level values: they are
    created with mode 0o600 and the quarantine folder with 0o700. Stale
    quarantine files of tables without quarantined rows are removed.

    Returns
    -------
    dict
        ``{"report": path, "summary": path, "quarantine": folder}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "validation_report.json"
    _write_private(report, result.to_json())
    summary = out / "validation_summary.txt"
    summary.write_text(result.summary(result.language), encoding="utf-8")
    qdir = out / "quarantine"
    qdir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(qdir, 0o700)
    for old in qdir.glob("*.csv"):
        if old.stem not in result.quarantine:
            old.unlink()
    for name, q in result.quarantine.items():
        _write_private(qdir / f"{name}.csv", q.to_csv(index=False))
    return {"report": report, "summary": summary, "quarantine": qdir}


# --------------------------------------------------------------------------- CLI


def configure_parser(p) -> None:
    """Arguments of ``evaluation validate``."""
    p.add_argument("intake_dir", help="intake folder")
    p.add_argument("--out", default=None, help="output folder (default INTAKE_DIR/_validation)")
    p.add_argument("--language", choices=LANGUAGES, default="en", help="language of messages and summary")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the summary")


def main(args) -> int:
    """Run ``evaluation validate``: exit 0 without errors (warnings allowed), 2 with errors."""
    import sys

    try:
        result = validate_intake(args.intake_dir, language=args.language)
    except IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.intake_dir) / "_validation"
    paths = write_validation_outputs(result, out)
    if args.json:
        print(result.to_json())
    else:
        print(result.summary(args.language))
        label = "Rapport" if args.language == "nl" else "Report"
        print(f"{label}: {paths['report']}")
    return 0 if result.ok else 2
