"""Imports every model so that ``Base.metadata`` is complete (Alembic, schema checks)."""

from herald.auth.models import ApiClient, AuditLog, ConsoleUser, Workspace
from herald.campaigns.models import Campaign
from herald.contacts.models import Contact
from herald.db.base import Base
from herald.events.models import Event, EventType
from herald.imports.models import Import, ImportChunk, ImportFailure
from herald.inbound.models import InboundMessage, InboundSettings, KeywordRule, KeywordText
from herald.lists.models import ContactList, ListMember
from herald.messages.models import Attempt, IdempotencyKey, Message, MessageContent, MessageEvent
from herald.providers.models import Provider
from herald.queue.models import Job
from herald.suppressions.models import DncList, Suppression
from herald.templates.models import Template, TemplateVersion
from herald.triggers.models import JourneyRun, Trigger

__all__ = [
    "ApiClient",
    "Attempt",
    "AuditLog",
    "Base",
    "Campaign",
    "ConsoleUser",
    "Contact",
    "ContactList",
    "DncList",
    "Event",
    "EventType",
    "IdempotencyKey",
    "Import",
    "ImportChunk",
    "ImportFailure",
    "InboundMessage",
    "InboundSettings",
    "Job",
    "JourneyRun",
    "KeywordRule",
    "KeywordText",
    "ListMember",
    "Message",
    "MessageContent",
    "MessageEvent",
    "Provider",
    "Suppression",
    "Template",
    "TemplateVersion",
    "Trigger",
    "Workspace",
]
