"""A send never waits for the provider cache's refresh, even when the refresh cannot read (PostgreSQL: a
table lock holds the read; SQLite lets readers through whatever a writer holds)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from tests.conftest import Running
from tests.integration.test_provider_cache import cache_with_a_provider, disable, eventually


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


async def test_a_send_never_waits_for_the_refresh_and_a_change_still_arrives(herald: Running) -> None:
    cache, provider_id = await cache_with_a_provider(herald)
    try:
        assert (await cache.get(provider_id)) is not None
        async with herald.app.state.herald.engine.connect() as locker:
            # Nothing can read the providers now: the refresh waits for this transaction.
            await locker.execute(text("LOCK TABLE providers IN ACCESS EXCLUSIVE MODE"))
            await asyncio.sleep(0.1)  # the cache is stale
            for _ in range(3):
                started = time.perf_counter()
                live = await asyncio.wait_for(cache.get(provider_id), timeout=5)
                assert time.perf_counter() - started < 0.2
                assert live is not None
                assert live.enabled
            await disable(locker, provider_id)
            await locker.commit()
        await eventually(cache, provider_id, enabled=False)
    finally:
        await cache.close()
