"""Implementation fidelity against each programme's own description (docs/methods.md, section 'Implementation fidelity').

Each indicator compares what was delivered with what the programme says it
delivers in ``programmes.yaml`` (``data_schema/programme.schema.json``): the
programme's own target (from ``fidelity_targets`` when set there, otherwise
derived from the description) sits beside the observed value, with its 95%
interval and its ``n``. Fidelity is descriptive (``causal = False``).

Targets
-------
``fidelity_targets`` is an open mapping of shares (0-1). The keys read here are
the indicator names below (or the aliases in :data:`TARGET_ALIASES`, e.g.
``signals_reported`` or ``volunteers_trained_within_3_months``); when a key is
absent the target comes from the description. Keys that no indicator uses
are listed as rows without an observed value:

==========================  ==================================================  ===========================================
indicator                   observed                                            target when not in fidelity_targets
==========================  ==================================================  ===========================================
contacts_per_month          contacts per match-month (ratio estimator)          ``planned_dosage.contacts_per_month``
share_matches_dosage_met    share of matches at or above the planned rate       not set
basic_training_in_time      share of volunteers with basic training within      1 when ``training.basic_mandatory``
                            ``training.basic_within_months`` of their start
supervision_in_time         share with a first supervision within               1 when ``first_within_months`` is given
                            ``supervision.first_within_months``
same_sex_matching           share of matches with the same sex (declared only)  1
risk_level_in_target        share of participants whose risk level is in        1
                            ``target_group.risk_levels``
sexual_offenders_excluded   share of participants without a sexual index        1 (only when declared, never for COSA)
                            offence
risk_signals_reported       share of contacts with a risk signal that were      ``reporting.target_share_signals_reported``,
                            reported to the supervisor                          else 1 when ``risk_signals_to_supervisor``
rj_agreement_reached        share of restorative sessions with an agreement     not set
rj_agreement_fulfilled      share of agreements fulfilled (where recorded)      not set
rj_victim_participation     share of restorative sessions the victim attended   not set
planned_contacts_delivered  contacts per month / planned contacts per month     1
matched_within_<N>_weeks    share of participants matched within N weeks        only when the key is set
circle_size_at_least_3      COSA: share of circles with 3 or more volunteers    1
tidier_complete             share of the 12 TIDieR items described              1
==========================  ==================================================  ===========================================

Shares have Wilson score intervals (Wilson 1927; R ``prop.test(correct =
FALSE)``). References: Hoffmann TC et al. (2014) Better reporting of
interventions: TIDieR checklist and guide. BMJ 348:g1687. Carroll C et al.
(2007) A conceptual framework for implementation fidelity. Implement Sci 2:40.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.analyses.retention_cox import SMALL_N
from evaluation.contract.results import make_results, volunteer_count
from evaluation.datasets.retention import (
    DAYS_PER_MONTH,
    SUPPORT_KINDS,
    _as_dates,
    _cutoff,
    _require_columns,
    analysis_cutoff,
    programme_attributes,
)
from evaluation.stats.proportions import wilson_interval
from evaluation.validation.supports import measure_support, usable_tables

TIDIER_ITEMS: tuple[str, ...] = (
    "brief_name",
    "why",
    "what_materials",
    "what_procedures",
    "who_provides",
    "how",
    "where",
    "when_and_how_much",
    "tailoring",
    "modifications",
    "how_well_planned",
    "how_well_actual",
)

FIDELITY_COLUMNS: list[str] = [
    "programme_id",
    "indicator",
    "target",
    "target_source",
    "observed",
    "ci_lower",
    "ci_upper",
    "numerator",
    "n",
    "unit",
    "meets_target",
    "note",
]


def _programme_map(programmes: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out = {}
    for i, p in enumerate(programmes or []):
        if "programme_id" not in p:
            raise ValueError(f"programmes.yaml, programme {i + 1}: field 'programme_id' is missing")
        out[str(p["programme_id"])] = p
    if not out:
        raise ValueError("programmes.yaml describes no programme")
    return out


TARGET_ALIASES: dict[str, tuple[str, ...]] = {
    "basic_training_in_time": ("volunteers_trained_within_",),
    "risk_signals_reported": ("signals_reported",),
    "rj_agreement_reached": ("agreement_reached",),
    "rj_agreement_fulfilled": ("agreement_fulfilled",),
    "rj_victim_participation": ("victim_participation",),
    "matched_within_weeks": ("matched_within_",),
}
"""Other ``fidelity_targets`` keys read for an indicator (exact names, or prefixes ending in ``_``)."""


def _target_key(p: Mapping[str, Any], indicator: str) -> str | None:
    ft = p.get("fidelity_targets") or {}
    if indicator in ft:
        return indicator
    for alias in TARGET_ALIASES.get(indicator, ()):
        for k in ft:
            if k == alias or (alias.endswith("_") and k.startswith(alias)):
                return k
    return None


def _target(p: Mapping[str, Any], key: str, default: float | None) -> tuple[float, str]:
    ft = p.get("fidelity_targets") or {}
    k = _target_key(p, key)
    if k is not None and ft[k] is not None:
        return float(ft[k]), f"fidelity_targets.{k}"
    if default is None:
        return math.nan, "not set"
    return float(default), "programme description"


def _share_row(pid: str, indicator: str, k: int, n: int, target: tuple[float, str], note: str = "",
               conf_level: float = 0.95) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n, conf_level)
    obs = k / n if n else math.nan
    notes = [note] if note else []
    if n == 0:
        notes.append("no units to assess")
    elif n < SMALL_N:
        notes.append(f"only {n} units: imprecise")
    t = target[0]
    return {
        "programme_id": pid,
        "indicator": indicator,
        "target": t,
        "target_source": target[1],
        "observed": obs,
        "ci_lower": lo,
        "ci_upper": hi,
        "numerator": k,
        "n": n,
        "unit": "share",
        "meets_target": (obs >= t - 1e-12) if n and not math.isnan(t) else None,
        "note": "; ".join(notes),
    }


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FIDELITY_COLUMNS)


def _selected(programmes: Sequence[Mapping[str, Any]], programme_id: str) -> dict[str, Mapping[str, Any]]:
    progs = _programme_map(programmes)
    if programme_id != "all":
        if programme_id not in progs:
            raise ValueError(f"programme_id {programme_id!r} is not described in programmes.yaml ({sorted(progs)})")
        progs = {programme_id: progs[programme_id]}
    return progs


def _match_programmes(matches: pd.DataFrame, participants: pd.DataFrame) -> pd.Series:
    pmap = participants.drop_duplicates("participant_id").set_index("participant_id")["programme_id"]
    prog = matches["participant_id"].map(pmap)
    if prog.isna().any():
        idx = prog.index[prog.isna()][0]
        row = matches.loc[idx, "_row"] if "_row" in matches.columns else idx
        raise ValueError(f"table 'matches', row {row}, field 'participant_id': participant not in participants")
    return prog.astype(str)


# --------------------------------------------------------------------------------------
# indicators
# --------------------------------------------------------------------------------------


def dosage(
    matches: pd.DataFrame,
    contacts: pd.DataFrame,
    participants: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    cutoff_date: Any,
    programme_id: str = "all",
    min_days: float = 28,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Contacts per month per match against the planned ``contacts_per_month``.

    The unit is the match, except for COSA circles (matches sharing a
    ``circle_id``), where it is the circle: all members' contacts with the core
    member, from the first member's start to the last member's end, because
    the planned dosage describes what the participant receives.

    Estimands: (1) ``contacts_per_month``: total contacts divided by total
    match-months observed (start to end or cutoff), a ratio estimator with a
    delta-method (linearisation) standard error that allows for
    overdispersion between matches (Cochran 1977, sec. 6.4), CI on the log
    scale; (2) ``share_matches_dosage_met``: the share of matches whose own
    rate is at least the planned rate (Wilson CI). Matches observed for fewer
    than ``min_days`` days are not assessed (too short for a monthly rate);
    their number is in ``note``.
    """
    _require_columns(matches, "matches", ["match_id", "participant_id", "start_date", "end_date"])
    _require_columns(contacts, "contacts", ["match_id", "contact_date"])
    cutoff = _cutoff(cutoff_date)
    m = matches.copy()
    m["start_date"] = _as_dates(m, "matches", "start_date", required=True)
    m["end_date"] = _as_dates(m, "matches", "end_date", required=False)
    m["programme_id"] = _match_programmes(m, participants)
    m = m.loc[m["start_date"] <= cutoff]
    stop = m["end_date"].where(m["end_date"].notna() & (m["end_date"] <= cutoff), cutoff)
    m["months"] = (stop - m["start_date"]).dt.days.to_numpy(float) / DAYS_PER_MONTH
    c = contacts.copy()
    c["contact_date"] = _as_dates(c, "contacts", "contact_date", required=True)
    c = c.loc[c["contact_date"] <= cutoff]
    unknown = ~c["match_id"].isin(matches["match_id"])
    if unknown.any():
        idx = c.index[unknown][0]
        row = c.loc[idx, "_row"] if "_row" in c.columns else idx
        raise ValueError(f"table 'contacts', row {row}, field 'match_id': match {c.loc[idx, 'match_id']!r} not in matches")
    m["contacts"] = m["match_id"].map(c.groupby("match_id").size()).fillna(0).to_numpy(float)
    # COSA: the unit is the circle (the core member's contacts with all members), from its first
    # member's start to its last member's stop
    if "circle_id" in m.columns and m["circle_id"].notna().any():
        m["_stop"] = stop
        circ = m.loc[m["circle_id"].notna()].groupby("circle_id").agg(
            programme_id=("programme_id", "first"), start_date=("start_date", "min"), _stop=("_stop", "max"),
            contacts=("contacts", "sum"))
        circ["months"] = (circ["_stop"] - circ["start_date"]).dt.days.to_numpy(float) / DAYS_PER_MONTH
        m = pd.concat([m.loc[m["circle_id"].isna()], circ.reset_index()], ignore_index=True)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    rows = []
    for pid, p in _selected(programmes, programme_id).items():
        planned = (p.get("planned_dosage") or {}).get("contacts_per_month")
        sub = m.loc[m["programme_id"] == pid]
        short = int((sub["months"] < min_days / DAYS_PER_MONTH).sum())
        sub = sub.loc[sub["months"] >= min_days / DAYS_PER_MONTH]
        n = len(sub)
        notes = []
        if short:
            notes.append(f"{short} match(es) observed for less than {min_days:g} days not assessed")
        if n < SMALL_N:
            notes.append(f"only {n} matches: imprecise")
        total_c, total_t = sub["contacts"].sum(), sub["months"].sum()
        if n >= 2 and total_c > 0:
            r = total_c / total_t
            resid = sub["contacts"].to_numpy() - r * sub["months"].to_numpy()
            se = math.sqrt(n / (n - 1) * np.sum(resid**2)) / total_t
            lo, hi = r * math.exp(-z * se / r), r * math.exp(z * se / r)
        else:
            r = total_c / total_t if total_t > 0 else math.nan
            lo = hi = math.nan
            notes.append("interval not computable (fewer than 2 matches or no contacts)")
        target = (float(planned), "programme description") if planned is not None else (math.nan, "not set")
        rows.append(
            {
                "programme_id": pid,
                "indicator": "contacts_per_month",
                "target": target[0],
                "target_source": target[1],
                "observed": r,
                "ci_lower": lo,
                "ci_upper": hi,
                "numerator": int(total_c),
                "n": n,
                "unit": "contacts per month (match, or circle for COSA)",
                "meets_target": (r >= target[0]) if n and not math.isnan(target[0]) and not math.isnan(r) else None,
                "note": "; ".join(notes),
            }
        )
        if planned:
            tgt = _target(p, "planned_contacts_delivered", 1.0)
            rows.append(
                {
                    "programme_id": pid,
                    "indicator": "planned_contacts_delivered",
                    "target": tgt[0],
                    "target_source": tgt[1],
                    "observed": r / float(planned),
                    "ci_lower": lo / float(planned),
                    "ci_upper": hi / float(planned),
                    "numerator": int(total_c),
                    "n": n,
                    "unit": "ratio to plan",
                    "meets_target": (r / float(planned) >= tgt[0]) if n and not math.isnan(r) else None,
                    "note": f"contacts delivered per planned contact ({float(planned):g} a month)",
                }
            )
        if planned is not None:
            rate = sub["contacts"] / sub["months"]
            k = int((rate >= float(planned) - 1e-9).sum())
            rows.append(_share_row(pid, "share_matches_dosage_met", k, n, _target(p, "share_matches_dosage_met", None),
                                   conf_level=conf_level))
    return _frame(rows)


