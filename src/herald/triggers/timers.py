"""Firing journey timers: due ``journey.timer`` jobs, taken a batch at a time and fired in ONE transaction
with the moves and messages they cause, then deleted.

There is no lease to wait out: a worker that dies mid-batch commits nothing, so its timers are still due and
the next worker (or the same one restarted) fires them at its next poll. PostgreSQL workers take disjoint
batches (``FOR UPDATE SKIP LOCKED``); on SQLite one writer at a time does. A timer whose firing raises is
retried with backoff on its own (a savepoint per timer), without holding back the others."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from herald.auth.models import Workspace
from herald.db.session import write_lock
from herald.messages import pending
from herald.pipeline import handoff
from herald.pipeline.dispatch import Dispatcher
from herald.pipeline.handoff import Handoff
from herald.queue.models import JOBS
from herald.queue.retry import RetryPolicy
from herald.triggers import engine
from herald.triggers.models import TIMER_JOB
from herald.triggers.sending import SendContext

log = structlog.get_logger(__name__)
_j = JOBS.c


class TimerRunner:
    def __init__(self, db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], send: SendContext, *,
                 batch: int = 100, poll_interval: float = 0.25, retry: RetryPolicy | None = None,
                 on_sent: Any = None, dispatcher: Dispatcher | None = None) -> None:
        self.engine, self.sessions, self.send = db, sessions, send
        self.batch, self.poll_interval = batch, poll_interval
        self.retry = retry or RetryPolicy(max_attempts=10, base_seconds=5, max_seconds=3600)
        self.on_sent = on_sent
        self.dispatcher = dispatcher
        """This worker's dispatcher: the messages a batch plans are handed to it (herald.pipeline.handoff)."""
        self.wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                fired = await self.run_once()
            except Exception:
                log.exception("timers.loop_failed")
                fired = 0
            if fired < self.batch:
                self.wakeup.clear()
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED),
                                           self.poll_interval)
                for w in waits:
                    w.cancel()

    async def run_once(self, now: datetime | None = None) -> int:
        """Fire the timers due at ``now``; answer how many were taken.

        The batch is fired in one go (one flush, multi-row inserts). Should any timer raise, the whole batch is
        rolled back and fired again one timer at a time, each in a savepoint, so that one bad timer is retried
        on its own and the others go through."""
        now = now or datetime.now(UTC)
        try:
            taken, offered = await self._batch(now, careful=False)
        except Exception as exc:
            log.warning("timers.batch_failed", error=repr(exc))
            taken, offered = await self._batch(now, careful=True)
        if self.dispatcher is not None:
            self.dispatcher.adopt(offered)
        if taken and self.on_sent is not None and handoff.left_queued(offered):
            self.on_sent()
        return taken

    async def _batch(self, now: datetime, *, careful: bool) -> tuple[int, Handoff | None]:
        """Fire a batch in one transaction: how many timers it took, and the handoff of the messages they
        planned (sent by this worker's dispatcher after the commit)."""
        offered = self.dispatcher.offer() if self.dispatcher is not None else None
        async with write_lock(self.engine), self.sessions() as session, session.begin():
            handoff.offer(session.sync_session, offered)
            return await self._fire_batch(session, now, careful=careful), offered

    async def _fire_batch(self, session: AsyncSession, now: datetime, *, careful: bool) -> int:
        query = (select(_j.id, _j.payload, _j.attempts, _j.workspace_id)
                 .where(_j.kind == TIMER_JOB, _j.state.in_(("queued", "retrying")), _j.due_at <= now)
                 .order_by(_j.due_at).limit(self.batch))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await session.execute(query)).all()
        if not rows:
            return 0
        workspaces: dict[str, Workspace] = {}
        done: list[str] = []
        for row in rows:
            if not careful:
                with session.no_autoflush:  # flushed once, below: the timers' rows never depend on each other
                    await self._fire(session, workspaces, row, now)
                done.append(row.id)
                continue
            try:
                async with session.begin_nested():
                    await self._fire(session, workspaces, row, now)
                done.append(row.id)
            except Exception as exc:
                log.warning("timers.fire_failed", job_id=row.id, error=repr(exc))
                attempts = row.attempts + 1
                give_up = attempts >= self.retry.max_attempts
                await session.execute(update(JOBS).where(_j.id == row.id).values(
                    state="failed" if give_up else "retrying", attempts=attempts, last_error=repr(exc)[:2000],
                    due_at=now + timedelta(seconds=self.retry.delay(attempts)), updated_at=now))
        await pending.flush(session)
        if done:
            await session.execute(delete(JOBS).where(_j.id.in_(done)))
        return len(rows)

    async def _fire(self, session: AsyncSession, workspaces: dict[str, Workspace], row: Any, now: datetime) -> None:
        workspace = workspaces.get(row.workspace_id) or await session.get(Workspace, row.workspace_id)
        if workspace is None:
            return
        workspaces[workspace.id] = workspace
        await engine.fire(engine.Context(session, workspace, self.send, now), row.payload["run_id"],
                          int(row.payload["version"]))
