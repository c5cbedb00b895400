"""Tests of the synthetic intake generator (evaluation.synth.generate).

Reference values are the generator's own documented targets (docs/methods.md,
section 'Published reference figures'): 2-year general recidivism among comparison persons 35-55%,
30-50% of mentoring matches ending early, annual volunteer turnover 20-35%,
and the non-collapsibility of the hazard ratio (Gail, Wieand & Piantadosi
1984): for a non-null conditional effect the marginal HR lies closer to 1.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.contract.schema import load_contract
from evaluation.synth import generate as synth
from evaluation.synth import model

CUTOFF = pd.Timestamp("2026-09-30")


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """One scale-1 intake (the demo size) shared by calibration and validation tests."""
    return synth.generate_intake(tmp_path_factory.mktemp("demo"), seed=20260930, scale=1.0)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return synth.generate_intake(tmp_path_factory.mktemp("small"), seed=7, scale=0.2)


# ----------------------------------------------------------------- determinism
@pytest.mark.parametrize("fmt,scale", [("csv", 0.2), ("parquet", 0.2), ("xlsx", 0.05)])
def test_same_seed_same_bytes_different_seed_different(tmp_path, fmt, scale):
    a = synth.generate_intake(tmp_path / "a", seed=11, scale=scale, fmt=fmt)
    b = synth.generate_intake(tmp_path / "b", seed=11, scale=scale, fmt=fmt)
    c = synth.generate_intake(tmp_path / "c", seed=12, scale=scale, fmt=fmt)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert ha == hb
    table_files = [n for n in ha if n.endswith((".csv", ".parquet", ".xlsx"))]
    assert len(table_files) == (1 if fmt == "xlsx" else 13)  # 9 + the 4 re-integration tables (issue 19)
    assert all(ha[n] != hc[n] for n in table_files)


# ----------------------------------------------------------------- contract
def test_every_contract_table_and_field_present_in_order(small):
    from evaluation.synth.additions import ADDITION_FIELDS, ADDITION_TABLES

    contract = load_contract()
    # the issue-16 fields and table are written only with contract_additions (tests/test_contract_additions.py)
    resources = {n: r for n, r in contract.resources.items() if n not in ADDITION_TABLES}
    for name, res in resources.items():
        df = _read(small, res.descriptor["path"].rsplit(".", 1)[0])
        assert list(df.columns) == [f for f in res.field_names if f not in ADDITION_FIELDS.get(name, ())], name
        assert len(df) > 0, f"{name} is empty"
    # every optional field is filled somewhere (no column left entirely empty)
    for name, res in resources.items():
        df = _read(small, res.descriptor["path"].rsplit(".", 1)[0])
        empty = [c for c in df.columns if (df[c] == "").all()]
        assert not empty, f"{name}: columns never filled: {empty}"


def test_yaml_files_valid_against_schemas(small):
    contract = load_contract()
    programmes = yaml.safe_load((small / "programmes.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(programmes, contract.programme_schema)
    extract = yaml.safe_load((small / "extract.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(extract, contract.extract_schema)
    assert extract["cutoff_date"] == "2026-09-30" and extract["synthetic"] is True
    progs = programmes["programmes"]
    assert {p["programme_type"] for p in progs} == {"mentoring", "peer_mentoring", "cosa", "restorative_justice"}
    for dim in ("organisation_model", "cooperation_model", "vision_focus", "task_type"):
        values = {p[dim] for p in progs}
        allowed = set(contract.programme_schema["$defs"]["programme"]["properties"][dim]["enum"]) - {"unknown"}
        assert values == allowed, dim
    # TIDieR completeness varies between programmes
    filled = [sum(bool(v) for v in p["tidier"].values()) for p in progs]
    assert max(filled) == 12 and min(filled) < 10


def test_designs_in_the_data(small):
    p = _read(small, "participants")
    truth = json.loads((small / "truth.json").read_text())
    designs = {t["programme_id"]: t["design"] for t in truth["programmes"]}
    assert sorted(set(designs.values())) == ["descriptive", "matched", "rct"]
    for pid, design in designs.items():
        sub = p[p.programme_id == pid]
        groups = set(sub.group)
        if design == "descriptive":
            assert groups == {"programme"}
        else:
            assert groups == {"programme", "comparison"}
        expected = "randomised" if design == "rct" else "observational"
        assert set(sub.assignment) == {expected}, pid


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        synth.generate_intake(tmp_path, seed=1, scale=0)
    with pytest.raises(ValueError, match="format"):
        synth.generate_intake(tmp_path, seed=1, fmt="ods")
    with pytest.raises(ValueError, match="seed"):
        synth.generate_intake(tmp_path, seed=-3)


def test_cli_writes_intake(tmp_path):
    from evaluation.cli import main

    rc = main(["synth", "--out", str(tmp_path / "x"), "--seed", "5", "--scale", "0.1"])
    assert rc == 0
    assert (tmp_path / "x" / "participants.csv").exists()
    assert json.loads((tmp_path / "x" / "truth.json").read_text())["seed"] == 5
    assert main(["synth", "--out", str(tmp_path / "y"), "--seed", "5", "--scale", "-1"]) == 2
    assert not (tmp_path / "y").exists()


# ----------------------------------------------------------------- calibration (scale 1)
def test_two_year_recidivism_of_comparison_persons_in_band(demo):
    p = _read(demo, "participants")
    j = _read(demo, "justice_events")
    fus = pd.to_datetime(p.set_index("participant_id").follow_up_start)
    j = j[~j.disposal.isin(["acquittal", "technical_dismissal"])]
    off = pd.to_datetime(j.offence_date)
    after = off.to_numpy() > fus.reindex(j.participant_id).to_numpy()
    first = off[after].groupby(j.participant_id[after].to_numpy()).min()
    comp = p[(p.group == "comparison")].copy()
    start = pd.to_datetime(comp.follow_up_start)
    comp = comp[start + pd.Timedelta(days=730) <= CUTOFF]
    days = (comp.participant_id.map(first) - pd.to_datetime(comp.follow_up_start)).dt.days
    share = float((days <= 730).mean())
    assert len(comp) > 1000
    assert 0.35 <= share <= 0.55, share


def test_mentoring_matches_end_early_in_band(demo):
    m = _read(demo, "matches")
    ended = m[m.role.isin(["mentor", "peer_mentor"]) & (m.end_reason != "")]
    share = float((ended.end_reason != "planned_completion").mean())
    assert len(ended) > 300
    assert 0.30 <= share <= 0.50, share


def test_volunteer_annual_turnover_in_band(demo):
    v = _read(demo, "volunteers")
    start = pd.to_datetime(v.start_date)
    end = pd.to_datetime(v.end_date.replace("", None))
    # stops per volunteer-year active, pooled over 2021-2025
    a, b = pd.Timestamp("2021-01-01"), pd.Timestamp("2025-12-31")
    s = start.clip(lower=a)
    e = end.fillna(b).clip(upper=b)
    years = ((e - s).dt.days + 1).clip(lower=0).sum() / 365.25
    stops = int(((end >= a) & (end <= b)).sum())
    rate = stops / years
    assert 0.20 <= rate <= 0.35, rate


def test_no_date_after_cutoff_and_contacts_inside_matches(demo):
    contract = load_contract()
    checked = 0
    for name, res in contract.resources.items():
        if name == "participant_covariates":  # written only with contract_additions
            continue
        df = _read(demo, res.descriptor["path"].rsplit(".", 1)[0])
        for rule in res.rules:
            if rule["kind"] != "not_after_cutoff":
                continue
            for f in rule["fields"]:
                d = pd.to_datetime(df[f].replace("", None))
                assert not (d > CUTOFF).any(), (name, f)
                checked += 1
    assert checked >= 15
    m = _read(demo, "matches").set_index("match_id")
    c = _read(demo, "contacts")
    cd = pd.to_datetime(c.contact_date)
    ms = pd.to_datetime(m.start_date.reindex(c.match_id).to_numpy())
    me = pd.to_datetime(m.end_date.replace("", None).reindex(c.match_id).to_numpy())
    assert (cd.to_numpy() >= ms).all()
    assert ((cd.to_numpy() <= me) | me.isna()).all()


# ----------------------------------------------------------------- truth.json
def test_truth_marginal_hr_closer_to_one_than_conditional(small):
    truth = json.loads((small / "truth.json").read_text())
    checked = 0
    for prog in truth["programmes"]:
        for ep_name, ep in prog["endpoints"].items():
            b = ep["conditional_log_hr"]
            if b is None:
                continue
            m = ep["marginal_log_hr"]
            assert math.copysign(1, m) == math.copysign(1, b), (prog["programme_id"], ep_name)
            # allow the Monte-Carlo error of the marginal estimate (4 standard errors)
            assert abs(m) < abs(b) + 4 * ep["marginal_log_hr_mc_se"], (prog["programme_id"], ep_name)
            if ep["prevalence_730d_comparison"] > 0.15:
                # common outcome: strict attenuation (rare outcomes, e.g. COSA sexual
                # reoffending, have marginal ~ conditional, so only the MC allowance applies)
                assert abs(m) < abs(b), (prog["programme_id"], ep_name)
            checked += 1
            assert ep["prevalence_730d_programme"] < ep["prevalence_730d_comparison"]
            assert ep["prevalence_365d_programme"] < ep["prevalence_730d_programme"]
            assert ep["rmst_730d_programme"] > ep["rmst_730d_comparison"]
            # competing death/emigration (about 1.5% a year) lower the cumulative incidence a little
            # below the net risk 1 - S(t); Monte-Carlo SE of a proportion from 200,000 draws <= 0.0012
            for arm in ("programme", "comparison"):
                net, cif = ep[f"prevalence_730d_{arm}"], ep[f"cuminc_730d_{arm}"]
                assert net - 0.03 < cif < net + 0.004, (prog["programme_id"], ep_name, arm)
            assert 0 < ep["rmst_730d_comparison"] < 730
    assert checked >= 12
    cosa = next(p for p in truth["programmes"] if p["design"] == "rct")
    assert cosa["programme_type"] == "cosa"
    assert cosa["endpoints"]["special"]["conditional_hr"] == pytest.approx(0.3)
    # low sexual recidivism of COSA core members without the programme (about 5% in 3 years)
    assert 0.02 < cosa["endpoints"]["special"]["prevalence_730d_comparison"] < 0.06
    desc = next(p for p in truth["programmes"] if p["design"] == "descriptive")
    assert 0.2 < desc["reference_rate"]["prevalence_730d"] < 0.7
    rj = [p for p in truth["programmes"] if p["programme_type"] == "restorative_justice"]
    for p in rj:
        by = p["endpoints"]["general"]["conditional_log_hr_by_index_offence"]
        assert abs(by["drugs"]) < abs(by["other_categories"])


def test_truth_records_volunteer_and_match_models(small):
    truth = json.loads((small / "truth.json").read_text())
    v = truth["volunteers"]["log_hr"]
    assert set(v) == {"lived_experience", "personal_invitation", "basic_training", "supervision", "recognition"}
    assert v["personal_invitation"] < 0 and v["basic_training"] < 0
    assert set(truth["matches"]["log_hr"]) == {"same_sex", "volunteer_lived_experience", "goals_agreed",
                                              "participant_risk_high"}
    costs = _read(small, "costs")
    total = costs.groupby("programme_id").amount_eur.apply(lambda s: s.astype(float).sum())
    for pid, amount in truth["costs"]["total_eur_by_programme"].items():
        assert amount == pytest.approx(total[pid], abs=0.01 * 200)


def test_population_truth_cache_is_current():
    """The stored population truth matches the current model (else generation recomputes it slowly)."""
    cached = json.loads(synth.TRUTH_CACHE.read_text(encoding="utf-8"))
    assert cached["fingerprint"] == synth._truth_fingerprint(synth.TRUTH_DRAWS, synth.TRUTH_SEED)


def test_population_truth_small_sample_agrees_with_cache():
    """A fresh 20,000-draw simulation (other seed) agrees with the stored 200,000-draw truth.

    Tolerance: Monte-Carlo SE of a log HR from 20,000 paired draws is about
    0.01-0.02 (0.06 for the rare COSA sexual endpoint); prevalence SE about 0.004.
    """
    cached = json.loads(synth.TRUTH_CACHE.read_text(encoding="utf-8"))["programmes"]
    fresh = synth.compute_population_truth(draws=20_000, seed=99)
    for pid, prog in fresh.items():
        for ep_name, ep in prog["endpoints"].items():
            ref = cached[pid]["endpoints"][ep_name]
            tol = 4 * math.hypot(ep["marginal_log_hr_mc_se"], ref["marginal_log_hr_mc_se"])
            assert ep["marginal_log_hr"] == pytest.approx(ref["marginal_log_hr"], abs=tol), (pid, ep_name)
            assert ep["prevalence_730d_comparison"] == pytest.approx(ref["prevalence_730d_comparison"], abs=0.02)


# ----------------------------------------------------------------- validation
def test_demo_validates_without_errors(demo):
    from evaluation.validation.validate import validate_intake

    res = validate_intake(demo)
    errors = res.issues[res.issues.severity == "error"]
    assert errors.empty, errors.head(20).to_string()
    warnings = res.issues[res.issues.severity == "warning"]
    assert len(warnings) <= 20, warnings.rule.value_counts().to_string()


@pytest.mark.parametrize("fmt,seed,scale", [("csv", 3, 0.25), ("parquet", 4, 0.25), ("xlsx", 5, 0.1)])
def test_all_formats_validate_without_errors(tmp_path, fmt, seed, scale):
    from evaluation.validation.validate import validate_intake

    out = synth.generate_intake(tmp_path, seed=seed, scale=scale, fmt=fmt)
    res = validate_intake(out)
    errors = res.issues[res.issues.severity == "error"]
    assert errors.empty, errors.head(20).to_string()
    assert int(res.reconciliation.rows_quarantined.sum()) == 0
    n = json.loads((out / "truth.json").read_text())["counts"]
    for name, count in n.items():
        assert len(res.tables[name]) == count, name
    assert np.all(res.tables["participants"].birth_year.notna())


# ----------------------------------------------------------------- planted errors
def _planted_vs_found(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from evaluation.validation.validate import validate_intake

    planted = pd.read_csv(out / "planted_errors.csv", dtype=str, keep_default_na=False)
    res = validate_intake(out)
    found = res.issues[res.issues.level == "row"].copy()
    found["row"] = found["row"].astype(str)
    return planted, found


def test_planted_errors_cover_every_rule_and_match_validator_exactly(tmp_path):
    out = synth.generate_intake(tmp_path, seed=21, scale=0.2, inject_errors=True)
    planted, found = _planted_vs_found(out)
    assert list(planted.columns) == ["table", "row", "field", "rule", "severity", "value"]
    contract = load_contract()
    field_rules = {"type", "required", "enum", "minimum", "maximum", "pattern", "unique", "primary_key", "foreign_key"}
    from evaluation.synth.errors import (
        ADDITION_RULES,  # planted in tests/test_contract_additions.py
    )

    resource_rules = {r["id"]: r["severity"] for res in contract.resources.values() for r in res.rules
                      if r["id"] not in ADDITION_RULES}
    assert field_rules | set(resource_rules) == set(planted.rule)
    for rid, sev in resource_rules.items():
        assert set(planted.severity[planted.rule == rid]) == {sev}, rid
    # one planted row per error, except the two documented double violations
    per_row = planted.groupby(["table", "row"]).rule.agg(lambda s: tuple(sorted(s)))
    doubles = per_row[per_row.map(len) > 1]
    assert set(doubles) == {("contacts_not_after_cutoff", "contacts_within_match"),
                            ("support_not_after_cutoff", "support_within_volunteer_period")}
    key = ["table", "row", "rule", "field", "severity"]
    a = planted[key].sort_values(key).reset_index(drop=True)
    b = found[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    # the planted rows were appended: the clean rows keep their numbers and values
    clean = synth.generate_intake(tmp_path / "clean", seed=21, scale=0.2)
    for name in ("participants", "contacts", "matches"):
        d_clean = _read(clean, name)
        d_err = _read(out, name)
        pd.testing.assert_frame_equal(d_err.iloc[: len(d_clean)], d_clean)


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_planted_errors_same_rows_in_typed_formats(tmp_path, fmt):
    out = synth.generate_intake(tmp_path, seed=22, scale=0.05, fmt=fmt, inject_errors=True)
    planted, found = _planted_vs_found(out)
    key = ["table", "row", "rule"]
    assert planted[key].sort_values(key).to_numpy().tolist() == found[key].sort_values(key).to_numpy().tolist()


def test_identifier_columns_block_the_table(tmp_path):
    from evaluation.synth.errors import add_identifier_columns, bsn_is_valid
    from evaluation.validation.validate import validate_intake

    out = synth.generate_intake(tmp_path, seed=23, scale=0.05)
    add_identifier_columns(out)
    p = _read(out, "participants")
    assert {"naam", "bsn"} <= set(p.columns)
    assert all(bsn_is_valid(x) for x in p.bsn)
    assert p.bsn.is_unique
    # hand-checked 11-check examples: 111222333 (9+8+7+12+10+8+9+6 = 69, minus 3 = 66 = 6 x 11) is valid
    assert bsn_is_valid("111222333") and not bsn_is_valid("111222334")
    res = validate_intake(out)
    blocked = res.issues[(res.issues.table == "participants") & (res.issues.rule == "identifier_column")]
    assert set(blocked.field) >= {"naam", "bsn"}
    with pytest.raises(ValueError, match="participants.csv"):
        add_identifier_columns(tmp_path / "nowhere")


def test_three_formats_carry_the_same_cells(tmp_path):
    """CSV, Parquet and Excel of one seed read back (evaluation.intake.read) to identical text tables."""
    from evaluation.intake.read import read_intake

    raw = {f: read_intake(synth.generate_intake(tmp_path / f, seed=9, scale=0.05, fmt=f)) for f in synth.FORMATS}
    assert raw["xlsx"].fmt == "xlsx" and raw["parquet"].fmt == "parquet"
    for name, table in raw["csv"].tables.items():
        a = table.data.astype(object)
        for fmt in ("parquet", "xlsx"):
            b = raw[fmt].tables[name].data.astype(object)
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=f"{fmt}:{name}")


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tmp_path, monkeypatch):
    from evaluation.synth import writers

    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 100)
    with pytest.raises(ValueError, match="more than an Excel sheet holds"):
        synth.generate_intake(tmp_path, seed=1, scale=0.05, fmt="xlsx")


# ----------------------------------------------------------------- truth is recoverable
_TYPE_BY_PREFIX = {"MENT": "mentoring", "PEER": "peer_mentoring", "COSA": "cosa", "RJ-M": "restorative_justice",
                   "RJ-C": "restorative_justice"}


def _first_event_frame(folder: Path) -> pd.DataFrame:
    """Per person: days to the first counting case (censored at death, emigration or cutoff) and covariates."""
    p = _read(folder, "participants")
    j = _read(folder, "justice_events")
    fus = pd.to_datetime(p.follow_up_start)
    j = j[~j.disposal.isin(["acquittal", "technical_dismissal"])]
    off = pd.to_datetime(j.offence_date)
    after = off.to_numpy() > fus.set_axis(p.participant_id).reindex(j.participant_id).to_numpy()
    first = off[after].groupby(j.participant_id[after].to_numpy()).min()
    end = pd.concat([pd.to_datetime(p.death_date.replace("", None)),
                     pd.to_datetime(p.emigration_date.replace("", None))], axis=1).min(axis=1).fillna(CUTOFF)
    fe = p.participant_id.map(first)
    event = fe.notna() & (fe <= end)
    time = (fe.where(event, end) - fus).dt.days.clip(lower=1)
    age = pd.to_datetime(p.intake_date).dt.year - p.birth_year.astype(int)
    x = pd.DataFrame({
        "T": time.astype(float), "E": event.astype(int),
        "risk_medium": (p.risk_level == "medium") * 1, "risk_high": (p.risk_level == "high") * 1,
        "risk_unknown": (p.risk_level == "unknown") * 1, "log1p_prior_cases": np.log1p(p.prior_cases.astype(int)),
        "age_per_year_minus_35": age - 35, "substance_problem": (p.substance_problem == "true") * 1,
        "psychiatric_problem": (p.psychiatric_problem == "true") * 1,
        "employed_at_intake": (p.employed_at_intake == "true") * 1,
        "stable_housing_at_intake": (p.stable_housing_at_intake == "true") * 1, "female": (p.sex == "female") * 1,
    })
    for c in ["property", "sexual", "drugs", "public_order", "traffic", "other"]:
        x[f"cat_{c}"] = (p.index_offence_category == c) * 1
    ptype = p.programme_id.str[:4].map(_TYPE_BY_PREFIX)
    treated = p.group == "programme"
    for t in ["mentoring", "peer_mentoring", "cosa"]:
        x[f"tr_{t}"] = (treated & (ptype == t)) * 1
    x["tr_rj_other"] = (treated & (ptype == "restorative_justice") & (p.index_offence_category != "drugs")) * 1
    x["tr_rj_drugs"] = (treated & (ptype == "restorative_justice") & (p.index_offence_category == "drugs")) * 1
    x["programme_id"] = p.programme_id.to_numpy()
    return x


def _conditional_truth() -> dict[str, float]:
    eff = model.TYPE_EFFECTS
    out = {k: v for k, v in model.OUTCOME_COEF.items()}
    out.update({f"cat_{c}": v for c, v in model.INDEX_COEF.items() if c != "violence"})
    out.update({"tr_mentoring": math.log(eff["mentoring"]["hr_general"]),
                "tr_peer_mentoring": math.log(eff["peer_mentoring"]["hr_general"]),
                "tr_cosa": math.log(eff["cosa"]["hr_general"]),
                "tr_rj_other": math.log(eff["restorative_justice"]["hr_general"]),
                "tr_rj_drugs": math.log(eff["restorative_justice"]["hr_general_drugs"])})
    return out


def _adjusted_cox(folder: Path) -> pd.DataFrame:
    from lifelines import CoxPHFitter

    x = _first_event_frame(folder).drop(columns="programme_id")
    fit = CoxPHFitter().fit(x, "T", "E")
    truth = _conditional_truth()
    return pd.DataFrame({"coef": fit.params_, "se": fit.standard_errors_, "truth": pd.Series(truth)})


def _volunteer_counting_process(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(start, stop] rows with the three time-varying switches, and a naive 'ever' coding."""
    v = _read(folder, "volunteers")
    s = _read(folder, "volunteer_support")
    start = pd.to_datetime(v.start_date)
    end = pd.to_datetime(v.end_date.replace("", None))
    v = v.assign(T=((end.fillna(CUTOFF) - start).dt.days).astype(float), E=end.notna().astype(int),
                 lived_experience=(v.lived_experience == "true") * 1,
                 personal_invitation=(v.recruitment_channel == "personal_invitation") * 1)
    s = s.assign(t=(pd.to_datetime(s.event_date) - start.set_axis(v.volunteer_id).reindex(s.volunteer_id).to_numpy()).dt.days)
    kinds = {"basic_training": ["basic_training"],
             "supervision": ["individual_supervision", "group_supervision", "peer_supervision"],
             "recognition": ["recognition"]}
    for k, ks in kinds.items():
        v[f"s_{k}"] = v.volunteer_id.map(s[s.kind.isin(ks)].groupby("volunteer_id").t.min()).astype(float)
    # split at every switch time inside (0, T)
    cuts = v[[f"s_{k}" for k in kinds]].to_numpy()
    cuts = np.where((cuts > 0) & (cuts < v["T"].to_numpy()[:, None]), cuts, np.nan)
    pts = np.sort(np.c_[np.zeros(len(v)), cuts, v["T"].to_numpy()], axis=1)
    rows = []
    for a_col in range(pts.shape[1] - 1):
        a = pts[:, a_col]
        b = pts[:, a_col + 1]  # sorted, NaN last; equal neighbours give empty segments, dropped below
        ok = np.isfinite(a) & np.isfinite(b)
        seg = pd.DataFrame({"id": v.volunteer_id[ok].to_numpy(), "start": a[ok], "stop": b[ok],
                            "event": (v.E.to_numpy()[ok] == 1) & (b[ok] == v["T"].to_numpy()[ok])})
        seg["lived_experience"] = v.lived_experience.to_numpy()[ok]
        seg["personal_invitation"] = v.personal_invitation.to_numpy()[ok]
        for k in kinds:
            seg[k] = (v[f"s_{k}"].to_numpy()[ok] <= a[ok]) * 1
        rows.append(seg)
    cp = pd.concat(rows, ignore_index=True)
    cp = cp[cp.stop > cp.start].assign(event=lambda d: d.event.astype(int))
    naive = v.assign(**{f"ever_{k}": v[f"s_{k}"].notna() * 1 for k in kinds})
    naive = naive[["T", "E", "lived_experience", "personal_invitation"] + [f"ever_{k}" for k in kinds]]
    return cp, naive[naive["T"] > 0]


