"""`herald serve` as a real process: first start, then SMS and email through the fake Twilio and fake SMTP,
signed status callbacks back into Herald, and the message reaching `delivered`."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.fakes.smtp import FakeSmtp
from herald.fakes.twilio import FakeTwilio
from tests.acceptance import helpers

pytestmark = pytest.mark.slow
SID, AUTH = "AC" + "3" * 32, "acceptance-twilio-token"


def _until(client: httpx.Client, mid: str, states: set[str], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = client.get(f"/v1/messages/{mid}").json()
        if data["state"] in states:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"message stuck in {data['state']}: {json.dumps(data, indent=1)}")
        time.sleep(0.1)


def test_serve_delivers_sms_and_email_and_takes_signed_receipts(tmp_path: Path, db_url: str) -> None:
    port = helpers.free_port()
    base = f"http://127.0.0.1:{port}"
    env = helpers.herald_env(tmp_path, db_url, port, HERALD_CLIENT_ID="cli_accept",
                             HERALD_CLIENT_SECRET="hs_accept_secret_0123456789", HERALD_PUBLIC_URL=base)
    log = tmp_path / "serve.log"
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callback_delay=0.05).running() as twilio, \
            FakeSmtp().running() as smtp:
        proc = helpers.start(["serve"], env, log)
        try:
            helpers.wait_ready(base, proc, log)
            tok = helpers.token(base, "cli_accept", "hs_accept_secret_0123456789")
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tok}"}, timeout=10) as c:
                r = c.post("/v1/providers", json={"name": "twilio", "kind": "twilio", "priority": 10, "settings": {
                    "account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199",
                    "base_url": twilio.base_url}})
                assert r.status_code == 201, r.text
                r = c.post("/v1/providers", json={"name": "mail", "kind": "smtp", "priority": 10, "settings": {
                    "host": "127.0.0.1", "port": smtp.port, "security": "none",
                    "from_email": "alerts@bank.example", "from_name": "Yes Bank"}})
                assert r.status_code == 201, r.text

                sms = c.post("/v1/messages", json={"channel": "sms", "to": "+14155550100",
                                                    "body": "ATM withdrawal of $200.00, card 1234"}).json()
                mail = c.post("/v1/messages", json={"channel": "email", "to": "jane@example.com",
                                                     "subject": "Paiement dû — €120", "text": "Bonjour Jane",
                                                     "html": "<p>Bonjour <b>Jane</b> 👋</p>"}).json()
                delivered = _until(c, sms["id"], {"delivered", "failed", "undelivered"})
                assert delivered["state"] == "delivered", delivered
                assert [t["state"] for t in delivered["timeline"]] == [
                    "queued", "sending", "sent", "delivered"]
                assert twilio.callback_failures == 0
                assert [m["body"] for m in twilio.messages] == ["ATM withdrawal of $200.00, card 1234"]

                sent = _until(c, mail["id"], {"sent", "delivered", "failed"})
                assert sent["state"] == "sent", sent
                assert len(smtp.messages) == 1
                record = smtp.messages[0]
                assert record.rcpt_tos == ("jane@example.com",)
                assert record.subject == "Paiement dû — €120"
                assert sent["provider_message_id"] == record.message_id

                metrics = c.get("/metrics").text
                assert 'herald_messages{channel="sms",state="delivered"} 1.0' in metrics
                assert "herald_provider_request_seconds_bucket" in metrics
        finally:
            helpers.stop(proc)


def test_first_start_prints_credentials_once_and_demo_providers_work(tmp_path: Path) -> None:
    port = helpers.free_port()
    base = f"http://127.0.0.1:{port}"
    db = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'herald.db'}"
    env = helpers.herald_env(tmp_path, db, port)
    log = tmp_path / "serve.log"
    proc = helpers.start(["serve"], env, log)
    try:
        helpers.wait_ready(base, proc, log)
        text = log.read_text()
        client_id = re.search(r"API client id:\s+(\S+)", text)
        secret = re.search(r"API secret:\s+(\S+)", text)
        assert client_id, text
        assert secret, text
        tok = helpers.token(base, client_id.group(1), secret.group(1))
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tok}"}) as c:
            mid = c.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "hello"}).json()["id"]
            assert _until(c, mid, {"delivered", "failed"})["state"] == "delivered"
        written = json.loads((tmp_path / "var" / "outbox" / f"{mid}.json").read_text())
        assert written["to"] == "+14155550100"
    finally:
        helpers.stop(proc)
    again = helpers.start(["migrate"], env, tmp_path / "migrate.log")
    assert again.wait(60) == 0
    assert "API secret" not in (tmp_path / "migrate.log").read_text()
