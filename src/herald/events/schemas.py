"""The shapes of the event-types and events API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$"


class EventTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [{
        "name": "card.withdrawal", "description": "Cash taken from an ATM with the customer's card",
        "schema": {"type": "object", "required": ["amount"], "properties": {
            "amount": {"type": "number"}, "channel": {"type": "string"}, "atm_id": {"type": "string"}}},
        "sample": {"amount": 120.0, "channel": "ATM", "atm_id": "0042"}}]})

    name: str = Field(pattern=NAME, description="Letters, digits and _ . : - ; unique in the workspace")
    description: str = Field(default="", max_length=2000)
    payload_schema: dict[str, Any] | None = Field(default=None, alias="schema",
                                                  description="JSON Schema (2020-12) for the payload")
    sample: dict[str, Any] | None = Field(default=None, description="A typical payload; checked against the "
                                          "schema, and used to test-render trigger templates")


class EventTypePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str | None = Field(default=None, max_length=2000)
    payload_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    sample: dict[str, Any] | None = None


class EventTypeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    description: str
    payload_schema: dict[str, Any] | None = Field(alias="schema")
    sample: dict[str, Any] | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class EventContact(BaseModel):
    """Who the event is about: an existing contact by ``id``, or by ``external_id``, ``email`` or ``phone`` --
    created when no contact holds them (with the other fields given here)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "type": "card.withdrawal", "contact": {"external_id": "cust-1001"},
        "payload": {"amount": 120.0, "channel": "ATM", "atm_id": "0042"},
        "occurred_at": "2026-11-29T10:04:00Z", "idempotency_key": "core-7731"}]})

    type: str = Field(max_length=100)
    contact: EventContact
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = Field(default=None, description="When it happened (ISO 8601 with a zone); "
                                         "absent = now. Waits judge the event by this time")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255,
                                        description="The same key again answers the first event, not a new one")


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000)


class EventOut(BaseModel):
    id: str
    type: str
    contact_id: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    received_at: datetime
    idempotency_key: str | None
    duplicate: bool = Field(default=False, description="True when this answers an earlier event with the same key")
    triggers: list[str] = Field(default_factory=list, description="Triggers whose filter and counters it passed")
    runs: list[str] = Field(default_factory=list, description="Journey runs it started, resumed or ended")


class EventBatchOut(BaseModel):
    accepted: int
    duplicates: int
    events: list[EventOut]


class EventPage(BaseModel):
    data: list[EventOut]
    next_cursor: str | None
