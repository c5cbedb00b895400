"""The command ``evaluation validate``: its options, and an early start on reading.

This module imports nothing heavy. Its :func:`main` starts parsing the
intake's large CSV files in a background thread
(:class:`evaluation.intake.arrow_csv.CsvPrefetch`) and only then imports the
validator, so that Arrow's parser and the import of pandas run side by side
on two cores; the result is the same as reading afterwards.
"""

from __future__ import annotations

from evaluation.contract.schema import load_contract
from evaluation.intake.arrow_csv import CsvPrefetch  # (both: standard library only at import time)

# (evaluation.validation.issues.LANGUAGES; not imported here: that module loads pandas)
_LANGUAGES = ("en", "nl")
_LARGE = 8 << 20
"""CSV files of at least this many bytes are parsed in the background while pandas loads."""


def configure_parser(p) -> None:
    """Arguments of ``evaluation validate``."""
    p.add_argument("intake_dir", help="intake folder")
    p.add_argument("--out", default=None, help="output folder (default INTAKE_DIR/_validation)")
    # the command line keeps English as its default (as before); the functions default to Dutch
    p.add_argument("--language", choices=_LANGUAGES, default="en", help="language of messages and summary (default en)")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the summary")


def main(args) -> int:
    """Run ``evaluation validate``: exit 0 without errors (warnings allowed), 2 with errors."""
    # large files only: the small ones are read on this thread while the large are still being encoded
    prefetch = CsvPrefetch(args.intake_dir, min_bytes=_LARGE, tables=load_contract().table_names)
    # imported only now, while the thread parses (the validator loads pandas: about half a second)
    from evaluation.validation.validate import run_command

    return run_command(args, prefetch, after=_print_support)


def _print_support(result, language: str) -> None:
    """Print, per programme, which analyses the intake supports (evaluation.validation.supports)."""
    from evaluation.validation.supports import (  # (loads pandas: after the prefetch)
        analysis_support,
        support_summary,
    )

    table = analysis_support(result, "all")
    print(support_summary(table.loc[table["programme_id"] != "all"], language))
