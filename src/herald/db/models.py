"""Imports every model so that ``Base.metadata`` is complete (Alembic, schema checks)."""

from herald.auth.models import ApiClient, AuditLog, ConsoleUser, Workspace
from herald.db.base import Base
from herald.messages.models import Attempt, IdempotencyKey, Message, MessageContent, MessageEvent
from herald.providers.models import Provider
from herald.queue.models import Job
from herald.templates.models import Template, TemplateVersion

__all__ = [
    "ApiClient", "Attempt", "AuditLog", "Base", "ConsoleUser", "IdempotencyKey", "Job", "Message",
    "MessageContent", "MessageEvent", "Provider", "Template", "TemplateVersion", "Workspace",
]
