"""Synthetic intake with known truth: ``evaluation synth``.

:func:`generate_intake` writes a complete intake (every table and field of
``data_schema/datapackage.json``, ``programmes.yaml``, ``extract.yaml``) plus
``truth.json`` recording every true parameter used by the generator, so that
estimators can be checked against known values.

Scale
-----
``scale`` multiplies all population sizes linearly. At ``scale=1`` (the demo)
there are 1,250 participants in 8 programmes, a comparison pool of 2,500
persons, about 300 volunteers (205 recruited over 2016-2026 plus those
recruited when no volunteer with free capacity is available at a match start;
COSA circles need many) and about 37,000 contacts. ``scale=40`` gives national
scale: 50,000 participants, 100,000 comparison persons, about 11,000
volunteers and about 1.5 million contacts (about 45 s as CSV; see
``benchmarks/bench_synth.py``). Very small scales keep at least a handful of
persons per programme.

Data-generating model (all times in days)
------------------------------------------
*Recidivism.* Counting criminal cases (offence date after the start of
follow-up, disposal other than acquittal/technical dismissal) follow a
non-homogeneous Poisson process on the at-risk clock (days since
``follow_up_start`` excluding detention) with Weibull proportional intensity
``lambda(t | x, a) = H * k / 730 * (t / 730)**(k - 1) * exp(x'b + a * beta_p)``:
the first counting case therefore has exactly a Weibull proportional-hazards
distribution with conditional log hazard ratio ``beta_p`` for programme
participation (intention to treat, from follow-up start). ``k < 1`` (hazards
decline with time). The category of each case is an independent thinning of
the process (same category as the index offence with a fixed probability;
for COSA the probability of a sexual case is lower under the programme by
``hr_sexual / hr_general``), so special (same-category) recidivism is again
exactly proportional hazards. Acquittals and technical dismissals are added as
a separate noise process and do not touch the truth. A custodial sentence
puts the person in detention from the offence date for ``custodial_days``;
time in detention is not at risk. Death and emigration are independent
competing events.

*Confounding.* Participants of observational programmes differ from their
comparison pool through a latent criminogenic propensity and employment and
housing shifts; the outcome depends only on observed covariates (risk level,
prior cases, age, sex, employment, housing, substance and psychiatric
problems, index offence category), so there is no unmeasured confounding
given those covariates and matching/IPW on them targets the ATT.

*Volunteers.* Stopping follows a Weibull proportional-hazards model with
fixed covariates (lived experience, personal invitation) and three
time-varying switches that happen after the start: first basic training,
first supervision session, first recognition; each switches from 0 to 1 on
the ``event_date`` of the first such ``volunteer_support`` event.

*Matches.* Volunteers take at most 2 concurrent matches or circles (3 for
mediators and facilitators), busy until the planned end; one-to-one
participants have one match at a time (a second one after an early end not
caused by the participant, with probability 0.6). Early ending ("breakdown") of a match follows a Weibull
proportional-hazards model on same-sex matching, the volunteer's lived
experience, goals agreed and the participant's high risk level; matches
also end when the volunteer stops, on reoffending (with a fixed
probability), death or emigration, and otherwise at the planned end date.

*Re-integration (issue 19).* ZRM assessments (2017 for the mentoring and
peer-mentoring programmes, 2010 for the COSA trial; none for restorative
justice and the second COSA programme), personal goals, employment/housing/
income and the own outcomes of consenting peer volunteers, with their truth
under ``reintegration`` in ``truth.json``: see
:mod:`evaluation.synth.reintegration`. They draw from their own random stream,
so the other tables are the same bytes as without them.

The marginal hazard ratios, prevalences and RMST in ``truth.json`` are
population quantities of the data-generating process: they are computed by
simulation (:func:`compute_population_truth`, 200,000 draws per programme,
fixed seed ``TRUTH_SEED``) and stored in ``evaluation/synth/truth.json``
together with a fingerprint of the model; generation reuses the stored values
when the fingerprint matches (else recomputes, ~10-15 s). They therefore do
not depend on ``seed`` or ``scale``. Sample quantities (counts, costs) are
written per intake.

Errors
------
``inject_errors=True`` appends one row per rule of the contract that breaks
exactly that rule and lists it in ``planted_errors.csv`` (see
:mod:`evaluation.synth.errors`); :func:`evaluation.synth.errors.add_identifier_columns`
adds direct identifiers for tests of the identifier check.

References
----------
Duwe G. (2018). Can Circles of Support and Accountability (COSA) significantly
reduce sexual recidivism? Results from a randomized controlled trial in
Minnesota. Journal of Experimental Criminology 14:463-484.
Bender R., Augustin T., Blettner M. (2005). Generating survival times to
simulate Cox proportional hazards models. Statistics in Medicine 24:1713-1723.
Austin P.C. (2012). Generating survival times to simulate Cox proportional
hazards models with time-varying covariates. Statistics in Medicine 31:3946-3958.
"""


