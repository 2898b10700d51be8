"""``POST /v1/events`` is served by the fast path when all is well and by the app otherwise, and a client
cannot tell the two apart: each request below gets the same status, headers and body either way."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from herald.events.fastpath import EventFastPath
from tests.conftest import Running
from tests.integration.trigger_setup import WITHDRAWAL_SAMPLE, WITHDRAWAL_SCHEMA, event_type


def _fast_path(herald: Running) -> EventFastPath:
    layer: Any = herald.app.middleware_stack
    while not isinstance(layer, EventFastPath):
        layer = layer.app
    return layer


class _Counting:
    """Stands between the fast path and the app: counts the requests handed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.seen = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen += 1
        await self.app(scope, receive, send)


def _comparable(resp: httpx.Response) -> tuple[int, str | None, Any]:
    body = resp.json()
    if resp.status_code in (200, 202):
        body = {k: v for k, v in body.items() if k not in ("id", "received_at", "occurred_at")}
    return resp.status_code, resp.headers.get("content-type"), body


async def test_the_fast_path_answers_as_the_app_does(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    good = {"type": "card.withdrawal", "contact": {"external_id": "x1"}, "payload": WITHDRAWAL_SAMPLE}
    narrow = await herald.token("templates:read")
    cases: list[tuple[str, dict[str, Any], bool]] = [
        ("good", {"json": good}, True),
        ("keyed", {"json": {**good, "idempotency_key": "K"}}, True),
        ("schema", {"json": {**good, "payload": {"amount": -1, "channel": "ATM"}}}, True),
        ("unknown type", {"json": {**good, "type": "nope"}}, True),
        ("future", {"json": {**good, "occurred_at": "2999-01-01T00:00:00Z"}}, True),
        ("no token", {"json": good, "headers": {"Authorization": ""}}, False),
        ("bad token", {"json": good, "headers": {"Authorization": "Bearer nonsense"}}, False),
        ("scope", {"json": good, "headers": {"Authorization": f"Bearer {narrow}"}}, False),
        ("not json", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, False),
        ("form", {"data": {"type": "x"}}, False),
        ("not an event", {"json": {"type": "card.withdrawal"}}, False),
        ("extra field", {"json": {**good, "surprise": 1}}, False),
        ("too large", {"json": {**good, "payload": {"blob": "x" * (2 * herald.settings.max_request_bytes)}}},
         False),
    ]
    fast = _fast_path(herald)
    counting = fast.app = _Counting(fast.app)

    async def bypass(scope: Scope, receive: Receive, send: Send) -> None:
        await fast.app(scope | {"app": herald.app}, receive, send)

    direct = httpx.AsyncClient(transport=httpx.ASGITransport(app=bypass), base_url="http://testserver",
                               headers=dict(client.headers))
    async with direct:
        for name, request, served_fast in cases:
            seen = counting.seen
            via_fast = await client.post("/v1/events", **request)
            assert (counting.seen == seen) is served_fast, name
            if name == "keyed":  # the app's own answer to the same key: the repeat
                again = await direct.post("/v1/events", **request)
                assert again.status_code == 200
                assert again.json()["id"] == via_fast.json()["id"]
                continue
            via_app = await direct.post("/v1/events", **request)
            assert _comparable(via_fast) == _comparable(via_app), name
            assert via_fast.status_code < 500, name
            if via_fast.status_code == 202:
                assert via_fast.headers["location"] == f"/v1/events/{via_fast.json()['id']}"
