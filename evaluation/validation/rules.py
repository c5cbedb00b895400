"""The checks of the validator: table-level, field-level, foreign keys and the contract's rules.

Each check adds rows to an :class:`evaluation.validation.issues._Issues`
collector; :func:`evaluation.validation.validate.validate_intake` runs them in
order (parents before children) and decides which rows are quarantined. The
decisions these checks embody are listed in the docstring of
:mod:`evaluation.validation.validate`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.identifiers import eleven_test, normalise_column_name
from evaluation.contract.instruments import instrument_specs
from evaluation.contract.schema import Contract, Resource, load_contract
from evaluation.intake.read import ROW_COLUMN, RawTable
from evaluation.validation.fastpaths import (
    _arrow,
    _b,
    _byte_length_is,
    _dictionary,
    _duplicated_text,
    _expand,
    _fullmatch,
    _hash_candidates,
    _isin_text,
    _mask,
    _needs_strip,
    _parse_encoded,
    _string_buffers,
    _take_mask,
    _text_mask,
)
from evaluation.validation.issues import _TYPE_NAMES, _Issues, _msg


def bsn_like(values: pd.Series) -> np.ndarray:
    """Boolean mask: the text, stripped of surrounding spaces, is a BSN.

    The one check of :func:`evaluation.contract.identifiers.is_bsn` (nine
    digits passing the eleven-test, not all zero), vectorised over the cells.
    """
    s = _arrow(values).str.strip()
    nine = _mask(s.str.fullmatch(r"\d{9}"))
    out = np.zeros(len(s), dtype=bool)
    if nine.any():
        digits = np.frombuffer("".join(s[nine].tolist()).encode("ascii"), dtype=np.uint8)
        out[nine] = eleven_test((digits - ord("0")).astype(np.int64).reshape(-1, 9))
    return out


#: Names an extra covariate may not take: the intake covariates derived from participants
#: (evaluation.datasets.recidivism.COVARIATES; age_at_intake is derived, not a field).
RESERVED_COVARIATES = frozenset({"age_at_intake", "programme_id", "group", "treated", "weight", "cluster"})
COVARIATE_TYPES = ("numeric", "binary", "categorical")


def declared_covariates(extract: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The extra baseline covariates declared in ``extract.yaml`` (``covariates``), by name.

    Each value is the declaration (``name``, ``type`` in :data:`COVARIATE_TYPES`,
    optional ``levels`` and titles); see docs/methods.md, section
    'Comparison groups and designs'.
    """
    out: dict[str, dict[str, Any]] = {}
    for spec in (extract or {}).get("covariates", []) or []:
        if spec.get("type") not in COVARIATE_TYPES:
            raise ValueError(f"extract.yaml: covariate {spec.get('name')!r} has type {spec.get('type')!r}; "
                             f"choose from {list(COVARIATE_TYPES)}")
        out[str(spec["name"])] = dict(spec)
    return out


def contract_values(state: Any = None) -> tuple[list[str], list[str]]:
    """The contract's true and false spellings (``x_true_values``, ``x_false_values``)."""
    c = load_contract()
    return c.true_values, c.false_values


def parse_covariate_values(
    values: pd.Series, spec: Mapping[str, Any], true_false: tuple[list[str], list[str]],
    missing_values: list[str] | tuple[str, ...] = ("",),
) -> tuple[pd.Series, np.ndarray]:
    """Type the text values of one extra covariate by its declaration.

    Returns ``(typed, bad)``: numeric -> float (a decimal comma is read as a
    point), binary -> 1.0/0.0 from the contract's true/false spellings,
    categorical -> the stripped text (which must be one of ``levels`` when
    declared); missing text -> NaN/None. ``bad`` marks non-missing text that
    does not fit the type. The validator and the analysis dataset use this
    same function, so a value accepted by one is read alike by the other.
    """
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: None if v is None else str(v).strip())
    miss = text.map(lambda v: v is None or v in set(missing_values) or v == "").to_numpy(dtype=bool)
    kind = spec["type"]
    if kind == "numeric":
        def num(v):
            try:
                x = float(v.replace(",", ".") if ("," in v and "." not in v) else v)
            except (ValueError, AttributeError):
                return np.nan
            return x if np.isfinite(x) else np.nan
        typed = pd.Series([np.nan if m else num(v) for v, m in zip(text, miss, strict=True)], index=values.index,
                          dtype=float)
        bad = ~miss & typed.isna().to_numpy()
    elif kind == "binary":
        yes, no = set(true_false[0]), set(true_false[1])
        typed = pd.Series([np.nan if m else (1.0 if v in yes else 0.0 if v in no else np.nan)
                           for v, m in zip(text, miss, strict=True)], index=values.index, dtype=float)
        bad = ~miss & typed.isna().to_numpy()
    else:
        typed = pd.Series([None if m else v for v, m in zip(text, miss, strict=True)], index=values.index, dtype=object)
        levels = spec.get("levels")
        bad = ~miss & (~typed.isin(list(levels)).to_numpy() if levels else np.zeros(len(typed), dtype=bool))
    return typed, np.asarray(bad, dtype=bool)


