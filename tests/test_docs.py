"""Docstrings cite docs/methods.md by section title: every cited section exists, and nothing cites
a file outside the repository (the old METHODS.md) or an internal issue number."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITE = re.compile(r"docs/methods\.md,?\s+(?:#\s*)?section\s+(?:#\s*)?'([^']+)'")


def _sources():
    for p in sorted((ROOT / "evaluation").rglob("*.py")):
        yield p, " ".join(p.read_text(encoding="utf-8").split())


def test_every_cited_methods_section_exists():
    sections = {line[3:].strip() for line in (ROOT / "docs" / "methods.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("## ")}
    cited = {(p.name, s) for p, text in _sources() for s in CITE.findall(text)}
    assert cited, "no module cites docs/methods.md"
    missing = sorted((f, s) for f, s in cited if s not in sections)
    assert not missing, f"cited sections not in docs/methods.md: {missing}"


def test_no_citation_of_files_outside_the_repository():
    bad = [p.name for p, text in _sources() if re.search(r"(?<!docs/)METHODS\.md|shared/domain", text)]
    assert not bad
