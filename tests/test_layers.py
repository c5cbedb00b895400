"""The package's imports run one way (static scan of the source with ``ast``).

import-linter (``lint-imports`` in ``make test``, contracts in pyproject.toml)
checks the direction between the step packages. This test adds two rules it
does not check:

* no import cycle between any two modules of ``evaluation`` (imports inside
  functions count; imports under ``if TYPE_CHECKING:`` never run and do not);
* an import inside a function from another step package (a sibling, for
  example ``analyses`` importing from ``publish`` inside a function) carries a
  ``# why:`` comment on its line: such imports hide an arrow from the reader.
  Function-level imports of third-party libraries (to keep start-up fast) and
  within one package need no comment.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "evaluation"
PACKAGE = "evaluation"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ``evaluation`` that an imported dotted name loads (or None)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str, modules: dict[str, Path]):
    """Yield (target module, node, inside a function) for each import of an evaluation module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    yield from visit_one(sub, in_function)
                continue
            yield from visit_one(child, in_function)

    def visit_one(node: ast.AST, in_function: bool):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    yield target, node, in_function
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                target = _resolve(f"{source}.{alias.name}", modules) or _resolve(source, modules)
                if target:
                    yield target, node, in_function
        else:
            inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from visit(node, inside)

    yield from visit(tree, False)


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, Path, ast.AST]]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    function_level: list[tuple[str, str, Path, ast.AST]] = []
    for module, path in modules.items():
        for target, node, in_function in _imports(path, module, modules):
            if target != module and target != PACKAGE:
                graph[module].add(target)
            if in_function:
                function_level.append((module, target, path, node))
    return graph, function_level


def _step(module: str) -> str:
    """The step package of a module: ``evaluation.publish.writer`` -> ``publish``; top-level
    modules (``evaluation.cli``) are their own step."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_scanner_finds_a_planted_cycle_and_an_unexplained_function_level_import(tmp_path, monkeypatch):
    """The scan itself works: a hand-built package with a cycle a -> b -> a and a
    function-level import across steps without a comment is caught; with ``# why:`` it is not."""
    pkg = tmp_path / "evaluation"
    for sub in ("low", "high"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("from evaluation.low import b\n")
    (pkg / "low" / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    (pkg / "high" / "c.py").write_text(
        "def g():\n    from evaluation.low.a import x\n    return x\n\n"
        "def h():\n    from evaluation.low import b  # why: keeps the CLI fast\n    return b\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    graph, function_level = _graph()
    assert _cycles(graph) == [["evaluation.low.a", "evaluation.low.b"]]
    assert [(m, t) for m, t, p, n in function_level if _unexplained(m, t, p, n)] == [
        ("evaluation.high.c", "evaluation.low.a")
    ]


def _unexplained(module: str, target: str, path: Path, node: ast.AST) -> bool:
    if _step(module) == _step(target):
        return False
    lines = path.read_text(encoding="utf-8").splitlines()[node.lineno - 1 : node.end_lineno]
    return not any("# why:" in line for line in lines)


def test_no_import_cycles():
    graph, _ = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles between modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_function_level_imports_between_steps_say_why():
    _, function_level = _graph()
    bad = sorted({
        f"{path.relative_to(ROOT.parent)}:{node.lineno}: {module} imports {target} inside a function"
        for module, target, path, node in function_level
        if _unexplained(module, target, path, node)
    })
    assert not bad, (
        "function-level imports between step packages need a '# why:' comment on the line "
        "(or move them to the top of the module):\n" + "\n".join(bad)
    )


@pytest.mark.parametrize("module", ["evaluation.cli", "evaluation.validation.validate"])
def test_modules_exist(module):
    """Guards the scan against an empty package (a moved ROOT would pass vacuously)."""
    assert module in _modules()
