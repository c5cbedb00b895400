"""The data contract itself: complete, bilingual, internally consistent.

These tests read only the files in data_schema/; they check properties a data
manager relies on (every field documented in both languages, every key and
rule pointing at fields that exist), each of which a careless edit could break.
"""

import json

import jsonschema
import pytest
import yaml

from evaluation.contract.schema import load_contract, schema_dir

RULE_KEYS_NAMING_FIELDS = {
    "field", "earlier", "later", "when_present", "date", "birth_year", "start", "end",
}
PARENT_KEYS = {"parent_key", "parent_field", "parent_date", "parent_start", "parent_end"}

ISSUE_FIELDS = {
    "participants": "participant_id programme_id group assignment sex birth_year intake_date follow_up_start "
    "programme_end_date programme_end_reason risk_level risk_instrument risk_score index_offence_category prior_cases "
    "prior_custodial_sentences age_first_case employed_at_intake stable_housing_at_intake substance_problem "
    "psychiatric_problem death_date emigration_date",
    "volunteers": "volunteer_id programme_id sex birth_year lived_experience recruitment_channel certificate_of_conduct "
    "agreement_signed expense_allowance_eur_month start_date end_date end_reason",
    "matches": "match_id participant_id volunteer_id role circle_id start_date planned_end_date end_date end_reason goals_agreed",
    "contacts": "contact_id match_id contact_date minutes mode risk_signal reported_to_supervisor",
    "volunteer_support": "event_id volunteer_id event_date kind hours",
    "justice_events": "event_id participant_id offence_date registration_date offence_category max_penalty_years "
    "pretrial_detention_allowed disposal custodial_days",
    "detention_periods": "participant_id start_date end_date",
    "rj_sessions": "session_id participant_id session_date kind victim_participated agreement_reached agreement_fulfilled victim_satisfaction",
    "costs": "programme_id period_start period_end category amount_eur",
}


@pytest.fixture(scope="module")
def contract():
    return load_contract()


def test_every_field_the_issue_names_is_in_the_contract(contract):
    for table, names in ISSUE_FIELDS.items():
        missing = set(names.split()) - set(contract.resources[table].field_names)
        assert not missing, f"{table} lacks {sorted(missing)}"


def test_fields_are_typed_and_bilingual(contract):
    allowed_types = {"string", "integer", "number", "boolean", "date"}
    for res in contract.resources.values():
        for f in res.fields:
            where = f"{res.name}.{f['name']}"
            assert f["type"] in allowed_types, where
            assert f["name"] == f["name"].lower() and " " not in f["name"], where
            for key in ("title", "title_nl", "description", "description_nl"):
                assert f.get(key, "").strip(), f"{where} has no {key}"
            enum = f.get("constraints", {}).get("enum")
            codes = f.get("codes")
            assert (enum is None) == (codes is None), where
            if codes:
                assert [c["value"] for c in codes] == enum, where
                for c in codes:
                    assert c["label_en"].strip() and c["label_nl"].strip(), where


def test_keys_point_at_existing_fields(contract):
    for res in contract.resources.values():
        assert res.primary_key, f"{res.name} has no primary key"
        assert set(res.primary_key) <= set(res.field_names), res.name
        for fk in res.foreign_keys:
            assert set(fk["fields"]) <= set(res.field_names), res.name
            parent = contract.resources[fk["reference"]["resource"]]
            assert fk["reference"]["fields"] == parent.primary_key, res.name


def test_rules_point_at_existing_fields_and_are_bilingual(contract):
    ids = set()
    for res in contract.resources.values():
        for rule in res.rules:
            assert rule["id"] not in ids, f"duplicate rule id {rule['id']}"
            ids.add(rule["id"])
            assert rule["severity"] in {"error", "warning"}
            assert rule["message_en"].strip() and rule["message_nl"].strip()
            local_keys = RULE_KEYS_NAMING_FIELDS & set(rule)
            if "parent" in rule:
                local_keys -= {"birth_year"}  # then it names a field of the parent table
            for key in local_keys:
                assert rule[key] in res.field_names, f"{rule['id']}: {key}={rule[key]}"
            for col in rule.get("fields", []):
                assert col in res.field_names, rule["id"]
            for cond in ("when", "unless"):
                for col in rule.get(cond, {}):
                    assert col in res.field_names, rule["id"]
            if "parent" in rule:
                parent = contract.resources[rule["parent"]]
                assert rule["key"] in res.field_names, rule["id"]
                for key in PARENT_KEYS & set(rule):
                    assert rule[key] in parent.field_names, f"{rule['id']}: {key}"
                if "birth_year" in rule:
                    assert rule["birth_year"] in parent.field_names


def test_identifier_columns_do_not_collide_with_contract_fields(contract):
    norm = {n.replace("_", "") for r in contract.resources.values() for n in r.field_names}
    assert not norm & set(contract.identifier_column_names)


def test_json_schemas_are_valid_and_accept_a_full_programme(contract):
    jsonschema.Draft202012Validator.check_schema(contract.programme_schema)
    jsonschema.Draft202012Validator.check_schema(contract.extract_schema)
    programme = {
        "programme_id": "MENT-01", "name": "Mentoring", "programme_type": "mentoring", "organisation": "VO",
        "organisation_model": "commissioner", "cooperation_model": "professional", "task_type": "supplementary",
        "vision_focus": "social_inclusion", "planned_dosage": {"contacts_per_month": 4, "duration_months": 12},
        "target_group": {"risk_levels": ["low", "medium"]},
        "tidier": {"brief_name": "Mentoring", "why": None},
    }
    jsonschema.validate({"programmes": [programme]}, contract.programme_schema)
    bad = dict(programme, organisation_model="franchise")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"programmes": [bad]}, contract.programme_schema)
    jsonschema.validate(yaml.safe_load("cutoff_date: '2026-09-30'"), contract.extract_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cutoff_date": "30-09-2026"}, contract.extract_schema)


def test_frictionless_accepts_the_package_descriptor():
    frictionless = pytest.importorskip("frictionless")
    descriptor = json.loads((schema_dir() / "datapackage.json").read_text(encoding="utf-8"))
    for res in descriptor["resources"]:
        schema = frictionless.Schema.from_descriptor(res["schema"])
        assert [f.name for f in schema.fields] == [f["name"] for f in res["schema"]["fields"]]
        assert schema.primary_key == res["schema"]["primaryKey"]
