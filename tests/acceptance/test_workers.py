"""Several worker processes over one PostgreSQL database share the queue without sending any message twice."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import pytest

from herald.fakes.twilio import FakeTwilio
from herald.settings import Settings
from tests.acceptance import helpers

pytestmark = pytest.mark.slow
SID, AUTH = "AC" + "6" * 32, "workers-twilio-token"
TOTAL, WORKERS = 3000, 3


@pytest.mark.postgres
def test_three_workers_send_each_message_exactly_once(tmp_path: Path, pg_url: str) -> None:
    db_url = pg_url
    env = helpers.herald_env(tmp_path, db_url, helpers.free_port(), HERALD_WORKER_CONCURRENCY="50",
                             HERALD_CLAIM_BATCH="25", HERALD_POLL_INTERVAL="0.05")
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=env["HERALD_SECRET_KEY"])
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callbacks=False).running() as twilio:
        twilio.fail("slow", count=TOTAL, delay=0.01)  # overlap the workers' claims
        asyncio.run(helpers.seed_sms(settings, twilio.base_url, TOTAL, SID, AUTH))
        workers = [helpers.start(["worker"], env, tmp_path / f"worker{i}.log") for i in range(WORKERS)]
        try:
            deadline = time.monotonic() + 120
            while (counts := asyncio.run(helpers.counts(db_url))).get("sent", 0) < TOTAL:
                assert all(w.poll() is None for w in workers), "a worker died"
                assert time.monotonic() < deadline, f"not finished: {counts}"
                time.sleep(0.3)
        finally:
            for w in workers:
                helpers.stop(w)
    per_body = collections.Counter(m["body"] for m in twilio.messages)
    assert len(per_body) == TOTAL
    assert max(per_body.values()) == 1, [b for b, n in per_body.items() if n > 1][:5]
    assert counts == {"sent": TOTAL}
