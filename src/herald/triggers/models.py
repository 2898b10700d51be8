"""Triggers and journey runs.

A trigger (seed 000 "Event", seed 003 "offer") reacts to one event type: a filter on the payload and contact,
counter conditions, and steps (send, wait, restart, exit). A :class:`JourneyRun` is one contact's progress
through a trigger. Every event a trigger matched leaves a run, even one the re-entry policy refused (state
``skipped`` with the reason), so every decision is explained and counted.

A waiting run's timer is a row in ``jobs`` (kind :data:`TIMER_JOB`) holding the run's ``version``; any move
of the run bumps the version, so a timer that lost a race with an event does nothing when it fires."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.auth.models import track_config
from herald.db.base import Base, utcnow

SOURCE = "trigger"
TIMER_JOB = "journey.timer"
RUNNING, WAITING, COMPLETED, CANCELLED, FAILED, SKIPPED = (
    "running", "waiting", "completed", "cancelled", "failed", "skipped")
LIVE = (RUNNING, WAITING)
RUN_STATES = (RUNNING, WAITING, COMPLETED, CANCELLED, FAILED, SKIPPED)
REENTRY = ("every_time", "once", "once_at_a_time", "restart")


class Trigger(Base):
    __tablename__ = "triggers"
    __table_args__ = (UniqueConstraint("workspace_id", "name"), Index(None, "workspace_id", "event_type"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100))
    """The API client or console user that created it; never changes."""
    event_type: Mapped[str | None] = mapped_column(String(100))
    """The entry event; none for a date-based trigger (``schedule``)."""
    filter: Mapped[str | None] = mapped_column(Text)
    counters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    exit_on: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A date-based trigger: ``{"attribute", "offset_days", "at", "condition"}``."""
    reentry: Mapped[str] = mapped_column(String(20), default="every_time")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyRun(Base):
    __tablename__ = "journey_runs"
    __table_args__ = (
        # An event finds the live runs of its contact (exits and waits).
        Index(None, "contact_id", "state"),
        Index(None, "trigger_id", "contact_id"),
        Index(None, "trigger_id", "state"),
        # A date-based trigger plans each contact's occurrence once.
        UniqueConstraint("trigger_id", "contact_id", "occurrence"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))  # unchecked: see herald.db.base
    trigger_id: Mapped[str] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(String(40))  # unchecked: see herald.db.base
    event_id: Mapped[str | None] = mapped_column(String(40))
    """The event that started the run (or last restarted it)."""
    entry: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """That event's payload: templates see it as ``event``; wait matches as ``entry``."""
    occurrence: Mapped[str | None] = mapped_column(String(40))
    """For date-based triggers, the date this run is for (unique per contact)."""
    state: Mapped[str] = mapped_column(String(20), default=RUNNING)
    position: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The path of the current step, e.g. ``[0, "on_timeout", 1]``."""
    entered_at: Mapped[datetime]
    """When the entry event happened: only later events can end the run (``exit_on``)."""
    clock_at: Mapped[datetime]
    """The run's own time: the entry event's ``occurred_at``, then each wait's end. Waits count from it, so a
    late event is judged by when it happened, not when it arrived."""
    wait: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What a waiting run waits for: ``{"until": iso, "event": type?, "match": expr?}``."""
    version: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


TRIGGERS = cast(Table, Trigger.__table__)
RUNS = cast(Table, JourneyRun.__table__)


track_config(Trigger)


@dataclass(slots=True)
class NewRun:
    """A run being started (by an event or a date schedule), as a plain object: most runs of an alert end in
    the transaction that starts them, and are written once, as a row (:func:`herald.triggers.engine.keep`).
    A :class:`JourneyRun` built for that cost its instrumented construction and attribute sets, a seventh of
    planning an alert. The fields are :class:`JourneyRun`'s columns."""

    id: str
    workspace_id: str
    trigger_id: str
    contact_id: str | None
    event_id: str | None
    entry: dict[str, Any]
    entered_at: datetime
    clock_at: datetime
    started_at: datetime
    updated_at: datetime
    state: str = RUNNING
    position: list[Any] = field(default_factory=lambda: [0])
    occurrence: str | None = None
    wait: dict[str, Any] | None = None
    version: int = 0
    reason: str | None = None
    messages: list[str] = field(default_factory=list)
    finished_at: datetime | None = None


Run = JourneyRun | NewRun
"""A run the engine moves: stored (loaded to be resumed, ended or fired) or being started."""
