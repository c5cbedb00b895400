"""Analysis frames for re-integration outcomes (issue 19): scores, goals, circumstances, peer mentors.

:func:`reintegration_frames` turns the accepted optional tables
``assessments``, ``goals``, ``circumstances`` and ``volunteer_outcomes`` (with
``participants``, ``matches``, ``contacts`` and ``volunteers``) into the frames
the re-integration analysis uses. Every row of those four tables that belongs
to the selected programme(s) is either used or listed in ``excluded`` with
its reason, so the counts add up (docs/methods.md, section 'Analysis datasets').

Decisions
---------
* Several assessments for one occasion (person x instrument x domain): the
  *earliest* intake, the *latest* end and the *earliest* follow-up assessment
  (by date, then file order) are used; the others are excluded ("another
  assessment of the same occasion is used"). Interim assessments are not used.
* End due: the participant's ``programme_end_date`` lies on or before the
  cutoff; a comparison person without an end date counts from intake + 365
  days. Follow-up due: that reference date lies at least 180 days before the
  cutoff. ``days_to_end`` and ``days_to_follow_up`` count from the intake
  assessment's date.
* Dosage: ``contact_hours`` is the sum of contact minutes / 60 in the
  participant's matches up to the programme end (the cutoff when none);
  ``match_months`` the longest match in months of 365.25/12 days, an open
  match censored at the cutoff; both NaN without a match. ``cluster`` is the
  volunteer of the first match (its ``circle_id`` for COSA circles), else the
  participant.
* Positive circumstances: employment ``paid_work``/``education``, housing
  ``stable``, income ``wages``.
* Peer mentors: volunteers with lived experience and at least one consented
  outcome row; ``time`` runs from ``start_date`` to the first new justice case
  (``event`` 1) or to the cutoff (``event`` 0); a positive work status counts
  at the start when observed within 90 days of ``start_date``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.instruments import instrument_specs
from evaluation.datasets.recidivism import COVARIATES, participant_covariates

SCORE_COLUMNS: tuple[str, ...] = (
    "participant_id", "programme_id", "group", "instrument", "domain", "score_min", "score_max",
    "sufficient_from", "baseline", "end", "follow_up", "end_due", "follow_up_due", "days_to_end",
    "days_to_follow_up", *COVARIATES, "contact_hours", "match_months", "cluster",
)
GOAL_COLUMNS: tuple[str, ...] = ("goal_id", "match_id", "participant_id", "programme_id", "domain", "status", "reviewed")
CIRCUMSTANCE_COLUMNS: tuple[str, ...] = (
    "participant_id", "programme_id", "group", "measure", "intake", "follow_up", "intake_positive",
    "follow_up_positive", "follow_up_due", *COVARIATES,
)
PEER_COLUMNS: tuple[str, ...] = ("volunteer_id", "programme_id", "start_date", "time", "event", "work_at_start",
                                 "work_latest")
EXCLUDED_COLUMNS: tuple[str, ...] = ("table", "row_ref", "reason")
MEASURES: tuple[str, ...] = ("employment", "housing", "income")
POSITIVE: dict[str, frozenset[str]] = {
    "employment": frozenset({"paid_work", "education"}), "housing": frozenset({"stable"}),
    "income": frozenset({"wages"}),
}
POSITIVE_WORK = POSITIVE["employment"]
END_REFERENCE_DAYS_COMPARISON = 365
FOLLOW_UP_DUE_DAYS = 180
WORK_AT_START_DAYS = 90
DAYS_PER_MONTH = 365.25 / 12


@dataclass
class ReintegrationFrames:
    """The frames of :func:`reintegration_frames` (columns: the ``*_COLUMNS`` constants)."""

    scores: pd.DataFrame
    goals: pd.DataFrame
    circumstances: pd.DataFrame
    peer_mentors: pd.DataFrame
    excluded: pd.DataFrame


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _table(tables: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame | None:
    t = tables.get(name)
    return None if t is None else t.copy()


def _ref(df: pd.DataFrame) -> pd.Series:
    """Source row (``_row``) of each row, else the index + 2 (header = row 1)."""
    if "_row" in df.columns:
        return df["_row"].astype("int64")
    return pd.Series(np.arange(len(df)) + 2, index=df.index, dtype="int64")


class _Excluded:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, table: str, rows: pd.DataFrame, reason: str) -> None:
        if len(rows):
            self.parts.append(pd.DataFrame({"table": table, "row_ref": _ref(rows).to_numpy(), "reason": reason}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({"table": pd.Series([], dtype=object), "row_ref": pd.Series([], dtype="int64"),
                                 "reason": pd.Series([], dtype=object)})
        return pd.concat(self.parts, ignore_index=True)


def _cutoff(cutoff_date: Any) -> pd.Timestamp:
    if cutoff_date is None:
        raise ValueError("reintegration_frames: cutoff_date is required (the extract's cutoff)")
    return pd.Timestamp(cutoff_date).normalize()


def _people(participants: pd.DataFrame | None, programme_id: str, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Participants in scope with their end reference and due flags, indexed by participant_id."""
    if participants is None or participants.empty:
        cols = ["programme_id", "group", "intake_date", "end_ref", "end_date", "end_due", "follow_up_due"]
        return pd.DataFrame(columns=cols, index=pd.Index([], name="participant_id"))
    p = participants.drop_duplicates("participant_id", keep="first")
    if programme_id != "all":
        p = p[p["programme_id"] == programme_id]
    intake = pd.to_datetime(p["intake_date"])
    end = pd.to_datetime(p["programme_end_date"]) if "programme_end_date" in p else pd.Series(pd.NaT, index=p.index)
    comp_no_end = (p["group"] == "comparison").to_numpy() & end.isna().to_numpy()
    ref = end.where(~comp_no_end, intake + pd.Timedelta(days=END_REFERENCE_DAYS_COMPARISON))
    out = pd.DataFrame({
        "participant_id": p["participant_id"].astype(str).to_numpy(),
        "programme_id": p["programme_id"].astype(str).to_numpy(),
        "group": p["group"].astype(str).to_numpy(),
        "intake_date": intake.to_numpy(),
        "end_date": end.to_numpy(),
        "end_ref": ref.to_numpy(),
        "end_due": (ref <= cutoff).fillna(False).to_numpy(dtype=bool),
        "follow_up_due": (ref + pd.Timedelta(days=FOLLOW_UP_DUE_DAYS) <= cutoff).fillna(False).to_numpy(dtype=bool),
    })
    covs = participant_covariates(p).drop(columns="participant_id")
    covs.index = out.index = pd.Index(out["participant_id"], name="participant_id")
    return pd.concat([out.drop(columns="participant_id"), covs], axis=1)


