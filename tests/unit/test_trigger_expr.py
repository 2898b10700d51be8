"""Trigger filter expressions: every operator, precedence, None-for-missing semantics, column-precise errors,
and the promise that any text either compiles or raises ExprError, and compiled ones always evaluate to a bool."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.triggers.expr import MAX_DEPTH, Expr, ExprError, compile

SCOPE: dict[str, Any] = {
    "event": {
        "amount": 12500,
        "price": 9.5,
        "channel": "ATM",
        "country": "FR",
        "vip": True,
        "flag": False,
        "zero": 0,
        "empty": "",
        "none": None,
        "tags": ["new", "promo", 3],
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "order_id": "o_1",
        "numstr": "10",
        "nested": {"deep": {"x": 1}},
        "emptylist": [],
        "emptydict": {},
    },
    "contact": {"tier": "gold", "email": "ann@example.com", "age": 41},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # comparisons, numbers and strings
        ("event.amount > 10000", True),
        ("event.amount >= 12500", True),
        ("event.amount < 12500", False),
        ("event.amount <= 12500", True),
        ("event.amount == 12500", True),
        ("event.amount == 12500.0", True),
        ("event.amount != 12500", False),
        ("event.price > 9.25", True),
        ("event.price < -1", False),
        ("event.amount > -5", True),
        ('event.channel == "ATM"', True),
        ("event.channel == 'ATM'", True),
        ("event.channel != 'POS'", True),
        ("event.channel < 'B'", True),
        ('"a\\"b" == \'a"b\'', True),
        ("'it\\'s' == \"it's\"", True),
        ("'a\\\\b' endswith '\\\\b'", True),
        ("'x\\ny' contains '\\n'", True),
        ("'x\\ty' contains '\\t'", True),
        # in / not in / contains / startswith / endswith
        ('contact.tier in ["gold", "platinum"]', True),
        ('contact.tier in ["silver", "platinum"]', False),
        ('contact.tier not in ["silver", "platinum"]', True),
        ('contact.tier not in ["gold"]', False),
        ("'old' in contact.tier", True),
        ("'promo' in event.tags", True),
        ("3 in event.tags", True),
        ("3.0 in event.tags", True),
        ("event.tags contains 'new'", True),
        ("event.tags contains 'old'", False),
        ("contact.email contains '@example.'", True),
        ("contact.email startswith 'ann@'", True),
        ("contact.email endswith '.com'", True),
        ("contact.email endswith '.org'", False),
        ("event.amount in []", False),
        ("event.amount in [1, 12500,]", True),
        ("event.amount in [contact.age, event.amount]", True),
        ("event.country in [[1], 'FR']", True),
        ("[1, 'a'] == [1, 'a']", True),
        ("[1, 'a'] == [1, 'b']", False),
        ("event.nested == event.nested", True),
        # boolean logic and precedence
        ('event.amount > 10000 and event.channel == "ATM"', True),
        ('event.amount > 10000 && event.channel == "POS"', False),
        ("event.amount < 0 or event.vip", True),
        ("event.amount < 0 || event.flag", False),
        ("not (event.country == 'GB')", True),
        ("!(event.country == 'FR')", False),
        ("not event.country == 'GB'", True),
        ("not not event.vip", True),
        ("event.vip or event.flag and event.flag", True),  # or binds loosest: vip or (flag and flag)
        ("(event.vip or event.flag) and event.flag", False),
        ("event.flag and event.flag or event.vip", True),
        ("event.flag or event.flag or event.flag or event.vip", True),
        ("event.vip and event.vip and event.vip and event.flag", False),
        # truthiness of bare atoms
        ("event.vip", True),
        ("event.flag", False),
        ("event.zero", False),
        ("event.empty", False),
        ("event.none", False),
        ("event.emptylist", False),
        ("event.emptydict", False),
        ("event.tags", True),
        ("event.nested", True),
        ("event.missing", False),
        ("true", True),
        ("false", False),
        ("null", False),
        ("[]", False),
        ("[0]", True),
        ("1", True),
        ("0", False),
        ("''", False),
        ("'x'", True),
        # indexing and nested paths
        ("event.items[0].sku == 'A-1'", True),
        ("event.items[1].qty == 1", True),
        ("event.items[2].sku == null", True),
        ("event.items[0].sku.more == null", True),
        ("event.tags[1] == 'promo'", True),
        ("event.nested.deep.x == 1", True),
        ("event.channel[0] == null", True),
        ("event.nested[0] == null", True),
        ("event.tags.first == null", True),
        # keywords are fine as names after a dot
        ("event.in == null and event.not == null", True),
    ],
)
def test_evaluates(source: str, expected: bool) -> None:
    result = compile(source).evaluate(SCOPE)
    assert result is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.missing == null", True),
        ("event.missing != null", False),
        ("event.missing == 0", False),
        ("event.missing > 0", False),
        ("event.missing < 0", False),
        ("event.missing in [1, 2]", False),
        ("event.missing not in [1, 2]", True),
        ("event.missing startswith 'a'", False),
        ("missing_root_ok.x == null", True),
        ("event.amount.sub == null", True),
        ("event.amount in 'abc'", False),
        ("event.amount not in 'abc'", True),
        ("'a' in event.amount", False),
        ("'a' not in event.nested", True),
        ("event.tags contains event.missing", False),
    ],
)
def test_missing_and_wrong_types_are_none_never_errors(source: str, expected: bool) -> None:
    expr = compile(source, roots={"event", "missing_root_ok"})
    assert expr.evaluate(SCOPE) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true == 1", False),
        ("false == 0", False),
        ("true != 1", True),
        ("event.vip == 1", False),
        ("event.vip == true", True),
        ("event.flag == false", True),
        ("event.zero == false", False),
        ("1 in [true]", False),
        ("true in [1, true]", True),
        ("event.vip > 0", False),
        ("event.vip >= true", False),
        ("[true] == [1]", False),
        ("null == false", False),
        ("null == null", True),
        ("'' == null", False),
    ],
)
def test_bool_is_not_a_number(source: str, expected: bool) -> None:
    assert compile(source).evaluate(SCOPE) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.numstr > 9", False),
        ("event.numstr < 9", False),
        ("event.numstr == 10", False),
        ("event.numstr == '10'", True),
        ("10 in ['10']", False),
        ("'a' < 1", False),
        ("[1] < [2]", False),
    ],
)
def test_no_coercion_between_strings_and_numbers(source: str, expected: bool) -> None:
    assert compile(source).evaluate(SCOPE) is expected


def test_correlation_with_other_roots() -> None:
    expr = compile("event.order_id == entry.order_id", roots={"event", "entry"})
    assert expr.evaluate({"event": {"order_id": "o_1"}, "entry": {"order_id": "o_1"}}) is True
    assert expr.evaluate({"event": {"order_id": "o_1"}, "entry": {"order_id": "o_2"}}) is False
    assert expr.evaluate({}) is True  # both missing: None == None
    assert expr.paths == frozenset({("event", "order_id"), ("entry", "order_id")})


def test_paths_lists_every_variable_reference() -> None:
    expr = compile("event.amount > 1 and (contact.tier in [event.x.y, 'a'] or event.items[0].sku) and event.amount")
    assert expr.paths == frozenset(
        {("event", "amount"), ("contact", "tier"), ("event", "x", "y"), ("event", "items", "0", "sku")}
    )
    assert compile("true").paths == frozenset()
    assert compile("event").paths == frozenset({("event",)})


def test_expr_keeps_source_and_is_reusable() -> None:
    source = "  event.amount > 1  "
    expr = compile(source)
    assert isinstance(expr, Expr)
    assert expr.source == source
    assert expr.evaluate({"event": {"amount": 2}}) is True
    assert expr.evaluate({"event": {"amount": 0}}) is False
    assert expr.evaluate({}) is False
    assert "event.amount" in repr(expr)


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("event.channel == 'ATM", 17, "unterminated string"),
        ('event.channel == "ATM\\"', 17, "unterminated string"),
        ('"abc', 0, "unterminated string"),
        ("event.amount >", 14, "expected a value"),
        ("event.amount >   ", 17, "expected a value"),
        ("event.amount > > 3", 15, "expected a value"),
        ("foo.bar == 1", 0, "unknown variable 'foo'; use event, contact"),
        ("event.a == 1 and foo == 2", 17, "unknown variable 'foo'"),
        ("event.a < event.b < 3", 18, "cannot be chained"),
        ("1 == 1 == 1", 7, "cannot be chained"),
        ("event.a in [1] not in [2]", 15, "cannot be chained"),
        ("(event.a == 1", 0, "unclosed '('"),
        ("((event.a == 1)", 0, "unclosed '('"),
        ("event.a == 1)", 12, "unmatched ')'"),
        ("(event.a == 1 event.b)", 14, "expected ')'"),
        ("[1, 2", 0, "unclosed '['"),
        ("event.a in [1 2]", 14, "expected ']'"),
        ("event.a in [1,,2]", 14, "expected a value"),
        ("", 0, "empty expression"),
        ("   \n\t", 0, "empty expression"),
        ("event.a = 1", 8, "use '=='"),
        ("event.a & 1", 8, "unexpected character '&'"),
        ("event.a == 'x\\q'", 13, "unknown escape"),
        ("event.a -", 8, "unexpected character '-'"),
        ("event.a == 1.", 11, "invalid number"),
        ("event.a == 12abc", 11, "invalid number"),
        ("event.", 6, "expected a name after '.'"),
        ("event.items[x]", 12, "expected a list index"),
        ("event.items[-1]", 12, "expected a list index"),
        ("event.items[1.5]", 12, "expected a list index"),
        ("event.items[0", 13, "expected ']'"),
        ("event.a event.b", 8, "expected an operator or the end"),
        ("event.a not", 8, "expected an operator or the end"),
        ("and event.a", 0, "expected a value"),
        ("event.a and", 11, "expected a value"),
        ("not", 3, "expected a value"),
        ("Event.a", 0, "unknown variable 'Event'"),
        ("event.a == TRUE", 11, "unknown variable 'TRUE'"),
        ("event.a == 'é' and ☃", 19, "unexpected character '☃'"),
    ],
)
def test_error_positions(source: str, position: int, message: str) -> None:
    with pytest.raises(ExprError) as caught:
        compile(source)
    assert caught.value.position == position
    assert message in caught.value.message
    assert str(caught.value) == f"{caught.value.message} at position {position}"
    assert isinstance(caught.value, ValueError)


def test_error_str_format() -> None:
    with pytest.raises(ExprError, match=r"^expected a value at position 14$"):
        compile("event.amount >")


def test_unknown_variable_lists_custom_roots() -> None:
    with pytest.raises(ExprError) as caught:
        compile("event.x", roots=frozenset({"payload", "entry"}))
    assert caught.value.message == "unknown variable 'event'; use entry, payload"


def test_depth_limit() -> None:
    ok = "(" * MAX_DEPTH + "event.a" + ")" * MAX_DEPTH
    assert compile(ok).evaluate({"event": {"a": 1}}) is True
    too_deep = "(" * (MAX_DEPTH + 1) + "event.a" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ExprError, match="nested too deeply") as caught:
        compile(too_deep)
    assert caught.value.position == MAX_DEPTH
    with pytest.raises(ExprError, match="nested too deeply"):
        compile("not " * (MAX_DEPTH + 1) + "event.a")
    with pytest.raises(ExprError, match="nested too deeply"):
        compile("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ExprError, match="nested too deeply"):
        compile("(" * 1000)  # never a RecursionError
    assert compile("!" * MAX_DEPTH + "event.a").evaluate({"event": {"a": 1}}) is True


def test_length_limit() -> None:
    long_ok = " or ".join(["event.a == 1"] * 125)
    assert len(long_ok) <= 2000
    assert compile(long_ok).evaluate({"event": {"a": 1}}) is True
    with pytest.raises(ExprError, match="too long") as caught:
        compile("event.a == 1" + " " * 1990)
    assert caught.value.position == 2000


def test_long_flat_chains_do_not_recurse() -> None:
    source = "&&".join(["event.a"] * 220)
    assert len(source) <= 2000
    assert compile(source).evaluate({"event": {"a": 1}}) is True
    assert compile(source).evaluate({"event": {"a": 0}}) is False


def test_short_circuit() -> None:
    assert compile("event.a or event.b.c").evaluate({"event": {"a": 1}}) is True
    assert compile("event.a and event.b").evaluate({"event": {"a": 0}}) is False


def test_deeply_nested_data_does_not_raise() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    assert compile("event.a == event.b").evaluate({"event": {"a": deep, "b": deep}}) is False
    assert compile("event.a").evaluate({"event": {"a": deep}}) is True


# ---- properties -------------------------------------------------------------------------------------------------

NAMES = ["a", "b", "items", "tier"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.sampled_from(NAMES),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=3), inner),
    max_leaves=20,
)
SCOPES = st.dictionaries(st.sampled_from(["event", "contact", "other"]), JSON, max_size=3)
PIECES = [
    "event", "contact", ".", "a", "b", "items", "[", "]", "0", "1", "-2", "3.5", "(", ")", ",", "'x'", '"a"', "'",
    '"', "\\", "==", "!=", "<", "<=", ">", ">=", "=", "!", "&&", "||", "and", "or", "not", "in", "contains",
    "startswith", "endswith", "true", "false", "null", "foo", " ",
]  # fmt: skip


def _check_total(source: str, scope: dict[str, Any]) -> None:
    error: ExprError | None = None
    try:
        expr = compile(source)
    except ExprError as e:
        error = e
    if error is not None:
        assert 0 <= error.position <= len(source)
        assert str(error).endswith(f" at position {error.position}")
    else:
        assert type(expr.evaluate(scope)) is bool


@settings(max_examples=300)
@given(st.text(), SCOPES)
def test_any_text_compiles_or_raises_expr_error(source: str, scope: dict[str, Any]) -> None:
    _check_total(source, scope)


@settings(max_examples=500)
@given(st.lists(st.sampled_from(PIECES), max_size=25).map("".join), SCOPES)
def test_any_token_soup_compiles_or_raises_expr_error(source: str, scope: dict[str, Any]) -> None:
    _check_total(source, scope)


def _string_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


PATHS = st.builds(
    lambda root, steps: root + "".join(steps),
    st.sampled_from(["event", "contact"]),
    st.lists(st.sampled_from(NAMES).map(lambda n: "." + n) | st.integers(0, 3).map(lambda i: f"[{i}]"), max_size=3),
)
LITERALS = (
    st.integers(-(10**6), 10**6).map(str)
    | st.floats(-1e6, 1e6).map(lambda f: f"{f:.3f}")
    | st.text(max_size=6).map(_string_literal)
    | st.sampled_from(["true", "false", "null"])
)
ATOMS = st.recursive(
    PATHS | LITERALS,
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    max_leaves=5,
)
OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "startswith", "endswith"]
COMPARISONS = st.builds(lambda a, op, b: f"{a} {op} {b}", ATOMS, st.sampled_from(OPS), ATOMS) | ATOMS
EXPRESSIONS = st.recursive(
    COMPARISONS,
    lambda inner: (
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["and", "or", "&&", "||"]), inner)
        | inner.map(lambda e: f"not ({e})")
        | inner.map(lambda e: f"!{e}" if e.startswith("(") else f"!({e})")
        | inner.map(lambda e: f"({e})")
    ),
    max_leaves=6,
)


@settings(max_examples=300)
@given(EXPRESSIONS, SCOPES)
def test_generated_valid_expressions_compile(source: str, scope: dict[str, Any]) -> None:
    expr = compile(source)
    assert expr.source == source
    assert all(path[0] in {"event", "contact"} for path in expr.paths)
    assert type(expr.evaluate(scope)) is bool


@settings(max_examples=200)
@given(EXPRESSIONS, SCOPES)
def test_not_is_the_negation(source: str, scope: dict[str, Any]) -> None:
    assert compile(f"not ({source})").evaluate(scope) is not compile(source).evaluate(scope)
