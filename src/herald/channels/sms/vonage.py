"""Vonage (formerly Nexmo) SMS API: ``POST {base_url}/sms/json``, its delivery receipts and inbound messages.

One pooled aiohttp session per provider; every HTTP and network outcome and every per-message ``status`` of the
answer is mapped onto :class:`TransientError` / :class:`PermanentError` so the retry policy decides.

Wire format. Vonage wants numbers in international format without the ``+`` (``14155550100``); Herald stores
and compares E.164, so :func:`wire_number` strips the ``+`` on the way out and :func:`to_e164` puts it back
on the way in. A text Vonage splits into several parts comes back as several entries of ``messages``, each
with its own ``message-id``: the first part's id is the provider message id, and each part gets its own DLR,
so only the first part's DLR moves the message. Herald's message id goes out as ``client-ref`` (echoed in
every DLR), not as a ``mid`` query parameter on the callback URL: what Vonage signs is the set of parameters
*it* sends, and a query string of ours would make that set ambiguous, so :meth:`VonageProvider.send` drops
``mid`` from the callback URL.

Webhook authentication. With ``signature_secret`` set (Dashboard, "Signed webhooks"), a webhook must carry a
``sig`` that :func:`verify_signature` accepts with the account's ``signature_method``; anything unsigned or
tampered is refused. Without it Vonage signs nothing, so the only check left is that the ``api-key`` field
(sent in both DLRs and inbound messages) is this provider's ``api_key``: an API key is an identifier rather
than a secret, so this only stops misrouted or casual forgeries -- configure a signature secret in
production. Replays are harmless either way: receipts only move a message forward and an inbound message is
stored once per ``messageId``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import phonenumbers
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
from herald.channels.sms import segments
from herald.redact import mask_address

log = logging.getLogger(__name__)

SEND_PATH = "/sms/json"
SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]
SIGNATURE_METHODS: tuple[SignatureMethod, ...] = ("md5hash", "md5", "sha1", "sha256", "sha512")
CLIENT_REF_MAX = 40
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}

_STATUS_TEXT = {
    "1": "Throttled", "2": "Missing parameters", "3": "Invalid parameters", "4": "Invalid credentials",
    "5": "Internal error", "6": "Invalid message", "7": "Number barred", "8": "Partner account barred",
    "9": "Partner quota violation", "10": "Too many existing binds", "11": "Account not enabled for HTTP",
    "12": "Message too long", "14": "Invalid signature", "15": "Invalid sender address",
    "22": "Invalid network code", "23": "Invalid callback URL", "29": "Non-whitelisted destination",
    "32": "Signature and API secret disallowed", "33": "Number de-activated",
}
"""The send answer's per-message ``status`` codes (``0`` is success)."""
_TRANSIENT_STATUS: dict[str, float | None] = {"1": 1.0, "5": None, "9": 60.0, "10": 1.0}
"""Statuses worth retrying, with a floor for the wait: throttled, internal error, out of credit (someone has
to top up), too many binds. Every other non-zero status is the message's or the account's fault: permanent."""

_STATES = {"delivered": "delivered", "expired": "undelivered", "failed": "failed", "rejected": "failed"}
"""DLR ``status`` -> Herald state; ``accepted``, ``buffered`` and ``unknown`` are not final and record nothing."""
HARD_BOUNCES = frozenset({"3", "4"})
"""DLR ``err-code``s Vonage says to remove the number for (absent subscriber - permanent, call barred by user):
a bounce, suppressed."""
_DLR_ERROR_TEXT = {
    "1": "Unknown", "2": "Absent subscriber - temporary", "3": "Absent subscriber - permanent",
    "4": "Call barred by user", "5": "Portability error", "6": "Anti-spam rejection", "7": "Handset busy",
    "8": "Network error", "9": "Illegal number", "10": "Illegal message", "11": "Unroutable",
    "12": "Destination unreachable", "13": "Subscriber age restriction", "14": "Number blocked by carrier",
    "15": "Prepaid insufficient funds", "99": "General error",
}


class VonageSettings(BaseModel):
    """A Vonage account (API key and secret from the Dashboard) and the sender its messages go out from."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(pattern=r"^[A-Za-z0-9]{4,40}$")
    api_secret: SecretStr
    from_number: str = Field(pattern=r"^(\+[1-9][0-9]{1,14}|[A-Za-z0-9 ]{1,11})$")
    """An E.164 number (a Vonage virtual number) or an alphanumeric sender id of up to 11 characters."""
    signature_secret: SecretStr | None = None
    """The account's signature secret: when set, webhooks must be signed with it (see the module docs)."""
    signature_method: SignatureMethod = "md5hash"
    base_url: str = Field(default="https://rest.nexmo.com", pattern=r"^https?://")
    timeout: float = Field(default=10.0, ge=1, le=120)
    max_connections: int = Field(default=200, ge=1, le=1000)


