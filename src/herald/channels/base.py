"""The one small interface every delivery provider implements.

A provider turns an :class:`Envelope` into one call of its real wire protocol (SMTP, a REST API, SMPP...)
and answers with a :class:`SendResult`, or raises a typed error that the retry policy understands:

* :class:`TransientError` -- try again later (rate limited, 5xx, network trouble before the request left).
  ``retry_after`` (seconds) is honoured when the provider said it. ``maybe_sent`` is set when the request may
  have reached the provider (timeout after sending, connection dropped before the answer): the message is then
  retried only after the provider's :meth:`Provider.reconcile` says it was not sent, never failed over.
* :class:`PermanentError` -- the provider refused this message for good (invalid number, bad credentials).

Providers know nothing of campaigns, triggers or the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr

CHANNELS = ("email", "sms", "push", "pass", "webhook", "queue")
SYSTEM_CHANNELS = frozenset({"webhook", "queue"})
"""Channels whose recipient is a system of the customer's (a webhook receiver, a queue's consumer): their
content is JSON, and they name a contact as those systems do (external id, else Herald's id)."""


@dataclass(slots=True, frozen=True)
class Envelope:
    """One message, ready for the wire. ``content`` holds the rendered parts of the channel:
    sms ``{"body"}``; email ``{"subject", "html", "text"}`` (``html`` or ``text`` may be absent)."""

    message_id: str
    channel: str
    to: str
    content: Mapping[str, Any]
    sender: str | None = None
    """A sender override (from address or sender number); ``None`` uses the provider's default."""
    callback_url: str | None = None
    """Where the provider should post delivery receipts for this message, when it supports that."""
    created_at: datetime | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra email headers (e.g. List-Unsubscribe); ignored by other channels."""


@dataclass(slots=True, frozen=True)
class SendResult:
    """The provider accepted the message. ``provider_message_id`` is its id for receipts."""

    provider_message_id: str | None
    code: str | None = None
    detail: str | None = None
    delivered: bool = False
    """True when acceptance already means delivery (file provider, an SMTP final hop)."""


@dataclass(slots=True, frozen=True)
class Receipt:
    """A delivery status reported by a provider, mapped onto Herald's states.

    ``state`` is one of ``sent``, ``delivered``, ``undelivered``, ``bounced``, ``complained``, ``failed``.
    """

    provider_message_id: str
    state: str
    code: str | None = None
    detail: str | None = None
    herald_message_id: str | None = None


class ProviderError(Exception):
    """Base of provider failures; ``code`` is the provider's own error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TransientError(ProviderError):
    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class PermanentError(ProviderError):
    pass


@dataclass(slots=True, frozen=True)
class Incoming:
    """A message a recipient sent us (mobile-originated), as a session-based provider (SMPP) receives it."""

    provider_message_id: str
    from_address: str
    to_address: str
    body: str


ReceiptHook = Callable[[str, Receipt], Awaitable[None]]
"""``(provider_id, receipt)``: apply a delivery receipt; raising means "not stored, ask again later"."""
InboundHook = Callable[[str, Incoming], Awaitable[None]]
"""``(provider_id, message)``: store and act on an inbound message; raising means "ask again later"."""


@dataclass(slots=True, frozen=True)
class ProviderContext:
    """What a provider may need from its host, passed in rather than read from globals.

    HTTP providers get receipts and inbound messages through webhooks; a provider holding its own session
    (SMPP) receives them on that session instead and hands them to ``on_receipt`` / ``on_inbound``, which the
    worker wires to the database (:mod:`herald.providers.hooks`). ``None`` (tests, the CLI) drops them."""

    outbox_dir: Path
    provider_id: str = ""
    on_receipt: ReceiptHook | None = None
    on_inbound: InboundHook | None = None


class Provider(Protocol):
    """A configured provider account, ready to send. One instance is shared by all concurrent sends of a
    worker process, so it owns its connection pool."""

    async def send(self, envelope: Envelope) -> SendResult: ...

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """After an ambiguous failure, ask the provider whether this message was in fact accepted.
        Answers the result when it was, ``None`` when it certainly was not; raises TransientError when it
        cannot tell yet."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ProviderSpec:
    """How the registry knows a provider kind: its channels, its typed settings and how to build it.

    Fields of ``settings_model`` annotated ``SecretStr`` are secrets: stored encrypted and never shown."""

    kind: str
    channels: frozenset[str]
    settings_model: type[BaseModel]
    factory: Callable[[Any, ProviderContext], Provider]
    description: str = ""

    def secret_field_names(self) -> tuple[str, ...]:
        names = []
        for name, info in self.settings_model.model_fields.items():
            ann = info.annotation
            if ann is SecretStr or (hasattr(ann, "__args__") and SecretStr in getattr(ann, "__args__", ())):
                names.append(name)
        return tuple(names)
