"""Which analyses an intake supports, per programme (docs/methods.md, section 'Data quality').

Only participants, justice events and detention periods are required tables
(``x_required_tables`` of the contract); volunteers, matches, contacts,
volunteer support, RJ sessions and costs are optional. A programme without
them still validates; the analyses that need them are then not measured,
and every notebook says so in one sentence. This module is the one place
that decides what is measurable: :func:`measure_support` per measure (the
parts that notebooks report), :func:`analysis_support` per analysis
(recidivism, retention, fidelity, costs: what ``evaluation validate``
prints). Reasons are given in English and Dutch, from :data:`REASONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

SUPPORT_COLUMNS: list[str] = ["programme_id", "analysis", "available", "reason_en", "reason_nl"]
"""Columns of :func:`analysis_support` (``reason_*`` empty when available)."""

MEASURE_COLUMNS: list[str] = ["programme_id", "measure", "available", "reason_en", "reason_nl"]
"""Columns of :func:`measure_support`."""

REASONS: dict[str, tuple[str, str]] = {
    "no_table": ("the intake has no {table} table", "de aanlevering heeft geen tabel {table}"),
    "no_rows": ("the {table} table has no rows for this programme",
                "de tabel {table} heeft geen rijen voor dit programma"),
    "no_rows_any": ("the {table} table has no rows for these programmes",
                    "de tabel {table} heeft geen rijen voor deze programma's"),
    "no_participants": ("the intake has no programme participants for this programme",
                        "de aanlevering heeft geen programmadeelnemers voor dit programma"),
}
"""Why a measure is not available: (English, Dutch) templates. The report step translates notes
that quote the English text (:mod:`evaluation.publish.labels`)."""

PARENTS: dict[str, str] = {"matches": "volunteers", "contacts": "matches", "volunteer_support": "volunteers"}
"""Optional tables whose rows point at another optional table. Without the parent table the
validator cannot check the keys (a warning) and no analysis can link the rows: they are not used
(:func:`usable_tables`)."""

MEASURES: dict[str, tuple[str, ...]] = {
    "recidivism": ("participants",),
    "volunteer_retention": ("volunteers",),
    "volunteer_support": ("volunteers", "volunteer_support"),
    "match_duration": ("matches", "volunteers"),
    "contacts": ("matches", "contacts", "volunteers"),
    "rj_sessions": ("rj_sessions",),
    "costs": ("costs",),
    # re-integration outcomes (docs/methods.md, section 'Re-integration outcomes'); each is optional
    "self_sufficiency": ("assessments",),
    "personal_goals": ("goals", "matches"),
    "circumstances": ("circumstances",),
    "peer_mentor_outcomes": ("volunteer_outcomes", "volunteers"),
}
"""Measures and the tables each needs (rows of the programme in every one of them, parents of
:data:`PARENTS` included); the first one missing gives the reason."""

ANALYSES: dict[str, tuple[str, ...]] = {
    "recidivism": ("recidivism",),
    "retention": ("volunteer_retention",),
    "fidelity": ("match_duration", "contacts", "rj_sessions"),
    "costs": ("costs",),
}
"""Analyses and the measures they need; ``rj_sessions`` only for restorative-justice programmes."""


def supplied_tables(validated: Any) -> frozenset[str]:
    """Tables the intake supplied (read, even if empty or refused).

    For a :class:`~evaluation.validation.validate.ValidationResult` these are the tables of its
    reconciliation (an absent optional table is not listed there); for a plain mapping of typed
    tables (tests), the mapping's keys.
    """
    recon = getattr(validated, "reconciliation", None)
    if recon is not None:
        return frozenset(recon["table"].astype(str))
    tables = getattr(validated, "tables", validated)
    return frozenset(str(k) for k in tables)


def usable_tables(validated: Any) -> dict[str, pd.DataFrame]:
    """The typed tables the analyses use: ``validated.tables``, with a child table of an absent
    parent (:data:`PARENTS`, e.g. matches without a volunteers table) replaced by its empty frame."""
    tables = dict(getattr(validated, "tables", validated))
    supplied = supplied_tables(validated)
    for child in ("matches", "contacts", "volunteer_support"):  # parents first
        parent = PARENTS[child]
        gone = parent not in supplied or (parent in tables and not len(tables[parent]))
        if child in tables and gone and len(tables[child]):
            tables[child] = tables[child].iloc[:0]
    return tables


def _programme_rows(tables: Mapping[str, pd.DataFrame]) -> dict[str, set[str]]:
    """Per table: the programme ids with at least one accepted row (through the parents)."""
    empty = pd.DataFrame()
    part = tables.get("participants", empty)
    pmap = (part.drop_duplicates("participant_id").set_index("participant_id")["programme_id"].astype(str)
            if len(part) else pd.Series(dtype=object))
    out: dict[str, set[str]] = {}
    if len(part):
        out["participants"] = set(part.loc[part["group"].astype(str) == "programme", "programme_id"].astype(str))
    for name in ("volunteers", "costs"):
        t = tables.get(name, empty)
        out[name] = set(t["programme_id"].dropna().astype(str)) if len(t) else set()
    m = tables.get("matches", empty)
    mprog = m["participant_id"].map(pmap) if len(m) else pd.Series(dtype=object)
    out["matches"] = set(mprog.dropna())
    c = tables.get("contacts", empty)
    if len(c) and len(m):
        mp = pd.Series(mprog.to_numpy(), index=m["match_id"].astype(str).to_numpy())
        mp = mp[~mp.index.duplicated()]
        out["contacts"] = set(c["match_id"].astype(str).map(mp).dropna())
    else:
        out["contacts"] = set()
    s, v = tables.get("volunteer_support", empty), tables.get("volunteers", empty)
    if len(s) and len(v):
        vp = v.drop_duplicates("volunteer_id").set_index("volunteer_id")["programme_id"].astype(str)
        out["volunteer_support"] = set(s["volunteer_id"].map(vp).dropna())
    else:
        out["volunteer_support"] = set()
    r = tables.get("rj_sessions", empty)
    out["rj_sessions"] = set(r["participant_id"].map(pmap).dropna()) if len(r) else set()
    for name in ("assessments", "circumstances"):
        t = tables.get(name, empty)
        out[name] = set(t["participant_id"].map(pmap).dropna()) if len(t) and "participant_id" in t else set()
    g = tables.get("goals", empty)
    if len(g) and len(m) and "match_id" in g:
        mp = pd.Series(mprog.to_numpy(), index=m["match_id"].astype(str).to_numpy())
        out["goals"] = set(g["match_id"].astype(str).map(mp[~mp.index.duplicated()]).dropna())
    else:
        out["goals"] = set()
    o = tables.get("volunteer_outcomes", empty)
    if len(o) and len(v) and "volunteer_id" in o:
        vp = v.drop_duplicates("volunteer_id").set_index("volunteer_id")["programme_id"].astype(str)
        out["volunteer_outcomes"] = set(o["volunteer_id"].map(vp).dropna())
    else:
        out["volunteer_outcomes"] = set()
    out.setdefault("participants", set())
    return out


def _reason(key: str, **kw: str) -> tuple[str, str]:
    en, nl = REASONS[key]
    return en.format(**kw), nl.format(**kw)


def _programmes(validated: Any, programme_id: str) -> tuple[list[str], dict[str, str]]:
    progs = list(getattr(validated, "programmes", []) or [])
    ids = [str(p["programme_id"]) for p in progs]
    types = {str(p["programme_id"]): str(p.get("programme_type", "")) for p in progs}
    if programme_id != "all":
        if ids and programme_id not in ids:
            raise ValueError(f"programme_id {programme_id!r} is not described in programmes.yaml ({sorted(ids)})")
        ids = [programme_id]
    return ids, types


def _measure(name: str, selection: Sequence[str], supplied: frozenset[str], rows: dict[str, set[str]],
             pooled: bool) -> tuple[bool, str, str]:
    """(available, reason_en, reason_nl) of one measure for a set of programmes."""
    for table in MEASURES[name]:
        if table not in supplied:
            return (False, *_reason("no_table", table=table))
        if not rows.get(table, set()) & set(selection):
            if table == "participants":
                return (False, *_reason("no_participants"))
            return (False, *_reason("no_rows_any" if pooled else "no_rows", table=table))
    return True, "", ""


def measure_support(validated: Any, programme_id: str = "all") -> pd.DataFrame:
    """Per programme (and ``"all"`` when ``programme_id == "all"``) and measure: available or why not.

    Parameters
    ----------
    validated : ValidationResult or mapping of typed tables
        With ``tables``, ``programmes`` and ``reconciliation`` (see :func:`supplied_tables`).
    programme_id : str
        One programme, or ``"all"``: every programme of ``programmes.yaml`` plus a row per
        measure for all of them together (available when any programme has the rows).

    Returns
    -------
    DataFrame
        :data:`MEASURE_COLUMNS`. ``rj_sessions`` rows appear only for restorative-justice
        programmes (and for ``"all"`` when one is selected).
    """
    tables = getattr(validated, "tables", validated)
    supplied = supplied_tables(validated)
    rows = _programme_rows(tables)
    ids, types = _programmes(validated, programme_id)
    out = []
    units: list[tuple[str, list[str]]] = [(p, [p]) for p in ids]
    if programme_id == "all":
        units.append(("all", ids))
    for unit, selection in units:
        for name in MEASURES:
            if name == "rj_sessions" and not any(types.get(p) == "restorative_justice" for p in selection):
                continue
            ok, en, nl = _measure(name, selection, supplied, rows, pooled=unit == "all")
            out.append({"programme_id": unit, "measure": name, "available": ok, "reason_en": en, "reason_nl": nl})
    return pd.DataFrame(out, columns=MEASURE_COLUMNS)


def analysis_support(validated: Any, programme_id: str = "all") -> pd.DataFrame:
    """Per programme and analysis (recidivism, retention, fidelity, costs): available or why not.

    An analysis is available when each measure it needs (:data:`ANALYSES`) is; otherwise the
    reason is that of the first missing measure. Retention needs volunteers (match and
    participant retention are reported where their tables allow); fidelity needs matches and
    contacts (and RJ sessions for restorative-justice programmes); costs need cost rows.
    ``programme_id`` as in :func:`measure_support` (one row per analysis for ``"all"`` too).

    Returns
    -------
    DataFrame
        :data:`SUPPORT_COLUMNS`, programmes in the order of ``programmes.yaml``.
    """
    ms = measure_support(validated, programme_id)
    out = []
    for unit in dict.fromkeys(ms["programme_id"]):
        sub = ms.loc[ms["programme_id"] == unit].set_index("measure")
        for analysis, needs in ANALYSES.items():
            row = {"programme_id": unit, "analysis": analysis, "available": True, "reason_en": "", "reason_nl": ""}
            for m in needs:
                if m in sub.index and not bool(sub.loc[m, "available"]):
                    row.update(available=False, reason_en=sub.loc[m, "reason_en"], reason_nl=sub.loc[m, "reason_nl"])
                    break
            out.append(row)
    return pd.DataFrame(out, columns=SUPPORT_COLUMNS)


def support_summary(table: pd.DataFrame, language: str = "en") -> str:
    """The table of :func:`analysis_support` as text lines, one per programme and analysis.

    ``language`` "en" or "nl"; e.g. ``MENT-RDM  retention: not available because the intake has
    no volunteers table``.
    """
    if language not in ("en", "nl"):
        raise ValueError(f"language must be 'en' or 'nl', got {language!r}")
    nl = language == "nl"
    names = {"recidivism": "recidive", "retention": "behoud", "fidelity": "programma-integriteit",
             "costs": "kosten"} if nl else {}
    lines = ["Analyses die deze aanlevering mogelijk maakt:" if nl else "Analyses this intake supports:"]
    width = max([len(str(p)) for p in table["programme_id"]] + [3])
    for r in table.itertuples(index=False):
        what = names.get(r.analysis, r.analysis)
        if r.available:
            state = "beschikbaar" if nl else "available"
        else:
            state = ("niet beschikbaar, want " if nl else "not available because ") + (r.reason_nl if nl else r.reason_en)
        lines.append(f"  {r.programme_id:<{width}}  {what}: {state}")
    return "\n".join(lines)


def not_measured_rows(support: pd.DataFrame, measure: str, programme_id: str, analysis: str, endpoint: str,
                      estimand: str) -> list[dict[str, Any]]:
    """Results rows (``make_results`` keys) marking ``measure`` not estimable, with its reason as the note.

    One row for the selection (``programme_id``, group ``"all"``) when the measure is unavailable for
    it; else, for ``"all"``, one per programme that lacks it (group ``"programme_id=<id>"``), the way
    per-programme rows of the pooled analyses are labelled. Estimate, ``n`` and ``events`` NaN (no
    count to protect).
    """
    rows = []
    sub = support.loc[(support["measure"] == measure) & ~support["available"].astype(bool)]
    whole = sub.loc[sub["programme_id"] == programme_id]
    if len(whole):
        sub = whole
    for r in sub.itertuples(index=False):
        if r.programme_id != programme_id and programme_id != "all":
            continue
        group = "all" if r.programme_id == programme_id else f"programme_id={r.programme_id}"
        rows.append({"programme_id": r.programme_id, "analysis": analysis, "estimand": estimand,
                     "endpoint": endpoint, "group": group,
                     "method": "not measured", "causal": False,
                     "note": f"not estimable: {r.reason_en}"})
    return rows
