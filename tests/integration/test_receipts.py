"""Twilio status callbacks: signature checked, states only move forward, duplicates change nothing."""

from __future__ import annotations

from typing import Any

from herald.channels.sms.twilio import compute_signature
from tests.conftest import Running

SID = "AC" + "2" * 32
TOKEN = "receipt-test-token"


async def _setup(herald: Running) -> tuple[Any, str, str]:
    client = await herald.authed()
    resp = await client.post("/v1/providers", json={"name": "tw", "kind": "twilio", "priority": 10, "settings": {
        "account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550199"}})
    provider_id = resp.json()["id"]
    mid = (await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "x"})).json()["id"]
    return client, provider_id, mid


async def _callback(herald: Running, provider_id: str, mid: str, status: str, *, sign: bool = True,
                    tamper: bool = False, **extra: str) -> int:
    path = f"/webhooks/twilio/{provider_id}/status?mid={mid}"
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": status, "AccountSid": SID, **extra}
    headers = {}
    if sign:
        headers["X-Twilio-Signature"] = compute_signature(TOKEN, herald.settings.effective_public_url + path, form)
    if tamper:
        form["MessageStatus"] = "delivered" if status != "delivered" else "undelivered"
    resp = await herald.client.post(path, data=form, headers=headers)
    return resp.status_code


async def test_signed_callbacks_move_state_forward_only(herald: Running) -> None:
    client, provider_id, mid = await _setup(herald)
    assert await _callback(herald, provider_id, mid, "sent") == 204
    assert await _callback(herald, provider_id, mid, "delivered") == 204
    assert await _callback(herald, provider_id, mid, "delivered") == 204  # duplicate
    assert await _callback(herald, provider_id, mid, "sent") == 204  # late, out of order
    msg = (await client.get(f"/v1/messages/{mid}")).json()
    assert msg["state"] == "delivered"
    assert msg["provider_message_id"] == "SM" + "a" * 32
    assert [t["state"] for t in msg["timeline"]] == ["queued", "sent", "delivered"]


async def test_undelivered_carries_the_error_code(herald: Running) -> None:
    client, provider_id, mid = await _setup(herald)
    assert await _callback(herald, provider_id, mid, "undelivered", ErrorCode="30003") == 204
    msg = (await client.get(f"/v1/messages/{mid}")).json()
    assert msg["state"] == "undelivered"
    assert msg["reason"] == "30003"


async def test_a_hard_bounce_suppresses_the_number_and_a_temporary_failure_does_not(herald: Running) -> None:
    client, provider_id, mid = await _setup(herald)
    assert await _callback(herald, provider_id, mid, "undelivered", ErrorCode="30003") == 204
    assert (await client.get("/v1/suppressions", params={"address": "+14155550100"})).json()["blocked"] is False
    bounced = (await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "y"})).json()
    assert await _callback(herald, provider_id, bounced["id"], "failed", ErrorCode="30005") == 204
    msg = (await client.get(f"/v1/messages/{bounced['id']}")).json()
    assert (msg["state"], msg["reason"]) == ("bounced", "30005")
    check = (await client.get("/v1/suppressions", params={"address": "+14155550100"})).json()
    assert check["blocked"] is True, check
    assert "bounce" in str(check)
    again = (await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "z"})).json()
    assert (again["state"], again["reason"]) == ("skipped", "suppressed")


async def test_unsigned_or_tampered_callbacks_are_refused(herald: Running) -> None:
    client, provider_id, mid = await _setup(herald)
    assert await _callback(herald, provider_id, mid, "delivered", sign=False) == 403
    assert await _callback(herald, provider_id, mid, "sent", tamper=True) == 403
    assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "queued"
    assert (await herald.client.post("/webhooks/twilio/prv_nope/status", data={"a": "b"})).status_code == 404
