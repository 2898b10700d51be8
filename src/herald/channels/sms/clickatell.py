"""Clickatell Platform REST API: ``POST {base_url}/v1/message``, its status callbacks and inbound ("reply")
callbacks.

One pooled aiohttp session per provider; every HTTP and network outcome and every per-message ``error`` of the
answer is mapped onto :class:`TransientError` / :class:`PermanentError` so the retry policy decides.

Wire format. The request carries the integration's API key as the bare ``Authorization`` header and a JSON
``{"messages": [{"channel": "sms", "to", "content", "from"?, "clientMessageId"}]}``; the answer (202) has one
entry per message with ``apiMessageId``, ``accepted`` and an ``error`` object, plus a request-level
``error``. Numbers go out in international format without the ``+`` and come back the same way; Herald stores
E.164 (Vonage's ``wire_number`` / ``to_e164`` do both ways). Herald's message id travels as
``clientMessageId`` and comes back in every status callback, which is how a receipt finds its message: the
Platform has no per-message callback URL (it is set once on the integration), so ``Envelope.callback_url`` is
not sent.

Two code tables. Clickatell has documented two generations of numbers for the same endpoints: the Platform REST
tables (send errors such as 105 invalid destination, 108 invalid API key, 114 cannot route, 121 destination
blocked, 301 no credit; callback ``statusCode`` 001-014) and the One API tables (send errors 1 invalid API key,
20 insufficient balance, 25 invalid recipient, 26 opted out, 43 rate limit; statuses 1-6, 20-29, 100 by name
such as ``DEVICE_ACK``). The send codes do not collide in meaning, so one table maps both. The status codes do
(5 is ``ERROR_WITH_MESSAGE`` in one and ``DEVICE_ACK`` in the other), so a callback is read by its ``status``
name when that is a One API name and by its number otherwise. Callbacks may also come in the One API envelope
(``{"event": {"messageStatusUpdate": [...]}}`` / ``{"event": {"moText": [...]}}``); both shapes are read.

Webhook authentication. Clickatell does not sign its callbacks (only the archived Developers' Central offered
optional Basic auth on the callback URL). So Herald authenticates them by a secret in the URL: the provider's
``webhook_token`` (you generate it, e.g. ``openssl rand -hex 24``) is appended as ``?token=...`` to the two
callback URLs you configure on the integration, and :func:`authenticate` compares it in constant time. Keep the
URLs HTTPS so the token is not readable in transit (Herald logs paths, never query strings; check that a
reverse proxy in front does not log them either), and rotate it by changing the setting and the URLs
together. Replays are harmless: receipts only move a message forward and an inbound message is stored once per
id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

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
from herald.channels.sms.vonage import wire_number
from herald.crypto import same_secret
from herald.redact import mask_address

log = logging.getLogger(__name__)

SEND_PATH = "/v1/message"
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}

_TRANSIENT_ERRORS: dict[int, float | None] = {18: None, 19: None, 20: 60.0, 43: 1.0, 301: 60.0, 901: None}
"""Send error codes worth retrying, with a floor for the wait: internal errors (18, 19, 901), out of credit
(20, 301: someone has to top up) and the rate limit (43). Every other code is the message's or the
account's fault: permanent."""
_ERROR_TEXT = {
    1: "Invalid or missing API key", 2: "Account is not active", 3: "Integration is not active",
    7: "IP address not approved", 18: "Internal error", 19: "Internal error, please retry",
    20: "Insufficient account balance", 21: "Payload data is malformed", 23: "Invalid or missing parameter",
    24: "Maximum message content size exceeded", 25: "Invalid recipient address", 26: "Recipient opted out",
    27: "Recipient not available on channel", 43: "Rate limit", 100: "Data malformed",
    101: "Invalid or missing parameters", 105: "Invalid destination address", 106: "Invalid source address",
    108: "Invalid or missing API key", 114: "Cannot route message", 121: "Destination mobile number blocked",
    301: "No credit left", 901: "Internal error",
}