def period_last_day(dates: pd.Series, precision: pd.Series) -> pd.Series:
    """Last day of the period a date stands for: the date itself (``day`` or missing
    precision), the date + 6 days (``week``) or the last day of its month (``month``)."""
    d = pd.to_datetime(dates)
    p = precision.astype(object)
    week = (p == "week").to_numpy(dtype=bool)
    month = (p == "month").to_numpy(dtype=bool)
    out = d.copy()
    if week.any():
        out[week] = d[week] + pd.Timedelta(days=6)
    if month.any():
        out[month] = d[month] + pd.offsets.MonthEnd(0)
    return out


def _limit(value: Any, ftype: str) -> Any:
    if ftype == "date":
        return pd.Timestamp(value)
    return value




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
        cache[col] = _text_entry(_arrow(raw.data[col]), distinct, raw.dictionaries.get(col))
    return cache[col]


def _text_entry(text: pd.Series, distinct: bool, enc=None) -> tuple:
    """The work of :func:`_column_text` on one column (pyarrow string Series; ``enc``: its
    Arrow dictionary encoding if made while reading)."""
    if not distinct and len(text) > 1:
        codes, uniq = _dictionary(text, enc)
        if 2 * len(uniq) <= len(text):
            return None, (codes, uniq.str.strip())
    return (text.str.strip() if _needs_strip(text) else text), None


_PARALLEL_ROWS = 50_000
"""Tables with at least this many rows have their column texts prepared on two threads."""


def _prepare_column_texts(raw: RawTable, cols: list[str], cache: dict[str, tuple], distinct: set[str]) -> None:
    """Fill ``cache`` as :func:`_column_text` would for ``cols``, two columns at a time on long tables.

    Arrow's hashing and string kernels release the GIL, so on a machine with
    two cores the columns of a long table take about half the wall time;
    each column's result is the same as computed alone.
    """
    todo = [c for c in cols if c not in cache]
    if len(raw.data) < _PARALLEL_ROWS or len(todo) < 2 or (os.cpu_count() or 1) < 2:
        return
    texts = {c: _arrow(raw.data[c]) for c in todo}  # (pandas column access stays on this thread)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="column-text") as pool:
        done = {c: pool.submit(_text_entry, texts[c], c in distinct, raw.dictionaries.get(c)) for c in todo}
        for c, fut in done.items():
            cache[c] = fut.result()


def _distinct_fields(res: Resource) -> set[str]:
    """Fields meant to hold distinct values (``unique`` or the one-field primary key)."""
    out = {f["name"] for f in res.fields if f.get("constraints", {}).get("unique")}
    if len(res.primary_key or []) == 1:
        out.add(res.primary_key[0])
    return out


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
    _prepare_column_texts(raw, [c for c in raw.columns if normalise_column_name(c) not in id_names], cache, distinct)
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
    parsed, buffers, candidates = _parse_fields(raw, res, contract, cache, distinct, missing_values)
    for f in res.fields:
        fname, ftype = f["name"], f["type"]
        cons = f.get("constraints", {})
        if fname not in data.columns:
            typed[fname] = _empty_typed(res, [fname])[fname].reindex(range(n))
            missing_masks[fname] = np.ones(n, dtype=bool)
            continue
        text, col, missing, bad, encoded = parsed[fname]
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
        bufs = buffers.get(fname)
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
                dup = _duplicated_text(bufs, tv.to_numpy(dtype=object), valid, candidates.get(fname))
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


