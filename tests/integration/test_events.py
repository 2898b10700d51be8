"""Event types and event ingestion through the API, on SQLite and PostgreSQL: schemas enforced with the path
of each error, contacts found or created, idempotency keys honoured, batches all or nothing."""

from __future__ import annotations

import asyncio
import time

import jwt

from herald.crypto import Keyring
from tests.conftest import CLIENT_ID, Running
from tests.integration.trigger_setup import WITHDRAWAL_SAMPLE, WITHDRAWAL_SCHEMA, event_type, send_event


async def test_an_event_type_checks_its_schema_and_sample(herald: Running) -> None:
    client = await herald.authed()
    made = await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    assert made["schema"] == WITHDRAWAL_SCHEMA
    assert made["created_by"]
    resp = await client.post("/v1/event-types", json={"name": "card.withdrawal"})
    assert resp.status_code == 409
    assert resp.json()["code"] == "event_type_exists"
    resp = await client.post("/v1/event-types", json={"name": "bad", "schema": {"type": "nonsense"}})
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_schema"
    resp = await client.post("/v1/event-types", json={"name": "bad", "schema": WITHDRAWAL_SCHEMA,
                                                      "sample": {"amount": -1, "channel": "ATM"}})
    assert resp.status_code == 422
    assert resp.json()["code"] == "sample_violates_schema"
    assert resp.json()["errors"][0]["field"] == "sample.amount"
    resp = await client.post("/v1/event-types", json={"name": "has space"})
    assert resp.status_code == 422
    resp = await client.patch("/v1/event-types/card.withdrawal", json={"sample": {"amount": "lots"}})
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"sample", "sample.amount"}  # channel missing; amount
    resp = await client.patch("/v1/event-types/card.withdrawal", json={"description": "Cash out"})
    assert resp.status_code == 200
    assert resp.json()["description"] == "Cash out"
    assert [t["name"] for t in (await client.get("/v1/event-types")).json()] == ["card.withdrawal"]


