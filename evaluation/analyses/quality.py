"""Data-quality tables from a :class:`evaluation.validation.validate.ValidationResult`.

Tidy, aggregate tables (no row-level values) for the data-quality notebook:

* :func:`reconciliation_table`: rows read / accepted / quarantined per table
  (optionally per programme);
* :func:`issues_by_rule`: errors and warnings by table and rule;
* :func:`completeness`: share of filled cells of every field, per table and per
  programme;
* :func:`quality_results`: the share of rows accepted per table as
  ``RESULT_COLUMNS`` rows, with a Wilson 95% interval;

Wording, the figure and writing the files belong to the publishing step
(:mod:`evaluation.publish.quality_outputs`).

Counts describe *rows*, not people (a person has many contacts); they are
descriptive, never causal.

Programme of a row
------------------
``participants``, ``volunteers`` and ``costs`` carry ``programme_id``; other
tables reach it through their first foreign key, recursively (contacts ->
matches -> participants). The parent rows used for that lookup are all rows
in the file (accepted and quarantined), so a quarantined child row still gets
its programme. A row whose programme cannot be found, or whose
``programme_id`` is not in ``programmes.yaml``, is labelled ``"(unknown)"``
(so no delivered free text is echoed into published outputs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.contract.results import make_results
from evaluation.contract.schema import Contract, load_contract
from evaluation.stats.proportions import wilson_interval  # noqa: F401  (re-exported)
from evaluation.validation.validate import ValidationResult

UNKNOWN_PROGRAMME = "(unknown)"


# ------------------------------------------------------------------ programmes


def _strip_text(df: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows are raw text: strip it so keys match the typed tables."""
    return df.apply(lambda s: s.astype("string").str.strip().astype(object) if s.dtype == object else s)


class _ProgrammeResolver:
    """Programme of rows of any table, through programme_id or the foreign-key chain."""

    def __init__(self, result: ValidationResult, contract: Contract):
        self.result, self.contract = result, contract
        self.maps: dict[str, pd.Series | None] = {}
        self.resolving: set[str] = set()

    def _all_rows(self, name: str) -> pd.DataFrame:
        acc = self.result.tables[name]
        q = self.result.quarantine.get(name)
        if q is None or q.empty:
            return acc
        qq = _strip_text(q.reindex(columns=acc.columns).astype(object))
        return pd.concat([acc.astype(object), qq], ignore_index=True)

    def key_map(self, name: str) -> pd.Series | None:
        """Key value -> programme_id for a table with a single-field primary key."""
        if name in self.maps:
            return self.maps[name]
        pk = self.contract.resources[name].primary_key
        if len(pk) != 1:
            self.maps[name] = None
            return None
        self.resolving.add(name)
        df = self._all_rows(name)
        prog = self.programmes_of(name, df)
        s = pd.Series(prog.to_numpy(), index=df[pk[0]].to_numpy())
        s = s[~pd.isna(s.index)]
        self.maps[name] = s[~s.index.duplicated(keep="first")]
        self.resolving.discard(name)
        return self.maps[name]

    def programmes_of(self, name: str, df: pd.DataFrame) -> pd.Series:
        res = self.contract.resources[name]
        if "programme_id" in res.field_names:
            return df["programme_id"]
        for fk in res.foreign_keys:
            cf = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
            parent = fk["reference"]["resource"]
            if len(cf) == 1 and parent not in self.resolving:
                pmap = self.key_map(parent)
                if pmap is not None:
                    return df[cf[0]].map(pmap)
        return pd.Series(np.nan, index=df.index, dtype=object)


def row_programmes(result: ValidationResult, table: str, rows: str = "accepted",
                   contract: Contract | None = None) -> pd.Series:
    """Programme of every accepted (or quarantined) row of ``table``.

    Parameters
    ----------
    rows : {"accepted", "quarantined"}
    """
    contract = contract or load_contract()
    resolver = _ProgrammeResolver(result, contract)
    if rows == "accepted":
        df = result.tables[table]
    elif rows == "quarantined":
        df = result.quarantine.get(table, pd.DataFrame(columns=result.tables[table].columns))
        df = _strip_text(df.reindex(columns=result.tables[table].columns).astype(object))
    else:
        raise ValueError(f"rows must be 'accepted' or 'quarantined', not {rows!r}")
    prog = resolver.programmes_of(table, df) if len(df) else pd.Series([], dtype=object)
    # values not in programmes.yaml (quarantined rows) are not echoed into outputs
    known = {p["programme_id"] for p in result.programmes}
    return prog.astype(object).where(prog.isin(known), UNKNOWN_PROGRAMME).reset_index(drop=True)


def _check_programme(result: ValidationResult, programme_id: str) -> None:
    known = {p["programme_id"] for p in result.programmes}
    if programme_id != "all" and programme_id not in known:
        raise ValueError(
            f"programme_id {programme_id!r} is not in programmes.yaml ({', '.join(sorted(known))}) and is not 'all'"
        )


# ---------------------------------------------------------------------- tables


