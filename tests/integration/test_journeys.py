"""Journeys with a controllable clock: events go through the real ingestion path and timers through the real
timer runner, each told what time it is, against real SQLite and PostgreSQL.

Loymax's example (seed 003): registration, then no purchase for two weeks gives a reminder, two more weeks a
second one; a purchase cancels and re-arms the reminders from its own date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from herald.auth.models import Workspace
from herald.bootstrap import DEFAULT_WORKSPACE
from herald.db.session import unit_of_work
from herald.events import ingest
from herald.events.schemas import EventContact, EventIn, EventOut
from herald.messages.models import Message
from herald.triggers.models import JourneyRun
from herald.triggers.sending import SendContext
from herald.triggers.timers import TimerRunner
from tests.conftest import Running
from tests.integration.trigger_setup import event_type, file_provider, template, trigger

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    """Drives one Herald app's events and timers at chosen instants."""

    def __init__(self, h: Running) -> None:
        self.state = h.app.state.herald

    async def emit(self, type_: str, who: str, at: datetime, payload: dict[str, Any] | None = None, *,
                   occurred: datetime | None = None, key: str | None = None) -> EventOut:
        async with unit_of_work(self.state.sessions) as session:
            workspace = await session.get(Workspace, DEFAULT_WORKSPACE)
            assert workspace is not None
            item = EventIn(type=type_, contact=EventContact(external_id=who, phone=_phone(who)),
                           payload=payload or {}, occurred_at=occurred or at, idempotency_key=key)
            return EventOut.model_validate((await ingest.ingest(
                session, workspace, [item], ctx=SendContext(self.state.renderer), batch=False, now=at))[0])

    async def tick(self, at: datetime) -> int:
        runner = TimerRunner(self.state.engine, self.state.sessions, SendContext(self.state.renderer))
        total = 0
        while fired := await runner.run_once(now=at):
            total += fired
        return total

    async def sent(self, trigger_id: str) -> list[tuple[str, str]]:
        """(phone, template name) of every message the trigger planned, oldest first."""
        async with unit_of_work(self.state.sessions) as session:
            rows = (await session.execute(select(Message.to_address, Message.template_id).where(
                Message.source_id == trigger_id).order_by(Message.created_at, Message.id))).all()
        return [(r[0], r[1]) for r in rows]

    async def runs(self, trigger_id: str) -> list[JourneyRun]:
        async with unit_of_work(self.state.sessions) as session:
            return list((await session.scalars(select(JourneyRun).where(JourneyRun.trigger_id == trigger_id)
                                               .order_by(JourneyRun.id))).all())


def _phone(who: str) -> str:
    return f"+1415555{int(who.removeprefix('c')):04d}"


def reminders(first: str, second: str) -> list[dict[str, Any]]:
    def wait(then: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "wait", "event": "purchase", "timeout": "P14D", "on_event": [{"type": "restart"}],
                "on_timeout": then}

    return [wait([{"type": "send", "channel": "sms", "template": first, "classification": "service"},
                  wait([{"type": "send", "channel": "sms", "template": second, "classification": "service"}])])]


@pytest.fixture
async def loymax(herald: Running) -> tuple[Clock, str, dict[str, str]]:
    client = await herald.authed()
    await file_provider(client)
    await event_type(client, "registered")
    await event_type(client, "purchase", sample={"order_id": "o-1", "total": 10})
    one = await template(client, "reminder-1", "We miss you, {{ contact.first_name }}")
    two = await template(client, "reminder-2", "Still there? Here is 10% off")
    made = await trigger(client, "No purchase", "registered", reminders("reminder-1", "reminder-2"),
                         reentry="once")
    return Clock(herald), made["id"], {one["id"]: "reminder-1", two["id"]: "reminder-2"}


async def test_no_purchase_gives_a_reminder_after_two_weeks_and_another_after_four(loymax: Any) -> None:
    clock, trg, names = loymax
    out = await clock.emit("registered", "c1", T0)
    assert out.triggers == [trg]
    assert len(out.runs) == 1
    assert await clock.tick(T0 + 14 * DAY - timedelta(seconds=1)) == 0
    assert await clock.sent(trg) == []
    assert await clock.tick(T0 + 14 * DAY) == 1
    assert [names[t] for _, t in await clock.sent(trg)] == ["reminder-1"]
    assert await clock.tick(T0 + 27 * DAY) == 0
    await clock.tick(T0 + 28 * DAY)
    assert [names[t] for _, t in await clock.sent(trg)] == ["reminder-1", "reminder-2"]
    [run] = await clock.runs(trg)
    assert run.state == "completed"
    assert len(run.messages) == 2
    assert await clock.tick(T0 + 60 * DAY) == 0  # nothing left to fire, nothing fires twice


