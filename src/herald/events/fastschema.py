"""A quick yes for payloads that obviously fit their event type's schema; jsonschema for everything else.

jsonschema checks a three-field payload in 10 to 20 µs: a fifth of what a batched event costs. Event schemas
are nearly always small and plain (an object, required fields, typed properties, an enum of strings, a
minimum), so :func:`plain_check` turns such a schema into nested Python closures that answer "valid" in about a
microsecond. It only ever says yes or "don't know":

* a schema using any keyword outside :data:`KEYWORDS` (``$ref``, ``oneOf``, ``pattern``, non-string enums…)
  gets no fast check at all;
* when the fast check says no, jsonschema validates the payload and reports its errors as before (and if
  jsonschema finds none, the payload is valid: a false "no" costs time, never correctness).

So a wrong answer could only be a false yes; ``tests/unit/test_fastschema.py`` compares the two on generated
schemas and payloads to rule that out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment", "$schema", "$id", "format",
                         "deprecated", "readOnly", "writeOnly"})  # format asserts nothing without a checker
KEYWORDS = frozenset({"type", "required", "properties", "additionalProperties", "enum", "items", "minimum",
                      "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                      "minItems", "maxItems"}) | ANNOTATIONS
_TYPES: dict[str, Check] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
    "number": lambda x: type(x) is int or type(x) is float,
    "integer": lambda x: type(x) is int or (type(x) is float and x.is_integer()),
}


class _Unsupported(Exception):
    pass


def plain_check(schema: Any) -> Check | None:
    """A check that answers True only for payloads ``schema`` accepts, or None when the schema is not plain."""
    try:
        return _schema(schema)
    except _Unsupported:
        return None


def _number(value: Any) -> float | int:
    if type(value) not in (int, float):
        raise _Unsupported
    return value  # type: ignore[no-any-return]


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise _Unsupported
    return value


def _schema(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda x: True
    if type(schema) is not dict or not KEYWORDS.issuperset(schema):
        raise _Unsupported
    checks: list[Check] = []
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if type(kinds) is str else kinds
        if type(names) is not list or not names or any(n not in _TYPES for n in names):
            raise _Unsupported
        tests = [_TYPES[n] for n in names]
        checks.append(tests[0] if len(tests) == 1 else lambda x: any(t(x) for t in tests))
    if "enum" in schema:
        values = schema["enum"]
        if type(values) is not list or not values or any(type(v) is not str for v in values):
            raise _Unsupported
        allowed = frozenset(values)
        checks.append(lambda x: type(x) is str and x in allowed)
    required = schema.get("required", [])
    if type(required) is not list or any(type(r) is not str for r in required):
        raise _Unsupported
    properties = schema.get("properties", {})
    if type(properties) is not dict:
        raise _Unsupported
    subs = {name: _schema(sub) for name, sub in properties.items()}
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):  # a schema for the others: not plain
        raise _Unsupported
    if required or subs or extra is False:
        names_allowed = frozenset(subs)

        def object_ok(x: Any) -> bool:
            if type(x) is not dict:
                return True  # these keywords only apply to objects
            if any(r not in x for r in required):
                return False
            if extra is False and not names_allowed.issuperset(x):
                return False
            return all(check(x[name]) for name, check in subs.items() if name in x)

        checks.append(object_ok)
    if "items" in schema:
        item = _schema(schema["items"])
        checks.append(lambda x: type(x) is not list or all(item(v) for v in x))
    bounds = [(key, _number(schema[key])) for key in ("minimum", "maximum", "exclusiveMinimum",
                                                      "exclusiveMaximum") if key in schema]
    if bounds:
        checks.append(lambda x: not (type(x) is int or type(x) is float) or all(_within(x, k, b) for k, b in bounds))
    for key, kind in (("minLength", str), ("maxLength", str), ("minItems", list), ("maxItems", list)):
        if key in schema:
            checks.append(_length(_count(schema[key]), kind, key.startswith("min")))
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    return lambda x: all(check(x) for check in checks)


def _length(limit: int, kind: type[str] | type[list[Any]], low: bool) -> Check:
    if low:
        return lambda x: type(x) is not kind or len(x) >= limit
    return lambda x: type(x) is not kind or len(x) <= limit


def _within(x: float, key: str, bound: float) -> bool:
    """jsonschema's comparisons, literally (a NaN fails none of them)."""
    if key == "minimum":
        return not x < bound
    if key == "maximum":
        return not x > bound
    if key == "exclusiveMinimum":
        return not x <= bound
    return not x >= bound
