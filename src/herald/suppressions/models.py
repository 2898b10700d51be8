"""Addresses that must not be contacted. Every entry belongs to a list: each workspace has one
``suppression`` list (STOP keywords, bounces, complaints, manual blocks) that applies to every send, and
any number of named ``dnc`` lists that apply to every send (``always``) or when a send selects them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow

SOURCES = ("manual", "import", "api", "keyword", "bounce", "complaint", "unsubscribe")
SCOPES = ("all", "marketing")
SUPPRESSION, DNC = "suppression", "dnc"


class DncList(Base):
    __tablename__ = "dnc_lists"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default=DNC)
    description: Mapped[str | None] = mapped_column(Text)
    always: Mapped[bool] = mapped_column(default=True)
    """Checked on every send; otherwise only on sends (campaigns) that select the list."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("list_id", "channel", "address"),
        Index(None, "workspace_id", "address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    list_id: Mapped[str] = mapped_column(ForeignKey("dnc_lists.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    """The match key: E.164 for sms, the lower-cased address for email, the token for push."""
    scope: Mapped[str] = mapped_column(String(20), default="all")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
