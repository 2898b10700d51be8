"""Dates and times in a locale's CLDR patterns, through babel, with the per-field work remembered.

babel formats a datetime by resolving each field of the pattern (``MMM``, ``d``, ``h``, ``a``…) against the
locale's data on every call: ~10 µs for a "medium" datetime, the costliest filter in an order email. Yet for
a given locale a month name or a day number depends only on the date, and an hour, a minute or an AM/PM
marker only on the time of day. :class:`Formatter` remembers babel's texts for each date and each time of
day it has seen, so most calls are two dictionary lookups and one ``str.format``. The output is babel's own
by construction; ``tests/unit/test_liquid.py`` compares it with babel on many datetimes and locales.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import (
    DateTimeFormat,
    DateTimePattern,
    get_date_format,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)

NAMED_FORMATS = frozenset({"short", "medium", "long", "full"})
MEMO_LIMIT = 20_000  # remembered dates and times of day, per formatter

# Fields whose text depends only on the calendar date, and fields that depend only on the time of day.
DATE_FIELDS = frozenset("yMLdE")
TIME_FIELDS = frozenset("ahHKkms")
_PIECE = re.compile(r"%\((\w+)\)s|%%|[^%]+")


class Formatter:
    """One pattern in one locale. When every field of the pattern is a date field or a time-of-day field,
    the texts of the date fields are remembered per date and those of the time fields per (hour, minute,
    second), each computed by babel the first time; the result is babel's pieces joined by the pattern's
    literal text. Other patterns (zones, weeks, quarters, fractions of a second, day periods) go to babel."""

    __slots__ = ("date_names", "dates", "locale", "pattern", "template", "time_names", "times")

    def __init__(self, pattern: DateTimePattern, locale: Locale) -> None:
        self.pattern, self.locale = pattern, locale
        self.dates: dict[int, tuple[str, ...]] = {}
        self.times: dict[tuple[int, int, int], tuple[str, ...]] = {}
        names: list[str] = []
        pieces: list[str | None] = []
        for match in _PIECE.finditer(str(pattern.format)):  # babel's %-format string
            if match.group(1):
                names.append(match.group(1))
                pieces.append(None)
            else:
                pieces.append("%" if match.group() == "%%" else match.group())
        self.date_names = tuple(n for n in names if n[0] in DATE_FIELDS)
        self.time_names = tuple(n for n in names if n[0] in TIME_FIELDS)
        self.template: str | None = None  # None: babel formats every value
        if len(self.date_names) + len(self.time_names) == len(names):
            slots = {name: i for i, name in enumerate(self.date_names + self.time_names)}
            it = iter(names)
            self.template = "".join("{" + str(slots[next(it)]) + "}" if piece is None
                                    else piece.replace("{", "{{").replace("}", "}}") for piece in pieces)

    def apply(self, value: date | datetime) -> str:
        """What ``pattern.apply(value, locale)`` returns."""
        if self.template is None or (self.time_names and not isinstance(value, datetime)):
            return str(self.pattern.apply(value, self.locale))
        day = value.toordinal()
        dated = self.dates.get(day)
        if dated is None:
            dated = self._babel(value, self.date_names, self.dates, day)
        if not self.time_names:
            return self.template.format(*dated)
        assert isinstance(value, datetime)
        clock = (value.hour, value.minute, value.second)
        timed = self.times.get(clock)
        if timed is None:
            timed = self._babel(value, self.time_names, self.times, clock)
        return self.template.format(*dated, *timed)

    def _babel(self, value: date | datetime, names: tuple[str, ...], memo: dict[Any, tuple[str, ...]],
               key: Any) -> tuple[str, ...]:
        fields = DateTimeFormat(value, self.locale)
        texts = tuple(fields[name] for name in names)
        if len(memo) < MEMO_LIMIT:
            memo[key] = texts
        return texts


@lru_cache(maxsize=1024)
def formatter(kind: str, fmt: str, code: str) -> Formatter:
    """The formatter for a named format (``datetime`` combined like babel's ``format_datetime``) or a CLDR
    pattern, in the locale ``code`` (babel's or BCP 47 spelling). Raises babel's errors for a bad pattern."""
    locale = Locale.parse(code.replace("-", "_"))
    return Formatter(_pattern(kind, fmt, locale), locale)


def _pattern(kind: str, fmt: str, locale: Locale) -> DateTimePattern:
    if fmt not in NAMED_FORMATS:
        return parse_pattern(fmt)
    if kind == "date":
        return get_date_format(fmt, locale)  # type: ignore[arg-type]
    if kind == "time":
        return get_time_format(fmt, locale)  # type: ignore[arg-type]
    combined = str(get_datetime_format(fmt, locale))  # type: ignore[arg-type]
    time_part = get_time_format(fmt, locale).pattern  # type: ignore[arg-type]
    date_part = get_date_format(fmt, locale).pattern  # type: ignore[arg-type]
    return parse_pattern(combined.replace("{0}", time_part).replace("{1}", date_part))
