"""Recurring campaigns (seed 002: "execute the definition on the first day of the month; recur each month").

A campaign with a ``repeat`` rule is a *definition*: starting it schedules its first occurrence, and at each
occurrence a job makes a *run* -- a copy of the definition named after the day (``Unsettled bills ·
2026-12-01``), with ``parent_id`` pointing back -- and starts it, so each run plans the audience as it is
then, has its own progress, report and export, and can be paused or stopped on its own. Notification history
(``skip_notified_within_days``) spans runs: it is kept per template. The same job then waits for the next
occurrence. Stopping the definition ends the recurrence; runs already made go on.

Occurrences fall at ``at`` local time in the rule's zone (the workspace's by default): every day, every week
on a ``weekday``, or every month on a ``day`` (31 means the last day of shorter months). A worker that was
down at an occurrence makes that run when it is back, once, and the next one is counted from then: missed
occurrences are not made up in a burst. ``until`` ends the recurrence after its last occurrence."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald import errors, ids
from herald.campaigns.models import COMPLETED, DRAFT, SCHEDULED, Campaign

JOB_KIND = "campaign_repeat"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_COPIED = ("channel", "list_ids", "template_id", "message_column", "subject", "sender", "provider_id",
           "classification", "dnc_lists", "send_window", "quiet_hours", "throttle_per_second", "max_error_rate",
           "skip_notified_within_days")
"""What a run takes from its definition."""


def check(rule: dict[str, Any], default_zone: str) -> dict[str, Any]:
    """The rule as stored (its zone named), or 422 naming what is wrong with it."""
    every = rule["every"]
    if every == "week" and not rule.get("weekday"):
        raise errors.Invalid("A weekly repeat needs a weekday (mon..sun).", code="invalid_repeat",
                             field="repeat.weekday")
    if every == "month" and not rule.get("day"):
        raise errors.Invalid("A monthly repeat needs a day of the month (1-31; 31 is the last day).",
                             code="invalid_repeat", field="repeat.day")
    allowed = {"week": "weekday", "month": "day"}.get(every)
    extra = [k for k in ("weekday", "day") if rule.get(k) is not None and k != allowed]
    if extra:
        raise errors.Invalid(f"'{extra[0]}' does not go with every {every}.", code="invalid_repeat",
                             field=f"repeat.{extra[0]}")
    zone = rule.get("timezone") or default_zone
    _zone(zone)
    return {**rule, "timezone": zone}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise errors.Invalid(f"Unknown time zone {name!r}.", code="invalid_repeat", field="repeat.timezone") from exc


def _falls_on(rule: dict[str, Any], day: date) -> bool:
    every = rule["every"]
    if every == "day":
        return True
    if every == "week":
        return bool(WEEKDAYS[day.weekday()] == rule["weekday"])
    return day.day == min(int(rule["day"]), calendar.monthrange(day.year, day.month)[1])


def next_after(rule: dict[str, Any], after: datetime) -> datetime | None:
    """The first occurrence strictly after ``after`` (UTC), or None past ``until``."""
    zone = _zone(rule["timezone"])
    hour, minute = (int(p) for p in rule["at"].split(":"))
    day = after.astimezone(zone).date()
    for _ in range(370):
        if _falls_on(rule, day):
            found = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
            if found > after:
                until = rule.get("until")
                if until and found > datetime.fromisoformat(until):
                    return None
                return found
        day += timedelta(days=1)
    raise AssertionError("every rule has an occurrence within a year")


async def run(conn: AsyncConnection, job: Row[Any]) -> datetime | None:
    """The job of a definition: make this occurrence's run and start it; answer when to come back."""
    from herald.campaigns import service  # service starts definitions through this module

    async with AsyncSession(bind=conn, expire_on_commit=False) as session:
        definition = await session.get(Campaign, job.payload["campaign_id"])
        if definition is None or definition.state != SCHEDULED or not definition.repeat:
            return None  # stopped (or deleted) meanwhile: the recurrence ends
        now = datetime.now(UTC)
        occurrence = definition.next_run_at or now
        made = await _make_run(session, service, definition, occurrence, now)
        following = next_after(definition.repeat, max(now, occurrence))
        definition.next_run_at, definition.updated_at = following, now
        if made is not None:
            definition.last_run_id, definition.state_reason = made, None
        if following is None:
            definition.state, definition.finished_at = COMPLETED, now
        await session.flush()
        return following


async def _make_run(session: AsyncSession, service: Any, definition: Campaign, occurrence: datetime,
                    now: datetime) -> str | None:
    """Copy the definition into this occurrence's run and start it; answer its id. A run that cannot start (a
    list or template deleted since) is not made: the definition says why, and the next occurrence tries again."""
    assert definition.repeat is not None
    label = occurrence.astimezone(_zone(definition.repeat["timezone"])).date().isoformat()
    run_id = ids.new_id("cmp")
    name = f"{definition.name[:180]} · {label}"
    if await session.scalar(select(Campaign.id).where(Campaign.workspace_id == definition.workspace_id,
                                                      Campaign.name == name)):
        name += f" ({run_id[-6:]})"  # stopped and started again the same day
    try:
        async with session.begin_nested():
            made = Campaign(id=run_id, workspace_id=definition.workspace_id, name=name, state=DRAFT,
                            parent_id=definition.id, created_by=f"campaign:{definition.id}", created_at=now,
                            updated_at=now, checkpoint={}, total=0,
                            **{field: getattr(definition, field) for field in _COPIED})
            session.add(made)
            await session.flush()
            await service.start(session, made, f"campaign:{definition.id}")
            await session.flush()
    except errors.HeraldError as exc:
        definition.state_reason = f"The run of {label} could not start: {exc.detail}"
        return None
    return run_id
