"""Date-based triggers with a controllable clock, on SQLite and PostgreSQL: a birthday greeting at 10:00 in
each contact's own zone, once a year; a bonus-expiry reminder three days before, only above a minimum; 29
February in a common year; and never twice for the same date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from herald.auth.models import Workspace
from herald.bootstrap import DEFAULT_WORKSPACE
from herald.db.session import unit_of_work
from herald.messages.models import Message
from herald.triggers import schedules
from herald.triggers.models import Trigger
from herald.triggers.sending import SendContext
from tests.conftest import Running
from tests.integration.trigger_setup import event_type, file_provider, template, trigger

GREET = [{"type": "send", "channel": "sms", "template": "greet", "classification": "direct_marketing"}]


async def people(client: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for i, row in enumerate(rows):
        body = {"external_id": row.pop("name"), "phone": f"+4475000000{i:02d}",
                "consent": {"direct_marketing": True}, **row}
        resp = await client.post("/v1/contacts", json=body)
        assert resp.status_code in (200, 201), resp.text
        out[resp.json()["id"]] = body["external_id"]
    return out


async def due(h: Running, trigger_id: str, now: datetime) -> int:
    state = h.app.state.herald
    async with unit_of_work(state.sessions) as session:
        workspace = await session.get(Workspace, DEFAULT_WORKSPACE)
        found = await session.get(Trigger, trigger_id)
        assert workspace is not None
        assert found is not None
        return await schedules.occurrences(session, workspace, found, SendContext(state.renderer), now)


async def greeted(h: Running, trigger_id: str, names: dict[str, str]) -> list[str]:
    async with unit_of_work(h.app.state.herald.sessions) as session:
        rows = (await session.scalars(select(Message.contact_id).where(Message.source_id == trigger_id))).all()
    return sorted(names[r] for r in rows if r)


async def test_a_birthday_greeting_goes_at_ten_in_each_contacts_zone_once(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await template(client, "greet", "Happy birthday, {{ contact.first_name }}!")
    names = await people(client, [
        {"name": "tokyo", "birthday": "1990-07-14", "timezone": "Asia/Tokyo"},
        {"name": "london", "birthday": "1985-07-14", "timezone": "Europe/London"},
        {"name": "other-day", "birthday": "1990-07-15", "timezone": "Europe/London"},
        {"name": "leap", "birthday": "2000-02-29", "timezone": "UTC"},
        {"name": "none", "timezone": "UTC"},
    ])
    made = await trigger(client, "Birthday", None, GREET, schedule={"attribute": "birthday", "at": "10:00"})
    assert await due(herald, made["id"], datetime(2026, 7, 14, 0, 30, tzinfo=UTC)) == 0  # 09:30 in Tokyo
    assert await due(herald, made["id"], datetime(2026, 7, 14, 1, 0, tzinfo=UTC)) == 1  # 10:00 in Tokyo
    assert await greeted(herald, made["id"], names) == ["tokyo"]
    assert await due(herald, made["id"], datetime(2026, 7, 14, 8, 59, tzinfo=UTC)) == 0  # 09:59 BST
    assert await due(herald, made["id"], datetime(2026, 7, 14, 15, 0, tzinfo=UTC)) == 1  # late, same day
    assert await due(herald, made["id"], datetime(2026, 7, 14, 16, 0, tzinfo=UTC)) == 0, "never twice"
    assert await greeted(herald, made["id"], names) == ["london", "tokyo"]
    assert await due(herald, made["id"], datetime(2027, 2, 28, 10, 0, tzinfo=UTC)) == 1  # 29 Feb, common year
    assert await due(herald, made["id"], datetime(2027, 7, 14, 12, 0, tzinfo=UTC)) == 2  # next year again
    assert await greeted(herald, made["id"], names) == ["leap", "london", "london", "tokyo", "tokyo"]


async def test_a_bonus_expiry_reminder_three_days_before_above_a_minimum(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await template(client, "greet", "{{ contact.bonus_points }} points expire on {{ event.date }}")
    names = await people(client, [
        {"name": "rich", "attributes": {"bonus_expiry": "2026-12-31", "bonus_points": 500}},
        {"name": "poor", "attributes": {"bonus_expiry": "2026-12-31", "bonus_points": 20}},
        {"name": "later", "attributes": {"bonus_expiry": "2027-01-31", "bonus_points": 900}},
        {"name": "garbage", "attributes": {"bonus_expiry": "soon", "bonus_points": 900}},
    ])
    made = await trigger(client, "Bonus expiry", None, GREET, schedule={
        "attribute": "bonus_expiry", "offset_days": -3, "at": "09:00", "condition": "contact.bonus_points >= 100"})
    assert await due(herald, made["id"], datetime(2026, 12, 27, 12, 0, tzinfo=UTC)) == 0
    assert await due(herald, made["id"], datetime(2026, 12, 28, 12, 0, tzinfo=UTC)) == 1
    assert await greeted(herald, made["id"], names) == ["rich"]
    assert await due(herald, made["id"], datetime(2027, 12, 28, 12, 0, tzinfo=UTC)) == 0, "not yearly"


async def test_a_bad_schedule_is_refused(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await template(client, "greet", "Hi")
    for schedule, field in (({"attribute": "birthday", "at": "9am"}, "schedule.at"),
                            ({"attribute": "a b"}, "schedule.attribute"),
                            ({"attribute": "birthday", "condition": "event.x == 1"}, "schedule.condition")):
        resp = await client.post("/v1/triggers", json={"name": "x", "description": "x", "steps": GREET,
                                                       "schedule": schedule})
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == field


async def test_the_periodic_job_starts_what_is_due_today(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await template(client, "greet", "Happy birthday!")
    today = datetime.now(UTC).date()
    names = await people(client, [{"name": "today", "birthday": today.replace(year=1990).isoformat()
                                   if (today.month, today.day) != (2, 29) else "1992-02-29", "timezone": "UTC"}])
    # An event trigger beside it: the pass takes date-based triggers only (an event trigger's stored schedule
    # is JSON null, which SQL does not call NULL; the pass once failed on it and started nothing).
    await event_type(client, "card.withdrawal")
    await trigger(client, "Alert", "card.withdrawal", GREET)
    made = await trigger(client, "Birthday", None, GREET, schedule={"attribute": "birthday", "at": "00:00"})
    state = herald.app.state.herald
    async with state.engine.begin() as conn:
        again = await schedules.run(conn, None, send=SendContext(state.renderer))  # type: ignore[arg-type]
    assert again is not None
    assert again > datetime.now(UTC)
    assert await greeted(herald, made["id"], names) == ["today"]
