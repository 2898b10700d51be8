"""A fake Vonage SMS API for tests, the demo and benchmarks.

Speaks enough of ``POST /sms/json`` (credentials in the form, a JSON body or Basic auth; one entry per part in
``messages``, split the way the networks split: 160/153 GSM-7 or 70/67 UCS-2 units; a non-zero ``status`` with
``error-text`` on refusal) that :mod:`herald.channels.sms.vonage` runs unchanged against it. It posts delivery
receipts to the ``callback`` URL -- one ``accepted`` and one final DLR per part, signed when it has a
signature secret -- and builds signed inbound-message webhooks. Told to fail (throttle, 500, slow,
accept-then-drop, barred number) in-process or over ``POST /_fake/fail``.

Assumed rather than documented: a text over 3,200 characters is refused with status 12, and a ``to`` that is
not 7-15 digits (a leading ``+`` included) with status 3.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from herald.channels.sms import segments
from herald.channels.sms.vonage import SEND_PATH, SignatureMethod, compute_signature, wire_number
from herald.fakes.http import HttpFake

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "fakekey1"
DEFAULT_API_SECRET = "fake-vonage-secret"  # noqa: S105 -- the fake's published test credential
FAILURE_MODES = ("throttle", "500", "slow", "drop", "barred")
MAX_TEXT = 3200
PRICE = "0.04120000"
NETWORK = "23410"
CallbackMethod = Literal["GET", "POST", "JSON"]

_DIGITS = re.compile(r"^[1-9][0-9]{6,14}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


class FakeVonage(HttpFake):
    """An in-process Vonage SMS API look-alike on ``host:port`` (port 0 picks a free one).

    ``undeliverable`` maps a number (with or without ``+``) to the DLR ``err-code`` its messages fail with;
    ``callback_method`` is how DLRs are posted: ``GET`` query, ``POST`` form or ``JSON`` body."""

    name = "fake-vonage"
    failure_modes = FAILURE_MODES

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        signature_secret: str | None = None,
        signature_method: SignatureMethod = "md5hash",
        callbacks: bool = True,
        callback_delay: float = 0.05,
        callback_method: CallbackMethod = "POST",
    ) -> None:
        super().__init__(host, port)
        self.api_key, self.api_secret = api_key, api_secret
        self.signature_secret, self.signature_method = signature_secret, signature_method
        self.callbacks, self.callback_delay, self.callback_method = callbacks, callback_delay, callback_method
        self.messages: list[dict[str, Any]] = []
        self.undeliverable: dict[str, str] = {}
        self.balance = 100.0
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
        return {
            "requests": self.request_count,
            "accepted": len(self.messages),
            "parts": sum(len(m["parts"]) for m in self.messages),
            "callbacks_sent": self.callbacks_sent,
            "callback_failures": self.callback_failures,
        }

    # -- what Vonage posts to webhooks --------------------------------------------------------------------

    def signed(self, params: dict[str, str]) -> dict[str, str]:
        """``params`` as Vonage posts them: with ``timestamp``, ``nonce`` and ``sig`` when signing is on."""
        if self.signature_secret is None:
            return dict(params)
        out = {**params, "timestamp": str(int(time.time())), "nonce": str(uuid.uuid4())}
        out["sig"] = compute_signature(self.signature_secret, out, self.signature_method)
        return out

    def delivery_receipt(self, message: dict[str, Any], part: int = 0, status: str = "delivered",
                         err_code: str = "0") -> dict[str, str]:
        """The DLR Vonage sends for part ``part`` of a recorded message."""
        now = datetime.now(UTC)
        params = {
            "msisdn": message["to"], "to": message["from"], "network-code": NETWORK,
            "messageId": message["parts"][part]["message-id"], "price": PRICE, "status": status,
            "scts": now.strftime("%y%m%d%H%M"), "err-code": err_code, "api-key": self.api_key,
            "message-timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if message["client-ref"]:
            params["client-ref"] = message["client-ref"]
        return self.signed(params)

    def inbound(self, sender: str, to: str, text: str, message_id: str | None = None) -> dict[str, str]:
        """The webhook Vonage sends when ``sender`` texts our number ``to`` (both sent without ``+``)."""
        now = datetime.now(UTC)
        words = text.split()
        return self.signed({
            "api-key": self.api_key, "msisdn": wire_number(sender), "to": wire_number(to),
            "messageId": message_id or secrets.token_hex(8).upper(), "text": text,
            "type": "text" if segments.analyze(text).encoding == segments.GSM7 else "unicode",
            "keyword": words[0].upper() if words else "", "message-timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
        })

    async def post_webhook(self, url: str, params: dict[str, str], method: CallbackMethod | None = None) -> int:
        """Send ``params`` to ``url`` the way Vonage does; the HTTP status, or 0 when it could not connect."""
        if self._session is None:
            raise RuntimeError("the fake is not running")
        how = method or self.callback_method
        kwargs: dict[str, Any] = (
            {"params": params} if how == "GET" else {"json": params} if how == "JSON" else {"data": params}
        )
        try:
            async with self._session.request("GET" if how == "GET" else "POST", url, **kwargs) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("fake vonage webhook failed: %s", type(exc).__name__)
            return 0

    # -- the API --------------------------------------------------------------------------------------------

    @staticmethod
    def _refused(status: str, text: str) -> web.Response:
        return web.json_response({"message-count": "1", "messages": [{"status": status, "error-text": text}]})

    @staticmethod
    def _params(request: web.Request, raw: bytes) -> dict[str, str]:
        if request.content_type == "application/json":
            try:
                data = json.loads(raw)
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

    def _authorized(self, request: web.Request, params: dict[str, str]) -> bool:
        key, secret = params.get("api_key", ""), params.get("api_secret", "")
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                key, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
        return hmac.compare_digest(f"{key}\0{secret}".encode(), f"{self.api_key}\0{self.api_secret}".encode())

    @classmethod
    def _invalid(cls, params: dict[str, str]) -> web.Response | None:
        for name in ("from", "to", "text"):
            if not params.get(name):
                return cls._refused("2", f"Missing {name} param")
        if not _DIGITS.match(params["to"]):
            return cls._refused("3", "Invalid to param")
        if not (_DIGITS.match(params["from"]) or _ALPHANUMERIC.match(params["from"])):
            return cls._refused("15", "Illegal Sender Address - rejected")
        if len(params["text"]) > MAX_TEXT:
            return cls._refused("12", "Message too long")
        return None

    async def _send(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        raw = await request.read()
        failure = self._next_failure()
        if failure is not None:
            if failure.mode == "500":
                return web.Response(status=500, text="Internal Server Error")
            if failure.mode == "throttle":
                return self._refused("1", "Throughput Rate Exceeded - please wait [ 1000 ] and retry")
            if failure.mode == "slow":
                await asyncio.sleep(failure.delay or 0)
        params = self._params(request, raw)
        if not self._authorized(request, params):
            return self._refused("4", "Bad Credentials")
        if (invalid := self._invalid(params)) is not None:
            return invalid
        if failure is not None and failure.mode == "barred":
            return self._refused("7", "Number barred.")
        message = self._record(params)
        if self.callbacks and message["callback"] and params.get("status-report-req") in ("1", "true"):
            self._spawn(self._send_receipts(message))
        if failure is not None and failure.mode == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        answers = []
        for part in message["parts"]:
            self.balance -= float(PRICE)
            answer = {"to": message["to"], "message-id": part["message-id"], "status": "0",
                      "remaining-balance": f"{self.balance:.8f}", "message-price": PRICE, "network": NETWORK}
            if message["client-ref"]:
                answer["client-ref"] = message["client-ref"]
            answers.append(answer)
        return web.json_response({"message-count": str(len(answers)), "messages": answers})

    def _record(self, params: dict[str, str]) -> dict[str, Any]:
        kind = params.get("type") or "text"
        texts = segments.split(params["text"])
        parts = [{"message-id": str(uuid.uuid4()), "text": text} for text in texts]
        message: dict[str, Any] = {
            "message-id": parts[0]["message-id"], "to": params["to"], "from": params["from"],
            "text": params["text"], "type": kind, "parts": parts, "client-ref": params.get("client-ref") or None,
            "callback": params.get("callback") or None, "received_at": time.time(), "status": "submitted",
            "err-code": None,
        }
        self.messages.append(message)
        return message

    async def _send_receipts(self, message: dict[str, Any]) -> None:
        """Per part: ``accepted``, then ``delivered`` (or ``failed`` with the number's ``undeliverable`` code),
        ``callback_delay`` apart."""
        code = self.undeliverable.get(message["to"]) or self.undeliverable.get("+" + message["to"])
        final, err = ("failed", code) if code else ("delivered", "0")
        for status, err_code in (("accepted", "0"), (final, err)):
            await asyncio.sleep(self.callback_delay)
            message["status"], message["err-code"] = status, err_code
            for n in range(len(message["parts"])):
                ok = 200 <= await self.post_webhook(message["callback"], self.delivery_receipt(
                    message, n, status, err_code)) < 300
                self.callbacks_sent += ok
                self.callback_failures += not ok

    # -- admin ----------------------------------------------------------------------------------------------


    async def _admin_inbound(self, request: web.Request) -> web.StreamResponse:
        """``{"url", "from", "to", "text"}``: deliver an inbound message to a webhook, as Vonage would."""
        try:
            spec = await request.json()
            params = self.inbound(str(spec["from"]), str(spec["to"]), str(spec.get("text", "")))
            url = str(spec["url"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"status": await self.post_webhook(url, params), "messageId": params["messageId"]})


async def serve(host: str, port: int, api_key: str, api_secret: str, signature_secret: str | None,
                callbacks: bool) -> None:
    """Run a fake Vonage until cancelled (``herald fake vonage``)."""
    async with FakeVonage(host, port, api_key, api_secret, signature_secret, callbacks=callbacks) as fake:
        signing = f", signature_secret={signature_secret}" if signature_secret else ""
        print(
            f"Fake Vonage on {fake.base_url} (api_key={api_key}, api_secret={api_secret}{signing}); admin: "
            f"GET {fake.base_url}/_fake/messages, GET /_fake/stats, POST /_fake/fail, POST /_fake/reset, "
            "POST /_fake/inbound",
            flush=True,
        )
        await asyncio.Event().wait()
