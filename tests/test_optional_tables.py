"""Optional tables by design (issue 16, item 1).

A programme may have no volunteers, matches, contacts, volunteer support, costs or RJ sessions, or
no rows of its own in them. Such an intake validates; ``evaluation validate`` says per programme
which analyses it supports; the analyses publish what they can and mark the rest not estimable,
with the reason, instead of raising. Expected values are worked out by hand from the fixture
``tests/fixtures/intake_clean`` (programmes P1, mentoring, and RJ1, restorative justice).
"""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest
from _intake_fixtures import copy_clean, read_text_table, write_text_table

from evaluation.analyses.costs import CostsAnalysis
from evaluation.analyses.fidelity import FidelityAnalysis
from evaluation.analyses.retention import RetentionAnalysis
from evaluation.cli import main as cli_main
from evaluation.publish.costs_outputs import costs_outputs
from evaluation.publish.fidelity_outputs import fidelity_outputs
from evaluation.publish.labels import note_label
from evaluation.publish.retention_outputs import retention_outputs
from evaluation.validation.supports import analysis_support, measure_support, usable_tables
from evaluation.validation.validate import validate_intake

OPTIONAL = ("volunteers", "matches", "contacts", "volunteer_support", "costs", "rj_sessions")


def _without(tmp_path, tables=OPTIONAL):
    folder = copy_clean(tmp_path)
    for t in tables:
        (folder / f"{t}.csv").unlink()
    return folder


def _drop_programme_rows(folder, table, programme_id):
    df = read_text_table(folder, table)
    write_text_table(folder, table, df.loc[df["programme_id"] != programme_id])


def _support(result, programme_id="all"):
    t = analysis_support(result, programme_id)
    return {(r.programme_id, r.analysis): (r.available, r.reason_en) for r in t.itertuples(index=False)}


def test_intake_without_any_optional_table_validates(tmp_path):
    res = validate_intake(_without(tmp_path), language="en")
    assert res.ok and not res.blocking and res.issues.empty
    assert set(res.reconciliation["table"]) == {"participants", "justice_events", "detention_periods"}
    assert res.tables["volunteers"].empty and "volunteer_id" in res.tables["volunteers"].columns


def test_missing_required_table_still_blocks(tmp_path):
    res = validate_intake(_without(tmp_path, ("justice_events",)), language="en")
    assert res.blocking
    assert res.errors[["table", "rule"]].values.tolist() == [["justice_events", "missing_table"]]


def test_supports_table_of_the_full_fixture_is_all_available(tmp_path):
    res = validate_intake(copy_clean(tmp_path), language="en")
    t = analysis_support(res, "all")
    assert list(t.columns) == ["programme_id", "analysis", "available", "reason_en", "reason_nl"]
    assert t["programme_id"].tolist() == ["P1"] * 4 + ["RJ1"] * 4 + ["all"] * 4
    assert t["analysis"].tolist() == ["recidivism", "retention", "fidelity", "costs"] * 3
    assert t["available"].all() and (t["reason_en"] == "").all()


def test_supports_table_without_optional_tables(tmp_path):
    res = validate_intake(_without(tmp_path), language="en")
    s = _support(res)
    for unit in ("P1", "RJ1", "all"):
        assert s[(unit, "recidivism")] == (True, "")
        assert s[(unit, "retention")] == (False, "the intake has no volunteers table")
        assert s[(unit, "fidelity")] == (False, "the intake has no matches table")
        assert s[(unit, "costs")] == (False, "the intake has no costs table")
    nl = analysis_support(res, "P1").set_index("analysis")["reason_nl"]
    assert nl["costs"] == "de aanlevering heeft geen tabel costs"


def test_supports_table_when_one_programme_has_no_rows(tmp_path):
    """RJ1 has no volunteers, cost rows or RJ sessions of its own; P1 keeps everything."""
    folder = copy_clean(tmp_path)
    _drop_programme_rows(folder, "costs", "RJ1")
    (folder / "rj_sessions.csv").write_text(read_text_table(folder, "rj_sessions").iloc[:0].to_csv(index=False))
    res = validate_intake(folder, language="en")
    assert res.ok
    s = _support(res)
    assert s[("P1", "costs")] == (True, "") and s[("all", "costs")] == (True, "")
    assert s[("RJ1", "costs")] == (False, "the costs table has no rows for this programme")
    # RJ1 has a match and a contact (m03, c006) but no RJ sessions: its fidelity needs them
    assert s[("RJ1", "fidelity")] == (False, "the rj_sessions table has no rows for this programme")
    assert s[("P1", "fidelity")] == (True, "")
    ms = measure_support(res, "P1")
    assert "rj_sessions" not in set(ms["measure"])  # only for restorative-justice programmes


