"""Clickatell webhooks on the real app (SQLite and PostgreSQL): status callbacks move messages forward only and
bounce blocked numbers off; replies are stored once, normalised to E.164 and STOP is acted on; both are refused
without the provider's callback token. Through the worker, a message goes out in Clickatell's format, the fake's
callbacks land and a STOP confirmation is sent through the fake Clickatell."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from herald.fakes.clickatell import FakeClickatell
from tests.conftest import Running, wait_for

KEY, TOKEN = "clickatell-api-key==", "clickatell-webhook-token-0123456789"
OURS, THEM = "+14155550199", "+14155550123"
CID = "77fb29998253415fa5d66971d519d362"
How = Literal["GET", "POST", "JSON"]


async def setup(herald: Running, **settings: Any) -> tuple[httpx.AsyncClient, str]:
    client = await herald.authed()
    values = {"api_key": KEY, "webhook_token": TOKEN, "from_number": OURS} | settings
    resp = await client.post("/v1/providers", json={"name": "clickatell", "kind": "clickatell", "priority": 50,
                                                    "settings": values})
    assert resp.status_code == 201, resp.text
    return client, str(resp.json()["id"])


async def call(herald: Running, path: str, body: dict[str, Any], how: How = "JSON", *,
               token: str | None = TOKEN) -> int:
    """Call a callback the way Clickatell does: ``token`` in the query string (as configured)."""
    query = {"token": token} if token is not None else {}
    if how == "GET":
        resp = await herald.client.get(path, params={**query, **{k: str(v) for k, v in body.items()}})
    elif how == "POST":
        resp = await herald.client.post(path, params=query, data={k: str(v) for k, v in body.items()})
    else:
        resp = await herald.client.post(path, params=query, json=body)
    return resp.status_code


def status(mid: str, code: int, name: str, description: str = "", message_id: str = CID) -> dict[str, Any]:
    return {"integrationName": "herald", "messageId": message_id, "requestId": "req-1", "clientMessageId": mid,
            "to": THEM[1:], "from": OURS[1:], "statusCode": code, "status": name, "statusDescription": description,
            "timestamp": 1700000000000}


async def queued_sms(client: httpx.AsyncClient, to: str = THEM) -> str:
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": to, "body": "Your statement is ready"})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def test_status_callbacks_move_state_forward_only(herald: Running) -> None:
    client, provider_id = await setup(herald)
    mid = await queued_sms(client)
    path = f"/webhooks/clickatell/{provider_id}/status"
    assert await call(herald, path, status(mid, 2, "MESSAGE_QUEUED")) == 204  # not final: nothing recorded
    assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "queued"
    assert await call(herald, path, status(mid, 4, "RECEIVED_BY_RECIPIENT"), "GET") == 204
    assert await call(herald, path, status(mid, 4, "RECEIVED_BY_RECIPIENT")) == 204  # duplicate
    assert await call(herald, path, status(mid, 7, "ERROR_DELIVERING_MESSAGE"), "POST") == 204  # late
    msg = (await client.get(f"/v1/messages/{mid}")).json()
    assert (msg["state"], msg["provider_message_id"]) == ("delivered", CID)
    assert [t["state"] for t in msg["timeline"]] == ["queued", "delivered"]
    assert await call(herald, path, status("msg_unknown", 4, "RECEIVED_BY_RECIPIENT", message_id="other")) == 204


async def test_a_blocked_number_bounces_and_is_suppressed_an_expiry_is_not(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/clickatell/{provider_id}/status"
    away = await queued_sms(client)
    assert await call(herald, path, status(away, 10, "MESSAGE_EXPIRED", message_id="c1")) == 204
    msg = (await client.get(f"/v1/messages/{away}")).json()
    assert (msg["state"], msg["reason"]) == ("undelivered", "10")
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]

    gone = await queued_sms(client)
    assert await call(herald, path, status(gone, 7, "ERROR_DELIVERING_MESSAGE", "Destination mobile number blocked",
                                           message_id="c2")) == 204
    msg = (await client.get(f"/v1/messages/{gone}")).json()
    assert (msg["state"], msg["reason"]) == ("bounced", "7")
    assert (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"] is True
    again = (await client.post("/v1/messages", json={"channel": "sms", "to": THEM, "body": "z"})).json()
    assert (again["state"], again["reason"]) == ("skipped", "suppressed")


async def test_callbacks_without_the_token_are_refused(herald: Running) -> None:
    client, provider_id = await setup(herald)
    mid = await queued_sms(client)
    path = f"/webhooks/clickatell/{provider_id}/status"
    delivered = status(mid, 4, "RECEIVED_BY_RECIPIENT")
    for token in (None, "", "wrong", TOKEN[:-1], TOKEN.upper()):
        resp = await herald.client.post(path, params={"token": token} if token is not None else {}, json=delivered)
        assert resp.status_code == 403, token
        assert resp.json()["code"] == "bad_signature"
    assert await call(herald, path, {**delivered, "token": TOKEN}, "POST", token="wrong") == 403  # body is not it
    assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "queued"
    assert await call(herald, "/webhooks/clickatell/prv_nope/status", delivered) == 404
    twilio = await client.post("/v1/providers", json={"name": "tw", "kind": "twilio", "priority": 1, "settings": {
        "account_sid": "AC" + "4" * 32, "auth_token": "t", "from_number": OURS}})
    assert await call(herald, f"/webhooks/clickatell/{twilio.json()['id']}/status", delivered) == 404
    resp = await herald.client.post(path, params={"token": TOKEN}, content=b"[1]",
                                    headers={"content-type": "application/json"})
    assert resp.status_code == 422


def reply(text: str, reply_id: str, sender: str = THEM[1:], to: str = OURS[1:]) -> dict[str, Any]:
    words = text.split()
    return {"integrationName": "herald", "messageId": "", "replyMessageId": reply_id, "fromNumber": sender,
            "toNumber": to, "timestamp": 1700000000000, "text": text, "charset": "UTF-8",
            "keyword": words[0].upper() if words else ""}


async def received(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return list((await client.get("/v1/inbound", params=params)).json()["data"])


async def test_stop_suppresses_and_confirms_once_and_a_retry_is_stored_once(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/clickatell/{provider_id}/inbound"
    assert await call(herald, path, reply("Stop", "r-0001")) == 204
    assert await call(herald, path, reply("Stop", "r-0001"), "POST") == 204  # Clickatell retried
    stored = await received(client, **{"from": THEM})
    assert len(stored) == 1
    assert (stored[0]["to"], stored[0]["keyword"], stored[0]["action"]) == (OURS, "STOP", "opt_out")
    confirmation = (await client.get(f"/v1/messages/{stored[0]['reply_id']}")).json()
    assert confirmation["state"] == "queued"  # the one answer carriers require goes despite the opt-out
    assert (confirmation["to"], confirmation["from"], confirmation["provider_id"]) == (THEM, OURS, provider_id)
    check = (await client.get("/v1/suppressions", params={"address": THEM})).json()
    assert check["blocked"] is True
    assert check["entries"][0]["source"] == "keyword"


async def test_national_numbers_are_normalised_and_the_one_api_shape_is_read(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/clickatell/{provider_id}/inbound"
    assert await call(herald, path, reply("running late 🙂", "r-0002", sender="4155550124")) == 204
    stored = await received(client, **{"from": "+14155550124"})
    assert [(m["body"], m["action"]) for m in stored] == [("running late 🙂", "none")]
    one_api = {"integrationId": "x", "event": {"moText": [{"channel": "sms", "messageId": "mo-1",
                                                           "from": "447911123456", "to": OURS[1:],
                                                           "content": "HELP", "charset": "UTF-8"}]}}
    assert await call(herald, path, one_api) == 204
    assert [m["action"] for m in await received(client, **{"from": "+447911123456"})] == ["help"]


async def test_unauthenticated_unknown_and_incomplete_replies_are_refused(herald: Running) -> None:
    client, provider_id = await setup(herald)
    path = f"/webhooks/clickatell/{provider_id}/inbound"
    assert await call(herald, path, reply("STOP", "r-0003"), token=None) == 403
    assert await call(herald, path, reply("STOP", "r-0003"), token="guess") == 403
    assert await call(herald, "/webhooks/clickatell/prv_nope/inbound", reply("STOP", "r-0003")) == 404
    incomplete = {k: v for k, v in reply("STOP", "r-0003").items() if k != "fromNumber"}
    assert await call(herald, path, incomplete) == 422
    assert await received(client) == []
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]


async def test_through_the_worker_clickatell_sends_callbacks_land_and_stop_is_confirmed(
        herald_with_worker: Running) -> None:
    async with FakeClickatell(api_key=KEY, callbacks=False) as fake:
        client, provider_id = await setup(herald_with_worker, base_url=fake.base_url, timeout=1.0)

        async def settled(mid: str, *states: str) -> dict[str, Any]:
            async def check() -> dict[str, Any] | None:
                body = (await client.get(f"/v1/messages/{mid}")).json()
                return dict(body) if body["state"] in states else None

            return dict(await wait_for(check, timeout=15))

        resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "hello"})
        mid = resp.json()["id"]
        msg = await settled(mid, "sent", "failed")
        assert msg["state"] == "sent", msg
        sent = fake.messages[0]
        assert (sent["to"], sent["from"], sent["clientMessageId"]) == ("14155550100", "14155550199", mid)
        assert msg["provider_message_id"] == sent["apiMessageId"]

        path = f"/webhooks/clickatell/{provider_id}/status"
        for body in (fake.status_callback(sent, (3, "DELIVERED_TO_GATEWAY", "")), fake.status_callback(sent)):
            resp = await herald_with_worker.client.post(path, params={"token": TOKEN}, json=body)
            assert resp.status_code == 204
        assert (await client.get(f"/v1/messages/{mid}")).json()["state"] == "delivered"

        stop = fake.reply(THEM, OURS, "STOP")
        inbound = f"/webhooks/clickatell/{provider_id}/inbound"
        for _ in range(2):
            resp = await herald_with_worker.client.post(inbound, params={"token": TOKEN}, json=stop)
            assert resp.status_code == 204
        reply_id = (await received(client))[0]["reply_id"]
        answered = await settled(reply_id, "sent", "delivered", "failed")
        assert answered["state"] == "sent", answered
        confirmations = [m for m in fake.messages if m["to"] == THEM[1:]]
        assert [(m["from"], m["content"]) for m in confirmations] == [(OURS[1:], answered["content"]["body"])]
