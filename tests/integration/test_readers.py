"""What only reads never waits for a writer. On SQLite every plain transaction begins IMMEDIATE (it takes
the one write lock), so a read through one queues behind whatever a group commit or an outcome write holds,
and SQLite's busy handler sleeps in steps of up to 100 ms. The provider cache refreshes every two seconds
while every send waits for it; ``/ready`` answers load balancers' probes: both read as readers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from herald.channels.base import ProviderContext
from herald.crypto import Keyring
from herald.providers.runtime import ProviderCache
from tests.conftest import Running
from tests.integration.trigger_setup import file_provider


@asynccontextmanager
async def _writer_holding_the_database(running: Running) -> AsyncIterator[None]:
    """Another transaction that has written and not yet committed."""
    async with running.app.state.herald.engine.connect() as conn:
        await conn.execute(text("UPDATE workspaces SET name = name"))
        yield
        await conn.rollback()


async def test_a_provider_refresh_reads_while_a_writer_holds_the_database(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    provider_id = next(p["id"] for p in (await client.get("/v1/providers")).json() if p["name"] == "outbox")
    state = herald.app.state.herald
    cache = ProviderCache(state.engine, Keyring.from_settings(state.settings),
                          ProviderContext(outbox_dir=state.settings.outbox_dir))
    try:
        async with _writer_holding_the_database(herald):
            started = time.perf_counter()
            live = await asyncio.wait_for(cache.get(provider_id), timeout=5)
            assert time.perf_counter() - started < 0.5
        assert live is not None
        assert live.enabled
    finally:
        await cache.close()


async def test_ready_answers_while_a_writer_holds_the_database(herald: Running) -> None:
    async with _writer_holding_the_database(herald):
        started = time.perf_counter()
        answer = await asyncio.wait_for(herald.client.get("/ready"), timeout=5)
        assert time.perf_counter() - started < 0.5
    assert answer.status_code == 200, answer.text
