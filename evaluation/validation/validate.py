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

Where the parts are
-------------------
This module assembles the result (:func:`validate_intake`,
:class:`ValidationResult`) and holds the command line. The checks are in
:mod:`evaluation.validation.rules`, their messages in
:mod:`evaluation.validation.issues`, the Arrow and byte-level typing and
matching in :mod:`evaluation.validation.fastpaths`, and the private output
files in :mod:`evaluation.validation.outputs`.

References
----------
Frictionless Data Table Schema specification, https://specs.frictionlessdata.io/table-schema/
"""


from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.schema import Contract, Resource, load_contract
from evaluation.intake.read import CsvPrefetch, IntakeError, RawIntake, read_intake
from evaluation.validation.fastpaths import parse_column
from evaluation.validation.issues import (
    ISSUE_COLUMNS,
    LANGUAGES,
    RECONCILIATION_COLUMNS,
    _check_language,
    _Issues,
    _msg,
)
from evaluation.validation.outputs import write_validation_outputs
from evaluation.validation.rules import (
    _apply_rules,
    _check_columns,
    _check_foreign_keys,
    _empty_typed,
    _table_order,
    _TableState,
    _type_and_check_fields,
    bsn_like,
    normalise_column_name,
)

__all__ = [
    "ISSUE_COLUMNS",
    "LANGUAGES",
    "RECONCILIATION_COLUMNS",
    "ValidationResult",
    "bsn_like",
    "normalise_column_name",
    "parse_column",
    "to_frictionless_schema",
    "validate_intake",
    "write_validation_outputs",
]


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
    language: str = "nl"
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
    language: str = "nl",
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
            _apply_rules(name, st, states, programme_ids, raw.cutoff_date, issues, extract=raw.extract)
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


# --------------------------------------------------------------------------- CLI


def run_command(args, prefetch: CsvPrefetch | None = None, after: Any = None) -> int:
    """The work of ``evaluation validate`` (options in :mod:`evaluation.validation.command`):
    exit 0 without errors (warnings allowed), 2 with errors. ``after(result, language)``, if
    given, runs after the summary is printed (not with ``--json``)."""
    try:
        raw = read_intake(args.intake_dir, unreadable="record", prefetch=prefetch)
        result = validate_intake(raw, language=args.language)
    except IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.intake_dir) / "_validation"
    try:
        paths = write_validation_outputs(result, out)
    except OSError as exc:  # (SymlinkError included: a link planted as the output folder)
        print(f"error: cannot write the validation report to {out}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(result.to_json())
    else:
        print(result.summary(args.language))
        label = "Rapport" if args.language == "nl" else "Report"
        print(f"{label}: {paths['report']}")
        if after is not None:
            after(result, args.language)
    return 0 if result.ok else 2