def test_supports_table_with_no_programme_participants(tmp_path):
    folder = copy_clean(tmp_path)
    df = read_text_table(folder, "participants")
    df.loc[df["programme_id"] == "RJ1", "group"] = "comparison"
    write_text_table(folder, "participants", df)
    for t in ("rj_sessions", "matches", "contacts"):  # (their rows would point at a comparison person)
        (folder / f"{t}.csv").unlink()
    res = validate_intake(folder, language="en")
    s = _support(res, "RJ1")
    assert s[("RJ1", "recidivism")] == (False, "the intake has no programme participants for this programme")


def test_validate_command_prints_what_the_intake_supports(tmp_path, capsys):
    folder = _without(tmp_path, ("volunteers", "volunteer_support", "costs"))
    assert cli_main(["validate", str(folder), "--out", str(tmp_path / "v_en")]) == 0
    out = capsys.readouterr().out
    assert "Analyses this intake supports:" in out
    assert "P1   recidivism: available" in out
    assert "P1   retention: not available because the intake has no volunteers table" in out
    assert "RJ1  costs: not available because the intake has no costs table" in out
    assert "P1   fidelity: not available because the intake has no volunteers table" in out  # (matches unlinkable)
    assert "  all" not in out  # per programme only
    assert cli_main(["validate", str(folder), "--language", "nl", "--out", str(tmp_path / "v_nl")]) == 0
    out = capsys.readouterr().out
    assert "P1   behoud: niet beschikbaar, want de aanlevering heeft geen tabel volunteers" in out
    assert "P1   recidive: beschikbaar" in out


def test_retention_without_volunteers_or_matches_is_not_estimable_with_reason(tmp_path):
    res = validate_intake(_without(tmp_path), language="en")
    a = RetentionAnalysis().fit(res, "P1")
    gone = a.results_.loc[a.results_["method"] == "not measured"]
    assert gone[["programme_id", "endpoint", "estimand", "group", "note"]].values.tolist() == [
        ["P1", "VOLUNTEER_STOP", "median_months", "all", "not estimable: the intake has no volunteers table"],
        ["P1", "MATCH_EARLY_END", "no_early_end_by_planned_end", "all", "not estimable: the intake has no matches table"],
    ]
    assert gone["estimate"].isna().all() and gone["n"].isna().all()
    assert (a.results_["endpoint"] == "PARTICIPANT_END").any()  # what the participants allow is still there
    out = retention_outputs(a, tmp_path / "ret", language="en")
    assert out["headline"]["sentences"] == [
        "Retention of volunteers not measured: the intake has no volunteers table.",
        "Duration of matches not measured: the intake has no matches table.",
    ]
    nl = retention_outputs(a, tmp_path / "ret_nl", language="nl")["headline"]["sentences"]
    assert nl[0] == "Behoud van vrijwilligers niet gemeten: de aanlevering heeft geen tabel volunteers."
    published = pd.read_csv(tmp_path / "ret" / "results.csv")
    assert "not estimable: the intake has no volunteers table" in set(published["note"])


def test_retention_all_names_the_programme_without_volunteers(tmp_path):
    folder = copy_clean(tmp_path)
    _drop_programme_rows(folder, "volunteers", "RJ1")
    for t in ("volunteer_support", "matches", "contacts"):  # rows of RJ1's volunteer v03 go with it
        df = read_text_table(folder, t)
        key = {"volunteer_support": "volunteer_id", "matches": "volunteer_id", "contacts": "match_id"}[t]
        write_text_table(folder, t, df.loc[~df[key].isin(["v03", "m03"])])
    res = validate_intake(folder, language="en")
    assert res.ok
    a = RetentionAnalysis().fit(res, "all")
    rows = a.results_.loc[a.results_["method"] == "not measured"]
    assert rows[["programme_id", "endpoint", "group", "note"]].values.tolist() == [
        ["RJ1", "VOLUNTEER_STOP", "programme_id=RJ1", "not estimable: the volunteers table has no rows for this programme"],
        ["RJ1", "MATCH_EARLY_END", "programme_id=RJ1", "not estimable: the matches table has no rows for this programme"],
    ]


def test_fidelity_without_matches_contacts_or_sessions_marks_indicators(tmp_path):
    res = validate_intake(_without(tmp_path), language="en")
    f = FidelityAnalysis().fit(res, "all")
    t = f.table_.set_index(["programme_id", "indicator"])
    # described and participant-based indicators stay; session indicators of RJ1 are not estimable, not 0%
    assert t.loc[("P1", "tidier_complete"), "observed"] == pytest.approx(1 / 12)
    assert t.loc[("P1", "risk_level_in_target"), "observed"] == 1.0
    for ind in ("rj_agreement_reached", "rj_victim_participation", "rj_agreement_fulfilled"):
        row = t.loc[("RJ1", ind)]
        assert math.isnan(row["observed"]) and row["meets_target"] is None
        assert row["note"] == "not estimable: the intake has no rj_sessions table"
    out = fidelity_outputs(f, tmp_path / "fid", language="en")
    missing = [s for s in out["headline"]["sentences"] if "not measured" in s]
    assert missing == [
        "Duration of matches not measured: the intake has no matches table.",
        "Training and supervision of volunteers not measured: the intake has no volunteers table.",
        "Restorative justice sessions not measured: the intake has no rj_sessions table.",
    ]


