"""Trigger filter expressions: a small, safe language that marketers and integrators type into a trigger.

    event.amount > 10000 and event.channel == "ATM"
    contact.tier in ["gold", "platinum"] && not (event.country == 'GB')

Why not Python: the text comes from users, so it is parsed by hand (no ``eval``, no ``ast``) into a tree of
closures, once, and every input either compiles or raises :class:`ExprError` with a 0-based character
position (the API returns it as a 422). Grammar, loosest binding first::

    or / ||  >  and / &&  >  not / ! (prefix)  >  comparison (one per operand pair, never chained):
        == != < <= > >= in | not in | contains | startswith | endswith
    atom: number (-12, 3.5) | 'string' / "string" (escapes \\\\ \\" \\' \\n \\t) | true | false | null
        | [list, of, atoms,] | ( expression ) | path: root.name.name[0].name

A bare atom means its truthiness (None, false, 0, "", [] and {} are false). Evaluation is over JSON-like data
and never raises: a missing key, bad index or wrong type yields None. ``==`` keeps booleans apart from numbers
(``true == 1`` is false) and compares int/float numerically; ordering needs two numbers or two strings, else it
is false. Strings are never coerced to numbers (``"10" > 9`` is false), on purpose: payload types must be right.
``in`` wants a list (membership by the same equality) or a string (substring of a string); otherwise ``in`` is
false and ``not in`` true. ``a contains b`` is ``b in a``; ``startswith``/``endswith`` need two strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "Expr", "ExprError", "compile"]

MAX_LENGTH = 2000
MAX_DEPTH = 32
_EQ_DEPTH = 100  # nested list/dict equality deeper than this is treated as unequal rather than recursing on
_DEFAULT_ROOTS = frozenset({"event", "contact"})
_ROOT_ORDER = {"event": 0, "contact": 1}  # for error messages: these first, any others alphabetically
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_STRINGS = {q: re.compile(rf"{q}(?:[^{q}\\]|\\.)*{q}", re.DOTALL) for q in "'\""}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
_OPS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ",", ".")
_COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_COMPARE_WORDS = frozenset({"in", "contains", "startswith", "endswith"})
_KEYWORDS = frozenset({"and", "or", "not", "true", "false", "null"}) | _COMPARE_WORDS
_CLOSERS = {"(": ")", "[": "]"}
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}

Fn = Callable[[Mapping[str, Any]], Any]


class ExprError(ValueError):
    """A filter expression that cannot be compiled; ``position`` is a 0-based offset into the source."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression: ``paths`` holds every variable path it reads (list indexes as digit strings)."""

    source: str
    paths: frozenset[tuple[str, ...]]
    _fn: Callable[[Mapping[str, Any]], bool] = field(repr=False, compare=False)

    def evaluate(self, scope: Mapping[str, Any]) -> bool:
        return self._fn(scope)


class _Tok(NamedTuple):
    kind: str  # "num", "str", "name", "op" or "eof"
    value: Any
    pos: int


class _Node(NamedTuple):
    fn: Fn
    kind: str  # "bool" (fn returns a bool), "value", or "const" (fn ignores the scope)


def _truthy(v: Any) -> bool:
    return bool(v) if isinstance(v, bool | int | float | str | list | dict | tuple) else v is not None


def _eq(a: Any, b: Any, depth: int = 0) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, str | int | float) and isinstance(b, str | int | float):
        return isinstance(a, str) == isinstance(b, str) and a == b
    if a is None or b is None:
        return a is b
    if depth >= _EQ_DEPTH:
        return False
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_eq(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k], depth + 1) for k in a)
    return False


def _orderable(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str)
    return isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) | isinstance(b, bool)


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, list | tuple):
        return any(_eq(a, x) for x in b)
    return isinstance(b, str) and isinstance(a, str) and a in b


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "<": lambda a, b: _orderable(a, b) and a < b,
    "<=": lambda a, b: _orderable(a, b) and a <= b,
    ">": lambda a, b: _orderable(a, b) and a > b,
    ">=": lambda a, b: _orderable(a, b) and a >= b,
    "in": _in,
    "not in": lambda a, b: not _in(a, b),
    "contains": lambda a, b: _in(b, a),
    "startswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.startswith(b),
    "endswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.endswith(b),
}