from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.contract.schema import load_contract
from evaluation.synth.additions import (
    ADDITION_FIELDS,
    ADDITION_TABLES,
    COVARIATE_DECLARATIONS,
    add_contract_additions,
)
from evaluation.synth.errors import add_identifier_columns as _add_identifier_columns
from evaluation.synth.errors import plant_errors, retype
from evaluation.synth.model import (
    _EPOCH,
    CATEGORIES,
    CUTOFF,
    CUTOFF_DAY,
    EXTRACTED_ON,
    GENERATOR_VERSION,
    HORIZON,
    TRUTH_DRAWS,
    TRUTH_SEED,
    _seq_ids,
)
from evaluation.synth.people import _Gen
from evaluation.synth.reintegration import REINTEGRATION_TABLES, add_reintegration_tables
from evaluation.synth.truth import (
    TRUTH_CACHE,
    _truth,
    _truth_fingerprint,
    compute_population_truth,
    population_truth,
    refresh_truth_cache,
)
from evaluation.synth.writers import (
    FORMATS,
    XLSX_MAX_ROWS,
    _check_target,
    _clear_previous,
    _to_text,
    _write_csv,
    _write_parquet,
    _write_xlsx,
    _yaml_dump,
)

__all__ = [  # the API of ``evaluation synth``; constants and truth re-exported from the step modules
    "CUTOFF",
    "FORMATS",
    "GENERATOR_VERSION",
    "HORIZON",
    "TRUTH_CACHE",
    "TRUTH_DRAWS",
    "TRUTH_SEED",
    "XLSX_MAX_ROWS",
    "_truth_fingerprint",
    "add_identifier_columns",
    "compute_population_truth",
    "configure_parser",
    "generate_intake",
    "main",
    "population_truth",
    "refresh_truth_cache",
]


# ---------------------------------------------------------------- typed tables
def _dates(days: np.ndarray) -> np.ndarray:
    """Epoch days (-1 = missing) -> datetime64[D] with NaT."""
    d = np.asarray(days, dtype=np.int64)
    out = _EPOCH + np.where(d >= 0, d, 0).astype("timedelta64[D]")
    return np.where(d >= 0, out, np.datetime64("NaT"))


def _nullable_int(values: np.ndarray) -> pd.Series:
    v = np.asarray(values, dtype=np.int64)
    return pd.Series(pd.array(np.where(v >= 0, v, 0), dtype="Int64")).mask(v < 0)


def _nullable_bool(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="boolean"))


