"""The shapes of the lists API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from herald.contacts.schemas import ContactIn


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class ListPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class ListOut(BaseModel):
    id: str
    name: str
    description: str | None
    fields: list[str]
    members: int
    created_at: datetime
    updated_at: datetime


class MemberIn(BaseModel):
    """A contact (upserted on the call's key) or an existing contact's id, with this list's fields for it."""

    model_config = ConfigDict(extra="forbid")

    contact: ContactIn | None = None
    contact_id: str | None = Field(default=None, max_length=64)
    fields: dict[str, Any] = Field(default_factory=dict, description="This list's own columns for the contact "
                                   "(e.g. a message text column)")
    priority: bool = Field(default=False, description="Top of the list: campaigns send to these first")


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(default="external_id", description="external_id | email | phone: how contacts are matched")
    members: list[MemberIn] = Field(min_length=1, max_length=10_000)


class MembersReport(BaseModel):
    created: int
    updated: int
    unchanged: int
    failed: list[dict[str, Any]] = Field(description="Per member: index, code, message, errors")
    contact_ids: list[str | None] = Field(description="The contact of each member in order (null when it failed)")


class MemberOut(BaseModel):
    contact_id: str
    name: str | None
    email: str | None
    phone: str | None
    fields: dict[str, Any]
    priority: bool
    added_at: datetime


class MemberPage(BaseModel):
    data: list[MemberOut]
    next_cursor: str | None