def _volunteer_fits(folder: Path) -> tuple[pd.DataFrame, pd.Series]:
    from lifelines import CoxPHFitter, CoxTimeVaryingFitter

    cp, naive = _volunteer_counting_process(folder)
    tv = CoxTimeVaryingFitter().fit(cp, id_col="id", start_col="start", stop_col="stop", event_col="event")
    nv = CoxPHFitter().fit(naive, "T", "E")
    truth = pd.Series(model.VOLUNTEER_COEF)
    return pd.DataFrame({"coef": tv.params_, "se": tv.standard_errors_, "truth": truth}), nv.params_


def test_adjusted_cox_recovers_the_conditional_effects(demo):
    """The first counting case is exactly Weibull PH in the recorded covariates.

    One fixed seed at scale 1: every coefficient lies within 3.5 SE of the
    generator's value (a correct generator fails this with probability
    about 0.01 over the 21 terms); coverage over seeds is in the slow test.
    """
    res = _adjusted_cox(demo)
    z = (res.coef - res.truth) / res.se
    assert (z.abs() < 3.5).all(), res.assign(z=z).to_string()


def test_time_varying_cox_recovers_volunteer_effects_and_naive_coding_is_biased(demo):
    res, naive = _volunteer_fits(demo)
    z = (res.coef - res.truth) / res.se
    assert (z.abs() < 3.5).all(), res.assign(z=z).to_string()
    # immortal time: 'ever trained' at baseline looks far more protective than the truth
    assert naive["ever_basic_training"] < model.VOLUNTEER_COEF["basic_training"] - 0.3
    assert naive["ever_basic_training"] < res.coef["basic_training"] - 0.3


