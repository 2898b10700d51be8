"""Durations and times of day as trigger steps write them.

A duration is ISO 8601 (``P14D``, ``PT2H30M``, ``P2W``) or a shorthand (``14d``, ``2h``, ``30m``, ``45s``,
``1d12h``). Months and years are refused: "a month" has no fixed length, and a reminder that drifts by days
is a bug report. A time of day (``10:00``) is read in the contact's zone (see :func:`at_local` for DST)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX = timedelta(days=3 * 366)
_ISO = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")
_SHORT = re.compile(r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_CLOCK = re.compile(r"^(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)$")


@lru_cache(maxsize=4096)
def parse(text: str) -> timedelta:
    """The duration ``text`` names; ValueError says what is wrong. Remembered: every event that reaches a
    step parses the step's TTL or wait again."""
    raw = text.strip()
    match = _ISO.match(raw.upper()) if raw[:1] in ("P", "p") else _SHORT.match(raw.lower())
    if not raw or match is None or not any(match.groupdict().values()) or raw.upper().endswith("T"):
        raise ValueError(f"{text!r} is not a duration; write ISO 8601 like 'P14D' or 'PT2H', or '14d', '2h', '30m'")
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    value = timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    if value <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    if value > MAX:
        raise ValueError(f"{text!r} is longer than three years")
    return value


def clock(text: str) -> time:
    match = _CLOCK.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day; write HH:MM, 24-hour (e.g. '10:00')")
    return time(int(match["h"]), int(match["m"]))


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def at_local(day: date, when: time, tz: ZoneInfo) -> datetime:
    """``when`` on ``day`` in ``tz`` as a UTC instant. A wall time in a DST gap never happens: it moves later
    by the gap's length (01:30 on the spring-forward night is 02:30 summer time); in an overlap the first of the
    two instants counts (``fold=0``)."""
    return datetime.combine(day, when).replace(tzinfo=tz, fold=0).astimezone(UTC)


def next_time_of_day(after: datetime, when: time, tz: ZoneInfo) -> datetime:
    """The first instant strictly after ``after`` whose local time in ``tz`` is ``when``."""
    day = after.astimezone(tz).date()
    for offset in range(3):
        instant = at_local(day + timedelta(days=offset), when, tz)
        if instant > after:
            return instant
    raise AssertionError("unreachable: a time of day recurs within two days")
