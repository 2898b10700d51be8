"""What events do to journeys, in order: an event ends the contact's runs that exit on it, resumes the runs
waiting for it, then enters every active trigger on its type whose filter and counters it passes.

A :class:`Matcher` serves one request (one event or a batch): it takes the workspace's triggers (kept in
memory while unchanged, see :mod:`herald.triggers.config`), and an event whose type no trigger enters,
awaits or exits on costs no query at all. On PostgreSQL the contacts
concerned are locked up front, in id order, so one contact's events are acted on one at a time (two
concurrent first events cannot both pass "once at a time") and concurrent batches cannot deadlock. The lock
is ``NO KEY UPDATE``, the weakest that serialises them: an inbound message, whose row still references the
contact by foreign key, is stored meanwhile without waiting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select

from herald.contacts.models import Contact
from herald.triggers import conditions, config, contactlock, engine
from herald.triggers.engine import Context, Happened
from herald.triggers.models import CANCELLED, LIVE, WAITING, JourneyRun, Trigger

_LOAD = select(Contact).where(Contact.id.in_(bindparam("ids", expanding=True))).order_by(Contact.id)
"""SQLite. Built once (as :data:`herald.events.ingest._EARLIER`): no reference cycles left per request."""


class Matcher:
    def __init__(self, ctx: Context, triggers: Sequence[Trigger]) -> None:
        self.ctx = ctx
        self.triggers = {t.id: t for t in triggers}
        self.entries: dict[str, list[Trigger]] = {}
        self.awaited: set[str] = set()
        for t in sorted(triggers, key=lambda t: t.id):
            if t.active and t.event_type:
                self.entries.setdefault(t.event_type, []).append(t)
            self.awaited |= {e["event"] for e in t.exit_on}
            self.awaited |= {str(s["event"]) for s in _waits(t.steps)}
        self.contacts: dict[str, Contact] = {}
        self.suppressions = contactlock.Read()  # what :meth:`lock` read of the contacts' suppressions
        # Event types whose journeys may read stored events (a counter, a wait for an event that may be stored
        # already): their events must be in the table before they are acted on (see ingest's ``defer``).
        self.reading = set(self.awaited) | {kind for kind, entered in self.entries.items()
                                            if any(t.counters or _waits(t.steps) for t in entered)}

    @classmethod
    async def load(cls, ctx: Context) -> Matcher:
        return cls(ctx, (await config.current(ctx.session, ctx.workspace)).triggers)

    def concerns(self, event_type: str) -> bool:
        return event_type in self.entries or event_type in self.awaited

    def reads_events(self, event_types: set[str]) -> bool:
        """Whether acting on events of these types may read the events table."""
        return not self.reading.isdisjoint(event_types)

    async def lock(self, events: Sequence[Happened]) -> None:
        """Load (and on PostgreSQL lock, in id order, with the suppressions of their addresses) the contacts of
        the events that concern a trigger."""
        wanted = sorted({e.contact_id for e in events if e.contact_id and self.concerns(e.type)})
        if not wanted:
            return
        if self.ctx.session.get_bind().dialect.name == "postgresql":
            found, self.suppressions = await contactlock.lock(self.ctx.session, wanted)
        else:
            found = list((await self.ctx.session.scalars(_LOAD, {"ids": wanted})).all())
        self.contacts.update({c.id: c for c in found})

    async def on_event(self, event: Happened) -> tuple[list[str], list[str]]:
        """Answer the triggers the event matched and the runs it started, resumed or ended."""
        if event.contact_id is None or not self.concerns(event.type):
            return [], []
        contact = self.contacts.get(event.contact_id)
        if contact is None:
            return [], []
        touched = await self._live_runs(contact, event) if event.type in self.awaited else []
        matched: list[str] = []
        entries = self.entries.get(event.type, [])
        base = engine.scope(None, contact, event.payload) if entries else {}
        for trigger in entries:
            if not conditions.passes(trigger.filter, conditions.FILTER_ROOTS, base):
                continue
            if trigger.counters and not await conditions.counters_hold(
                    self.ctx.session, trigger.counters, contact_id=contact.id, at=event.occurred_at,
                    tz=self.ctx.zone_of(contact), scope=base):
                continue
            matched.append(trigger.id)
            run = await engine.enter(self.ctx, trigger, contact, event)
            touched.append(run.id)
        return matched, touched

    async def _live_runs(self, contact: Contact, event: Happened) -> list[str]:
        ctx = self.ctx
        query = select(JourneyRun).where(JourneyRun.contact_id == contact.id, JourneyRun.state.in_(LIVE))
        if ctx.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        touched: list[str] = []
        for run in (await ctx.session.scalars(query.order_by(JourneyRun.id))).all():
            trigger = self.triggers.get(run.trigger_id)
            if trigger is None or event.id == run.event_id:
                continue
            here = engine.scope(run, contact, event.payload)
            if event.occurred_at >= run.entered_at and any(
                    rule["event"] == event.type and conditions.passes(rule.get("match"), conditions.MATCH_ROOTS, here)
                    for rule in trigger.exit_on):
                await engine.finish(ctx, run, CANCELLED, f"exit on {event.type} event {event.id}")
                touched.append(run.id)
                continue
            wait = run.wait or {}
            if (run.state == WAITING and wait.get("event") == event.type
                    and datetime.fromisoformat(wait["since"]) < event.occurred_at
                    <= datetime.fromisoformat(wait["until"])
                    and conditions.passes(wait.get("match"), conditions.MATCH_ROOTS, here)):
                await engine.resume(ctx, trigger, run, contact, branch="on_event", clock=event.occurred_at,
                                    event=event)
                touched.append(run.id)
        return touched


def _waits(steps: list[dict[str, object]]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for step in steps:
        if step.get("type") == "wait" and step.get("event"):
            out.append(step)
        for branch in ("on_event", "on_timeout"):
            value = step.get(branch)
            if isinstance(value, list):
                out += _waits(value)
    return out