@pytest.mark.slow
def test_coverage_of_generator_truth_over_seeds(tmp_path):
    """95% Wald intervals of correctly specified Cox models cover the generator's values.

    12 seeds at scale 2; pooled over the 5 programme terms (conditional
    recidivism model) and the 5 volunteer terms: 120 intervals, expected
    coverage 0.95 (binomial SE 0.02); we require >= 0.88. The randomised
    COSA trial's unadjusted Cox (censoring at 730 days) must cover the
    marginal truth in >= 9 of 12 seeds (P(<= 8 | 0.95) = 0.002).
    """
    from lifelines import CoxPHFitter

    terms = ["tr_mentoring", "tr_peer_mentoring", "tr_cosa", "tr_rj_other", "tr_rj_drugs"]
    hits, total, rct_hits = 0, 0, 0
    truth = json.loads(synth.TRUTH_CACHE.read_text())["programmes"]["COSA-TRIAL"]["endpoints"]["general"]
    for seed in range(100, 112):
        out = synth.generate_intake(tmp_path / str(seed), seed=seed, scale=2.0)
        res = _adjusted_cox(out).loc[terms]
        hits += int(((res.coef - res.truth).abs() < 1.96 * res.se).sum())
        total += len(res)
        vol, _ = _volunteer_fits(out)
        hits += int(((vol.coef - vol.truth).abs() < 1.96 * vol.se).sum())
        total += len(vol)
        x = _first_event_frame(out)
        rct = x[x.programme_id == "COSA-TRIAL"]
        d = pd.DataFrame({"T": rct["T"].clip(upper=730), "E": rct.E * (rct["T"] <= 730), "tr": rct.tr_cosa})
        f = CoxPHFitter().fit(d, "T", "E")
        rct_hits += int(abs(f.params_["tr"] - truth["marginal_log_hr"]) < 1.96 * f.standard_errors_["tr"])
        shutil.rmtree(out)
    assert hits / total >= 0.88, hits / total
    assert rct_hits >= 9, rct_hits


