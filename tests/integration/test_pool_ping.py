"""PostgreSQL connections are pinged before use only when they sat idle in the pool: a connection the server
dropped meanwhile is replaced, not handed to a transaction that would fail on it; one used moments ago costs
no extra round trip."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from herald.db import session as db_session
from herald.db.session import make_engine

pytestmark = pytest.mark.postgres


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, killer = make_engine(pg_url, pool_size=1), make_engine(pg_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with killer.connect() as other:  # the server drops the pooled connection (a restart, a proxy)
            assert await other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(db_session, "PING_IDLE_SECONDS", 0.0)
        async with engine.connect() as conn:
            second = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_used_moments_ago_is_not_pinged(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(pg_url, pool_size=1)
    pings: list[Any] = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real(c))
    try:
        for _ in range(3):
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
        assert pings == []
        monkeypatch.setattr(db_session, "PING_IDLE_SECONDS", 0.0)
        async with engine.connect() as conn:
            await conn.scalar(text("SELECT 1"))
        assert len(pings) == 1, "a connection idle past the limit is pinged"
    finally:
        await engine.dispose()
