"""Read the data contract in ``data_schema/``.

The contract is data (a Frictionless Data Package descriptor plus two JSON
Schemas); this module only loads it and offers convenient views. Nothing in
the package hard-codes a field list: validators, readers and generators ask
the :class:`Contract`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR_ENV = "EVALUATION_SCHEMA_DIR"


def schema_dir() -> Path:
    """Return the folder that holds the contract.

    The contract ships inside the package (``evaluation/contract/data_schema``;
    the repository's top-level ``data_schema`` is a link to it), so an
    installed wheel finds it; the environment variable
    ``EVALUATION_SCHEMA_DIR`` may point elsewhere.
    """
    env = os.environ.get(SCHEMA_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "data_schema"


@dataclass(frozen=True)
class Resource:
    """One table of the contract."""

    name: str
    descriptor: dict[str, Any]

    @property
    def fields(self) -> list[dict[str, Any]]:
        return self.descriptor["schema"]["fields"]

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    def field(self, name: str) -> dict[str, Any]:
        for f in self.fields:
            if f["name"] == name:
                return f
        raise KeyError(f"table {self.name!r} has no field {name!r}")

    @property
    def primary_key(self) -> list[str]:
        pk = self.descriptor["schema"].get("primaryKey", [])
        return [pk] if isinstance(pk, str) else list(pk)

    @property
    def foreign_keys(self) -> list[dict[str, Any]]:
        return self.descriptor["schema"].get("foreignKeys", [])

    @property
    def rules(self) -> list[dict[str, Any]]:
        return self.descriptor.get("rules", [])

    @property
    def required_fields(self) -> list[str]:
        return [f["name"] for f in self.fields if f.get("constraints", {}).get("required")]

    def title(self, language: str = "nl") -> str:
        return self.descriptor["title_nl" if language == "nl" else "title"]


@dataclass(frozen=True)
class Contract:
    """The whole data contract: tables, programme and extract schemas."""

    package: dict[str, Any]
    programme_schema: dict[str, Any]
    extract_schema: dict[str, Any]
    resources: dict[str, Resource] = field(default_factory=dict)

    @property
    def table_names(self) -> list[str]:
        return list(self.resources)

    @property
    def required_tables(self) -> list[str]:
        return list(self.package.get("x_required_tables", []))

    @property
    def optional_tables(self) -> list[str]:
        return list(self.package.get("x_optional_tables", []))

    @property
    def missing_values(self) -> list[str]:
        first = next(iter(self.resources.values()))
        return list(first.descriptor["schema"].get("missingValues", [""]))

    @property
    def true_values(self) -> list[str]:
        return list(self.package["x_true_values"])

    @property
    def false_values(self) -> list[str]:
        return list(self.package["x_false_values"])

    @property
    def date_formats(self) -> list[str]:
        return list(self.package["x_date_formats"])

    @property
    def identifier_column_names(self) -> list[str]:
        return list(self.package["x_identifier_columns"]["names"])

    def code_label(self, table: str, field_name: str, value: str, language: str = "nl") -> str:
        """Label of a coded value in the requested language (the value itself if unknown)."""
        for c in self.resources[table].field(field_name).get("codes", []):
            if c["value"] == value:
                return c["label_nl" if language == "nl" else "label_en"]
        return str(value)


@lru_cache(maxsize=4)
def _load(directory: str) -> Contract:
    d = Path(directory)
    try:
        package = json.loads((d / "datapackage.json").read_text(encoding="utf-8"))
        programme = json.loads((d / "programme.schema.json").read_text(encoding="utf-8"))
        extract = json.loads((d / "extract.schema.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"data contract not found in {d}: {exc.filename} is missing "
            f"(set {SCHEMA_DIR_ENV} to the data_schema folder)"
        ) from exc
    resources = {r["name"]: Resource(r["name"], r) for r in package["resources"]}
    return Contract(package, programme, extract, resources)


def load_contract(directory: str | Path | None = None) -> Contract:
    """Load the data contract (cached per folder).

    Parameters
    ----------
    directory : path, optional
        Folder with ``datapackage.json``, ``programme.schema.json`` and
        ``extract.schema.json``; defaults to :func:`schema_dir`.
    """
    return _load(str(Path(directory) if directory else schema_dir()))
