"""The shapes of the templates API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Parts = dict[str, Any]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "atm-withdrawal", "channel": "sms", "description": "ATM cash withdrawal alert",
        "default_locale": "en",
        "variants": {
            "en": {"body": "{{ event.amount | money: event.currency }} withdrawn from card {{ event.card | mask }} "
                           "at {{ event.occurred_at | local_time }}."},
            "fr": {"body": "Retrait de {{ event.amount | money: event.currency }} avec la carte "
                           "{{ event.card | mask }}."},
        },
        "sample_data": {"event": {"amount": "200.00", "currency": "EUR", "card": "4111111111111234",
                                  "occurred_at": "2026-11-23T10:04:00Z"}},
    }]})

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    channel: str = Field(description="sms, email, push, webhook or queue")
    description: str | None = Field(default=None, max_length=2000)
    default_locale: str = Field(default="en", max_length=35)
    variants: dict[str, Parts] = Field(min_length=1, max_length=100, description=(
        "Parts per locale. sms: body. email: subject, html or mjml, text (generated from the HTML when "
        "absent). push: title, body, image_url, data, kind (basic|rich). webhook/queue: json."))
    sample_data: dict[str, Any] = Field(default_factory=dict, description="Example variables, used to "
                                        "warn about variables the template uses but the data lacks")


class TemplateUpdate(BaseModel):
    """Any change makes a new version; messages already rendered keep theirs."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=2000)
    default_locale: str | None = Field(default=None, max_length=35)
    variants: dict[str, Parts] | None = Field(default=None, min_length=1, max_length=100)
    sample_data: dict[str, Any] | None = None


class Warning_(BaseModel):
    locale: str | None = None
    part: str | None = None
    variable: str | None = None
    message: str
    line: int | None = None
    column: int | None = None


class TemplateOut(BaseModel):
    id: str
    name: str
    channel: str
    description: str | None
    version: int
    default_locale: str
    locales: list[str]
    variants: dict[str, Parts] = Field(description="As written (MJML source included)")
    prepared: dict[str, Parts] = Field(description="As used to render: MJML compiled, CSS inlined, text generated")
    sample_data: dict[str, Any]
    warnings: list[Warning_] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class TemplateSummary(BaseModel):
    id: str
    name: str
    channel: str
    description: str | None
    version: int
    locales: list[str]
    updated_at: datetime


class VersionOut(BaseModel):
    version: int
    default_locale: str
    locales: list[str]
    created_by: str
    created_at: datetime


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(default_factory=dict, description="Variables; the sample data when empty")
    locale: str | None = Field(default=None, max_length=35)
    overrides: dict[str, Any] = Field(default_factory=dict, description="Parts replaced for this preview only")
    version: int | None = Field(default=None, ge=1)


class PreviewOut(BaseModel):
    template_id: str
    version: int
    locale: str
    parts: dict[str, Any]
    analysis: dict[str, Any]
    warnings: list[Warning_] = Field(default_factory=list)
