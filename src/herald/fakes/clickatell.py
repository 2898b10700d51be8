"""A fake Clickatell Platform REST API for tests, the demo and benchmarks.

Speaks enough of ``POST /v1/message`` (the API key as the bare ``Authorization`` header, a JSON ``messages``
list; 202 with ``apiMessageId`` / ``accepted`` per message, 400 with a message-level ``error`` on a bad
recipient or parameter, 401 with a request-level ``error`` on a bad key) that
:mod:`herald.channels.sms.clickatell` runs unchanged against it. Error codes are the One API's (1 bad key,
20 insufficient balance, 23 invalid parameter, 25 invalid recipient, 26 opted out, 43 rate limit, 18 internal
error). Like the real integration it has one status ``callback_url`` (where Herald puts its ``?token=``) and
posts status callbacks there in the flat Platform shape: ``003`` delivered to gateway, then ``004`` received
by recipient, or the failure the number is ``undeliverable`` with. It builds reply (inbound) callbacks too.
Told to fail (throttle, 500, slow, accept-then-drop, blocked recipient, no credit) in-process or over
``POST /_fake/fail``.

Assumed rather than documented: content over 1,600 characters is refused with code 24, a ``to`` that is not
7-15 digits with code 25, and a rate-limited call carries ``Retry-After`` only when the failure names one.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from herald.channels.sms.clickatell import SEND_PATH
from herald.channels.sms.vonage import wire_number
from herald.fakes.http import HttpFake

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "fake-clickatell-api-key=="  # the fake's published test credential
FAILURE_MODES = ("throttle", "500", "slow", "drop", "blocked", "no_credit")
MAX_CONTENT = 1600
INTEGRATION = "Herald fake integration"
DOCS = "https://docs.clickatell.com/channels/one-api/one-api-reference/#section/Error-Codes"

_DIGITS = re.compile(r"^[1-9][0-9]{6,14}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
DELIVERED = (4, "RECEIVED_BY_RECIPIENT", "Received by recipient")
AT_GATEWAY = (3, "DELIVERED_TO_GATEWAY", "Delivered to gateway")
FAILURES: dict[str, tuple[int, str, str]] = {
    "error": (7, "ERROR_DELIVERING_MESSAGE", "Error delivering message"),
    "blocked": (7, "ERROR_DELIVERING_MESSAGE", "Destination mobile number blocked (opted out)"),
    "routing": (9, "ROUTING_ERROR", "Routing error"),
    "expired": (10, "MESSAGE_EXPIRED", "Message expired"),
}
"""What ``undeliverable`` may name: the final status callback a number's messages get."""


def _error(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description, "documentation": DOCS}


