"""Contract additions of issue 16: planted errors for each new field, table and code.

Each test changes the hand-built clean fixture (``tests/fixtures/intake_clean``)
in one place and checks the rule that must fire; expected values are worked
out by hand from the fixture rows shown in the comments.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _intake_fixtures import copy_clean, plant, read_text_table, write_text_table

from evaluation.datasets.recidivism import CNSR_OBSERVATION_END, recidivism_endpoints
from evaluation.stats.designs import (
    covariates_used,
    describe_covariates,
    design_matrix,
    propensity_scores,
)
from evaluation.synth.generate import generate_intake
from evaluation.validation.rules import parse_covariate_values
from evaluation.validation.validate import validate_intake

CUTOFF = pd.Timestamp("2026-09-30")


def _rules(result, table: str) -> dict[str, str]:
    """rule -> severity of the issues of one table."""
    iss = result.issues_all
    iss = iss[iss["table"] == table]
    return dict(zip(iss["rule"], iss["severity"], strict=True))


def _counts(result) -> list[tuple]:
    return [tuple(r) for r in result.reconciliation[["table", "rows_read", "rows_accepted",
                                                      "rows_quarantined"]].itertuples(index=False)]


def _declare(folder: Path, covariates: list[dict]) -> None:
    ex = yaml.safe_load((folder / "extract.yaml").read_text(encoding="utf-8"))
    ex["covariates"] = covariates
    (folder / "extract.yaml").write_text(yaml.safe_dump(ex, sort_keys=False), encoding="utf-8")


def _covariates_csv(folder: Path, rows: list[tuple[str, str, str]]) -> None:
    pd.DataFrame(rows, columns=["participant_id", "covariate", "value"]).to_csv(
        folder / "participant_covariates.csv", index=False)


# ----------------------------------------------------------------- old intakes stay valid

def test_clean_fixture_counts_unchanged():
    """Hand-counted: 4 participants, 3 events, ... every row accepted, no issue at all."""
    r = validate_intake(Path(__file__).parent / "fixtures" / "intake_clean", "en")
    assert _counts(r) == [
        ("participants", 4, 4, 0), ("volunteers", 3, 3, 0), ("matches", 3, 3, 0), ("contacts", 6, 6, 0),
        ("volunteer_support", 4, 4, 0), ("justice_events", 3, 3, 0), ("detention_periods", 3, 3, 0),
        ("rj_sessions", 2, 2, 0), ("costs", 3, 3, 0)]
    assert r.issues_all.empty


def test_fresh_synthetic_intake_same_counts_with_and_without_additions(tmp_path):
    """The same seed with the additions adds one table; every other table has the same counts."""
    plain = validate_intake(generate_intake(tmp_path / "a", seed=1616, scale=0.05), "en")
    extra = validate_intake(generate_intake(tmp_path / "b", seed=1616, scale=0.05, contract_additions=True), "en")
    assert plain.ok and extra.ok
    cov = [c for c in _counts(extra) if c[0] == "participant_covariates"]
    assert [c for c in _counts(extra) if c[0] != "participant_covariates"] == _counts(plain)
    assert len(cov) == 1 and "participant_covariates" not in [c[0] for c in _counts(plain)]
    assert cov[0][2] == 3 * _counts(plain)[0][1]  # three covariates per person
    assert not (tmp_path / "a" / "participant_covariates.csv").exists()
    assert "covariates" not in yaml.safe_load((tmp_path / "a" / "extract.yaml").read_text())
    with pytest.raises(ValueError, match="cannot be combined"):
        generate_intake(tmp_path / "c", seed=1, scale=0.05, inject_errors=True, contract_additions=True)


# ----------------------------------------------------------------- planted errors

def test_unknown_codes_accepted(tmp_path):
    d = copy_clean(tmp_path)
    plant(d, "participants", 2, "index_offence_category", "unknown")
    plant(d, "justice_events", 2, "offence_category", "unknown")
    plant(d, "justice_events", 3, "disposal", "unknown")
    r = validate_intake(d, "en")
    assert r.ok and r.issues_all.empty


def test_wrong_kind_and_wrong_precision_are_errors(tmp_path):
    d = copy_clean(tmp_path)
    ev = read_text_table(d, "justice_events")
    ev["kind"] = ["charge", "parole_violation", ""]
    ev["date_precision"] = ["day", "", "fortnight"]
    write_text_table(d, "justice_events", ev)
    r = validate_intake(d, "en")
    q = r.quarantine["justice_events"]
    assert sorted(q["_rules"]) == ["enum", "enum"]
    assert len(r.tables["justice_events"]) == 1


def test_observation_end_before_follow_up_start_is_an_error(tmp_path):
    d = copy_clean(tmp_path)
    p = read_text_table(d, "participants")
    p["observation_end"] = ""
    p.loc[1, "observation_end"] = "2025-04-09"   # p002 starts follow-up 2025-04-10
    p.loc[0, "observation_end"] = "2025-01-15"   # p001: on the start day is allowed
    write_text_table(d, "participants", p)
    r = validate_intake(d, "en")
    assert _rules(r, "participants") == {"participants_observation_end_after_follow_up": "error"}
    assert list(r.quarantine["participants"]["participant_id"]) == ["p002"]


def test_custodial_flag_and_days_contradict(tmp_path):
    d = copy_clean(tmp_path)
    ev = read_text_table(d, "justice_events")
    ev["custodial"] = ["false", "true", ""]      # j001 has custodial_days 30; j002 none (length unknown)
    write_text_table(d, "justice_events", ev)
    r = validate_intake(d, "en")
    assert _rules(r, "justice_events") == {"justice_custodial_days_without_custodial": "error"}
    assert list(r.quarantine["justice_events"]["event_id"]) == ["j001"]


def test_imprecise_date_warnings(tmp_path):
    d = copy_clean(tmp_path)
    p = read_text_table(d, "participants")
    ev = read_text_table(d, "justice_events")
    # j002 belongs to p003; move its date to the Monday of p003's follow-up start week
    start = pd.Timestamp(p.set_index("participant_id").loc["p003", "follow_up_start"])
    monday = start - pd.Timedelta(days=start.dayofweek)
    ev.loc[1, "offence_date"] = monday.strftime("%Y-%m-%d")
    ev.loc[1, "registration_date"] = ""
    ev["date_precision"] = ["month", "week", ""]  # j001 2025-11-02 is not the 1st of its month
    write_text_table(d, "justice_events", ev)
    r = validate_intake(d, "en")
    assert _rules(r, "justice_events") == {"justice_date_precision_period_start": "warning",
                                            "justice_imprecise_at_follow_up_start": "warning"}
    assert r.ok  # warnings only: nothing quarantined, nothing dropped
    assert len(r.tables["justice_events"]) == 3


def test_covariates_undeclared_and_wrong_type(tmp_path):
    d = copy_clean(tmp_path)
    _declare(d, [{"name": "months_last_custody", "type": "numeric"},
                 {"name": "married", "type": "binary"},
                 {"name": "education", "type": "categorical", "levels": ["low", "middle", "high"]},
                 {"name": "sex", "type": "categorical"}])
    _covariates_csv(d, [
        ("p001", "months_last_custody", "12,5"),   # decimal comma: fine
        ("p002", "months_last_custody", "long"),   # not a number
        ("p001", "married", "ja"),
        ("p002", "married", "maybe"),              # not a boolean
        ("p001", "education", "middle"),
        ("p002", "education", "university"),       # not a declared level
        ("p003", "education", ""),                 # missing: allowed
        ("p001", "shoe_size", "44"),               # not declared
        ("p002", "sex", "male"),                   # name of a participants field
        ("p999", "married", "nee"),                # unknown person
    ])
    r = validate_intake(d, "en")
    q = r.quarantine["participant_covariates"].set_index(["participant_id", "covariate"])["_rules"]
    assert q.to_dict() == {
        ("p002", "months_last_custody"): "covariate_value_type",
        ("p002", "married"): "covariate_value_type",
        ("p002", "education"): "covariate_value_type",
        ("p001", "shoe_size"): "covariate_declared",
        ("p002", "sex"): "covariate_declared",
        ("p999", "married"): "foreign_key",
    }
    assert len(r.tables["participant_covariates"]) == 4
    # without declarations every row is undeclared
    _declare(d, [])
    r = validate_intake(d, "en")
    assert set(r.quarantine["participant_covariates"]["_rules"]) <= {"covariate_declared",
                                                                      "covariate_declared; foreign_key",
                                                                      "foreign_key; covariate_declared"}


def test_extract_refuses_a_bad_declaration(tmp_path):
    from evaluation.intake.read import IntakeError

    d = copy_clean(tmp_path)
    _declare(d, [{"name": "x", "type": "ordinal"}])
    with pytest.raises(IntakeError, match="ordinal"):
        validate_intake(d, "en")


def test_parse_covariate_values():
    tf = (["true", "ja"], ["false", "nee"])
    v, bad = parse_covariate_values(pd.Series(["1.5", "2,5", "x", None, "inf"]), {"type": "numeric"}, tf)
    assert v.iloc[:2].tolist() == [1.5, 2.5] and bad.tolist() == [False, False, True, False, True]
    v, bad = parse_covariate_values(pd.Series(["ja", "false", "yes"]), {"type": "binary"}, tf)
    assert v.iloc[:2].tolist() == [1.0, 0.0] and bad.tolist() == [False, False, True]


# ----------------------------------------------------------------- the dataset builder

def _people(**extra) -> pd.DataFrame:
    base = {
        "participant_id": ["a", "b", "c"], "programme_id": "P", "group": ["programme", "comparison", "programme"],
        "assignment": "observational", "sex": "male", "birth_year": 1990,
        "intake_date": pd.to_datetime(["2025-01-08", "2025-01-08", "2025-01-08"]),
        "follow_up_start": pd.to_datetime(["2025-01-08", "2025-01-08", "2025-01-08"]),  # a Wednesday
        "risk_level": "low", "index_offence_category": ["unknown", "property", "drugs"], "prior_cases": 1,
    }
    base.update(extra)
    return pd.DataFrame(base)


def _events(**extra) -> pd.DataFrame:
    base = {"event_id": ["e1", "e2", "e3"], "participant_id": ["a", "b", "c"],
            "offence_date": pd.to_datetime(["2025-01-06", "2025-01-01", "2025-03-01"]),
            "offence_category": ["unknown", "property", "drugs"],
            "disposal": ["conviction", "unknown", "conviction"], "custodial_days": [np.nan, np.nan, np.nan]}
    base.update(extra)
    return pd.DataFrame(base)


def test_week_and_month_precision_rule():
    """e1: week of Mon 2025-01-06 contains the start (Wed 01-08): counted on 01-09 (time 1).
    e2: month of 2025-01-01 contains the start: counted on 01-09. e3: day precision, as before."""
    ev = _events(date_precision=["week", "month", None])
    with pytest.warns(UserWarning) as caught:
        ds = recidivism_endpoints(_people(), ev, None, CUTOFF, endpoints=("GENERAL",))
    assert any("2 counted case(s) are dated to a week or month" in str(w.message) for w in caught)
    assert ds.set_index("participant_id")["time"].to_dict() == {"a": 1.0, "b": 1.0, "c": 52.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        day = recidivism_endpoints(_people(), _events(), None, CUTOFF, endpoints=("GENERAL",))
    # at day precision the first two lie before the start and are not counted
    assert day.set_index("participant_id")["cnsr"].to_dict() == {"a": 1, "b": 1, "c": 0}


def test_week_wholly_before_start_not_counted():
    ev = _events(offence_date=pd.to_datetime(["2024-12-30", "2024-12-01", "2025-03-01"]),
                 date_precision=["week", "month", None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = recidivism_endpoints(_people(), ev, None, CUTOFF, endpoints=("GENERAL",))
    assert ds.set_index("participant_id")["cnsr"].to_dict() == {"a": 1, "b": 1, "c": 0}


def test_observation_end_censors():
    p = _people(observation_end=pd.to_datetime(["2025-02-01", None, "2025-02-01"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = recidivism_endpoints(p, _events(), None, CUTOFF, endpoints=("GENERAL",)).set_index("participant_id")
    # a: observation ends 2025-02-01 before any counted case; c's case (03-01) is after it
    assert ds.loc["a", "cnsr"] == CNSR_OBSERVATION_END and ds.loc["a", "time"] == 24
    assert ds.loc["c", "cnsr"] == CNSR_OBSERVATION_END and ds.loc["c", "n_events"] == 0
    assert ds.loc["b", "cnsr"] == 1 and ds.loc["b", "obs_end_date"] == CUTOFF
    assert ds.loc["a", "obs_end_date"] == pd.Timestamp("2025-02-01")
    with pytest.raises(ValueError, match="observation_end"):
        recidivism_endpoints(_people(observation_end=pd.to_datetime(["2025-01-01", None, None])), _events(), None,
                             CUTOFF)


def test_unknown_codes_in_endpoints():
    """Unknown disposal counts (warned); unknown categories never make a case SPECIAL."""
    ev = _events(offence_date=pd.to_datetime(["2025-02-01", "2025-02-01", "2025-03-01"]))
    with pytest.warns(UserWarning, match="disposal 'unknown'"):
        ds = recidivism_endpoints(_people(), ev, None, CUTOFF, endpoints=("GENERAL", "SPECIAL"))
    g = ds[ds.endpoint == "GENERAL"].set_index("participant_id")["cnsr"].to_dict()
    s = ds[ds.endpoint == "SPECIAL"].set_index("participant_id")["cnsr"].to_dict()
    assert g == {"a": 0, "b": 0, "c": 0}
    assert s == {"a": 1, "b": 0, "c": 0}  # a: unknown == unknown is not a match


def test_custodial_without_length_counts():
    ev = _events(offence_date=pd.to_datetime(["2025-02-01", "2025-02-01", "2025-03-01"]),
                 custodial=pd.array([True, pd.NA, False], dtype="boolean"),
                 kind=[None, "return_to_prison", None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = recidivism_endpoints(_people(), ev, None, CUTOFF, endpoints=("CUSTODIAL",))
    assert ds.set_index("participant_id")["cnsr"].to_dict() == {"a": 0, "b": 0, "c": 1}


def test_extra_covariates_reach_the_models():
    rng = np.random.default_rng(3)
    n = 80
    ids = [f"p{i}" for i in range(n)]
    p = pd.DataFrame({
        "participant_id": ids, "programme_id": "P", "group": np.where(np.arange(n) % 2, "programme", "comparison"),
        "assignment": "observational", "sex": "male", "birth_year": 1990,
        "intake_date": pd.Timestamp("2025-01-08"), "follow_up_start": pd.Timestamp("2025-01-08"),
        "risk_level": "low", "index_offence_category": "property", "prior_cases": rng.integers(0, 5, n),
    })
    ev = pd.DataFrame({"event_id": [], "participant_id": [], "offence_date": pd.to_datetime([]),
                       "offence_category": [], "disposal": []})
    long = pd.DataFrame({
        "participant_id": ids * 3,
        "covariate": ["months"] * n + ["married"] * n + ["constant"] * n,
        "value": [str(x) for x in rng.gamma(2, 3, n).round(1)] + list(rng.choice(["ja", "nee"], n)) + ["a"] * n,
    })
    extract = {"covariates": [{"name": "months", "type": "numeric"}, {"name": "married", "type": "binary"},
                              {"name": "constant", "type": "categorical"}, {"name": "absent", "type": "numeric"}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = recidivism_endpoints(p, ev, None, CUTOFF, endpoints=("GENERAL",), participant_covariates_table=long,
                                  extract=extract)
    assert ds.attrs["extra_covariates"] == ["months", "married", "constant", "absent"]
    assert ds["married"].isin([0.0, 1.0]).all() and ds["absent"].isna().all()
    covs = ["age_at_intake", "sex", "prior_cases", "months", "married", "constant", "absent"]
    X = design_matrix(ds, covs)
    # age and sex are constant, 'constant' has one level, 'absent' is all missing: all drop out
    assert covariates_used(X.columns, covs) == ["prior_cases", "months", "married"]
    ps = propensity_scores(ds, covs)
    assert ps.attrs["covariates_used"] == ["prior_cases", "months", "married"]
    assert describe_covariates(["a", "b"]) == "2 covariates: a, b"
    assert describe_covariates(["a", "b"], ["a", "b"]) == "the same 2 covariates"
