"""The shapes of ``/v1/campaigns``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.messages.schemas import CLASSIFICATIONS


class SendWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(description="Local time HH:MM, inclusive", examples=["09:00"])
    end: str = Field(description="Local time HH:MM, exclusive; before start means overnight", examples=["20:00"])
    days: list[str] | None = Field(default=None, description="Allowed weekdays (mon..sun); all when absent")


class Repeat(BaseModel):
    """When a recurring campaign makes its runs, at ``at`` local time in ``timezone`` (the workspace's by
    default)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"every": "month", "day": 1, "at": "09:00"}, {"every": "week", "weekday": "mon", "at": "08:30"}]})
    every: Literal["day", "week", "month"]
    at: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM local time")
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = Field(default=None,
                                                                                    description="every week")
    day: int | None = Field(default=None, ge=1, le=31, description="every month; 31: the last day of the month")
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone; default the workspace's")
    until: datetime | None = Field(default=None, description="No run after this instant")


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    channel: Literal["sms", "email", "queue", "webhook"] = Field(
        description="queue: entries for a third-party system (a provider of kind queue) to pull; webhook: a "
                    "signed POST per recipient to your system")
    lists: list[str] = Field(default_factory=list, max_length=20, description="Audience: list ids or names")
    template: str | None = Field(default=None, description="Template id or name")
    message_column: str | None = Field(default=None, max_length=100,
                                       description="A list field holding each contact's own message text")
    subject: str | None = Field(default=None, max_length=998, description="Email subject with a message column")
    sender: str | None = Field(default=None, max_length=320)
    provider: str | None = Field(default=None, description="Provider id or name; the default one otherwise")
    classification: str = Field(default="direct_marketing", description=", ".join(CLASSIFICATIONS))
    dnc_lists: list[str] = Field(default_factory=list, max_length=50)
    start_at: datetime | None = None
    send_window: SendWindow | None = None
    quiet_hours: bool = Field(default=True, description="Marketing SMS only 08:00-21:00 recipient local time")
    throttle_per_second: float | None = Field(default=None, gt=0, le=10_000)
    throttle_per_minute: float | None = Field(default=None, gt=0, le=600_000)
    max_error_rate: float = Field(default=0.25, gt=0, le=1,
                                  description="Pause by itself when more than this share of sends fail")
    skip_notified_within_days: int | None = Field(default=None, ge=1, le=366, description=(
        "Skip a contact whose address was sent this template (by any campaign or send) within so many days"))
    repeat: Repeat | None = Field(default=None, description="Make a run of this campaign at each occurrence "
                                  "(it becomes a definition: started, it waits for the first)")


class CampaignPatch(BaseModel):
    """Only a draft can be changed; any field left out stays."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    lists: list[str] | None = Field(default=None, max_length=20)
    template: str | None = None
    message_column: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(default=None, max_length=998)
    sender: str | None = Field(default=None, max_length=320)
    classification: str | None = None
    dnc_lists: list[str] | None = Field(default=None, max_length=50)
    start_at: datetime | None = None
    send_window: SendWindow | None = None
    quiet_hours: bool | None = None
    provider: str | None = Field(default=None, description="Provider id or name; null: the default one")
    throttle_per_second: float | None = Field(default=None, gt=0, le=10_000, description="null: no throttle")
    throttle_per_minute: float | None = Field(default=None, gt=0, le=600_000)
    max_error_rate: float | None = Field(default=None, gt=0, le=1)
    skip_notified_within_days: int | None = Field(default=None, ge=1, le=366, description=(
        "Skip a contact whose address was sent this template (by any campaign or send) within so many days; "
        "null: no such rule"))
    repeat: Repeat | None = Field(default=None, description="null: not recurring")


class Progress(BaseModel):
    """Counted from the campaign's messages, so exact at the moment of the read."""

    total: int = Field(description="Distinct contacts in the audience")
    planned: int = Field(description="Messages made so far (queued or skipped)")
    queued: int
    sending: int
    sent: int
    delivered: int
    failed: int
    skipped: int
    cancelled: int
    undelivered: int
    skipped_by_reason: dict[str, int]
    failed_by_reason: dict[str, int]


class CampaignOut(BaseModel):
    id: str
    name: str
    channel: str
    lists: list[str]
    template_id: str | None
    template_version: int | None
    message_column: str | None
    subject: str | None
    sender: str | None
    provider_id: str | None
    classification: str
    dnc_lists: list[str]
    start_at: datetime | None
    send_window: dict[str, Any] | None
    quiet_hours: bool
    throttle_per_second: float | None
    max_error_rate: float
    skip_notified_within_days: int | None
    repeat: dict[str, Any] | None = Field(description="A recurring campaign's rule")
    next_run_at: datetime | None = Field(description="A recurring campaign's next run")
    last_run_id: str | None
    parent_id: str | None = Field(description="A run: the recurring campaign that made it")
    state: str
    state_reason: str | None
    progress: Progress
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(default=3, ge=0, le=20, description="How many recipients to render")
    cost_per_segment: float | None = Field(default=None, ge=0, description="To estimate an SMS campaign's cost")


class PreviewOut(BaseModel):
    audience: int
    would_send: int
    would_skip: dict[str, int]
    segments_per_message: dict[str, float] | None = Field(
        description="SMS: min, mean and max segments over the rendered samples")
    estimated_segments: int | None
    estimated_cost: float | None
    samples: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


class RecipientOut(BaseModel):
    message_id: str
    contact_id: str | None
    to: str
    state: str
    reason: str | None
    explanation: str | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    final_at: datetime | None


class RecipientPage(BaseModel):
    data: list[RecipientOut]
    next_cursor: str | None