_PLATFORM_STATES: dict[int, str | None] = {
    1: None, 2: None, 3: "sent", 4: "delivered", 5: "failed", 6: "failed", 7: "undelivered", 8: None,
    9: "failed", 10: "undelivered", 11: None, 12: "failed", 14: "failed",
}
"""Platform ``statusCode`` -> Herald state (None: not final, nothing recorded): 003 delivered to gateway,
004 received by recipient, 005 error with message, 006 user cancelled, 007 error delivering, 009 routing error,
010 expired, 012 out of credit, 014 maximum MT limit exceeded."""
_ONE_API_STATES: dict[str, str | None] = {
    "UNKNOWN": None, "QUEUED": None, "SCHEDULED": None, "SENT_TO_SUPPLIER": "sent", "DEVICE_ACK": "delivered",
    "READ": "delivered", "EXPIRED": "undelivered", "STOPPED_BY_USER": "bounced", "STOPPED_BY_ADMIN": "failed",
    "DELIVERY_FAILURE": "undelivered", "INSUFFICIENT_ACCOUNT_BALANCE": "failed", "VOLUME_LIMIT": "failed",
    "VOLUME_LIMIT_DAILY": "failed", "VOLUME_LIMIT_MONTHLY": "failed", "RECIPIENT_DOES_NOT_EXIST": "bounced",
    "ROUTING_ERROR": "failed",
}
"""One API ``status`` names -> Herald state; a recipient who stopped the messages or does not exist is a
bounce (suppressed)."""
_BLOCKED_WORDS = ("blocked", "opted out", "opt-out", "barred")
"""A failure whose ``statusDescription`` says one of these is a bounce too: the number refuses our messages."""


class ClickatellSettings(BaseModel):
    """A Clickatell Platform integration (its API key), the secret its callbacks must carry, and an optional
    sender (a two-way integration's number or a registered sender id)."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr
    webhook_token: SecretStr = Field(min_length=16)
    """Appended as ``?token=`` to the callback URLs configured on the integration (see the module docs)."""
    from_number: str | None = Field(default=None, pattern=r"^(\+[1-9][0-9]{1,14}|[A-Za-z0-9 ]{1,11})$")
    base_url: str = Field(default="https://platform.clickatell.com", pattern=r"^https?://")
    timeout: float = Field(default=10.0, ge=1, le=120)
    max_connections: int = Field(default=200, ge=1, le=1000)


class ClickatellProvider:
    """Sends SMS through one Clickatell integration; shared by all concurrent sends of a worker."""

    def __init__(self, settings: ClickatellSettings, ctx: ProviderContext | None = None) -> None:
        self.settings = settings
        self._ctx = ctx
        self._url = settings.base_url.rstrip("/") + SEND_PATH
        self._pool = PooledHttp("Clickatell", timeout=settings.timeout, max_connections=settings.max_connections)

    async def close(self) -> None:
        await self._pool.close()

    def _payload(self, envelope: Envelope, body: str) -> dict[str, Any]:
        message: dict[str, str] = {"channel": "sms", "to": wire_number(envelope.to), "content": body,
                                   "clientMessageId": envelope.message_id}
        sender = envelope.sender or self.settings.from_number
        if sender:
            message["from"] = wire_number(sender)
        return {"messages": [message]}

    async def send(self, envelope: Envelope) -> SendResult:
        body = envelope.content.get("body")
        if not isinstance(body, str) or not body:
            raise PermanentError("SMS envelope has no body", code="101")
        to = mask_address(envelope.to)
        headers = {**_JSON, "Authorization": self.settings.api_key.get_secret_value()}
        payload = json.dumps(self._payload(envelope, body)).encode()
        answer = await self._pool.send("POST", self._url, to=to, data=payload, headers=headers)
        result = send_outcome(answer.status, answer.body, answer.retry_after)
        log.debug("clickatell accepted message to %s as %s", to, result.provider_message_id)
        return result

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """Always ``None`` (not sent): the Platform's message status lookup needs the ``apiMessageId``, which is
        exactly what an ambiguous failure lost, and cannot search by ``clientMessageId``. So after a dropped
        answer the message is sent again; the callbacks of both carry the same ``clientMessageId``."""
        return None


def send_outcome(status: int, raw: bytes, retry_after: str | None) -> SendResult:
    """Map one answer of ``/v1/message`` (one message sent) onto a result or a typed error."""
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        data = None
    entries = data.get("messages") if isinstance(data, dict) else None
    entry = entries[0] if isinstance(entries, list) and entries and isinstance(entries[0], dict) else None
    error = _error(entry) or _error(data)
    wait = retry_after_seconds(retry_after)
    if status == 429 or status >= 500 or status in (402, 408):
        code, text = error or (str(status), _snippet(raw))
        # A gateway error may hide an upstream that did accept the message.
        raise TransientError(f"Clickatell HTTP {status}: {text}", code=code, maybe_sent=status in (502, 504),
                             retry_after=wait if wait is not None else (60.0 if status == 402 else None))
    if 200 <= status < 300 and entry is not None and entry.get("accepted") is True:
        message_id = entry.get("apiMessageId")
        if isinstance(message_id, str) and message_id:
            return SendResult(provider_message_id=message_id, code=str(status))
        raise TransientError("Clickatell answer without an apiMessageId", maybe_sent=True)
    if error is not None:
        code, text = error
        number = int(code) if code.isdigit() else -1
        if number in _TRANSIENT_ERRORS:
            raise TransientError(f"Clickatell error {code}: {text}", code=code,
                                 retry_after=wait if wait is not None else _TRANSIENT_ERRORS[number])
        raise PermanentError(f"Clickatell error {code}: {text}", code=code)
    if 200 <= status < 300:
        raise TransientError("unreadable Clickatell answer", maybe_sent=True)
    raise PermanentError(f"Clickatell HTTP {status}: {_snippet(raw)}", code=str(status))


def _error(container: Any) -> tuple[str, str] | None:
    """``(code, description)`` of an ``error`` object (codes come as numbers or zero-padded strings)."""
    error = container.get("error") if isinstance(container, dict) else None
    if not isinstance(error, dict) or error.get("code") is None:
        return None
    code = str(error["code"]).strip()
    code = (code.lstrip("0") or "0") if code.isdigit() else code
    text = error.get("description") or (_ERROR_TEXT.get(int(code)) if code.isdigit() else None)
    return code, str(text or "Clickatell error")


def _snippet(raw: bytes) -> str:
    return raw[:200].decode("utf-8", "replace").strip() or "empty answer"


def authenticate(settings: ClickatellSettings, token: str | None) -> bool:
    """Whether a callback's ``token`` is this provider's ``webhook_token`` (constant time; see module docs)."""
    return same_secret(token, settings.webhook_token.get_secret_value())


def _items(body: Mapping[str, Any], event: str) -> Iterator[Mapping[str, Any]]:
    """The callback's entries: the flat Platform shape is one entry; the One API envelope lists them."""
    wrapped = body.get("event")
    if isinstance(wrapped, dict):
        for item in wrapped.get(event) or ():
            if isinstance(item, dict):
                yield item
    else:
        yield body


