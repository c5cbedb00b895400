"""One door: no module except evaluation/publish/writer.py writes into a report folder.

A static scan of the source (AST, no import): every call that writes a file (``.to_csv(path)``,
``.savefig(...)``, ``.write_text(...)``, ``.write_bytes(...)``, ``open(..., "w"/"a"/"x"/"+")``,
``json.dump(...)``, ``.to_parquet(...)``, ``.to_excel(...)``, ``.to_json(path)``,
``.to_html(path)``, ``os.open`` with write flags, ``shutil.copy*``) is found with the function it
sits in. Each must be in :data:`ALLOWED`, which names the module and function and says in one
line why it may write. A new writer anywhere else fails this test: publish through
:mod:`evaluation.publish.writer` instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "evaluation"

#: (module path relative to evaluation/, enclosing function or "*" for the whole module) -> why it may write
ALLOWED: dict[tuple[str, str], str] = {
    ("publish/writer.py", "*"): "the one door: every report file (0644, no symlinks, formulas neutralised)",
    ("intake/private.py", "write_private"): "owner-only (0600) row-level files, never in a report folder",
    ("intake/pseudonymise.py", "create_key_file"): "the pseudonymisation key, owner-only, in the supplier's folder",
    ("validation/cache.py", "write_validated_cache"): "the run's private cache of the validation result",
    ("synth/generate.py", "*"): "synth writes synthetic intakes and its packaged truth.json",
    ("synth/errors.py", "*"): "synth plants errors into a synthetic intake",
    ("synth/writers.py", "*"): "synth writes the tables of a synthetic intake (CSV, Parquet, xlsx)",
    ("synth/truth.py", "refresh_truth_cache"): "synth refreshes its packaged truth.json (developer command)",
    ("pipeline/quarter.py", "_quarter_lock"): "the run's empty lock file beside the quarters (flock)",
    ("pipeline/workers.py", "_open_private_log"): "appends to a private job log that write_private created (0600)",
    # figures rendered into memory for display in a notebook, never a file
    ("publish/recidivism_outputs.py", "as_image"): "in-memory PNG buffer for display, no file",
    ("publish/synthesis_outputs.py", "display_figure"): "in-memory PNG buffer for display, no file",
}

_METHODS = {"to_csv", "savefig", "write_text", "write_bytes", "to_parquet", "to_excel", "to_json", "to_html",
            "to_feather", "to_pickle"}
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def _writes(call: ast.Call) -> str | None:
    """The kind of file write ``call`` performs, or None."""
    f = call.func
    if isinstance(f, ast.Attribute):
        if f.attr in _METHODS:
            # DataFrame.to_csv() / to_json() / to_html() without a target return text: not a write
            if f.attr in {"to_csv", "to_json", "to_html"} and not call.args and not any(
                    k.arg in {"path_or_buf", "buf"} for k in call.keywords):
                return None
            return f.attr
        base = f.value.id if isinstance(f.value, ast.Name) else None
        if base in {"json", "pickle"} and f.attr == "dump":
            return f"{base}.dump"
        if base == "shutil" and f.attr.startswith("copy"):
            return f"shutil.{f.attr}"
        if base == "os" and f.attr == "open":
            flags = call.args[1] if len(call.args) > 1 else None
            names = {n.attr for n in ast.walk(flags) if isinstance(n, ast.Attribute)} if flags is not None else set()
            computed = flags is not None and not names  # flags built elsewhere may write
            return "os.open" if names & _WRITE_FLAGS or computed else None
        if base == "os" and f.attr == "fdopen":
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
            if mode is not None and not (isinstance(mode, ast.Constant) and not set(str(mode.value)) & set("wax+")):
                return "os.fdopen"
    if isinstance(f, ast.Name) and f.id == "open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax+"):
            return "open"
        if mode is not None and not isinstance(mode, ast.Constant):
            return "open"  # a computed mode may write
    return None


def find_writers(root: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(module, enclosing function) -> the write calls in it, for every module under ``root``."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

        def visit(node: ast.AST, func: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
                if isinstance(child, ast.Call):
                    kind = _writes(child)
                    if kind:
                        found.setdefault((rel, name), []).append(f"{kind} (line {child.lineno})")
                visit(child, name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func)

        visit(tree, "<module>")
    return found


def test_no_writer_outside_the_allow_list():
    found = find_writers()
    extra = {k: v for k, v in found.items() if k not in ALLOWED and (k[0], "*") not in ALLOWED}
    assert not extra, (
        "these functions write files but are not in ALLOWED; publish through evaluation.publish.writer "
        f"(or add a one-line reason if the file is private, never in a report folder): {extra}")


def test_every_allow_list_entry_still_names_a_writer():
    """A stale entry would silently allow a future writer in a function of that name."""
    found = find_writers()
    stale = [k for k in ALLOWED if k[1] != "*" and k not in found]
    stale += [k for k in ALLOWED if k[1] == "*" and not any(m == k[0] for m, _ in found)]
    assert not stale, f"allow-list entries that match no writer: {stale}"


def test_the_allow_list_is_small_and_every_entry_has_a_reason():
    assert len(ALLOWED) <= 25
    assert all(reason.strip() for reason in ALLOWED.values())
    assert not any(m.startswith(("publish/", "analyses/", "datasets/", "stats/")) and m != "publish/writer.py"
                   and "in-memory" not in r for (m, _), r in ALLOWED.items())


def test_the_scan_finds_every_kind_of_writer(tmp_path):
    """Hand-made module: each line is one writer the scan must find, and the last two are not writers."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "import json, os, shutil\n"
        "def f(df, fig, p):\n"
        "    df.to_csv(p)\n"
        "    fig.savefig(p)\n"
        "    p.write_text('x')\n"
        "    p.write_bytes(b'x')\n"
        "    open(p, 'w')\n"
        "    open(p, mode='ab')\n"
        "    json.dump({}, p)\n"
        "    df.to_parquet(p)\n"
        "    df.to_excel(p)\n"
        "    os.open(p, os.O_WRONLY | os.O_CREAT)\n"
        "    shutil.copy2(p, p)\n"
        "    os.fdopen(3, 'wb')\n"
        "    text = df.to_csv(index=False)\n"
        "    open(p).read()\n", encoding="utf-8")
    found = find_writers(pkg)
    kinds = [k.split(" ")[0] for k in found[("m.py", "f")]]
    assert kinds == ["to_csv", "savefig", "write_text", "write_bytes", "open", "open", "json.dump", "to_parquet",
                     "to_excel", "os.open", "shutil.copy2", "os.fdopen"]
