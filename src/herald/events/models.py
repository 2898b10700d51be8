"""Event types and events. An event is stored before the API answers, and every trigger it matched and run
it moved is decided in that same transaction: an accepted event is never lost between "stored" and "acted on"."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.auth.models import track_config
from herald.db.base import Base, utcnow


class EventType(Base):
    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    schema: Mapped[dict[str, Any] | None] = mapped_column("payload_schema", JSON)
    """A JSON Schema (draft 2020-12) every payload of this type must satisfy; none = any object."""
    sample: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A typical payload: trigger templates are test-rendered with it when a trigger is saved."""
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        # Counter conditions ("third purchase this month") and waits judged on stored events read this.
        Index(None, "contact_id", "type", "occurred_at"),
        Index(None, "workspace_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))  # unchecked: see herald.db.base
    type: Mapped[str] = mapped_column(String(100))
    contact_id: Mapped[str | None] = mapped_column(String(40))  # unchecked: see herald.db.base
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))


EVENT_TYPES = cast(Table, EventType.__table__)
EVENTS = cast(Table, Event.__table__)


track_config(EventType)
