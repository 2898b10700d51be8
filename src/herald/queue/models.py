"""Background work other than delivery: one row per job, claimed and leased like messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index(None, "state", "due_at"), UniqueConstraint("unique_key"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    """queued | retrying | running | done | failed"""
    unique_key: Mapped[str | None] = mapped_column(String(200))
    """At most one live job per key (periodic jobs, one fan-out per campaign)."""
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(default=10)
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


JOBS = cast(Table, Job.__table__)
