"""Twilio Programmable Messaging over its REST API (``2010-04-01`` Messages resource).

One pooled aiohttp session per provider; every HTTP and network outcome is mapped onto
:class:`TransientError` / :class:`PermanentError` so the retry policy decides. Also Twilio's webhook helpers:
the ``X-Twilio-Signature`` algorithm and the status-callback mapping onto Herald's receipt states.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote_plus, urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from herald.channels.base import (
    Envelope,
    PermanentError,
    ProviderContext,
    ProviderSpec,
    Receipt,
    SendResult,
    TransientError,
)
from herald.channels.pooled import PooledHttp, retry_after_seconds
from herald.redact import mask_address

log = logging.getLogger(__name__)

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
API_VERSION = "2010-04-01"
RECONCILE_SLACK = timedelta(minutes=2)
"""Clock skew allowed between our ``since`` and Twilio's ``date_created``."""
RECONCILE_PAGE_SIZE = 200
RECONCILE_MAX_PAGES = 5
_QUOTED_MAX = 1024
"""Encoded senders and callback prefixes remembered per provider (a handful in practice)."""

_STATES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
"""Twilio MessageStatus -> Herald state; other statuses (queued, accepted, sending...) record nothing."""
HARD_BOUNCES = frozenset({"30005", "30006"})
"""Error codes that mean the number can never receive SMS (unknown handset, landline): a bounce, suppressed."""

_ERROR_TEXT = {
    "30001": "Queue overflow",
    "30002": "Account suspended",
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered by carrier",
    "30008": "Unknown error",
    "30009": "Missing segment",
    "30010": "Message price exceeds max price",
}


class TwilioSettings(BaseModel):
    """A Twilio account. With an API key pair, requests authenticate with the key; callback signatures are
    always made with the account's auth token."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-fA-F]{32}$")
    api_key_secret: SecretStr | None = None
    from_number: str | None = Field(default=None, pattern=r"^(\+[1-9][0-9]{1,14}|[A-Za-z0-9 ]{1,11})$")
    """An E.164 number or an alphanumeric sender id."""
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    base_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://")
    timeout: float = Field(default=10.0, ge=1, le=120)
    max_connections: int = Field(default=200, ge=1, le=1000)

    @model_validator(mode="after")
    def _check_sender_and_key(self) -> Self:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("set from_number or messaging_service_sid")
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("api_key_sid and api_key_secret must be given together")
        return self


class TwilioProvider:
    """Sends SMS through one Twilio account; shared by all concurrent sends of a worker."""

    def __init__(self, settings: TwilioSettings, ctx: ProviderContext | None = None) -> None:
        self.settings = settings
        self._ctx = ctx
        self._base = settings.base_url.rstrip("/")
        self._messages_url = f"{self._base}/{API_VERSION}/Accounts/{settings.account_sid}/Messages.json"
        if settings.api_key_sid and settings.api_key_secret:
            user, password = settings.api_key_sid, settings.api_key_secret.get_secret_value()
        else:
            user, password = settings.account_sid, settings.auth_token.get_secret_value()
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}
        self._pool = PooledHttp("Twilio", timeout=settings.timeout, max_connections=settings.max_connections,
                                headers=self._headers)
        self._quoted: dict[str, str] = {}

    async def close(self) -> None:
        await self._pool.close()

    def _from_number(self, envelope: Envelope) -> str | None:
        """The From number of this message, or None when the messaging service picks it."""
        if envelope.sender:
            return envelope.sender
        return None if self.settings.messaging_service_sid else self.settings.from_number

    async def send(self, envelope: Envelope) -> SendResult:
        body = envelope.content.get("body")
        if not isinstance(body, str) or not body:
            raise PermanentError("SMS envelope has no body", code="21602")
        to = mask_address(envelope.to)
        # Pre-encoded: aiohttp's FormData costs more CPU than the rest of the request.
        answer = await self._pool.send("POST", self._messages_url, to=to, data=self._form(envelope, body),
                                       headers=_FORM)
        result = _send_outcome(answer.status, answer.body, answer.retry_after)
        log.debug("twilio accepted message to %s as %s", to, result.provider_message_id)
        return result

    def _form(self, envelope: Envelope, body: str) -> bytes:
        """The create-message form, URL-encoded: To, Body, From (or MessagingServiceSid), StatusCallback.

        Byte for byte what ``urlencode`` makes of the same fields in that order, at a fifth of its cost: the
        sender and the callback URL up to its last ``=`` (the same for every message of this provider) are
        encoded once and remembered, since percent-encoding is per character and may be split anywhere."""
        from_number = self._from_number(envelope)
        sender = ("&From=" + self._encoded(from_number) if from_number
                  else "&MessagingServiceSid=" + self._encoded(self.settings.messaging_service_sid or ""))
        form = "To=" + quote_plus(envelope.to) + "&Body=" + quote_plus(body) + sender
        if envelope.callback_url:
            head, sep, tail = envelope.callback_url.rpartition("=")
            form += "&StatusCallback=" + self._encoded(head + sep) + quote_plus(tail)
        return form.encode()

    def _encoded(self, value: str) -> str:
        found = self._quoted.get(value)
        if found is None:
            if len(self._quoted) >= _QUOTED_MAX:
                self._quoted.clear()
            found = self._quoted[value] = quote_plus(value)
        return found

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """Look for our message in Twilio's list (same To/From, same body, created since ``since``)."""
        body = envelope.content.get("body")
        floor = (since if since.tzinfo else since.replace(tzinfo=UTC)) - RECONCILE_SLACK
        # No DateSent filter: Twilio leaves date_sent empty while a message waits in its queue, and such a
        # message must be found too. The newest pages for this To/From pair are scanned instead.
        first = {
            "To": envelope.to,
            "PageSize": str(RECONCILE_PAGE_SIZE),
        }
        from_number = self._from_number(envelope)
        if from_number:
            first["From"] = from_number
        url: str | None = self._messages_url
        params: dict[str, str] | None = first
        for _ in range(RECONCILE_MAX_PAGES):
            if url is None:
                return None
            page = await self._get_json(url, params)
            for message in page.get("messages") or ():
                if message.get("body") == body and _created_at(message) >= floor and message.get("sid"):
                    return SendResult(
                        provider_message_id=str(message["sid"]),
                        code=message.get("status"),
                        detail="found by reconcile",
                    )
            next_uri = page.get("next_page_uri")
            url, params = (f"{self._base}{next_uri}" if next_uri else None), None
        if url is None:
            return None
        raise TransientError("too many messages to this number to reconcile yet")

    async def _get_json(self, url: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        try:
            async with self._pool.session().get(url, params=params) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"cannot list Twilio messages: {type(exc).__name__}") from exc
        if status != 200:
            code, message = _error_fields(raw)
            raise TransientError(f"cannot list Twilio messages: {message}", code=code or str(status))
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise TransientError("unreadable Twilio message list") from exc
        if not isinstance(data, dict):
            raise TransientError("unreadable Twilio message list")
        return data


