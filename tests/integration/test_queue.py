"""The claim/lease module and the job runner on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db.session import make_engine
from herald.queue import claim as claims
from herald.queue import jobs
from herald.queue.models import JOBS


@pytest.fixture
async def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url, pool_size=2)
    yield engine
    await engine.dispose()


async def _claim(conn: AsyncConnection, now: datetime, limit: int = 10, lease: float = 30) -> tuple[str, list[Any]]:
    return await claims.claim(conn, JOBS, now=now, limit=limit, lease_seconds=lease, running_state="running",
                              returning=(JOBS.c.id, JOBS.c.attempts))


async def test_claims_are_disjoint_due_only_and_in_order(engine) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for i in range(5):
            await jobs.enqueue(conn, "x", {"i": i}, due_at=now - timedelta(seconds=10 - i))
        await jobs.enqueue(conn, "x", {"i": "later"}, due_at=now + timedelta(hours=1))
    async with engine.begin() as conn:
        t1, first = await _claim(conn, now, limit=3)
    async with engine.begin() as conn:
        t2, second = await _claim(conn, now, limit=10)
    assert len(first) == 3
    assert len(second) == 2  # the future job is not due
    assert not {r.id for r in first} & {r.id for r in second}
    assert t1 != t2
    assert all(r.attempts == 1 for r in first + second)


async def test_expired_lease_is_recovered_and_the_old_holder_is_fenced(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        job_id = await jobs.enqueue(conn, "x")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        old_token, rows = await _claim(conn, now, lease=5)
    assert [r.id for r in rows] == [job_id]
    later = now + timedelta(seconds=6)
    async with engine.begin() as conn:
        assert await claims.recover(conn, JOBS, now=later, running_state="running") == [job_id]
        new_token, rows = await _claim(conn, later)
    assert [r.attempts for r in rows] == [2]
    async with engine.begin() as conn:  # the first worker wakes up and tries to record its result
        stale = await conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.lease_token == old_token)
                                   .values(state="done"))
        assert stale.rowcount == 0
        held = (await conn.execute(select(JOBS.c.lease_token, JOBS.c.state).where(JOBS.c.id == job_id))).one()
        assert tuple(held) == (new_token, "running")


async def test_job_runner_runs_retries_fails_and_reschedules(engine) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    async def ok(conn: AsyncConnection, job: Any) -> datetime | None:
        calls.append(job.payload["name"])
        return None

    async def flaky(conn: AsyncConnection, job: Any) -> datetime | None:
        calls.append("flaky")
        raise RuntimeError("boom")

    async def periodic(conn: AsyncConnection, job: Any) -> datetime | None:
        calls.append("tick")
        return datetime.now(UTC) + timedelta(hours=1)

    runner = jobs.JobRunner(engine, {"ok": ok, "flaky": flaky, "tick": periodic})
    async with engine.begin() as conn:
        await jobs.enqueue(conn, "ok", {"name": "a"})
        await jobs.enqueue(conn, "flaky", max_attempts=2)
        await jobs.enqueue(conn, "tick", unique_key="periodic:tick")
        assert await jobs.enqueue(conn, "tick", unique_key="periodic:tick") is None  # one live job per key
        await jobs.enqueue(conn, "another-runners-kind", max_attempts=1)
    assert await runner.run_once() == 3
    async with engine.connect() as conn:
        rows = {r.kind: r for r in (await conn.execute(select(JOBS))).all()}
    assert rows["ok"].state == "done"
    assert rows["flaky"].state == "retrying"
    assert "boom" in rows["flaky"].last_error
    assert rows["tick"].state == "queued"
    assert rows["tick"].due_at > datetime.now(UTC) + timedelta(minutes=59)
    # A kind it has no handler for is another runner's (journey timers, or imports in `herald import`): left
    # queued, never claimed and failed here.
    other = rows["another-runners-kind"]
    assert (other.state, other.attempts, other.lease_token, other.last_error) == ("queued", 0, None, None)
    async with engine.begin() as conn:  # make the retry due now
        await conn.execute(update(JOBS).where(JOBS.c.kind == "flaky").values(due_at=datetime.now(UTC)))
    assert await runner.run_once() == 1
    async with engine.connect() as conn:
        flaky_row = (await conn.execute(select(JOBS).where(JOBS.c.kind == "flaky"))).one()
    assert flaky_row.state == "failed"
    assert calls.count("flaky") == 2
    assert calls[:1] == ["a"]


async def test_idempotency_keys_are_purged_after_a_day(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from herald.messages.models import IdempotencyKey

    async with engine.begin() as conn:
        await conn.execute(insert(JOBS.metadata.tables["workspaces"]).values(
            id="ws_x", name="x", default_region="US", created_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
        for key, age in (("old", 25), ("new", 1)):
            await conn.execute(insert(IdempotencyKey).values(
                workspace_id="ws_x", key=key, request_hash="h", status_code=202, response={},
                created_at=datetime.now(UTC) - timedelta(hours=age)))
        again = await jobs.purge_idempotency_keys(conn, None)  # type: ignore[arg-type]
        left = (await conn.execute(select(IdempotencyKey.key))).scalars().all()
    assert left == ["new"]
    assert again is not None


async def test_an_outcome_from_a_lost_lease_changes_nothing_but_the_attempt(  # type: ignore[no-untyped-def]
    engine, settings
) -> None:
    from herald.bootstrap import first_start
    from herald.crypto import Keyring
    from herald.db.session import make_sessionmaker, unit_of_work
    from herald.messages import service as messages
    from herald.messages.models import ATTEMPTS, EVENTS, MESSAGES, SENDING
    from herald.pipeline import outcomes
    from herald.providers.models import Provider

    await first_start(settings, engine, Keyring.from_settings(settings))
    now = datetime.now(UTC)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        provider = await session.scalar(select(Provider).where(Provider.channel == "sms"))
        await messages.bulk_enqueue(session, [{
            "id": "msg_fence", "workspace_id": "ws_default", "channel": "sms", "provider_id": provider.id,
            "to_address": "+14155550100", "content": {"body": "x"}, "state": "queued", "due_at": now,
            "attempts": 0, "created_at": now, "updated_at": now, "meta": {}}])
    cols = (MESSAGES.c.id, MESSAGES.c.attempts, MESSAGES.c.due_at, MESSAGES.c.expires_at)
    async with engine.begin() as conn:
        old, rows = await claims.claim(conn, MESSAGES, now=now, limit=1, lease_seconds=1, running_state=SENDING,
                                       returning=cols)
    later = now + timedelta(seconds=2)
    async with engine.begin() as conn:
        assert await outcomes.recover_expired_leases(conn, later) == ["msg_fence"]
        new, _ = await claims.claim(conn, MESSAGES, now=later, limit=1, lease_seconds=30, running_state=SENDING,
                                    returning=cols)
    live: Any = type("Live", (), {"id": provider.id, "kind": "file"})()
    stale = outcomes.failed(rows[0], old, later, "rejected", "late news", attempt=outcomes.attempt(
        rows[0], now, live, "permanent", "x", "late news"))
    async with engine.begin() as conn:
        await outcomes.write(conn, [stale])
    async with engine.connect() as conn:
        msg = (await conn.execute(select(MESSAGES).where(MESSAGES.c.id == "msg_fence"))).one()
        states = (await conn.execute(select(EVENTS.c.state).where(EVENTS.c.message_id == "msg_fence"))).scalars()
        tries = (await conn.execute(select(ATTEMPTS.c.outcome).where(ATTEMPTS.c.message_id == "msg_fence"))).all()
    assert (msg.state, msg.lease_token, msg.reason) == ("sending", new, "ambiguous")
    assert list(states) == ["retrying"]  # the recovery, not the stale failure
    assert len(tries) == 1  # the call did happen, so its attempt is kept
