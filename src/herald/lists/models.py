"""Contact lists. A member row carries the list's own columns for that contact (any CSV column, including
one that holds the message text) and a priority flag ("top of list")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow


class ContactList(Base):
    __tablename__ = "contact_lists"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(default=list)
    """The per-row field names seen so far (from imports and API adds), in first-seen order."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ListMember(Base):
    __tablename__ = "list_members"
    __table_args__ = (
        UniqueConstraint("list_id", "contact_id"),
        # Campaign fan-out walks a list in this order, resuming from a checkpoint id.
        Index(None, "list_id", "priority", "id"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[str] = mapped_column(ForeignKey("contact_lists.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(String(40))  # unchecked: see herald.db.base
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
