"""Single events sent at the same time are stored together (group commit), on SQLite and PostgreSQL, and each
request still gets the answer it would have got alone: a bad event or an idempotency conflict fails only its
own request, repeats answer the first event, and nothing is stored twice or lost."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from tests.conftest import Running
from tests.integration.trigger_setup import (
    WITHDRAWAL_SAMPLE,
    WITHDRAWAL_SCHEMA,
    event_type,
    file_provider,
    send_event,
    template,
    trigger,
)


def _count_commits(herald: Running) -> list[int]:
    commits = [0]

    def count(_conn: Any) -> None:
        commits[0] += 1

    event.listen(herald.app.state.herald.engine.sync_engine, "commit", count)
    return commits


async def test_concurrent_events_share_transactions(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    commits = _count_commits(herald)
    answers = await asyncio.gather(*(
        send_event(client, "card.withdrawal", {"external_id": f"c{n % 7}"}, {**WITHDRAWAL_SAMPLE, "amount": n})
        for n in range(60)))
    assert [a.status_code for a in answers] == [202] * 60
    assert commits[0] < 30  # alone, each would have committed once
    for n, answer in enumerate(answers):
        assert answer.json()["payload"]["amount"] == n
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 60
    contacts = {a.json()["contact_id"] for a in answers}
    assert len(contacts) == 7  # the seven new contacts were each created once
    stored = [e["id"] for e in (await client.get("/v1/events", params={"limit": 200})).json()["data"]]
    assert sorted(stored) == sorted(ids)


async def test_a_bad_event_fails_alone(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    good = [send_event(client, "card.withdrawal", {"external_id": f"g{n}"}, WITHDRAWAL_SAMPLE) for n in range(20)]
    bad = [
        send_event(client, "card.withdrawal", {"external_id": "b1"}, {"amount": -5, "channel": "ATM"}),
        send_event(client, "no.such.type", {"external_id": "b2"}, {}),
        send_event(client, "card.withdrawal", {"phone": "12"}, WITHDRAWAL_SAMPLE),
        send_event(client, "card.withdrawal", {"external_id": "k1"}, WITHDRAWAL_SAMPLE, idempotency_key="same"),
        send_event(client, "card.withdrawal", {"external_id": "k1"}, WITHDRAWAL_SAMPLE, idempotency_key="same"),
        send_event(client, "card.withdrawal", {"external_id": "k1"}, {**WITHDRAWAL_SAMPLE, "amount": 1},
                   idempotency_key="same"),
    ]
    answers = await asyncio.gather(*good, *bad)
    assert [a.status_code for a in answers[:20]] == [202] * 20
    schema, unknown, phone, *keyed = answers[20:]
    assert schema.status_code == 422
    assert schema.json()["errors"][0]["field"] == "payload.amount"  # the single-event path, not events[i]
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_event_type"
    assert phone.status_code == 422
    assert phone.json()["errors"][0]["field"].startswith("contact.phone")
    assert sorted(a.status_code for a in keyed) == [200, 202, 409]
    first = next(a.json() for a in keyed if a.status_code == 202)
    repeat = next(a.json() for a in keyed if a.status_code == 200)
    assert repeat["id"] == first["id"]
    assert repeat["duplicate"] is True
    assert next(a for a in keyed if a.status_code == 409).json()["code"] == "idempotency_conflict"
    stored = (await client.get("/v1/events", params={"limit": 200})).json()["data"]
    assert len(stored) == 21  # the twenty good ones and the keyed one, once each
    contacts = (await client.get("/v1/contacts", params={"limit": 200})).json()["data"]
    assert "b1" not in {c.get("external_id") for c in contacts}  # a refused event leaves nothing behind


async def test_events_stored_together_still_skip_suppressed_recipients(herald: Running) -> None:
    """Suppressions are read once for a whole flush of events; each message still gets its own verdict, and a
    contact with no phone number is judged without them."""
    client = await herald.authed()
    await file_provider(client)
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await template(client, "atm", "Cash out: {{ event.payload.amount }}")
    made = await trigger(client, "atm alert", "card.withdrawal",
                  [{"type": "send", "channel": "sms", "template": "atm", "classification": "direct_marketing"}])
    added = await client.post("/v1/suppressions", json={"entries": [
        {"address": "+14155550101", "reason": "asked in branch"},
        {"address": "+14155550102", "scope": "marketing"}]})
    assert added.status_code == 201
    people = [{"phone": "+14155550101"}, {"phone": "+14155550102"}, {"phone": "+14155550103"},
              {"external_id": "no-phone"}]
    answers = await asyncio.gather(*(send_event(client, "card.withdrawal", who, WITHDRAWAL_SAMPLE)
                                     for who in people for _ in range(3)))
    assert {a.status_code for a in answers} == {202}
    runs = {r["id"]: r for r in (await client.get(f"/v1/triggers/{made['id']}/runs",
                                                         params={"limit": 100})).json()["data"]}
    reasons: dict[str, set[str | None]] = {}
    for answer, who in zip(answers, [w for w in people for _ in range(3)], strict=True):
        message = (await client.get(f"/v1/messages/{runs[answer.json()['runs'][0]]['messages'][0]}")).json()
        reasons.setdefault(next(iter(who.values())), set()).add(message["reason"])
    assert reasons == {"+14155550101": {"suppressed"}, "+14155550102": {"suppressed"},
                       "+14155550103": {"no_consent"}, "no-phone": {"no_address"}}
