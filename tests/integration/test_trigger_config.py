"""Event types, triggers and the provider and template lookups of the messages they plan are kept in memory
per process, yet a change made anywhere (this process or another on the same database) applies to the very
next event, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.conftest import Running, _start
from tests.integration.trigger_setup import (
    WITHDRAWAL_SAMPLE,
    WITHDRAWAL_SCHEMA,
    event_type,
    file_provider,
    send_event,
    template,
    trigger,
)

ANN = {"phone": "+14155550100"}
ALERT = [{"type": "send", "channel": "sms", "template": "alert"}]


async def test_changes_in_another_process_apply_to_the_next_event(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await template(client, "alert", "You withdrew {{ event.amount }}")
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    first = await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)
    assert first.json()["triggers"] == []  # no trigger yet: and this process now keeps that answer

    other_app, lifespan = await _start(herald.settings, with_worker=False)  # a second process's API
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other_app),
                                     base_url="http://testserver") as raw:
            other = await Running(other_app, raw, herald.settings).authed()
            made = await trigger(other, "atm-alert", "card.withdrawal", ALERT, filter='event.channel == "ATM"')
            second = await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)
            assert second.json()["triggers"] == [made["id"]]
            assert await _body(client, made["id"]) == "You withdrew 120.0"

            edit = {"variants": {"en": {"body": "Withdrawal: {{ event.amount }}"}}}
            resp = await other.patch("/v1/templates/alert", json=edit)
            assert resp.status_code == 200, resp.text
            await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)
            assert await _body(client, made["id"]) == "Withdrawal: 120.0"  # the new version, not the one kept

            for provider in await _sms_providers(other):
                resp = await other.patch(f"/v1/providers/{provider}", json={"enabled": False})
                assert resp.status_code == 200, resp.text
            await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)
            runs = (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"]
            assert runs[0]["state"] == "failed"  # no enabled provider is left: the one kept in memory is not used
            assert "no enabled sms provider" in runs[0]["reason"]

            resp = await other.patch(f"/v1/triggers/{made['id']}", json={"active": False})
            assert resp.status_code == 200, resp.text
            assert (await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)).json()["triggers"] == []

            stricter = {**WITHDRAWAL_SCHEMA, "required": [*WITHDRAWAL_SCHEMA["required"], "atm_id"]}
            resp = await other.patch("/v1/event-types/card.withdrawal", json={"schema": stricter})
            assert resp.status_code == 200, resp.text
            refused = await send_event(client, "card.withdrawal", ANN, {"amount": 5, "channel": "ATM"})
            assert refused.status_code == 422
            assert refused.json()["code"] == "schema_violation"

            resp = await other.delete(f"/v1/triggers/{made['id']}")
            assert resp.status_code == 204, resp.text
            resp = await other.delete("/v1/event-types/card.withdrawal")
            assert resp.status_code == 204, resp.text
            gone = await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)
            assert gone.status_code == 422
            assert gone.json()["code"] == "unknown_event_type"
    finally:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_changes_here_apply_to_the_next_event(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await template(client, "alert", "You withdrew {{ event.amount }}")
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    made = await trigger(client, "atm-alert", "card.withdrawal", ALERT, filter='event.channel == "POS"')
    assert (await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)).json()["triggers"] == []
    resp = await client.patch(f"/v1/triggers/{made['id']}", json={"filter": 'event.channel == "ATM"'})
    assert resp.status_code == 200, resp.text
    assert (await send_event(client, "card.withdrawal", ANN, WITHDRAWAL_SAMPLE)).json()["triggers"] == [made["id"]]


async def _body(client: httpx.AsyncClient, trigger_id: str) -> str:
    """The text of the message planned by the trigger's newest run."""
    run = (await client.get(f"/v1/triggers/{trigger_id}/runs")).json()["data"][0]
    message = (await client.get(f"/v1/messages/{run['messages'][0]}")).json()
    return str(message["content"]["body"])


async def _sms_providers(client: httpx.AsyncClient) -> list[str]:
    return [p["id"] for p in (await client.get("/v1/providers")).json() if p["channel"] == "sms"]
