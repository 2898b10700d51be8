"""Vonage webhooks on the real app (SQLite and PostgreSQL): delivery receipts move messages forward only and
bounce numbers off; inbound messages are stored once, normalised to E.164 and STOP is acted on; both are
refused unless signed (or, without a signature secret, carrying the provider's api-key). Through the worker, a
message goes out in Vonage's format and a STOP confirmation is sent through the fake Vonage."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from herald.channels.sms.vonage import compute_signature
from herald.fakes.vonage import FakeVonage
from tests.conftest import Running, wait_for

KEY, SECRET, SIGNING = "vonage01", "vonage-api-secret", "vonage-signature-secret"
OURS, THEM = "+14155550199", "+14155550123"
VID = "0B00000127FDBC63"
How = Literal["GET", "POST", "JSON"]


async def setup(herald: Running, **settings: Any) -> tuple[httpx.AsyncClient, str]:
    client = await herald.authed()
    values = {"api_key": KEY, "api_secret": SECRET, "from_number": OURS, "signature_secret": SIGNING} | settings
    resp = await client.post("/v1/providers", json={"name": "vonage", "kind": "vonage", "priority": 50,
                                                    "settings": {k: v for k, v in values.items() if v is not None}})
    assert resp.status_code == 201, resp.text
    return client, str(resp.json()["id"])


async def call(herald: Running, path: str, params: dict[str, str], how: How = "POST", *, sign: bool = True,
               secret: str = SIGNING, method: Any = "md5hash", tamper: dict[str, str] | None = None) -> int:
    """Call a webhook the way Vonage does: signed with ``timestamp`` and ``nonce`` unless ``sign`` is off."""
    if sign:
        params = {**params, "timestamp": "1700000000", "nonce": "6b2f1b1e-8f0c-4a4f-9d1c-1f2e3d4c5b6a"}
        params["sig"] = compute_signature(secret, params, method)
    params = {**params, **(tamper or {})}
    if how == "GET":
        resp = await herald.client.get(path, params=params)
    elif how == "JSON":
        resp = await herald.client.post(path, json=params)
    else:
        resp = await herald.client.post(path, data=params)
    return resp.status_code


def dlr(mid: str, status: str, err: str = "0", message_id: str = VID, **extra: str) -> dict[str, str]:
    return {"msisdn": THEM[1:], "to": OURS[1:], "network-code": "310260", "messageId": message_id,
            "price": "0.00750000", "status": status, "scts": "2401011200", "err-code": err, "api-key": KEY,
            "client-ref": mid, "message-timestamp": "2024-01-01 12:00:05", **extra}


async def queued_sms(client: httpx.AsyncClient, to: str = THEM) -> str:
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": to, "body": "Your statement is ready"})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def test_signed_receipts_move_state_forward_only(herald: Running) -> None:
    client, provider_id = await setup(herald)
    mid = await queued_sms(client)
    path = f"/webhooks/vonage/{provider_id}/status"
    assert await call(herald, path, dlr(mid, "accepted")) == 204  # not final: nothing recorded
    assert await call(herald, path, dlr(mid, "delivered"), "GET") == 204
    assert await call(herald, path, dlr(mid, "delivered"), "JSON") == 204  # duplicate
    assert await call(herald, path, dlr(mid, "failed", "3")) == 204  # late, out of order
    msg = (await client.get(f"/v1/messages/{mid}")).json()
    assert (msg["state"], msg["provider_message_id"]) == ("delivered", VID)
    assert [t["state"] for t in msg["timeline"]] == ["queued", "delivered"]
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]


async def test_a_permanent_failure_bounces_and_suppresses_a_temporary_one_does_not(herald: Running) -> None:
    client, provider_id = await setup(herald, signature_method="sha256")
    path = f"/webhooks/vonage/{provider_id}/status"
    away = await queued_sms(client)
    assert await call(herald, path, dlr(away, "expired", "2"), method="sha256") == 204
    msg = (await client.get(f"/v1/messages/{away}")).json()
    assert (msg["state"], msg["reason"]) == ("undelivered", "2")
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]

    gone = await queued_sms(client)
    assert await call(herald, path, dlr(gone, "failed", "3", message_id="0B00000127FDBC64"), method="sha256") == 204
    msg = (await client.get(f"/v1/messages/{gone}")).json()
    assert (msg["state"], msg["reason"]) == ("bounced", "3")
    check = (await client.get("/v1/suppressions", params={"address": THEM})).json()
    assert check["blocked"] is True, check
    again = (await client.post("/v1/messages", json={"channel": "sms", "to": THEM, "body": "z"})).json()
    assert (again["state"], again["reason"]) == ("skipped", "suppressed")


async def test_unsigned_tampered_and_unknown_receipts_are_refused(herald: Running) -> None:
    client, provider_id = await setup(herald)
    mid = await queued_sms(client)
    path = f"/webhooks/vonage/{provider_id}/status"
    assert await call(herald, path, dlr(mid, "delivered"), sign=False) == 403  # api-key alone is not enough
    assert await call(herald, path, dlr(mid, "delivered"), tamper={"status": "failed"}) == 403
    assert await call(herald, path, dlr(mid, "delivered"), "GET", tamper={"messageId": "0B0000000000FFFF"}) == 403
    assert await call(herald, path, dlr(mid, "delivered"), secret="someone-else") == 403
    assert await call(herald, path, dlr(mid, "delivered"), method="sha512") == 403  # account signs md5hash
    resp = await herald.client.post(path, content=b"[1]", headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "queued"
    assert await call(herald, "/webhooks/vonage/prv_nope/status", dlr(mid, "delivered")) == 404
    twilio = await client.post("/v1/providers", json={"name": "tw", "kind": "twilio", "priority": 1, "settings": {
        "account_sid": "AC" + "4" * 32, "auth_token": "t", "from_number": OURS}})
    assert await call(herald, f"/webhooks/vonage/{twilio.json()['id']}/status", dlr(mid, "delivered")) == 404


async def test_without_a_signature_secret_the_api_key_must_match(herald: Running) -> None:
    client, provider_id = await setup(herald, signature_secret=None)
    mid = await queued_sms(client)
    path = f"/webhooks/vonage/{provider_id}/status"
    assert await call(herald, path, dlr(mid, "delivered", **{"api-key": "someone1"}), sign=False) == 403
    no_key = {k: v for k, v in dlr(mid, "delivered").items() if k != "api-key"}
    assert await call(herald, path, no_key, "GET", sign=False) == 403
    assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "queued"
    assert await call(herald, path, dlr(mid, "delivered"), "GET", sign=False) == 204
    assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "delivered"


def inbound(text: str, message_id: str, sender: str = THEM[1:], to: str = OURS[1:]) -> dict[str, str]:
    words = text.split()
    return {"api-key": KEY, "msisdn": sender, "to": to, "messageId": message_id, "text": text, "type": "text",
            "keyword": words[0].upper() if words else "", "message-timestamp": "2024-01-01 12:00:00"}


async def received(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return list((await client.get("/v1/inbound", params=params)).json()["data"])


async def test_stop_suppresses_and_confirms_once_and_a_retry_is_stored_once(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/vonage/{provider_id}/inbound"
    assert await call(herald, path, inbound("Stop", "0A0000001234ABCD")) == 204
    assert await call(herald, path, inbound("Stop", "0A0000001234ABCD"), "GET") == 204  # Vonage retried
    stored = await received(client, **{"from": THEM})
    assert len(stored) == 1
    assert (stored[0]["to"], stored[0]["keyword"], stored[0]["action"]) == (OURS, "STOP", "opt_out")
    confirmation = (await client.get(f"/v1/messages/{stored[0]['reply_id']}")).json()
    assert confirmation["state"] == "queued"  # the one answer carriers require goes despite the opt-out
    assert (confirmation["to"], confirmation["from"], confirmation["provider_id"]) == (THEM, OURS, provider_id)
    assert "unsubscribed" in confirmation["content"]["body"]
    check = (await client.get("/v1/suppressions", params={"address": THEM})).json()
    assert check["blocked"] is True
    assert check["entries"][0]["source"] == "keyword"
    assert len((await client.get("/v1/messages", params={"to": THEM})).json()["data"]) == 1


async def test_national_numbers_are_normalised_and_emoji_bodies_kept(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/vonage/{provider_id}/inbound"
    assert await call(herald, path, inbound("running late 🙂 see you at 5", "0A0000001234ABCE",
                                            sender="4155550124"), "JSON") == 204
    stored = await received(client, **{"from": "+14155550124"})
    assert len(stored) == 1
    assert (stored[0]["body"], stored[0]["action"], stored[0]["reply_id"]) == (
        "running late 🙂 see you at 5", "none", None)
    assert await call(herald, path, inbound("HELP", "0A0000001234ABCF", sender="447911123456"), "GET") == 204
    assert [m["action"] for m in await received(client, **{"from": "+447911123456"})] == ["help"]


async def test_unsigned_unknown_and_incomplete_inbound_messages_are_refused(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/vonage/{provider_id}/inbound"
    assert await call(herald, path, inbound("STOP", "0A0000001234ABD0"), sign=False) == 403
    assert await call(herald, path, inbound("STOP", "0A0000001234ABD0"), tamper={"msisdn": "14155550100"}) == 403
    assert await call(herald, "/webhooks/vonage/prv_nope/inbound", inbound("STOP", "0A0000001234ABD0")) == 404
    incomplete = {k: v for k, v in inbound("STOP", "0A0000001234ABD0").items() if k != "messageId"}
    assert await call(herald, path, incomplete) == 422
    assert await received(client) == []
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]


async def test_through_the_worker_vonage_sends_receipts_land_and_stop_is_confirmed(herald_with_worker: Running
                                                                                   ) -> None:
    async with FakeVonage(api_key=KEY, api_secret=SECRET, signature_secret=SIGNING, callbacks=False) as fake:
        client, provider_id = await setup(herald_with_worker, base_url=fake.base_url, timeout=1.0)

        async def settled(mid: str, *states: str) -> dict[str, Any]:
            async def check() -> dict[str, Any] | None:
                body = (await client.get(f"/v1/messages/{mid}")).json()
                return dict(body) if body["state"] in states else None

            return dict(await wait_for(check, timeout=15))

        resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "a" * 200})
        mid = resp.json()["id"]
        msg = await settled(mid, "sent", "failed")
        assert msg["state"] == "sent", msg
        sent = fake.messages[0]
        assert (sent["to"], sent["from"], sent["client-ref"]) == ("14155550100", "14155550199", mid)
        assert sent["callback"] == f"{herald_with_worker.settings.effective_public_url}/webhooks/vonage/" \
                                   f"{provider_id}/status"
        assert len(sent["parts"]) == 2
        assert msg["provider_message_id"] == sent["parts"][0]["message-id"]

        status = f"/webhooks/vonage/{provider_id}/status"
        later_part = fake.delivery_receipt(sent, part=1, status="failed", err_code="3")
        assert (await herald_with_worker.client.post(status, data=later_part)).status_code == 204
        assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "sent"  # only the first part counts
        first = fake.delivery_receipt(sent, part=0, status="delivered")
        assert (await herald_with_worker.client.get(status, params=first)).status_code == 204
        assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "delivered"
        assert not (await client.get("/v1/suppressions", params={"address": "+14155550100"})).json()["blocked"]

        stop = fake.inbound(THEM, OURS, "STOP")
        path = f"/webhooks/vonage/{provider_id}/inbound"
        assert (await herald_with_worker.client.post(path, data=stop)).status_code == 204
        assert (await herald_with_worker.client.post(path, data=stop)).status_code == 204
        reply_id = (await received(client))[0]["reply_id"]
        answered = await settled(reply_id, "sent", "delivered", "failed")
        assert answered["state"] == "sent", answered
        confirmations = [m for m in fake.messages if m["to"] == THEM[1:]]
        assert [(m["from"], m["text"]) for m in confirmations] == [(OURS[1:], answered["content"]["body"])]
