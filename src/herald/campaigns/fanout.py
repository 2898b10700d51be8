"""The campaign job: plan every recipient in committed batches, then watch the sends until none is left.

Planning walks the audience in a fixed order (each list's priority rows first, then the rest, by member id)
and commits each batch of message rows together with the checkpoint that says where it ended, under the
job's lease: a crash, a restart or a takeover by another worker resumes after the last committed batch, so
no recipient is planned twice or left out. Pausing or stopping the campaign stops the walk at the next batch.

Watching: every few seconds the job counts the campaign's messages; when none waits any more the campaign
is ``completed``. When more than ``max_error_rate`` of its sends since it (re)started failed at the
provider, it pauses itself and says why."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from herald.campaigns import planner, progress
from herald.campaigns.models import CAMPAIGNS, COMPLETED, RUNNING, SCHEDULED, Campaign
from herald.campaigns.service import audience_size, hold
from herald.db.session import reading, write_lock
from herald.messages.models import FAILED, MESSAGES, QUEUED, RETRYING, SENDING
from herald.providers.models import Provider
from herald.queue.jobs import Lease

log = structlog.get_logger(__name__)
BATCH = 20_000
AHEAD = 2
"""Batches in flight at once on PostgreSQL: the next one's INSERT runs while the one before it finishes."""
WATCH_EVERY = timedelta(seconds=2)
MIN_SAMPLE = 50
"""Sends to see before judging a campaign's error rate."""
_k = CAMPAIGNS.c


async def run(engine: AsyncEngine, job: Row[Any], lease: Lease, *, batch: int = BATCH) -> datetime | None:
    campaign_id = job.payload["campaign_id"]
    async with write_lock(engine), AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await lease.keep(await session.connection())
        c = await session.get(Campaign, campaign_id)
        if c is None or c.state not in (SCHEDULED, RUNNING):
            return None  # ended, paused (resuming wakes this job again) or deleted
        if c.state == SCHEDULED:  # its start time came: count the audience as it is now
            now = datetime.now(UTC)
            c.state, c.started_at, c.updated_at = RUNNING, now, now
            c.total = await audience_size(session, c.list_ids)
        provider = await session.get(Provider, c.provider_id) if c.provider_id else None
        via = f"{provider.kind} ({provider.name})" if provider else "its provider"
    if not c.planned_all:
        if engine.dialect.name == "postgresql" and not c.checkpoint.get("after"):
            await _analyze(engine)
        spec = planner.Spec(
            campaign_id=c.id, workspace_id=c.workspace_id, channel=c.channel, classification=c.classification,
            dnc_lists=tuple(c.dnc_lists or ()), provider_id=c.provider_id, sender=c.sender,
            template_id=c.template_id, template_version=c.template_version,
            queued_explanation=f'Planned by campaign "{c.name}"; it will go out through {via}.',
            **planner.history(c.skip_notified_within_days, datetime.now(UTC)))
        if not await _plan(engine, c, spec, lease, batch):
            return None
    return await _watch(engine, c, lease)


async def _analyze(engine: AsyncEngine) -> None:
    """PostgreSQL plans each batch from its statistics; tables just filled by an import (or never analysed)
    would get plans that scan them whole for every batch."""
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE contacts, list_members, suppressions"))
        await conn.commit()


async def _plan(engine: AsyncEngine, c: Campaign, spec: planner.Spec, lease: Lease, batch: int) -> bool:
    """Plan batch after batch from the checkpoint; answer whether the whole audience is planned.

    On PostgreSQL the next batch's INSERT starts on a second connection while the one before it runs (one
    backend plans a batch on one core; the batch's work is CPU in the server). Each batch still commits with
    its checkpoint, and only after the batch before it committed, so the committed checkpoint always ends a
    committed prefix of the walk. A step (one list's priority rows or the rest) starts once the steps before it
    are committed: a contact on two lists is then seen by the next list's dedupe check."""
    steps = [(True, lid) for lid in c.list_ids] + [(False, lid) for lid in c.list_ids]
    step, after = int(c.checkpoint.get("step", 0)), int(c.checkpoint.get("after", 0))
    width = AHEAD if engine.dialect.name == "postgresql" else 1
    flight: deque[asyncio.Task[bool]] = deque()
    try:
        while step < len(steps):
            priority, list_id = steps[step]
            async with reading(engine) as conn:
                upto = await conn.scalar(planner.range_end(list_id, priority, after, batch))
            work = None if upto is None else _Range(list_id, priority, after, upto)
            step, after = (step + 1, 0) if upto is None else (step, upto)
            checkpoint = {**c.checkpoint, "step": step, "after": after}
            flight.append(asyncio.create_task(_commit(
                engine, c, spec, lease, work, checkpoint, step >= len(steps), flight[-1] if flight else None)))
            while flight and (len(flight) >= width or work is None):
                if not await flight.popleft():
                    return False
            await asyncio.sleep(0)  # let the dispatcher claim and flush between batches
    finally:  # a batch after one that failed or found the campaign stopped rolls back on its own
        await asyncio.gather(*flight, return_exceptions=True)
    log.info("campaign.planned", campaign_id=c.id)
    return True


