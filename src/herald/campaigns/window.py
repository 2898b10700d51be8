"""Campaign send windows, judged in the recipient's local time.

Campaigns send only inside a daily window of local wall-clock time, and marketing SMS also only inside quiet
hours (08:00-21:00 local). When the recipient's zone is unknown they may be in any zone their phone number
spans, so the strictest reading applies: an instant is allowed only if it is inside every window in every
candidate zone at once. Everything here is pure and uses only :mod:`zoneinfo`; DST gaps and folds are handled
by testing real UTC instants, never by wall-clock arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers.timezone import time_zones_for_number

from herald import errors

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAYS = frozenset(range(7))
HORIZON = timedelta(days=8)  # how far ahead next_open looks
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_UNKNOWN_ZONE = "Etc/Unknown"
_SCAN_STEP = 3 * 3600  # seconds; no zone changes its UTC offset twice within three hours


@dataclass(frozen=True, slots=True)
class Window:
    """Local wall-clock ``[start, end)``; ``end < start`` runs overnight. ``days`` (Monday=0) are the allowed
    weekdays of the local day on which the window *starts*, so Friday 22:00-06:00 includes Saturday 03:00."""

    start: time
    end: time
    days: frozenset[int] = ALL_DAYS

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise errors.Invalid("send window times are local wall-clock times", code="invalid_window_time",
                                 field="send_window")
        if self.start == self.end:
            raise errors.Invalid("send window start and end must differ", code="empty_window", field="send_window")
        if not self.days or not self.days <= ALL_DAYS:
            raise errors.Invalid("send window needs at least one weekday", code="invalid_window_days",
                                 field="send_window.days")

    def contains(self, local: datetime) -> bool:
        """Whether ``local`` (an aware datetime in the recipient's zone) is inside the window."""
        return self._holds(local.weekday(), local.time())

    def _holds(self, weekday: int, wall: time) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= wall < self.end
        if wall >= self.start:
            return weekday in self.days
        return wall < self.end and (weekday - 1) % 7 in self.days

    @classmethod
    def parse(cls, start: str, end: str, days: Sequence[str] | None = None) -> Window:
        """From API input: ``"HH:MM"`` times and day names such as ``["mon", "tue"]`` (None means every day)."""
        return cls(_parse_time(start, "send_window.start"), _parse_time(end, "send_window.end"), _parse_days(days))


QUIET_HOURS = Window(time(8), time(21))  # marketing SMS may go 08:00-21:00 local


def _parse_time(text: str, field: str) -> time:
    match = _HHMM.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise errors.Invalid(f"{text!r} is not a time of day as HH:MM", code="invalid_window_time", field=field)
    return time(int(match[1]), int(match[2]))


def _parse_days(days: Sequence[str] | None) -> frozenset[int]:
    if days is None:
        return ALL_DAYS
    found: set[int] = set()
    for name in [] if isinstance(days, str) else days:
        key = name.strip().lower() if isinstance(name, str) else ""
        if key in DAY_NAMES:
            found.add(DAY_NAMES.index(key))
        elif key in _FULL_DAY_NAMES:
            found.add(_FULL_DAY_NAMES.index(key))
        else:
            raise errors.Invalid(f"{name!r} is not a day (use mon, tue, ... sun)", code="invalid_window_days",
                                 field="send_window.days")
    if not found:
        raise errors.Invalid("send window needs at least one weekday", code="invalid_window_days",
                             field="send_window.days")
    return frozenset(found)


def intersect_ok(a: Window, b: Window) -> bool:
    """Whether the windows (in the same local time) overlap on some weekday. Exact, not sampled: any overlap
    begins where one of the two opens, so testing both opening times on each weekday is enough."""
    return any(a._holds(day, w.start) and b._holds(day, w.start) for day in range(7) for w in (a, b))


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "America"
        return None


@lru_cache(maxsize=16384)
def zones_for(timezone: str | None, phone: str | None, fallback: str) -> tuple[ZoneInfo, ...]:
    """Candidate zones for a recipient: their own zone if known and valid; else every zone of their phone
    number (only valid numbers get any); else the workspace's ``fallback`` zone (UTC if that is invalid too)."""
    if timezone and (zone := _zone(timezone)):
        return (zone,)
    if phone:
        try:
            names: Sequence[str] = time_zones_for_number(phonenumbers.parse(phone))
        except phonenumbers.NumberParseException:
            names = ()
        zones = tuple(dict.fromkeys(z for name in names if name != _UNKNOWN_ZONE and (z := _zone(name))))
        if zones:
            return zones
    return (_zone(fallback) or ZoneInfo("UTC"),)


def _inside(at: datetime, zones: Sequence[ZoneInfo], windows: Sequence[Window]) -> bool:
    for zone in zones:
        local = at.astimezone(zone)
        if not all(w.contains(local) for w in windows):
            return False
    return True


def _offset(zone: ZoneInfo, timestamp: int) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


@lru_cache(maxsize=4096)
def _transitions_on(zone: ZoneInfo, day: date) -> tuple[datetime, ...]:
    """Instants during UTC ``day`` at which ``zone`` changes its offset (where local time jumps)."""
    base = int(datetime.combine(day, time(), tzinfo=UTC).timestamp())
    found = []
    for step in range(base, base + 86400, _SCAN_STEP):
        lo, hi = step, step + _SCAN_STEP
        before = _offset(zone, lo)
        if before == _offset(zone, hi):
            continue
        while hi - lo > 1:  # bisect to the second: the first instant with the new offset
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _offset(zone, mid) == before else (lo, mid)
        found.append(datetime.fromtimestamp(hi, UTC))
    return tuple(found)


def next_open(now: datetime, zones: Sequence[ZoneInfo], windows: Sequence[Window]) -> datetime | None:
    """None if ``now`` is inside every window in every zone (send now); else the earliest later UTC instant that
    is, within :data:`HORIZON`. Raises ValueError when there is none (windows that never agree).

    The allowed set is a union of intervals, and each one begins either where some window opens in some zone
    (both readings of an ambiguous local time) or where a zone's clock jumps (DST) into a window. So those
    instants are the only candidates; a start inside a spring-forward gap is covered by the jump instant."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not zones:
        raise ValueError("no time zones to check")
    now = now.astimezone(UTC)
    if _inside(now, zones, windows):
        return None
    limit = now + HORIZON
    candidates: set[datetime] = set()
    for zone in zones:
        for i in range((limit.date() - now.date()).days + 1):
            candidates.update(_transitions_on(zone, now.date() + timedelta(days=i)))
        first = now.astimezone(zone).date()
        for i in range((limit.astimezone(zone).date() - first).days + 1):
            for w in windows:
                for fold in (0, 1):
                    local = datetime.combine(first + timedelta(days=i), w.start.replace(fold=fold), tzinfo=zone)
                    candidates.add(local.astimezone(UTC))
    for at in sorted(c for c in candidates if now < c <= limit):
        if _inside(at, zones, windows):
            return at
    raise ValueError(f"the send windows never all hold within {HORIZON.days} days")


def describe(at: datetime, zones: Sequence[ZoneInfo]) -> str:
    """``"08:00 Asia/Kolkata"``: ``at`` in the first zone; with several zones, notes that the strictest applies."""
    if at.utcoffset() is None or not zones:
        raise ValueError("describe needs an aware datetime and at least one zone")
    text = f"{at.astimezone(zones[0]):%H:%M} {zones[0]}"
    return text if len(zones) == 1 else f"{text} (strictest of {len(zones)} zones)"