def _support_in_time(
    volunteers: pd.DataFrame,
    volunteer_support: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    cutoff_date: Any,
    programme_id: str,
    kinds: Sequence[str],
    section: str,
    months_key: str,
    indicator: str,
    default_target: Any,
    conf_level: float,
) -> pd.DataFrame:
    _require_columns(volunteers, "volunteers", ["volunteer_id", "programme_id", "start_date"])
    _require_columns(volunteer_support, "volunteer_support", ["volunteer_id", "event_date", "kind"])
    cutoff = _cutoff(cutoff_date)
    v = volunteers.copy()
    v["start_date"] = _as_dates(v, "volunteers", "start_date", required=True)
    s = volunteer_support.copy()
    s["event_date"] = _as_dates(s, "volunteer_support", "event_date", required=True)
    first = s.loc[s["kind"].isin(kinds) & (s["event_date"] <= cutoff)].groupby("volunteer_id")["event_date"].min()
    v["first"] = v["volunteer_id"].map(first)
    rows = []
    for pid, p in _selected(programmes, programme_id).items():
        sec = p.get(section) or {}
        months = sec.get(months_key)
        if months is None:
            rows.append(
                {
                    "programme_id": pid,
                    "indicator": indicator,
                    "target": math.nan,
                    "target_source": "not set",
                    "observed": math.nan,
                    "ci_lower": math.nan,
                    "ci_upper": math.nan,
                    "numerator": 0,
                    "n": 0,
                    "unit": "share",
                    "meets_target": None,
                    "note": f"programme description has no {section}.{months_key}: not assessed",
                }
            )
            continue
        window = pd.to_timedelta(float(months) * DAYS_PER_MONTH, unit="D")
        sub = v.loc[v["programme_id"].astype(str) == pid]
        full = sub["start_date"] + window <= cutoff
        not_yet = int((~full).sum())
        sub = sub.loc[full]
        k = int((sub["first"].notna() & (sub["first"] <= sub["start_date"] + window)).sum())
        note = f"within {float(months):g} months of the start; volunteers who stopped earlier count as not reached"
        if not_yet:
            note += f"; {volunteer_count(not_yet)} started too recently to assess"
        rows.append(_share_row(pid, indicator, k, len(sub), _target(p, indicator, default_target(sec)), note,
                               conf_level))
    return _frame(rows)


