"""The communication queue (seed 002): messages for a third-party system -- a customer portal, a mobile app's
inbox, a private SMS gateway -- that pulls them from Herald and reports what became of them.

A provider of kind ``queue`` *is* such a system. Herald is the queue, so handing a message over is making it
available: the dispatcher "sends" it like any other message (due time, quiet hours, expiry, the consent
re-check just before sending all apply) and it becomes ``sent``, an entry *pending* for the system. The
system then speaks Herald's pull protocol (:mod:`herald.commqueue`): it pulls entries, each hidden from other
pulls for ``visibility_seconds``, and acknowledges each ``completed``, ``rejected`` or ``removed``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from herald.channels.base import Envelope, PermanentError, ProviderContext, ProviderSpec, SendResult

__all__ = ["SPEC", "QueueProvider", "QueueSettings"]

PENDING = "pending"
"""The provider code of an entry made available: the system has not taken it yet."""


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500,
                                    description="What the system is (e.g. 'customer portal inbox')")
    visibility_seconds: int = Field(default=60, ge=1, le=43_200,
                                    description="How long a pulled entry stays hidden from other pulls unless "
                                    "acknowledged; a pull may ask for another value")


class QueueProvider:
    def __init__(self, settings: QueueSettings, ctx: ProviderContext) -> None:
        self.settings = settings

    async def send(self, envelope: Envelope) -> SendResult:
        if "json" not in envelope.content:
            raise PermanentError("a queue entry needs JSON content", code="missing_content")
        return SendResult(provider_message_id=envelope.message_id, code=PENDING,
                          detail="available to the third-party system")

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """Making an entry available cannot half-happen: it is there once the send's outcome is stored."""
        return SendResult(provider_message_id=envelope.message_id, code=PENDING)

    async def close(self) -> None:
        return None


SPEC = ProviderSpec(
    kind="queue",
    channels=frozenset({"queue"}),
    settings_model=QueueSettings,
    factory=lambda s, ctx: QueueProvider(s, ctx),
    description="A third-party system (portal, app inbox) that pulls its messages from Herald's communication "
                "queue over /v1/queues and acknowledges each",
)
