"""Moving journey runs: entering a trigger, walking its steps, waiting, resuming on an event or a timer, and
ending. Everything here runs inside the caller's transaction (the event's request, or a timer batch), so a
run's move, its messages and its next timer commit together: a crash loses none and doubles none.

Time is the run's own clock (``clock_at``): the entry event's ``occurred_at``, then the end of each wait or
the time of the event that ended it. A wait counts from that clock, so a late event is judged by when it
happened; a wait whose end is already past when reached ends at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.models import Workspace
from herald.contacts import service as contacts
from herald.contacts.models import Contact
from herald.events.models import Event
from herald.messages import pending
from herald.queue import jobs
from herald.queue.models import JOBS
from herald.triggers import conditions, durations, sending
from herald.triggers.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    LIVE,
    RUNNING,
    RUNS,
    SKIPPED,
    TIMER_JOB,
    WAITING,
    JourneyRun,
    NewRun,
    Run,
    Trigger,
)

log = structlog.get_logger(__name__)
MAX_MOVES = 200
"""Steps one run may take without waiting: a restart loop is a trigger bug, not a reason to spin."""


@dataclass(frozen=True, slots=True)
class Happened:
    """An event as the engine sees it."""

    id: str
    type: str
    contact_id: str | None
    payload: dict[str, Any]
    occurred_at: datetime


@dataclass(slots=True)
class Context:
    session: AsyncSession
    workspace: Workspace
    send: sending.SendContext
    now: datetime

    def zone_of(self, contact: Contact | None) -> Any:
        return durations.zone(contact.timezone if contact else None, self.workspace.timezone)


def scope(run: Run | None, contact: Contact | None, payload: dict[str, Any] | None) -> dict[str, Any]:
    return {"event": payload or {}, "entry": run.entry if run else {},
            "contact": contacts.variables(contact) if contact is not None else {}}


class StepsChanged(Exception):
    """The trigger's steps were edited and this run's place in them no longer exists."""


def locate(steps: list[dict[str, Any]], path: list[Any]) -> dict[str, Any] | None:
    """The step at ``path`` (``[2, "on_timeout", 0]``), or None past the end of its list."""
    current: list[dict[str, Any]] = steps
    try:
        for depth in range(0, len(path) - 1, 2):
            current = current[path[depth]].get(path[depth + 1], [])
        index = path[-1]
    except (IndexError, KeyError, TypeError, AttributeError):
        raise StepsChanged(f"the trigger's steps changed and step {path} is gone") from None
    return current[index] if index < len(current) else None


def after(path: list[Any]) -> list[Any]:
    return [*path[:-1], path[-1] + 1]


async def enter(ctx: Context, trigger: Trigger, contact: Contact, event: Happened) -> NewRun:
    """Start a run for this event, as the trigger's re-entry policy allows; a refused entry is kept as a
    ``skipped`` run that says why."""
    run = NewRun(id=ids.new_id("run"), workspace_id=ctx.workspace.id, trigger_id=trigger.id, contact_id=contact.id,
                 event_id=event.id, entry=event.payload, entered_at=event.occurred_at, clock_at=event.occurred_at,
                 started_at=ctx.now, updated_at=ctx.now)
    refusal = await _reentry(ctx, trigger, contact, event)
    if refusal is not None:
        run.state, run.reason, run.finished_at = SKIPPED, refusal, ctx.now
    else:
        await advance(ctx, trigger, run, contact)
    keep(ctx.session, run)
    return run


def keep(session: AsyncSession, run: NewRun) -> None:
    """Store a new run as it stands after its first moves, as a plain row with its messages
    (:mod:`herald.messages.pending`): most runs of an alert end in the transaction that started them, and an
    ORM insert cost a statement of its own and its unit-of-work bookkeeping in every group commit. The run is
    no ORM object; nothing reads it back before the next flush (:func:`pending.flush`)."""
    pending.add(session, RUNS, {name: getattr(run, name) for name in _RUN_COLUMNS})


_RUN_COLUMNS = tuple(column.name for column in RUNS.columns)


async def _reentry(ctx: Context, trigger: Trigger, contact: Contact, event: Happened) -> str | None:
    policy = trigger.reentry
    if policy == "every_time":
        return None
    query = select(JourneyRun).where(JourneyRun.trigger_id == trigger.id, JourneyRun.contact_id == contact.id,
                                     JourneyRun.state != SKIPPED)
    if policy == "once":
        earlier = await ctx.session.scalar(query.with_only_columns(JourneyRun.id).limit(1))
        return f"re-entry 'once': this contact already went through the trigger (run {earlier})" if earlier else None
    live = list((await ctx.session.scalars(_locked(ctx, query.where(JourneyRun.state.in_(LIVE))))).all())
    if policy == "once_at_a_time":
        return (f"re-entry 'once_at_a_time': run {live[0].id} is still {live[0].state}" if live else None)
    for old in live:  # restart
        await finish(ctx, old, CANCELLED, f"restarted by {event.type} event {event.id}")
    return None


def _locked(ctx: Context, query: Any) -> Any:
    return query.with_for_update() if ctx.session.get_bind().dialect.name == "postgresql" else query


async def finish(ctx: Context, run: Run, state: str, reason: str | None) -> None:
    if run.state == WAITING:
        await _drop_timer(ctx, run)
    run.state, run.reason, run.wait = state, reason, None
    run.version += 1
    run.finished_at = run.updated_at = ctx.now


async def _drop_timer(ctx: Context, run: Run) -> None:
    await ctx.session.execute(delete(JOBS).where(JOBS.c.unique_key == timer_key(run.id, run.version),
                                                 JOBS.c.state.in_(("queued", "retrying"))))


def timer_key(run_id: str, version: int) -> str:
    return f"timer:{run_id}:{version}"


async def advance(ctx: Context, trigger: Trigger, run: Run, contact: Contact | None,
                  event: Happened | None = None) -> None:
    """Walk from the current step until the run waits or ends."""
    for _ in range(MAX_MOVES):
        try:
            step = locate(trigger.steps, run.position)
        except StepsChanged as exc:
            await finish(ctx, run, FAILED, str(exc))
            return
        if step is None:
            if len(run.position) == 1:
                await finish(ctx, run, COMPLETED, None)
                return
            run.position = after(run.position[:-2])  # a branch ended: go on after its wait
            continue
        kind = step["type"]
        if kind == "exit":
            await finish(ctx, run, COMPLETED, "an exit step ended the run")
            return
        if kind == "restart":
            if event is not None:
                run.event_id, run.entry = event.id, event.payload
            run.position = [0]
            continue
        if kind == "send":
            if contact is None or contact.erased_at is not None:
                await finish(ctx, run, CANCELLED, "the contact was erased or deleted")
                return
            try:
                message_id = await sending.send(ctx.session, ctx.workspace, trigger, run, step, ctx.send, ctx.now)
            except errors.HeraldError as exc:
                await finish(ctx, run, FAILED, f"step {run.position}: {exc.detail}")
                return
            run.messages = [*run.messages, message_id]
            run.position = after(run.position)
            continue
        go_on, found = await _wait(ctx, run, contact, step)
        if not go_on:
            return
        event = found or event
    await finish(ctx, run, FAILED, f"more than {MAX_MOVES} steps without a wait (a restart loop?)")


async def _wait(ctx: Context, run: Run, contact: Contact | None,
                step: dict[str, Any]) -> tuple[bool, Happened | None]:
    """Set the run waiting (answer False), or, when the wait is already over, move past it (answer True, and
    the stored event that ended it, if one did)."""
    clock = run.clock_at
    if step.get("duration"):
        until = clock + durations.parse(step["duration"])
    elif step.get("until"):
        until = durations.next_time_of_day(clock, durations.clock(step["until"]), ctx.zone_of(contact))
    else:
        until = clock + durations.parse(step["timeout"])
        # The awaited event may be stored already: sent late, or out of order with the entry event.
        found = await _stored_match(ctx, run, contact, step, since=clock, until=min(until, ctx.now))
        if found is not None:
            run.clock_at = found.occurred_at
            run.position = [*run.position, "on_event", 0]
            return True, found
    if until <= ctx.now:
        run.clock_at = until
        run.position = [*run.position, "on_timeout", 0] if step.get("event") else after(run.position)
        return True, None
    run.state, run.version, run.updated_at = WAITING, run.version + 1, ctx.now
    run.wait = {"until": until.isoformat(), "since": clock.isoformat(), "event": step.get("event"),
                "match": step.get("match")}
    await jobs.enqueue(await ctx.session.connection(), TIMER_JOB, {"run_id": run.id, "version": run.version},
                       due_at=until, unique_key=timer_key(run.id, run.version), workspace_id=run.workspace_id)
    return False, None


async def _stored_match(ctx: Context, run: Run, contact: Contact | None, step: dict[str, Any], *,
                        since: datetime, until: datetime) -> Happened | None:
    if run.contact_id is None or until <= since:
        return None
    rows = (await ctx.session.scalars(select(Event).where(
        Event.contact_id == run.contact_id, Event.type == step["event"], Event.occurred_at > since,
        Event.occurred_at <= until, Event.id != run.event_id).order_by(Event.occurred_at, Event.id).limit(1000))).all()
    for row in rows:
        if conditions.passes(step.get("match"), conditions.MATCH_ROOTS, scope(run, contact, row.payload)):
            return Happened(row.id, row.type, row.contact_id, row.payload, row.occurred_at)
    return None


async def resume(ctx: Context, trigger: Trigger, run: JourneyRun, contact: Contact | None, *, branch: str,
                 clock: datetime, event: Happened | None = None) -> None:
    """A waiting run goes on: its awaited event came (``on_event``) or its wait ended (``on_timeout``, or the
    next step after a plain wait)."""
    await _drop_timer(ctx, run)
    run.state, run.wait, run.clock_at, run.updated_at = RUNNING, None, clock, ctx.now
    run.version += 1
    run.position = [*run.position, branch, 0] if branch else after(run.position)
    await advance(ctx, trigger, run, contact, event)


async def fire(ctx: Context, run_id: str, version: int) -> bool:
    """A timer came due. It acts only when the run still waits on this very timer (same version): a timer
    that lost a race with an event, an exit or an edit does nothing."""
    run = await ctx.session.scalar(_locked(ctx, select(JourneyRun).where(JourneyRun.id == run_id)))
    if run is None or run.state != WAITING or run.version != version or run.wait is None:
        return False
    trigger = await ctx.session.get(Trigger, run.trigger_id)
    contact = await ctx.session.get(Contact, run.contact_id) if run.contact_id else None
    if trigger is None:
        return False
    until = datetime.fromisoformat(run.wait["until"])
    await resume(ctx, trigger, run, contact, branch="on_timeout" if run.wait.get("event") else "", clock=until)
    return True