def reconciliation_table(result: ValidationResult, by_programme: bool = False,
                         contract: Contract | None = None) -> pd.DataFrame:
    """Rows read, accepted and quarantined per table (and programme).

    Returns
    -------
    DataFrame
        table, [programme_id,] rows_read, rows_accepted, rows_quarantined,
        share_accepted, blocking. With ``by_programme`` the rows of a refused
        table (quarantined as a whole) are attributed to programmes when the
        table's text allows it.
    """
    rec = result.reconciliation.copy()
    if not by_programme:
        with np.errstate(invalid="ignore", divide="ignore"):
            rec["share_accepted"] = np.where(rec["rows_read"] > 0, rec["rows_accepted"] / rec["rows_read"], np.nan)
        return rec[["table", "rows_read", "rows_accepted", "rows_quarantined", "share_accepted", "blocking"]]
    contract = contract or load_contract()
    parts = []
    for r in rec.itertuples(index=False):
        acc = row_programmes(result, r.table, "accepted", contract).value_counts()
        qua = row_programmes(result, r.table, "quarantined", contract).value_counts()
        progs = sorted(set(acc.index) | set(qua.index))
        for p in progs:
            a, q = int(acc.get(p, 0)), int(qua.get(p, 0))
            parts.append({"table": r.table, "programme_id": p, "rows_read": a + q, "rows_accepted": a,
                          "rows_quarantined": q, "blocking": bool(r.blocking)})
    out = pd.DataFrame(parts, columns=["table", "programme_id", "rows_read", "rows_accepted", "rows_quarantined",
                                       "blocking"])
    out["share_accepted"] = out["rows_accepted"] / out["rows_read"].where(out["rows_read"] > 0)
    return out[["table", "programme_id", "rows_read", "rows_accepted", "rows_quarantined", "share_accepted", "blocking"]]


def issues_by_rule(result: ValidationResult, language: str | None = None) -> pd.DataFrame:
    """Errors and warnings by table and rule: n_issues and n_rows (distinct rows), with a message.

    Table-level issues have ``n_rows`` 0. No row numbers or values.
    """
    lang = language or result.language
    counts = result.counts_by_rule()
    if counts.empty:
        return counts.assign(message=pd.Series([], dtype=object))
    msgs = (
        result.issues_in(lang)
        .groupby(["table", "rule", "severity"], sort=False)["message"]
        .agg(lambda m: m.iloc[0] if m.nunique() == 1 else f"{m.iloc[0]} (+{m.nunique() - 1})")
        .reset_index()
    )
    out = counts.merge(msgs, on=["table", "rule", "severity"], how="left")
    order = {"error": 0, "warning": 1}
    return out.sort_values(["severity", "n_issues"], key=lambda s: s.map(order) if s.name == "severity" else -s,
                           kind="mergesort").reset_index(drop=True)


def completeness(result: ValidationResult, by_programme: bool = False, programme_id: str = "all",
                 contract: Contract | None = None) -> pd.DataFrame:
    """Share of filled (non-missing) cells of every contract field in the accepted rows.

    Parameters
    ----------
    by_programme : bool
        Also split by programme (see the module notes on how child tables
        reach their programme).
    programme_id : str
        ``"all"`` or one programme (then only its rows).

    Returns
    -------
    DataFrame
        table, [programme_id,] field, required, n_rows, n_filled, share_filled.
        Tables with no accepted rows give ``n_rows`` 0 and NaN shares.
    """
    contract = contract or load_contract()
    _check_programme(result, programme_id)
    rows = []
    for name, res in contract.resources.items():
        df = result.tables[name]
        fields = res.field_names
        required = set(res.required_fields)
        if by_programme or programme_id != "all":
            prog = row_programmes(result, name, "accepted", contract).to_numpy()
        else:
            prog = np.full(len(df), "all", dtype=object)
        if programme_id != "all":
            keep = prog == programme_id
            df, prog = df[keep], prog[keep]
        filled = df[fields].notna()
        if not by_programme:
            prog = np.full(len(df), programme_id, dtype=object)
        groups = pd.unique(prog) if len(prog) else np.array([programme_id], dtype=object)
        for g in groups:
            sel = prog == g
            n = int(sel.sum())
            counts = filled[sel].sum() if n else pd.Series(0, index=fields)
            for f in fields:
                k = int(counts[f])
                rows.append({"table": name, "programme_id": g, "field": f, "required": f in required,
                             "n_rows": n, "n_filled": k, "share_filled": k / n if n else np.nan})
    out = pd.DataFrame(rows)
    cols = ["table", "programme_id", "field", "required", "n_rows", "n_filled", "share_filled"]
    return out[cols] if by_programme else out[[c for c in cols if c != "programme_id"]]


def quality_results(result: ValidationResult, programme_id: str = "all",
                    contract: Contract | None = None) -> pd.DataFrame:
    """Share of delivered rows accepted, per table and overall, as RESULT_COLUMNS rows.

    Estimand ``rows_accepted_share``: accepted rows / rows read (rows, not
    people), with a Wilson 95% interval (see :func:`wilson_interval`);
    ``n`` = rows read, ``events`` = rows quarantined. Descriptive
    (``causal=False``). Tables refused as a whole have estimate 0.
    """
    _check_programme(result, programme_id)
    if programme_id == "all":
        rec = reconciliation_table(result)
    else:
        rec = reconciliation_table(result, by_programme=True, contract=contract)
        rec = rec[rec["programme_id"] == programme_id]
    read = rec["rows_read"].to_numpy()
    acc = rec["rows_accepted"].to_numpy()
    tables = rec["table"].tolist() + ["(all tables)"]
    read = np.append(read, read.sum())
    acc = np.append(acc, acc.sum())
    lo, hi = wilson_interval(acc, read)
    rows = []
    for i, t in enumerate(tables):
        n = int(read[i])
        note = "counts rows, not people; interval treats rows as independent (too narrow when rows cluster)"
        if n < 30:
            note += "; fewer than 30 rows: interval is rough"
        rows.append({
            "programme_id": programme_id, "analysis": "data_quality", "estimand": "rows_accepted_share",
            "endpoint": "", "group": t, "estimate": acc[i] / n if n else np.nan,
            "ci_lower": lo[i], "ci_upper": hi[i], "p_value": np.nan, "n": n, "events": int(n - acc[i]),
            "method": "validation against the data contract; Wilson 95% interval", "causal": False, "note": note,
        })
    return make_results(rows)
