"""A campaign (seed 001): one message per contact of its lists, sent through the same pipeline as single sends.

The campaign row holds what to send and how (content, audience, window, throttle) and where its fan-out
stands (``checkpoint``). Its progress is never kept in counters that could drift: it is counted from its
message rows (``messages.source_id``), which are the truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, Float, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, utcnow

DRAFT, SCHEDULED, RUNNING, PAUSED, COMPLETED, STOPPED = (
    "draft", "scheduled", "running", "paused", "completed", "stopped")
STATES = (DRAFT, SCHEDULED, RUNNING, PAUSED, COMPLETED, STOPPED)
ENDED = frozenset({COMPLETED, STOPPED})
SOURCE = "campaign"
JOB_KIND = "campaign"
HELD = datetime(9999, 1, 1, tzinfo=UTC)
"""The due time of a paused campaign's waiting messages: never claimed until it resumes."""
PRIORITY, PRIORITY_MEMBER = -5, -4
"""Campaign messages queue below API sends (default 0), so an OTP never waits behind a million-row fan-out;
a list's priority rows go before the rest."""


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    list_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    template_id: Mapped[str | None] = mapped_column(String(40))
    template_version: Mapped[int | None]
    """Pinned when the campaign starts: an edit to the template mid-campaign changes nothing already planned."""
    message_column: Mapped[str | None] = mapped_column(String(100))
    """A list field that holds each contact's own message text (instead of a template)."""
    subject: Mapped[str | None] = mapped_column(Text)
    """The email subject when the content comes from a message column."""
    sender: Mapped[str | None] = mapped_column(String(320))
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    classification: Mapped[str] = mapped_column(String(40))
    dnc_lists: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_at: Mapped[datetime | None]
    send_window: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """``{"start": "09:00", "end": "20:00", "days": ["mon", ...]}`` in each recipient's local time."""
    quiet_hours: Mapped[bool] = mapped_column(default=True)
    """Marketing SMS only between 08:00 and 21:00 recipient local time."""
    throttle_per_second: Mapped[float | None] = mapped_column(Float)
    max_error_rate: Mapped[float] = mapped_column(Float, default=0.25)
    """The campaign pauses itself when more than this share of its finished sends failed."""
    skip_notified_within_days: Mapped[int | None]
    """Notification history: a contact whose address was sent this campaign's template (by any campaign or
    send) within so many days is skipped (``recently_notified``)."""
    repeat: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A recurring campaign's rule (:mod:`herald.campaigns.repeat`): it is then a definition that makes runs."""
    parent_id: Mapped[str | None] = mapped_column(String(40), index=True)
    """A run: the recurring campaign that made it."""
    next_run_at: Mapped[datetime | None]
    last_run_id: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default=DRAFT)
    state_reason: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int] = mapped_column(default=0)
    """Distinct contacts in the audience when the fan-out began."""
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Where the fan-out stands: ``{"step": n, "after": member id}``, committed with each batch."""
    planned_all: Mapped[bool] = mapped_column(default=False)
    job_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


CAMPAIGNS = cast(Table, Campaign.__table__)
