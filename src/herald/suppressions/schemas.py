"""The shapes of the suppression and do-not-contact APIs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from herald.suppressions.models import SCOPES


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=320, description="Phone number, email address or device token")
    channel: str | None = Field(default=None, description="sms, email or push; inferred from the address when "
                                "absent")
    scope: str = Field(default="all", description=" | ".join(SCOPES))
    reason: str | None = Field(default=None, max_length=500)


class EntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[EntryIn] = Field(min_length=1, max_length=10_000)


class EntryOut(BaseModel):
    list_id: str
    list_name: str
    list_kind: str
    channel: str
    address: str
    scope: str
    source: str
    reason: str | None
    created_by: str | None = None
    created_at: datetime


class AddReport(BaseModel):
    added: int
    already_present: int
    failed: list[dict[str, object]] = Field(description="Per entry: index, code, message")


class CheckOut(BaseModel):
    address: str
    channel: str
    blocked: bool
    blocked_for: list[str] = Field(description="The classifications this address may not receive")
    entries: list[EntryOut]


class EntryPage(BaseModel):
    data: list[EntryOut]
    next_cursor: str | None


class DncListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    always: bool = Field(default=True, description="Checked on every send; false: only on sends that select it")


class DncListPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    always: bool | None = None


class DncListOut(BaseModel):
    id: str
    name: str
    kind: str
    description: str | None
    always: bool
    entries: int
    created_at: datetime
