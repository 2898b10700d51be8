"""Trigger time: durations as people write them, local times of day across DST changes, and the calendar
periods counters count in (in the contact's zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from herald.triggers import durations
from herald.triggers.conditions import period_start

LONDON, KOLKATA = ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(("text", "expected"), [
    ("P14D", timedelta(days=14)), ("PT2H30M", timedelta(hours=2, minutes=30)), ("P2W", timedelta(weeks=2)),
    ("p1dt12h", timedelta(days=1, hours=12)), ("14d", timedelta(days=14)), ("1d12h", timedelta(days=1, hours=12)),
    ("30m", timedelta(minutes=30)), ("45s", timedelta(seconds=45)), (" PT5M ", timedelta(minutes=5)),
])
def test_durations_are_read(text: str, expected: timedelta) -> None:
    assert durations.parse(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1M", "P1Y", "14x", "P0D", "0m", "-1d", "P2000D", "1.5h", "d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|three years"):
        durations.parse(text)


@pytest.mark.parametrize("text", ["25:00", "9:00", "10:60", "10", "ten", ""])
def test_bad_times_of_day_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time of day"):
        durations.clock(text)


def test_the_next_ten_oclock_is_local_and_strictly_later() -> None:
    ten = durations.clock("10:00")
    assert durations.next_time_of_day(datetime(2026, 11, 29, 9, 0, tzinfo=UTC), ten, LONDON) == (
        datetime(2026, 11, 29, 10, 0, tzinfo=UTC))
    assert durations.next_time_of_day(datetime(2026, 11, 29, 10, 0, tzinfo=UTC), ten, LONDON) == (
        datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
    assert durations.next_time_of_day(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), ten, LONDON) == (
        datetime(2026, 7, 1, 9, 0, tzinfo=UTC))  # 10:00 BST
    assert durations.next_time_of_day(datetime(2026, 7, 1, 5, 0, tzinfo=UTC), ten, KOLKATA) == (
        datetime(2026, 7, 2, 4, 30, tzinfo=UTC))


def test_dst_gaps_move_later_and_overlaps_take_the_first() -> None:
    half_one = durations.clock("01:30")
    # 29 March 2026: London jumps from 01:00 to 02:00; 01:30 never happens and becomes 02:30 BST (01:30 UTC).
    assert durations.at_local(datetime(2026, 3, 29).date(), half_one, LONDON) == datetime(2026, 3, 29, 1, 30,
                                                                                          tzinfo=UTC)
    # 25 October 2026: 01:30 happens twice; the first (BST, 00:30 UTC) counts.
    assert durations.at_local(datetime(2026, 10, 25).date(), half_one, LONDON) == datetime(2026, 10, 25, 0, 30,
                                                                                           tzinfo=UTC)


def test_calendar_periods_begin_at_local_midnight() -> None:
    at = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # Sunday; 01:30 Monday 30 Nov in Kolkata
    assert period_start("ever", at, KOLKATA) is None
    assert period_start("day", at, KOLKATA) == datetime(2026, 11, 29, 18, 30, tzinfo=UTC)
    assert period_start("week", at, KOLKATA) == datetime(2026, 11, 29, 18, 30, tzinfo=UTC)  # Monday there
    assert period_start("week", at, LONDON) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert period_start("month", at, LONDON) == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert period_start("year", at, LONDON) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert period_start("P30D", at, LONDON) == at - timedelta(days=30)
    assert period_start("month", datetime(2026, 7, 15, tzinfo=UTC), LONDON) == datetime(2026, 6, 30, 23, 0,
                                                                                        tzinfo=UTC)