def _parse_fields(raw: RawTable, res: Resource, contract: Contract, cache: dict[str, tuple], distinct: set[str],
                  missing_values: list[str]) -> tuple[dict[str, tuple], dict[str, tuple], dict[str, np.ndarray]]:
    """Every present contract field typed: ``fname -> (text, typed, missing, bad, encoded)``
    (:func:`evaluation.validation.fastpaths._parse_encoded` on the column text), the Arrow
    buffers of identifier-like text typed cell by cell that has a pattern or unique constraint
    (``fname -> bufs``), and for such unique text its hash candidates (``fname -> positions``,
    :func:`evaluation.validation.fastpaths._hash_candidates` on all rows).

    On long tables two threads share the work (Arrow and NumPy release the GIL
    in most of it); each result is the same as computed alone.
    """
    n = len(raw.data)
    todo = [f for f in res.fields if f["name"] in raw.data.columns]
    # distinct-value typing pays off unless the values are meant to be distinct (column texts on this thread)
    texts = {f["name"]: _column_text(raw, f["name"], cache, f["name"] in distinct) for f in todo}
    buffers: dict[str, tuple] = {}
    for f in todo:
        cons = f.get("constraints", {})
        text, pre = texts[f["name"]]
        if f["type"] == "string" and pre is None and n > 1000 and ("pattern" in cons or "unique" in cons):
            bufs = _string_buffers(text)
            if bufs is not None:
                buffers[f["name"]] = bufs

    def parse(f: dict) -> tuple:
        text, pre = texts[f["name"]]
        col, missing, bad, encoded = _parse_encoded(
            text, f["type"], contract, missing_values, raw.decimal_comma, False, pre
        )
        return text, col, missing, bad, encoded

    uniq = [k for k, f in ((f["name"], f) for f in todo) if k in buffers and f.get("constraints", {}).get("unique")]
    if n < _PARALLEL_ROWS or (os.cpu_count() or 1) < 2:
        return {f["name"]: parse(f) for f in todo}, buffers, {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="parse-fields") as pool:
        hashed = {k: pool.submit(_hash_candidates, buffers[k]) for k in uniq}
        # text typed cell by cell (Python strings: holds the GIL) first, the rest alongside
        order = sorted(todo, key=lambda f: texts[f["name"]][1] is not None)
        futures = {f["name"]: pool.submit(parse, f) for f in order}
        parsed = {k: fut.result() for k, fut in futures.items()}
        candidates = {k: fut.result() for k, fut in hashed.items()}
    return parsed, buffers, candidates


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


