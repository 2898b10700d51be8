"""When a recurring campaign's runs fall: local time in the rule's zone, the last day for a monthly day the
month lacks, strictly after the moment given, never past ``until``; and what a rule may not say."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from herald import errors
from herald.campaigns.repeat import check, next_after


def rule(**given: Any) -> dict[str, Any]:
    return check({"at": "09:00", "until": None, **given}, "UTC")


@pytest.mark.parametrize(("given", "after", "expected"), [
    # the first of each month at 09:00 in Nicosia (UTC+2 in winter, +3 in summer)
    ({"every": "month", "day": 1, "timezone": "Europe/Nicosia"}, datetime(2026, 12, 3, tzinfo=UTC),
     datetime(2027, 1, 1, 7, tzinfo=UTC)),
    ({"every": "month", "day": 1, "timezone": "Europe/Nicosia"}, datetime(2027, 6, 1, 6, tzinfo=UTC),
     datetime(2027, 7, 1, 6, tzinfo=UTC)),  # strictly after: the occurrence itself is not the next one
    ({"every": "month", "day": 31}, datetime(2027, 2, 10, tzinfo=UTC), datetime(2027, 2, 28, 9, tzinfo=UTC)),
    ({"every": "month", "day": 31}, datetime(2028, 2, 10, tzinfo=UTC), datetime(2028, 2, 29, 9, tzinfo=UTC)),
    ({"every": "week", "weekday": "mon", "at": "08:30"}, datetime(2026, 12, 3, tzinfo=UTC),
     datetime(2026, 12, 7, 8, 30, tzinfo=UTC)),
    # daily at 09:00 London: 09:00 UTC before the clocks go forward, 08:00 UTC after
    ({"every": "day", "timezone": "Europe/London"}, datetime(2027, 3, 27, 10, tzinfo=UTC),
     datetime(2027, 3, 28, 8, tzinfo=UTC)),
    ({"every": "day", "until": "2026-12-05T00:00:00+00:00"}, datetime(2026, 12, 4, 10, tzinfo=UTC), None),
])
def test_the_next_occurrence(given: dict[str, Any], after: datetime, expected: datetime | None) -> None:
    assert next_after(rule(**given), after) == expected


@pytest.mark.parametrize(("given", "field"), [
    ({"every": "week"}, "repeat.weekday"),
    ({"every": "month"}, "repeat.day"),
    ({"every": "day", "weekday": "mon"}, "repeat.weekday"),
    ({"every": "week", "weekday": "mon", "day": 3}, "repeat.day"),
    ({"every": "day", "timezone": "Mars/Olympus"}, "repeat.timezone"),
])
def test_a_rule_that_cannot_work_is_refused_on_its_field(given: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        rule(**given)
    assert (info.value.code, info.value.field) == ("invalid_repeat", field)