def _text(item: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = item.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def parse_status_callback(body: Mapping[str, Any]) -> list[Receipt]:
    """The receipts in a status callback (``clientMessageId`` names Herald's message); statuses that are not
    final (queued, at the gateway's queue, unknown) and entries without a message id are left out."""
    receipts = []
    for item in _items(body, "messageStatusUpdate"):
        message_id = _text(item, "messageId", "apiMessageId")
        name = _text(item, "status").upper()
        raw_code = _text(item, "statusCode")
        code = (raw_code.lstrip("0") or "0") if raw_code.isdigit() else raw_code
        if name in _ONE_API_STATES:
            state = _ONE_API_STATES[name]
        else:
            state = _PLATFORM_STATES.get(int(code)) if code.isdigit() else None
        if not message_id or state is None:
            continue
        description = _text(item, "statusDescription")
        if state in ("failed", "undelivered") and any(w in description.lower() for w in _BLOCKED_WORDS):
            state = "bounced"
        label = " ".join(p for p in (code, name.lower() or None, f"({description})" if description else None) if p)
        receipts.append(Receipt(provider_message_id=message_id, state=state,
                                code=None if state in ("sent", "delivered") else code or None,
                                detail=f"Clickatell: {label}",
                                herald_message_id=_text(item, "clientMessageId") or None))
    return receipts


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An inbound message as Clickatell reported it; numbers as they came (without the ``+``)."""

    message_id: str
    sender: str
    to: str
    text: str


def parse_inbound(body: Mapping[str, Any]) -> list[InboundSms] | None:
    """The inbound messages of a reply callback; None when an entry lacks its id, sender or recipient. The
    Platform shape names the reply ``replyMessageId`` (its ``messageId`` is the message replied to, and
    stands in when there is no ``replyMessageId``); the One API shape lists ``moText`` entries."""
    messages = []
    for item in _items(body, "moText"):
        message_id = _text(item, "replyMessageId", "messageId")
        sender, to = _text(item, "fromNumber", "from"), _text(item, "toNumber", "to")
        if not message_id or not sender or not to:
            return None
        text = item.get("text", item.get("content"))
        messages.append(InboundSms(message_id, sender, to, text if isinstance(text, str) else ""))
    return messages or None


SPEC = ProviderSpec(
    kind="clickatell",
    channels=frozenset({"sms"}),
    settings_model=ClickatellSettings,
    factory=lambda settings, ctx: ClickatellProvider(settings, ctx),
    description="Clickatell Platform REST API (SMS)",
)
