"""A fake generic SMS gateway for the ``http`` provider's tests, the demo and benchmarks.

The shape of a typical local aggregator: ``/send`` takes ``to``, ``text`` and ``from`` (or ``sender``) as a
form, a JSON object or a GET query, checks a bearer token or Basic credentials, and answers
``{"status": "OK", "id": "..."}``; a refusal is ``{"status": "ERROR", "error": "..."}`` with 400 (bad input),
401 (bad credentials), 429 or 500. Told to fail (``500``, ``429``, ``slow``, ``drop`` after accepting,
``reject`` with 400) in-process or over ``POST /_fake/fail``. Records every accepted message (``to``, ``from``,
``text``, ``received_at``, the raw ``fields``, ``method``, ``content_type`` and ``id``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import secrets
import time
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web

from herald.fakes.http import HttpFake

SEND_PATH = "/send"
DEFAULT_TOKEN = "fake-httpsms-token"  # noqa: S105 -- the fake's published test credential
DEFAULT_USERNAME = "herald"
DEFAULT_PASSWORD = "fake-httpsms-password"  # noqa: S105 -- ditto
FAILURE_MODES = ("500", "429", "slow", "drop", "reject")
AuthMode = Literal["bearer", "basic", "none"]


class FakeHttpSms(HttpFake):
    """An in-process SMS gateway look-alike on ``host:port`` (port 0 picks a free one); ``auth`` says which
    credential ``/send`` requires."""

    name = "fake-httpsms"
    failure_modes = FAILURE_MODES

    def __init__(self, host: str = "127.0.0.1", port: int = 0, auth: AuthMode = "bearer",
                 token: str = DEFAULT_TOKEN, username: str = DEFAULT_USERNAME,
                 password: str = DEFAULT_PASSWORD) -> None:
        super().__init__(host, port)
        self.auth, self.token, self.username, self.password = auth, token, username, password
        self.messages: list[dict[str, Any]] = []
        self.request_count = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post(SEND_PATH, self._send)
        app.router.add_get(SEND_PATH, self._send)

    def reset(self) -> None:
        """Forget messages, pending failures and the request count."""
        self.messages.clear()
        self._failures.clear()
        self.request_count = 0

    def _authorized(self, request: web.Request) -> bool:
        if self.auth == "none":
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if self.auth == "bearer":
            return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(value, validate=True)
        except binascii.Error:
            return False
        return hmac.compare_digest(given, f"{self.username}:{self.password}".encode())

    @staticmethod
    def _fields(request: web.Request, raw: bytes) -> dict[str, str] | None:
        fields = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                try:
                    data = json.loads(raw)
                except ValueError:
                    return None
                if not isinstance(data, dict):
                    return None
                fields.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
            else:
                fields.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return fields

    @staticmethod
    def _error(status: int, text: str) -> web.Response:
        return web.json_response({"status": "ERROR", "error": text}, status=status)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        raw = await request.read()
        failure = self._next_failure()
        if failure is not None:
            if failure.mode == "500":
                return self._error(500, "internal error")
            if failure.mode == "429":
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
                return web.json_response({"status": "ERROR", "error": "too many requests"}, status=429,
                                         headers=headers)
            if failure.mode == "slow":
                await asyncio.sleep(failure.delay or 0)
        if not self._authorized(request):
            return self._error(401, "bad credentials")
        fields = self._fields(request, raw)
        if fields is None:
            return self._error(400, "unreadable body")
        for name in ("to", "text"):
            if not fields.get(name):
                return self._error(400, f"missing {name}")
        if failure is not None and failure.mode == "reject":
            return self._error(400, "number rejected")
        message = {
            "id": secrets.token_hex(8), "to": fields["to"], "from": fields.get("from") or fields.get("sender"),
            "text": fields["text"], "received_at": time.time(), "fields": fields, "method": request.method,
            "content_type": request.content_type if request.method == "POST" else None,
        }
        self.messages.append(message)
        if failure is not None and failure.mode == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        return web.json_response({"status": "OK", "id": message["id"]})


async def serve(host: str, port: int, auth: AuthMode, token: str, username: str, password: str) -> None:
    """Run a fake gateway until cancelled (``herald fake httpsms``)."""
    async with FakeHttpSms(host, port, auth, token, username, password) as fake:
        credential = {"bearer": f"bearer token={token}", "basic": f"basic {username}:{password}",
                      "none": "no credentials"}[auth]
        print(
            f"Fake SMS gateway on {fake.base_url}{SEND_PATH} ({credential}); admin: GET {fake.base_url}"
            "/_fake/messages, POST /_fake/fail, POST /_fake/reset",
            flush=True,
        )
        await asyncio.Event().wait()
