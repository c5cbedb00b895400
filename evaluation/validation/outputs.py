"""Files of ``evaluation validate``: the report, the summary and the quarantined rows.

The report and the quarantine files hold row-level values and are written
through the one private writer (:mod:`evaluation.intake.private`): mode 0600
in a quarantine folder with mode 0700. They are never published.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.intake.private import own_dir, private_dir, write_private

if TYPE_CHECKING:
    from evaluation.validation.validate import ValidationResult


def write_validation_outputs(result: ValidationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``validation_report.json``, ``validation_summary.txt`` and ``quarantine/<table>.csv``.

    The report and the quarantine files hold row-level values: they are
    created with mode 0o600 and the quarantine folder with 0o700, never
    through a symbolic link (:mod:`evaluation.intake.private`). Stale
    quarantine files of tables without quarantined rows are removed.

    Returns
    -------
    dict
        ``{"report": path, "summary": path, "quarantine": folder}``.
    """
    out = own_dir(out_dir)  # (a link planted as INTAKE/_validation is refused, never written through)
    report = out / "validation_report.json"
    write_private(report, result.to_json())
    summary = out / "validation_summary.txt"
    write_private(summary, result.summary(result.language))
    qdir = private_dir(out / "quarantine")
    for old in qdir.glob("*.csv"):
        if old.stem not in result.quarantine:
            old.unlink()
    for name, q in result.quarantine.items():
        write_private(qdir / f"{name}.csv", q)
    return {"report": report, "summary": summary, "quarantine": qdir}