def _dosage(people: pd.DataFrame, matches: pd.DataFrame | None, contacts: pd.DataFrame | None,
            cutoff: pd.Timestamp) -> pd.DataFrame:
    """contact_hours, match_months and cluster per person (see the module docstring)."""
    out = pd.DataFrame({"contact_hours": np.nan, "match_months": np.nan,
                        "cluster": people.index.astype(str)}, index=people.index)
    if matches is None or matches.empty:
        return out
    m = matches[matches["participant_id"].astype(str).isin(people.index)].copy()
    if m.empty:
        return out
    m["participant_id"] = m["participant_id"].astype(str)
    start = pd.to_datetime(m["start_date"])
    stop = pd.to_datetime(m["end_date"]).fillna(cutoff).clip(upper=cutoff)
    m["_months"] = (stop - start).dt.days / DAYS_PER_MONTH
    out.loc[:, "match_months"] = m.groupby("participant_id")["_months"].max().reindex(people.index)
    first = m.assign(_start=start, _r=_ref(m)).sort_values(["participant_id", "_start", "_r"], kind="stable")
    first = first.drop_duplicates("participant_id", keep="first").set_index("participant_id")
    circle = first["circle_id"] if "circle_id" in first else pd.Series(None, index=first.index, dtype=object)
    cl = circle.where(circle.notna(), first["volunteer_id"]).astype(object)
    out.loc[cl.index, "cluster"] = cl.astype(str)
    hours = pd.Series(0.0, index=m["participant_id"].unique())
    if contacts is not None and not contacts.empty:
        c = contacts.merge(m[["match_id", "participant_id"]], on="match_id", how="inner")
        upto = people["end_date"].reindex(c["participant_id"]).to_numpy()
        upto = pd.to_datetime(pd.Series(upto)).fillna(cutoff).to_numpy()
        keep = pd.to_datetime(c["contact_date"]).to_numpy() <= upto
        mins = pd.to_numeric(c["minutes"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        got = pd.Series(mins[keep], index=c["participant_id"].to_numpy()[keep]).groupby(level=0).sum() / 60.0
        hours.loc[got.index] = got
    out.loc[hours.index, "contact_hours"] = hours
    return out


def _scores(a: pd.DataFrame | None, people: pd.DataFrame, dosage: pd.DataFrame, extract: Mapping | None,
            ex: _Excluded) -> pd.DataFrame:
    if a is None or a.empty:
        return _empty(SCORE_COLUMNS)
    a = a.assign(participant_id=a["participant_id"].astype(str), _r=_ref(a),
                 assessment_date=pd.to_datetime(a["assessment_date"]))
    a = a[a["participant_id"].isin(people.index)]
    specs = instrument_specs(extract)
    unknown = ~a["instrument"].isin(list(specs))
    ex.add("assessments", a[unknown], "instrument not in the contract nor declared in extract.yaml")
    a = a[~unknown]
    bad = a["score"].isna() | a["assessment_date"].isna() | a["domain"].isna()
    ex.add("assessments", a[bad], "score, date or domain missing")
    a = a[~bad]
    interim = a["occasion"] == "interim"
    ex.add("assessments", a[interim], "interim assessment (not used by the analysis)")
    a = a[~interim]
    key = ["participant_id", "instrument", "domain"]
    chosen = []
    for occ, ascending in (("intake", True), ("end", False), ("follow_up", True)):
        rows = a[a["occasion"] == occ].sort_values(["assessment_date", "_r"], ascending=[ascending, True],
                                                   kind="stable")
        dup = rows.duplicated(key, keep="first")
        ex.add("assessments", rows[dup], f"another {occ} assessment of the same person, instrument and domain is used")
        chosen.append(rows[~dup])
    intake, end, fu = chosen
    base = intake.set_index(key)
    for rows in (end, fu):
        has = rows.set_index(key).index.isin(base.index)
        ex.add("assessments", rows[~has], "no intake assessment of the same person, instrument and domain")
    e = end.set_index(key).reindex(base.index)
    f = fu.set_index(key).reindex(base.index)
    pid = base.index.get_level_values("participant_id")
    inst = base.index.get_level_values("instrument")
    pe = people.reindex(pid)
    out = pd.DataFrame({
        "participant_id": pid.astype(str),
        "programme_id": pe["programme_id"].to_numpy(),
        "group": pe["group"].to_numpy(),
        "instrument": inst.astype(str),
        "domain": base.index.get_level_values("domain").astype(str),
        "score_min": [float(specs[i].score_min) for i in inst],
        "score_max": [float(specs[i].score_max) for i in inst],
        "sufficient_from": [float(specs[i].sufficient_from) for i in inst],
        "baseline": base["score"].astype(float).to_numpy(),
        "end": e["score"].astype(float).to_numpy(),
        "follow_up": f["score"].astype(float).to_numpy(),
        "end_due": pe["end_due"].to_numpy(dtype=bool),
        "follow_up_due": pe["follow_up_due"].to_numpy(dtype=bool),
        "days_to_end": (e["assessment_date"] - base["assessment_date"]).dt.days.astype(float).to_numpy(),
        "days_to_follow_up": (f["assessment_date"] - base["assessment_date"]).dt.days.astype(float).to_numpy(),
    })
    for c in COVARIATES:
        out[c] = pe[c].to_numpy()
    d = dosage.reindex(pid)
    for c in ("contact_hours", "match_months", "cluster"):
        out[c] = d[c].to_numpy()
    out = out.sort_values(["participant_id", "instrument", "domain"], kind="stable").reset_index(drop=True)
    return out[list(SCORE_COLUMNS)]


def _goals(g: pd.DataFrame | None, matches: pd.DataFrame | None, people: pd.DataFrame,
           programme_id: str, ex: _Excluded) -> pd.DataFrame:
    if g is None or g.empty:
        return _empty(GOAL_COLUMNS)
    owner = (matches.drop_duplicates("match_id").set_index("match_id")["participant_id"].astype(str)
             if matches is not None and not matches.empty else pd.Series(dtype=object))
    g = g.assign(participant_id=g["match_id"].map(owner))
    known = g["participant_id"].notna()
    prog = g["participant_id"].map(people["programme_id"]) if len(people) else pd.Series(np.nan, index=g.index)
    if programme_id == "all":
        ex.add("goals", g[~known], "match not in the accepted matches table")
        ex.add("goals", g[known & prog.isna()], "participant of the match not in the accepted participants table")
    g = g[prog.notna()]
    reviewed = g["reviewed_date"].notna() & g["status"].notna() if "reviewed_date" in g else g["status"].notna()
    out = pd.DataFrame({
        "goal_id": g["goal_id"].astype(str).to_numpy(), "match_id": g["match_id"].astype(str).to_numpy(),
        "participant_id": g["participant_id"].astype(str).to_numpy(),
        "programme_id": g["participant_id"].map(people["programme_id"]).to_numpy(),
        "domain": g["domain"].astype(object).to_numpy(),
        "status": g["status"].where(reviewed, None).astype(object).to_numpy(),
        "reviewed": reviewed.to_numpy(dtype=bool),
    })
    return out[list(GOAL_COLUMNS)]


def _positive(values: pd.Series, measure: str) -> pd.Series:
    return values.map(lambda v: np.nan if v is None or (isinstance(v, float) and np.isnan(v)) or pd.isna(v)
                      else float(v in POSITIVE[measure])).astype(float)


def _circumstances(c: pd.DataFrame | None, people: pd.DataFrame, ex: _Excluded) -> pd.DataFrame:
    if c is None or c.empty:
        return _empty(CIRCUMSTANCE_COLUMNS)
    c = c.assign(participant_id=c["participant_id"].astype(str), _r=_ref(c))
    c = c[c["participant_id"].isin(people.index)]
    c = c.sort_values(["observation_date", "_r"], kind="stable")
    dup = c.duplicated(["participant_id", "occasion"], keep="first")
    ex.add("circumstances", c[dup], "another observation of the same person and occasion is used")
    c = c[~dup]
    nothing = c[list(MEASURES)].isna().all(axis=1)
    ex.add("circumstances", c[nothing], "employment, housing and income all not recorded")
    c = c[~nothing]
    intake = c[c["occasion"] == "intake"].set_index("participant_id")
    fu = c[c["occasion"] == "follow_up"].set_index("participant_id")
    orphan = ~fu.index.isin(intake.index)
    ex.add("circumstances", fu[orphan].reset_index(), "no intake observation of the same person")
    fu = fu[~orphan]
    # intake rows used when at least one measure is recorded (guaranteed above); follow-up rows when their
    # person has an intake row; a follow-up measure without its intake value is simply not compared
    parts = []
    for m in MEASURES:
        rec = intake[m].notna()
        ids = intake.index[rec.to_numpy()]
        pe = people.reindex(ids)
        iv = intake.loc[rec, m].astype(object)
        fv = fu[m].reindex(ids).astype(object)
        part = pd.DataFrame({
            "participant_id": ids.astype(str), "programme_id": pe["programme_id"].to_numpy(),
            "group": pe["group"].to_numpy(), "measure": m, "intake": iv.to_numpy(),
            "follow_up": fv.where(fv.notna(), np.nan).to_numpy(),
            "intake_positive": _positive(iv, m).to_numpy(), "follow_up_positive": _positive(fv, m).to_numpy(),
            "follow_up_due": pe["follow_up_due"].to_numpy(dtype=bool),
        })
        for cov in COVARIATES:
            part[cov] = pe[cov].to_numpy()
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["_m"] = out["measure"].map({m: i for i, m in enumerate(MEASURES)})
    out = out.sort_values(["participant_id", "_m"], kind="stable").drop(columns="_m").reset_index(drop=True)
    return out[list(CIRCUMSTANCE_COLUMNS)]


def _peer_mentors(vo: pd.DataFrame | None, volunteers: pd.DataFrame | None, programme_id: str,
                  cutoff: pd.Timestamp, ex: _Excluded) -> pd.DataFrame:
    if vo is None or vo.empty:
        return _empty(PEER_COLUMNS)
    v = (volunteers.drop_duplicates("volunteer_id").set_index("volunteer_id")
         if volunteers is not None and not volunteers.empty else pd.DataFrame(
             columns=["programme_id", "lived_experience", "start_date"]))
    vo = vo.assign(volunteer_id=vo["volunteer_id"].astype(str), _r=_ref(vo),
                   observation_date=pd.to_datetime(vo["observation_date"]))
    prog = vo["volunteer_id"].map(v["programme_id"]) if len(v) else pd.Series(np.nan, index=vo.index)
    if programme_id == "all":
        ex.add("volunteer_outcomes", vo[prog.isna()], "volunteer not in the accepted volunteers table")
        vo = vo[prog.notna()]
    else:
        vo = vo[(prog == programme_id).to_numpy()]
    consent = vo["consent_to_linkage"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    ex.add("volunteer_outcomes", vo[~consent], "no consent to linkage (such rows must not be delivered)")
    vo = vo[consent]
    le = vo["volunteer_id"].map(v["lived_experience"].astype("boolean")).fillna(False).to_numpy(dtype=bool)
    ex.add("volunteer_outcomes", vo[~le], "volunteer without lived experience")
    vo = vo[le]
    start = pd.to_datetime(vo["volunteer_id"].map(v["start_date"]))
    before = (vo["observation_date"] < start).to_numpy() | vo["observation_date"].isna().to_numpy()
    ex.add("volunteer_outcomes", vo[before], "observation before the volunteer's start_date (or no date)")
    vo = vo[~before]
    rows = []
    for vid, grp in vo.groupby("volunteer_id", sort=True):
        s = pd.Timestamp(v.loc[vid, "start_date"])
        cases = grp.loc[grp["measure"] == "new_justice_case", "observation_date"]
        event = int(len(cases) > 0)
        time = float(((cases.min() if event else cutoff) - s).days)
        work = grp[(grp["measure"] == "work_status") & grp["value"].notna()].sort_values(
            ["observation_date", "_r"], kind="stable")
        early = work[work["observation_date"] <= s + pd.Timedelta(days=WORK_AT_START_DAYS)]
        at_start = float(early["value"].isin(POSITIVE_WORK).any()) if len(early) else np.nan
        latest = float(work["value"].iloc[-1] in POSITIVE_WORK) if len(work) else np.nan
        rows.append((vid, str(v.loc[vid, "programme_id"]), s, time, event, at_start, latest))
    if not rows:
        return _empty(PEER_COLUMNS)
    return pd.DataFrame(rows, columns=list(PEER_COLUMNS))


def reintegration_frames(tables: Mapping[str, pd.DataFrame], programme_id: str, cutoff_date: Any,
                         extract: Mapping | None = None) -> ReintegrationFrames:
    """Build the re-integration frames of one programme (``"all"``: every programme).

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Accepted (validated) tables; missing optional tables give empty frames
        with the same columns.
    programme_id : str
        A programme id, or ``"all"``.
    cutoff_date : date-like
        The extract's cutoff (or an earlier analysis date).
    extract : mapping, optional
        Content of ``extract.yaml`` (declares custom instruments).

    Returns
    -------
    ReintegrationFrames
        ``scores``, ``goals``, ``circumstances``, ``peer_mentors`` and
        ``excluded`` (table, row_ref, reason); see the module docstring and
        docs/methods.md, section 'Analysis datasets'.
    """
    if not isinstance(programme_id, str) or not programme_id:
        raise ValueError(f"reintegration_frames: programme_id must be a programme id or 'all', got {programme_id!r}")
    cutoff = _cutoff(cutoff_date)
    ex = _Excluded()
    people = _people(_table(tables, "participants"), programme_id, cutoff)
    a = _table(tables, "assessments")
    if a is not None and programme_id == "all":
        known = a["participant_id"].astype(str).isin(people.index)
        ex.add("assessments", a[~known], "participant not in the accepted participants table")
    matches = _table(tables, "matches")
    dosage = _dosage(people, matches, _table(tables, "contacts"), cutoff)
    scores = _scores(a, people, dosage, extract, ex)
    goals = _goals(_table(tables, "goals"), matches, people, programme_id, ex)
    c = _table(tables, "circumstances")
    if c is not None and programme_id == "all":
        known = c["participant_id"].astype(str).isin(people.index)
        ex.add("circumstances", c[~known], "participant not in the accepted participants table")
    circ = _circumstances(c, people, ex)
    peers = _peer_mentors(_table(tables, "volunteer_outcomes"), _table(tables, "volunteers"), programme_id, cutoff, ex)
    return ReintegrationFrames(scores=scores, goals=goals, circumstances=circ, peer_mentors=peers, excluded=ex.frame())
