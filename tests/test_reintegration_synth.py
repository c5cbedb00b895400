"""The generator's re-integration tables (issue 19): they validate, and their truth is recorded.

Checks on one small intake: the four tables are written and validate without any issue; the
other tables are byte-identical to an intake written without them (their own random stream);
truth.json holds, for every programme with assessments, per domain the true change, share
improved and ATT, and the follow-up missingness makes the complete-case change differ from the
truth; goals and peer mentors have their true probabilities.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evaluation.contract.instruments import builtin_instruments
from evaluation.datasets.reintegration import reintegration_frames
from evaluation.synth import reintegration as synth_ri
from evaluation.synth.generate import generate_intake
from evaluation.validation.validate import validate_intake

NEW_TABLES = ("assessments", "goals", "circumstances", "volunteer_outcomes")


@pytest.fixture(scope="module")
def intake(tmp_path_factory):
    return generate_intake(tmp_path_factory.mktemp("ri_synth"), seed=1919, scale=0.2)


def test_generated_tables_validate_without_issues(intake):
    res = validate_intake(intake, "en")
    assert res.ok
    iss = res.issues_all
    assert iss[iss["table"].isin(NEW_TABLES)].empty
    counts = dict(zip(res.reconciliation["table"], res.reconciliation["rows_accepted"], strict=True))
    assert all(counts[t] > 0 for t in NEW_TABLES)


def test_truth_recorded_for_every_programme_with_assessments(intake):
    truth = json.loads((intake / "truth.json").read_text())["reintegration"]
    a = pd.read_csv(intake / "assessments.csv", dtype=str)
    p = pd.read_csv(intake / "participants.csv", dtype=str).set_index("participant_id")
    with_assessments = set(a["participant_id"].map(p["programme_id"]))
    assert with_assessments == set(truth["programmes"]) == set(synth_ri.PROGRAMME_INSTRUMENT)
    assert not {"RJ-MED", "RJ-CONF", "COSA-NO"} & with_assessments  # at least one programme without assessments
    inst = builtin_instruments()
    for pid, entry in truth["programmes"].items():
        assert set(entry["domains"]) == set(inst[entry["instrument"]].domains), pid
        assert set(a.loc[a["participant_id"].map(p["programme_id"]) == pid, "instrument"]) == {entry["instrument"]}
        for dom, t in entry["domains"].items():
            prog = t["programme"]
            assert -4 <= prog["mean_change_end"] <= 4 and 0 <= prog["share_improved_end"] <= 1, (pid, dom)
            if entry["design"] != "descriptive":
                assert t["att_end"] is not None
    # physical health: no effect on the latent scale -> ATT on integer scores exactly 0
    assert truth["programmes"]["MENT-RDM"]["domains"]["physical_health"]["att_end"] == pytest.approx(0.0, abs=1e-12)
    # housing for mentoring: +0.35 on the latent scale -> a modest positive ATT below that
    att = truth["programmes"]["MENT-RDM"]["domains"]["housing"]["att_end"]
    assert 0.1 < att < 0.35
    # missing follow-up depends on the intake score: the complete-case change differs from the truth
    h = truth["programmes"]["MENT-RDM"]["domains"]["housing"]["programme"]
    assert abs(h["complete_case_mean_change_follow_up"] - h["mean_change_follow_up"]) > 0.02
    assert truth["peer_mentors"]["new_case_1y"] == 0.12
    assert truth["goals"]["p_achieved"]["housing"] == 0.5


def test_exact_level_probabilities_agree_with_simulation():
    """The truth sums normal probabilities per integer level; a 400,000-draw simulation agrees (3 SE)."""
    rng = np.random.default_rng(5)
    mean = np.array([0.7, 2.2, 3.5, 4.9])
    probs = synth_ri._level_probs(mean, 0.8)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    n = 400_000
    for m, pr in zip(mean, probs, strict=True):
        draws = np.clip(np.round(m + rng.normal(0, 0.8, n)), 1, 5)
        freq = np.array([(draws == k).mean() for k in range(1, 6)])
        assert np.all(np.abs(freq - pr) < 3 * np.sqrt(pr * (1 - pr) / n) + 1e-9)


def test_sample_change_is_near_the_truth(intake):
    """The programme group's observed mean change to the end (all domains of MENT-RDM, whose end
    assessments are missing only by risk level) lies within 4 SE of the averaged truth."""
    res = validate_intake(intake, "en")
    f = reintegration_frames(res.tables, "MENT-RDM", res.cutoff_date)
    truth = json.loads((intake / "truth.json").read_text())["reintegration"]["programmes"]["MENT-RDM"]["domains"]
    s = f.scores[(f.scores.group == "programme") & f.scores.end_due]
    obs = (s.end - s.baseline).dropna()
    true = np.mean([truth[d]["programme"]["mean_change_end"] for d in truth])
    se = obs.groupby(s.loc[obs.index, "participant_id"]).mean().std() / np.sqrt(s.participant_id.nunique())
    assert abs(obs.mean() - true) < 4 * se


def test_other_tables_are_byte_identical_without_the_new_ones(intake, tmp_path, monkeypatch):
    """The re-integration tables draw from their own stream: switching them off changes no other byte."""
    import evaluation.synth.generate as gen

    monkeypatch.setattr(gen, "add_reintegration_tables", lambda tables, progs, seed, cutoff: (tables, {}))
    plain = generate_intake(tmp_path / "plain", seed=1919, scale=0.2)
    files = sorted(p.name for p in plain.glob("*.csv"))
    assert len(files) == 9 and not set(f"{t}.csv" for t in NEW_TABLES) & set(files)
    for name in files + ["programmes.yaml", "extract.yaml"]:
        assert (plain / name).read_bytes() == (intake / name).read_bytes(), name
