"""The shapes of the messages API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CLASSIFICATIONS = ("transactional", "financial", "service", "direct_marketing", "affiliate_marketing")


class ContactRef(BaseModel):
    """Exactly one of these names the contact."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={
        "examples": [
            {"channel": "sms", "to": "+14155550100", "body": "Your card ending 1234 was used at ATM 0042."},
            {"channel": "email", "to": "jane@example.com", "subject": "Payment due",
             "text": "Your payment of $120.00 is due on 1 December.", "classification": "financial"},
            {"channel": "queue", "contact": {"external_id": "C-1001"}, "provider": "portal",
             "payload": {"title": "Bill ready", "amount": "120.00"}, "classification": "financial"},
        ]
    })

    channel: str = Field(description="sms, email, queue (an entry for a third-party system to pull) or webhook "
                         "(a signed POST to your system); push and pass come later")
    to: str | None = Field(default=None, min_length=1, max_length=320,
                           description="A phone number or an email address (or give `contact`); for queue and "
                           "webhook, the recipient as the receiving system knows them")
    contact: ContactRef | None = Field(default=None, description="Send to this contact's address for the channel; "
                                       "its consent, locale, time zone and fields apply")
    body: str | None = Field(default=None, description="SMS text")
    subject: str | None = Field(default=None, max_length=998)
    html: str | None = None
    text: str | None = None
    payload: dict[str, Any] | None = Field(default=None, description="queue, webhook: the content, a JSON "
                                           "object (or render a template's json part)")
    sender: str | None = Field(default=None, alias="from", max_length=320,
                               description="Override the provider's default sender")
    classification: str = Field(default="transactional", description=", ".join(CLASSIFICATIONS))
    priority: int = Field(default=0, ge=-10, le=10, description="Higher is claimed first")
    override: bool = Field(default=False, description="A critical message: goes despite marketing opt-outs and "
                           "withdrawn consent (never despite a list of scope `all`); audited")
    dnc_lists: list[str] = Field(default_factory=list, max_length=20, description="Optional DNC lists (id or "
                                 "name) to check besides the workspace's always-on lists")
    send_at: datetime | None = Field(default=None, description="ISO-8601 with a time zone; absent = now")
    expires_at: datetime | None = Field(default=None, description="Never send after this instant")
    provider: str | None = Field(default=None, description="A provider id or name; default: the channel's")
    template: str | None = Field(default=None, max_length=100, description="A template id or name, instead of "
                                 "inline content")
    data: dict[str, Any] = Field(default_factory=dict, description="Variables for the template")
    locale: str | None = Field(default=None, max_length=35, description="Preferred locale variant")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Template parts replaced for this "
                                      "message only (the template is never changed)")
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=50)


class TimelineEntry(BaseModel):
    state: str
    at: datetime
    detail: str | None = None


class AttemptOut(BaseModel):
    number: int
    provider_id: str | None
    started_at: datetime
    ended_at: datetime
    outcome: str
    code: str | None
    error: str | None
    provider_message_id: str | None


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    state: str
    channel: str
    to: str
    sender: str | None = Field(alias="from")
    classification: str
    priority: int
    contact_id: str | None = None
    override: bool = False
    template_id: str | None = None
    template_version: int | None = None
    locale: str | None = None
    provider_id: str | None
    provider_message_id: str | None
    reason: str | None
    explanation: str | None
    attempt_count: int
    due_at: datetime
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    metadata: dict[str, Any]
    content: dict[str, Any] | None = None
    timeline: list[TimelineEntry] | None = None
    attempts: list[AttemptOut] | None = None


class MessagePage(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None
