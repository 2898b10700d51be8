"""A contact: one person a workspace messages, with addresses, attributes and consent per purpose."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id"),
        Index(None, "workspace_id", "email"),
        Index(None, "workspace_id", "phone"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))  # unchecked: see herald.db.base
    external_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    birthday: Mapped[date | None] = mapped_column(Date)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """``{purpose: {"granted": bool, "at": iso time, "source": str}}``; a purpose absent = never stated."""
    erased_at: Mapped[datetime | None]
    """Set when the contact's personal data was erased; the row stays so that counts stay right."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
