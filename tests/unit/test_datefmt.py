"""Remembered date and time fields give babel's own text: patterns with literals, braces, quotes, zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import parse_pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.templates import datefmt

PATTERNS = ["d MMM yyyy HH:mm", "EEEE d 'de' MMMM 'à' h:mm a", "{y}-{MM}-{dd} %s %% {{", "hh 'o''clock' a, zzzz",
            "yy/M/d H:m:s", "QQQ y, w", "LLLL y", "K:mm a", "h B", "EEE, d MMM y HH:mm:ss Z"]
LOCALES = ["en", "fr_FR", "de_DE", "ja_JP", "ar_EG", "hi_IN", "ru_RU", "zh_Hant_TW"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PATTERNS), st.sampled_from(LOCALES),
       st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 1, 1)),
       st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"]))
def test_remembered_fields_are_babels(pattern: str, locale: str, when: datetime, zone: str) -> None:
    formatter = datefmt.formatter("datetime", pattern, locale)
    local = when.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    expected = parse_pattern(pattern).apply(local, Locale.parse(locale))
    # twice: the first call may fill the memo, the second reads it
    assert formatter.apply(local) == expected
    assert formatter.apply(local) == expected


@pytest.mark.parametrize("pattern", ["d MMMM y", "EEEE", "d MMM y, HH:mm"])
def test_a_day_of_values_through_one_formatter(pattern: str) -> None:
    formatter = datefmt.formatter("datetime", pattern, "fr_FR")
    start = datetime(2026, 3, 28, tzinfo=ZoneInfo("Europe/Paris"))  # across a DST change
    for minutes in range(0, 3 * 24 * 60, 17):
        when = (start + timedelta(minutes=minutes)).astimezone(ZoneInfo("Europe/Paris"))
        assert formatter.apply(when) == parse_pattern(pattern).apply(when, Locale.parse("fr_FR"))


def test_plain_dates_and_time_fields() -> None:
    assert datefmt.formatter("date", "long", "en").apply(date(2026, 2, 1)) == "February 1, 2026"
    # a pattern with hours applied to a plain date is babel's business (it fails the same way)
    with pytest.raises(AttributeError):
        parse_pattern("HH").apply(date(2026, 2, 1), Locale.parse("en"))
    with pytest.raises(AttributeError):
        datefmt.formatter("datetime", "HH", "en").apply(date(2026, 2, 1))
