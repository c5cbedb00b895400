"""The notebook registry: which notebooks a quarterly run executes, for whom, with which limits.

``registry.yaml`` (in the package's ``notebooks/`` folder, or one given to
``evaluation run --registry``) lists every notebook with its scope (each
programme, all programmes together, or both), its wall-clock timeout, its
phase (2 runs after all phase-1 notebooks) and the parameters the run
derives for it (:data:`DERIVED`). See ``docs/quarterly_runs.md``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evaluation.publish.formatting import DEFAULT_LANGUAGE

DEFAULT_NOTEBOOKS_DIR = Path(__file__).resolve().parent / "notebooks"
SCOPES = ("per_programme", "overall", "both")
DERIVED = ("design", "reference", "results_store", "quarter", "programme_results", "recidivism_results")


@dataclasses.dataclass(frozen=True)
class NotebookSpec:
    """One registered notebook (a row of ``registry.yaml``)."""

    id: str
    file: str
    scope: str
    timeout: int
    title: str = ""
    phase: int = 1
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    derived: tuple[str, ...] = ()


def load_registry(path: str | Path) -> list[NotebookSpec]:
    """Read and check ``registry.yaml``.

    Format::

        notebooks:
          - id: recidivism            # folder name in the report
            file: 10_recidivism.ipynb # relative to the notebooks folder
            scope: both               # per_programme | overall | both
            timeout: 1800             # seconds, wall clock per execution
            phase: 1                  # 2 = after all phase-1 notebooks (trends)
            title: {nl: ..., en: ...} # optional
            parameters: {}            # extra literal parameters
            derived: [design]         # parameters the run derives: design, reference, results_store,
                                      # quarter, programme_results

    Raises ValueError naming the file, the entry and the field when an entry
    is malformed.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"notebook registry not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), list) or not data["notebooks"]:
        raise ValueError(f"{path}: expected a mapping with a non-empty list 'notebooks'")
    specs, seen = [], set()
    for i, e in enumerate(data["notebooks"], start=1):
        where = f"{path}: notebooks entry {i}"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(e).__name__}")
        unknown = set(e) - {"id", "file", "scope", "timeout", "title", "phase", "parameters", "derived"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        for f in ("id", "file", "scope", "timeout"):
            if f not in e:
                raise ValueError(f"{where}: field {f!r} is required")
        nid = e["id"]
        if not isinstance(nid, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", nid) or nid in seen:
            raise ValueError(f"{where}: field 'id' must be a unique name of letters, digits, _ or -, got {nid!r}")
        seen.add(nid)
        if e["scope"] not in SCOPES:
            raise ValueError(f"{where} ({nid}): field 'scope' must be one of {SCOPES}, got {e['scope']!r}")
        if not isinstance(e["timeout"], int) or isinstance(e["timeout"], bool) or e["timeout"] <= 0:
            raise ValueError(f"{where} ({nid}): field 'timeout' must be a positive integer (seconds), got {e['timeout']!r}")
        phase = e.get("phase", 1)
        if phase not in (1, 2):
            raise ValueError(f"{where} ({nid}): field 'phase' must be 1 or 2, got {phase!r}")
        params = e.get("parameters") or {}
        if not isinstance(params, dict):
            raise ValueError(f"{where} ({nid}): field 'parameters' must be a mapping")
        derived = tuple(e.get("derived") or ())
        bad = [d for d in derived if d not in DERIVED]
        if bad:
            raise ValueError(f"{where} ({nid}): field 'derived' has unknown name(s) {bad}; known: {DERIVED}")
        title = e.get("title", "")
        specs.append(NotebookSpec(id=nid, file=str(e["file"]), scope=e["scope"], timeout=int(e["timeout"]),
                                  title=json.dumps(title) if isinstance(title, dict) else str(title),
                                  phase=int(phase), parameters=dict(params), derived=derived))
    return specs



def notebook_title(spec: NotebookSpec, language: str = DEFAULT_LANGUAGE) -> str:
    """The registered title of a notebook in ``language`` (its id when it has none)."""
    if spec.title.startswith("{"):
        t = json.loads(spec.title)
        return str(t.get(language) or t.get("en") or spec.id)
    return spec.title or spec.id
