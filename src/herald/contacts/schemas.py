"""The shapes of the contacts API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ContactIn(BaseModel):
    """A contact as the API states it. With ``external_id``, a POST updates the contact holding it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "external_id": "CUST-1042", "name": "Jane Doe", "email": "jane@example.com", "phone": "+14155550100",
        "locale": "en-US", "attributes": {"tier": "gold"}, "consent": {"direct_marketing": True}}]})

    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone; derived from the phone "
                                 "number when not given")
    birthday: date | None = None
    attributes: dict[str, Any] | None = Field(default=None, description="Free fields, usable in templates")
    consent: dict[str, bool | None] = Field(default_factory=dict, description="Purpose -> granted; an upsert "
                                            "never re-grants a purpose the contact withdrew (use PUT /consent)")


class ContactPatch(BaseModel):
    """Fields present are changed; ``null`` clears one."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)
    birthday: date | None = None
    attributes: dict[str, Any] | None = None


class ConsentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purposes: dict[str, bool] = Field(min_length=1, description="Purpose -> granted")
    source: str = Field(default="api", min_length=1, max_length=60, description="Where the customer said it "
                        "(web form, branch, call centre...)")


class ContactOut(BaseModel):
    id: str
    external_id: str | None
    name: str | None
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str | None
    birthday: date | None
    attributes: dict[str, Any]
    consent: dict[str, Any]
    erased: bool
    created_at: datetime
    updated_at: datetime


class ContactPage(BaseModel):
    data: list[ContactOut]
    next_cursor: str | None
