"""Helpers for the intake/validation tests: copy the hand-built fixture and plant errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures"
CLEAN = FIXTURES / "intake_clean"


def copy_clean(dest: Path) -> Path:
    """Copy the clean hand-built intake into ``dest/intake`` and return that folder."""
    out = dest / "intake"
    shutil.copytree(CLEAN, out)
    return out


def read_text_table(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)


def write_text_table(folder: Path, table: str, df: pd.DataFrame) -> None:
    df.to_csv(folder / f"{table}.csv", index=False)


def plant(folder: Path, table: str, source_row: int, field: str, value: str) -> None:
    """Set one cell; ``source_row`` is the CSV row number (header = 1, first data row = 2)."""
    df = read_text_table(folder, table)
    df.loc[source_row - 2, field] = value
    write_text_table(folder, table, df)