def _apply_rules(
    name: str,
    state: _TableState,
    states: dict[str, _TableState],
    programme_ids: set[str],
    cutoff: pd.Timestamp,
    issues: _Issues,
    extract: Mapping[str, Any] | None = None,
) -> None:
    """Evaluate the resource ``rules`` of one table (vectorised).

    ``extract`` is the content of ``extract.yaml``; its ``covariates`` declare
    the covariates that ``declared_covariate`` and ``covariate_value`` rules
    check (none declared when absent).
    """
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
        elif kind == "maximum_when":
            viol = _cond(state, rule["when"]) & _b(t[rule["field"]] > rule["maximum"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "period_start":
            d, prec = t[rule["field"]], t[rule["precision"]]
            viol = (_b(prec == "week") & _b(d.dt.dayofweek != 0)) | (_b(prec == "month") & _b(d.dt.day != 1))
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "imprecise_period_contains":
            pdate = _lookup(t[rule["key"]], parent_st, rule["parent_key"], rule["parent_date"], state.encoded.get(rule["key"]))
            d = t[rule["field"]]
            last = period_last_day(d, t[rule["precision"]])
            viol = _b(t[rule["precision"]].isin(["week", "month"])) & _b(d <= pdate) & _b(pdate <= last)
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "declared_covariate":
            declared = declared_covariates(extract)
            reserved = set(states["participants"].resource.field_names) if "participants" in states else set()
            ok = {c for c in declared if c not in reserved and c not in RESERVED_COVARIATES}
            viol = _per_value(state, rule["field"], lambda x, k=ok: x.notna().to_numpy() & ~x.isin(k).to_numpy())
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "covariate_value":
            declared = declared_covariates(extract)
            viol = np.zeros(len(t), dtype=bool)
            cov = t[rule["covariate"]]
            missing = state.resource.descriptor["schema"].get("missingValues", [""])
            for cname, spec in declared.items():
                m = _b(cov == cname) & _notna(state, rule["field"])
                if m.any():
                    _, bad = parse_covariate_values(t.loc[m, rule["field"]], spec, contract_values(state), missing)
                    viol[np.flatnonzero(m)[bad]] = True
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind in ("declared_instrument", "instrument_domain", "instrument_score"):
            viol = _instrument_violations(kind, rule, state, extract)
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "occasion_not_before_first":
            viol = _before_first_occasion(t, rule)
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "unique_when":
            keys = list(rule["keys"])
            m = np.ones(len(t), dtype=bool)
            for col, allowed in rule["when"].items():
                m &= _per_value(state, col, lambda x, a=list(allowed): _b(x.isin(a)))
            for col in keys:
                m &= _notna(state, col)
            viol = np.zeros(len(t), dtype=bool)
            if m.any():
                viol[np.flatnonzero(m)[t.loc[m, keys].duplicated(keep="first").to_numpy()]] = True
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "absent_without":
            viol = _notna(state, rule["field"]) & ~_notna(state, rule["without"])
            issues.rows(name, data, viol, rule["field"], rid, sev, msgs)
        elif kind == "must_be_true":
            viol = ~_per_value(state, rule["field"], lambda x: _b(x == True))  # noqa: E712 (NA -> not true)
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


def _instrument_violations(kind: str, rule: dict[str, Any], state: _TableState,
                           extract: Mapping[str, Any] | None) -> np.ndarray:
    """Rows breaking an instrument rule (docs/methods.md, section 'Data quality').

    ``declared_instrument``: the instrument is neither a contract instrument
    (``x_instruments``) nor declared in ``extract.yaml``; ``instrument_domain``:
    the domain is not one of the (known) instrument's domains;
    ``instrument_score``: the score lies outside the (known) instrument's range.
    Rows with an unknown instrument are reported only by ``declared_instrument``.
    """
    t = state.typed
    specs = instrument_specs(extract)
    if kind == "declared_instrument":
        return _per_value(state, rule["field"], lambda x: x.notna().to_numpy() & ~x.isin(list(specs)).to_numpy())
    viol = np.zeros(len(t), dtype=bool)
    inst = t[rule["instrument"]]
    value = t[rule["field"]]
    for spec in specs.values():
        m = _b(inst == spec.name) & value.notna().to_numpy()
        if not m.any():
            continue
        if kind == "instrument_domain":
            viol[m] = ~value[m].isin(list(spec.domains)).to_numpy()
        else:
            v = value[m].astype(float).to_numpy()
            viol[m] = (v < spec.score_min) | (v > spec.score_max)
    return viol


def _before_first_occasion(t: pd.DataFrame, rule: dict[str, Any]) -> np.ndarray:
    """Rows of another occasion dated before the earliest ``first``-occasion row of the same keys.

    Rows without a date, an occasion or a key are not evaluated; keys without
    a ``first`` row have nothing to compare with.
    """
    keys, date, occ = list(rule["keys"]), rule["field"], rule["occasion"]
    d = t[keys + [date, occ]].copy()
    d["_pos"] = np.arange(len(d))
    d = d.dropna(subset=keys + [date, occ])
    first = d[d[occ] == rule["first"]].groupby(keys, sort=False)[date].min().rename("_first").reset_index()
    other = d[d[occ] != rule["first"]].merge(first, on=keys, how="inner")
    viol = np.zeros(len(t), dtype=bool)
    viol[other.loc[other[date] < other["_first"], "_pos"].to_numpy(dtype=np.int64)] = True
    return viol


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
