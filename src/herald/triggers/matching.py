"""What one event does to journeys, in order: it ends the contact's runs that exit on it, resumes the runs
waiting for it, then enters every active trigger on its type whose filter and counters it passes."""

from __future__ import annotations

from sqlalchemy import select

from herald.contacts.models import Contact
from herald.triggers import conditions, engine
from herald.triggers.engine import Context, Happened
from herald.triggers.models import CANCELLED, LIVE, WAITING, JourneyRun, Trigger


async def on_event(ctx: Context, event: Happened) -> tuple[list[str], list[str]]:
    """Answer the triggers the event matched and the runs it started, resumed or ended."""
    if event.contact_id is None:
        return [], []
    session = ctx.session
    query = select(Contact).where(Contact.id == event.contact_id)
    if session.get_bind().dialect.name == "postgresql":
        # One contact's events are acted on one at a time, in order: two concurrent first events must not both
        # pass a "once at a time" check. NO KEY UPDATE still lets timers insert rows that reference the contact.
        query = query.with_for_update(key_share=True)
    contact = await session.scalar(query)
    if contact is None:
        return [], []
    touched = await _live_runs(ctx, contact, event)
    matched: list[str] = []
    triggers = (await session.scalars(select(Trigger).where(
        Trigger.workspace_id == ctx.workspace.id, Trigger.event_type == event.type, Trigger.active.is_(True))
        .order_by(Trigger.id))).all()
    if not triggers:
        return matched, touched
    base = engine.scope(None, contact, event.payload)
    tz = ctx.zone_of(contact)
    for trigger in triggers:
        if not conditions.passes(trigger.filter, conditions.FILTER_ROOTS, base):
            continue
        if trigger.counters and not await conditions.counters_hold(
                session, trigger.counters, contact_id=contact.id, at=event.occurred_at, tz=tz, scope=base):
            continue
        matched.append(trigger.id)
        run = await engine.enter(ctx, trigger, contact, event)
        touched.append(run.id)
    return matched, touched


async def _live_runs(ctx: Context, contact: Contact, event: Happened) -> list[str]:
    query = select(JourneyRun).where(JourneyRun.contact_id == contact.id, JourneyRun.state.in_(LIVE))
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    runs = (await ctx.session.scalars(query.order_by(JourneyRun.id))).all()
    if not runs:
        return []
    triggers = {t.id: t for t in (await ctx.session.scalars(
        select(Trigger).where(Trigger.id.in_({r.trigger_id for r in runs})))).all()}
    touched: list[str] = []
    for run in runs:
        trigger = triggers.get(run.trigger_id)
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
                and wait["since"] < event.occurred_at.isoformat() <= wait["until"]
                and conditions.passes(wait.get("match"), conditions.MATCH_ROOTS, here)):
            await engine.resume(ctx, trigger, run, contact, branch="on_event", clock=event.occurred_at, event=event)
            touched.append(run.id)
    return touched
