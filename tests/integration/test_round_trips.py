"""Round trips to PostgreSQL saved where nothing depends on them. Connections are pinged before use only when
they sat idle in the pool: a connection the server dropped meanwhile is replaced, not handed to a transaction
that would fail on it; one used moments ago costs no extra round trip. The dispatcher's batch of outcomes,
one statement, is written without BEGIN and COMMIT."""

from __future__ import annotations

from typing import Any, cast

import pytest
from psycopg._connection_base import BaseConnection
from sqlalchemy import text

from herald.db import session as db_session
from herald.db.session import make_engine
from herald.pipeline import outcomes
from herald.pipeline.dispatch import Dispatcher
from herald.providers.runtime import ProviderCache
from herald.queue.retry import RetryPolicy

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


async def test_outcomes_are_written_in_one_statement_without_a_transaction(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1)
    dispatcher = Dispatcher(engine, cast(ProviderCache, None), public_url="http://testserver",
                            retry=RetryPolicy(3, 0.1, 1.0))
    commands: list[bytes] = []
    real = BaseConnection._exec_command

    def counting(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        commands.append(bytes(command) if isinstance(command, bytes | bytearray) else str(command).encode())
        return real(self, command, *args, **kwargs)

    monkeypatch = pytest.MonkeyPatch()
    try:
        async with engine.connect() as conn:  # the dialect's first-connect checks run their own transaction
            await conn.execute(text("SELECT 1"))
        monkeypatch.setattr(BaseConnection, "_exec_command", counting)
        async with dispatcher._outcome_connection() as conn:
            await outcomes.write(conn, [])
        assert commands == [], "no BEGIN, no COMMIT"
    finally:
        monkeypatch.undo()
        await engine.dispose()
