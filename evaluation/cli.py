"""Command-line interface: ``evaluation SUBCOMMAND ...`` (also ``python -m evaluation``).

Each subcommand lives in the module that does the work; that module offers
``configure_parser(parser)`` and ``main(args) -> int``; this module only
registers them, so each subcommand's options are defined next to its code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("evaluation.validation.command", "check an intake folder against the data contract"),
    "synth": ("evaluation.synth.generate", "write a synthetic intake with known true effects"),
    "run": ("evaluation.pipeline.quarter", "quarterly run: validate, execute all notebooks, build the report"),
    "pseudonymise": ("evaluation.intake.pseudonymise", "replace direct identifiers in raw exports by keyed pseudonyms"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser.

    With ``only``, just that subcommand's module is imported and configured
    (the others are listed by name), so a data supplier running
    ``evaluation pseudonymise`` does not import the notebook machinery and a
    problem in one module cannot break another subcommand.
    """
    parser = argparse.ArgumentParser(
        prog="evaluation",
        description="Evaluation toolkit for volunteer programmes in Dutch probation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            importlib.import_module(module_name).configure_parser(p)
        p.set_defaults(_module=module_name)
    return parser


QUICK_EXIT = frozenset({"validate"})
"""Subcommands whose process, run as the program, ends without the interpreter's teardown:
they have written and closed all their files when they return, and unloading pandas,
NumPy and Arrow would add 0.1-0.3 s to a command that takes about a second."""


def _exit_now(code: int) -> None:
    """Flush stdout and stderr, then end the process with ``code`` at once (``os._exit``)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; returns its exit code.

    Without ``argv`` (the ``evaluation`` program: arguments from
    ``sys.argv``), a subcommand in :data:`QUICK_EXIT` ends the process itself
    with its exit code instead of returning.
    """
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in SUBCOMMANDS else "")
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    module = importlib.import_module(args._module)
    code = int(module.main(args) or 0)
    if as_program and args.command in QUICK_EXIT:
        _exit_now(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
