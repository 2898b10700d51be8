"""Single events sent at the same time are stored together (group commit), on SQLite and PostgreSQL, and each
request still gets the answer it would have got alone: a bad event or an idempotency conflict fails only its
own request, repeats answer the first event, and nothing is stored twice or lost."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from tests.conftest import Running
from tests.integration.trigger_setup import WITHDRAWAL_SAMPLE, WITHDRAWAL_SCHEMA, event_type, send_event


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
