"""A message a recipient sent us (an SMS reply), threaded to the outbound message it answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("provider_id", "provider_message_id"),
        Index(None, "workspace_id", "id"),
        Index(None, "workspace_id", "from_address"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    provider_message_id: Mapped[str] = mapped_column(String(200))
    """The provider's id: a retried webhook with the same id is processed once."""
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    from_address: Mapped[str] = mapped_column(String(320))
    to_address: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    in_reply_to: Mapped[str | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    """The latest message we sent this number from this sender within the reply window."""
    keyword: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(20), default="none")
    """opt_out | opt_in | help | reply | event | event_failed | none (left for a person)"""
    reply_id: Mapped[str | None] = mapped_column(String(40))
    """The confirmation or help message we answered with."""
    event_id: Mapped[str | None] = mapped_column(String(40))
    """The event a custom keyword fired."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class KeywordRule(Base):
    """A workspace's own keyword (per sender, or for all its senders) and what it does: opt out, opt in, help,
    reply with a template, or fire an event (so triggers can react to replies)."""

    __tablename__ = "keyword_rules"
    __table_args__ = (Index(None, "workspace_id", "sender"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    sender: Mapped[str | None] = mapped_column(String(32))
    """The number or short code it applies to; none = every sender of the workspace."""
    word: Mapped[str] = mapped_column(String(40))
    """Folded: lower case, accents and punctuation removed (as replies are read)."""
    action: Mapped[str] = mapped_column(String(20))
    template_id: Mapped[str | None] = mapped_column(String(40))
    event_type: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KeywordText(Base):
    """The answer to an opt-out, opt-in or help keyword, per sender (or all) and language (or any)."""

    __tablename__ = "keyword_texts"
    __table_args__ = (Index(None, "workspace_id", "action"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    sender: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundSettings(Base):
    """How replies thread: a reply belongs to the latest message we sent that number within the reply window,
    and a conversation stays open while either side keeps writing within it; after that much silence it
    closes, and a later reply starts afresh."""

    __tablename__ = "inbound_settings"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    reply_window_minutes: Mapped[int] = mapped_column(default=1440)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
