"""Wake-ups for workers in other processes. On PostgreSQL a new message sends ``NOTIFY herald_queue`` in
its own transaction, and every worker LISTENs, so a send starts within milliseconds instead of at the next
poll. Polling stays as the fallback (SQLite, lost connections); a listener re-LISTENs after reconnecting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)
CHANNEL = "herald_queue"


async def notify(session: AsyncSession) -> None:
    """Tell listening workers there is new work, when this transaction commits (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {CHANNEL}"))


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def listen(url: str, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """Call ``wake`` on every notification until ``stop``; reconnect with backoff when the link drops."""
    delay = 0.5
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                delay = 0.5
                wake()  # anything queued while we were not listening
                while not stop.is_set():
                    async for _ in conn.notifies(timeout=1.0):  # returns every second to check ``stop``
                        wake()
        except (psycopg.Error, OSError) as exc:
            log.warning("notify.listen_lost", error=type(exc).__name__, retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)
