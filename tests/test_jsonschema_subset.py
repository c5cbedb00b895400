"""The contract's own JSON Schema checker agrees with the ``jsonschema`` package.

``evaluation.contract.jsonschema_subset`` replaces ``jsonschema`` at run time
(its import costs seconds per process). The oracle is ``jsonschema``'s
``Draft202012Validator`` without a format checker, which the intake used
before: for the valid synthetic programmes and for many mutated copies of
them, both report the same (path, message) pairs.
"""

from __future__ import annotations

import copy
import random

import pytest

from evaluation.contract.jsonschema_subset import UnsupportedSchema, check_schema, iter_errors
from evaluation.contract.schema import load_contract
from evaluation.synth.programmes import catalogue


def _programmes() -> list[dict]:
    """The synthetic programme descriptions as written to ``programmes.yaml``."""
    return [p["description"] for p in catalogue()]

jsonschema = pytest.importorskip("jsonschema")

BAD_VALUES = [
    None, True, False, 0, -1, 1.5, 2.0, 101, "", "x", "low", "not an id!", [], ["low", "low"],
    [1, True], {}, {"extra": 1}, "2026-13-40", 10**6,
]


def _ours(instance, schema) -> list[tuple[tuple, str]]:
    return sorted((tuple(e.path), e.message) for e in iter_errors(instance, schema))


_VALIDATORS: dict[str, object] = {}


def _oracle(instance, schema) -> list[tuple[tuple, str]]:
    if schema["$id"] not in _VALIDATORS:
        _VALIDATORS[schema["$id"]] = jsonschema.Draft202012Validator(schema)
    v = _VALIDATORS[schema["$id"]]
    return sorted((tuple(e.absolute_path), e.message) for e in v.iter_errors(instance))


def _paths(node, prefix=()):
    """Every (path) to a value inside a JSON-like document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(doc, path, value):
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _delete(doc, path):
    node = doc
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


def test_contract_schemas_are_within_the_subset():
    contract = load_contract()
    check_schema(contract.programme_schema)
    check_schema(contract.extract_schema)


def test_keyword_outside_the_subset_is_refused():
    with pytest.raises(UnsupportedSchema, match="'oneOf' is not supported"):
        check_schema({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}})
    with pytest.raises(UnsupportedSchema, match="only local"):
        check_schema({"$ref": "https://example.org/s.json"})


def test_valid_synthetic_programmes_have_no_errors():
    doc = {"programmes": _programmes()}
    schema = load_contract().programme_schema
    assert _ours(doc, schema) == [] == _oracle(doc, schema)


def test_hand_worked_messages():
    """Messages as a data manager reads them (the same text ``jsonschema`` gives)."""
    schema = load_contract().programme_schema
    prog = copy.deepcopy(_programmes()[0])
    prog["programme_type"] = "coaching"
    prog["target_group"]["risk_levels"] = []
    prog["colour"] = "blue"
    del prog["name"]
    assert _ours({"programmes": [prog]}, schema) == [
        (("programmes", 0), "'name' is a required property"),
        (("programmes", 0), "Additional properties are not allowed ('colour' was unexpected)"),
        (("programmes", 0, "programme_type"),
         "'coaching' is not one of ['mentoring', 'peer_mentoring', 'cosa', 'restorative_justice']"),
        (("programmes", 0, "target_group", "risk_levels"), "[] should be non-empty"),
    ]


@pytest.mark.parametrize("seed", range(2))
def test_mutations_agree_with_jsonschema(seed):
    """Every value of the synthetic programmes replaced by each bad value, or deleted,
    or given an extra key: the same (path, message) set as ``jsonschema``."""
    schema = load_contract().programme_schema
    base = {"programmes": _programmes()[:3]}
    paths = [p for p in _paths(base) if p]
    rng = random.Random(seed)
    checked = 0
    for path in rng.sample(paths, min(len(paths), 120)):
        for value in rng.sample(BAD_VALUES, 5):
            doc = copy.deepcopy(base)
            _set(doc, path, copy.deepcopy(value))
            assert _ours(doc, schema) == _oracle(doc, schema), (path, value)
            checked += 1
        doc = copy.deepcopy(base)
        _delete(doc, path)
        assert _ours(doc, schema) == _oracle(doc, schema), (path, "deleted")
    assert checked >= 500


def test_extract_schema_agrees_with_jsonschema():
    schema = load_contract().extract_schema
    cases = [
        {"cutoff_date": "2026-09-30"},
        {"cutoff_date": "30-09-2026"},
        {"cutoff_date": 20260930, "format": "ods", "synthetic": "yes", "x": 1, "y": 2},
        {},
        [],
        "2026-09-30",
        {"cutoff_date": "2026-09-30", "extracted_on": "2026-10-01", "supplier": 3, "notes": None},
    ]
    for doc in cases:
        assert _ours(doc, schema) == _oracle(doc, schema), doc