class FakeClickatell(HttpFake):
    """An in-process Clickatell Platform look-alike on ``host:port`` (port 0 picks a free one).

    ``undeliverable`` maps a number (with or without ``+``) to a key of :data:`FAILURES`."""

    name = "fake-clickatell"
    failure_modes = FAILURE_MODES

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_API_KEY,
                 callback_url: str | None = None, callbacks: bool = True, callback_delay: float = 0.05) -> None:
        super().__init__(host, port)
        self.api_key = api_key
        self.callback_url, self.callbacks, self.callback_delay = callback_url, callbacks, callback_delay
        self.messages: list[dict[str, Any]] = []
        self.undeliverable: dict[str, str] = {}
        self.request_count = self.callbacks_sent = self.callback_failures = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post(SEND_PATH, self._send)
        app.router.add_post("/_fake/inbound", self._admin_inbound)

    def reset(self) -> None:
        """Forget messages, pending failures and counters."""
        self.messages.clear()
        self._failures.clear()
        self.request_count = self.callbacks_sent = self.callback_failures = 0

    def stats(self) -> dict[str, int]:
        return {"requests": self.request_count, "accepted": len(self.messages),
                "callbacks_sent": self.callbacks_sent, "callback_failures": self.callback_failures}

    # -- what Clickatell posts to callbacks ---------------------------------------------------------------

    def status_callback(self, message: dict[str, Any], status: tuple[int, str, str] = DELIVERED) -> dict[str, Any]:
        """The status callback Clickatell posts for a recorded message (flat Platform shape)."""
        code, name, description = status
        return {"integrationName": INTEGRATION, "messageId": message["apiMessageId"],
                "requestId": message["requestId"], "clientMessageId": message["clientMessageId"] or "",
                "to": message["to"], "from": message["from"] or "", "statusCode": code, "status": name,
                "statusDescription": description, "timestamp": int(time.time() * 1000)}

    def reply(self, sender: str, to: str, text: str, message_id: str | None = None,
              replied_to: str | None = None) -> dict[str, Any]:
        """The reply callback Clickatell posts when ``sender`` texts our number ``to`` (both without ``+``)."""
        words = text.split()
        return {"integrationName": INTEGRATION, "messageId": replied_to or "",
                "replyMessageId": message_id or secrets.token_hex(16), "fromNumber": wire_number(sender),
                "toNumber": wire_number(to), "timestamp": int(time.time() * 1000), "text": text,
                "charset": "UTF-8", "udh": "", "network": 0, "keyword": words[0].upper() if words else ""}

    async def post_callback(self, url: str, body: dict[str, Any]) -> int:
        """POST ``body`` as JSON to ``url`` the way Clickatell does; the HTTP status, or 0 when it could not."""
        if self._session is None:
            raise RuntimeError("the fake is not running")
        try:
            async with self._session.post(url, json=body) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("fake clickatell callback failed: %s", type(exc).__name__)
            return 0

    # -- the API --------------------------------------------------------------------------------------------

    @staticmethod
    def _answer(status: int, entry: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"messages": [entry] if entry else [], "error": error}, status=status,
                                 headers=headers)

    @classmethod
    def _refused(cls, spec: dict[str, Any], code: int, description: str) -> web.Response:
        """A message-level refusal: HTTP 400, ``accepted: false``, the global ``error`` unused."""
        entry = {"apiMessageId": None, "accepted": False, "to": str(spec.get("to", "")),
                 "clientMessageId": spec.get("clientMessageId"), "error": _error(code, description)}
        return cls._answer(400, entry)

    @classmethod
    def _invalid(cls, spec: dict[str, Any]) -> web.Response | None:
        if spec.get("channel", "sms") != "sms":
            return cls._refused(spec, 23, "Invalid or missing parameter: channel")
        content, to, sender = spec.get("content"), spec.get("to"), spec.get("from")
        if not isinstance(content, str) or not content:
            return cls._refused(spec, 23, "Invalid or missing parameter: content")
        if not isinstance(to, str) or not _DIGITS.match(to):
            return cls._refused(spec, 25, "Invalid recipient address")
        if sender is not None and not (isinstance(sender, str) and (_DIGITS.match(sender) or
                                                                     _ALPHANUMERIC.match(sender))):
            return cls._refused(spec, 23, "Invalid or missing parameter: from")
        if len(content) > MAX_CONTENT:
            return cls._refused(spec, 24, "Maximum message content size exceeded")
        return None

    async def _send(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        raw = await request.read()
        failure = self._next_failure()
        if failure is not None:
            if failure.mode == "500":
                return self._answer(500, error=_error(18, "Internal error"))
            if failure.mode == "throttle":
                wait = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after else None
                return self._answer(429, error=_error(43, "Rate limit"), headers=wait)
            if failure.mode == "slow":
                await asyncio.sleep(failure.delay or 0)
        key = request.headers.get("Authorization", "").strip()
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return self._answer(401, error=_error(1, "Invalid or missing Integration API Key"))
        try:
            body = json.loads(raw)
            spec = body["messages"][0]
            if not isinstance(spec, dict):
                raise TypeError("a message must be an object")
        except (ValueError, KeyError, IndexError, TypeError):
            return self._answer(400, error=_error(21, "Payload data is malformed"))
        if (invalid := self._invalid(spec)) is not None:
            return invalid
        if failure is not None and failure.mode == "blocked":
            return self._refused(spec, 26, "Recipient opted out")
        if failure is not None and failure.mode == "no_credit":
            return self._answer(402, error=_error(20, "Insufficient account balance"))
        message = self._record(spec)
        if self.callbacks and self.callback_url:
            self._spawn(self._send_callbacks(message, self.callback_url))
        if failure is not None and failure.mode == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=202)
        entry = {"apiMessageId": message["apiMessageId"], "accepted": True, "to": message["to"], "error": None}
        if message["clientMessageId"]:
            entry["clientMessageId"] = message["clientMessageId"]
        return self._answer(202, entry)

    def _record(self, spec: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "apiMessageId": uuid.uuid4().hex, "requestId": str(uuid.uuid4()), "to": spec["to"],
            "from": spec.get("from"), "content": spec["content"], "clientMessageId": spec.get("clientMessageId"),
            "received_at": time.time(), "status": "QUEUED",
        }
        self.messages.append(message)
        return message

    async def _send_callbacks(self, message: dict[str, Any], url: str) -> None:
        """Delivered to the gateway, then received by the recipient (or the number's ``undeliverable``
        failure), ``callback_delay`` apart."""
        failure = self.undeliverable.get(message["to"]) or self.undeliverable.get("+" + message["to"])
        for status in (AT_GATEWAY, FAILURES[failure] if failure else DELIVERED):
            await asyncio.sleep(self.callback_delay)
            message["status"] = status[1]
            ok = 200 <= await self.post_callback(url, self.status_callback(message, status)) < 300
            self.callbacks_sent += ok
            self.callback_failures += not ok

    # -- admin ----------------------------------------------------------------------------------------------


    async def _admin_inbound(self, request: web.Request) -> web.StreamResponse:
        """``{"url", "from", "to", "text"}``: deliver a reply to a callback URL, as Clickatell would."""
        try:
            spec = await request.json()
            body = self.reply(str(spec["from"]), str(spec["to"]), str(spec.get("text", "")))
            url = str(spec["url"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"status": await self.post_callback(url, body),
                                  "replyMessageId": body["replyMessageId"]})


async def serve(host: str, port: int, api_key: str, callback_url: str | None, callbacks: bool) -> None:
    """Run a fake Clickatell until cancelled (``herald fake clickatell``)."""
    async with FakeClickatell(host, port, api_key, callback_url, callbacks=callbacks) as fake:
        print(
            f"Fake Clickatell on {fake.base_url} (api_key={api_key}); admin: GET {fake.base_url}/_fake/messages, "
            "GET /_fake/stats, POST /_fake/fail, POST /_fake/reset, POST /_fake/inbound",
            flush=True,
        )
        await asyncio.Event().wait()
