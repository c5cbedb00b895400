"""Results store: the key estimates of every quarterly run, queryable across quarters.

Layout (a Parquet dataset partitioned by quarter)::

    reports/results_store/quarter=2026Q3/part.parquet

Each partition holds the rows of :data:`evaluation.contract.results.RESULT_COLUMNS`
plus ``notebook``, ``quarter`` and ``run_id`` for one quarter. A rerun with
``--force`` replaces the quarter's partition (written to a temporary file in
the same folder and renamed, so a reader never sees half a file). The store
holds only aggregate estimates, never per-person rows.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.contract.results import RESULT_COLUMNS, make_results
from evaluation.intake.private import write_private
from evaluation.publish.writer import write_parquet

STORE_DIRNAME = "results_store"
STORE_COLUMNS: list[str] = RESULT_COLUMNS + ["notebook", "quarter", "run_id"]
_TEXT = ["programme_id", "analysis", "estimand", "endpoint", "group", "method", "note", "notebook", "quarter", "run_id"]
_NUMBERS = ["estimate", "ci_lower", "ci_upper", "p_value"]
_COUNTS = ["n", "events"]  # kept as published: "120", "<10" (disclosure control), "" when missing
_QUARTER = re.compile(r"([0-9]{4})Q([1-4])", re.ASCII)
_RATIO = re.compile(r"(ratio|^hr$|odds)", re.IGNORECASE)


def check_quarter(quarter: str) -> str:
    """Return ``quarter`` if it is exactly like ``2026Q3`` (ASCII digits); raise ValueError otherwise.

    Full-width or other non-ASCII digits (``"２０２６Q3"``), a trailing newline
    or spaces are refused: the quarter names a folder and a store partition.
    """
    if not isinstance(quarter, str) or not _QUARTER.fullmatch(quarter):
        raise ValueError(f"quarter must look like 2026Q3 (four ASCII digits, 'Q', 1-4), got {quarter!r}")
    return quarter


def store_dir(reports_dir: str | Path) -> Path:
    """Folder of the store inside a reports folder."""
    return Path(reports_dir) / STORE_DIRNAME


def _count_text(value: object) -> str:
    """A count as published: whole numbers without decimals, markers such as "<10" unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, str):
        v = value.strip()
        try:
            x = float(v)
        except ValueError:
            return v
    else:
        x = float(value)
    return str(int(x)) if x.is_integer() else repr(x)


def count_as_number(values: pd.Series) -> pd.Series:
    """Counts of the store as numbers; suppressed ("<10") and missing become NaN."""
    return pd.to_numeric(values, errors="coerce")


