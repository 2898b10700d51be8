"""Background jobs on the ``jobs`` table, claimed and leased with the same module as messages.

A handler is ``async def handler(conn, job) -> datetime | None``: it runs in the job's transaction;
answering a datetime re-schedules the job (periodic work), ``None`` marks it done. An exception retries it
with backoff until ``max_attempts``, then marks it failed with the error.

A *long* handler (an import, a fan-out) is ``async def handler(engine, job, lease) -> datetime | None``: it
commits its own batches, and calls ``await lease.keep(conn)`` inside each batch's transaction. That extends
the lease and, when another worker has taken the job over, raises :class:`LeaseLost` so the batch rolls back:
a batch and its checkpoint commit together, or not at all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald import ids
from herald.db.session import write_lock
from herald.messages.models import IdempotencyKey
from herald.queue import claim as claims
from herald.queue.models import JOBS
from herald.queue.retry import RetryPolicy

log = structlog.get_logger(__name__)
Handler = Callable[[AsyncConnection, Row[Any]], Awaitable[datetime | None]]
_j = JOBS


class LeaseLost(Exception):
    """This worker no longer owns the job (its lease expired and another worker claimed it)."""


@dataclass(slots=True)
class Lease:
    job_id: str
    token: str
    seconds: float

    async def keep(self, conn: AsyncConnection) -> None:
        now = datetime.now(UTC)
        result = await conn.execute(update(_j).where(
            _j.c.id == self.job_id, _j.c.lease_token == self.token, _j.c.state == "running",
        ).values(lease_until=now + timedelta(seconds=self.seconds), updated_at=now))
        if result.rowcount != 1:
            raise LeaseLost(f"job {self.job_id} was taken over by another worker")


LongHandler = Callable[[AsyncEngine, Row[Any], Lease], Awaitable[datetime | None]]


async def enqueue(
    conn: AsyncConnection, kind: str, payload: dict[str, Any] | None = None, *, due_at: datetime | None = None,
    unique_key: str | None = None, workspace_id: str | None = None, max_attempts: int = 10,
) -> str | None:
    """Add a job; with ``unique_key``, only when no job with that key exists (answers None then)."""
    if unique_key is not None:
        found = await conn.scalar(select(_j.c.id).where(_j.c.unique_key == unique_key))
        if found:
            return None
    now = datetime.now(UTC)
    job_id = ids.new_id("job")
    await conn.execute(insert(_j).values(
        id=job_id, kind=kind, payload=payload or {}, state="queued", unique_key=unique_key, due_at=due_at or now,
        attempts=0, max_attempts=max_attempts, workspace_id=workspace_id, created_at=now, updated_at=now,
    ))
    return job_id


async def purge_idempotency_keys(conn: AsyncConnection, job: Row[Any]) -> datetime | None:
    """Idempotency keys are kept 24 hours, as most APIs promise; this job runs hourly."""
    now = datetime.now(UTC)
    await conn.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - timedelta(hours=24)))
    return now + timedelta(hours=1)


HANDLERS: dict[str, Handler] = {"purge_idempotency_keys": purge_idempotency_keys}
PERIODIC = ("purge_idempotency_keys",)


class JobRunner:
    def __init__(self, engine: AsyncEngine, handlers: Mapping[str, Handler] | None = None, *,
                 long_handlers: Mapping[str, LongHandler] | None = None, lease_seconds: float = 300.0,
                 poll_interval: float = 1.0, retry: RetryPolicy | None = None,
                 periodic: tuple[str, ...] = PERIODIC, only: ColumnElement[bool] | None = None) -> None:
        """The runner claims only the kinds it has a handler for: a job of another kind (a journey timer, which
        has a runner of its own; a fan-out, in a process that runs none) stays queued for a process that runs
        it, instead of failing here with no handler. ``periodic``: kinds kept scheduled (one live job each).
        ``only``: a condition on the jobs table narrowing what is claimed further (``herald import`` runs its
        own import, not someone else's)."""
        self.engine = engine
        self.periodic = periodic
        self.handlers = dict(HANDLERS if handlers is None else handlers)
        self.long_handlers = dict(long_handlers or {})
        kinds = _j.c.kind.in_(sorted({*self.handlers, *self.long_handlers}))
        self._claimable = kinds if only is None else kinds & only
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.retry = retry or RetryPolicy(max_attempts=10, base_seconds=5, max_seconds=3600)

    async def ensure_periodic(self) -> None:
        async with write_lock(self.engine), self.engine.begin() as conn:
            for kind in self.periodic:
                await enqueue(conn, kind, unique_key=f"periodic:{kind}")

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(Exception):
            await self.ensure_periodic()
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:
                log.exception("jobs.loop_failed")
                done = 0
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def run_once(self, limit: int = 10) -> int:
        now = datetime.now(UTC)
        async with write_lock(self.engine), self.engine.begin() as conn:
            await claims.recover(conn, _j, now=now, running_state="running")
            token, rows = await claims.claim(conn, _j, now=now, limit=limit, lease_seconds=self.lease_seconds,
                                             running_state="running", returning=tuple(_j.c),
                                             where=self._claimable)
        for row in rows:
            await self._run(row, token)
        return len(rows)

    async def _run(self, row: Row[Any], token: str) -> None:
        fence = (_j.c.id == row.id) & (_j.c.lease_token == token)
        now = datetime.now(UTC)
        long = self.long_handlers.get(row.kind)
        try:
            if long is not None:
                again = await long(self.engine, row, Lease(row.id, token, self.lease_seconds))
                async with write_lock(self.engine), self.engine.begin() as conn:
                    await conn.execute(update(_j).where(fence).values(
                        **_finished(again), lease_until=None, last_error=None, updated_at=datetime.now(UTC)))
                return
            handler = self.handlers[row.kind]  # claimed only because this runner has one (__init__)
            async with write_lock(self.engine), self.engine.begin() as conn:
                again = await handler(conn, row)
                await conn.execute(update(_j).where(fence).values(
                    **_finished(again), lease_until=None, last_error=None, updated_at=datetime.now(UTC)))
        except LeaseLost:
            log.warning("jobs.lease_lost", kind=row.kind, job_id=row.id)
        except Exception as exc:
            log.warning("jobs.failed", kind=row.kind, job_id=row.id, attempt=row.attempts, error=repr(exc))
            give_up = row.attempts >= row.max_attempts
            due = now + timedelta(seconds=self.retry.delay(row.attempts))
            async with write_lock(self.engine), self.engine.begin() as conn:
                await conn.execute(update(_j).where(fence).values(
                    state="failed" if give_up else "retrying", due_at=due, lease_until=None,
                    last_error=repr(exc)[:2000], updated_at=datetime.now(UTC)))


def _finished(again: datetime | None) -> dict[str, Any]:
    return {"state": "queued", "due_at": again, "attempts": 0} if again else {"state": "done"}
