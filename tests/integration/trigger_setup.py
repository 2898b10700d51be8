"""Building blocks for event and trigger tests: event types, templates and triggers made through the API."""

from __future__ import annotations

from typing import Any

import httpx

WITHDRAWAL_SCHEMA = {"type": "object", "required": ["amount", "channel"], "properties": {
    "amount": {"type": "number", "minimum": 0}, "channel": {"type": "string", "enum": ["ATM", "POS", "WEB"]},
    "atm_id": {"type": "string"}}}
WITHDRAWAL_SAMPLE = {"amount": 120.0, "channel": "ATM", "atm_id": "0042"}


async def event_type(client: httpx.AsyncClient, name: str, schema: dict[str, Any] | None = None,
                     sample: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "description": f"{name} events"}
    if schema is not None:
        body["schema"] = schema
    if sample is not None:
        body["sample"] = sample
    resp = await client.post("/v1/event-types", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def template(client: httpx.AsyncClient, name: str, body: str, channel: str = "sms") -> dict[str, Any]:
    parts = {"body": body} if channel == "sms" else {"subject": name, "text": body}
    resp = await client.post("/v1/templates", json={"name": name, "channel": channel, "variants": {"en": parts}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def trigger(client: httpx.AsyncClient, name: str, event: str | None, steps: list[dict[str, Any]],
                  **extra: Any) -> dict[str, Any]:
    body = {"name": name, "description": f"{name} (test)", "event_type": event, "steps": steps, **extra}
    resp = await client.post("/v1/triggers", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def send_event(client: httpx.AsyncClient, type_: str, contact: dict[str, Any],
                     payload: dict[str, Any] | None = None, **extra: Any) -> httpx.Response:
    return await client.post("/v1/events", json={"type": type_, "contact": contact, "payload": payload or {},
                                                 **extra})


async def file_provider(client: httpx.AsyncClient) -> None:
    """An SMS provider that writes to the outbox: messages are planned against it (tests without a worker)."""
    resp = await client.post("/v1/providers", json={"name": "outbox", "kind": "file", "channel": "sms",
                                                    "settings": {}})
    assert resp.status_code == 201, resp.text