def test_match_breakdown_model_recoverable_from_the_tables(demo):
    """Cause-specific Cox for breakdown (as documented in truth.json) recovers the match log HRs.

    Breakdown ends are the ends not explained by the volunteer stopping (end on the
    volunteer's end_date), death or emigration (reason 'other' on that date),
    reoffending or planned completion. Stratified by programme (baseline differs).
    Tolerance 3.5 SE on one fixed seed.
    """
    from lifelines import CoxPHFitter

    m = _read(demo, "matches")
    v = _read(demo, "volunteers").set_index("volunteer_id")
    p = _read(demo, "participants").set_index("participant_id")
    m = m[m.role.isin(["mentor", "peer_mentor", "mediator"]) & (m.goals_agreed != "")]
    start = pd.to_datetime(m.start_date)
    end = pd.to_datetime(m.end_date.replace("", None))
    vend = pd.to_datetime(m.volunteer_id.map(v.end_date).replace("", None))
    death = pd.to_datetime(m.participant_id.map(p.death_date).replace("", None))
    emig = pd.to_datetime(m.participant_id.map(p.emigration_date).replace("", None))
    breakdown = (m.end_reason.isin(["participant_withdrew", "ended_by_professional"])
                 | ((m.end_reason == "volunteer_withdrew") & (end != vend))
                 | ((m.end_reason == "other") & (end != death) & (end != emig)))
    psex, vsex = m.participant_id.map(p.sex), m.volunteer_id.map(v.sex)
    x = pd.DataFrame({
        "T": (end.fillna(CUTOFF) - start).dt.days.clip(lower=1), "E": breakdown.astype(int),
        "same_sex": ((psex == vsex) & psex.isin(["male", "female"])) * 1,
        "volunteer_lived_experience": (m.volunteer_id.map(v.lived_experience) == "true") * 1,
        "goals_agreed": (m.goals_agreed == "true") * 1,
        "participant_risk_high": (m.participant_id.map(p.risk_level) == "high") * 1,
        "programme": m.participant_id.map(p.programme_id),
    })
    fit = CoxPHFitter().fit(x, "T", "E", strata=["programme"])
    truth = pd.Series(model.MATCH_COEF)
    z = (fit.params_ - truth) / fit.standard_errors_
    assert x.E.sum() > 100
    assert (z.abs() < 3.5).all(), pd.DataFrame({"coef": fit.params_, "truth": truth, "z": z}).to_string()