@dataclass(frozen=True, slots=True)
class _Range:
    """The members of a list (its priority rows or the rest) with ids in ``(after, upto]``."""

    list_id: str
    priority: bool
    after: int
    upto: int


async def _commit(engine: AsyncEngine, c: Campaign, spec: planner.Spec, lease: Lease, work: _Range | None,
                  checkpoint: dict[str, Any], last: bool, before: asyncio.Task[bool] | None) -> bool:
    """Plan ``work`` (none: a step ended) and commit it with ``checkpoint``, once the batch ``before`` it has
    committed; answer False, committing nothing, when the campaign stopped running or ``before`` did."""
    try:
        async with write_lock(engine), engine.begin() as conn:
            await _plan_and_checkpoint(conn, c, spec, lease, work, checkpoint, last, before)
    except _Abandoned:  # raised inside the transaction, so that it rolls back: this batch's rows too
        return False
    c.checkpoint = checkpoint
    return True


class _Abandoned(Exception):
    """The campaign stopped running, or the batch before this one committed nothing."""


async def _plan_and_checkpoint(conn: AsyncConnection, c: Campaign, spec: planner.Spec, lease: Lease,
                               work: _Range | None, checkpoint: dict[str, Any], last: bool,
                               before: asyncio.Task[bool] | None) -> None:
    engine = conn.engine
    if await conn.scalar(select(_k.state).where(_k.id == c.id)) != RUNNING:
        raise _Abandoned
    if work is not None:
        if engine.dialect.name == "postgresql":
            # JIT-compiling this statement each batch cost more than running parts of it; and a batch reads
            # a few thousand contacts by key, where a hash join would scan the whole contacts table.
            await conn.execute(text("SET LOCAL jit = off"))
            await conn.execute(text("SET LOCAL enable_hashjoin = off"))
            await conn.execute(text("SET LOCAL enable_mergejoin = off"))
        now = datetime.now(UTC)
        await conn.execute(planner.batch(spec, engine.dialect.name, list_id=work.list_id, priority=work.priority,
                                         after=work.after, upto=work.upto, dedupe=len(c.list_ids) > 1,
                                         due=now, now=now))
    if before is not None and not await before:
        raise _Abandoned
    await lease.keep(conn)
    await conn.execute(update(CAMPAIGNS).where(_k.id == c.id).values(
        checkpoint=checkpoint, planned_all=last, updated_at=datetime.now(UTC)))


async def _watch(engine: AsyncEngine, c: Campaign, lease: Lease) -> datetime | None:
    """Count on a read-only connection (a million-row count must not hold SQLite's write lock), then act
    under the lock only when there is something to change, re-checking what the count said."""
    async with reading(engine) as conn:
        counted = await progress.counts(conn, c.id, c.total)
        await conn.rollback()
    why = None if progress.pending(counted) == 0 else _too_many_errors(c, counted)
    async with write_lock(engine), engine.begin() as conn:
        await lease.keep(conn)
        if await conn.scalar(select(_k.state).where(_k.id == c.id)) != RUNNING:
            return None
        now = datetime.now(UTC)
        if progress.pending(counted) == 0 and not await _waiting(conn, c.id):
            failed = progress.provider_failures(counted)
            note = f"{failed} of {progress.finished_sends(counted)} sends failed at the provider" if failed else None
            await conn.execute(update(CAMPAIGNS).where(_k.id == c.id, _k.state == RUNNING).values(
                state=COMPLETED, state_reason=note, finished_at=now, updated_at=now))
            log.info("campaign.completed", campaign_id=c.id, planned=counted["planned"])
            return None
        if why is not None:
            last = await conn.scalar(select(MESSAGES.c.explanation).where(
                MESSAGES.c.source_id == c.id, MESSAGES.c.state == FAILED).order_by(MESSAGES.c.final_at.desc()).limit(1))
            why += f"; the latest: {last}" if last else ""
            await hold(conn, c.id, f"paused automatically: {why}")
            await conn.execute(update(CAMPAIGNS).where(_k.id == c.id, _k.state == RUNNING).values(
                state="paused", state_reason=f"Paused automatically: {why}", updated_at=now))
            log.warning("campaign.auto_paused", campaign_id=c.id, why=why)
            return None
    return now + WATCH_EVERY


async def _waiting(conn: AsyncConnection, campaign_id: str) -> bool:
    m = MESSAGES.c
    found = await conn.scalar(select(m.id).where(m.source_id == campaign_id,
                                                 m.state.in_((QUEUED, RETRYING, SENDING))).limit(1))
    return found is not None


def _too_many_errors(c: Campaign, counted: dict[str, Any]) -> str | None:
    """Judged on the sends since the campaign (re)started: a resumed campaign starts from a clean slate."""
    baseline = c.checkpoint.get("baseline") or {"failed": 0, "done": 0}
    failed = progress.provider_failures(counted) - baseline["failed"]
    done = progress.finished_sends(counted) - baseline["done"]
    if done < MIN_SAMPLE or failed <= c.max_error_rate * done:
        return None
    share = round(100 * failed / done)
    return f"{failed} of the last {done} sends failed ({share}%, above the {c.max_error_rate:.0%} limit)"
