"""Timeline rows queued by ``timeline.record`` reach the database in the order they were recorded, with one
statement however many there are, whether a flush or only the commit writes them; a rollback drops them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from herald.db.session import unit_of_work, write_lock
from herald.messages import timeline
from tests.conftest import Running


async def _message(herald: Running) -> tuple[Any, str]:
    client = await herald.authed()
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "hi"})
    assert resp.status_code == 202, resp.text
    return client, resp.json()["id"]


async def _states(client: Any, message_id: str) -> list[str]:
    return [t["state"] for t in (await client.get(f"/v1/messages/{message_id}")).json()["timeline"]]


async def test_recorded_rows_are_written_in_order_with_one_statement(herald: Running) -> None:
    client, message_id = await _message(herald)
    state = herald.app.state.herald
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool) -> None:
        if "INSERT INTO message_events" in statement:  # an executemany (SQLite), one JSON document (PostgreSQL)
            inserts.append(statement)

    event.listen(state.engine.sync_engine, "before_cursor_execute", seen)
    now = datetime.now(UTC)
    async with write_lock(state.engine), unit_of_work(state.sessions) as session:  # only the commit writes
        for name in ("sending", "sent", "delivered"):
            timeline.record(session, message_id, name, now, f"now {name}")
    assert len(inserts) == 1
    assert await _states(client, message_id) == ["queued", "sending", "sent", "delivered"]


async def test_a_rollback_drops_what_was_recorded(herald: Running) -> None:
    client, message_id = await _message(herald)
    state = herald.app.state.herald
    async with write_lock(state.engine), unit_of_work(state.sessions) as session:
        await session.execute(select(1))  # as where it is used: the transaction has begun
        timeline.record(session, message_id, "failed", datetime.now(UTC), "never happened")
        await session.rollback()
        timeline.record(session, message_id, "sent", datetime.now(UTC), "this one did")
    assert await _states(client, message_id) == ["queued", "sent"]
