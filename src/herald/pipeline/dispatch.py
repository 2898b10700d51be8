"""The dispatcher: claims due messages in batches, sends them concurrently through their providers, and
records every outcome, batched, fenced on the lease token.

Durability: a message is only ever moved by the holder of its lease. A crash between the provider call and
the flush of its outcome leaves the message ``sending`` with a lease that expires; recovery puts it back and
it is sent again -- the only duplicates Herald can produce are messages in flight at a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.channels.base import Envelope, PermanentError, SendResult, TransientError
from herald.db.session import write_lock
from herald.messages.models import MESSAGES, SENDING
from herald.metrics import Metrics
from herald.pipeline import outcomes, policy
from herald.pipeline.handoff import Handoff, requeue
from herald.pipeline.optouts import RecentOptOuts
from herald.pipeline.outcomes import Outcome
from herald.providers.runtime import LiveProvider, ProviderCache
from herald.queue import claim as claims
from herald.queue.retry import RetryPolicy
from herald.redact import mask_address

log = structlog.get_logger(__name__)

_m = MESSAGES.c
CLAIM_ORDER = (_m.priority.desc(),)
"""Highest priority first (then the earliest due): ``ix_messages_claim`` holds exactly this order."""
_CLAIM_COLUMNS = (
    _m.id, _m.channel, _m.provider_id, _m.to_address, _m.sender, _m.expires_at,
    _m.attempts, _m.reason, _m.created_at, _m.due_at,
    _m.workspace_id, _m.classification, _m.contact_id, _m.override, _m.dnc_lists, _m.source,
    _m.source_id, _m.source_item, _m.template_id, _m.template_version,
)


@dataclass(slots=True)
class Prepared:
    """What a source's preparer decided for claimed messages before they are sent."""

    contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Content rendered now (stored with the outcome)."""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """Messages that must not be sent now (deferred, cancelled, failed to render)."""
    waits: dict[str, float] = field(default_factory=dict)
    """Seconds a message waits before its send (a throttle)."""


class Preparer(Protocol):
    async def __call__(self, conn: AsyncConnection, rows: Sequence[Row[Any]], contents: dict[str, dict[str, Any]],
                       token: str, now: datetime) -> Prepared: ...


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        providers: ProviderCache,
        *,
        public_url: str,
        retry: RetryPolicy,
        metrics: Metrics | None = None,
        concurrency: int = 200,
        batch: int = 200,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.25,
        flush_interval: float = 0.02,
        prepare: Preparer | None = None,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.public_url = public_url.rstrip("/")
        self.retry = retry
        self.metrics = metrics
        self.concurrency = concurrency
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self.prepare = prepare
        self.wakeup = asyncio.Event()
        self.opted_out = RecentOptOuts()
        self._inflight: set[asyncio.Task[None]] = set()
        self._backlog: deque[Coroutine[Any, Any, None]] = deque()
        """Deliveries handed over (:meth:`adopt`) while every slot was taken: started as slots free up."""
        self._slot_free = asyncio.Event()
        self._pending: list[Outcome] = []
        self._pending_ready = asyncio.Event()
        self._running = False
        self._orphans: list[str] = []
        # SQLite has one writer at a time and its busy handler sleeps in coarse steps (up to 100 ms), so
        # this process's own claims and flushes queue here instead of colliding inside SQLite.
        self._write_lock = write_lock(engine)

    # -- the loop ---------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        flusher = asyncio.create_task(self._flush_loop(stop), name="dispatch-flush")
        recoverer = asyncio.create_task(self._recover_loop(stop), name="dispatch-recover")
        self._running = True
        try:
            while not stop.is_set():
                want = min(self._free(), self.batch)
                # No slot free (a concurrency under 4 rounds the quarter down to none), or too few to be
                # worth a claim yet: wait for sends to finish.
                if want <= 0 or (want < min(self.batch, self.concurrency) // 4 and self._inflight):
                    self._slot_free.clear()
                    await _wait_any(stop, self._slot_free, timeout=self.poll_interval)
                    continue
                # Cleared before the claim, not after: a wake given while the claim runs (a message committed
                # after its snapshot) must send the loop round again, not wait out the poll interval.
                self.wakeup.clear()
                claimed = await self._claim(want) if want > 0 else 0
                if claimed < want:
                    await _wait_any(stop, self.wakeup, timeout=self.poll_interval)
        finally:
            self._running = False
            while self._inflight:  # finishing ones start the backlog's
                await asyncio.gather(*self._inflight, return_exceptions=True)
            stop.set()
            await flusher
            recoverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recoverer

    async def _claim(self, limit: int) -> int:
        now = datetime.now(UTC)
        try:
            async with self._write_lock, self.engine.begin() as conn:
                token, rows = await claims.claim(
                    conn, MESSAGES, now=now, limit=limit, lease_seconds=self.lease_seconds,
                    running_state=SENDING, order_by=CLAIM_ORDER, returning=_CLAIM_COLUMNS,
                )
                contents = await outcomes.contents(conn, [r.id for r in rows]) if rows else {}
                blocks = await policy.recheck(conn, rows)
                ready = [r for r in rows if r.id not in blocks]
                prepared = await self.prepare(conn, ready, contents, token, now) if self.prepare and ready else None
        except Exception:
            log.exception("dispatch.claim_failed")
            await asyncio.sleep(self.poll_interval)
            return 0
        prepared = prepared or Prepared()
        for row in rows:
            block = blocks.get(row.id)
            if block is not None:
                self._record(outcomes.skipped(row, token, now, block.reason, block.explanation))
                continue
            held = prepared.outcomes.get(row.id)
            if held is not None:
                self._record(held)
                continue
            fresh = prepared.contents.get(row.id)
            content = contents.get(row.id) or fresh or {}
            self._start(self._deliver(row, content, token, fresh, prepared.waits.get(row.id)))
        return len(rows)

    # -- messages planned in this process (herald.pipeline.handoff) -------------------------------------
    def offer(self) -> Handoff | None:
        """A handoff for a transaction about to plan messages, while this dispatcher runs and has room. The
        room is what is free now; transactions offered at once may together take more (each API send has its
        own), and what finds no free slot when adopted waits in the backlog: never more than
        ``concurrency`` sends at a time."""
        room = min(self.batch, self._free())
        if not self._running or room <= 0:
            return None
        return Handoff(token=claims.new_token(), room=room, lease_seconds=self.lease_seconds)

    def adopt(self, handoff: Handoff | None) -> None:
        """Send the messages a committed transaction handed over, as if this dispatcher had claimed them."""
        if handoff is None or handoff.void:
            return
        if not self._running:  # stopped since the offer: nothing would record outcomes; see release_orphans
            if handoff.taken:
                self._orphans.append(handoff.token)
            return
        for row in handoff.rows():
            self._start(self._deliver(row, handoff.contents[row.id], handoff.token))

    async def release_orphans(self) -> None:
        """Once everything that plans messages in this process has stopped: put back in the queue what was
        handed over after this dispatcher stopped, for another process to send now rather than after the
        lease (a minute of delay for an alert, at every restart)."""
        orphans, self._orphans = self._orphans, []
        if not orphans:
            return
        try:
            async with self._write_lock, self.engine.begin() as conn:
                await conn.run_sync(requeue, orphans)
            log.info("dispatch.handoff_requeued", handoffs=len(orphans))
        except Exception:  # their leases still expire, and recovery puts them back then
            log.exception("dispatch.handoff_requeue_failed", handoffs=len(orphans))

    def _free(self) -> int:
        return self.concurrency - len(self._inflight) - len(self._backlog)

    def _start(self, delivery: Coroutine[Any, Any, None]) -> None:
        if len(self._inflight) >= self.concurrency:
            self._backlog.append(delivery)
            return
        task = asyncio.create_task(delivery)
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._backlog:
            self._start(self._backlog.popleft())
        self._slot_free.set()
        if not task.cancelled() and task.exception():
            log.error("dispatch.task_crashed", error=repr(task.exception()))

    # -- one message ------------------------------------------------------------------------------------
    async def _deliver(self, row: Row[Any], content: dict[str, Any], token: str,
                       fresh: dict[str, Any] | None = None, wait: float | None = None) -> None:
        if wait:
            await asyncio.sleep(wait)
        outcome = await self._attempt(row, content, token)
        outcome.content = fresh
        self._record(outcome)

    async def _attempt(self, row: Row[Any], content: dict[str, Any], token: str) -> Outcome:
        started = datetime.now(UTC)
        if row.expires_at is not None and row.expires_at <= started:
            return outcomes.expired(row, token, started)
        if row.attempts > self.retry.max_attempts:  # workers kept dying on it: stop trying
            why = f"gave up after {row.attempts - 1} attempts; the last ones never finished"
            return outcomes.failed(row, token, started, "retries_exhausted", why, attempt=None)
        live = await self.providers.get(row.provider_id) if row.provider_id else None
        if live is None or live.instance is None or not live.enabled:
            why = live.error if live and live.error else "provider is missing or disabled"
            return outcomes.failed(row, token, started, "no_provider", why, attempt=None)
        if live.bucket is not None:
            await live.bucket.acquire()
            started = datetime.now(UTC)
            if row.expires_at is not None and row.expires_at <= started:
                return outcomes.expired(row, token, started)
        if row.to_address in self.opted_out and row.source != policy.ANSWER_SOURCE:
            return outcomes.skipped(row, token, started, "opted_out",
                                    "Not sent: the recipient replied STOP just before it went out")
        envelope = Envelope(
            message_id=row.id, channel=row.channel, to=row.to_address, content=content, sender=row.sender,
            callback_url=f"{self.public_url}/webhooks/{live.kind}/{live.id}/status?mid={row.id}",
            created_at=row.created_at, headers=content.get("headers") or {},
        )
        return await self._call(live, row, token, envelope, started)

    async def _call(
        self, live: LiveProvider, row: Row[Any], token: str, envelope: Envelope, started: datetime
    ) -> Outcome:
        assert live.instance is not None
        clock = time.perf_counter()
        kind = "sent"
        try:
            result: SendResult | None = None
            if row.reason == "ambiguous":
                # The last attempt may have reached the provider: ask before sending again.
                result = await live.instance.reconcile(envelope, row.created_at - timedelta(minutes=1))
            if result is None:
                result = await live.instance.send(envelope)
            return outcomes.sent(row, token, started, live, result)
        except TransientError as exc:
            kind = "ambiguous" if exc.maybe_sent else "transient"
            return self._transient(row, token, started, live, exc)
        except PermanentError as exc:
            kind = "permanent"
            return outcomes.failed(
                row, token, started, exc.code or "rejected", f"{live.kind} refused it: {exc.message}",
                attempt=outcomes.attempt(row, started, live, "permanent", exc.code, exc.message),
            )
        except Exception as exc:  # a provider bug must not lose the message: treat as transient
            kind = "error"
            log.exception("dispatch.provider_crashed", kind=live.kind, to=mask_address(row.to_address))
            err = TransientError(f"unexpected provider error: {exc!r}", maybe_sent=True)
            return self._transient(row, token, started, live, err)
        finally:
            if self.metrics:
                self.metrics.provider_latency.labels(live.kind, kind).observe(time.perf_counter() - clock)
                self.metrics.sends.labels(row.channel, live.kind, kind).inc()

    def _transient(
        self, row: Row[Any], token: str, started: datetime, live: LiveProvider, exc: TransientError
    ) -> Outcome:
        outcome = "ambiguous" if exc.maybe_sent else "transient"
        attempt = outcomes.attempt(row, started, live, outcome, exc.code, exc.message)
        if self.retry.exhausted(row.attempts):
            why = f"gave up after {row.attempts} attempts; last: {exc.message}"
            return outcomes.failed(row, token, started, "retries_exhausted", why, attempt=attempt)
        due = started + timedelta(seconds=self.retry.delay(row.attempts, exc.retry_after))
        if row.expires_at is not None and due >= row.expires_at:
            return outcomes.expired(row, token, started, attempt=attempt, why=exc.message)
        return outcomes.retrying(row, token, started, due, outcome, exc.message, attempt)

    # -- recording --------------------------------------------------------------------------------------
    def _record(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self.batch:
            self._pending_ready.set()

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while True:
            await _wait_any(stop, self._pending_ready, timeout=self.flush_interval)
            self._pending_ready.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                await self._flush(batch)
            if stop.is_set() and not self._inflight and not self._pending:
                return

    async def _flush(self, batch: list[Outcome]) -> None:
        for attempt_no in range(1, 100):
            try:
                async with self._write_lock, self._outcome_connection() as conn:
                    await outcomes.write(conn, batch)
                return
            except Exception:
                # The database is unreachable or locked: the leases still protect these messages, so keep
                # trying; if we never manage, recovery re-sends them after the lease expires.
                log.exception("dispatch.flush_failed", attempt=attempt_no, size=len(batch))
                await asyncio.sleep(min(5.0, 0.1 * attempt_no))

    @contextlib.asynccontextmanager
    async def _outcome_connection(self) -> AsyncIterator[AsyncConnection]:
        """Where a batch of outcomes is written. On PostgreSQL that is one statement, atomic on its own, so
        it runs without BEGIN and COMMIT (two of its three round trips); SQLite writes several statements, in
        a transaction."""
        if self.engine.dialect.name != "postgresql":
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _recover_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self._write_lock, self.engine.begin() as conn:
                    ids = await outcomes.recover_expired_leases(conn, datetime.now(UTC))
                if ids:
                    log.warning("dispatch.recovered", count=len(ids))
                    self.wakeup.set()
            except Exception:
                log.exception("dispatch.recover_failed")
            await _wait_any(stop, asyncio.Event(), timeout=max(1.0, min(30.0, self.lease_seconds / 4)))


async def _wait_any(stop: asyncio.Event, other: asyncio.Event, *, timeout: float) -> None:  # noqa: ASYNC109
    """Sleep until ``stop`` or ``other`` is set, or ``timeout`` passes."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
