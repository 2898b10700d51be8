"""Date-based triggers (seed 003: birthdays, bonus expiry, policy renewal): each contact's date attribute,
shifted by ``offset_days``, at a local time of day ("3 days before, at 10:00 in the contact's zone").

A periodic job looks every minute for contacts whose occurrence has come: their local date is the shifted
date and their local time has passed ``at``. Each occurrence becomes one journey run, unique per (trigger,
contact, date) in the database, so two workers, a retry or a restart can never send it twice. A worker that
was down at 10:00 still sends later the same local day; a day missed entirely is not caught up (a birthday
greeting a day late is worse than none).

Candidates are narrowed in SQL by the date's text (``MM-DD`` for yearly dates), then checked in Python per
contact zone, together with the schedule's ``condition`` on the contact (at least N bonus points)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald import ids
from herald.auth.models import Workspace
from herald.contacts import service as contacts
from herald.contacts.models import Contact
from herald.messages import pending
from herald.triggers import conditions, durations, engine
from herald.triggers.models import JourneyRun, NewRun, Trigger
from herald.triggers.sending import SendContext

log = structlog.get_logger(__name__)
JOB_KIND = "journey.schedules"
EVERY = timedelta(minutes=1)
MAX_RUNS = 500
"""Occurrences started per pass; more wait for the next pass, which comes at once (short transactions)."""


def _parse(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def falls_on(value: date, offset_days: int, yearly: bool, day: date) -> bool:
    """Whether ``value`` shifted by ``offset_days`` is ``day`` (any year, when yearly). 29 February counts as
    the 28th in a common year."""
    source = day - timedelta(days=offset_days)
    if not yearly:
        return value == source
    last = calendar.monthrange(source.year, value.month)[1]
    return (value.month, min(value.day, last)) == (source.month, source.day)


def _keys(today: date, offset_days: int, yearly: bool) -> set[str]:
    """Date texts a due contact's attribute may hold, for local dates around ``today`` (zones span ±14 h)."""
    keys: set[str] = set()
    for delta in (-1, 0, 1):
        source = today + timedelta(days=delta) - timedelta(days=offset_days)
        keys.add(source.strftime("%m-%d") if yearly else source.isoformat())
        if yearly and source.month == 2 and source.day == 28 and not calendar.isleap(source.year):
            keys.add("02-29")
    return keys


async def run(conn: AsyncConnection, job: Row[Any], *, send: SendContext) -> datetime | None:
    """The periodic pass over every active date-based trigger."""
    now = datetime.now(UTC)
    session = AsyncSession(bind=conn, expire_on_commit=False)
    started = 0
    # A trigger has an event type or a schedule, exactly one; an event trigger's schedule is stored as JSON
    # null, which ``IS NOT NULL`` would take.
    for trigger in (await session.scalars(select(Trigger).where(Trigger.event_type.is_(None),
                                                                Trigger.active.is_(True)))).all():
        if not trigger.schedule:
            continue
        workspace = await session.get(Workspace, trigger.workspace_id)
        if workspace is not None:
            started += await occurrences(session, workspace, trigger, send, now, limit=MAX_RUNS - started)
        if started >= MAX_RUNS:
            break
    await pending.flush(session)  # the caller commits the connection, not this session
    return now if started >= MAX_RUNS else now + EVERY


async def occurrences(session: AsyncSession, workspace: Workspace, trigger: Trigger, send: SendContext,
                      now: datetime, *, limit: int = MAX_RUNS) -> int:
    """Start the runs whose occurrence has come; answer how many."""
    schedule = trigger.schedule or {}
    attribute, offset = schedule["attribute"], int(schedule.get("offset_days", 0))
    yearly = schedule.get("yearly")
    yearly = attribute == "birthday" if yearly is None else bool(yearly)
    at = durations.clock(schedule.get("at") or "10:00")
    column = cast(Contact.birthday, String) if attribute == "birthday" else Contact.attributes[attribute].as_string()
    text = func.substr(column, 6, 5) if yearly else func.substr(column, 1, 10)
    keys = _keys(now.date(), offset, yearly)
    rows = (await session.scalars(select(Contact).where(
        Contact.workspace_id == workspace.id, Contact.erased_at.is_(None), text.in_(keys)))).all()
    due: dict[str, tuple[Contact, date]] = {}
    for contact in rows:
        zone = durations.zone(contact.timezone, workspace.timezone)
        local = now.astimezone(zone)
        value = _parse(contact.birthday if attribute == "birthday" else (contact.attributes or {}).get(attribute))
        if value is None or local.time() < at:
            continue
        if not falls_on(value, offset, yearly, local.date()):
            continue
        if not conditions.passes(schedule.get("condition"), conditions.CONTACT_ROOTS,
                                 {"contact": contacts.variables(contact)}):
            continue
        due[contact.id] = (contact, local.date())
    if not due:
        return 0
    taken = set((await session.scalars(select(JourneyRun.contact_id).where(
        JourneyRun.trigger_id == trigger.id, JourneyRun.contact_id.in_(due),
        JourneyRun.occurrence.in_({d.isoformat() for _, d in due.values()})))).all())
    ctx = engine.Context(session, workspace, send, now)
    started = 0
    for contact_id, (contact, day) in due.items():
        if contact_id in taken or started >= limit:
            continue
        run = NewRun(id=ids.new_id("run"), workspace_id=workspace.id, trigger_id=trigger.id, contact_id=contact_id,
                     event_id=None, occurrence=day.isoformat(), entry={"date": day.isoformat(), "attribute": attribute},
                     entered_at=now, clock_at=now, started_at=now, updated_at=now)
        await engine.advance(ctx, trigger, run, contact)
        engine.keep(session, run)
        started += 1
    if started:
        log.info("schedules.started", trigger_id=trigger.id, runs=started)
    return started
