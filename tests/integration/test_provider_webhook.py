"""Outgoing webhooks through the real app and dispatcher, on SQLite and PostgreSQL, into a local receiver that
verifies every request as a Standard Webhooks consumer does: delivered once verified, retried with the same
``webhook-id`` on 5xx and 429, failed for good on 410, another 4xx or a refused signature."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from herald.fakes.webhook import DEFAULT_SECRET, FakeWebhookReceiver
from tests.conftest import Running, wait_for
from tests.integration.test_console import new_client, sign_in


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as fake:
        yield fake


async def setup(client: httpx.AsyncClient, receiver: FakeWebhookReceiver, secret: str = DEFAULT_SECRET) -> None:
    resp = await client.post("/v1/providers", json={"name": "crm", "kind": "webhook", "settings": {
        "url": receiver.url + "/herald", "secret": secret, "headers": {"X-Api-Key": "crm-key"}}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["secrets"] == {"secret": True}  # never shown back
    resp = await client.post("/v1/templates", json={"name": "alert", "channel": "webhook", "variants": {"en": {
        "json": '{"type": "card.blocked", "customer": {{ contact.name | json }}, "card": {{ card | json }}}'}}})
    assert resp.status_code == 201, resp.text
    resp = await client.post("/v1/contacts", json={"external_id": "C-7", "name": "Zoë \"Z\" Ng"})
    assert resp.status_code in (200, 201), resp.text


async def send(client: httpx.AsyncClient, **body: Any) -> str:
    resp = await client.post("/v1/messages", json={"channel": "webhook", "provider": "crm", **body})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


async def settled(client: httpx.AsyncClient, message_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        message = (await client.get(f"/v1/messages/{message_id}")).json()
        return message if message["state"] in ("delivered", "failed") else None

    return dict(await wait_for(probe, 20))


async def test_a_webhook_is_signed_delivered_and_shows_in_the_console(herald_with_worker: Running,
                                                                      receiver: FakeWebhookReceiver) -> None:
    client = await herald_with_worker.authed()
    await setup(client, receiver)
    message_id = await send(client, contact={"external_id": "C-7"}, template="alert", data={"card": "1234"})
    message = await settled(client, message_id)
    assert message["state"] == "delivered"
    assert [m["id"] for m in receiver.messages] == [message_id]
    got = receiver.messages[0]
    assert got["body"]["data"] == {"type": "card.blocked", "customer": 'Zoë "Z" Ng', "card": "1234"}
    assert (got["body"]["id"], got["body"]["to"], got["path"]) == (message_id, "C-7", "/hooks/herald")
    assert got["headers"]["X-Api-Key"] == "crm-key"
    assert receiver.refused == []
    async with new_client(herald_with_worker) as console:  # the console shows the JSON sent, as JSON
        await sign_in(console)
        page = (await console.get(f"/console/messages/{message_id}")).text
    assert '"card": "1234"' in page


async def test_a_failing_receiver_gets_the_same_webhook_id_again(herald_with_worker: Running,
                                                                 receiver: FakeWebhookReceiver) -> None:
    client = await herald_with_worker.authed()
    await setup(client, receiver)
    receiver.fail("500", count=1)
    receiver.fail("429", count=1, retry_after=0)
    message_id = await send(client, to="crm-user-1", payload={"hello": "world"})
    message = await settled(client, message_id)
    assert message["state"] == "delivered"
    assert [a["outcome"] for a in message["attempts"]] == ["transient", "transient", "sent"]
    assert receiver.request_count == 3
    assert [m["id"] for m in receiver.messages] == [message_id]


@pytest.mark.parametrize(("mode", "code"), [("gone", "410"), ("reject", "400")])
async def test_a_receiver_that_refuses_fails_the_message_at_once(herald_with_worker: Running,
                                                                 receiver: FakeWebhookReceiver, mode: str,
                                                                 code: str) -> None:
    client = await herald_with_worker.authed()
    await setup(client, receiver)
    receiver.fail(mode, count=5)
    message = await settled(client, await send(client, to="crm-user-1", payload={"a": 1}))
    assert message["state"] == "failed"
    assert [a["code"] for a in message["attempts"]] == [code]
    assert receiver.request_count == 1


async def test_a_signature_the_receiver_cannot_verify_fails_and_is_refused_there(
        herald_with_worker: Running, receiver: FakeWebhookReceiver) -> None:
    client = await herald_with_worker.authed()
    other = "whsec_" + base64.b64encode(b"another-key-another-key-12345678").decode()
    await setup(client, receiver, secret=other)
    message = await settled(client, await send(client, to="crm-user-1", payload={"a": 1}))
    assert message["state"] == "failed"
    assert message["attempts"][0]["code"] == "401"
    assert receiver.messages == []
    assert [r["reason"] for r in receiver.refused] == ["bad signature"]


async def test_bad_provider_settings_and_content_are_refused(herald_with_worker: Running,
                                                             receiver: FakeWebhookReceiver) -> None:
    client = await herald_with_worker.authed()
    bad = await client.post("/v1/providers", json={"name": "x", "kind": "webhook", "settings": {
        "url": receiver.url, "secret": "too-short"}})
    assert bad.status_code == 422
    assert "secret" in bad.text
    await setup(client, receiver)
    resp = await client.post("/v1/messages", json={"channel": "webhook", "to": "u", "body": "text"})
    assert (resp.status_code, resp.json()["code"]) == (422, "field_not_for_channel")
