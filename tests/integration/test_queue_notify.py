"""On PostgreSQL, workers in other processes hear of new messages at once: every statement that inserts
messages a worker can claim sends NOTIFY herald_queue in its transaction (a trigger, migrations 0011 and
0012), whichever path planned them, and only when that transaction commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.messages import service as messages
from herald.messages.models import MESSAGES
from herald.pipeline import handoff
from herald.pipeline.handoff import Handoff
from herald.queue import notify
from tests.conftest import Running, wait_for
from tests.integration.trigger_setup import file_provider

pytestmark = pytest.mark.postgres


def _row(message_id: str, state: str = "queued") -> dict[str, object]:
    now = datetime.now(UTC)
    return {"id": message_id, "workspace_id": "ws_default", "channel": "sms", "provider_id": "prv_x",
            "to_address": "+14155550100", "content": {"body": "x"}, "state": state, "due_at": now,
            "attempts": 0, "created_at": now, "updated_at": now, "meta": {}}


@dataclass
class _Listening:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    woken: list[int] = field(default_factory=list)

    async def heard(self) -> None:
        await wait_for(lambda: _async(bool(self.woken)), timeout=5)


@pytest.fixture
def db_url(pg_url: str) -> str:
    """The in-process app (``herald_with_worker``) on the database the listener listens to."""
    return pg_url


@pytest.fixture
async def listening(pg_url: str) -> AsyncIterator[_Listening]:
    """A worker's listener, listening, and an engine to write with."""
    engine = make_engine(pg_url, pool_size=1)
    here = _Listening(engine, make_sessionmaker(engine))
    stop = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, lambda: here.woken.append(1), stop))
    try:
        await here.heard()  # listening (it wakes once when it connects)
        here.woken.clear()
        yield here
    finally:
        stop.set()
        await listener
        await engine.dispose()


async def test_inserted_messages_wake_listeners_when_their_transaction_commits(listening: _Listening) -> None:
    with pytest.raises(RuntimeError):  # a rolled-back insert announces nothing
        await _insert_then_fail(listening.sessions)
    async with unit_of_work(listening.sessions) as session:
        await messages.bulk_enqueue(session, [_row("msg_n1"), _row("msg_n2")])
        await messages.bulk_enqueue(session, [_row("msg_n3")])
        await asyncio.sleep(0.3)
        assert listening.woken == [], "nothing is announced before the commit"
    await listening.heard()
    await asyncio.sleep(0.3)
    assert listening.woken == [1], "one wake-up per transaction, however many statements inserted messages"


async def test_messages_no_worker_can_claim_wake_no_one(listening: _Listening) -> None:
    """Messages inserted already leased (handed to the planning process's dispatcher) or settled (refused by
    policy) wake no worker: each wake-up costs every listening worker an empty claim."""
    async with unit_of_work(listening.sessions) as session:
        await messages.bulk_enqueue(session, [_row("msg_s1", "sending"), _row("msg_s2", "skipped")])
    await asyncio.sleep(0.5)
    assert listening.woken == []
    async with unit_of_work(listening.sessions) as session:  # one claimable row among them is enough
        await messages.bulk_enqueue(session, [_row("msg_s3", "sending"), _row("msg_s4", "retrying")])
    await listening.heard()


async def test_a_void_handoff_put_back_in_the_queue_wakes_the_workers(listening: _Listening) -> None:
    """Handed-off messages were inserted leased, which notified no one: when part of their transaction rolls
    back and they go back to the queue instead, the commit must announce them."""
    offered = Handoff(token="t" * 32, room=10, lease_seconds=30)
    async with unit_of_work(listening.sessions) as session:
        handoff.offer(session.sync_session, offered)
        row = {**_row("msg_h1", "sending"), "lease_token": offered.token, "attempts": 1}
        await messages.bulk_enqueue(session, [row])
        offered.taken.append(row)
        with contextlib.suppress(RuntimeError):
            async with session.begin_nested():
                raise RuntimeError("a timer of the batch failed")
    assert offered.void
    await listening.heard()
    async with listening.engine.connect() as conn:
        assert (await conn.execute(select(MESSAGES.c.state))).scalars().all() == ["queued"]


async def test_a_message_sent_through_the_api_in_serve_wakes_no_one(herald_with_worker: Running,
                                                                   listening: _Listening) -> None:
    """``POST /v1/messages`` in ``herald serve`` inserts the message already leased to its own dispatcher:
    announcing it would only wake that dispatcher (and every other worker) into a claim that finds nothing."""
    client = await herald_with_worker.authed()
    await file_provider(client)
    sent = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "Code 123456"})
    assert sent.status_code == 202, sent.text
    assert sent.json()["state"] == "queued"  # as accepted

    async def delivered() -> bool:
        return (await client.get(f"/v1/messages/{sent.json()['id']}")).json()["state"] == "delivered"

    await wait_for(delivered)
    await asyncio.sleep(0.3)
    assert listening.woken == []


async def _insert_then_fail(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        await messages.bulk_enqueue(session, [_row("msg_gone")])
        raise RuntimeError("rolled back")


async def _async(value: bool) -> bool:
    return value
