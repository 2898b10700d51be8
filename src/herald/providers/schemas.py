"""The shapes of the providers API. Secrets go in, never come out: responses say only which are set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "twilio-main", "kind": "twilio", "rate_limit": 50,
        "settings": {"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "…",
                     "from_number": "+14155550100"},
    }]})

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    kind: str = Field(description="smtp, twilio, vonage or file (see GET /v1/provider-kinds)")
    channel: str | None = Field(default=None, description="Required only for kinds that serve several channels")
    settings: dict[str, Any] = Field(default_factory=dict, description="The kind's settings, secrets included")
    rate_limit: float | None = Field(default=None, gt=0, le=100000, description="Messages per second")
    priority: int = Field(default=0, ge=-100, le=100)
    enabled: bool = True


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    settings: dict[str, Any] | None = Field(default=None, description="Merged into the current settings; "
                                            "omitted secrets stay as they are")
    rate_limit: float | None = Field(default=None, gt=0, le=100000)
    priority: int | None = Field(default=None, ge=-100, le=100)
    enabled: bool | None = None


class ProviderOut(BaseModel):
    id: str
    name: str
    kind: str
    channel: str
    settings: dict[str, Any]
    secrets: dict[str, bool] = Field(description="Which secret settings are set (values are never returned)")
    rate_limit: float | None
    priority: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ProviderKindOut(BaseModel):
    kind: str
    channels: list[str]
    description: str
    secret_fields: list[str]
    settings_schema: dict[str, Any]