def _build_tables(g: _Gen) -> dict[str, pd.DataFrame]:
    P, V, M, C, S, R = g.P, g.V, g.M, g.C, g.S, g.R
    pids = np.array([p["description"]["programme_id"] for p in g.progs], dtype=object)
    t: dict[str, pd.DataFrame] = {}
    treated = P["treated"]
    part = pd.DataFrame({
        "participant_id": P["pid"],
        "programme_id": pids[P["prog"]],
        "group": np.where(treated, "programme", "comparison").astype(object),
        "assignment": np.where(P["randomised"], "randomised", "observational").astype(object),
        "sex": P["sex"],
        "birth_year": pd.array(P["birth_year"], dtype="Int64"),
        "intake_date": _dates(P["intake"]),
        "follow_up_start": _dates(P["fus"]),
        "detained_at_intake": pd.array(P["detained"], dtype="boolean"),
        "programme_end_date": _dates(np.where(treated, P["prog_end"], -1)),
        "programme_end_reason": np.where(treated & (P["prog_end"] >= 0), P["prog_reason"], None),
        "risk_level": P["risk_level"],
        "risk_instrument": P["risk_instrument"],
        "risk_score": P["risk_score"],
        "index_offence_category": CATEGORIES[P["index_cat"]].astype(object),
        "prior_cases": pd.array(P["prior_cases"], dtype="Int64"),
        "prior_custodial_sentences": pd.array(P["prior_custodial_sentences"], dtype="Int64"),
        "age_first_case": pd.array(P["age_first_case"], dtype="Int64"),
        "employed_at_intake": pd.array(P["employed_at_intake"], dtype="boolean"),
        "stable_housing_at_intake": pd.array(P["stable_housing_at_intake"], dtype="boolean"),
        "substance_problem": pd.array(P["substance_problem"], dtype="boolean"),
        "psychiatric_problem": pd.array(P["psychiatric_problem"], dtype="boolean"),
        "death_date": _dates(P["death"]),
        "emigration_date": _dates(P["emig"]),
    })
    porder = np.lexsort((P["intake"], ~treated, P["prog"]))
    t["participants"] = part.iloc[porder].reset_index(drop=True)
    vorder = np.lexsort((V["start"], V["prog"]))
    t["volunteers"] = pd.DataFrame({
        "volunteer_id": V["vid"],
        "programme_id": pids[V["prog"]],
        "sex": V["sex"],
        "birth_year": pd.array(V["birth_year"], dtype="Int64"),
        "lived_experience": pd.array(V["le"], dtype="boolean"),
        "recruitment_channel": V["channel"],
        "certificate_of_conduct": pd.array(V["cert"], dtype="boolean"),
        "agreement_signed": pd.array(V["agree"], dtype="boolean"),
        "expense_allowance_eur_month": V["allowance"].astype(float),
        "start_date": _dates(V["start"]),
        "end_date": _dates(V["end"]),
        "end_reason": V["end_reason"],
    }).iloc[vorder].reset_index(drop=True)
    t["matches"] = pd.DataFrame({
        "match_id": M["mid"],
        "participant_id": P["pid"][M["pidx"]],
        "volunteer_id": V["vid"][M["vol"]],
        "role": M["role"],
        "circle_id": M["circle"],
        "start_date": _dates(M["start"]),
        "planned_end_date": _dates(M["planned"]),
        "end_date": _dates(M["end"]),
        "end_reason": M["reason"],
        "goals_agreed": _nullable_bool(M["goals"]),
    })
    t["contacts"] = pd.DataFrame({
        "contact_id": C["cid"],
        "match_id": M["mid"][C["mi"]],
        "contact_date": _dates(C["date"]),
        "minutes": _nullable_int(C["minutes"]),
        "mode": C["mode"],
        "risk_signal": C["signal"],
        "reported_to_supervisor": _nullable_bool(C["reported"]),
    })
    t["volunteer_support"] = pd.DataFrame({
        "event_id": S["eid"],
        "volunteer_id": V["vid"][S["who"]],
        "event_date": _dates(S["date"]),
        "kind": S["kind"],
        "hours": S["hours"],
    })
    J = {key: np.concatenate([part_[key] for part_ in g._justice_parts]) for key in g._justice_parts[0]}
    jorder = np.lexsort((J["offence"], J["who"]))
    J = {key: v[jorder] for key, v in J.items()}
    t["justice_events"] = pd.DataFrame({
        "event_id": _seq_ids("j", len(J["who"]), 9),
        "participant_id": P["pid"][J["who"]],
        "offence_date": _dates(J["offence"]),
        "registration_date": _dates(J["registration"]),
        "offence_category": CATEGORIES[J["cat"]].astype(object),
        "max_penalty_years": J["maxpen"].astype(float),
        "pretrial_detention_allowed": pd.array(J["pretrial"].astype(bool), dtype="boolean"),
        "disposal": J["disposal"].astype(object),
        "custodial_days": _nullable_int(J["custodial"]),
    })
    det = g._detentions
    dwho = np.r_[np.flatnonzero(P["detained"]), det["who"]]
    dstart = np.r_[P["det_start"][P["detained"]], det["start"]]
    dend = np.r_[P["fus"][P["detained"]], det["end"]]
    dend = np.where(dend > CUTOFF_DAY, -1, dend)
    dorder = np.lexsort((dstart, dwho))
    t["detention_periods"] = pd.DataFrame({
        "participant_id": P["pid"][dwho[dorder]],
        "start_date": _dates(dstart[dorder]),
        "end_date": _dates(dend[dorder]),
    })
    t["rj_sessions"] = pd.DataFrame({
        "session_id": R["sid"],
        "participant_id": P["pid"][M["pidx"][R["mi"]]],
        "session_date": _dates(R["date"]),
        "kind": R["kind"],
        "victim_participated": pd.array(R["victim"].astype(bool), dtype="boolean"),
        "agreement_reached": pd.array(R["agree"].astype(bool), dtype="boolean"),
        "agreement_fulfilled": _nullable_bool(R["fulfilled"]),
        "victim_satisfaction": _nullable_int(R["sat"]),
    })
    K = g.K
    t["costs"] = pd.DataFrame({
        "programme_id": K["programme_id"].astype(object).to_numpy(),
        "period_start": _dates(K["period_start"].to_numpy()),
        "period_end": _dates(K["period_end"].to_numpy()),
        "category": K["category"].astype(object).to_numpy(),
        "amount_eur": K["amount_eur"].astype(float).to_numpy(),
    })
    # contract order and completeness
    for name, res in g.contract.resources.items():
        if name in ADDITION_TABLES or name in REINTEGRATION_TABLES:
            continue
        df = t[name]
        optional = ADDITION_FIELDS.get(name, frozenset())
        missing = [f for f in res.field_names if f not in df.columns and f not in optional]
        if missing:  # pragma: no cover - guarded by tests
            raise RuntimeError(f"synth: table {name} lacks contract fields {missing}")
        t[name] = df[[f for f in res.field_names if f in df.columns]]
    return t


