"""Checking event payloads against their type's JSON Schema, with the path of every error.

Validators are built once per schema (a compiled Draft 2020-12 validator costs far more than a check) and
kept in a small cache keyed by the schema's canonical JSON, so an edited schema takes effect at once."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from herald import errors
from herald.events import fastschema

MAX_ERRORS = 20


def check_schema(schema: dict[str, Any], *, field: str = "schema") -> None:
    """Refuse a schema that is not valid JSON Schema (2020-12), saying where."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise errors.Invalid(f"The schema is not valid JSON Schema: {exc.message}", code="invalid_schema",
                             field=f"{field}.{where}" if where else field) from None


class Checker:
    """One schema, ready to check payload after payload: a quick yes for plain payloads (``fastschema``),
    jsonschema for the rest and for every error."""

    __slots__ = ("fast", "validator")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.validator = Draft202012Validator(schema)
        self.fast = fastschema.plain_check(schema)

    def problems(self, payload: Any, prefix: str = "payload") -> list[dict[str, Any]]:
        """Every way ``payload`` breaks the schema, each with the path of the offending value."""
        if self.fast is not None and self.fast(payload):
            return []
        found = sorted(self.validator.iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
        out = []
        for error in found[:MAX_ERRORS]:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            out.append({"field": f"{prefix}{path}", "code": "schema_violation", "message": error.message})
        return out


@lru_cache(maxsize=512)
def _checker(canonical: str) -> Checker:
    return Checker(json.loads(canonical))


def checker(schema: dict[str, Any]) -> Checker:
    """The checker of ``schema``, built once per distinct schema (a compiled validator costs far more than a
    check; look it up once per batch, not per event: the lookup serialises the schema)."""
    return _checker(json.dumps(schema, sort_keys=True, separators=(",", ":")))


def problems(schema: dict[str, Any] | None, payload: dict[str, Any], *,
             prefix: str = "payload") -> list[dict[str, Any]]:
    """Every way ``payload`` breaks ``schema``, each with the path of the offending value."""
    return checker(schema).problems(payload, prefix) if schema else []


def example(schema: dict[str, Any] | None, depth: int = 0) -> Any:
    """A payload shaped like ``schema`` (its ``examples``, ``default`` or first ``enum`` value where given, else
    a placeholder of the type), for checking templates when an event type has a schema but no sample."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("examples", "default", "enum", "const"):
        if key in schema:
            value = schema[key]
            return value[0] if key in ("examples", "enum") and isinstance(value, list) and value else value
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object" or "properties" in schema:
        return {name: example(sub, depth + 1) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        item = example(schema.get("items"), depth + 1)
        return [] if item is None else [item]
    return {"string": "text", "number": 1.5, "integer": 1, "boolean": True}.get(str(kind))