def test_refuses_to_overwrite_a_real_intake(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "participants.csv").write_text("participant_id\nX1\n", encoding="utf-8")
    (real / "extract.yaml").write_text("cutoff_date: '2026-06-30'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        synth.generate_intake(real, seed=1, scale=0.05)
    assert (real / "participants.csv").read_text(encoding="utf-8") == "participant_id\nX1\n"
    # an earlier synthetic intake in another format is replaced completely
    out = synth.generate_intake(tmp_path / "s", seed=1, scale=0.05, fmt="parquet")
    synth.generate_intake(out, seed=1, scale=0.05, fmt="csv")
    assert not list(out.glob("*.parquet"))


def test_xlsx_cells_are_typed_and_text_that_looks_like_a_formula_stays_text(tmp_path):
    """The workbook (openpyxl) holds typed cells; a planted text value such as ``=1+1`` is never a formula."""
    import datetime as dt

    import openpyxl

    from evaluation.synth.writers import _write_xlsx

    contract = load_contract()
    text = {n: pd.DataFrame({f: pd.Series([], dtype=object) for f in r.field_names})
            for n, r in contract.resources.items()}
    row = {f: "" for f in contract.resources["participants"].field_names}
    row.update(participant_id="=1+1", programme_id="#N/A", birth_year="1980", intake_date="2024-02-29",
               detained_at_intake="false", risk_score="12.5", prior_cases="3")
    text["participants"] = pd.DataFrame([row], dtype=object)
    _write_xlsx(tmp_path / "a.xlsx", text, {"participants": set()}, contract)
    _write_xlsx(tmp_path / "b.xlsx", text, {"participants": set()}, contract)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()  # reproducible
    wb = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert wb.sheetnames == list(contract.resources)
    ws = wb["participants"]
    header = [c.value for c in ws[1]]
    cells = dict(zip(header, ws[2], strict=False))
    assert cells["participant_id"].data_type == "s" and cells["participant_id"].value == "=1+1"
    assert cells["programme_id"].data_type == "s" and cells["programme_id"].value == "#N/A"
    assert cells["birth_year"].value == 1980 and isinstance(cells["birth_year"].value, int)
    assert cells["intake_date"].value == dt.datetime(2024, 2, 29) and cells["intake_date"].number_format == "yyyy-mm-dd"
    assert cells["detained_at_intake"].value is False
    assert cells["risk_score"].value == 12.5 and cells["prior_cases"].value == 3
    assert cells["group"].value is None  # missing -> empty cell