def _unescape(match: re.Match[str], offset: int) -> str:
    if (char := match.group(1)) not in _ESCAPES:
        raise ExprError(f"unknown escape '\\{char}' in string", offset + match.start())
    return _ESCAPES[char]


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
        elif ch in _STRINGS:
            if not (m := _STRINGS[ch].match(src, i)):
                raise ExprError("unterminated string", i)
            toks.append(_Tok("str", _ESCAPE.sub(partial(_unescape, offset=i + 1), m.group()[1:-1]), i))
            i = m.end()
        elif m := _NUMBER.match(src, i):
            end = m.end()
            if end < n and (src[end] == "." or src[end] == "_" or src[end].isalnum()):
                raise ExprError("invalid number", i)
            text = m.group()
            toks.append(_Tok("num", float(text) if "." in text else int(text), i))
            i = end
        elif m := _NAME.match(src, i):
            toks.append(_Tok("name", m.group(), i))
            i = m.end()
        elif op := next((o for o in _OPS if src.startswith(o, i)), None):
            toks.append(_Tok("op", op, i))
            i += len(op)
        elif ch == "=":
            raise ExprError("unexpected '='; use '==' to compare", i)
        else:
            raise ExprError(f"unexpected character {ch!r}", i)
    toks.append(_Tok("eof", None, n))
    return toks


