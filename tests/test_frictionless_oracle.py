"""Our single-table checks agree with the reference implementation, frictionless.

A participants table of 300 rows (the 4 fixture rows plus copies with new
pseudonyms) gets ~40 single-table errors planted at random (type, required,
enum, minimum, maximum, pattern, unique). Then:

* ``frictionless.validate`` on that one CSV with the contract's schema
  converted by :func:`evaluation.validation.validate.to_frictionless_schema`, and
* our :func:`evaluation.validation.validate.validate_intake` on the whole intake,
  restricted to field-level issues in ``participants``,

must find exactly the same set of (row, field, rule), which must also equal the
planted set (each planted cell breaks exactly one field-level check by
construction). Planted values avoid the few places where the two validators
differ on purpose (we accept DD-MM-YYYY dates, decimal commas in ';' files and
surrounding whitespace).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _intake_fixtures import copy_clean, read_text_table, write_text_table

from evaluation.contract.schema import load_contract
from evaluation.validation.validate import to_frictionless_schema, validate_intake

frictionless = pytest.importorskip("frictionless")

CONTRACT = load_contract()
FIELD_RULES = {"type", "required", "enum", "minimum", "maximum", "pattern", "unique"}

# (field, value, rule): each value breaks exactly one check of that field
PLANTS = [
    ("birth_year", "19x0", "type"),
    ("birth_year", "1900", "minimum"),
    ("birth_year", "2016", "maximum"),
    ("intake_date", "2025-13-01", "type"),
    ("intake_date", "", "required"),
    ("follow_up_start", "gisteren", "type"),
    ("detained_at_intake", "misschien", "type"),
    ("risk_score", "abc", "type"),
    ("risk_score", "250", "maximum"),
    ("risk_score", "-10.5", "minimum"),
    ("prior_cases", "3.5", "type"),
    ("prior_cases", "-1", "minimum"),
    ("prior_cases", "NA", "required"),
    ("age_first_case", "101", "maximum"),
    ("sex", "", "required"),
    ("sex", "m", "enum"),
    ("group", "control", "enum"),
    ("risk_level", "n.v.t.", "required"),
    ("risk_instrument", "lsi-r", "enum"),
    ("programme_id", "P#1", "pattern"),
    ("participant_id", "q <i>", "pattern"),  # made unique per row, else two of them are duplicates
    ("participant_id", "<dup>", "unique"),
]


def _build(tmp_path, seed, n=300, n_errors=40):
    rng = np.random.default_rng(seed)
    folder = copy_clean(tmp_path)
    base = read_text_table(folder, "participants")
    reps = [base]
    copies = base.iloc[rng.integers(0, len(base), n - len(base))].copy()
    copies["participant_id"] = [f"q{i:04d}" for i in range(len(copies))]
    reps.append(copies)
    df = pd.concat(reps, ignore_index=True)
    planted: dict[tuple[int, str], str] = {}
    id_planted: set[int] = set()
    for _ in range(n_errors):
        i = int(rng.integers(4, n))  # leave the fixture's own rows (children refer to them)
        field, value, rule = PLANTS[int(rng.integers(len(PLANTS)))]
        if field == "participant_id":
            if i in id_planted:
                continue
            id_planted.add(i)
            if value == "q <i>":
                value = f"q {i}"
            if value == "<dup>":
                sources = [j for j in range(4, i) if j not in id_planted]
                if not sources:
                    continue
                value = df.loc[int(rng.choice(sources)), "participant_id"]
        df.loc[i, field] = value
        planted[(i + 2, field)] = rule  # source row: header = 1
    write_text_table(folder, "participants", df)
    return folder, {(r, f, rule) for (r, f), rule in planted.items()}


def _frictionless_errors(folder):
    schema = frictionless.Schema.from_descriptor(to_frictionless_schema(CONTRACT.resources["participants"], CONTRACT))
    # schema_sync: optional contract fields a file leaves out (e.g. observation_end) are not errors
    resource = frictionless.Resource(path="participants.csv", basepath=str(folder), schema=schema,
                                     detector=frictionless.Detector(schema_sync=True))
    report = frictionless.validate(resource)
    found = set()
    for row, field, etype, note in report.flatten(["rowNumber", "fieldName", "type", "note"]):
        if etype == "type-error":
            rule = "type"
        elif etype == "unique-error":
            rule = "unique"
        elif etype == "constraint-error":
            rule = note.split('"')[1]  # 'constraint "maximum" is "5"'
        else:
            raise AssertionError(f"unexpected frictionless error {etype} at row {row}: {note}")
        found.add((row, field, rule))
    return found


def _our_errors(folder):
    res = validate_intake(folder)
    iss = res.issues
    sub = iss[(iss["table"] == "participants") & iss["rule"].isin(FIELD_RULES)]
    return {(int(r), f, rule) for r, f, rule in sub[["row", "field", "rule"]].itertuples(index=False)}


def _compare(tmp_path, seed):
    folder, planted = _build(tmp_path, seed)
    ours = _our_errors(folder)
    theirs = _frictionless_errors(folder)
    assert ours == theirs, f"only ours: {sorted(ours - theirs)}; only frictionless: {sorted(theirs - ours)}"
    assert ours == planted
    return len(planted)


@pytest.mark.parametrize("seed", [1, 2])
def test_same_errors_as_frictionless(tmp_path, seed):
    n = _compare(tmp_path, seed)
    assert n >= 25  # enough distinct planted cells to make the comparison meaningful


def test_clean_table_agrees(tmp_path):
    folder, _ = _build(tmp_path, 0, n_errors=0)
    assert _our_errors(folder) == _frictionless_errors(folder) == set()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3, 23))
def test_same_errors_as_frictionless_many_seeds(tmp_path, seed):
    _compare(tmp_path, seed)


def test_benchmark_round_ratios_pair_each_frictionless_run_with_the_runs_around_it():
    """Hand-worked: round 1 divides 40 by the median of (1, 1, 2, 2) = 1.5; round 2 divides
    30 by the median of (2, 2, 1, 3) = 2 -- a slow block only affects the rounds next to it."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_validate.py"
    spec = importlib.util.spec_from_file_location("bench_validate", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    got = bench.round_ratios([40.0, 30.0], [[1.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    assert got == pytest.approx([40 / 1.5, 15.0])
    with pytest.raises(IndexError):  # a round needs a block after it
        bench.round_ratios([40.0, 30.0], [[1.0], [2.0]])
