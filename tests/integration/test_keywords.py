"""A workspace's own keywords and keyword answers, through Twilio's inbound webhook, on SQLite and PostgreSQL:
a keyword that fires an event (and the trigger it starts), one that replies with a template, a custom opt-out,
answers per sender and language, and what a keyword may not be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from herald.db.session import unit_of_work
from herald.inbound.models import InboundMessage
from herald.messages.models import Message
from tests.conftest import Running
from tests.integration.test_inbound import OURS, THEM, inbound, reply, sent, setup
from tests.integration.trigger_setup import event_type, template, trigger


async def keyword(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/keywords", json=body)


async def answer_of(client: httpx.AsyncClient, row: dict[str, Any]) -> str:
    return str((await client.get(f"/v1/messages/{row['reply_id']}")).json()["content"]["body"])


async def test_a_keyword_can_fire_an_event_that_a_trigger_answers(herald: Running) -> None:
    client, provider_id = await setup(herald)
    await event_type(client, "sms.join", {"type": "object", "required": ["keyword", "from"]})
    await template(client, "welcome", "Welcome aboard! You texted {{ event.keyword }}.")
    made = await trigger(client, "Join", "sms.join", [{"type": "send", "channel": "sms", "template": "welcome"}])
    resp = await keyword(client, word="Join", action="event", event_type="sms.join")
    assert resp.status_code == 201, resp.text
    assert resp.json()["word"] == "JOIN"
    for _ in range(2):  # Twilio retries the webhook: one event, one welcome
        assert (await reply(herald, provider_id, "join!", "SM" + "a" * 32)).status_code == 200
    [row] = await inbound(client)
    assert (row["keyword"], row["action"]) == ("JOIN", "event")
    event = (await client.get(f"/v1/events/{row['event_id']}")).json()
    assert event["payload"]["from"] == THEM
    assert event["payload"]["inbound_id"] == row["id"]
    stats = (await client.get(f"/v1/triggers/{made['id']}")).json()["stats"]
    assert stats["events_matched"] == 1
    assert stats["messages"] == {"queued": 1}


async def test_a_keyword_can_reply_with_a_template_and_another_can_opt_out(herald: Running) -> None:
    client, provider_id = await setup(herald)
    await template(client, "hours", "Branches open 9-17. You asked: {{ inbound.body }}")
    assert (await keyword(client, word="hours", action="reply", template="hours")).status_code == 201
    assert (await keyword(client, word="basta", action="opt_out")).status_code == 201
    await reply(herald, provider_id, "HOURS?", "SM" + "b" * 32)
    await reply(herald, provider_id, "Basta", "SM" + "c" * 32)
    hours, basta = sorted(await inbound(client), key=lambda r: r["id"])
    assert await answer_of(client, hours) == "Branches open 9-17. You asked: HOURS?"
    assert basta["action"] == "opt_out"
    check = (await client.get("/v1/suppressions", params={"address": THEM})).json()
    assert check["blocked"]


async def test_a_senders_keyword_applies_to_replies_to_that_sender_only(herald: Running) -> None:
    client, provider_id = await setup(herald)
    await template(client, "hours", "Open 9-17")
    assert (await keyword(client, word="hours", action="reply", template="hours",
                          sender="+14155550100")).status_code == 201
    await reply(herald, provider_id, "hours", "SM" + "d" * 32)  # to OURS, not +14155550100
    [row] = await inbound(client)
    assert row["action"] == "none"


async def test_answers_are_chosen_by_sender_and_language(herald: Running) -> None:
    client, provider_id = await setup(herald)
    await client.post("/v1/contacts", json={"external_id": "de", "phone": "+14155550177", "locale": "de-DE"})
    texts = [{"action": "help", "text": "Acme: alerts. Help 0800 1. Reply STOP to stop."},
             {"action": "help", "language": "de", "text": "Acme: Hilfe 0800 1. STOP zum Abmelden."},
             {"action": "help", "sender": "+14155550100", "text": "Other line. Reply STOP to stop."},
             {"action": "opt_out", "text": "Acme: you will get no more texts. Reply START to come back."}]
    for body in texts:
        resp = await client.put("/v1/keyword-texts", json=body)
        assert resp.status_code == 200, resp.text
    again = await client.put("/v1/keyword-texts", json={**texts[0], "text": "Acme alerts. Reply STOP to stop."})
    assert again.json()["id"] == (await client.get("/v1/keyword-texts")).json()[0]["id"]
    await reply(herald, provider_id, "HELP", "SM" + "e" * 32)
    await reply(herald, provider_id, "hilfe", "SM" + "f" * 32, sender="+14155550177")
    await reply(herald, provider_id, "STOP", "SM" + "0" * 32)
    rows = sorted(await inbound(client), key=lambda r: r["id"])
    assert [await answer_of(client, r) for r in rows] == [
        "Acme alerts. Reply STOP to stop.", "Acme: Hilfe 0800 1. STOP zum Abmelden.",
        "Acme: you will get no more texts. Reply START to come back."]
    senders = {(await client.get(f"/v1/messages/{r['reply_id']}")).json()["from"] for r in rows}
    assert senders == {OURS}, "every answer comes from the number the person wrote to"


async def test_what_a_keyword_may_not_be(herald: Running) -> None:
    client, _ = await setup(herald)
    await event_type(client, "strict", {"type": "object", "required": ["order_id"]})

    async def refused(status: int, **body: Any) -> str:
        resp = await keyword(client, **body)
        assert resp.status_code == status, resp.text
        return str(resp.json()["code"])

    assert await refused(422, word="STOP", action="event", event_type="strict") == "reserved_keyword"
    assert await refused(422, word="Opt-Out", action="help") == "reserved_keyword"
    assert await refused(422, word="join", action="reply") == "template_required"
    assert await refused(422, word="join", action="event", event_type="nope") == "unknown_event_type"
    assert await refused(422, word="join", action="event", event_type="strict") == "event_schema_mismatch"
    assert await refused(422, word="join", action="opt_in", template="x") == "field_not_for_action"
    assert await refused(422, word="!!!", action="opt_in") == "invalid_keyword"
    assert await refused(422, word="join", action="dance") == "validation_failed"
    assert (await keyword(client, word="join", action="opt_in")).status_code == 201
    assert await refused(409, word="JOIN", action="opt_in") == "keyword_exists"
    resp = await client.put("/v1/keyword-texts", json={"action": "help", "text": "Acme alerts."})
    assert resp.status_code == 422
    assert resp.json()["code"] == "help_without_stop"
    listed = (await client.get("/v1/keywords")).json()
    assert [k["word"] for k in listed] == ["JOIN"]
    assert (await client.delete(f"/v1/keywords/{listed[0]['id']}")).status_code == 204
    assert (await client.delete(f"/v1/keywords/{listed[0]['id']}")).status_code == 404


async def test_replies_thread_within_the_window_and_a_silent_conversation_closes(herald: Running) -> None:
    client, provider_id = await setup(herald)
    assert (await client.get("/v1/inbound-settings")).json() == {"reply_window_minutes": 1440}
    assert (await client.put("/v1/inbound-settings", json={"reply_window_minutes": 0})).status_code == 422
    resp = await client.put("/v1/inbound-settings", json={"reply_window_minutes": 60})
    assert resp.json() == {"reply_window_minutes": 60}
    card = (await client.post("/v1/messages", json={"channel": "sms", "to": THEM, "body": "Your card is ready"})).json()
    await age(herald, Message, "created_at", 300, card["id"])  # planned long ago, sent half an hour ago
    await sent(herald, card["id"], minutes_ago=30)
    # Newer, but never in the person's hands: one waiting for its time, one skipped for want of consent.
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    waiting = await client.post("/v1/messages", json={"channel": "sms", "to": THEM, "body": "Later", "send_at": later})
    skipped = await client.post("/v1/messages", json={"channel": "sms", "to": THEM, "body": "Offer",
                                                      "classification": "direct_marketing"})
    assert (waiting.json()["state"], skipped.json()["state"]) == ("queued", "skipped")
    await reply(herald, provider_id, "Thanks, when can I pick it up?", "SM" + "1" * 32)
    await age(herald, Message, "sent_at", 100, card["id"])
    await age(herald, InboundMessage, "received_at", 50)
    await reply(herald, provider_id, "Is tomorrow fine?", "SM" + "2" * 32)  # the conversation goes on
    await age(herald, InboundMessage, "received_at", 100)
    await reply(herald, provider_id, "Hello?", "SM" + "3" * 32)  # after an hour of silence: a new start
    rows = sorted(await inbound(client), key=lambda r: r["id"])
    assert [r["in_reply_to"] for r in rows] == [card["id"], card["id"], None]


async def age(herald: Running, table: Any, column: str, minutes: int, row_id: str | None = None) -> None:
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        query = update(table).values({column: datetime.now(UTC) - timedelta(minutes=minutes)})
        await session.execute(query.where(table.id == row_id) if row_id else query)
