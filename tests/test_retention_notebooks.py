"""The retention and fidelity notebooks run end to end through papermill on a small synthetic intake.

One intake from :func:`evaluation.synth.generate.generate_intake` (it holds programmes of
all four types: mentoring, peer mentoring, COSA, restorative justice) is made
once per module in a temporary folder. Each notebook runs for ``"all"`` (every
programme type in one run; the outputs are checked for rows of every type). The
same calls the notebooks make run for one programme of each type without a
kernel (fast); the papermill run per programme type is marked ``slow`` (each
kernel start plus validation costs 10-25 s on the shared 2-core machine).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from evaluation.contract.results import RESULT_COLUMNS

papermill = pytest.importorskip("papermill")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TYPES = ("mentoring", "peer_mentoring", "cosa", "restorative_justice")


@pytest.fixture(scope="module")
def intake(tmp_path_factory):
    from evaluation.synth.generate import generate_intake

    path = generate_intake(tmp_path_factory.mktemp("intake"), seed=5, scale=0.05)
    _INTAKE[:] = [path]
    return path


_INTAKE: list[Path] = []  # the module's intake, for the identifier scan in _check_common


@pytest.fixture(scope="module")
def programmes(intake):
    import yaml

    return yaml.safe_load((intake / "programmes.yaml").read_text(encoding="utf-8"))["programmes"]


def _run(nb: str, intake: Path, out: Path, programme_id: str, language: str) -> Path:
    papermill.execute_notebook(
        str(NOTEBOOKS / nb),
        str(out / "executed.ipynb"),
        parameters={"intake_dir": str(intake), "programme_id": programme_id, "language": language,
                    "output_dir": str(out / "report"), "cutoff_date": None, "seed": 1, "horizons": [6, 12]},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    return out / "report"


def _check_common(report: Path) -> tuple[pd.DataFrame, dict]:
    res = pd.read_csv(report / "results.csv")
    assert list(res.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    head = json.loads((report / "headline.json").read_text(encoding="utf-8"))
    assert head["status"] in {"ok", "warning", "not_estimable"} and head["title"] and head["sentences"]
    for png in report.glob("*.png"):
        assert png.with_suffix(".svg").exists()
    # nothing row-level: no identifier columns in any published table
    for csv in report.glob("*.csv"):
        cols = pd.read_csv(csv, nrows=0).columns
        assert not [c for c in cols if c.endswith("_id") and c != "programme_id"], csv.name
    # no identifier value of any kind from the intake in any output file (docs/methods.md, section 'Disclosure control')
    from evaluation.publish import disclosure

    disclosure.assert_no_identifiers(report, disclosure.collect_identifiers(_INTAKE[0]))
    # disclosure: no published estimate rests on fewer than 10 units
    n = pd.to_numeric(res["n"], errors="coerce")
    assert not (res["estimate"].notna() & (n < 10)).any()
    return res, head


def test_retention_notebook_all_programme_types(intake, programmes, tmp_path):
    report = _run("20_retention.ipynb", intake, tmp_path, "all", "nl")
    res, head = _check_common(report)
    groups = set(res["group"])
    for t in TYPES:
        assert f"programme_type={t}" in groups
    assert {"km_volunteers.png", "workforce.png", "cif_reasons.png"} <= {p.name for p in report.glob("*.png")}
    assert (report / "workforce_flow.csv").exists()
    # the workforce table is published after controlled rounding to multiples of 10 (no suppression):
    # every count is shown, a multiple of 10, and start + joiners - leavers = end still holds
    wf = pd.read_csv(report / "workforce_flow.csv")
    counts = wf[["active_start", "joiners", "leavers", "active_end"]]
    assert counts.notna().all().all() and (counts % 10 == 0).all().all()
    assert (counts["active_start"] + counts["joiners"] - counts["leavers"] == counts["active_end"]).all()
    assert (wf["rounded_to"] == 10).all()
    # Dutch headline; the hazard ratio rows are labelled as not causal
    assert any("vrijwilligers" in s for s in head["sentences"])
    assert not res.loc[res["estimand"] == "hazard_ratio", "causal"].astype(str).eq("True").any()


def test_fidelity_notebook_all_programme_types(intake, programmes, tmp_path):
    report = _run("30_fidelity.ipynb", intake, tmp_path, "all", "en")
    res, head = _check_common(report)
    assert set(res["programme_id"]) == {p["programme_id"] for p in programmes}
    assert (res["analysis"] == "fidelity").all()
    tab = pd.read_csv(report / "fidelity_table.csv")
    assert {"target", "target_source", "observed", "ci_lower", "ci_upper", "n"} <= set(tab.columns)
    assert (report / "fidelity.png").exists()


@pytest.fixture(scope="module")
def validated(intake):
    from evaluation.validation.validate import validate_intake

    return validate_intake(intake, language="en")


@pytest.mark.parametrize("ptype", TYPES)
def test_notebook_calls_per_programme_type(validated, tmp_path, ptype):
    import warnings

    from evaluation.analyses.fidelity import FidelityAnalysis
    from evaluation.analyses.retention import RetentionAnalysis
    from evaluation.publish.fidelity_outputs import fidelity_outputs
    from evaluation.publish.retention_outputs import retention_outputs

    pid = next(p["programme_id"] for p in validated.programmes if p["programme_type"] == ptype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample warnings are expected on this tiny intake
        analysis = RetentionAnalysis().fit(validated, pid, config={"horizons_months": [6, 12]})
        retention_outputs(analysis, tmp_path / "ret", language="en")
        fid = FidelityAnalysis().fit(validated, pid)
        fidelity_outputs(fid, tmp_path / "fid", language="nl")
    table = fid.table_
    for sub in ("ret", "fid"):
        res, _ = _check_common(tmp_path / sub)
        assert set(res["programme_id"]) <= {pid, "all"} and len(res)
    assert set(table["programme_id"]) == {pid}
    if ptype == "cosa":
        assert "circle_size_at_least_3" in set(table["indicator"])
        assert "CIRCLE_EARLY_END" in set(analysis.results_["endpoint"])
    if ptype == "restorative_justice":
        assert "rj_agreement_reached" in set(table["indicator"])


@pytest.mark.slow
@pytest.mark.parametrize("ptype", TYPES)
def test_notebooks_per_programme_type(intake, programmes, tmp_path, ptype):
    pid = next(p["programme_id"] for p in programmes if p["programme_type"] == ptype)
    for nb in ("20_retention.ipynb", "30_fidelity.ipynb"):
        out = tmp_path / nb.split("_")[0]
        out.mkdir()
        report = _run(nb, intake, out, pid, "en")
        res, _ = _check_common(report)
        assert set(res["programme_id"]) <= {pid, "all"}


def test_notebooks_are_stored_without_outputs_with_literal_parameters():
    import ast

    import nbformat

    for nb in ("20_retention.ipynb", "30_fidelity.ipynb"):
        book = nbformat.read(NOTEBOOKS / nb, as_version=4)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
        first = code[0]
        assert first.metadata.get("tags") == ["parameters"]
        for node in ast.parse(first.source).body:
            assert isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.List))
        names = {n.targets[0].id for n in ast.parse(first.source).body}
        assert {"intake_dir", "programme_id", "horizons", "language", "output_dir", "cutoff_date", "seed"} <= names


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("papermill kernels are tested on POSIX")
