"""The publication check: what every quarter's results must satisfy before they are published.

Run by the quarterly run on the combined ``results.csv`` of a quarter (findings go to the log and
to ``manifest.json``) and by the tests. Each check names a way a published table could mislead
(docs/methods.md, section 'Disclosure control'):

``p_range``
    A ``p_value`` outside [0, 1].
``p_label``
    An estimand whose label says "(p)" but whose estimate is not a probability (a test statistic
    shown as a p-value).
``gives_back``
    A published row that gives a withheld number back: a derived row
    (:data:`evaluation.publish.suppression.DERIVED_ESTIMANDS`, e.g. an E-value) whose source is
    withheld, or a difference whose compared level is withheld.
``over_withheld``
    A programme's estimate withheld although its own ``n`` and ``events`` reach the threshold and
    no rule of its own row (a compared level, a source, a pooled total) applies.
``causal_design``
    A row labelled causal for a programme whose recorded design is descriptive (no comparison
    group, or all programmes together).
``horizon``
    An estimate at a horizon (``..._730d...``) beyond the longest follow-up of the programme's
    participants.
``ratio_zero_or_infinite``
    A published hazard or rate ratio whose estimate or interval limit is 0 (or prints as 0.00:
    below 0.005), negative or infinite: a degenerate fit shown as a number ("HR 0.00 (0.00-0.00)",
    "0 - ∞").
``ratio_uninformative``
    A published hazard or rate ratio otherwise caught by the near-separation rule (above 200, or an
    interval wider than a factor of 100; docs/methods.md, section 'Survival estimators').
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.formatting import is_ratio_estimand, ratio_shown
from evaluation.publish.labels import ESTIMANDS
from evaluation.publish.suppression import DERIVED_ESTIMANDS, _subgroup_of
from evaluation.stats.survival.cox import HR_RANGE

#: Findings that stop publication: a number that cannot be a p-value, or a withheld number given back.
#: The others are logged and counted in the manifest.
BLOCKING_CHECKS = frozenset({"p_range", "gives_back", "ratio_zero_or_infinite", "language_versions_differ"})

FINDING_COLUMNS = ["check", "programme_id", "notebook", "analysis", "estimand", "endpoint", "group", "detail"]
_HORIZON = re.compile(r"_(\d+)d(?:_|$)")


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _truthy(s: pd.Series) -> np.ndarray:
    return s.astype(str).str.strip().str.lower().isin({"true", "1", "yes"}).to_numpy()


def publication_check(
    results: pd.DataFrame,
    designs: Mapping[str, str] | None = None,
    follow_up_days: Mapping[str, float] | None = None,
    threshold: int = SUPPRESSION_THRESHOLD,
) -> pd.DataFrame:
    """Findings of the publication check on a protected results table (one row per finding).

    Parameters
    ----------
    results : DataFrame
        Published results (:data:`evaluation.contract.results.RESULT_COLUMNS`, after
        :func:`evaluation.publish.suppression.protect_results`: ``suppressed`` column, counts
        below the threshold shown as text).
    designs : mapping, optional
        Recorded design per programme id (``rct``, ``matched``, ``descriptive``; ``"all"`` for
        all programmes together), as in ``manifest.json``. Without it ``causal_design`` is skipped.
    follow_up_days : mapping, optional
        Longest follow-up in days per programme id. Without it ``horizon`` is skipped.

    Returns
    -------
    DataFrame with :data:`FINDING_COLUMNS`; empty when the table passes.
    """
    if results is None or results.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    df = results.reset_index(drop=True).copy()
    for c in ("programme_id", "notebook", "analysis", "estimand", "endpoint", "group", "note"):
        df[c] = df[c].fillna("").astype(str) if c in df.columns else ""
    est, p = _numeric(df.get("estimate", pd.Series(np.nan, index=df.index))), _numeric(df.get("p_value"))
    suppressed = _truthy(df["suppressed"]) if "suppressed" in df.columns else np.zeros(len(df), dtype=bool)
    published = ~suppressed & est.notna().to_numpy()
    found: list[dict] = []

    def add(check: str, i: int, detail: str) -> None:
        row = df.iloc[i]
        found.append({"check": check, **{c: row[c] for c in FINDING_COLUMNS[1:-1]}, "detail": detail})

    for i in np.flatnonzero(p.notna().to_numpy() & ~p.between(0, 1).to_numpy()):
        add("p_range", i, f"p_value {p.iloc[i]!r} is not in [0, 1]")
    p_labelled = df["estimand"].map(lambda e: "(p)" in ESTIMANDS.get(e, ("",))[0]).to_numpy()
    for i in np.flatnonzero(p_labelled & published & ~est.between(0, 1).to_numpy()):
        add("p_label", i, f"labelled as a p-value but the estimate is {est.iloc[i]:.4g}")

    # hazard and rate ratios that are degenerate numbers (0, infinite, near-separation)
    lo, hi = _numeric(df.get("ci_lower", pd.Series(np.nan, index=df.index))), _numeric(
        df.get("ci_upper", pd.Series(np.nan, index=df.index)))
    for i in np.flatnonzero(df["estimand"].map(is_ratio_estimand).to_numpy() & published):
        vals = np.array([est.iloc[i], lo.iloc[i], hi.iloc[i]], dtype=float)
        present = vals[~np.isnan(vals)]
        if np.any(~np.isfinite(present)) or np.any(present < HR_RANGE[0]):
            add("ratio_zero_or_infinite", i, f"ratio {vals[0]:.4g} with interval {vals[1]:.4g} - {vals[2]:.4g}")
        elif not ratio_shown(df["estimand"].iloc[i], *vals):
            add("ratio_uninformative", i, f"ratio {vals[0]:.4g} with interval {vals[1]:.4g} - {vals[2]:.4g} "
                                          "(near-separation)")

    # derived rows and differences that give a withheld number back
    where = df["programme_id"] + "\x1f" + df["analysis"] + "\x1f" + df["endpoint"]
    withheld_rows = set((where + "\x1f" + df["group"] + "\x1f" + df["estimand"])[suppressed])
    source = df["estimand"].map(DERIVED_ESTIMANDS)
    for i in np.flatnonzero(source.notna().to_numpy() & published):
        if f"{where.iloc[i]}\x1f{df['group'].iloc[i]}\x1f{source.iloc[i]}" in withheld_rows:
            add("gives_back", i, f"published while its source {source.iloc[i]!r} is withheld")
    family = where + "\x1f" + df["estimand"] + "\x1f" + df["group"].map(_subgroup_of)
    is_level = ~df["group"].str.startswith(("difference", "subgroup ", "by ")).to_numpy()
    withheld_levels = set(family[suppressed & is_level])
    is_difference = df["group"].str.startswith("difference").to_numpy()
    for i in np.flatnonzero(is_difference & published):
        if family.iloc[i] in withheld_levels:
            add("gives_back", i, "a difference published while a level it compares is withheld")

    # withheld without a rule of its own
    n, events = _numeric(df.get("n", pd.Series(np.nan, index=df.index))), _numeric(
        df.get("events", pd.Series(np.nan, index=df.index)))
    raw_events = df["events"].fillna("").astype(str).str.strip() if "events" in df.columns else pd.Series("", index=df.index)
    no_events = (raw_events.isin({"", "nan"})).to_numpy()  # (a marker such as "<10" is a count withheld)
    own_counts_ok = (n >= threshold).to_numpy() & ((events >= threshold).to_numpy() | no_events)
    # a note is an explanation only when the rule it names holds in this table
    by_level = df["note"].str.contains("a group it compares", regex=False).to_numpy() & family.isin(withheld_levels).to_numpy()
    source_key = where + "\x1f" + df["group"] + "\x1f" + source.fillna("")
    by_source = df["note"].str.contains("derived from an estimate", regex=False).to_numpy() & source_key.isin(
        withheld_rows).to_numpy()
    explained = by_level | by_source
    for i in np.flatnonzero(suppressed & own_counts_ok & ~explained & (df["programme_id"] != "all").to_numpy()):
        add("over_withheld", i, f"withheld with n = {n.iloc[i]:.0f} and events = {events.iloc[i]:.0f}, "
                                "without a rule of its own row")

    if designs is not None and "causal" in df.columns:
        causal = _truthy(df["causal"])
        for i in np.flatnonzero(causal & published):
            design = designs.get(df["programme_id"].iloc[i])
            if design is not None and design == "descriptive":
                add("causal_design", i, "labelled causal, but the recorded design is descriptive")

    if follow_up_days:
        for i in np.flatnonzero(published):
            m = _HORIZON.search(df["estimand"].iloc[i])
            longest = follow_up_days.get(df["programme_id"].iloc[i])
            if m and longest is not None and int(m.group(1)) > longest:
                add("horizon", i, f"horizon of {m.group(1)} days beyond the longest follow-up of {longest:.0f} days")
    return pd.DataFrame(found, columns=FINDING_COLUMNS)


def language_differences(main: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Rows whose numbers differ between two language versions of one quarter.

    Both are combined ``results.csv`` tables (with a ``notebook`` column) of the same run, made by the same
    notebooks with the same seed in two languages. Results are language-neutral (words are added on
    publication), so every row must be in both and every value equal; a row found in one version only,
    or a value that differs (numbers compared to 1e-12 relative, text exactly), is one finding
    ``language_versions_differ`` (docs/methods.md, section 'Languages and wording'). Bookkeeping columns
    (quarter, run id) are ignored.
    """
    key = ["notebook", "programme_id", "analysis", "estimand", "endpoint", "group"]
    skip = set(key) | {"quarter", "run_id", "published_at"}
    found: list[dict] = []

    def keyed(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for c in key:
            if c not in df.columns:
                df[c] = ""
        df[key] = df[key].fillna("").astype(str)
        df["_k"] = df.groupby(key, sort=False).cumcount()
        return df.set_index([*key, "_k"])

    a, b = keyed(main), keyed(other)
    for idx in a.index.symmetric_difference(b.index):
        where = "main version" if idx in a.index else "other version"
        found.append({"check": "language_versions_differ", **dict(zip(key, idx[:-1], strict=True)),
                      "detail": f"row only in the {where}"})
    both = a.index.intersection(b.index)
    for col in [c for c in a.columns if c in b.columns and c not in skip]:
        x, y = a.loc[both, col], b.loc[both, col]
        xn, yn = pd.to_numeric(x, errors="coerce"), pd.to_numeric(y, errors="coerce")
        numeric = xn.notna() | yn.notna()
        same = np.where(numeric, np.isclose(xn.astype(float), yn.astype(float), rtol=1e-12, atol=0, equal_nan=True),
                        x.fillna("").astype(str).to_numpy() == y.fillna("").astype(str).to_numpy())
        for idx in both[~same]:
            found.append({"check": "language_versions_differ", **dict(zip(key, idx[:-1], strict=True)),
                          "detail": f"column {col!r} differs between the language versions"})
    return pd.DataFrame(found, columns=FINDING_COLUMNS)


def longest_follow_up(participants: pd.DataFrame | None, cutoff) -> dict[str, float]:
    """Longest possible follow-up in days per programme id: the cutoff minus the earliest
    ``follow_up_start`` (an upper bound; death, emigration or an observation end only shorten it),
    and the same over all programmes as ``"all"``."""
    if participants is None or participants.empty or "follow_up_start" not in participants.columns:
        return {}
    start = pd.to_datetime(participants["follow_up_start"], errors="coerce")
    days = (pd.Timestamp(cutoff) - start).dt.days
    out = days.groupby(participants["programme_id"].astype(str)).max().dropna()
    result = {str(k): float(v) for k, v in out.items()}
    if len(days.dropna()):
        result["all"] = float(days.max())
    return result