def test_costs_without_costs_table_is_not_estimable_with_reason(tmp_path):
    res = validate_intake(_without(tmp_path), language="en")
    a = CostsAnalysis(with_effects=False).fit(res, "P1")
    assert not a.has_costs_
    assert a.results_[["programme_id", "estimand", "note"]].values.tolist() == [
        ["P1", "cost_total_eur", "not estimable: the intake has no costs table"]]
    out = costs_outputs(a, "nl")
    assert out["headline"]["sentences"] == ["Kosten niet gemeten: de aanlevering heeft geen tabel costs."]
    assert out["tables"] == {} and out["figures"] == {}


def test_costs_without_contacts_give_no_volunteer_hours(tmp_path):
    """Costs are there but contacts are not: zero volunteer hours would be invented."""
    res = validate_intake(_without(tmp_path, ("contacts",)), language="en")
    a = CostsAnalysis(with_effects=False).fit(res, "P1")
    hours = a.results_.loc[(a.results_["estimand"] == "volunteer_contact_hours") & (a.results_["programme_id"] == "P1")]
    assert len(hours) and hours["estimate"].isna().all()
    assert set(hours["note"]) == {"not estimable: the intake has no contacts table"}
    out = costs_outputs(a, "en")
    assert out["headline"]["sentences"][-1] == (
        "Contacts between volunteers and participants not measured: the intake has no contacts table.")
    assert not any("hours in contact" in s for s in out["headline"]["sentences"])
    assert "costs_by_quarter" in out["tables"]


@pytest.mark.parametrize("absent", [("volunteers",), ("matches",), ("volunteers", "contacts")])
def test_rows_whose_parent_table_is_absent_are_not_used(tmp_path, absent):
    """Matches without a volunteers table (or contacts without matches) validate with an unchecked-key
    warning; the analyses cannot link them, so they leave them out instead of raising."""
    res = validate_intake(_without(tmp_path, absent), language="en")
    assert res.ok and "foreign_key" in set(res.warnings["rule"])
    used = usable_tables(res)
    if "volunteers" in absent:
        assert used["matches"].empty and used["volunteer_support"].empty and not res.tables["matches"].empty
    if "matches" in absent:
        assert used["contacts"].empty and not res.tables["contacts"].empty
    s = _support(res)
    assert s[("P1", "fidelity")] == (False, f"the intake has no {absent[0]} table")
    for pid in ("P1", "all"):
        RetentionAnalysis().fit(res, pid)
        FidelityAnalysis().fit(res, pid)
        costs_outputs(CostsAnalysis(with_effects=False).fit(res, pid), "en")


def test_reason_notes_are_translated():
    assert note_label("not estimable: the intake has no costs table; only 5 units: imprecise", "nl") == (
        "niet te schatten: de aanlevering heeft geen tabel costs; slechts 5 eenheden: onnauwkeurig")
    assert note_label("not estimable: the matches table has no rows for this programme", "nl") == (
        "niet te schatten: de tabel matches heeft geen rijen voor dit programma")


@pytest.mark.slow
def test_quarterly_run_without_volunteers_and_costs_completes(tmp_path):
    """`evaluation run` on an intake without volunteers, matches, contacts, volunteer support and
    costs: exit 0 and every notebook ok (issue 16: "No notebook fails on a valid intake")."""
    from evaluation.pipeline import quarter
    from evaluation.synth import generate

    intake = generate.generate_intake(tmp_path / "intake", seed=20260930, scale=1)
    for t in ("volunteers", "matches", "contacts", "volunteer_support", "costs"):
        (intake / f"{t}.csv").unlink()
    out = tmp_path / "reports"
    result = quarter.run_quarter(intake, "2026Q3", out, programmes="COSA-TRIAL,PEER-UT", jobs=1, progress=False)
    assert result.exit_code == 0, [(j.folder, j.status, j.error) for j in result.jobs if j.status != "ok"]
    assert result.jobs and all(j.status == "ok" for j in result.jobs)
    report = out / "2026Q3"
    for pid in ("COSA-TRIAL", "PEER-UT", "all"):
        headline = (report / pid / "costs" / "headline.json").read_text(encoding="utf-8")
        assert "niet gemeten: de aanlevering heeft geen tabel costs" in headline
    ret = (report / "PEER-UT" / "retention" / "headline.json").read_text(encoding="utf-8")
    assert "Behoud van vrijwilligers niet gemeten: de aanlevering heeft geen tabel volunteers." in ret
    assert "mislukt" not in (report / "index.html").read_text(encoding="utf-8")
    shutil.rmtree(intake)
