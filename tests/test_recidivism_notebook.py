"""The recidivism notebook runs end to end (papermill) for each design on a small synthetic intake.

Uses evaluation.synth.generate at scale 0.15 (MENT-RDM: matched, COSA-TRIAL: rct,
PEER-UT: descriptive) and checks the documented outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from evaluation.contract.results import RESULT_COLUMNS

NB = Path(__file__).resolve().parent.parent / "notebooks" / "10_recidivism.ipynb"


@pytest.fixture(scope="module")
def intake(tmp_path_factory):
    from evaluation.synth.generate import generate_intake

    return generate_intake(tmp_path_factory.mktemp("intake"), seed=3, scale=0.15)


def test_notebook_is_stored_clean_with_parameters_cell():
    nb = nbformat.read(NB, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = {}
    exec(code[0].source, {}, params)  # literals only
    assert {"intake_dir", "programme_id", "design", "weighting", "horizons", "serious_threshold_years",
            "very_serious_threshold_years", "reference_rate", "reference_ci", "language", "output_dir",
            "cutoff_date", "seed"} <= set(params)


@pytest.mark.parametrize(
    ("programme_id", "design", "extra"),
    [
        ("MENT-RDM", "matched", {}),
        ("COSA-TRIAL", "rct", {"language": "en"}),
        ("PEER-UT", "descriptive", {"reference_rate": 0.32, "reference_ci": [0.29, 0.35]}),
    ],
)
def test_notebook_runs_for_each_design(intake, tmp_path, programme_id, design, extra):
    import papermill as pm

    out = tmp_path / "out"
    params = {"intake_dir": str(intake), "programme_id": programme_id, "design": design, "language": "nl",
              "output_dir": str(out), **extra}
    pm.execute_notebook(str(NB), str(tmp_path / "executed.ipynb"), parameters=params, kernel_name="python3",
                        progress_bar=False, cwd=str(NB.parent))
    res = pd.read_csv(out / "results.csv")
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert {"headline_eligible", "suppressed"} <= set(res.columns)
    assert (res["programme_id"] == programme_id).all()
    head = json.loads((out / "headline.json").read_text(encoding="utf-8"))
    assert set(head) == {"status", "title", "sentences"} and head["status"] in {"ok", "warning", "not_estimable"}
    assert head["sentences"] and isinstance(head["sentences"][0], str)
    key = pd.read_csv(out / "key_results.csv")
    assert {"endpoint", "estimand", "group", "estimate", "ci_lower", "ci_upper", "causal"} <= set(key.columns)
    risk = pd.read_csv(out / "numbers_at_risk.csv")
    assert list(risk.columns) == ["group", "time", "n_risk", "endpoint"]
    for fig in ("km_GENERAL", "cumulative_incidence_GENERAL"):
        assert (out / f"{fig}.png").stat().st_size > 0 and (out / f"{fig}.svg").stat().st_size > 0
    if design == "matched":
        bal = pd.read_csv(out / "balance.csv")
        assert {"covariate", "smd_before", "smd_after", "variance_ratio_after"} <= set(bal.columns)
        assert (out / "love_plot.svg").exists() and (out / "overlap.png").exists()
    # the headline gives a rate only when the published rows behind it are not suppressed (a rate from
    # fewer than 10 reoffenders would give their number back)
    behind = res[(res["endpoint"] == "GENERAL") & res["estimand"].str.startswith("prevalence_365d_")
                 & res["group"].isin(["programme", "comparison", "difference"])]
    protected = ("kleine aantallen te beschermen" if extra.get("language", "nl") == "nl"
                 else "to protect small numbers")
    if behind["suppressed"].astype(bool).all():
        assert head["sentences"][0].endswith("kan worden getoond.") or protected in head["sentences"][0]
    if design == "descriptive":
        assert not res["causal"].astype(bool).any()
        # PEER-UT at this scale: 11 participants with a full year, 1 reoffended -> no rate in the headline
        assert protected in " ".join(head["sentences"])
    if design == "rct":
        assert res["causal"].astype(bool).all()
        # COSA-TRIAL at this scale: 7 participants with a full year (n < 10): no rate, not even with a caution
        assert protected in head["sentences"][0] and head["status"] == "warning"
    # nothing row-level: no participant ids in any output file
    ids = set(pd.read_csv(Path(intake) / "participants.csv", usecols=["participant_id"])["participant_id"])
    for f in out.iterdir():
        if f.suffix in {".csv", ".json", ".svg"}:
            text = f.read_text(encoding="utf-8")
            assert not any(i in text for i in ids), f.name
    # and no identifier value of any kind (participant, volunteer, match, contact, event ids) anywhere,
    # including PNG metadata and the executed notebook (docs/methods.md, section 'Disclosure control')
    from evaluation.publish import disclosure

    disclosure.assert_no_identifiers(out, disclosure.collect_identifiers(intake))
    disclosure.assert_no_identifiers(tmp_path, disclosure.collect_identifiers(intake))
