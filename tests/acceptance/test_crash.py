"""kill -9 a worker in the middle of a few thousand sends, start another: every message reaches the fake
Twilio, none is lost, and none twice except (at most) those in flight at the kill."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from herald import ids
from herald.bootstrap import first_start
from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.fakes.twilio import FakeTwilio
from herald.messages import service as messages
from herald.messages.models import FINAL, Message
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings
from tests.acceptance import helpers

pytestmark = pytest.mark.slow
SID, AUTH = "AC" + "4" * 32, "crash-twilio-token"
TOTAL = 3000
CONCURRENCY = 100


async def _seed(settings: Settings, twilio_url: str) -> None:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    keyring = Keyring.from_settings(settings)
    await first_start(settings, engine, keyring)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        provider = await providers.create(session, keyring, "ws_default", ProviderCreate(
            name="twilio", kind="twilio", priority=10, settings={
                "account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199", "base_url": twilio_url}),
            actor="test")
        await session.flush()
        now = datetime.now(UTC)
        rows = [{
            "id": ids.new_id("msg"), "workspace_id": "ws_default", "source": "api", "channel": "sms",
            "provider_id": provider.id, "to_address": f"+4477009{i % 1000:05d}", "content": {"body": f"crash {i}"},
            "classification": "transactional", "priority": 0, "meta": {}, "state": "queued", "due_at": now,
            "attempts": 0, "created_at": now, "updated_at": now,
        } for i in range(TOTAL)]
        await messages.bulk_enqueue(session, rows)
    await engine.dispose()


async def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Message.state, func.count()).group_by(Message.state))).all()
    await engine.dispose()
    return {state: int(n) for state, n in rows}


def test_kill_9_mid_send_loses_nothing(tmp_path: Path, db_url: str) -> None:
    port = helpers.free_port()
    env = helpers.herald_env(tmp_path, db_url, port, HERALD_LEASE_SECONDS="5",
                             HERALD_WORKER_CONCURRENCY=str(CONCURRENCY), HERALD_CLAIM_BATCH="100",
                             HERALD_POLL_INTERVAL="0.05")
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=env["HERALD_SECRET_KEY"])
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callbacks=False).running() as twilio:
        twilio.fail("slow", count=TOTAL * 2, delay=0.02)  # keep many requests in flight
        asyncio.run(_seed(settings, twilio.base_url))
        first = helpers.start(["worker"], env, tmp_path / "worker1.log")
        deadline = time.monotonic() + 60
        while len(twilio.messages) < TOTAL // 3:
            assert first.poll() is None, (tmp_path / "worker1.log").read_text()
            assert time.monotonic() < deadline, "the first worker made no progress"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = len(twilio.messages)

        second = helpers.start(["worker"], env, tmp_path / "worker2.log")
        try:
            deadline = time.monotonic() + 120
            while True:
                counts = asyncio.run(_counts(db_url))
                if sum(n for s, n in counts.items() if s in FINAL or s == "sent") == TOTAL:
                    break
                assert time.monotonic() < deadline, f"not finished: {counts}"
                time.sleep(0.5)
        finally:
            helpers.stop(second)

    assert counts == {"sent": TOTAL}, counts
    per_body = collections.Counter(m["body"] for m in twilio.messages)
    assert set(per_body) == {f"crash {i}" for i in range(TOTAL)}, "a message was lost"
    duplicates = sum(n - 1 for n in per_body.values())
    assert duplicates <= CONCURRENCY, f"{duplicates} duplicates (at most those in flight may repeat)"
    assert at_kill < TOTAL, "the kill came too late to test anything"
    print(f"\ncrash test: {at_kill} sent before the kill, {duplicates} duplicates")
