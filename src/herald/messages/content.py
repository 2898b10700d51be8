"""The content of a message: given inline, or rendered from a template for this recipient."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors
from herald.auth.models import Workspace
from herald.channels.base import SYSTEM_CHANNELS
from herald.channels.sms import segments
from herald.contacts import service as contacts
from herald.contacts.models import Contact
from herald.db import memo
from herald.messages.schemas import MessageCreate
from herald.templates import service as templates
from herald.templates.liquid import Renderer
from herald.unsubscribe import links

MAX_SMS_CHARS = 1600  # Twilio's and most aggregators' ceiling for one concatenated message
MAX_EMAIL_BYTES = 10 * 1024 * 1024
MAX_QUEUE_BYTES = 256 * 1024
"""A queue entry's or webhook's inline JSON content: a notice, not a file transfer (a template's part is
bounded by the renderer's output limit, the same figure by default)."""
INLINE_PARTS = ("body", "subject", "html", "text", "payload")
# Failures that belong to this recipient's data, not to the request: the message is kept as failed.
RENDER_FAILURES = frozenset({"undefined_variable", "render_error", "limit_exceeded", "timeout", "empty_render"})


class DynamicLinks(Protocol):
    """Signs a recipient's opt-in and opt-out links (:class:`herald.messages.service.Links`)."""

    def dynamic(self, workspace_id: str, message_id: str, contact_id: str) -> dict[str, dict[str, str]]: ...


@dataclass
class Built:
    content: dict[str, Any]
    template_id: str | None = None
    version: int | None = None
    locale: str | None = None
    failure: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)


async def build(session: AsyncSession, workspace: Workspace, req: MessageCreate, *, message_id: str, to: str,
                renderer: Renderer | None, sms_max_segments: int, contact: Contact | None = None,
                unsubscribe_url: str | None = None, dynamic_links: DynamicLinks | None = None) -> Built:
    """The message's content. A template sees the contact's fields as ``contact`` (the caller's ``data`` may
    add to them) and prefers the contact's locale when the request names none. With ``unsubscribe_url`` (marketing
    email), templates may place ``message.unsubscribe_url``; the RFC 8058 headers and, where the content lacks
    the link, a footer are added either way."""
    built = await _build(session, workspace, req, message_id=message_id, to=to, renderer=renderer,
                         sms_max_segments=sms_max_segments, contact=contact, unsubscribe_url=unsubscribe_url,
                         dynamic_links=dynamic_links)
    if unsubscribe_url and built.content and not built.failure:
        built.content = links.decorate_email(built.content, unsubscribe_url)
    return built


async def _build(session: AsyncSession, workspace: Workspace, req: MessageCreate, *, message_id: str, to: str,
                 renderer: Renderer | None, sms_max_segments: int, contact: Contact | None,
                 unsubscribe_url: str | None, dynamic_links: DynamicLinks | None) -> Built:
    if not req.template:
        if req.data or req.overrides or req.locale:
            raise errors.Invalid("data, locale and overrides go with a template.", code="template_required",
                                 field="template")
        return Built(inline(req, sms_max_segments))
    given = [p for p in INLINE_PARTS if getattr(req, p) is not None]
    if given:
        raise errors.Invalid(f"With a template, change parts through 'overrides', not {given[0]!r}.",
                             code="content_and_template", field=given[0])
    if renderer is None:
        raise errors.Unavailable("Templates cannot be rendered here.", code="renderer_unavailable")
    ref = req.template
    template = await memo.once(session, ("template", workspace.id, ref),
                               lambda: templates.find(session, workspace.id, ref))
    if template.channel != req.channel:
        raise errors.Invalid(f"Template {template.name!r} is for {template.channel}, not {req.channel}.",
                             code="template_channel_mismatch", field="template")
    version = await memo.once(session, ("template_version", template.id, template.current_version),
                              lambda: templates.version_of(session, template))
    built = Built({}, template.id, version.version)
    try:
        data = req.data
        if contact is not None:
            stated = req.data.get("contact")
            extra: dict[str, Any] = stated if isinstance(stated, dict) else {}
            data = {**req.data, "contact": {**contacts.variables(contact), **extra}}
        locale = req.locale or (contact.locale if contact is not None else None)
        message: dict[str, Any] = {"id": message_id, "channel": req.channel, "to": to,
                                   "unsubscribe_url": unsubscribe_url}
        if dynamic_links is not None and contact is not None and templates.uses_links(version, req.overrides):
            message["links"] = dynamic_links.dynamic(workspace.id, message_id, contact.id)
        rendered = templates.render_version(
            renderer, template, version, workspace, data=data, locale=locale, overrides=req.overrides,
            message=message, sms_max_segments=sms_max_segments)
    except errors.Invalid as exc:
        if exc.code not in RENDER_FAILURES:
            raise
        built.failure, built.problems = exc.detail, exc.errors or []
        return built
    built.content, built.locale = rendered.parts, rendered.locale
    return built


def inline(req: MessageCreate, sms_max_segments: int) -> dict[str, Any]:
    if req.channel in SYSTEM_CHANNELS:
        return {"json": _payload(req)}
    if req.payload is not None:
        raise errors.Invalid("'payload' is for queue and webhook messages.", code="field_not_for_channel",
                             field="payload")
    if req.channel == "sms":
        if not req.body:
            raise errors.Invalid("An SMS needs a body.", code="missing_body", field="body")
        if len(req.body) > MAX_SMS_CHARS:
            raise errors.TooLarge(f"The SMS body has {len(req.body)} characters; the limit is {MAX_SMS_CHARS}.",
                                  code="body_too_large", field="body")
        analysis = segments.analyze(req.body, max_segments=sms_max_segments)
        if analysis.over_limit:
            raise errors.TooLarge(f"The SMS needs {analysis.segments} segments; the limit is {sms_max_segments}.",
                                  code="too_many_segments", field="body")
        for name in ("subject", "html", "text"):
            if getattr(req, name) is not None:
                raise errors.Invalid(f"{name!r} is for email, not SMS.", code="field_not_for_channel", field=name)
        return {"body": req.body}
    if not req.subject:
        raise errors.Invalid("An email needs a subject.", code="missing_subject", field="subject")
    if not req.html and not req.text:
        raise errors.Invalid("An email needs html or text (or both).", code="missing_body", field="text")
    if req.body is not None:
        raise errors.Invalid("Use 'text' or 'html' for email; 'body' is for SMS.", code="field_not_for_channel",
                             field="body")
    size = sum(len((p or "").encode()) for p in (req.subject, req.html, req.text))
    if size > MAX_EMAIL_BYTES:
        raise errors.TooLarge(f"The email is {size} bytes; the limit is {MAX_EMAIL_BYTES}.",
                              code="body_too_large", field="html" if req.html else "text")
    return {k: v for k, v in {"subject": req.subject, "html": req.html, "text": req.text}.items() if v}


def _payload(req: MessageCreate) -> dict[str, Any]:
    for name in ("body", "subject", "html", "text"):
        if getattr(req, name) is not None:
            raise errors.Invalid(f"A {req.channel} message's content is its 'payload', not {name!r}.",
                                 code="field_not_for_channel", field=name)
    if req.payload is None:
        raise errors.Invalid(f"A {req.channel} message needs a 'payload' (a JSON object) or a template.",
                             code="missing_payload", field="payload")
    size = len(json.dumps(req.payload, ensure_ascii=False).encode())
    if size > MAX_QUEUE_BYTES:
        raise errors.TooLarge(f"The payload is {size} bytes; the limit is {MAX_QUEUE_BYTES}.", code="body_too_large",
                              field="payload")
    return req.payload
