"""Packaging: the wheel carries what the package needs at run time; dependencies are
what runs at run time; the validate path imports no heavy library it does not use.

The wheel is built from a copy of the sources (pyproject.toml, README.md and
``evaluation/``) in a temporary folder, so the test does not write into the
checkout; building needs the build backend from the package index, so without
network the wheel tests are skipped (``make wheel-check`` runs the wheel end to end).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "evaluation"
FIXTURE = REPO / "tests" / "fixtures" / "intake_clean"

#: Used only by the tests and checks (oracles, runners, linters) or by interactive work.
NOT_AT_RUN_TIME = {
    "jupyterlab", "lifelines", "frictionless", "jsonschema", "seaborn", "pytest", "pytest-xdist",
    "ruff", "coverage", "import-linter", "hypothesis",
}
NETWORK_HINTS = (
    "Could not find a version", "No matching distribution", "NewConnectionError",
    "Temporary failure in name resolution", "Network is unreachable", "ConnectionError",
    "Failed to establish a new connection", "ProxyError", "Max retries exceeded",
)


def _requirement_name(req: str) -> str:
    for sep in "<>=!~[; ":
        req = req.split(sep, 1)[0]
    return req.strip().lower().replace("_", "-")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "evaluation", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        if any(hint in text for hint in NETWORK_HINTS):
            pytest.skip(f"cannot build the wheel without network (build backend not available): {text[-300:]}")
        pytest.fail(f"building the wheel failed:\n{text[-3000:]}")
    (path,) = out.glob("evaluation-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_holds_contract_notebooks_registry_and_truth(wheel):
    names = set(wheel.namelist())
    contract = PACKAGE / "contract" / "data_schema"
    for f in ("datapackage.json", "programme.schema.json", "extract.schema.json"):
        assert f"evaluation/contract/data_schema/{f}" in names
    notebooks = sorted(p.name for p in (PACKAGE / "pipeline" / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 7
    for nb in notebooks:
        assert f"evaluation/pipeline/notebooks/{nb}" in names
    assert "evaluation/pipeline/notebooks/registry.yaml" in names
    assert "evaluation/synth/truth.json" in names
    # the packaged contract is the repository's, byte for byte
    packaged = json.loads(wheel.read("evaluation/contract/data_schema/datapackage.json"))
    assert packaged == json.loads((contract / "datapackage.json").read_text(encoding="utf-8"))


def test_wheel_holds_every_module_and_no_tests(wheel):
    names = set(wheel.namelist())
    modules = {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - names == set()
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "scripts/"))]


def test_wheel_metadata_entry_point_and_core_dependencies(wheel):
    meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = wheel.read(meta_name).decode("utf-8")
    core = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert core, "no core dependencies in the wheel's METADATA"
    assert {_requirement_name(r) for r in core} & NOT_AT_RUN_TIME == set()
    entry = wheel.read(meta_name.replace("METADATA", "entry_points.txt")).decode("utf-8")
    assert "evaluation = evaluation.cli:main" in entry


def test_core_dependencies_are_what_runs_and_extras_hold_the_rest():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert core & NOT_AT_RUN_TIME == set()
    assert "jupyterlab" in {_requirement_name(r) for r in extras["lab"]}
    test = {_requirement_name(r) for r in extras["test"]}
    assert {"pytest", "frictionless", "lifelines", "jsonschema", "import-linter"} <= test
    # kernel-side pins against papermill hangs stay exact
    pins = {r.split("==")[0].strip(): r for r in project["dependencies"] if "==" in r}
    assert set(pins) == {"ipykernel", "nbclient", "jupyter_client"}


def test_no_module_imports_a_test_only_package():
    """Nothing under evaluation/ imports a package that is not a core dependency at run time."""
    forbidden = {n.replace("-", "_") for n in NOT_AT_RUN_TIME} - {"pytest_xdist", "import_linter"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            found += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names
                      if n.split(".")[0] in forbidden]
    assert not found, "run-time code imports test-only packages:\n" + "\n".join(found)


def test_validate_imports_no_heavy_library_it_does_not_use(tmp_path):
    """``evaluation validate`` (CLI, clean fixture) imports neither jsonschema (seconds of
    format-checker grammars) nor the notebook, plotting or model libraries."""
    code = (
        "import sys\n"
        "from evaluation.cli import main\n"
        f"rc = main(['validate', {str(FIXTURE)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "heavy = {'jsonschema', 'papermill', 'nbformat', 'nbconvert', 'matplotlib', 'statsmodels',\n"
        "         'lifelines', 'seaborn', 'frictionless', 'openpyxl', 'IPython', 'jupyterlab'}\n"
        "print(rc, sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**_env(), "PYTHONPATH": str(REPO)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 []"


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