def normalise_results(df: pd.DataFrame, quarter: str, run_id: str, source: str = "results") -> pd.DataFrame:
    """Give a results table the store's columns and dtypes.

    ``estimate``, ``ci_lower``, ``ci_upper``, ``p_value`` become float;
    ``n`` and ``events`` are kept as published text (``"120"``, or ``"<10"``
    after small-cell suppression: see :func:`count_as_number`); ``causal`` is
    a nullable boolean. Raises ValueError naming ``source`` when a fixed
    column is missing or an estimate column holds text that is not a number
    (nothing is dropped).
    """
    check_quarter(quarter)
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing result columns {missing}")
    out = df.copy()
    if "notebook" not in out.columns:
        out["notebook"] = ""
    out["quarter"] = quarter
    out["run_id"] = run_id
    for c in _TEXT:
        out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str)
    for c in _NUMBERS:
        converted = pd.to_numeric(out[c], errors="coerce")
        bad = converted.isna() & out[c].notna() & (out[c].astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{source}: row {row + 1}, field {c!r}: {out[c].iloc[row]!r} is not a number")
        out[c] = converted.astype("float64")
    for c in _COUNTS:
        out[c] = out[c].map(_count_text)
    causal = out["causal"]
    out["causal"] = causal.map(
        lambda v: pd.NA if v is None or (isinstance(v, float) and math.isnan(v))
        else (str(v).strip().lower() in {"true", "1", "yes"} if isinstance(v, str) else bool(v))
    ).astype("boolean")
    return out[STORE_COLUMNS].reset_index(drop=True)


def stage_partition(path: str | Path, quarter: str, results: pd.DataFrame, run_id: str) -> Path:
    """Write the quarter's rows to the private file ``path`` (owner-only; not yet in the store)."""
    return write_private(path, normalise_results(results, quarter, run_id))


def _write_published_parquet(path: Path, df: pd.DataFrame) -> Path:
    """Write a store partition through the publishing step's writer (0644, no symbolic link).

    The partition holds :data:`STORE_COLUMNS` only (aggregate estimates, no identifier column).
    """
    if list(df.columns) != STORE_COLUMNS:
        raise ValueError(f"a store partition holds the columns {STORE_COLUMNS}, got {list(df.columns)}")
    return write_parquet(path, df)


def publish_partition(staged: str | Path, reports_dir: str | Path, quarter: str) -> Path:
    """Put a staged partition into the store, replacing the quarter's partition (atomic rename).

    Written next to the target first, so that a reader never sees half a file.
    """
    part_dir = store_dir(reports_dir) / f"quarter={check_quarter(quarter)}"
    part_dir.mkdir(parents=True, exist_ok=True)
    tmp = part_dir / f".part.parquet.tmp-{os.getpid()}"
    _write_published_parquet(tmp, pd.read_parquet(staged)[STORE_COLUMNS])
    target = part_dir / "part.parquet"
    os.replace(tmp, target)
    return target


def cleanup_temp_files(reports_dir: str | Path) -> list[Path]:
    """Remove temporary partition files left by interrupted runs; return them."""
    removed = []
    root = store_dir(reports_dir)
    if root.is_dir():
        for p in root.glob("quarter=*/.part.parquet.tmp-*"):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def read_store(reports_dir: str | Path, quarters: Iterable[str] | None = None,
               pending: str | Path | None = None) -> pd.DataFrame:
    """Read the results store as one DataFrame (columns :data:`STORE_COLUMNS`).

    Parameters
    ----------
    reports_dir : path
        The reports folder that holds ``results_store/``.
    quarters : iterable of str, optional
        Only these quarters.
    pending : path, optional
        A staged partition (Parquet) of a run not yet published; its quarter
        replaces the stored one. The trends notebook uses it to include the
        quarter being built.

    Returns
    -------
    DataFrame sorted by quarter, programme_id, analysis, estimand, endpoint, group;
    empty (with the columns) when the store does not exist.
    """
    frames = []
    root = store_dir(reports_dir)
    pending_df = pd.read_parquet(pending) if pending else None
    pending_quarters = set(pending_df["quarter"].unique()) if pending_df is not None else set()
    if root.is_dir():
        for part in sorted(root.glob("quarter=*/part.parquet")):
            q = part.parent.name.split("=", 1)[1]
            if q in pending_quarters:
                continue
            frames.append(pd.read_parquet(part))
    if pending_df is not None:
        frames.append(pending_df)
    if not frames:
        df = normalise_results(pd.DataFrame(columns=RESULT_COLUMNS), "2000Q1", "")
        return df.iloc[0:0]
    df = pd.concat(frames, ignore_index=True)
    if quarters is not None:
        wanted = {check_quarter(q) for q in quarters}
        df = df[df["quarter"].isin(wanted)]
    df = df[STORE_COLUMNS]
    return df.sort_values(["quarter", "programme_id", "analysis", "estimand", "endpoint", "group"],
                          kind="mergesort").reset_index(drop=True)


def is_ratio_estimand(estimand: str) -> bool:
    """True for estimands compared on the log scale (hazard/rate/odds ratios)."""
    return bool(_RATIO.search(str(estimand)))


def quarter_on_quarter(store: pd.DataFrame, exclude_analyses: Iterable[str] = ("trends",)) -> pd.DataFrame:
    """Change of each measure between its two latest quarters, with a 95% interval.

    Estimand: for each (programme_id, analysis, estimand, endpoint, group) seen
    in at least two quarters, the latest estimate minus the previous one
    (ratio estimands: the ratio of the two, compared on the log scale).

    Assumptions: the standard error of each quarter's estimate is recovered
    from its 95% interval as width / (2 x 1.96) (on the log scale for ratios),
    and the two quarters are treated as independent. Successive quarters share
    most of their people (cumulative cohorts), so they are positively
    correlated and this interval is conservative (too wide). A change between
    quarters is descriptive (``causal`` False), whatever the design behind the
    estimates.

    Returns
    -------
    DataFrame of RESULT_COLUMNS rows (analysis ``"trends"``) plus
    ``quarter_from`` and ``quarter_to``.
    """
    z = 1.959963984540054
    keys = ["programme_id", "analysis", "estimand", "endpoint", "group"]
    df = store[~store["analysis"].isin(list(exclude_analyses))]
    rows = []
    for key, g in df.groupby(keys, sort=True, dropna=False):
        g = g.dropna(subset=["estimate"]).sort_values("quarter")
        if g["quarter"].nunique() < 2:
            continue
        prev, last = g.iloc[-2], g.iloc[-1]
        ratio = is_ratio_estimand(key[2])
        if ratio and (prev["estimate"] <= 0 or last["estimate"] <= 0):
            continue

        def se(r, ratio=ratio):
            lo, hi = r["ci_lower"], r["ci_upper"]
            if pd.isna(lo) or pd.isna(hi):
                return np.nan
            if ratio:
                if lo <= 0 or hi <= 0:
                    return np.nan
                return (math.log(hi) - math.log(lo)) / (2 * z)
            return (hi - lo) / (2 * z)

        s = math.hypot(se(prev), se(last)) if not (pd.isna(se(prev)) or pd.isna(se(last))) else np.nan
        if ratio:
            d = math.log(last["estimate"]) - math.log(prev["estimate"])
            est, lo, hi = math.exp(d), math.exp(d - z * s), math.exp(d + z * s)
            pz = d / s if s and not pd.isna(s) and s > 0 else np.nan
            what = "ratio of ratios"
        else:
            d = last["estimate"] - prev["estimate"]
            est, lo, hi = d, d - z * s, d + z * s
            pz = d / s if s and not pd.isna(s) and s > 0 else np.nan
            what = "difference"
        from scipy.stats import norm

        rows.append({
            "programme_id": key[0], "analysis": "trends", "estimand": f"change_{key[2]}",
            "endpoint": key[3], "group": key[4], "estimate": est, "ci_lower": lo, "ci_upper": hi,
            "p_value": float(2 * norm.sf(abs(pz))) if not pd.isna(pz) else np.nan,
            "n": last["n"], "events": last["events"],
            "method": f"{what} between quarters, SE from 95% CIs, independence assumed",
            "causal": False,
            "note": (f"{key[1]}: {prev['quarter']} to {last['quarter']}; quarters share people, "
                     "so the interval is conservative; descriptive change, not an effect"),
            "quarter_from": prev["quarter"], "quarter_to": last["quarter"],
        })
    out = make_results(rows)
    if out.empty:
        out = make_results([]).reindex(columns=RESULT_COLUMNS + ["quarter_from", "quarter_to"])
    return out


def changes_excluding_no_change(changes: pd.DataFrame) -> pd.DataFrame:
    """Rows of :func:`quarter_on_quarter` whose 95% interval excludes "no change".

    "No change" is 0 for a difference and 1 for a ratio (estimands compared on
    the log scale, :func:`is_ratio_estimand` of the measure behind
    ``change_<estimand>``). A row with a missing limit is not selected. For
    display: with many measures, some of these are expected by chance alone
    (about 5% of unchanged measures), and the change is descriptive.
    """
    if changes.empty:
        return changes.copy()
    base = changes["estimand"].astype(str).str.replace(r"^change_", "", regex=True)
    no_change = base.map(lambda e: 1.0 if is_ratio_estimand(e) else 0.0)
    lo = pd.to_numeric(changes["ci_lower"], errors="coerce")
    hi = pd.to_numeric(changes["ci_upper"], errors="coerce")
    both = lo.notna() & hi.notna()
    return changes.loc[both & ((lo > no_change) | (hi < no_change))].copy()
