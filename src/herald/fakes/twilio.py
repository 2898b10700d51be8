"""A fake Twilio Messages API for tests, the demo and benchmarks.

Speaks enough of Twilio's REST dialect (Basic auth, form-encoded create, Twilio error JSON, list filters) that
:mod:`herald.channels.sms.twilio` runs unchanged against it, posts signed status callbacks, and can be told to
fail (500, 429, slow, accept-then-drop) in-process or over its ``/_fake`` admin endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from herald import gcpolicy
from herald.channels.sms.twilio import API_VERSION, compute_signature
from herald.fakes.http import HttpFake

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "fake-twilio-token"  # noqa: S105 -- the fake's published test credential
FAILURE_MODES = ("500", "429", "slow", "drop")

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def _segments(body: str) -> int:
    """Rough segment count (GSM-7 when ASCII, else UCS-2): only used to look like Twilio."""
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


class FakeTwilio(HttpFake):
    """An in-process Twilio look-alike on ``host:port`` (port 0 picks a free one)."""

    name = "fake-twilio"
    failure_modes = FAILURE_MODES

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        callbacks: bool = True,
        callback_delay: float = 0.05,
        api_keys: dict[str, str] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.callbacks, self.callback_delay = callbacks, callback_delay
        self.api_keys = dict(api_keys or {})
        self.messages: list[dict[str, Any]] = []
        self.request_count = 0
        self.in_flight = self.peak_in_flight = 0
        """Message requests being answered now, and the most at once (a client's concurrency, seen from here)."""
        self.callbacks_sent = 0
        self.callback_failures = 0
        self.undeliverable: set[str] = set()
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._date_cache: tuple[int, str, str] = (-1, "", "")
        self._valid_auth = {self._basic(account_sid, auth_token)}
        self._valid_auth.update(self._basic(sid, secret) for sid, secret in self.api_keys.items())

    @staticmethod
    def _basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

    def routes(self, app: web.Application) -> None:
        messages = "/" + API_VERSION + "/Accounts/{account}/Messages"
        app.router.add_post(messages + ".json", self._create)
        app.router.add_get(messages + ".json", self._list)
        app.router.add_get(messages + "/{sid}.json", self._fetch)

    def reset(self) -> None:
        """Forget messages, pending failures and counters."""
        self.messages.clear()
        self._by_sid.clear()
        self._failures.clear()
        self.request_count = self.callbacks_sent = self.callback_failures = self.peak_in_flight = 0

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.request_count,
            "peak_in_flight": self.peak_in_flight,
            "accepted": len(self.messages),
            "callbacks_sent": self.callbacks_sent,
            "callback_failures": self.callback_failures,
        }

    @staticmethod
    def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        info = f"https://www.twilio.com/docs/errors/{code}"
        body = {"code": code, "message": message, "more_info": info, "status": status}
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header in self._valid_auth:
            return True
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self._basic(user, password) in self._valid_auth

    def _gate(self, request: web.Request) -> web.Response | None:
        """Twilio's auth and account checks, shared by every API route."""
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return self._error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    def _validate(self, form: dict[str, str]) -> web.Response | None:
        to, sender, service = form.get("To", ""), form.get("From", ""), form.get("MessagingServiceSid", "")
        body = form.get("Body", "")
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender and not service:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if sender and not (_E164.match(sender) or _ALPHANUMERIC.match(sender)):
            return self._error(400, 21606, f"The 'From' phone number provided ({sender}) is not valid.")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        return None

    def _resource(self, message: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message['sid']}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message["body"],
            "date_created": message["date_created"],
            "date_sent": message["date_created"],
            "date_updated": message["date_created"],
            "direction": "outbound-api",
            "error_code": message["error_code"],
            "error_message": None,
            "from": message["from"],
            "messaging_service_sid": message["messaging_service_sid"],
            "num_media": "0",
            "num_segments": message["num_segments"],
            "price": None,
            "price_unit": "USD",
            "sid": message["sid"],
            "status": message["status"],
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": message["to"],
            "uri": uri,
        }

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        failure = self._next_failure()
        if failure is not None:
            if failure.mode == "500":
                return self._error(500, 20500, "Internal Server Error")
            if failure.mode == "429":
                retry = failure.retry_after if failure.retry_after is not None else 1
                return self._error(429, 20429, "Too Many Requests", {"Retry-After": f"{retry:g}"})
            if failure.mode == "slow":
                await asyncio.sleep(failure.delay or 0)
        if (refused := self._gate(request)) is not None:
            return refused
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if (invalid := self._validate(form)) is not None:
            return invalid
        created, day = self._dates()
        message: dict[str, Any] = {
            "sid": "SM" + secrets.token_hex(16),
            "to": form["To"],
            "from": form.get("From") or None,
            "body": form["Body"],
            "status_callback": form.get("StatusCallback") or None,
            "received_at": time.time(),
            "messaging_service_sid": form.get("MessagingServiceSid") or None,
            "status": "accepted" if not form.get("From") else "queued",
            "error_code": None,
            "num_segments": str(_segments(form["Body"])),
            "date_created": created,
            "day": day,
        }
        self.messages.append(message)
        self._by_sid[message["sid"]] = message
        if self.callbacks and message["status_callback"]:
            self._spawn(self._send_callbacks(message))
        if failure is not None and failure.mode == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=201)
        return web.json_response(self._resource(message), status=201)

    def _dates(self) -> tuple[str, str]:
        """Now as Twilio's ``date_created`` (RFC 2822, whole seconds) and as the day the list filters on;
        made once per second, not per message (formatting was a tenth of the fake's CPU per request)."""
        now = datetime.now(UTC)
        second = int(now.timestamp())
        if self._date_cache[0] != second:
            self._date_cache = (second, format_datetime(now.replace(microsecond=0)), now.strftime("%Y-%m-%d"))
        return self._date_cache[1], self._date_cache[2]

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        query = request.query
        after, before = query.get("DateSent>", "")[:10], query.get("DateSent<", "")[:10]
        on = query.get("DateSent", "")[:10]
        found = [
            m
            for m in reversed(self.messages)
            if ("To" not in query or m["to"] == query["To"])
            and ("From" not in query or m["from"] == query["From"])
            and (not after or m["day"] >= after)
            and (not before or m["day"] <= before)
            and (not on or m["day"] == on)
        ]
        try:
            size = min(max(int(query.get("PageSize", "50")), 1), 1000)
            page = max(int(query.get("Page", "0")), 0)
        except ValueError:
            return self._error(400, 20001, "Invalid paging parameters")
        start = page * size
        chunk = found[start : start + size]
        keep = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(n: int) -> str:
            return f"{request.path}?{urlencode({**keep, 'PageSize': size, 'Page': n})}"

        return web.json_response(
            {
                "messages": [self._resource(m) for m in chunk],
                "page": page,
                "page_size": size,
                "start": start,
                "end": start + max(len(chunk) - 1, 0),
                "uri": uri(page),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if start + size < len(found) else None,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
            }
        )

    async def _fetch(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._gate(request)) is not None:
            return refused
        message = self._by_sid.get(request.match_info["sid"])
        if message is None:
            return self._error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(self._resource(message))

    async def _send_callbacks(self, message: dict[str, Any]) -> None:
        """``sent`` then ``delivered`` (or ``undelivered`` 30003), ``callback_delay`` apart."""
        final = "undelivered" if message["to"] in self.undeliverable else "delivered"
        for status in ("sent", final):
            await asyncio.sleep(self.callback_delay)
            message["status"] = status
            params = {
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "AccountSid": self.account_sid,
                "From": message["from"] or "",
                "To": message["to"],
                "MessageStatus": status,
                "SmsStatus": status,
                "ApiVersion": API_VERSION,
            }
            if status == "undelivered":
                params["ErrorCode"] = message["error_code"] = "30003"
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            await self._post_callback(message["status_callback"], params)

    async def _post_callback(self, url: str, params: dict[str, str]) -> None:
        signature = compute_signature(self.auth_token, url, params)
        session = self._session
        if session is None:
            self.callback_failures += 1
            return
        try:
            async with session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
                await resp.read()
                ok = resp.status < 400
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("fake twilio callback failed: %s", type(exc).__name__)
            ok = False
        if ok:
            self.callbacks_sent += 1
        else:
            self.callback_failures += 1

    def public(self) -> list[dict[str, Any]]:
        shown = ("sid", "to", "from", "body", "status_callback", "received_at", "status", "error_code")
        return [{k: m[k] for k in shown} for m in self.messages]


async def serve(host: str, port: int, account_sid: str, auth_token: str, callbacks: bool) -> None:
    """Run a fake Twilio until cancelled (``herald fake twilio``).

    Its own process keeps every message it accepted; collecting garbage every 700 allocations (CPython's
    default) cost ~8 % of its CPU per request under a benchmark's load, and a full pass stalls the receipt
    times it reports: its collector is settled as a server's is (:mod:`herald.gcpolicy`)."""
    async with FakeTwilio(host, port, account_sid, auth_token, callbacks=callbacks) as fake:
        gcpolicy.settle()
        print(
            f"Fake Twilio on {fake.base_url} (account_sid={account_sid}, auth_token={auth_token}); admin: "
            f"GET {fake.base_url}/_fake/messages, GET /_fake/stats, POST /_fake/fail, POST /_fake/reset",
            flush=True,
        )
        await asyncio.Event().wait()