def _send_outcome(status: int, raw: bytes, retry_after: str | None) -> SendResult:
    """Map one answer of the create-message call onto a result or a typed error."""
    if 200 <= status < 300:
        try:
            data = json.loads(raw)
            sid = data["sid"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientError(f"unreadable Twilio answer ({status})", maybe_sent=True) from exc
        if not isinstance(sid, str) or not sid:
            raise TransientError(f"Twilio answer without a sid ({status})", maybe_sent=True)
        return SendResult(provider_message_id=sid, code=str(data.get("status") or status))
    code, message = _error_fields(raw)
    if status == 429:
        raise TransientError(message, code=code or "20429", retry_after=retry_after_seconds(retry_after))
    if status >= 500:
        # A gateway timeout or bad gateway may hide an upstream that did create the message.
        raise TransientError(
            message,
            code=code or str(status),
            retry_after=retry_after_seconds(retry_after),
            maybe_sent=status in (502, 504),
        )
    if status == 408:
        raise TransientError(message, code=code or "408")
    raise PermanentError(message, code=code or str(status))


def _error_fields(raw: bytes) -> tuple[str | None, str]:
    """Twilio's ``code`` and ``message`` from an error body; tolerant of proxies answering HTML."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return None, (raw[:200].decode("utf-8", "replace").strip() or "empty answer from Twilio")
    code = data.get("code")
    return (str(code) if code is not None else None), str(data.get("message") or "Twilio error")


def _created_at(message: Mapping[str, Any]) -> datetime:
    try:
        when = parsedate_to_datetime(str(message.get("date_created")))
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def compute_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed by the auth token, over the full URL followed
    by every POST parameter's name and value, sorted by name."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> tuple[str, ...]:
    """The URL as given and with its scheme's default port added or removed: Twilio may sign either form."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.hostname or "@" in parts.netloc or ":" in parts.hostname:
        return (url,)
    try:
        port = parts.port
    except ValueError:
        return (url,)
    if port is None:
        return (url, urlunsplit(parts._replace(netloc=f"{parts.hostname}:{default}")))
    return (url, urlunsplit(parts._replace(netloc=parts.hostname))) if port == default else (url,)


def verify_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """True when ``signature`` is Twilio's signature of this request; constant-time, False when missing."""
    if not signature or not auth_token:
        return False
    given = signature.encode()
    ok = False
    for variant in _url_variants(url):
        ok |= hmac.compare_digest(compute_signature(auth_token, variant, params).encode(), given)
    return ok


def parse_status_callback(form: Mapping[str, str]) -> Receipt | None:
    """A Twilio status callback as a receipt; None for intermediate statuses (queued, sending...)."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    state = _STATES.get(status)
    if not sid or state is None:
        return None
    code = (form.get("ErrorCode") or "").strip() or None
    if state in ("undelivered", "failed") and code in HARD_BOUNCES:
        state = "bounced"
    detail = f"Twilio: {status}"
    if code:
        text = _ERROR_TEXT.get(code)
        detail += f" ({code} {text})" if text else f" (error {code})"
    return Receipt(provider_message_id=sid, state=state, code=code, detail=detail)


SPEC = ProviderSpec(
    kind="twilio",
    channels=frozenset({"sms"}),
    settings_model=TwilioSettings,
    factory=lambda settings, ctx: TwilioProvider(settings, ctx),
    description="Twilio Programmable Messaging (REST)",
)
