"""The quick schema check never says yes where jsonschema says no, and for plain schemas agrees with it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from herald.events import fastschema
from herald.events.payloads import Checker

TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([0.0, 1.0, -2.5, 3.5, math.nan,
                    math.inf]), st.sampled_from(["", "a", "ATM", "POS", "é", "ab", "abc"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c", "amount"]), inner, max_size=3)),
    max_leaves=8)


def schemas(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    leaf: dict[str, st.SearchStrategy[Any]] = {
        "type": st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1, max_size=2)),
        "enum": st.lists(st.sampled_from(["ATM", "POS", "a", ""]), min_size=1, max_size=3),
        "minimum": st.sampled_from([0, 1, -1.5]), "maximum": st.sampled_from([0, 2, 3.5]),
        "exclusiveMinimum": st.sampled_from([0, 1]), "exclusiveMaximum": st.sampled_from([1, 4]),
        "minLength": st.integers(0, 3), "maxLength": st.integers(0, 3), "minItems": st.integers(0, 2),
        "maxItems": st.integers(0, 2), "required": st.lists(st.sampled_from(["a", "b", "amount"]), max_size=2),
        "additionalProperties": st.booleans(), "description": st.just("text"), "format": st.just("email"),
    }
    if depth > 0:
        leaf["properties"] = st.dictionaries(st.sampled_from(["a", "b", "amount"]), schemas(depth - 1), max_size=2)
        leaf["items"] = schemas(depth - 1)
    return st.fixed_dictionaries({}, optional=leaf)


@settings(max_examples=1500, deadline=None)
@given(schemas(), values)
def test_the_quick_check_agrees_with_jsonschema(schema: dict[str, Any], payload: Any) -> None:
    check = fastschema.plain_check(schema)
    assert check is not None, schema  # every keyword generated here is a plain one
    assert check(payload) == Draft202012Validator(schema).is_valid(payload), (schema, payload)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"type": "string"}}},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"type": "string", "pattern": "^a"},
    {"enum": [1, "a"]},  # numbers and booleans compare in subtle ways: left to jsonschema
    {"type": "object", "additionalProperties": {"type": "string"}},
    {"type": "array", "prefixItems": [{"type": "string"}]},
    {"minimum": "1"},
])
def test_schemas_that_are_not_plain_get_no_quick_check(schema: dict[str, Any]) -> None:
    assert fastschema.plain_check(schema) is None


def test_errors_still_come_from_jsonschema_with_their_paths() -> None:
    checker = Checker({"type": "object", "required": ["amount", "channel"],
                       "properties": {"amount": {"type": "number", "minimum": 0},
                                      "channel": {"enum": ["ATM", "POS"]}}})
    assert checker.fast is not None
    assert checker.problems({"amount": 5, "channel": "ATM"}) == []
    found = checker.problems({"amount": -1, "channel": "BANK"}, "events[2].payload")
    assert [p["field"] for p in found] == ["events[2].payload.amount", "events[2].payload.channel"]
    assert all(p["code"] == "schema_violation" for p in found)
