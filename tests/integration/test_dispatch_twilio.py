"""The dispatcher delivering SMS through the Twilio provider to the fake Twilio: success, retries with
backoff and Retry-After, permanent failures, expiry, ambiguous sends reconciled without duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from herald.fakes.twilio import FakeTwilio
from herald.settings import Settings
from tests.conftest import Running, _start, wait_for

SID = "AC" + "1" * 32
TOKEN = "twilio-test-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(account_sid=SID, auth_token=TOKEN, callbacks=False) as server:
        yield server


async def add_twilio(client: httpx.AsyncClient, fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    settings = {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550199",
                "base_url": fake.base_url, "timeout": 1.0} | extra.pop("settings", {})
    resp = await client.post("/v1/providers", json={"name": "twilio", "kind": "twilio", "priority": 10,
                                                    "settings": settings, **extra})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def send_sms(client: httpx.AsyncClient, body: str = "Your OTP is on its way", **extra: Any) -> str:
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": body, **extra})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def settled(client: httpx.AsyncClient, message_id: str, states: tuple[str, ...], timeout: float = 10
                  ) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data = (await client.get(f"/v1/messages/{message_id}")).json()
        return data if data["state"] in states else None

    return dict(await wait_for(check, timeout))


async def test_sms_is_sent_through_twilio_and_explained(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    provider = await add_twilio(client, fake)
    assert provider["secrets"] == {"auth_token": True, "api_key_secret": False}
    assert "auth_token" not in provider["settings"]
    mid = await send_sms(client)
    msg = await settled(client, mid, ("sent",))
    assert len(fake.messages) == 1
    assert fake.messages[0]["to"] == "+14155550100"
    assert fake.messages[0]["body"] == "Your OTP is on its way"
    assert msg["provider_message_id"] == fake.messages[0]["sid"]
    assert fake.messages[0]["status_callback"].endswith(f"/webhooks/twilio/{provider['id']}/status?mid={mid}")
    assert [t["state"] for t in msg["timeline"]] == ["queued", "sending", "sent"]
    assert [a["outcome"] for a in msg["attempts"]] == ["sent"]
    assert "twilio" in msg["explanation"]
    assert msg["content"] == {"body": "Your OTP is on its way"}


@pytest.mark.parametrize("mode", ["500", "429"])
async def test_transient_errors_retry_then_succeed(herald_with_worker: Running, fake: FakeTwilio, mode: str
                                                   ) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    fake.fail(mode, count=2, retry_after=1)
    mid = await send_sms(client)
    msg = await settled(client, mid, ("sent", "failed"), timeout=15)
    assert msg["state"] == "sent"
    assert [a["outcome"] for a in msg["attempts"]] == ["transient", "transient", "sent"]
    assert msg["attempt_count"] == 3
    assert len(fake.messages) == 1
    if mode == "429":  # Retry-After: 1 is honoured even though our backoff is 50 ms
        a = msg["attempts"]
        gap = datetime.fromisoformat(a[1]["started_at"]) - datetime.fromisoformat(a[0]["ended_at"])
        assert gap >= timedelta(seconds=0.95)
        assert a[0]["code"] == "20429"


async def test_retries_exhausted_fail_with_the_last_error(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    fake.fail("500", count=100)
    mid = await send_sms(client)
    msg = await settled(client, mid, ("failed",), timeout=20)
    assert msg["reason"] == "retries_exhausted"
    assert len(msg["attempts"]) == herald_with_worker.settings.max_attempts
    assert fake.messages == []


async def test_permanent_error_fails_at_once(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake, settings={"auth_token": "wrong-token"})
    mid = await send_sms(client)
    msg = await settled(client, mid, ("failed",))
    assert msg["reason"] == "20003"
    assert len(msg["attempts"]) == 1
    assert msg["attempts"][0]["outcome"] == "permanent"


async def test_expired_message_is_never_sent_late(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    fake.fail("429", count=5, retry_after=5)  # the retry would land after expires_at
    expires = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    mid = await send_sms(client, expires_at=expires)
    msg = await settled(client, mid, ("expired",), timeout=10)
    assert msg["reason"] == "expired"
    assert fake.messages == []


async def test_scheduled_message_waits_for_send_at(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    mid = await send_sms(client, send_at=at.isoformat())
    await asyncio.sleep(0.8)
    # Judged by when the fake received it, not by what this test saw after its sleep: under load the sleep can
    # end past send_at, when the message may rightly have gone.
    assert [m for m in fake.messages if m["received_at"] < at.timestamp()] == [], "sent before its send_at"
    msg = await settled(client, mid, ("sent",), timeout=10)
    assert datetime.fromisoformat(msg["sent_at"]) >= at
    assert [m["received_at"] >= at.timestamp() for m in fake.messages] == [True]


async def test_dropped_connection_is_reconciled_not_sent_twice(herald_with_worker: Running, fake: FakeTwilio
                                                              ) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    fake.fail("drop", count=1)  # Twilio accepted it, but the answer never came back
    mid = await send_sms(client)
    msg = await settled(client, mid, ("sent", "failed"), timeout=15)
    assert msg["state"] == "sent"
    assert len(fake.messages) == 1  # the retry asked Twilio first and found it
    assert msg["provider_message_id"] == fake.messages[0]["sid"]
    assert [a["outcome"] for a in msg["attempts"]] == ["ambiguous", "sent"]


async def test_rate_limit_spaces_sends(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake, rate_limit=10)
    started = asyncio.get_running_loop().time()
    ids = [await send_sms(client, body=f"n{i}") for i in range(20)]
    for mid in ids:
        await settled(client, mid, ("sent",), timeout=20)
    # A burst of 10 goes at once; the other 10 need about a second at 10/s.
    assert asyncio.get_running_loop().time() - started >= 0.8
    assert len(fake.messages) == 20


async def test_a_message_queued_while_a_claim_runs_is_sent_without_waiting_for_the_poll(
        settings: Settings, fake: FakeTwilio) -> None:
    """The dispatcher polls rarely (5 s here) and relies on wakes: a message committed after an empty claim's
    snapshot, with its wake given before that claim returned, must be claimed at once, not at the next poll."""
    app, lifespan = await _start(settings.model_copy(update={"poll_interval": 5.0}), with_worker=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            client = await Running(app, http, settings).authed()
            await add_twilio(client, fake)
            dispatcher = app.state.worker.dispatcher
            claim, during = dispatcher._claim, asyncio.Event()
            sent: list[str] = []

            async def claim_then_queue(limit: int) -> int:
                claimed = await claim(limit)
                if claimed == 0 and not sent:  # the claim saw nothing; a message commits before it returns
                    sent.append(await send_sms(client, "Queued while the dispatcher was claiming"))
                    during.set()
                return claimed

            dispatcher._claim = claim_then_queue
            dispatcher.wakeup.set()
            await asyncio.wait_for(during.wait(), 10)
            clock = asyncio.get_running_loop().time()
            await settled(client, sent[0], ("sent",), timeout=10)
            assert asyncio.get_running_loop().time() - clock < 2.5, "the wake was lost: sent at the next poll"
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