class _Parser:
    def __init__(self, src: str, roots: frozenset[str] | set[str]) -> None:
        self.toks, self.i, self.depth = _tokenize(src), 0, 0
        self.roots = roots
        self.paths: set[tuple[str, ...]] = set()

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += tok.kind != "eof"
        return tok

    def at(self, kind: str, *values: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == kind and tok.value in values

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested too deeply (max {MAX_DEPTH})", tok.pos)

    def close(self, opener: _Tok) -> None:
        tok, closer = self.take(), _CLOSERS[opener.value]
        if tok.kind == "eof":
            raise ExprError(f"unclosed '{opener.value}'", opener.pos)
        if not (tok.kind == "op" and tok.value == closer):
            raise ExprError(f"expected '{closer}'", tok.pos)
        self.depth -= 1

    def parse(self) -> Callable[[Mapping[str, Any]], bool]:
        node = self.boolean("or")
        tok = self.peek()
        if tok.kind != "eof":
            what = "unmatched ')'" if tok.kind == "op" and tok.value == ")" else "expected an operator or the end"
            raise ExprError(what, tok.pos)
        return _as_bool(node)

    def boolean(self, word: str) -> _Node:
        symbol, lower = ("||", "and") if word == "or" else ("&&", "")
        parts = [self.boolean(lower) if lower else self.negation()]
        while self.at("name", word) or self.at("op", symbol):
            self.take()
            parts.append(self.boolean(lower) if lower else self.negation())
        if len(parts) == 1:
            return parts[0]
        fns = tuple(_as_bool(p) for p in parts)
        if len(fns) == 2:
            one, two = fns
            return _Node((lambda s: one(s) or two(s)) if word == "or" else (lambda s: one(s) and two(s)), "bool")
        if word == "or":
            return _Node(lambda s: any(f(s) for f in fns), "bool")
        return _Node(lambda s: all(f(s) for f in fns), "bool")

    def negation(self) -> _Node:
        if self.at("name", "not") or self.at("op", "!"):
            self.enter(self.take())
            inner = _as_bool(self.negation())
            self.depth -= 1
            return _Node(lambda s: not inner(s), "bool")
        return self.comparison()

    def comparison_op(self) -> str | None:
        if self.at("op", *_COMPARE_OPS) or self.at("name", *_COMPARE_WORDS):
            return str(self.peek().value)
        if self.at("name", "not") and self.at("name", "in", ahead=1):
            return "not in"
        return None

    def comparison(self) -> _Node:
        left = self.atom()
        op = self.comparison_op()
        if op is None:
            return left
        self.i += 2 if op == "not in" else 1
        right = self.atom()
        if self.comparison_op() is not None:
            raise ExprError("comparisons cannot be chained; use 'and'", self.peek().pos)
        cmp, lf, rf = _COMPARE[op], left.fn, right.fn
        if right.kind == "const":
            const = rf({})
            return _Node(lambda s: cmp(lf(s), const), "bool")
        return _Node(lambda s: cmp(lf(s), rf(s)), "bool")

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind in ("num", "str") or (tok.kind == "name" and tok.value in _LITERALS):
            value = _LITERALS[tok.value] if tok.kind == "name" else tok.value
            return _Node(lambda s: value, "const")
        if tok.kind == "name" and tok.value not in _KEYWORDS:
            return self.path(tok)
        if tok.kind == "op" and tok.value == "(":
            self.enter(tok)
            inner = self.boolean("or")
            self.close(tok)
            return inner
        if tok.kind == "op" and tok.value == "[":
            return self.list_literal(tok)
        raise ExprError("expected a value", tok.pos)

    def list_literal(self, opener: _Tok) -> _Node:
        self.enter(opener)
        items: list[_Node] = []
        while not self.at("op", "]") and self.peek().kind != "eof":
            items.append(self.atom())
            if not self.at("op", "]", ","):
                break
            if self.at("op", ","):
                self.take()
        self.close(opener)
        fns = tuple(item.fn for item in items)
        if all(item.kind == "const" for item in items):
            values = [f({}) for f in fns]
            return _Node(lambda s: values, "const")
        return _Node(lambda s: [f(s) for f in fns], "value")

    def path(self, first: _Tok) -> _Node:
        if first.value not in self.roots:
            names = ", ".join(sorted(self.roots, key=lambda r: (_ROOT_ORDER.get(r, 2), r))) or "nothing"
            raise ExprError(f"unknown variable '{first.value}'; use {names}", first.pos)
        steps: list[str | int] = []
        while self.at("op", ".", "["):
            if self.take().value == ".":
                tok = self.take()
                if tok.kind != "name":
                    raise ExprError("expected a name after '.'", tok.pos)
                steps.append(tok.value)
            else:
                tok = self.take()
                if tok.kind != "num" or not isinstance(tok.value, int) or tok.value < 0:
                    raise ExprError("expected a list index (a whole number, 0 or more)", tok.pos)
                steps.append(tok.value)
                if not self.at("op", "]"):
                    raise ExprError("expected ']'", self.peek().pos)
                self.take()
        root: str = first.value
        self.paths.add((root, *(str(step) for step in steps)))
        return _Node(_walker(root, tuple(steps)), "value")


def _walker(root: str, steps: tuple[str | int, ...]) -> Fn:
    def walk(scope: Mapping[str, Any]) -> Any:
        cur = scope.get(root)
        for step in steps:
            if isinstance(step, str):
                if isinstance(cur, dict | Mapping):
                    cur = cur.get(step)
                else:
                    return None
            elif isinstance(cur, list | tuple) and step < len(cur):
                cur = cur[step]
            else:
                return None
        return cur

    return walk


def _as_bool(node: _Node) -> Callable[[Mapping[str, Any]], bool]:
    if node.kind == "bool":
        return node.fn
    fn = node.fn
    return lambda s: _truthy(fn(s))


def compile(source: str, roots: frozenset[str] | set[str] = _DEFAULT_ROOTS) -> Expr:
    """Parse ``source`` into an :class:`Expr`; raise :class:`ExprError` (with a position) for anything invalid."""
    if len(source) > MAX_LENGTH:
        raise ExprError(f"expression too long (max {MAX_LENGTH} characters)", MAX_LENGTH)
    if not source.strip():
        raise ExprError("empty expression", 0)
    parser = _Parser(source, frozenset(roots))
    fn = parser.parse()
    return Expr(source, frozenset(parser.paths), fn)
