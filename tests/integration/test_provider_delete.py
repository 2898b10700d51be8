"""Deleting a provider: refused while messages wait for it; afterwards its sent messages keep their history
and stop naming it (messages.provider_id has no foreign key, so the service clears it)."""

from __future__ import annotations

from tests.conftest import Running, wait_for


async def _sms(running: Running) -> tuple[str, str]:
    client = await running.authed()
    sent = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "hi"})
    assert sent.status_code == 202, sent.text
    provider = next(p for p in (await client.get("/v1/providers")).json() if p["channel"] == "sms")
    return sent.json()["id"], provider["id"]


async def test_a_provider_with_waiting_messages_cannot_be_deleted(herald: Running) -> None:
    _, provider_id = await _sms(herald)
    client = await herald.authed()
    resp = await client.delete(f"/v1/providers/{provider_id}")
    assert resp.status_code == 409
    assert resp.json()["code"] == "provider_in_use"
    assert (await client.get(f"/v1/providers/{provider_id}")).status_code == 200


async def test_deleting_a_provider_clears_it_from_its_sent_messages(herald_with_worker: Running) -> None:
    message_id, provider_id = await _sms(herald_with_worker)
    client = await herald_with_worker.authed()

    async def sent() -> bool:
        message = (await client.get(f"/v1/messages/{message_id}")).json()
        return message["state"] in ("sent", "delivered") and message["provider_id"] == provider_id

    await wait_for(sent)
    assert (await client.delete(f"/v1/providers/{provider_id}")).status_code == 204
    message = (await client.get(f"/v1/messages/{message_id}")).json()
    assert message["provider_id"] is None
    assert message["state"] in ("sent", "delivered")
    assert [e["state"] for e in message["timeline"]][:2] == ["queued", "sending"]