def training_in_time(volunteers, volunteer_support, programmes, cutoff_date, programme_id="all",
                     conf_level=0.95) -> pd.DataFrame:
    """Share of volunteers with basic training within ``training.basic_within_months`` of their start.

    Denominator: volunteers of the programme whose window ended by the cutoff
    (so everyone had the full window to be trained); those who stopped within
    the window untrained count as not trained in time. Wilson CI.
    """
    return _support_in_time(
        volunteers, volunteer_support, programmes, cutoff_date, programme_id, SUPPORT_KINDS["basic_training"],
        "training", "basic_within_months", "basic_training_in_time",
        lambda sec: 1.0 if sec.get("basic_mandatory") else None, conf_level,
    )


def supervision_in_time(volunteers, volunteer_support, programmes, cutoff_date, programme_id="all",
                        conf_level=0.95) -> pd.DataFrame:
    """Share of volunteers with a first supervision (individual, group or peer) within
    ``supervision.first_within_months`` of their start; denominator as in :func:`training_in_time`."""
    return _support_in_time(
        volunteers, volunteer_support, programmes, cutoff_date, programme_id, SUPPORT_KINDS["supervision"],
        "supervision", "first_within_months", "supervision_in_time", lambda sec: 1.0, conf_level,
    )


def matching_rules(
    matches: pd.DataFrame,
    participants: pd.DataFrame,
    volunteers: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    programme_id: str = "all",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Matching and target-group rules kept.

    * ``same_sex_matching`` (only where ``target_group.same_sex_matching`` is
      true): share of matches in which participant and volunteer have the same
      sex, among matches where both are recorded as male or female.
    * ``risk_level_in_target``: share of programme participants whose
      ``risk_level`` is among ``target_group.risk_levels``.
    * ``sexual_offenders_excluded`` (only where declared, and never for COSA,
      whose target group is sex offenders): share of programme participants
      whose index offence is not sexual.
    """
    _require_columns(participants, "participants", ["participant_id", "programme_id", "group", "sex", "risk_level",
                                                    "index_offence_category"])
    rows = []
    part = participants.loc[participants["group"] == "programme"]
    if matches is not None and len(matches):
        _require_columns(matches, "matches", ["match_id", "participant_id", "volunteer_id"])
        _require_columns(volunteers, "volunteers", ["volunteer_id", "sex"])
        m = matches.copy()
        m["programme_id"] = _match_programmes(m, participants)
        psex = m["participant_id"].map(participants.drop_duplicates("participant_id").set_index("participant_id")["sex"])
        vsex = m["volunteer_id"].map(volunteers.drop_duplicates("volunteer_id").set_index("volunteer_id")["sex"])
        m["known"] = psex.isin(["male", "female"]) & vsex.isin(["male", "female"])
        m["same"] = m["known"] & (psex == vsex)
    else:
        m = pd.DataFrame(columns=["programme_id", "known", "same"])
    for pid, p in _selected(programmes, programme_id).items():
        tg = p.get("target_group") or {}
        if tg.get("same_sex_matching"):
            sub = m.loc[m["programme_id"] == pid]
            unknown = int((~sub["known"].astype(bool)).sum())
            note = f"{unknown} match(es) with sex unknown or other not assessed" if unknown else ""
            rows.append(_share_row(pid, "same_sex_matching", int(sub["same"].astype(bool).sum()),
                                   int(sub["known"].astype(bool).sum()), _target(p, "same_sex_matching", 1.0), note,
                                   conf_level))
        sub = part.loc[part["programme_id"].astype(str) == pid]
        levels = list(tg.get("risk_levels") or [])
        if levels:
            k = int(sub["risk_level"].isin(levels).sum())
            rows.append(_share_row(pid, "risk_level_in_target", k, len(sub), _target(p, "risk_level_in_target", 1.0),
                                   f"target risk levels: {', '.join(levels)}", conf_level))
        if tg.get("sexual_offenders_excluded") and p.get("programme_type") != "cosa":
            known = sub["index_offence_category"].notna()
            k = int((sub.loc[known, "index_offence_category"] != "sexual").sum())
            rows.append(_share_row(pid, "sexual_offenders_excluded", k, int(known.sum()),
                                   _target(p, "sexual_offenders_excluded", 1.0), "", conf_level))
    return _frame(rows)


def risk_signals_reported(
    contacts: pd.DataFrame,
    matches: pd.DataFrame,
    participants: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    programme_id: str = "all",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Share of contacts with a risk signal (suicide, child safety, reoffending risk, other)
    that were reported to a supervisor.

    A signal with ``reported_to_supervisor`` not recorded counts as not
    reported (the report cannot be shown to have happened); their number is in
    ``note``.
    """
    _require_columns(contacts, "contacts", ["match_id", "risk_signal", "reported_to_supervisor"])
    c = contacts.loc[contacts["risk_signal"].notna() & (contacts["risk_signal"] != "none")].copy()
    mp = matches.copy()
    mp["programme_id"] = _match_programmes(mp, participants)
    c["programme_id"] = c["match_id"].map(mp.set_index("match_id")["programme_id"])
    rows = []
    for pid, p in _selected(programmes, programme_id).items():
        rep = p.get("reporting") or {}
        default = rep.get("target_share_signals_reported")
        if default is None and rep.get("risk_signals_to_supervisor"):
            default = 1.0
        target = _target(p, "risk_signals_reported", default)
        sub = c.loc[c["programme_id"] == pid]
        flag = sub["reported_to_supervisor"]
        k = int((flag.notna() & (flag == True)).sum())  # noqa: E712 (nullable boolean)
        missing = int(flag.isna().sum())
        note = f"{missing} signal(s) without a recorded report counted as not reported" if missing else ""
        rows.append(_share_row(pid, "risk_signals_reported", k, len(sub), target, note, conf_level))
    return _frame(rows)


def rj_agreements(
    rj_sessions: pd.DataFrame,
    participants: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    programme_id: str = "all",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Restorative-justice agreements reached (per session) and fulfilled (per agreement with a known outcome).

    Only for programmes of type ``restorative_justice``. Agreements whose
    fulfilment is not recorded yet are left out of the fulfilled share and
    counted in ``note``.
    """
    rows = []
    progs = {k: p for k, p in _selected(programmes, programme_id).items() if p.get("programme_type") == "restorative_justice"}
    if not progs:
        return _frame(rows)
    _require_columns(rj_sessions, "rj_sessions", ["session_id", "participant_id", "agreement_reached"])
    s = rj_sessions.copy()
    pmap = participants.drop_duplicates("participant_id").set_index("participant_id")["programme_id"]
    s["programme_id"] = s["participant_id"].map(pmap).astype(object)
    for pid, p in progs.items():
        sub = s.loc[s["programme_id"] == pid]
        reached = sub["agreement_reached"]
        known = reached.notna()
        k = int((reached[known] == True).sum())  # noqa: E712
        rows.append(_share_row(pid, "rj_agreement_reached", k, int(known.sum()), _target(p, "rj_agreement_reached", None),
                               "", conf_level))
        vp = sub["victim_participated"] if "victim_participated" in sub else pd.Series(dtype="boolean")
        rows.append(_share_row(pid, "rj_victim_participation", int((vp[vp.notna()] == True).sum()),  # noqa: E712
                               int(vp.notna().sum()), _target(p, "rj_victim_participation", None), "", conf_level))
        with_agreement = sub.loc[known & (reached == True)]  # noqa: E712
        ful = with_agreement["agreement_fulfilled"] if "agreement_fulfilled" in with_agreement else pd.Series(dtype="boolean")
        open_ = int(ful.isna().sum())
        note = f"{open_} agreement(s) without a recorded outcome left out" if open_ else ""
        rows.append(_share_row(pid, "rj_agreement_fulfilled", int((ful[ful.notna()] == True).sum()),  # noqa: E712
                               int(ful.notna().sum()), _target(p, "rj_agreement_fulfilled", None), note, conf_level))
    return _frame(rows)


def matched_in_time(
    matches: pd.DataFrame,
    participants: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    cutoff_date: Any,
    programme_id: str = "all",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Share of programme participants whose first match started within N weeks of intake.

    Only for programmes with a ``fidelity_targets`` key ``matched_within_<N>_weeks``
    (N read from the key). Denominator: participants whose intake lies at least
    N weeks before the cutoff; never-matched participants count as not matched
    in time.
    """
    _require_columns(participants, "participants", ["participant_id", "programme_id", "group", "intake_date"])
    cutoff = _cutoff(cutoff_date)
    part = participants.loc[participants["group"] == "programme"].copy()
    part["intake_date"] = _as_dates(part, "participants", "intake_date", required=True)
    if matches is not None and len(matches):
        ms = _as_dates(matches, "matches", "start_date", required=True)
        first = ms.groupby(matches["participant_id"]).min()
    else:
        first = pd.Series(dtype="datetime64[ns]")
    part["first_match"] = part["participant_id"].map(first)
    rows = []
    for pid, p in _selected(programmes, programme_id).items():
        key = _target_key(p, "matched_within_weeks")
        if key is None:
            continue
        try:
            weeks = float(key[len("matched_within_"):].split("_")[0])
        except ValueError:
            continue
        window = pd.Timedelta(days=7 * weeks)
        sub = part.loc[(part["programme_id"].astype(str) == pid) & (part["intake_date"] + window <= cutoff)]
        k = int((sub["first_match"].notna() & (sub["first_match"] <= sub["intake_date"] + window)).sum())
        rows.append(_share_row(pid, f"matched_within_{weeks:g}_weeks", k, len(sub),
                               (float(p["fidelity_targets"][key]), f"fidelity_targets.{key}"),
                               "participants never matched count as not matched in time", conf_level))
    return _frame(rows)


def circle_size(
    matches: pd.DataFrame,
    participants: pd.DataFrame,
    programmes: Sequence[Mapping[str, Any]],
    programme_id: str = "all",
    minimum: int = 3,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """COSA: share of circles with at least ``minimum`` volunteer members (distinct volunteers ever in the circle)."""
    rows = []
    progs = {k: p for k, p in _selected(programmes, programme_id).items() if p.get("programme_type") == "cosa"}
    if not progs or matches is None or not len(matches):
        return _frame(rows)
    m = matches.loc[matches["circle_id"].notna()].copy()
    m["programme_id"] = _match_programmes(m, participants) if len(m) else pd.Series(dtype=object)
    for pid, p in progs.items():
        sub = m.loc[m["programme_id"] == pid]
        size = sub.groupby("circle_id")["volunteer_id"].nunique()
        rows.append(_share_row(pid, f"circle_size_at_least_{minimum}", int((size >= minimum).sum()), len(size),
                               _target(p, f"circle_size_at_least_{minimum}", 1.0), "", conf_level))
    return _frame(rows)


def unassessed_targets(programmes: Sequence[Mapping[str, Any]], assessed: pd.DataFrame,
                       programme_id: str = "all") -> pd.DataFrame:
    """Rows for ``fidelity_targets`` keys that no indicator used, so that none is silently ignored."""
    rows = []
    for pid, p in _selected(programmes, programme_id).items():
        used = set(assessed.loc[assessed["programme_id"] == pid, "target_source"].astype(str))
        for k, v in (p.get("fidelity_targets") or {}).items():
            if f"fidelity_targets.{k}" not in used:
                rows.append(
                    {
                        "programme_id": pid,
                        "indicator": k,
                        "target": float(v),
                        "target_source": f"fidelity_targets.{k}",
                        "observed": math.nan,
                        "ci_lower": math.nan,
                        "ci_upper": math.nan,
                        "numerator": 0,
                        "n": 0,
                        "unit": "share",
                        "meets_target": None,
                        "note": "no indicator in the data measures this target (or its data are absent)",
                    }
                )
    return _frame(rows)


def tidier_completeness(programmes: Sequence[Mapping[str, Any]], programme_id: str = "all") -> pd.DataFrame:
    """Share of the 12 TIDieR items described (non-empty text), listing the missing ones in ``note``.

    Not a sample estimate (all 12 items are observed), so no interval.
    """
    rows = []
    for pid, p in _selected(programmes, programme_id).items():
        t = p.get("tidier") or {}
        missing = [i for i in TIDIER_ITEMS if not (isinstance(t.get(i), str) and t.get(i).strip())]
        k = len(TIDIER_ITEMS) - len(missing)
        target = _target(p, "tidier_complete", 1.0)
        obs = k / len(TIDIER_ITEMS)
        rows.append(
            {
                "programme_id": pid,
                "indicator": "tidier_complete",
                "target": target[0],
                "target_source": target[1],
                "observed": obs,
                "ci_lower": math.nan,
                "ci_upper": math.nan,
                "numerator": k,
                "n": len(TIDIER_ITEMS),
                "unit": "share of items",
                "meets_target": obs >= target[0] - 1e-12,
                "note": ("missing: " + ", ".join(missing)) if missing else "all 12 items described",
            }
        )
    return _frame(rows)


def fidelity_table(tables: Mapping[str, pd.DataFrame], programmes: Sequence[Mapping[str, Any]], cutoff_date: Any,
                   programme_id: str = "all", conf_level: float = 0.95) -> pd.DataFrame:
    """All fidelity indicators for the selected programme(s), one tidy table.

    ``tables`` is ``ValidationResult.tables``; optional tables (contacts,
    volunteer_support, rj_sessions) that are absent give no rows for their
    indicators.
    """
    empty = pd.DataFrame()
    t = {k: v for k, v in tables.items()}
    parts = [tidier_completeness(programmes, programme_id)]
    vols = t.get("volunteers", empty)
    sup = t.get("volunteer_support")
    if len(vols) and sup is not None:
        parts.append(training_in_time(vols, sup, programmes, cutoff_date, programme_id, conf_level))
        parts.append(supervision_in_time(vols, sup, programmes, cutoff_date, programme_id, conf_level))
    part = t.get("participants", empty)
    matches = t.get("matches")
    if len(part):
        parts.append(matching_rules(matches, part, vols, programmes, programme_id, conf_level))
    contacts = t.get("contacts")
    if matches is not None and len(matches) and contacts is not None:
        parts.append(dosage(matches, contacts, part, programmes, cutoff_date, programme_id, conf_level=conf_level))
        parts.append(risk_signals_reported(contacts, matches, part, programmes, programme_id, conf_level))
    if len(part):
        parts.append(matched_in_time(matches, part, programmes, cutoff_date, programme_id, conf_level))
        parts.append(circle_size(matches, part, programmes, programme_id, conf_level=conf_level))
    rj = t.get("rj_sessions")
    if rj is not None and len(part):
        parts.append(rj_agreements(rj, part, programmes, programme_id, conf_level))
    parts = [x for x in parts if len(x)]
    out = pd.concat(parts, ignore_index=True) if parts else _frame([])
    extra = unassessed_targets(programmes, out, programme_id)
    if len(extra):
        out = pd.concat([out, extra], ignore_index=True)
    order = {k: i for i, k in enumerate(programme_attributes(programmes)["programme_id"])}
    out["_o"] = out["programme_id"].map(order)
    return out.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


INDICATOR_MEASURES: dict[str, str] = {
    "contacts_per_month": "contacts",
    "share_matches_dosage_met": "contacts",
    "planned_contacts_delivered": "contacts",
    "risk_signals_reported": "contacts",
    "same_sex_matching": "match_duration",
    "matched_within_": "match_duration",
    "circle_size_at_least_": "match_duration",
    "basic_training_in_time": "volunteer_support",
    "supervision_in_time": "volunteer_support",
    "rj_": "rj_sessions",
}
"""The measure of :mod:`evaluation.validation.supports` each indicator (or indicator prefix ending in
``_``) needs; an indicator of a programme without it is not estimable."""


FIDELITY_MEASURES: tuple[str, ...] = ("match_duration", "contacts", "volunteer_support", "rj_sessions")
"""Measures whose absence the fidelity report names."""


def _indicator_measure(indicator: str) -> str | None:
    for key, measure in INDICATOR_MEASURES.items():
        if indicator == key or (key.endswith("_") and indicator.startswith(key)):
            return measure
    return None


def mark_not_measured(table: pd.DataFrame, support: pd.DataFrame) -> pd.DataFrame:
    """Indicators whose data the intake lacks: observed and interval NaN, ``meets_target`` empty and
    the reason as note ("not estimable: the intake has no matches table"), never a share of 0
    (docs/methods.md, section 'Implementation fidelity')."""
    gone = support.loc[~support["available"].astype(bool)]
    if not len(table) or not len(gone):
        return table
    reasons = {(r.programme_id, r.measure): r.reason_en for r in gone.itertuples(index=False)}
    out = table.copy()
    for i, r in out.iterrows():
        reason = reasons.get((str(r["programme_id"]), _indicator_measure(str(r["indicator"]))))
        if reason is None:
            continue
        out.loc[i, ["observed", "ci_lower", "ci_upper"]] = math.nan
        out.loc[i, ["numerator", "n"]] = math.nan  # no count: nothing was measured
        out.at[i, "meets_target"] = None
        out.at[i, "note"] = f"not estimable: {reason}"
    return out


def fidelity_results(table: pd.DataFrame) -> pd.DataFrame:
    """Fidelity indicators as RESULT_COLUMNS rows (``estimand`` = indicator, target kept in an extra column)."""
    rows = []
    for _, r in table.iterrows():
        rows.append(
            {
                "programme_id": r["programme_id"],
                "analysis": "fidelity",
                "estimand": r["indicator"],
                "endpoint": "",
                "group": "observed",
                "estimate": r["observed"],
                "ci_lower": r["ci_lower"],
                "ci_upper": r["ci_upper"],
                "n": r["n"],
                "events": r["numerator"],
                "method": "Wilson score interval" if r["unit"] == "share" else (
                    "ratio estimator, delta-method CI (log scale)" if r["indicator"] == "contacts_per_month"
                    else "count of described items"),
                "causal": False,
                "note": r["note"],
                "target": r["target"],
                "target_source": r["target_source"],
            }
        )
    return make_results(rows)


class FidelityAnalysis:
    """Fidelity indicators of one programme (or all programmes) at one cutoff.

    Attributes set by :meth:`fit`
    -----------------------------
    table_ : DataFrame
        :func:`fidelity_table` (:data:`FIDELITY_COLUMNS`): one row per programme and indicator,
        aggregate counts only.
    results_ : DataFrame
        :func:`fidelity_results`: the same as :data:`~evaluation.contract.results.RESULT_COLUMNS`
        rows (raw numbers; the publishing step applies disclosure control).
    tables_ : dict of DataFrame
        ``{"fidelity_table": table_}``.
    support_ : DataFrame
        :func:`evaluation.validation.supports.measure_support` of the selection; indicators whose
        data the intake lacks are marked not estimable (:func:`mark_not_measured`).
    """

    def __init__(self) -> None:
        self.table_: pd.DataFrame = _frame([])
        self.results_: pd.DataFrame = make_results([])
        self.tables_: dict[str, pd.DataFrame] = {}
        self.support_: pd.DataFrame = pd.DataFrame()
        self.programme_id = "all"

    def fit(self, validated: Any, programme_id: str = "all", cutoff_date: Any = None,
            config: Mapping[str, Any] | None = None) -> FidelityAnalysis:
        """Compute every indicator on a validated intake; returns self.

        ``cutoff_date`` defaults to the extract's cutoff (it may not lie after it); ``config`` may set
        ``conf_level`` (default 0.95).
        """
        for attr in ("tables", "programmes", "cutoff_date"):
            if not hasattr(validated, attr):
                raise TypeError(f"validated must be a ValidationResult (with .{attr}), got {type(validated).__name__}")
        cfg = {"conf_level": 0.95}
        unknown = sorted(set(config or {}) - set(cfg))
        if unknown:
            raise ValueError(f"unknown fidelity setting(s) {unknown}; known: {sorted(cfg)}")
        cfg.update(config or {})
        cutoff = analysis_cutoff(validated.cutoff_date, cutoff_date)
        self.programme_id = programme_id
        self.support_ = measure_support(validated, programme_id)
        self.table_ = mark_not_measured(
            fidelity_table(usable_tables(validated), validated.programmes, cutoff, programme_id=programme_id,
                           conf_level=float(cfg["conf_level"])), self.support_)
        self.results_ = fidelity_results(self.table_)
        self.tables_ = {"fidelity_table": self.table_}
        return self
