"""Known errors for a synthetic intake (``evaluation synth --inject-errors``).

:func:`plant_errors` appends, to an otherwise clean intake, one row per
planted problem: every field-level rule (``type``, ``required``, ``enum``,
``minimum``, ``maximum``, ``pattern``, ``unique``, ``primary_key``,
``foreign_key``) and every resource rule ``id`` in ``datapackage.json`` (errors
and warnings). Each planted row is a copy of a clean row of the same table
with fresh identifiers (so that it has no children and breaks no key rule by
accident) and exactly one change. Appending instead of overwriting keeps the
clean rows clean, so nothing cascades to other rows.

The rows are listed in ``planted_errors.csv`` with columns ``table, row,
field, rule, severity, value``; ``row`` is the source row number (header line
= 1, first data row = 2; the same for Parquet, index + 2, and for the Excel
sheet row).

One unavoidable overlap: a contact dated after the cutoff also lies outside
its match (an open match lasts up to the cutoff), and a support event after
the cutoff also lies outside the volunteer's period; both rules are listed
for that row.

:func:`add_identifier_columns` adds direct identifiers (``naam`` and ``bsn``
with valid 11-check numbers) to ``participants.csv`` so that tests can check
that such a table is refused. It is separate from error planting because an
identifier column blocks the whole table.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.identifiers import BSN_WEIGHTS, is_bsn
from evaluation.contract.schema import Contract

CUTOFF = _dt.date(2026, 9, 30)
UNKNOWN_PROGRAMME = "UNKNOWN-PROG"
PLANTED_COLUMNS = ["table", "row", "field", "rule", "severity", "value"]


#: Rules on the optional fields and table of issue 16 (observation_end, event kind and date precision,
#: custodial flag, participant_covariates): the generator writes those only with ``contract_additions``,
#: which cannot be combined with planted errors; tests/test_contract_additions.py plants them instead.
ADDITION_RULES = frozenset({
    "participants_observation_end_after_follow_up", "justice_custodial_days_without_custodial",
    "justice_date_precision_period_start", "justice_imprecise_at_follow_up_start", "covariate_declared",
    "covariate_value_type",
})

def _d(s: str) -> _dt.date:
    return _dt.date.fromisoformat(s)


def _s(d: _dt.date) -> str:
    return d.isoformat()


def _shift(s: str, days: int) -> str:
    return _s(_d(s) + _dt.timedelta(days=days))


class _Planter:
    def __init__(self, text: dict[str, pd.DataFrame], contract: Contract):
        self.text = {k: v.copy() for k, v in text.items()}
        self.contract = contract
        self.new_rows: dict[str, list[dict[str, str]]] = {k: [] for k in text}
        self.planted: list[dict[str, Any]] = []
        self.counter = 0
        self.severity = {r["id"]: r["severity"] for res in contract.resources.values() for r in res.rules}

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}ERR{self.counter:04d}"

    def first(self, table: str, mask: pd.Series | np.ndarray) -> dict[str, str]:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            raise ValueError(f"synth: no template row in {table} for an error to plant (intake too small?)")
        # the middle candidate: deterministic and away from the file's first rows
        return dict(self.text[table].iloc[idx[len(idx) // 2]])

    def add(self, table: str, row: dict[str, str], rules: list[tuple[str, str, str]]) -> None:
        """Append ``row``; ``rules`` lists (field, rule, severity) it breaks."""
        position = len(self.text[table]) + len(self.new_rows[table])
        self.new_rows[table].append(row)
        for field, rule, severity in rules:
            self.planted.append({"table": table, "row": position + 2, "field": field, "rule": rule,
                                 "severity": severity, "value": row.get(field, "") if "," not in field else ""})

    def rule(self, table: str, row: dict[str, str], field: str, rule_id: str) -> None:
        self.add(table, row, [(field, rule_id, self.severity[rule_id])])

    def finish(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name, df in self.text.items():
            if self.new_rows[name]:
                extra = pd.DataFrame(self.new_rows[name], columns=df.columns).astype(object)
                df = pd.concat([df, extra], ignore_index=True)
            out[name] = df
        return out


def plant_errors(text: dict[str, pd.DataFrame], contract: Contract, fmt: str
                 ) -> tuple[dict[str, pd.DataFrame], dict[str, set[str]], pd.DataFrame]:
    """Plant one known error per rule into the text tables of a clean intake.

    Parameters
    ----------
    text : dict of DataFrame
        Clean tables as text (as written to CSV), keyed by table name.
    contract : Contract
    fmt : str
        Output format (row numbers are the same for all three formats).

    Returns
    -------
    text : dict of DataFrame
        Tables with the planted rows appended.
    text_columns : dict of set
        Per table, the columns that no longer parse as their contract type
        (written as text in Parquet and Excel).
    planted : DataFrame
        ``table, row, field, rule, severity, value``.
    """
    pl = _Planter(text, contract)
    T = pl.text
    P, V, M, C = T["participants"], T["volunteers"], T["matches"], T["contacts"]
    S, J, D, R, K = T["volunteer_support"], T["justice_events"], T["detention_periods"], T["rj_sessions"], T["costs"]
    err = "error"

    # ------------------------------------------------ field-level rules (contacts, costs, support)
    none_sig = C.risk_signal == "none"
    c = pl.first("contacts", none_sig & (C.minutes != ""))
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "minutes": "abc"}, [("minutes", "type", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "reported_to_supervisor": "misschien"},
           [("reported_to_supervisor", "type", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "contact_date": "31-13-2024"}, [("contact_date", "type", err)])
    s = pl.first("volunteer_support", S.hours != "")
    pl.add("volunteer_support", {**s, "event_id": pl.fresh("s"), "hours": "twee"}, [("hours", "type", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "mode": ""}, [("mode", "required", err)])
    p = pl.first("participants", P.group == "comparison")
    pl.add("participants", {**p, "participant_id": pl.fresh("p"), "risk_level": ""}, [("risk_level", "required", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "mode": "telepathy"}, [("mode", "enum", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "minutes": "0"}, [("minutes", "minimum", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "minutes": "800"}, [("minutes", "maximum", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": "c 12/34!"}, [("contact_id", "pattern", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c}, [("contact_id", "unique", err)])  # exact copy: second occurrence of the id
    k = pl.first("costs", K.category == "training")
    pl.add("costs", {**k, "amount_eur": "1234.5"}, [("programme_id,period_start,period_end,category", "primary_key", err)])
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "match_id": "m9999999"}, [("match_id", "foreign_key", err)])

    # ------------------------------------------------ participants rules
    comp = P.group == "comparison"
    no_events = (P.death_date == "") & (P.emigration_date == "") & (P.programme_end_date == "")
    intake_year = P.intake_date.str[:4].astype(int)
    p = pl.first("participants", comp & no_events)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "programme_id": UNKNOWN_PROGRAMME},
            "programme_id", "participants_programme_known")
    p = pl.first("participants", comp & no_events & (P.detained_at_intake == "false"))
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "follow_up_start": _shift(p["intake_date"], -10)},
            "follow_up_start", "participants_follow_up_after_intake")
    prog_end = (P.group == "programme") & (P.programme_end_date != "") & (P.death_date == "") & (P.emigration_date == "")
    p = pl.first("participants", prog_end)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "programme_end_date": _shift(p["intake_date"], -5)},
            "programme_end_date", "participants_end_after_intake")
    p = pl.first("participants", comp & no_events)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "death_date": _shift(p["intake_date"], -3)},
            "death_date", "participants_death_after_intake")
    p = pl.first("participants", comp & no_events)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "emigration_date": _shift(p["intake_date"], -3)},
            "emigration_date", "participants_emigration_after_intake")
    p = pl.first("participants", prog_end)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "programme_end_reason": ""},
            "programme_end_reason", "participants_end_reason_required")
    p = pl.first("participants", prog_end)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "programme_end_date": ""},
            "programme_end_date", "participants_end_date_required")
    p = pl.first("participants", comp & no_events & (P.intake_date < "2026-06-01"))
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "programme_end_date": _shift(p["intake_date"], 30),
                             "programme_end_reason": "other"},
            "programme_end_date", "participants_comparison_no_programme_end")
    p = pl.first("participants", comp & no_events & (intake_year >= 2021))
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "birth_year": "1920"},
            "birth_year", "participants_age_at_intake")
    age = intake_year - P.birth_year.astype(int)
    p = pl.first("participants", comp & no_events & (age <= 90))
    p_age = int(p["intake_date"][:4]) - int(p["birth_year"])
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "age_first_case": str(p_age + 3)},
            "age_first_case", "participants_age_first_case")
    p = pl.first("participants", comp & no_events)
    pl.rule("participants", {**p, "participant_id": pl.fresh("p"), "death_date": "2026-12-01"},
            "death_date", "participants_not_after_cutoff")

    # ------------------------------------------------ volunteers rules
    ended = V.end_date != ""
    v = pl.first("volunteers", ended)
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "programme_id": UNKNOWN_PROGRAMME},
            "programme_id", "volunteers_programme_known")
    v = pl.first("volunteers", ended)
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "end_date": _shift(v["start_date"], -10)},
            "end_date", "volunteers_end_after_start")
    v = pl.first("volunteers", ended)
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "end_reason": ""}, "end_reason", "volunteers_end_reason_required")
    v = pl.first("volunteers", ended)
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "end_date": ""}, "end_date", "volunteers_end_date_required")
    v = pl.first("volunteers", V.start_date < "2022-01-01")
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "birth_year": str(int(v["start_date"][:4]) - 10)},
            "birth_year", "volunteers_age_at_start")
    v = pl.first("volunteers", ended)
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "expense_allowance_eur_month": "350"},
            "expense_allowance_eur_month", "volunteers_allowance_tax_free")
    v = pl.first("volunteers", V.end_date == "")
    pl.rule("volunteers", {**v, "volunteer_id": pl.fresh("v"), "start_date": "2026-11-01"},
            "start_date", "volunteers_not_after_cutoff")

    # ------------------------------------------------ matches rules
    m_ended = (M.end_date != "") & (M.role != "circle_member")
    m = pl.first("matches", m_ended)
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "end_date": _shift(m["start_date"], -5)},
            "end_date", "matches_end_after_start")
    m = pl.first("matches", m_ended)
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "planned_end_date": _shift(m["start_date"], -5)},
            "planned_end_date", "matches_planned_end_after_start")
    m = pl.first("matches", m_ended)
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "end_reason": ""}, "end_reason", "matches_end_reason_required")
    m = pl.first("matches", m_ended)
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "end_date": ""}, "end_date", "matches_end_date_required")
    m = pl.first("matches", M.role == "circle_member")
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "circle_id": ""}, "circle_id", "matches_circle_required")
    m = pl.first("matches", m_ended)
    comp_id = P.loc[comp, "participant_id"].iloc[0]
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "participant_id": comp_id},
            "participant_id", "matches_participant_in_programme")
    # match starting before intake but inside the volunteer's active period
    vstart = V.set_index("volunteer_id").start_date
    intake = P.set_index("participant_id").intake_date
    mv = M.volunteer_id.map(vstart)
    mi = M.participant_id.map(intake)
    early_ok = (mv <= mi.map(lambda s: _shift(s, -10))) & m_ended
    m = pl.first("matches", early_ok)
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "start_date": _shift(intake[m["participant_id"]], -10)},
            "start_date", "matches_after_intake")
    # the volunteer of another match who started only after this match began
    m = pl.first("matches", m_ended)
    later = V[(V.start_date > m["start_date"]) & (V.programme_id != UNKNOWN_PROGRAMME)]
    if later.empty:
        raise ValueError("synth: no volunteer starting after a match to plant matches_volunteer_active")
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "volunteer_id": later.volunteer_id.iloc[0]},
            "start_date", "matches_volunteer_active")
    m = pl.first("matches", m_ended & (M.volunteer_id.map(V.set_index("volunteer_id").end_date) == ""))
    pl.rule("matches", {**m, "match_id": pl.fresh("m"), "end_date": "2026-11-30"}, "end_date", "matches_not_after_cutoff")

    # ------------------------------------------------ contacts rules
    mstart = M.set_index("match_id").start_date
    c = pl.first("contacts", none_sig)
    pl.rule("contacts", {**c, "contact_id": pl.fresh("c"), "contact_date": _shift(mstart[c["match_id"]], -30)},
            "contact_date", "contacts_within_match")
    c = pl.first("contacts", none_sig)
    pl.rule("contacts", {**c, "contact_id": pl.fresh("c"), "risk_signal": "suicide", "reported_to_supervisor": ""},
            "reported_to_supervisor", "contacts_signal_reported")
    c = pl.first("contacts", none_sig)
    pl.add("contacts", {**c, "contact_id": pl.fresh("c"), "contact_date": "2026-10-15"},
           [("contact_date", "contacts_not_after_cutoff", pl.severity["contacts_not_after_cutoff"]),
            ("contact_date", "contacts_within_match", pl.severity["contacts_within_match"])])

    # ------------------------------------------------ volunteer support rules
    vend = V.set_index("volunteer_id").end_date
    s_end = S.volunteer_id.map(vend)
    s = pl.first("volunteer_support", (s_end != "") & (s_end < "2026-08-01"))
    pl.rule("volunteer_support", {**s, "event_id": pl.fresh("s"), "event_date": _shift(vend[s["volunteer_id"]], 30)},
            "event_date", "support_within_volunteer_period")
    s = pl.first("volunteer_support", s_end == "")
    pl.add("volunteer_support", {**s, "event_id": pl.fresh("s"), "event_date": "2026-10-20"},
           [("event_date", "support_not_after_cutoff", pl.severity["support_not_after_cutoff"]),
            ("event_date", "support_within_volunteer_period", pl.severity["support_within_volunteer_period"])])

    # ------------------------------------------------ justice events rules
    j = pl.first("justice_events", J.registration_date != "")
    pl.rule("justice_events", {**j, "event_id": pl.fresh("j"), "registration_date": _shift(j["offence_date"], -3)},
            "registration_date", "justice_registration_after_offence")
    by = P.set_index("participant_id").birth_year
    j = pl.first("justice_events", J.registration_date != "")
    pl.rule("justice_events", {**j, "event_id": pl.fresh("j"), "offence_date": f"{int(by[j['participant_id']]) - 2}-06-01"},
            "offence_date", "justice_after_birth")
    j = pl.first("justice_events", J.registration_date != "")
    pl.rule("justice_events", {**j, "event_id": pl.fresh("j"), "offence_date": "2026-10-10", "registration_date": ""},
            "offence_date", "justice_not_after_cutoff")

    # ------------------------------------------------ detention periods rules
    detained = set(D.participant_id)
    free = P[comp & ~P.participant_id.isin(detained)].participant_id.tolist()
    if len(free) < 2:
        raise ValueError("synth: intake too small to plant detention errors")
    pl.rule("detention_periods", {"participant_id": free[0], "start_date": "2023-05-10", "end_date": "2023-04-30"},
            "end_date", "detention_end_after_start")
    d = pl.first("detention_periods", (D.end_date != "") & (D.end_date > D.start_date.map(lambda s: _shift(s, 2))))
    pl.rule("detention_periods", {**d, "start_date": _shift(d["start_date"], 1)}, "start_date", "detention_no_overlap")
    pl.rule("detention_periods", {"participant_id": free[1], "start_date": "2026-10-01", "end_date": ""},
            "start_date", "detention_not_after_cutoff")

    # ------------------------------------------------ restorative justice rules
    r = pl.first("rj_sessions", (R.agreement_reached == "true") & (R.agreement_fulfilled != ""))
    pl.rule("rj_sessions", {**r, "session_id": pl.fresh("rj"), "agreement_reached": "false"},
            "agreement_fulfilled", "rj_fulfilled_needs_agreement")
    r = pl.first("rj_sessions", R.victim_satisfaction != "")
    pl.rule("rj_sessions", {**r, "session_id": pl.fresh("rj"), "victim_participated": "false"},
            "victim_satisfaction", "rj_satisfaction_needs_victim")
    r = pl.first("rj_sessions", R.agreement_reached == "false")
    pl.rule("rj_sessions", {**r, "session_id": pl.fresh("rj"), "session_date": "2026-10-12"},
            "session_date", "rj_not_after_cutoff")

    # ------------------------------------------------ costs rules
    k = pl.first("costs", K.category == "insurance")
    pl.rule("costs", {**k, "programme_id": UNKNOWN_PROGRAMME}, "programme_id", "costs_programme_known")
    k = pl.first("costs", K.category == "supervision")
    pl.rule("costs", {**k, "period_end": _shift(k["period_start"], -1)}, "period_end", "costs_period_order")
    k = pl.first("costs", K.category == "overhead")
    pl.rule("costs", {**k, "period_start": "2026-10-01", "period_end": "2026-12-31"}, "period_start", "costs_not_after_cutoff")

    # ------------------------------------------------ re-integration tables (issue 19)
    A, G, CI, VO = T["assessments"], T["goals"], T["circumstances"], T["volunteer_outcomes"]
    interim = A.occasion == "interim"
    a = pl.first("assessments", interim)
    pl.rule("assessments", {**a, "assessment_id": pl.fresh("za"), "score": "9"}, "score", "assessments_score_in_range")
    a = pl.first("assessments", interim)
    pl.rule("assessments", {**a, "assessment_id": pl.fresh("za"), "domain": "dagbesteding_oud"},
            "domain", "assessments_domain_of_instrument")
    a = pl.first("assessments", interim)
    pl.rule("assessments", {**a, "assessment_id": pl.fresh("za"), "instrument": "eigen_matrix"},
            "instrument", "assessments_instrument_declared")
    a = pl.first("assessments", interim)
    first = A[(A.occasion == "intake") & (A.participant_id == a["participant_id"]) & (A.instrument == a["instrument"])
              & (A.domain == a["domain"])].assessment_date.min()
    pl.rule("assessments", {**a, "assessment_id": pl.fresh("za"), "assessment_date": _shift(first, -5)},
            "assessment_date", "assessments_not_before_intake")
    a = pl.first("assessments", A.occasion == "intake")
    pl.rule("assessments", {**a, "assessment_id": pl.fresh("za")}, "occasion", "assessments_one_intake_and_end")
    a = pl.first("assessments", interim)
    pl.rule("assessments", {**a, "assessment_id": pl.fresh("za"), "assessment_date": "2026-10-15"},
            "assessment_date", "assessments_not_after_cutoff")
    reviewed = G.reviewed_date != ""
    g = pl.first("goals", reviewed)
    pl.rule("goals", {**g, "goal_id": pl.fresh("g"), "reviewed_date": ""}, "status", "goals_status_needs_review")
    g = pl.first("goals", reviewed)
    pl.rule("goals", {**g, "goal_id": pl.fresh("g"), "status": ""}, "status", "goals_status_with_review")
    g = pl.first("goals", reviewed)
    pl.rule("goals", {**g, "goal_id": pl.fresh("g"), "reviewed_date": _shift(g["agreed_date"], -5)},
            "reviewed_date", "goals_review_after_agreement")
    g = pl.first("goals", ~reviewed)
    pl.rule("goals", {**g, "goal_id": pl.fresh("g"), "agreed_date": "2026-10-05"}, "agreed_date", "goals_not_after_cutoff")
    intake_only = (CI.occasion == "intake") & ~CI.participant_id.isin(CI.participant_id[CI.occasion == "follow_up"])
    only = np.flatnonzero(intake_only.to_numpy())
    if len(only) < 2:
        raise ValueError("synth: intake too small to plant circumstances errors")
    ci = dict(CI.iloc[only[0]])
    pl.rule("circumstances", {**ci, "occasion": "follow_up", "observation_date": _shift(ci["observation_date"], -10)},
            "observation_date", "circumstances_follow_up_not_before_intake")
    ci = dict(CI.iloc[only[-1]])
    pl.rule("circumstances", {**ci, "occasion": "follow_up", "observation_date": "2026-10-10"},
            "observation_date", "circumstances_not_after_cutoff")
    work = VO.measure == "work_status"
    vo = pl.first("volunteer_outcomes", work)
    pl.rule("volunteer_outcomes", {**vo, "outcome_id": pl.fresh("vo"), "consent_to_linkage": "false"},
            "consent_to_linkage", "volunteer_outcomes_consent")
    not_peer = V[(V.lived_experience == "false") & (V.programme_id != UNKNOWN_PROGRAMME)].volunteer_id
    if not_peer.empty:
        raise ValueError("synth: no volunteer without lived experience to plant volunteer_outcomes_lived_experience")
    vo = pl.first("volunteer_outcomes", work)
    pl.rule("volunteer_outcomes", {**vo, "outcome_id": pl.fresh("vo"), "volunteer_id": not_peer.iloc[0]},
            "volunteer_id", "volunteer_outcomes_lived_experience")
    vo = pl.first("volunteer_outcomes", work)
    pl.rule("volunteer_outcomes", {**vo, "outcome_id": pl.fresh("vo"), "value": ""}, "value",
            "volunteer_outcomes_value_required")
    vo = pl.first("volunteer_outcomes", work)
    pl.rule("volunteer_outcomes", {**vo, "outcome_id": pl.fresh("vo"), "measure": "new_justice_case"}, "value",
            "volunteer_outcomes_value_absent")
    vo = pl.first("volunteer_outcomes", work)
    pl.rule("volunteer_outcomes", {**vo, "outcome_id": pl.fresh("vo"), "observation_date": "2026-10-20"},
            "observation_date", "volunteer_outcomes_not_after_cutoff")

    out = pl.finish()
    planted = pd.DataFrame(pl.planted, columns=PLANTED_COLUMNS)
    all_ids = {r["id"] for res in contract.resources.values() for r in res.rules} - ADDITION_RULES
    missing = sorted(all_ids - set(planted.rule))
    if missing:  # pragma: no cover - guarded by tests; a new contract rule needs a planted example
        raise RuntimeError(f"synth: no planted error for rule(s) {missing}")
    text_cols = {name: _unparsable_columns(df, contract, name) for name, df in out.items()}
    return out, text_cols, planted.sort_values(["table", "row", "rule"], kind="stable").reset_index(drop=True)


def _unparsable_columns(df: pd.DataFrame, contract: Contract, name: str) -> set[str]:
    """Columns with a cell that does not parse as the contract type (kept as text in typed formats)."""
    bad = set()
    for f in contract.resources[name].fields:
        if f["name"] not in df.columns:
            continue
        s = df[f["name"]]
        s = s[s != ""]
        if f["type"] == "date":
            ok = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").notna().all()
        elif f["type"] == "integer":
            ok = s.str.fullmatch(r"-?\d+").all()
        elif f["type"] == "number":
            ok = pd.to_numeric(s, errors="coerce").notna().all()
        elif f["type"] == "boolean":
            ok = s.isin(["true", "false"]).all()
        else:
            ok = True
        if not ok:
            bad.add(f["name"])
    return bad


def retype(df: pd.DataFrame, contract: Contract, name: str, text_columns: set[str]) -> pd.DataFrame:
    """Typed copy of a text table (columns in ``text_columns`` stay text)."""
    out = {}
    for f in contract.resources[name].fields:
        col = f["name"]
        if col not in df.columns:  # an optional field the generator leaves out (contract additions)
            continue
        s = df[col]
        missing = (s == "").to_numpy()
        if col in text_columns or f["type"] == "string":
            out[col] = s.where(~missing, None)
        elif f["type"] == "date":
            out[col] = pd.to_datetime(s.where(~missing, None), format="%Y-%m-%d")
        elif f["type"] == "integer":
            out[col] = pd.array([None if m else int(v) for v, m in zip(s, missing, strict=True)], dtype="Int64")
        elif f["type"] == "number":
            out[col] = pd.to_numeric(s.where(~missing, None)).astype(float)
        else:
            out[col] = pd.array([None if m else v == "true" for v, m in zip(s, missing, strict=True)], dtype="boolean")
    return pd.DataFrame(out)


# ---------------------------------------------------------------- identifiers
_FIRST = ["Jan", "Mohamed", "Kevin", "Sanne", "Pieter", "Fatima", "Dennis", "Anouk", "Youssef", "Linda",
          "Mark", "Priya", "Bas", "Naima", "Ricardo", "Eva"]
_LAST = ["de Vries", "Jansen", "van den Berg", "Bakker", "El Amrani", "Visser", "Smit", "Meijer", "de Boer",
         "Mulder", "Yilmaz", "Bos", "Vos", "Peters", "Hendriks", "Kramer"]


def _bsn_numbers(n: int, seed: int = 11) -> list[str]:
    """``n`` distinct 9-digit numbers passing the Dutch 11-check (synthetic, not real persons)."""
    rng = np.random.default_rng(seed)
    weights = np.array(BSN_WEIGHTS[:8])
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        digits = rng.integers(0, 10, size=(max(n, 16) * 2, 8))
        digits[:, 0] = rng.integers(1, 7, size=len(digits))
        check = (digits @ weights) % 11  # last digit d9 with sum(w_i d_i) - d9 = 0 (mod 11)
        ok = check < 10
        for row, c in zip(digits[ok], check[ok], strict=True):
            s = "".join(map(str, row)) + str(c)
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


def bsn_is_valid(number: str) -> bool:
    """The eleven-test of a 9-digit Dutch citizen service number (:func:`evaluation.contract.identifiers.is_bsn`)."""
    return is_bsn(number)


def add_identifier_columns(intake_dir: str | Path) -> Path:
    """Add direct identifiers ``naam`` and ``bsn`` to ``participants.csv`` (for tests).

    The names are drawn from a short fixed list and the numbers pass the
    11-check but are synthetic. A validator must refuse the table
    (``identifier_column``).

    Returns
    -------
    pathlib.Path
        The changed ``participants.csv``.
    """
    path = Path(intake_dir) / "participants.csv"
    if not path.exists():
        raise ValueError(f"add_identifier_columns: {path} does not exist (only CSV intakes are supported)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    n = len(df)
    i = np.arange(n)
    df["naam"] = [f"{_FIRST[a % len(_FIRST)]} {_LAST[(a * 7 + 3) % len(_LAST)]}" for a in i]
    df["bsn"] = _bsn_numbers(n)
    df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path
