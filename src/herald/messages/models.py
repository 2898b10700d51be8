"""The message row is the truth: one per recipient per channel. The table is also the delivery queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow
from herald.queue.claim import READY

# Life cycle (DESIGN.md): planned -> skipped | queued -> sending -> sent -> delivered | undelivered | ...
QUEUED, RETRYING, SENDING, SENT = "queued", "retrying", "sending", "sent"
DELIVERED, UNDELIVERED, BOUNCED, COMPLAINED = "delivered", "undelivered", "bounced", "complained"
FAILED, EXPIRED, SKIPPED, CANCELLED = "failed", "expired", "skipped", "cancelled"
# A communication-queue entry (channel ``queue``) is ``sent`` while pending for its third-party system, which
# then reports it completed (delivered to the customer's inbox or device), rejected, or removed from it.
COMPLETED, REJECTED, REMOVED = "completed", "rejected", "removed"
STATES = (
    "planned", SKIPPED, QUEUED, RETRYING, SENDING, SENT, DELIVERED, UNDELIVERED, BOUNCED, COMPLAINED,
    FAILED, EXPIRED, CANCELLED, COMPLETED, REJECTED, REMOVED,
)
CLAIMABLE = (QUEUED, RETRYING)
QUEUE_PENDING = "channel = 'queue' AND state = 'sent'"
"""Literal, as :data:`herald.queue.claim.READY`: the partial index serves only queries that repeat it."""
FINAL = frozenset({DELIVERED, UNDELIVERED, BOUNCED, COMPLAINED, FAILED, EXPIRED, SKIPPED, CANCELLED, REJECTED,
                   REMOVED})


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # The claim query walks this in order (highest priority, earliest due) and stops at its LIMIT,
        # instead of sorting every waiting message on each claim.
        Index("ix_messages_claim", text("priority DESC"), "due_at",
              sqlite_where=text(READY), postgresql_where=text(READY)),
        # Recovery finds the sends whose worker stopped answering; only rows being sent are in it, so the
        # state changes of every other row never touch it.
        Index("ix_messages_leased", "lease_until", sqlite_where=text(f"state = '{SENDING}'"),
              postgresql_where=text(f"state = '{SENDING}'")),
        Index(None, "workspace_id", "id"),
        # Receipts find a message by the provider's id; rows not yet sent have none and stay out of it.
        Index("ix_messages_provider_ref", "provider_id", "provider_message_id",
              sqlite_where=text("provider_message_id IS NOT NULL"),
              postgresql_where=text("provider_message_id IS NOT NULL")),
        # Threading a reply finds the latest message sent to its number.
        Index(None, "to_address"),
        # A campaign's progress is counted from its messages.
        Index(None, "source_id", "state", "reason"),
        # A third-party system's pull walks its pending entries in order and stops at its limit.
        Index("ix_messages_queue_pending", "provider_id", text("priority DESC"), "sent_at",
              sqlite_where=text(QUEUE_PENDING), postgresql_where=text(QUEUE_PENDING)),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))  # unchecked: see herald.db.base
    source: Mapped[str] = mapped_column(String(20), default="api")
    source_id: Mapped[str | None] = mapped_column(String(40))
    """The campaign (later: trigger, run) that made it."""
    source_item: Mapped[int | None]
    """The row of the source it came from: a campaign's list member (its fields are the template's ``row``)."""
    channel: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str | None] = mapped_column(String(40))  # unchecked: see herald.db.base
    """Cleared when the provider is deleted (:func:`herald.providers.service.delete`)."""
    contact_id: Mapped[str | None] = mapped_column(String(40), index=True)  # unchecked: see herald.db.base
    to_address: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str | None] = mapped_column(String(320))
    classification: Mapped[str] = mapped_column(String(40), default="transactional")
    priority: Mapped[int] = mapped_column(default=0)
    override: Mapped[bool] = mapped_column(default=False)
    """Sent despite marketing opt-outs (a critical message); never despite a list of scope ``all``."""
    dnc_lists: Mapped[list[str] | None] = mapped_column(JSON)
    """Ids of the optional DNC lists this send selected, re-checked just before sending."""
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    template_id: Mapped[str | None] = mapped_column(String(40))
    template_version: Mapped[int | None]
    locale: Mapped[str | None] = mapped_column(String(35))
    """The locale variant the content was rendered from."""
    state: Mapped[str] = mapped_column(String(20), default=QUEUED)
    reason: Mapped[str | None] = mapped_column(String(60))
    explanation: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    final_at: Mapped[datetime | None]


class MessageContent(Base):
    """The rendered parts of a message (body; subject, html, text), exactly as sent. Kept apart from the
    message row, which every state change rewrites: a 2 KB email body copied on each update halved
    throughput on SQLite."""

    __tablename__ = "message_contents"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[dict[str, Any]]


class MessageEvent(Base):
    """One stamped state transition: the message's timeline."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[str | None] = mapped_column(Text)


class Attempt(Base):
    """One call to a provider, whatever its outcome."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    provider_id: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))
    """sent | transient | permanent | ambiguous | expired"""
    code: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))


class IdempotencyKey(Base):
    """The first response to a creating POST, replayed for the same key and body."""

    __tablename__ = "idempotency_keys"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# Typed handles on the tables, for Core statements on the hot path.
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
CONTENTS = cast(Table, MessageContent.__table__)
ATTEMPTS = cast(Table, Attempt.__table__)