class VonageProvider:
    """Sends SMS through one Vonage account; shared by all concurrent sends of a worker."""

    def __init__(self, settings: VonageSettings, ctx: ProviderContext | None = None) -> None:
        self.settings = settings
        self._ctx = ctx
        self._url = settings.base_url.rstrip("/") + SEND_PATH
        self._pool = PooledHttp("Vonage", timeout=settings.timeout, max_connections=settings.max_connections)

    async def close(self) -> None:
        await self._pool.close()

    def _form(self, envelope: Envelope, body: str) -> dict[str, str]:
        form = {
            "api_key": self.settings.api_key,
            "api_secret": self.settings.api_secret.get_secret_value(),
            "from": wire_number(envelope.sender or self.settings.from_number),
            "to": wire_number(envelope.to),
            "text": body,
            "status-report-req": "1",
        }
        if segments.analyze(body).encoding == segments.UCS2:
            form["type"] = "unicode"  # else Vonage sends GSM-7 and anything outside it arrives as "?"
        if envelope.callback_url:
            form["callback"] = _without_mid(envelope.callback_url)
        if len(envelope.message_id) <= CLIENT_REF_MAX:
            form["client-ref"] = envelope.message_id
        return form

    async def send(self, envelope: Envelope) -> SendResult:
        body = envelope.content.get("body")
        if not isinstance(body, str) or not body:
            raise PermanentError("SMS envelope has no body", code="2")
        to = mask_address(envelope.to)
        answer = await self._pool.send("POST", self._url, to=to, data=urlencode(self._form(envelope, body)).encode(),
                                       headers=_FORM)
        result = send_outcome(answer.status, answer.body, answer.retry_after)
        if result.detail:
            log.warning("vonage send to %s: %s", to, result.detail)
        log.debug("vonage accepted message to %s as %s", to, result.provider_message_id)
        return result

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """Always ``None`` (not sent): the SMS API cannot look a message up by our reference.

        The old ``/search/messages`` endpoints are retired, and the Reports API is a separate product on
        another host whose synchronous queries need either the Vonage message id (which is exactly what an
        ambiguous failure lost) or a date window to page through. So after a dropped answer the message is
        sent again, and the recipient may get it twice; the DLRs of both carry the same ``client-ref``."""
        return None


