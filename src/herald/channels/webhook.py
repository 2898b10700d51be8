"""Outgoing webhooks (kind ``webhook``): a message of the ``webhook`` channel is one signed HTTP POST of JSON
to a system of yours -- a CRM, a ticketing tool, a chat bot -- following the Standard Webhooks specification
(https://www.standardwebhooks.com), so any of its verifier libraries accepts what Herald sends.

The body is ``{"id", "to", "created_at", "data"}`` (``data``: the template's rendered ``json`` part). The
headers ``webhook-id`` (the message id: the same on every retry, for the receiver to drop repeats),
``webhook-timestamp`` (Unix seconds, fresh on every attempt) and ``webhook-signature`` (``v1,`` and the
base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the secret) prove it came from Herald, unchanged and
recently. The secret is the specification's ``whsec_``-prefixed base64 key.

Answers: 2xx delivered; 408, 409, 425, 429 and 5xx retried (``Retry-After`` honoured); 410 and every other
4xx fail for good. Delivery is at least once: after a timeout the request may have arrived, and a webhook has
no way to ask, so it is sent again with the same ``webhook-id``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from herald.channels.base import Envelope, PermanentError, ProviderContext, ProviderSpec, SendResult, TransientError
from herald.channels.pooled import PooledHttp, retry_after_seconds

__all__ = ["SPEC", "WebhookProvider", "WebhookSettings", "sign", "signing_key"]

PREFIX = "whsec_"
RETRIED = frozenset({408, 409, 425, 429})
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"
_RESERVED = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length",
                       "host"})


def signing_key(secret: str) -> bytes:
    """The HMAC key a Standard Webhooks secret (``whsec_`` + base64, the prefix optional) stands for."""
    encoded = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret must be whsec_ followed by base64 (e.g. whsec_ + `openssl rand -base64 32`)"
                         ) from exc
    if not 24 <= len(key) <= 64:
        raise ValueError(f"the secret's key must be 24 to 64 bytes; this one is {len(key)}")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one request."""
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def _secret(value: SecretStr) -> SecretStr:
    signing_key(value.get_secret_value())
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not re.match(_HEADER_NAME, name):
            raise ValueError(f"{name!r} is not a header name")
        if name.lower() in _RESERVED:
            raise ValueError(f"{name!r} is set by Herald")
    return value


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2000,
                     description="Where each message is POSTed (https in production)")
    secret: Annotated[SecretStr, AfterValidator(_secret)] = Field(
        description="Standard Webhooks signing secret: whsec_ + base64 of 24-64 random bytes")
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(
        default_factory=dict, max_length=20, description="Extra request headers (e.g. an API key of the receiver)")
    timeout: float = Field(default=10.0, gt=0, le=60)
    max_connections: int = Field(default=20, ge=1, le=500)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("put credentials in headers, not in the URL")
        return value


class WebhookProvider:
    def __init__(self, settings: WebhookSettings, ctx: ProviderContext | None = None) -> None:
        self.settings = settings
        self._key = signing_key(settings.secret.get_secret_value())
        self._pool = PooledHttp("the webhook receiver", timeout=settings.timeout,
                                max_connections=settings.max_connections, headers=settings.headers)

    def request(self, envelope: Envelope, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of this attempt (signed with a fresh timestamp)."""
        if "json" not in envelope.content:
            raise PermanentError("a webhook message needs JSON content", code="missing_content")
        created = envelope.created_at or datetime.now(UTC)
        body = json.dumps({"id": envelope.message_id, "to": envelope.to, "created_at": created.isoformat(),
                           "data": envelope.content["json"]}, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode()
        timestamp = int(now if now is not None else time.time())
        return body, {"Content-Type": "application/json", "webhook-id": envelope.message_id,
                      "webhook-timestamp": str(timestamp),
                      "webhook-signature": sign(self._key, envelope.message_id, timestamp, body)}

    async def send(self, envelope: Envelope) -> SendResult:
        body, headers = self.request(envelope)
        answer = await self._pool.send("POST", self.settings.url, to=envelope.to, data=body, headers=headers)
        return outcome(envelope.message_id, answer.status, answer.body, answer.retry_after)

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """A webhook cannot be asked whether it arrived: answer "not sent", so it goes again with the same
        ``webhook-id``, which the receiver uses to drop a repeat."""
        return None

    async def close(self) -> None:
        await self._pool.close()


def outcome(message_id: str, status: int, raw: bytes, retry_after: str | None) -> SendResult:
    if 200 <= status < 300:
        return SendResult(provider_message_id=message_id, code=str(status), delivered=True)
    said = raw[:200].decode("utf-8", "replace").strip()
    detail = f"the receiver answered {status}" + (f": {said}" if said else "")
    if status in RETRIED or status >= 500:
        raise TransientError(detail, code=str(status), retry_after=retry_after_seconds(retry_after))
    if status == 410:
        raise PermanentError("the receiver says this endpoint is gone (410)", code="410")
    raise PermanentError(detail, code=str(status))


def _factory(settings: Any, ctx: ProviderContext) -> WebhookProvider:
    return WebhookProvider(settings, ctx)


SPEC = ProviderSpec(
    kind="webhook",
    channels=frozenset({"webhook"}),
    settings_model=WebhookSettings,
    factory=_factory,
    description="POSTs each message as JSON to your URL, signed as Standard Webhooks specify (webhook-id, "
                "webhook-timestamp, webhook-signature)",
)
