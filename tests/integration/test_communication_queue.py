"""The communication queue (seed 002): messages for a third-party system (a customer portal, an app's inbox)
that pulls them over /v1/queues and acknowledges each -- completed, rejected, removed. Through the real app
and its dispatcher, on SQLite and PostgreSQL, with a consumer whose token holds only ``queues:consume``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Running, wait_for
from tests.integration.campaign_setup import act, campaign, make_list, person, until
from tests.integration.trigger_setup import event_type, send_event, trigger

NOTICE = '{"title": "Bill ready", "name": {{ contact.name | json }}, "amount": {{ amount | json }}}'


async def setup(client: httpx.AsyncClient, visibility: int = 30) -> dict[str, Any]:
    resp = await client.post("/v1/providers", json={"name": "portal", "kind": "queue",
                                                    "settings": {"visibility_seconds": visibility}})
    assert resp.status_code == 201, resp.text
    made = await client.post("/v1/contacts", json={"external_id": "C-1", "name": 'Ann "Nan" O\'Neil',
                                                   "email": "ann@example.com"})
    assert made.status_code in (200, 201), made.text
    resp = await client.post("/v1/templates", json={"name": "bill-ready", "channel": "queue",
                                                    "variants": {"en": {"json": NOTICE}}})
    assert resp.status_code == 201, resp.text
    return dict(made.json())


async def consumer(herald: Running) -> httpx.AsyncClient:
    """A client of the third-party system: its token may pull and acknowledge, nothing else."""
    admin = await herald.authed()
    resp = await admin.post("/v1/clients", json={"name": "portal", "scopes": ["queues:consume"]})
    assert resp.status_code == 201, resp.text
    form = {"grant_type": "client_credentials"}
    token = await herald.client.post("/oauth/token", data=form, auth=(resp.json()["id"], resp.json()["secret"]))
    return httpx.AsyncClient(transport=herald.client._transport, base_url="http://testserver",
                             headers={"Authorization": f"Bearer {token.json()['access_token']}"})


async def send(client: httpx.AsyncClient, **body: Any) -> str:
    resp = await client.post("/v1/messages", json={"channel": "queue", "provider": "portal", **body})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def available(client: httpx.AsyncClient, ids: list[str]) -> None:
    async def sent() -> bool:
        states = [(await client.get(f"/v1/messages/{i}")).json()["state"] for i in ids]
        return all(s == "sent" for s in states)

    await wait_for(sent, 20)


async def pull(portal: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    resp = await portal.post("/v1/queues/portal/pull", json=body)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["entries"])


async def test_entries_are_pulled_by_priority_once_at_a_time_and_acknowledged(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    templated = await send(client, contact={"external_id": "C-1"}, template="bill-ready", data={"amount": "120.00"},
                           classification="financial")
    urgent = await send(client, contact={"external_id": "C-1"}, payload={"title": "Card blocked"}, priority=5)
    raw = await send(client, to="portal-user-9", payload={"title": "Welcome"})
    await available(client, [templated, urgent, raw])
    portal = await consumer(herald_with_worker)

    assert (await client.get(f"/v1/messages/{raw}")).json()["explanation"].startswith("Pending: available")
    first = await pull(portal, limit=2)
    assert [e["id"] for e in first] == [urgent, templated]  # priority first, then the oldest
    assert first[1]["content"] == {"title": "Bill ready", "name": 'Ann "Nan" O\'Neil', "amount": "120.00"}
    assert (first[1]["to"], first[1]["classification"], first[1]["system"]) == ("C-1", "financial",
                                                                                 first[0]["system"])
    assert first[1]["contact_id"]
    assert first[1]["template_id"]
    assert [e["id"] for e in await pull(portal)] == [raw]  # the two pulled are hidden from other pulls
    assert await pull(portal) == []
    assert [m["id"] for m in (await client.get("/v1/messages", params={"channel": "queue", "to": "C-1"})).json()[
        "data"]] == [urgent, templated]  # the interactions view finds a system's recipient as given

    acks = await portal.post("/v1/queues/portal/acks", json={"acks": [
        {"id": templated, "state": "completed"}, {"id": urgent, "state": "rejected", "detail": "inbox closed"},
        {"id": templated, "state": "completed"}, {"id": "msg_nope", "state": "completed"}]})
    assert acks.status_code == 200, acks.text
    assert [(r["outcome"], r.get("code")) for r in acks.json()["results"]] == [
        ("updated", None), ("updated", None), ("unchanged", None), ("refused", "entry_not_found")]
    assert (acks.json()["updated"], acks.json()["refused"]) == (2, 1)
    later = await portal.post("/v1/queues/portal/acks", json={"acks": [
        {"id": templated, "state": "removed"}, {"id": urgent, "state": "completed"}]})
    assert [(r["outcome"], r["state"], r.get("code")) for r in later.json()["results"]] == [
        ("updated", "removed", None), ("refused", "rejected", "invalid_transition")]

    done = (await client.get(f"/v1/messages/{templated}")).json()
    assert done["state"] == "removed"
    assert done["delivered_at"]
    assert [t["state"] for t in done["timeline"]][-3:] == ["sent", "completed", "removed"]
    rejected = (await client.get(f"/v1/messages/{urgent}")).json()
    assert (rejected["state"], rejected["reason"]) == ("rejected", "rejected")
    assert "inbox closed" in rejected["explanation"]

    stats = (await portal.get("/v1/queues/portal")).json()
    assert {k: stats[k] for k in ("pending", "in_flight", "completed", "rejected", "removed")} == {
        "pending": 0, "in_flight": 1, "completed": 0, "rejected": 1, "removed": 1}
    assert (await portal.post("/v1/messages", json={"channel": "queue", "to": "x", "payload": {}})).status_code == 403


async def test_an_entry_not_acknowledged_in_time_is_pulled_again(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client, visibility=30)
    entry = await send(client, to="portal-user-1", payload={"title": "Hello"})
    await available(client, [entry])
    portal = await consumer(herald_with_worker)
    first = await pull(portal, visibility_seconds=1)
    assert [e["id"] for e in first] == [entry]
    assert await pull(portal) == []
    await asyncio.sleep(1.1)
    again = await pull(portal)
    assert [e["id"] for e in again] == [entry]  # the same id: the system recognises the repeat
    assert again[0]["visible_again_at"] > first[0]["visible_again_at"]


async def test_concurrent_pulls_never_hand_out_an_entry_twice(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    ids = [await send(client, to=f"user-{i}", payload={"n": i}) for i in range(30)]
    await available(client, ids)
    portals = [await consumer(herald_with_worker) for _ in range(3)]
    pulls = await asyncio.gather(*(pull(p, limit=4) for p in portals for _ in range(3)))
    pulled = [e["id"] for batch in pulls for e in batch]  # nine pulls of four: room for all thirty
    assert sorted(pulled) == sorted(ids)  # each once: no entry went to two pulls
    assert await pull(portals[0], limit=500) == []


async def test_an_entry_past_its_expiry_is_expired_not_handed_out(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    expires = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    entry = await send(client, to="user-1", payload={"title": "Flash sale"}, expires_at=expires)
    await available(client, [entry])
    await asyncio.sleep(1.6)
    assert await pull(await consumer(herald_with_worker)) == []
    message = (await client.get(f"/v1/messages/{entry}")).json()
    assert (message["state"], message["reason"]) == ("expired", "expired")


async def test_a_trigger_puts_an_alert_in_the_queue(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    await event_type(client, "bill.issued", sample={"amount": "80.00"})
    await trigger(client, "bill to portal", "bill.issued", [
        {"type": "send", "channel": "queue", "template": "bill-ready", "data": {"amount": "{{ event.amount }}"},
         "provider": "portal", "classification": "financial"}])
    resp = await send_event(client, "bill.issued", {"external_id": "C-1"}, {"amount": "80.00"})
    assert resp.status_code in (200, 201, 202), resp.text
    portal = await consumer(herald_with_worker)

    async def entries() -> list[dict[str, Any]]:
        return await pull(portal)

    got = await wait_for(entries, 20)
    assert got[0]["to"] == "C-1"
    assert got[0]["source"] == "trigger"
    assert got[0]["content"]["title"] == "Bill ready"


async def test_a_campaign_fills_the_queue_and_counts_the_systems_answers(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    resp = await client.post("/v1/templates", json={"name": "offer", "channel": "queue", "variants": {"en": {
        "json": '{"offer": {{ row.offer | json }}, "name": {{ contact.name | json }}}'}}})
    assert resp.status_code == 201, resp.text
    lst = await make_list(client, "Customers", [person(i) for i in range(3)] + [person(3, consent=False)])
    refused = await client.post("/v1/campaigns", json={"name": "x", "channel": "queue", "lists": [lst["id"]],
                                                       "message_column": "offer"})
    assert (refused.status_code, refused.json()["code"]) == (422, "json_needs_template")
    made = await campaign(client, channel="queue", lists=[lst["id"]], template="offer", provider="portal",
                          classification="direct_marketing")
    dry = (await client.post(f"/v1/campaigns/{made['id']}/preview", json={"samples": 1})).json()
    assert (dry["would_send"], dry["would_skip"]) == (3, {"opted_out": 1})
    assert dry["samples"][0]["content"] == {"json": {"offer": "0% off", "name": "Person0 Test"}}
    await act(client, made["id"], "start")
    await until(client, made["id"], lambda d: d["state"] == "completed")
    portal = await consumer(herald_with_worker)
    entries = await pull(portal, limit=10)
    assert sorted((e["to"], e["content"]["offer"]) for e in entries) == [("c0", "0% off"), ("c1", "1% off"),
                                                                        ("c2", "2% off")]
    by_to = {e["to"]: e["id"] for e in entries}
    await portal.post("/v1/queues/portal/acks", json={"acks": [{"id": by_to["c0"], "state": "completed"},
                                                               {"id": by_to["c1"], "state": "rejected"}]})
    progress = (await client.get(f"/v1/campaigns/{made['id']}")).json()["progress"]
    assert {k: progress[k] for k in ("sent", "delivered", "undelivered", "skipped")} == {
        "sent": 1, "delivered": 1, "undelivered": 1, "skipped": 1}


async def test_bad_input_is_refused_with_a_reason(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    resp = await client.post("/v1/providers", json={"name": "sms", "kind": "file", "channel": "sms", "settings": {}})
    assert resp.status_code == 201
    portal = await consumer(herald_with_worker)

    async def problem(resp: httpx.Response) -> tuple[int, str]:
        return resp.status_code, resp.json().get("code")

    assert await problem(await portal.post("/v1/queues/sms/pull", json={})) == (404, "queue_not_found")
    assert await problem(await portal.post("/v1/queues/nowhere/acks", json={"acks": [
        {"id": "msg_x", "state": "completed"}]})) == (404, "queue_not_found")
    assert (await portal.post("/v1/queues/portal/pull", json={"limit": 0})).status_code == 422
    assert (await portal.post("/v1/queues/portal/acks", json={"acks": []})).status_code == 422
    assert (await portal.post("/v1/queues/portal/acks", json={"acks": [
        {"id": "msg_x", "state": "delivered"}]})).status_code == 422

    def message(**body: Any) -> Any:
        return client.post("/v1/messages", json={"channel": "queue", "provider": "portal", **body})

    assert await problem(await message(to="u1")) == (422, "missing_payload")
    assert await problem(await message(to="u1", payload={"a": 1}, body="hi")) == (422, "field_not_for_channel")
    assert await problem(await message(to=" \n", payload={"a": 1})) == (422, "invalid_address")
    assert await problem(await client.post("/v1/messages", json={
        "channel": "sms", "to": "+14155550100", "body": "x", "payload": {"a": 1}})) == (422, "field_not_for_channel")
    broken = await client.post("/v1/templates", json={"name": "broken", "channel": "queue",
                                                      "variants": {"en": {"json": '{"name": "{{ contact.name }}"}'}}})
    assert broken.status_code == 201, broken.text
    failed = await message(contact={"external_id": "C-1"}, template="broken")  # the name's quotes break it
    assert await problem(failed) == (422, "render_error")
    stored = (await client.get(f"/v1/messages/{failed.json()['message_id']}")).json()
    assert (stored["state"], stored["reason"]) == ("failed", "render_error")
    promo = await send(client, contact={"external_id": "C-1"}, payload={"t": "20% off"},
                       classification="direct_marketing")
    skipped = (await client.get(f"/v1/messages/{promo}")).json()
    assert (skipped["state"], skipped["reason"]) == ("skipped", "no_consent")
    queued = await send(client, to="u2", payload={"a": 1}, send_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    refused = await portal.post("/v1/queues/portal/acks", json={"acks": [{"id": queued, "state": "completed"}]})
    assert refused.json()["results"][0]["code"] == "entry_not_available"