async def test_a_purchase_cancels_the_reminder_and_re_arms_from_its_date(loymax: Any) -> None:
    clock, trg, names = loymax
    await clock.emit("registered", "c2", T0)
    out = await clock.emit("purchase", "c2", T0 + 5 * DAY, {"order_id": "o-9", "total": 30})
    assert out.runs, "the purchase resumed the waiting run"
    await clock.tick(T0 + 14 * DAY)
    assert await clock.sent(trg) == [], "no reminder two weeks after registration: there was a purchase"
    [run] = await clock.runs(trg)
    assert run.state == "waiting"
    assert run.wait is not None
    assert datetime.fromisoformat(run.wait["until"]) == T0 + 19 * DAY
    await clock.tick(T0 + 19 * DAY)
    assert [names[t] for _, t in await clock.sent(trg)] == ["reminder-1"]
    await clock.tick(T0 + 33 * DAY)
    assert [names[t] for _, t in await clock.sent(trg)] == ["reminder-1", "reminder-2"]


async def test_a_late_event_is_judged_by_when_it_happened(loymax: Any) -> None:
    clock, trg, _ = loymax
    await clock.emit("registered", "c3", T0)
    # The purchase happened on day 5 but reached Herald on day 13, before the timer: it still counts from day 5.
    await clock.emit("purchase", "c3", T0 + 13 * DAY, {"order_id": "o-3"}, occurred=T0 + 5 * DAY)
    [run] = await clock.runs(trg)
    assert datetime.fromisoformat(run.wait["until"]) == T0 + 19 * DAY
    # A purchase from before the registration does not end the wait.
    await clock.emit("registered", "c4", T0)
    await clock.emit("purchase", "c4", T0 + DAY, {"order_id": "o-4"}, occurred=T0 - DAY)
    await clock.tick(T0 + 14 * DAY)
    assert [phone for phone, _ in await clock.sent(trg)] == ["+14155550004"]


async def test_an_event_sent_twice_moves_the_journey_once(loymax: Any) -> None:
    clock, trg, _ = loymax
    first = await clock.emit("registered", "c5", T0, key="reg-5")
    again = await clock.emit("registered", "c5", T0 + timedelta(seconds=3), key="reg-5")
    assert again.duplicate
    assert again.id == first.id
    assert again.runs == []
    assert len(await clock.runs(trg)) == 1
    # Re-entry "once": a second registration is matched, kept as a skipped run that says why, and sends nothing.
    await clock.emit("registered", "c5", T0 + DAY)
    runs = await clock.runs(trg)
    assert [r.state for r in runs] == ["waiting", "skipped"]
    assert runs[1].reason is not None
    assert "once" in runs[1].reason
    await clock.tick(T0 + 14 * DAY)
    assert len(await clock.sent(trg)) == 1


async def test_a_timer_that_cannot_fire_is_retried_alone(loymax: Any) -> None:
    from sqlalchemy import update

    from herald.queue.models import JOBS

    clock, trg, _ = loymax
    await clock.emit("registered", "c6", T0)
    await clock.emit("registered", "c7", T0)
    bad = (await clock.runs(trg))[0]
    async with unit_of_work(clock.state.sessions) as session:
        await session.execute(update(JOBS).where(JOBS.c.unique_key == f"timer:{bad.id}:{bad.version}")
                              .values(payload={"run_id": bad.id, "version": "not a number"}))
    assert await clock.tick(T0 + 14 * DAY) >= 2
    assert [phone for phone, _ in await clock.sent(trg)] == ["+14155550007"], "the good timer fired"
    async with unit_of_work(clock.state.sessions) as session:
        job = (await session.execute(select(JOBS.c.state, JOBS.c.last_error, JOBS.c.attempts).where(
            JOBS.c.unique_key == f"timer:{bad.id}:{bad.version}"))).one()
    assert job.state == "retrying"
    assert "not a number" in job.last_error


async def test_a_run_whose_place_an_edit_removed_fails_with_the_reason(loymax: Any, herald: Running) -> None:
    clock, trg, _ = loymax
    await clock.emit("registered", "c8", T0)
    await clock.tick(T0 + 14 * DAY)  # reminder 1 sent; now waiting in steps[0].on_timeout[1]
    client = await herald.authed()
    resp = await client.patch(f"/v1/triggers/{trg}", json={"steps": [
        {"type": "send", "channel": "sms", "template": "reminder-1"}]})
    assert resp.status_code == 200, resp.text
    await clock.tick(T0 + 28 * DAY)
    [run] = await clock.runs(trg)
    assert run.state == "failed"
    assert run.reason is not None
    assert "steps changed" in run.reason
    assert len(await clock.sent(trg)) == 1
