"""Campaign send windows: local-time containment, parsing, zone resolution, and the next opening across DST
changes, half-hour offsets, the date line and several candidate zones at once."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald import errors
from herald.campaigns.window import QUIET_HOURS, Window, describe, intersect_ok, next_open, zones_for

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
PERTH = ZoneInfo("Australia/Perth")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")
AUCKLAND = ZoneInfo("Pacific/Auckland")
HONOLULU = ZoneInfo("Pacific/Honolulu")
WEEKDAYS = Window.parse("08:00", "21:00", ["mon", "tue", "wed", "thu", "fri"])


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def inside(at: datetime, zones: Sequence[ZoneInfo], windows: Sequence[Window]) -> bool:
    return all(w.contains(at.astimezone(z)) for z in zones for w in windows)


def test_contains_is_start_inclusive_end_exclusive() -> None:
    assert QUIET_HOURS.contains(local(LONDON, 2026, 6, 1, 8, 0))
    assert QUIET_HOURS.contains(local(LONDON, 2026, 6, 1, 20, 59, 59))
    assert not QUIET_HOURS.contains(local(LONDON, 2026, 6, 1, 7, 59))
    assert not QUIET_HOURS.contains(local(LONDON, 2026, 6, 1, 21, 0))


def test_overnight_window_belongs_to_its_start_day() -> None:
    friday_night = Window(time(22), time(6), frozenset({4}))
    assert friday_night.contains(local(LONDON, 2026, 6, 12, 22, 0))  # Friday
    assert friday_night.contains(local(LONDON, 2026, 6, 13, 5, 59))  # Saturday morning, started Friday
    assert not friday_night.contains(local(LONDON, 2026, 6, 13, 6, 0))
    assert not friday_night.contains(local(LONDON, 2026, 6, 13, 23, 0))  # Saturday night
    assert not friday_night.contains(local(LONDON, 2026, 6, 12, 3, 0))  # Friday morning started Thursday
    assert not friday_night.contains(local(LONDON, 2026, 6, 12, 12, 0))


def test_days_exclude_weekends() -> None:
    assert WEEKDAYS.contains(local(LONDON, 2026, 6, 12, 9, 0))  # Friday
    assert not WEEKDAYS.contains(local(LONDON, 2026, 6, 13, 9, 0))  # Saturday


def test_parse() -> None:
    assert Window.parse("08:00", "21:00") == QUIET_HOURS
    assert Window.parse(" 8:30", "23:05", ["Mon", "sunday"]) == Window(time(8, 30), time(23, 5), frozenset({0, 6}))


@pytest.mark.parametrize(
    ("start", "end", "days", "code", "field"),
    [
        ("8am", "21:00", None, "invalid_window_time", "send_window.start"),
        ("08:00", "24:00", None, "invalid_window_time", "send_window.end"),
        ("08:00", "21:60", None, "invalid_window_time", "send_window.end"),
        ("08:00", "08:00", None, "empty_window", "send_window"),
        ("08:00", "21:00", [], "invalid_window_days", "send_window.days"),
        ("08:00", "21:00", ["mon", "funday"], "invalid_window_days", "send_window.days"),
        ("08:00", "21:00", "mon", "invalid_window_days", "send_window.days"),
    ],
)
def test_parse_errors(start: str, end: str, days: list[str] | None, code: str, field: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        Window.parse(start, end, days)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_intersect_ok() -> None:
    assert intersect_ok(QUIET_HOURS, Window(time(20), time(23)))
    assert intersect_ok(QUIET_HOURS, Window(time(22), time(9)))  # overnight tail 08:00-09:00
    assert not intersect_ok(QUIET_HOURS, Window(time(22), time(6)))
    assert not intersect_ok(QUIET_HOURS, Window(time(21), time(8)))  # touching ends share no minute
    assert not intersect_ok(Window(time(8), time(21), frozenset({0})), Window(time(8), time(21), frozenset({1})))
    sunday_night = Window(time(22), time(9), frozenset({6}))
    assert intersect_ok(sunday_night, Window(time(8), time(12), frozenset({0})))  # Monday 08:00-09:00
    assert not intersect_ok(sunday_night, Window(time(8), time(12), frozenset({6})))


def test_zones_for() -> None:
    assert zones_for("Asia/Kolkata", "+447911123456", "UTC") == (KOLKATA,)
    australia = zones_for(None, "+61412345678", "UTC")
    assert len(australia) > 2
    assert {PERTH, SYDNEY} <= set(australia)
    assert zones_for("Not/AZone", "+442079460000", "UTC") == (LONDON,)  # bad zone falls through to the phone
    assert LONDON in zones_for(None, "+447911123456", "UTC")  # UK mobiles also span Jersey, Guernsey, Man
    # 07700 900xxx is Ofcom's drama range: phonenumbers calls it invalid, so it gets no zones
    assert zones_for(None, "+447700900123", "America/New_York") == (NEW_YORK,)
    for garbage in ("not a phone", "07911123456", "+80012345678", ""):
        assert zones_for(None, garbage, "Pacific/Honolulu") == (HONOLULU,)
    assert zones_for("America", None, "Europe/London") == (LONDON,)  # a directory, not a zone
    assert zones_for(None, None, "../etc/passwd") == (ZoneInfo("UTC"),)


def test_zones_for_is_cached() -> None:
    first = zones_for(None, "+61412345678", "UTC")
    assert zones_for(None, "+61412345678", "UTC") is first


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        (LONDON, utc(2026, 3, 29, 5, 0), utc(2026, 3, 29, 7, 0)),  # spring forward: 08:00 BST
        (LONDON, utc(2026, 10, 25, 6, 30), utc(2026, 10, 25, 8, 0)),  # fall back: 08:00 GMT
        (LONDON, utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 7, 0)),  # the evening before the change
        (NEW_YORK, utc(2026, 3, 8, 10, 0), utc(2026, 3, 8, 12, 0)),  # 06:00 EDT -> 08:00 EDT
        (NEW_YORK, utc(2026, 11, 1, 10, 0), utc(2026, 11, 1, 13, 0)),  # 05:00 EST -> 08:00 EST
        (KOLKATA, utc(2026, 1, 10, 0, 0), utc(2026, 1, 10, 2, 30)),  # 05:30 IST -> 08:00 IST
    ],
)
def test_next_open_across_dst(zone: ZoneInfo, now: datetime, expected: datetime) -> None:
    assert next_open(now, [zone], [QUIET_HOURS]) == expected


def test_next_open_is_none_inside_the_window() -> None:
    assert next_open(utc(2026, 3, 29, 7, 0), [LONDON], [QUIET_HOURS]) is None
    assert next_open(utc(2026, 3, 29, 19, 59), [LONDON], [QUIET_HOURS]) is None


def test_window_starting_in_spring_forward_gap_opens_when_the_clock_jumps() -> None:
    window = Window(time(2, 30), time(4))  # 02:00-03:00 does not exist in New York on 2026-03-08
    opened = next_open(utc(2026, 3, 8, 5, 0), [NEW_YORK], [window])
    assert opened == utc(2026, 3, 8, 7, 0)  # 03:00 EDT, the first real instant at or after 02:30
    assert opened.astimezone(NEW_YORK).time() == time(3)


def test_fall_back_reenters_windows() -> None:
    # 01:45 BST is outside 00:30-01:30; at 01:00 UTC the clock falls back to 01:00 GMT, which is inside
    assert next_open(utc(2026, 10, 25, 0, 45), [LONDON], [Window(time(0, 30), time(1, 30))]) == utc(2026, 10, 25, 1)
    # 01:30 happens twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST)
    window = Window(time(1, 30), time(1, 45))
    assert next_open(utc(2026, 11, 1, 5, 50), [NEW_YORK], [window]) == utc(2026, 11, 1, 6, 30)


def test_strictest_of_several_zones() -> None:
    # June: Perth UTC+8, Sydney UTC+10; both 08:00-21:00 means 00:00-11:00 UTC
    opened = next_open(utc(2026, 6, 10, 12, 0), [PERTH, SYDNEY], [QUIET_HOURS])
    assert opened == utc(2026, 6, 11, 0, 0)
    assert describe(opened, [PERTH, SYDNEY]) == "08:00 Australia/Perth (strictest of 2 zones)"
    # January: Sydney is on daylight time (UTC+11), so the shared window closes at 10:00 UTC
    assert next_open(utc(2026, 1, 15, 9, 59), [PERTH, SYDNEY], [QUIET_HOURS]) is None
    assert next_open(utc(2026, 1, 15, 10, 0), [PERTH, SYDNEY], [QUIET_HOURS]) == utc(2026, 1, 16, 0, 0)


def test_across_the_date_line() -> None:
    # Auckland (UTC+13 in January) 08:00-21:00 is 19:00-08:00 UTC; Honolulu (UTC-10) is 18:00-07:00 UTC
    opened = next_open(utc(2026, 1, 15, 12, 0), [AUCKLAND, HONOLULU], [QUIET_HOURS])
    assert opened == utc(2026, 1, 15, 19, 0)
    assert opened.astimezone(AUCKLAND).date() != opened.astimezone(HONOLULU).date()


def test_weekend_waits_for_monday() -> None:
    friday_night = local(LONDON, 2026, 6, 12, 21, 30)
    opened = next_open(friday_night, [LONDON], [WEEKDAYS, QUIET_HOURS])
    assert opened == local(LONDON, 2026, 6, 15, 8, 0)
    assert opened.tzinfo is UTC


def test_describe() -> None:
    assert describe(utc(2026, 1, 10, 2, 30), [KOLKATA]) == "08:00 Asia/Kolkata"


def test_bad_input() -> None:
    never = [Window(time(8), time(9), frozenset({0})), Window(time(8), time(9), frozenset({1}))]
    with pytest.raises(ValueError, match="never"):
        next_open(utc(2026, 1, 1), [LONDON], never)
    with pytest.raises(ValueError, match="aware"):
        next_open(datetime(2026, 1, 1), [LONDON], [QUIET_HOURS])
    with pytest.raises(ValueError, match="zones"):
        next_open(utc(2026, 1, 1), [], [QUIET_HOURS])


ZONES = [LONDON, NEW_YORK, PERTH, SYDNEY, KOLKATA, AUCKLAND, HONOLULU, ZoneInfo("Australia/Lord_Howe"),
         ZoneInfo("Pacific/Chatham"), ZoneInfo("America/Santiago"), ZoneInfo("Asia/Kathmandu")]
WINDOWS = [QUIET_HOURS, WEEKDAYS, Window(time(22), time(6)), Window(time(2, 30), time(3, 15)),
           Window(time(0, 30), time(1, 30)), Window(time(1), time(2, 15), frozenset({6})),
           Window(time(23, 30), time(0, 45), frozenset({5, 6}))]
STEP = timedelta(minutes=15)
HOURS = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(365 * 24)]
CLOCK_CHANGES = {  # to the hour; uniformly random instants rarely land near one
    z: [t for t, u in itertools.pairwise(HOURS) if t.astimezone(z).utcoffset() != u.astimezone(z).utcoffset()]
    for z in ZONES
}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[datetime, list[ZoneInfo], list[Window]]:
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True))
    windows = draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=2))
    changes = CLOCK_CHANGES[zones[0]]
    near_change: bool = draw(st.booleans())
    if changes and near_change:  # shortly before (or just after) one of the first zone's clock changes
        return draw(st.sampled_from(changes)) + timedelta(minutes=draw(st.integers(-12 * 60, 60))), zones, windows
    any_time = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59),
                            timezones=st.just(UTC))
    return draw(any_time), zones, windows


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_next_open_is_the_first_instant_inside_everything(
    scenario: tuple[datetime, list[ZoneInfo], list[Window]],
) -> None:
    now, zones, windows = scenario
    try:
        opened = next_open(now, zones, windows)
    except ValueError:
        assert not any(inside(now + k * STEP, zones, windows) for k in range(8 * 96 + 1))
        return
    if opened is None:
        assert inside(now, zones, windows)
        return
    assert opened > now
    assert inside(opened, zones, windows)
    probe = now
    while probe < opened:
        assert not inside(probe, zones, windows), probe
        probe += STEP