def generate_intake(out_dir: str | Path, seed: int, scale: float = 1.0, fmt: str = "csv",
                    inject_errors: bool = False, contract_additions: bool = False) -> Path:
    """Write a synthetic intake with known true effects.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if needed). Files of an earlier run of
        this generator in that folder (table files, ``intake.xlsx``,
        ``truth.json``, ``planted_errors.csv``, the two YAML files) are
        replaced; a folder with intake files but without ``synthetic: true``
        in ``extract.yaml`` is refused (ValueError), so real data are never
        overwritten.
    seed : int
        Seed of the single ``numpy.random.default_rng``; same seed, scale and
        format give byte-identical files.
    scale : float
        Population size multiplier (1 = demo: 1,250 participants; 40 =
        national: 50,000 participants, 100,000 comparison persons, ~11,000
        volunteers, ~1.5 million contacts).
    fmt : {"csv", "parquet", "xlsx"}
        Table format: one CSV or Parquet file per table, or one workbook
        ``intake.xlsx`` with a sheet per table (limited to 1,048,575 rows per
        table).
    inject_errors : bool
        Plant known errors of every rule type (see :mod:`evaluation.synth.errors`)
        and write ``planted_errors.csv``.
    contract_additions : bool
        Also write the optional fields and table of issue 16 (see
        :mod:`evaluation.synth.additions`); default False (the demo has none).
        Cannot be combined with ``inject_errors``.

    Returns
    -------
    pathlib.Path
        The intake folder.
    """
    if fmt not in FORMATS:
        raise ValueError(f"synth: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"synth: seed must be a non-negative integer, got {seed!r}")
    if inject_errors and contract_additions:
        raise ValueError("synth: --inject-errors cannot be combined with --contract-additions")
    contract = load_contract()
    g = _Gen(int(seed), scale, contract)
    g.participants()
    g.justice()
    g.volunteers()
    g.matches()
    g.contacts()
    g.support()
    g.rj_sessions()
    g.costs()
    tables = _build_tables(g)
    # issue 19: assessments, goals, circumstances, volunteer_outcomes (own random stream: the
    # other tables are byte-identical with or without them)
    tables, reintegration_truth = add_reintegration_tables(tables, g.progs, int(seed), CUTOFF)
    truth = _truth(g, tables)
    truth["reintegration"] = reintegration_truth
    if contract_additions:
        tables = add_contract_additions(tables, int(seed), CUTOFF)
        tables = {name: df[[f for f in contract.resources[name].field_names if f in df.columns]]
                  for name, df in tables.items()}
    text = {name: _to_text(df, contract, name) for name, df in tables.items()}
    dirty: dict[str, set[str]] = {}
    planted = None
    programmes = {"programmes": [p["description"] for p in g.progs]}
    if inject_errors:
        text, dirty, planted = plant_errors(text, contract, fmt)
        tables = {name: retype(df, contract, name, dirty[name]) for name, df in text.items()}
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"synth: {out} exists and is not a folder")
    if out.exists():
        _check_target(out, contract)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out, contract)
    if fmt == "xlsx":
        _write_xlsx(out / "intake.xlsx", text, dirty, contract)
    for name, res in contract.resources.items():
        if name not in text:
            continue
        base = res.descriptor["path"].rsplit(".", 1)[0]
        if fmt == "csv":
            _write_csv(out / f"{base}.csv", text[name])
        elif fmt == "parquet":
            _write_parquet(out / f"{base}.parquet", tables[name], text[name], dirty.get(name, set()), contract, name)
    (out / "programmes.yaml").write_text(_yaml_dump(programmes), encoding="utf-8")
    extract = {"cutoff_date": CUTOFF, "extracted_on": EXTRACTED_ON,
               "supplier": "evaluation synth (synthetic data, not real persons)", "format": fmt,
               "synthetic": True, "notes": f"seed {int(seed)}, scale {float(scale)}, generator {GENERATOR_VERSION}"}
    if contract_additions:
        extract["covariates"] = COVARIATE_DECLARATIONS
        extract["notes"] += ", with the issue-16 contract additions"
    (out / "extract.yaml").write_text(_yaml_dump(extract), encoding="utf-8")
    truth["format"] = fmt
    truth["inject_errors"] = bool(inject_errors)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if planted is not None:
        planted.to_csv(out / "planted_errors.csv", index=False, lineterminator="\n", encoding="utf-8")
    return out


def add_identifier_columns(intake_dir: str | Path) -> Path:
    """Add ``naam`` and ``bsn`` (valid 11-check) columns to ``participants.csv`` (for tests).

    See :func:`evaluation.synth.errors.add_identifier_columns`.
    """
    return _add_identifier_columns(intake_dir)


# ---------------------------------------------------------------- CLI
def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``evaluation synth``."""
    p.add_argument("--out", required=True, help="folder to write the intake into")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed -> same bytes)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="size multiplier: 1 = demo (1,250 participants), 40 = national (50,000 participants)")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="csv", help="table format (default csv)")
    p.add_argument("--inject-errors", action="store_true",
                   help="plant known errors of every rule type and write planted_errors.csv")
    p.add_argument("--contract-additions", action="store_true",
                   help="also write observation_end, event kind/date precision/custodial flag, a few 'unknown' "
                        "codes and a participant_covariates table declared in extract.yaml (default off)")


def main(args: argparse.Namespace) -> int:
    """Run ``evaluation synth``."""
    try:
        out = generate_intake(args.out, args.seed, scale=args.scale, fmt=args.fmt, inject_errors=args.inject_errors,
                              contract_additions=args.contract_additions)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"synthetic intake written to {out}")
    return 0
