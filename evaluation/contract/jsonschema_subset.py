"""Check YAML content against the contract's JSON Schemas (the subset they use).

``programmes.yaml`` and ``extract.yaml`` are described by
``data_schema/programme.schema.json`` and ``extract.schema.json`` (JSON Schema
2020-12). Those schemas use a small subset of the standard, checked here with
the same messages as the ``jsonschema`` package (which the tests use as the
oracle), so that ``evaluation validate`` and every notebook kernel do not pay
the import of ``jsonschema`` and its format-checker grammars (seconds per
process). A schema that uses any other assertion keyword is refused, so the
contract cannot silently outgrow this checker.

Supported: ``type`` (a name or a list), ``enum``, ``const``, ``required``,
``properties``, ``additionalProperties`` (boolean or schema), ``items``,
``minItems``, ``maxItems``, ``uniqueItems``, ``minLength``, ``maxLength``,
``pattern``, ``minimum``, ``maximum``, ``exclusiveMinimum``,
``exclusiveMaximum`` and local ``$ref`` (``#/$defs/...``). ``format`` is an
annotation, as in ``jsonschema`` without a format checker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Keywords that only annotate (never make an instance invalid).
ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
    "format", "deprecated", "readOnly", "writeOnly",
})
ASSERTIONS = frozenset({
    "type", "enum", "const", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "$ref",
})


class UnsupportedSchema(ValueError):
    """The schema uses a JSON Schema keyword this checker does not implement."""


@dataclass(frozen=True)
class SchemaError:
    """One violation: where in the instance (keys and indices) and what is wrong."""

    path: tuple[str | int, ...]
    message: str
    keyword: str


def check_schema(schema: dict[str, Any]) -> None:
    """Refuse a schema with keywords outside the supported subset.

    Keys that start with ``x_`` or end in ``_nl`` (the contract's own labels)
    are annotations too.

    Raises
    ------
    UnsupportedSchema
        Naming the keyword and where it is.
    """
    _check_keywords(schema, "#")


def iter_errors(instance: Any, schema: dict[str, Any]) -> Iterator[SchemaError]:
    """Yield every violation of ``schema`` by ``instance``, in schema keyword order.

    Messages read as those of ``jsonschema`` (``'name' is a required property``,
    ``'x' is not one of ['a', 'b']``, ...).
    """
    check_schema(schema)
    yield from _errors(instance, schema, schema, ())


def _check_keywords(node: Any, where: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise UnsupportedSchema(f"{where}: a schema must be an object or a boolean")
    for key, value in node.items():
        if key in ANNOTATIONS and key != "$defs":
            continue
        if key.startswith("x_") or key.endswith("_nl"):
            continue
        if key == "$defs":
            for name, sub in value.items():
                _check_keywords(sub, f"{where}/$defs/{name}")
        elif key == "properties":
            for name, sub in value.items():
                _check_keywords(sub, f"{where}/properties/{name}")
        elif key in ("items", "additionalProperties"):
            _check_keywords(value, f"{where}/{key}")
        elif key == "$ref":
            if not (isinstance(value, str) and value.startswith("#/")):
                raise UnsupportedSchema(f"{where}: only local $ref ('#/...') is supported, not {value!r}")
        elif key not in ASSERTIONS:
            raise UnsupportedSchema(f"{where}: JSON Schema keyword {key!r} is not supported")


def _resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[part]
        except (KeyError, TypeError):
            raise UnsupportedSchema(f"$ref {ref!r} does not resolve") from None
    return node


def _is_type(instance: Any, name: str) -> bool:
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "number":
        return isinstance(instance, int | float)
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    raise UnsupportedSchema(f"unknown type {name!r}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``; containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@lru_cache(maxsize=256)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _errors(instance: Any, schema: Any, root: dict[str, Any], path: tuple) -> Iterator[SchemaError]:
    if schema is True:
        return
    if schema is False:
        yield SchemaError(path, f"False schema does not allow {instance!r}", "false")
        return
    for key, value in schema.items():
        if key == "$ref":
            yield from _errors(instance, _resolve(root, value), root, path)
        elif key == "type":
            names = [value] if isinstance(value, str) else list(value)
            if not any(_is_type(instance, n) for n in names):
                shown = ", ".join(repr(n) for n in names)
                yield SchemaError(path, f"{instance!r} is not of type {shown}", key)
        elif key == "enum":
            if not any(_equal(instance, v) for v in value):
                yield SchemaError(path, f"{instance!r} is not one of {value!r}", key)
        elif key == "const":
            if not _equal(instance, value):
                yield SchemaError(path, f"{value!r} was expected", key)
        elif isinstance(instance, dict):
            yield from _object_errors(instance, key, value, schema, root, path)
        elif isinstance(instance, list):
            yield from _array_errors(instance, key, value, root, path)
        elif isinstance(instance, str):
            yield from _string_errors(instance, key, value, path)
        elif isinstance(instance, int | float) and not isinstance(instance, bool):
            yield from _number_errors(instance, key, value, path)


def _object_errors(instance, key, value, schema, root, path) -> Iterator[SchemaError]:
    if key == "required":
        for name in value:
            if name not in instance:
                yield SchemaError(path, f"{name!r} is a required property", key)
    elif key == "properties":
        for name, sub in value.items():
            if name in instance:
                yield from _errors(instance[name], sub, root, (*path, name))
    elif key == "additionalProperties":
        extras = [k for k in instance if k not in schema.get("properties", {})]
        if value is False:
            if extras:
                shown = ", ".join(repr(k) for k in sorted(extras, key=str))
                verb = "was" if len(extras) == 1 else "were"
                yield SchemaError(
                    path, f"Additional properties are not allowed ({shown} {verb} unexpected)", key
                )
        else:
            for name in extras:
                yield from _errors(instance[name], value, root, (*path, name))


def _array_errors(instance, key, value, root, path) -> Iterator[SchemaError]:
    if key == "items":
        for i, item in enumerate(instance):
            yield from _errors(item, value, root, (*path, i))
    elif key == "minItems" and len(instance) < value:
        text = "should be non-empty" if value == 1 else "is too short"
        yield SchemaError(path, f"{instance!r} {text}", key)
    elif key == "maxItems" and len(instance) > value:
        text = "is expected to be empty" if value == 0 else "is too long"
        yield SchemaError(path, f"{instance!r} {text}", key)
    elif key == "uniqueItems" and value:
        if any(_equal(a, b) for i, a in enumerate(instance) for b in instance[i + 1:]):
            yield SchemaError(path, f"{instance!r} has non-unique elements", key)


def _string_errors(instance, key, value, path) -> Iterator[SchemaError]:
    if key == "pattern":
        if not _pattern(value).search(instance):
            yield SchemaError(path, f"{instance!r} does not match {value!r}", key)
    elif key == "minLength" and len(instance) < value:
        text = "should be non-empty" if value == 1 else "is too short"
        yield SchemaError(path, f"{instance!r} {text}", key)
    elif key == "maxLength" and len(instance) > value:
        text = "is expected to be empty" if value == 0 else "is too long"
        yield SchemaError(path, f"{instance!r} {text}", key)


def _number_errors(instance, key, value, path) -> Iterator[SchemaError]:
    if key == "minimum" and instance < value:
        yield SchemaError(path, f"{instance!r} is less than the minimum of {value!r}", key)
    elif key == "maximum" and instance > value:
        yield SchemaError(path, f"{instance!r} is greater than the maximum of {value!r}", key)
    elif key == "exclusiveMinimum" and instance <= value:
        yield SchemaError(
            path, f"{instance!r} is less than or equal to the minimum of {value!r}", key
        )
    elif key == "exclusiveMaximum" and instance >= value:
        yield SchemaError(
            path, f"{instance!r} is greater than or equal to the maximum of {value!r}", key
        )
