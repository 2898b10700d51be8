"""On PostgreSQL, workers in other processes hear of new messages at once: every statement that inserts
messages sends NOTIFY herald_queue in its transaction (a trigger, migration 0011), whichever path planned them,
and only when that transaction commits."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.messages import service as messages
from herald.messages.models import MESSAGES
from herald.pipeline import handoff
from herald.pipeline.handoff import Handoff
from herald.queue import notify
from tests.conftest import wait_for

pytestmark = pytest.mark.postgres


def _row(message_id: str, state: str = "queued") -> dict[str, object]:
    now = datetime.now(UTC)
    return {"id": message_id, "workspace_id": "ws_default", "channel": "sms", "provider_id": "prv_x",
            "to_address": "+14155550100", "content": {"body": "x"}, "state": state, "due_at": now,
            "attempts": 0, "created_at": now, "updated_at": now, "meta": {}}


async def test_inserted_messages_wake_listeners_when_their_transaction_commits(pg_url: str) -> None:
    woken: list[int] = []
    stop = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, lambda: woken.append(1), stop))
    engine = make_engine(pg_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    try:
        await wait_for(lambda: _async(bool(woken)))  # listening (it wakes once when it connects)
        woken.clear()
        with pytest.raises(RuntimeError):  # a rolled-back insert announces nothing
            await _insert_then_fail(sessions)
        async with unit_of_work(sessions) as session:
            await messages.bulk_enqueue(session, [_row("msg_n1"), _row("msg_n2")])
            await messages.bulk_enqueue(session, [_row("msg_n3")])
            await asyncio.sleep(0.3)
            assert woken == [], "nothing is announced before the commit"
        await wait_for(lambda: _async(bool(woken)), timeout=5)
        await asyncio.sleep(0.3)
        assert woken == [1], "one wake-up per transaction, however many statements inserted messages"
    finally:
        stop.set()
        await listener
        await engine.dispose()


async def test_messages_no_worker_can_claim_wake_no_one(pg_url: str) -> None:
    """Messages inserted already leased (handed to the planning process's dispatcher) or settled (refused by
    policy) wake no worker: each wake-up costs every listening worker an empty claim."""
    woken: list[int] = []
    stop = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, lambda: woken.append(1), stop))
    engine = make_engine(pg_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    try:
        await wait_for(lambda: _async(bool(woken)))
        woken.clear()
        async with unit_of_work(sessions) as session:
            await messages.bulk_enqueue(session, [_row("msg_s1", "sending"), _row("msg_s2", "skipped")])
        await asyncio.sleep(0.5)
        assert woken == []
        async with unit_of_work(sessions) as session:  # one claimable row among them is enough
            await messages.bulk_enqueue(session, [_row("msg_s3", "sending"), _row("msg_s4", "retrying")])
        await wait_for(lambda: _async(bool(woken)), timeout=5)
    finally:
        stop.set()
        await listener
        await engine.dispose()


async def test_a_void_handoff_put_back_in_the_queue_wakes_the_workers(pg_url: str) -> None:
    """Handed-off messages were inserted leased, which notified no one: when part of their transaction rolls
    back and they go back to the queue instead, the commit must announce them."""
    woken: list[int] = []
    stop = asyncio.Event()
    listener = asyncio.create_task(notify.listen(pg_url, lambda: woken.append(1), stop))
    engine = make_engine(pg_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    offered = Handoff(token="t" * 32, room=10, lease_seconds=30)
    try:
        await wait_for(lambda: _async(bool(woken)))
        woken.clear()
        async with unit_of_work(sessions) as session:
            handoff.offer(session.sync_session, offered)
            row = {**_row("msg_h1", "sending"), "lease_token": offered.token, "attempts": 1}
            await messages.bulk_enqueue(session, [row])
            offered.taken.append(row)
            with contextlib.suppress(RuntimeError):
                async with session.begin_nested():
                    raise RuntimeError("a timer of the batch failed")
        assert offered.void
        await wait_for(lambda: _async(bool(woken)), timeout=5)
        async with engine.connect() as conn:
            assert (await conn.execute(select(MESSAGES.c.state))).scalars().all() == ["queued"]
    finally:
        stop.set()
        await listener
        await engine.dispose()


async def _insert_then_fail(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        await messages.bulk_enqueue(session, [_row("msg_gone")])
        raise RuntimeError("rolled back")


async def _async(value: bool) -> bool:
    return value
