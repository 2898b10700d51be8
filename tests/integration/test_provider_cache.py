"""The provider cache answers sends from what it knows while it reads the providers again in the background:
a send never waits for that read (once a stall of every send in flight, every two seconds; see
``test_provider_cache_stall.py``), and a change to a provider still reaches the sends within one read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.channels.base import ProviderContext
from herald.crypto import Keyring
from herald.providers.runtime import LiveProvider, ProviderCache
from tests.conftest import Running
from tests.integration.trigger_setup import file_provider


async def disable(conn: AsyncConnection, provider_id: str) -> None:
    await conn.execute(text("UPDATE providers SET enabled = false, updated_at = :now WHERE id = :id"),
                       {"id": provider_id, "now": datetime.now(UTC)})


async def cache_with_a_provider(herald: Running) -> tuple[ProviderCache, str]:
    client = await herald.authed()
    await file_provider(client)
    provider_id = next(p["id"] for p in (await client.get("/v1/providers")).json() if p["name"] == "outbox")
    state = herald.app.state.herald
    cache = ProviderCache(state.engine, Keyring.from_settings(state.settings),
                          ProviderContext(outbox_dir=state.settings.outbox_dir), ttl=0.05)
    return cache, provider_id


async def eventually(cache: ProviderCache, provider_id: str, enabled: bool) -> LiveProvider:
    for _ in range(100):
        live = await cache.get(provider_id)
        if live is not None and live.enabled is enabled:
            return live
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cache never saw the provider {'enabled' if enabled else 'disabled'}")


async def test_a_failed_refresh_keeps_the_providers_known_and_is_tried_again(herald: Running) -> None:
    cache, provider_id = await cache_with_a_provider(herald)
    engine = herald.app.state.herald.engine
    try:
        assert (await cache.get(provider_id)) is not None
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE providers RENAME TO providers_away"))
        try:
            await asyncio.sleep(0.1)
            for _ in range(5):  # each send may start a refresh; each fails; the sends carry on
                live = await cache.get(provider_id)
                assert live is not None
                assert live.enabled
                await asyncio.sleep(0.06)
        finally:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE providers_away RENAME TO providers"))
                await disable(conn, provider_id)
        await eventually(cache, provider_id, enabled=False)
    finally:
        await cache.close()


async def test_a_provider_not_known_yet_is_read_at_once(herald: Running) -> None:
    cache, provider_id = await cache_with_a_provider(herald)
    try:
        assert await cache.get("pr_missing") is None
        live = await cache.get(provider_id)  # read now, not on a background refresh's time
        assert live is not None
        assert live.enabled
    finally:
        await cache.close()
