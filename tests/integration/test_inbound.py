"""Inbound SMS through Twilio's webhook: signature checked, stored once, threaded to what we sent, and
STOP/START/HELP acted on with one answer each; an opt-out stops the next marketing message at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from herald.channels.sms.twilio import compute_signature
from herald.db.session import unit_of_work
from herald.messages.models import Message
from tests.conftest import Running

SID, TOKEN, OURS = "AC" + "3" * 32, "inbound-test-token", "+14155550199"
THEM = "+14155550123"


async def setup(herald: Running) -> tuple[httpx.AsyncClient, str]:
    client = await herald.authed()
    resp = await client.post("/v1/providers", json={"name": "tw", "kind": "twilio", "priority": 50, "settings": {
        "account_sid": SID, "auth_token": TOKEN, "from_number": OURS}})
    assert resp.status_code == 201, resp.text
    return client, resp.json()["id"]


async def reply(herald: Running, provider_id: str, body: str, sid: str, *, sign: bool = True,
                sender: str = THEM) -> httpx.Response:
    path = f"/webhooks/twilio/{provider_id}/inbound"
    form = {"MessageSid": sid, "AccountSid": SID, "From": sender, "To": OURS, "Body": body, "NumMedia": "0"}
    headers = {"X-Twilio-Signature": compute_signature(TOKEN, herald.settings.effective_public_url + path, form)}
    if not sign:
        headers = {}
    return await herald.client.post(path, data=form, headers=headers)


async def inbound(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await client.get("/v1/inbound")).json()["data"])


async def sent(herald: Running, message_id: str, minutes_ago: float = 0) -> None:
    """Mark a message sent, as the dispatcher does (these apps run no worker): replies thread to what went out."""
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        await session.execute(update(Message).where(Message.id == message_id).values(
            state="sent", sent_at=datetime.now(UTC) - timedelta(minutes=minutes_ago)))


async def test_stop_suppresses_confirms_once_and_start_lifts_it(herald: Running) -> None:
    client, provider_id = await setup(herald)
    person = (await client.post("/v1/contacts", json={"external_id": "p", "phone": THEM,
                                                      "consent": {"direct_marketing": True}})).json()
    offer = (await client.post("/v1/messages", json={"channel": "sms", "contact": {"id": person["id"]},
                                                     "classification": "direct_marketing", "body": "20% off"})).json()
    await sent(herald, offer["id"])
    resp = await reply(herald, provider_id, "Stop please", "SM" + "1" * 32)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/xml")
    again = await reply(herald, provider_id, "Stop please", "SM" + "1" * 32)  # Twilio retried the webhook
    assert again.status_code == 200
    received = await inbound(client)
    assert len(received) == 1
    stop = received[0]
    assert (stop["keyword"], stop["action"], stop["in_reply_to"], stop["contact_id"]) == (
        "STOP", "opt_out", offer["id"], person["id"])
    confirmation = (await client.get(f"/v1/messages/{stop['reply_id']}")).json()
    assert confirmation["state"] == "queued"  # the one answer carriers require goes despite the opt-out
    assert "unsubscribed" in confirmation["content"]["body"]
    assert confirmation["from"] == OURS
    check = (await client.get("/v1/suppressions", params={"address": THEM})).json()
    assert check["entries"][0]["source"] == "keyword"

    blocked = (await client.post("/v1/messages", json={"channel": "sms", "contact": {"id": person["id"]},
                                                       "classification": "direct_marketing", "body": "x"})).json()
    assert (blocked["state"], blocked["reason"]) == ("skipped", "opted_out")

    await client.post("/v1/suppressions", json={"entries": [{"address": "+14155550124", "reason": "fraud"}]})
    start = await reply(herald, provider_id, "START", "SM" + "2" * 32)
    assert start.status_code == 200
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]
    other = await reply(herald, provider_id, "START", "SM" + "3" * 32, sender="+14155550124")
    assert other.status_code == 200
    assert (await client.get("/v1/suppressions", params={"address": "+14155550124"})).json()["blocked"], \
        "START lifts only keyword suppressions"
    thread = (await client.get(f"/v1/contacts/{person['id']}/conversation")).json()["data"]
    assert [(i["direction"], i.get("keyword")) for i in thread][:3] == [("out", None), ("in", "STOP"), ("out", None)]


async def test_help_answers_and_unclear_replies_are_left_for_a_person(herald: Running) -> None:
    client, provider_id = await setup(herald)
    assert (await reply(herald, provider_id, "HELP", "SM" + "4" * 32)).status_code == 200
    assert (await reply(herald, provider_id, "don't stop, when is my payment due? 🙂", "SM" + "5" * 32)
            ).status_code == 200
    assert (await reply(herald, provider_id, "", "SM" + "6" * 32)).status_code == 200
    by_sid = {m["body"]: m for m in await inbound(client)}
    assert by_sid["HELP"]["action"] == "help"
    help_text = (await client.get(f"/v1/messages/{by_sid['HELP']['reply_id']}")).json()["content"]["body"]
    assert "Msg & data rates may apply" in help_text
    for unclear in ("don't stop, when is my payment due? 🙂", ""):
        assert (by_sid[unclear]["action"], by_sid[unclear]["reply_id"]) == ("none", None)
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]


async def test_unsigned_tampered_and_unknown_webhooks_are_refused(herald: Running) -> None:
    client, provider_id = await setup(herald)
    assert (await reply(herald, provider_id, "STOP", "SM" + "7" * 32, sign=False)).status_code == 403
    assert (await herald.client.post("/webhooks/twilio/prv_nope/inbound", data={"Body": "STOP"})).status_code == 404
    assert await inbound(client) == []
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]


async def test_through_the_worker_a_stop_confirmation_is_sent_and_waiting_offers_are_not(
        herald_with_worker: Running) -> None:
    from datetime import UTC, datetime, timedelta

    from herald.fakes.twilio import FakeTwilio
    from tests.conftest import wait_for

    async with FakeTwilio(account_sid=SID, auth_token=TOKEN, callbacks=False) as fake:
        client = await herald_with_worker.authed()
        made = await client.post("/v1/providers", json={"name": "tw", "kind": "twilio", "priority": 50, "settings": {
            "account_sid": SID, "auth_token": TOKEN, "from_number": OURS, "base_url": fake.base_url}})
        provider_id = made.json()["id"]
        person = (await client.post("/v1/contacts", json={"external_id": "w", "phone": THEM,
                                                          "consent": {"direct_marketing": True}})).json()
        later = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        offer = (await client.post("/v1/messages", json={
            "channel": "sms", "contact": {"id": person["id"]}, "classification": "direct_marketing",
            "body": "Weekend offer", "send_at": later})).json()
        assert (await reply(herald_with_worker, provider_id, "STOP", "SM" + "8" * 32)).status_code == 200

        async def final(mid: str) -> dict[str, Any] | None:
            body = (await client.get(f"/v1/messages/{mid}")).json()
            return body if body["state"] not in ("queued", "sending", "retrying") else None

        stopped = await wait_for(lambda: final(offer["id"]), timeout=15)
        assert (stopped["state"], stopped["reason"]) == ("skipped", "opted_out")
        reply_id = (await inbound(client))[0]["reply_id"]
        answered = await wait_for(lambda: final(reply_id), timeout=15)
        assert answered["state"] in ("sent", "delivered")
        assert [m["body"] for m in fake.messages] == [answered["content"]["body"]]  # only the confirmation


async def test_a_reply_is_listed_with_from_as_messages_are(herald: Running) -> None:
    client, provider_id = await setup(herald)
    await reply(herald, provider_id, "Hello there", "SM" + "9" * 32)
    [row] = await inbound(client)
    assert (row["from"], row["to"], row["body"]) == (THEM, OURS, "Hello there")
    assert "from_" not in row
    filtered = (await client.get("/v1/inbound", params={"from": THEM})).json()["data"]
    assert [r["id"] for r in filtered] == [row["id"]]
