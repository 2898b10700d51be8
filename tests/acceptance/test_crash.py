"""kill -9 a worker in the middle of a few thousand sends, start another: every message reaches the fake
Twilio, none is lost, and none twice except (at most) those in flight at the kill."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from pathlib import Path

import pytest

from herald.fakes.twilio import FakeTwilio
from herald.messages.models import FINAL
from herald.settings import Settings
from tests.acceptance import helpers

pytestmark = pytest.mark.slow
SID, AUTH = "AC" + "4" * 32, "crash-twilio-token"
TOTAL = 3000
CONCURRENCY = 100


def test_kill_9_mid_send_loses_nothing(tmp_path: Path, db_url: str) -> None:
    port = helpers.free_port()
    env = helpers.herald_env(tmp_path, db_url, port, HERALD_LEASE_SECONDS="5",
                             HERALD_WORKER_CONCURRENCY=str(CONCURRENCY), HERALD_CLAIM_BATCH="100",
                             HERALD_POLL_INTERVAL="0.05")
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=env["HERALD_SECRET_KEY"])
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callbacks=False).running() as twilio:
        twilio.fail("slow", count=TOTAL * 2, delay=0.02)  # keep many requests in flight
        asyncio.run(helpers.seed_sms(settings, twilio.base_url, TOTAL, SID, AUTH))
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
                counts = asyncio.run(helpers.counts(db_url))
                if sum(n for s, n in counts.items() if s in FINAL or s == "sent") == TOTAL:
                    break
                assert time.monotonic() < deadline, f"not finished: {counts}"
                time.sleep(0.5)
        finally:
            helpers.stop(second)

    assert counts == {"sent": TOTAL}, counts
    per_body = collections.Counter(m["body"] for m in twilio.messages)
    assert set(per_body) == {f"sms {i}" for i in range(TOTAL)}, "a message was lost"
    duplicates = sum(n - 1 for n in per_body.values())
    assert duplicates <= CONCURRENCY, f"{duplicates} duplicates (at most those in flight may repeat)"
    assert at_kill < TOTAL, "the kill came too late to test anything"
    print(f"\ncrash test: {at_kill} sent before the kill, {duplicates} duplicates")
