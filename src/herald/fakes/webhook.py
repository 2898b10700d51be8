"""A fake webhook receiver for the ``webhook`` provider's tests and the demo: it verifies each request as a
Standard Webhooks consumer must -- the ``webhook-signature`` over ``{id}.{timestamp}.{body}`` under its
secret, a timestamp within five minutes -- and records what it accepted.

``POST /hooks`` (any path under it) answers 204 when the request verifies, 401 when its signature does not,
400 when its headers are missing or its timestamp is stale. A repeat of a ``webhook-id`` already accepted
is answered 204 again and counted (``repeats``), as a receiver that drops duplicates would. Told to fail
(``500``, ``429``, ``slow``, ``drop`` after accepting, ``gone`` with 410, ``reject`` with 400) in-process or
over ``POST /_fake/fail``."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from typing import Any

from aiohttp import web

from herald.channels.webhook import sign, signing_key
from herald.fakes.http import HttpFake

PATH = "/hooks"
DEFAULT_SECRET = "whsec_" + base64.b64encode(b"herald-fake-webhook-receiver-key").decode()
TOLERANCE = 300
FAILURE_MODES = ("500", "429", "slow", "drop", "gone", "reject")


class FakeWebhookReceiver(HttpFake):
    name = "fake-webhook"
    failure_modes = FAILURE_MODES

    def __init__(self, host: str = "127.0.0.1", port: int = 0, secret: str = DEFAULT_SECRET) -> None:
        super().__init__(host, port)
        self.key = signing_key(secret)
        self.messages: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.request_count = 0
        self.repeats = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}{PATH}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self._receive)
        app.router.add_post(PATH + "/{rest:.*}", self._receive)

    def reset(self) -> None:
        self.messages.clear()
        self.refused.clear()
        self._failures.clear()
        self.request_count = self.repeats = 0

    def stats(self) -> dict[str, int]:
        return {"messages": len(self.messages), "refused": len(self.refused), "repeats": self.repeats}

    def _verify(self, request: web.Request, body: bytes) -> tuple[int, str] | None:
        """Why the request must be refused, as (status, reason); None when it verifies."""
        message_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "")
        given = request.headers.get("webhook-signature", "")
        if not (message_id and stamp.isdigit() and given):
            return 400, "missing webhook-id, webhook-timestamp or webhook-signature"
        if abs(time.time() - int(stamp)) > TOLERANCE:
            return 400, "stale timestamp"
        expected = sign(self.key, message_id, int(stamp), body)
        # The header may carry several space-separated signatures (during a key rotation): one must match.
        if not any(hmac.compare_digest(part, expected) for part in given.split()):
            return 401, "bad signature"
        return None

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        body = await request.read()
        failure = self._next_failure()
        if failure is not None:
            if failure.mode == "500":
                return web.json_response({"error": "internal error"}, status=500)
            if failure.mode == "429":
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
                return web.json_response({"error": "slow down"}, status=429, headers=headers)
            if failure.mode == "gone":
                return web.json_response({"error": "this endpoint was removed"}, status=410)
            if failure.mode == "reject":
                return web.json_response({"error": "unknown customer"}, status=400)
            if failure.mode == "slow":
                await asyncio.sleep(failure.delay or 0)
        refusal = self._verify(request, body)
        if refusal is not None:
            self.refused.append({"reason": refusal[1], "headers": dict(request.headers), "received_at": time.time()})
            return web.json_response({"error": refusal[1]}, status=refusal[0])
        message_id = request.headers["webhook-id"]
        if any(m["id"] == message_id for m in self.messages):
            self.repeats += 1
        else:
            self.messages.append({"id": message_id, "timestamp": int(request.headers["webhook-timestamp"]),
                                  "body": json.loads(body), "path": request.path, "received_at": time.time(),
                                  "headers": {k: v for k, v in request.headers.items()
                                              if not k.lower().startswith("webhook-")}})
        if failure is not None and failure.mode == "drop" and request.transport is not None:
            request.transport.close()  # accepted, but the answer never reaches the sender
        return web.Response(status=204)


async def serve(host: str, port: int, secret: str) -> None:
    """Run a fake receiver until cancelled (``herald fake webhook``)."""
    async with FakeWebhookReceiver(host, port, secret) as fake:
        print(f"Fake webhook receiver on {fake.url} (secret {secret}); admin: GET {fake.base_url}/_fake/messages, "
              "POST /_fake/fail, POST /_fake/reset", flush=True)
        await asyncio.Event().wait()
