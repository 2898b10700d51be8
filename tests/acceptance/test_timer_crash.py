"""Thousands of journey runs waiting on timers survive `kill -9` of their worker while the timers fire: after
a restart every timer fires exactly once (one message per run, none twice, none lost), and the first overdue
timer fires right after the new worker starts -- not after a lease expires (the lease here is 60 s)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from herald.auth.models import Workspace
from herald.bootstrap import DEFAULT_WORKSPACE, first_start
from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.events import ingest
from herald.events import service as event_types
from herald.events.schemas import EventContact, EventIn, EventTypeIn
from herald.messages.models import Message
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings
from herald.templates import service as templates
from herald.templates.liquid import Renderer
from herald.templates.schemas import TemplateCreate
from herald.triggers import service as triggers
from herald.triggers.models import JourneyRun
from herald.triggers.schemas import TriggerIn
from herald.triggers.sending import SendContext
from tests.acceptance import helpers

pytestmark = pytest.mark.slow
WAIT = 8.0
"""Seconds every run waits: the timers come due a few seconds after seeding, within its span of each other."""


async def _seed(settings: Settings, runs: int) -> tuple[str, datetime]:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    await first_start(settings, engine, Keyring.from_settings(settings))
    renderer = Renderer()
    sessions = make_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        workspace = await session.get(Workspace, DEFAULT_WORKSPACE)
        assert workspace is not None
        await providers.create(session, Keyring.from_settings(settings), workspace.id, ProviderCreate(
            name="outbox", kind="file", channel="sms", settings={}), actor="test")
        await templates.create(session, renderer, workspace.id, TemplateCreate(
            name="later", channel="sms", variants={"en": {"body": "Reminder for order {{ event.order }}"}}), "test")
        await event_types.create(session, workspace.id, EventTypeIn(name="ordered"), "test")
        await session.flush()
        made, _ = await triggers.create(session, workspace, TriggerIn.model_validate({
            "name": "Remind", "description": "a reminder after a wait", "event_type": "ordered", "steps": [
                {"type": "wait", "duration": f"PT{int(WAIT)}S"},
                {"type": "send", "channel": "sms", "template": "later"}]}), "test", renderer)
        trigger_id = made.id
    for start in range(0, runs, 500):
        # Each batch happens when it is sent: a run's wait is judged from its event's occurred_at, so one time
        # for all would make the last batches late on a slow machine (seeding past WAIT) and send at once.
        base = datetime.now(UTC)
        async with unit_of_work(sessions) as session:
            workspace = await session.get(Workspace, DEFAULT_WORKSPACE)
            assert workspace is not None
            items = [EventIn(type="ordered", contact=EventContact(phone=f"+4475{i:08d}"), payload={"order": i},
                             occurred_at=base) for i in range(start, min(runs, start + 500))]
            await ingest.ingest(session, workspace, items, ctx=SendContext(renderer), batch=True)
    await engine.dispose()
    return trigger_id, base + timedelta(seconds=WAIT)


async def _state(url: str, trigger_id: str) -> tuple[int, list[datetime], collections.Counter[str], int]:
    """Messages the trigger planned, their creation times, per-address counts, and runs still waiting.

    The runs are counted first: on PostgreSQL each statement sees what was committed when it began, so a
    timer batch committed between the two reads would otherwise show its runs done and its messages missing."""
    engine = make_engine(url, pool_size=1)
    async with make_sessionmaker(engine)() as session:
        waiting = int(await session.scalar(select(func.count()).select_from(JourneyRun).where(
            JourneyRun.trigger_id == trigger_id, JourneyRun.state == "waiting")) or 0)
        rows = (await session.execute(select(Message.to_address, Message.created_at).where(
            Message.source_id == trigger_id))).all()
    await engine.dispose()
    return len(rows), [r[1] for r in rows], collections.Counter(r[0] for r in rows), waiting


class Poll:
    """Counts the trigger's messages over one plain connection: cheap enough to poll every few milliseconds,
    so the kill lands while timers are still firing."""

    def __init__(self, url: str, trigger_id: str) -> None:
        self.trigger_id = trigger_id
        if url.startswith("sqlite"):
            self.conn: Any = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
            self.sql = "SELECT count(*) FROM messages WHERE source_id = ?"
        else:
            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)
            self.sql = "SELECT count(*) FROM messages WHERE source_id = %s"

    def fired(self) -> int:
        return int(self.conn.execute(self.sql, (self.trigger_id,)).fetchone()[0])

    def close(self) -> None:
        self.conn.close()


def test_kill_9_while_timers_fire(tmp_path: Path, db_url: str) -> None:
    runs = 3000 if db_url.startswith("sqlite") else 1500
    env = helpers.herald_env(tmp_path, db_url, helpers.free_port(), HERALD_LEASE_SECONDS="60",
                             HERALD_POLL_INTERVAL="0.25")
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=env["HERALD_SECRET_KEY"])
    trigger_id, due = asyncio.run(_seed(settings, runs))
    assert asyncio.run(_state(db_url, trigger_id))[3] == runs
    poll = Poll(db_url, trigger_id)
    worker = helpers.start(["worker"], env, tmp_path / "worker0.log")
    try:
        deadline = time.monotonic() + 60
        while poll.fired() == 0:
            assert worker.poll() is None, (tmp_path / "worker0.log").read_text()
            assert time.monotonic() < deadline, "no timer fired"
            time.sleep(0.005)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        poll.close()
        before, _, _, _ = asyncio.run(_state(db_url, trigger_id))
        assert before < runs, "every timer fired before the kill; the test proves nothing"
        restarted = datetime.now(UTC)
        worker = helpers.start(["worker"], env, tmp_path / "worker1.log")
        deadline = time.monotonic() + 120
        while (state := asyncio.run(_state(db_url, trigger_id)))[3]:
            assert worker.poll() is None, (tmp_path / "worker1.log").read_text()
            assert time.monotonic() < deadline, f"{state[3]} runs still waiting"
            time.sleep(0.2)
    finally:
        helpers.stop(worker)
    total, created, per_address, _ = state
    assert total == runs, f"{total} messages for {runs} timers"
    assert max(per_address.values()) == 1, "a timer fired twice"
    after = sorted(c for c in created if c >= restarted)
    assert after, "nothing was left for the restarted worker"
    first_late = (after[0] - restarted).total_seconds()
    assert first_late < 10, f"the first overdue timer fired {first_late:.1f}s after the restart"
    print(f"\ntimer crash test: {before} of {runs} fired before the kill (the last due {due:%H:%M:%S}); the rest began "
          f"{first_late:.2f}s after the restart (process start included) and took "
          f"{(after[-1] - after[0]).total_seconds():.2f}s")