async def test_an_event_is_stored_with_its_contact_found_or_created(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    resp = await send_event(client, "card.withdrawal", {"phone": "+14155550100", "name": "Ann Lee"},
                            WITHDRAWAL_SAMPLE, occurred_at="2026-11-01T10:00:00+01:00")
    assert resp.status_code == 202, resp.text
    first = resp.json()
    assert resp.headers["location"] == f"/v1/events/{first['id']}"
    assert first["occurred_at"].startswith("2026-11-01T09:00:00")
    contact = (await client.get(f"/v1/contacts/{first['contact_id']}")).json()
    assert contact["phone"] == "+14155550100"
    assert contact["name"] == "Ann Lee"
    again = await send_event(client, "card.withdrawal", {"phone": "(415) 555-0100"}, WITHDRAWAL_SAMPLE)
    assert again.status_code == 202
    assert again.json()["contact_id"] == first["contact_id"]
    by_id = await send_event(client, "card.withdrawal", {"id": first["contact_id"]}, WITHDRAWAL_SAMPLE)
    assert by_id.json()["contact_id"] == first["contact_id"]
    stored = (await client.get(f"/v1/events/{first['id']}")).json()
    assert stored["payload"] == WITHDRAWAL_SAMPLE
    listed = (await client.get("/v1/events", params={"contact_id": first["contact_id"], "limit": 2})).json()
    assert len(listed["data"]) == 2
    assert listed["next_cursor"]


async def test_bad_events_are_refused_with_the_path_of_each_error(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    resp = await send_event(client, "card.unknown", {"phone": "+14155550100"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "type"
    resp = await send_event(client, "card.withdrawal", {"phone": "+14155550100"}, {"amount": "x", "channel": "ATM"})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in resp.json()["errors"]] == ["payload.amount"]
    resp = await send_event(client, "card.withdrawal", {}, WITHDRAWAL_SAMPLE)
    assert resp.status_code == 422
    assert resp.json()["code"] == "contact_required"
    resp = await send_event(client, "card.withdrawal", {"id": "ct_nope"}, WITHDRAWAL_SAMPLE)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "contact.id"
    resp = await send_event(client, "card.withdrawal", {"phone": "not a phone"}, WITHDRAWAL_SAMPLE)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "contact.phone"
    resp = await send_event(client, "card.withdrawal", {"phone": "+14155550100"}, WITHDRAWAL_SAMPLE,
                            occurred_at="2999-01-01T00:00:00Z")
    assert resp.status_code == 422
    assert resp.json()["code"] == "occurred_in_future"
    resp = await send_event(client, "card.withdrawal", {"phone": "+14155550100"}, WITHDRAWAL_SAMPLE,
                            occurred_at="2026-11-01T10:00:00")
    assert resp.status_code == 422
    assert (await client.get("/v1/events")).json()["data"] == []


async def test_an_idempotency_key_answers_the_first_event(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    who = {"external_id": "cust-1"}
    first = await send_event(client, "card.withdrawal", who, WITHDRAWAL_SAMPLE, idempotency_key="core-1")
    again = await send_event(client, "card.withdrawal", who, WITHDRAWAL_SAMPLE, idempotency_key="core-1")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicate"] is True
    # The first event as it was stored, field for field (on PostgreSQL read back as JSON with the workspace).
    assert {**again.json(), "duplicate": False} == first.json()
    other = await send_event(client, "card.withdrawal", who, {**WITHDRAWAL_SAMPLE, "amount": 5},
                             idempotency_key="core-1")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert len((await client.get("/v1/events")).json()["data"]) == 1


async def test_a_batch_is_all_or_nothing_and_repeats_are_duplicates(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    events = [{"type": "card.withdrawal", "contact": {"external_id": f"cust-{i}"}, "payload": WITHDRAWAL_SAMPLE,
               "idempotency_key": f"k{i}"} for i in range(5)]
    bad = [*events[:3], {**events[3], "payload": {"channel": "MOON"}}, events[4]]
    resp = await client.post("/v1/events/batch", json={"events": bad})
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert fields == {"events[3].payload", "events[3].payload.channel"}
    assert (await client.get("/v1/events")).json()["data"] == []
    resp = await client.post("/v1/events/batch", json={"events": [*events, events[0]]})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["accepted"] == 5
    assert body["duplicates"] == 1
    assert body["events"][5]["id"] == body["events"][0]["id"]
    resp = await client.post("/v1/events/batch", json={"events": events})
    assert resp.json()["accepted"] == 0
    assert resp.json()["duplicates"] == 5
    assert len({e["contact_id"] for e in body["events"]}) == 5
    resp = await client.post("/v1/events/batch", json={"events": []})
    assert resp.status_code == 422
    resp = await client.post("/v1/events/batch", json={"events": [events[0]] * 1001})
    assert resp.status_code == 422


async def test_contacts_named_by_key_alone_are_found_as_they_are(herald: Running) -> None:
    """Events that name a contact by its external id or email alone (the usual case) find the contact an
    upsert would match, the oldest one with that email among several, and leave it untouched; a key no
    contact has yet gets one contact however many of the batch's events name it, with what they state."""
    client = await herald.authed()
    await event_type(client, "purchase")
    ann = (await client.post("/v1/contacts", json={"external_id": "k1", "name": "Ann", "email": "Ann@Example.com",
                                                   "consent": {"direct_marketing": True}})).json()
    twin = (await client.post("/v1/contacts", json={"external_id": "k2", "email": "ann@example.com"})).json()
    newcomer = [{"external_id": "new-1"}, {"external_id": "new-1", "name": "Newcomer"}, {"external_id": "new-1"}]
    resp = await client.post("/v1/events/batch", json={"events": [
        {"type": "purchase", "contact": who, "payload": {}}
        for who in [{"external_id": "k1"}, {"email": "ANN@example.com"}, {"external_id": "k2"}, *newcomer]]})
    assert resp.status_code == 202, resp.text
    found = [e["contact_id"] for e in resp.json()["events"]]
    assert found[:3] == [ann["id"], ann["id"], twin["id"]]
    assert len(set(found[3:])) == 1
    assert found[3] not in (ann["id"], twin["id"])
    assert (await client.get(f"/v1/contacts/{found[3]}")).json()["name"] == "Newcomer"
    after = (await client.get(f"/v1/contacts/{ann['id']}")).json()
    assert (after["updated_at"], after["consent"]) == (ann["updated_at"], ann["consent"])
    assert len((await client.get("/v1/contacts", params={"limit": 10})).json()["data"]) == 3


async def test_a_key_sent_concurrently_is_stored_once(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    who = {"external_id": "cust-9"}
    answers = await asyncio.gather(*(send_event(client, "card.withdrawal", who, WITHDRAWAL_SAMPLE,
                                                idempotency_key="retry-1") for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [202]
    assert len({a.json()["id"] for a in answers}) == 1


async def test_concurrent_batches_about_the_same_contacts_all_succeed(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await event_type(client, "purchase")
    await client.post("/v1/providers", json={"name": "outbox", "kind": "file", "channel": "sms", "settings": {}})
    await client.post("/v1/templates", json={"name": "t", "channel": "sms", "variants": {"en": {"body": "Hi"}}})
    resp = await client.post("/v1/triggers", json={
        "name": "w", "description": "w", "event_type": "card.withdrawal", "exit_on": [{"event": "purchase"}],
        "steps": [{"type": "wait", "duration": "P1D"}, {"type": "send", "channel": "sms", "template": "t"}]})
    assert resp.status_code == 201, resp.text
    people = [{"external_id": f"p{i}", "phone": f"+4475000{i:05d}"} for i in range(60)]

    def batch(order: list[dict[str, str]], kind: str) -> dict[str, object]:
        return {"events": [{"type": kind, "contact": p, "payload": WITHDRAWAL_SAMPLE if kind != "purchase" else {}}
                           for p in order]}

    await client.post("/v1/events/batch", json=batch(people, "card.withdrawal"))
    bodies = [batch(people if n % 2 else people[::-1], "purchase" if n % 3 else "card.withdrawal") for n in range(6)]
    answers = await asyncio.gather(*(client.post("/v1/events/batch", json=b) for b in bodies))
    assert [a.status_code for a in answers] == [202] * 6, [a.text[:300] for a in answers if a.status_code != 202]


async def test_a_token_of_a_deleted_workspace_stores_nothing(herald: Running) -> None:
    """The workspace is read with the events' idempotency keys at the start of every transaction that stores
    events: a token that outlived its workspace is refused there, alone and in a batch."""
    keyring = Keyring.from_settings(herald.settings)
    token = jwt.encode({"iss": "herald", "sub": CLIENT_ID, "ws": "ws_gone", "scope": "events:write",
                        "iat": int(time.time()), "exp": int(time.time()) + 60}, keyring.token_key, algorithm="HS256")
    head = {"Authorization": f"Bearer {token}"}
    body = {"type": "card.withdrawal", "contact": {"external_id": "c1"}, "payload": {}, "idempotency_key": "k1"}
    for path, sent in (("/v1/events", body), ("/v1/events", {**body, "idempotency_key": None}),
                       ("/v1/events/batch", {"events": [body]})):
        resp = await herald.client.post(path, json=sent, headers=head)
        assert resp.status_code == 401, resp.text
        assert resp.json()["code"] == "invalid_token"
