"""Wake-ups for workers in other processes. On PostgreSQL every statement that inserts messages sends
``NOTIFY herald_queue`` in its transaction (a trigger on the table, migration 0011), and every worker LISTENs,
so a send starts within milliseconds instead of at the next poll. Polling stays as the fallback (SQLite, lost
connections); a listener re-LISTENs after reconnecting."""

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
OPT_OUT_CHANNEL = "herald_opt_out"


async def opt_out(session: AsyncSession, address: str) -> None:
    """Tell listening workers that ``address`` just opted out, when this transaction commits (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, :address)"),
                              {"channel": OPT_OUT_CHANNEL, "address": address})


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


async def listen(url: str, wake: Callable[[], None], stop: asyncio.Event,
                 opted_out: Callable[[str], None] | None = None) -> None:
    """Call ``wake`` on every queue notification (and ``opted_out`` with the address of every opt-out) until
    ``stop``; reconnect with backoff when the link drops."""
    delay = 0.5
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if opted_out is not None:
                    await conn.execute(f"LISTEN {OPT_OUT_CHANNEL}")
                delay = 0.5
                wake()  # anything queued while we were not listening
                while not stop.is_set():
                    async for note in conn.notifies(timeout=1.0):  # returns every second to check ``stop``
                        if note.channel == OPT_OUT_CHANNEL and opted_out is not None:
                            opted_out(note.payload)
                        else:
                            wake()
        except (psycopg.Error, OSError) as exc:
            log.warning("notify.listen_lost", error=type(exc).__name__, retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)
