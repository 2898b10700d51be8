"""The shapes of the triggers API: the trigger, its steps, counters, exits and date schedule.

Steps form a small tree: a ``wait`` for an event has a branch of steps for each outcome (``on_event``,
``on_timeout``); after a branch the run continues with the step after the wait."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from herald.messages.schemas import CLASSIFICATIONS
from herald.triggers.models import REENTRY

PERIODS = ("ever", "day", "week", "month", "year")
OPS = ("==", "!=", "<", "<=", ">", ">=")


class SendStep(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["send"]
    channel: str = Field(description="sms, email or queue")
    template: str = Field(max_length=100, description="A template id or name; it sees the event as `event`")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Template parts replaced for this "
                                      "trigger only (Liquid allowed; the template itself never changes)")
    data: dict[str, Any] = Field(default_factory=dict, description="Extra template variables")
    classification: str = Field(default="transactional", description=", ".join(CLASSIFICATIONS))
    ttl: str | None = Field(default=None, description="Worthless after this long from the event (e.g. 'PT5M' for "
                            "an OTP): the message expires instead of arriving late")
    provider: str | None = None
    sender: str | None = Field(default=None, alias="from", max_length=320)
    priority: int = Field(default=5, ge=-10, le=10, description="Alerts go before campaigns (-5) and API "
                          "sends (0) by default")
    override: bool = False
    dnc_lists: list[str] = Field(default_factory=list, max_length=20)


class WaitStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["wait"]
    duration: str | None = Field(default=None, description="'P14D', 'PT2H', '30m'")
    until: str | None = Field(default=None, description="The next HH:MM in the contact's time zone")
    event: str | None = Field(default=None, description="Wait for this event type (with `timeout`)")
    match: str | None = Field(default=None, max_length=2000, description="A filter on the awaited event; "
                              "`entry` is the event that started the run (e.g. event.order_id == entry.order_id)")
    timeout: str | None = None
    on_event: list[Step] = Field(default_factory=list, max_length=50)
    on_timeout: list[Step] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        kinds = [k for k in ("duration", "until", "event") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a wait needs exactly one of 'duration', 'until' or 'event'")
        if self.event and not self.timeout:
            raise ValueError("a wait for an event needs a 'timeout' (a run must not wait forever)")
        if not self.event and (self.match or self.timeout or self.on_event or self.on_timeout):
            raise ValueError("'match', 'timeout', 'on_event' and 'on_timeout' go with a wait for an 'event'")
        return self


class RestartStep(BaseModel):
    """Start the steps again, counting from the event that led here (``on_event``): "a purchase re-arms the
    reminders from that date"."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["restart"]


class ExitStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["exit"]


Step = Annotated[SendStep | WaitStep | RestartStep | ExitStep, Field(discriminator="type")]
WaitStep.model_rebuild()


class Counter(BaseModel):
    """How many events of a type this contact had in a period (the current one included), compared."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(max_length=100)
    period: str = Field(default="ever", description="ever, day, week, month, year (calendar, in the contact's "
                        "zone) or a duration like 'P30D' (rolling)")
    op: Literal["==", "!=", "<", "<=", ">", ">="] = "=="
    count: int = Field(ge=0, le=1_000_000)
    match: str | None = Field(default=None, max_length=2000, description="Count only events passing this filter")


class ExitOn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(max_length=100)
    match: str | None = Field(default=None, max_length=2000)


class Schedule(BaseModel):
    """A date-based trigger: each contact's date attribute, shifted by ``offset_days``, at ``at`` local time."""

    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(max_length=100, description="'birthday' or an attribute holding a date (YYYY-MM-DD)")
    offset_days: int = Field(default=0, ge=-366, le=366, description="-3 = three days before")
    at: str = Field(default="10:00", description="Local time of day (HH:MM) in the contact's zone")
    yearly: bool | None = Field(default=None, description="Every year on the date (default: true for birthday)")
    condition: str | None = Field(default=None, max_length=2000, description="A filter on the contact, e.g. "
                                  "contact.bonus_points >= 100")


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Large ATM withdrawal", "description": "SMS the customer when more than 10,000 is taken from an ATM",
        "event_type": "card.withdrawal", "filter": 'event.amount > 10000 and event.channel == "ATM"',
        "steps": [{"type": "send", "channel": "sms", "template": "atm-alert", "ttl": "PT30M"}]}]})

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    event_type: str | None = Field(default=None, max_length=100)
    schedule: Schedule | None = None
    filter: str | None = Field(default=None, max_length=2000)
    counters: list[Counter] = Field(default_factory=list, max_length=10)
    steps: list[Step] = Field(min_length=1, max_length=50)
    exit_on: list[ExitOn] = Field(default_factory=list, max_length=10)
    reentry: str = Field(default="every_time", description=", ".join(REENTRY))
    active: bool = True


class TriggerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, min_length=1, max_length=2000)
    filter: str | None = Field(default=None, max_length=2000)
    counters: list[Counter] | None = Field(default=None, max_length=10)
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=50)
    exit_on: list[ExitOn] | None = Field(default=None, max_length=10)
    schedule: Schedule | None = None
    reentry: str | None = None
    active: bool | None = None


class TriggerStats(BaseModel):
    events_matched: int
    runs_started: int
    skipped: int
    running: int
    waiting: int
    completed: int
    cancelled: int
    failed: int
    messages: dict[str, int]


class TriggerOut(BaseModel):
    id: str
    name: str
    description: str
    owner: str
    event_type: str | None
    schedule: dict[str, Any] | None
    filter: str | None
    counters: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    exit_on: list[dict[str, Any]]
    reentry: str
    active: bool
    created_at: datetime
    updated_at: datetime
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    stats: TriggerStats | None = None


class RunOut(BaseModel):
    id: str
    trigger_id: str
    contact_id: str | None
    event_id: str | None
    state: str
    position: list[Any]
    wait: dict[str, Any] | None
    clock_at: datetime
    reason: str | None
    messages: list[str]
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class RunPage(BaseModel):
    data: list[RunOut]
    next_cursor: str | None
