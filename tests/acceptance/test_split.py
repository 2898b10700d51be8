"""`herald api` and `herald worker` as separate processes over PostgreSQL: a new message wakes the worker
through LISTEN/NOTIFY, long before its next poll."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.acceptance import helpers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_api_and_worker_apart_with_notify_wakeups(tmp_path: Path, pg_url: str) -> None:
    port = helpers.free_port()
    base = f"http://127.0.0.1:{port}"
    env = helpers.herald_env(tmp_path, pg_url, port, HERALD_CLIENT_ID="cli_split",
                             HERALD_CLIENT_SECRET="hs_split_secret_0123456789", HERALD_POLL_INTERVAL="30")
    assert helpers.start(["migrate"], env, tmp_path / "migrate.log").wait(60) == 0
    api = helpers.start(["api"], env, tmp_path / "api.log")
    worker = helpers.start(["worker"], env, tmp_path / "worker.log")
    try:
        helpers.wait_ready(base, api, tmp_path / "api.log")
        time.sleep(1.5)  # let the worker finish its first (empty) poll and start listening
        tok = helpers.token(base, "cli_split", "hs_split_secret_0123456789")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tok}"}) as c:
            sent = c.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "OTP 123456"})
            assert sent.status_code == 202
            mid = sent.json()["id"]
            deadline = time.monotonic() + 10
            while (msg := c.get(f"/v1/messages/{mid}").json())["state"] != "delivered":
                assert time.monotonic() < deadline, msg
                time.sleep(0.05)
        took = datetime.fromisoformat(msg["delivered_at"]) - datetime.fromisoformat(msg["created_at"])
        assert took.total_seconds() < 5, f"woken by the 30 s poll, not by NOTIFY ({took})"
    finally:
        helpers.stop(api)
        helpers.stop(worker)
