"""The data a template may read: plain dicts with text keys, lists and scalars, nothing else.

python-liquid resolves ``a.b`` and ``a[0]`` by item lookup and prints values with ``str()``, so an object
passed to a render could expose what its ``__getitem__`` or ``__str__`` reaches (a settings object's
secrets, an ORM row). :func:`plain` passes plain data through unchanged (checked without copying: it runs
for every recipient) and converts or refuses everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

MAX_DATA_DEPTH = 32
_SCALARS = frozenset({str, int, float, bool, type(None), Decimal, datetime, date, time})
_STR = frozenset({str})


class Unsupported(Exception):
    """A value a template may not read; ``path`` names where it is, innermost key first."""

    def __init__(self, kind: str) -> None:
        self.kind, self.path = kind, list[str]()  # path is collected innermost first while unwinding


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain data a template may read, or ``Unsupported``. Already-plain containers are returned
    as they are (templates cannot mutate them); str subclasses such as ``Markup`` become plain ``str`` so they
    are escaped like any other text. Scalars are tested inline: this runs for every recipient."""
    kind = type(value)
    if kind in _SCALARS or _is_plain(value, depth):
        return value
    if depth > MAX_DATA_DEPTH:
        raise Unsupported("a structure nested too deeply")
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        out, name = {}, ""
        try:
            for key, item in value.items():
                name = key if type(key) is str else str.__str__(key) if isinstance(key, str) else ""
                if not name and type(key) is not str:
                    raise Unsupported(f"a key of type {type(key).__name__}")
                out[name] = item if type(item) in _SCALARS else plain(item, depth + 1)
        except Unsupported as exc:
            if name:  # not when the key itself was refused
                exc.path.append(name)
            raise
        return out
    if kind is list or (isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)):
        items, index = [], 0
        try:
            for index, item in enumerate(value):  # noqa: B007 - index names the item in an error
                items.append(item if type(item) in _SCALARS else plain(item, depth + 1))
        except Unsupported as exc:
            exc.path.append(str(index))
            raise
        return items
    return _plain_scalar(value)


def _is_plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is plain data already (dicts with str keys, lists, scalars, within the depth limit),
    so that :func:`plain` can return it without copying. Each container's types are checked in C first."""
    kind = type(value)
    if kind is dict:
        if not _STR.issuperset(map(type, value)):
            return False
        values: Any = value.values()
    elif kind is list:
        values = value
    else:
        return kind in _SCALARS
    if _SCALARS.issuperset(map(type, values)):
        return True
    if depth >= MAX_DATA_DEPTH:
        return False
    for item in values:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict:  # a leaf mapping is checked here, without a call
            if _STR.issuperset(map(type, item)) and _SCALARS.issuperset(map(type, item.values())):
                continue
        elif kind is list and _SCALARS.issuperset(map(type, item)):
            continue
        if not _is_plain(item, depth + 1):
            return False
    return True


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, Enum):
        return plain(value.value, MAX_DATA_DEPTH)
    for base in (str, bool, int, float, Decimal):  # subclasses (IntEnum, Markup…) become the base type
        if isinstance(value, base):
            return str.__str__(value) if base is str else base(value)
    if isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                        value.microsecond, value.tzinfo, fold=value.fold)
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    if isinstance(value, UUID):
        return str(value)
    raise Unsupported(f"a value of type {type(value).__name__}")