def send_outcome(status: int, raw: bytes, retry_after: str | None) -> SendResult:
    """Map one answer of ``/sms/json`` onto a result or a typed error.

    Vonage answers 200 with a ``status`` per part; the message counts as accepted when its first part was
    (its id is the provider message id). A later part refused is reported in ``detail``: retrying would send
    the accepted parts again."""
    if status != 200:
        text = raw[:200].decode("utf-8", "replace").strip() or "empty answer"
        wait = retry_after_seconds(retry_after)
        if status == 429:
            raise TransientError(f"Vonage rate limit: {text}", code="429", retry_after=wait)
        if status >= 500:  # a gateway error may hide an upstream that did accept the message
            raise TransientError(f"Vonage HTTP {status}: {text}", code=str(status), retry_after=wait,
                                 maybe_sent=status in (502, 504))
        if status == 408:
            raise TransientError(f"Vonage HTTP 408: {text}", code="408")
        raise PermanentError(f"Vonage HTTP {status}: {text}", code=str(status))
    try:
        data = json.loads(raw)
        parts = data["messages"]
        first = parts[0]
        code = str(first["status"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise TransientError("unreadable Vonage answer", maybe_sent=True) from exc
    if code != "0":
        message = _status_message(first, code)
        if code in _TRANSIENT_STATUS:
            raise TransientError(message, code=code, retry_after=_TRANSIENT_STATUS[code])
        raise PermanentError(message, code=code)
    message_id = first.get("message-id")
    if not isinstance(message_id, str) or not message_id:
        raise TransientError("Vonage answer without a message-id", maybe_sent=True)
    refused = [(n, p) for n, p in enumerate(parts, 1) if isinstance(p, dict) and str(p.get("status")) != "0"]
    if refused:
        n, part = refused[0]
        bad = str(part.get("status"))
        return SendResult(provider_message_id=message_id, code=bad,
                          detail=f"part {n} of {len(parts)} refused: {_status_message(part, bad)}")
    return SendResult(provider_message_id=message_id, code="0")


def _status_message(part: Mapping[str, Any], code: str) -> str:
    text = part.get("error-text") or _STATUS_TEXT.get(code) or "Vonage error"
    return f"Vonage status {code}: {text}"


def _without_mid(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "mid"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def wire_number(address: str) -> str:
    """An E.164 number as Vonage wants it (no ``+``); alphanumeric sender ids unchanged."""
    return address[1:] if address.startswith("+") else address


def to_e164(raw: str, region: str) -> str:
    """A number from a Vonage webhook in E.164. Vonage sends international numbers without the ``+``; a
    national number (some networks pass one through) is read against ``region``; short codes and
    alphanumeric senders come back as they came."""
    text = raw.strip()
    digits = text.removeprefix("+")
    international = digits.isdigit() and not digits.startswith("0")
    candidates: list[tuple[str, str | None]] = [("+" + digits, None)] if international else []
    candidates.append((text, region))
    for candidate, default in candidates:
        try:
            number = phonenumbers.parse(candidate, default)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if international and phonenumbers.is_possible_number_string("+" + digits, phonenumbers.UNKNOWN_REGION):
        return "+" + digits  # e.g. a test or fiction range: well-formed but unassigned
    return text


def compute_signature(secret: str, params: Mapping[str, str], method: SignatureMethod = "md5hash") -> str:
    """Vonage's ``sig`` (lower-case hex) over every parameter but ``sig``: ``&name=value`` for each, sorted by
    name, with ``&`` and ``=`` in values replaced by ``_``. ``md5hash`` is the MD5 of that string followed by
    the secret; the other methods are an HMAC of the string keyed by the secret."""
    payload = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}" for name in sorted(params) if name != "sig"
    ).encode()
    if method == "md5hash":
        return hashlib.md5(payload + secret.encode(), usedforsecurity=False).hexdigest()
    if method not in SIGNATURE_METHODS:
        raise ValueError(f"unknown signature method {method!r}")
    return hmac.new(secret.encode(), payload, method).hexdigest()


def verify_signature(secret: str, params: Mapping[str, str], method: SignatureMethod = "md5hash") -> bool:
    """True when ``params["sig"]`` is Vonage's signature of the other parameters; constant-time; False when
    missing. Vonage writes HMAC signatures in upper case, so the comparison ignores case."""
    given = params.get("sig") or ""
    if not given or not secret:
        return False
    expected = compute_signature(secret, params, method)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def authenticate(settings: VonageSettings, params: Mapping[str, str]) -> bool:
    """Whether a webhook's parameters prove they come from this account (see the module docs)."""
    if settings.signature_secret is not None:
        return verify_signature(settings.signature_secret.get_secret_value(), params, settings.signature_method)
    key = params.get("api-key") or ""
    return bool(key) and hmac.compare_digest(key.encode(), settings.api_key.encode())


def parse_delivery_receipt(params: Mapping[str, str]) -> Receipt | None:
    """A DLR as a receipt (``client-ref`` names Herald's message); None for ``accepted``, ``buffered`` and
    ``unknown``, which are not final."""
    message_id = (params.get("messageId") or "").strip()
    status = (params.get("status") or "").strip().lower()
    state = _STATES.get(status)
    if not message_id or state is None:
        return None
    err = (params.get("err-code") or "").strip()
    code = None if err in ("", "0") else err
    if state != "delivered" and code in HARD_BOUNCES:
        state = "bounced"
    detail = f"Vonage: {status}"
    if code:
        text = _DLR_ERROR_TEXT.get(code)
        detail += f" ({code} {text})" if text else f" (error {code})"
    return Receipt(provider_message_id=message_id, state=state, code=code, detail=detail,
                   herald_message_id=(params.get("client-ref") or "").strip() or None)


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An inbound message as Vonage reported it; numbers as they came (see :func:`to_e164`)."""

    message_id: str
    sender: str
    to: str
    text: str


def parse_inbound(params: Mapping[str, str]) -> InboundSms | None:
    """The inbound message in a webhook's parameters; None when ``messageId``, ``msisdn`` or ``to`` is missing.
    A binary message has no ``text`` and arrives empty. Each part of a concatenated message is its own
    message (``concat-ref`` / ``concat-part`` are not reassembled)."""
    message_id, sender, to = (params.get(k, "").strip() for k in ("messageId", "msisdn", "to"))
    if not message_id or not sender or not to:
        return None
    return InboundSms(message_id, sender, to, params.get("text") or "")


SPEC = ProviderSpec(
    kind="vonage",
    channels=frozenset({"sms"}),
    settings_model=VonageSettings,
    factory=lambda settings, ctx: VonageProvider(settings, ctx),
    description="Vonage (Nexmo) SMS API",
)
