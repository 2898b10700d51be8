"""A workspace's keyword settings: its own keywords (per sender or for all its senders) with their actions,
and the answers to opt-out, opt-in and help keywords per sender and language.

Opt-out words stay opt-out: a custom keyword cannot give STOP (or any built-in word) another meaning. A help
text must tell how to stop; a custom keyword that replies names a template for SMS, one that fires an event
names a declared event type whose schema accepts the reply's payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import addresses, errors, ids
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.events import payloads
from herald.events import service as event_types
from herald.inbound import keywords
from herald.inbound.models import InboundSettings, KeywordRule, KeywordText
from herald.templates import service as templates

ANSWERED = (keywords.OPT_OUT, keywords.OPT_IN, keywords.HELP)
DEFAULT_REPLY_WINDOW = 24 * 60
SAMPLE_REPLY = {"keyword": "JOIN", "body": "join", "from": "+14155550100", "to": "+14155550199",
                "inbound_id": "in_SAMPLE"}


def _sender(workspace: Workspace, raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return addresses.phone_e164(raw, workspace.default_region, field="sender")
    except errors.Invalid:
        if raw.isalnum() and len(raw) <= 11:  # a short code or an alphanumeric sender id
            return raw
        raise


async def add_rule(session: AsyncSession, workspace: Workspace, body: dict[str, Any], actor: str) -> KeywordRule:
    word = keywords.fold(body["word"])
    if not word or len(word) > 40:
        raise errors.Invalid("A keyword is one word of letters or digits (up to 40).", code="invalid_keyword",
                             field="word")
    action = body["action"]
    taken = keywords.reserved(word)
    if taken is not None and taken != action:
        raise errors.Invalid(f"{word.upper()} is a built-in {taken} keyword; it cannot be given another meaning.",
                             code="reserved_keyword", field="word")
    sender = _sender(workspace, body.get("sender"))
    template_id, event_type = await _target(session, workspace, action, body)
    clash = await session.scalar(select(KeywordRule.id).where(
        KeywordRule.workspace_id == workspace.id, KeywordRule.word == word,
        KeywordRule.sender.is_(None) if sender is None else KeywordRule.sender == sender))
    if clash:
        raise errors.Conflict(f"{word.upper()} is already a keyword for this sender ({clash}).",
                              code="keyword_exists", field="word")
    rule = KeywordRule(id=ids.new_id("kw"), workspace_id=workspace.id, sender=sender, word=word, action=action,
                       template_id=template_id, event_type=event_type, created_by=actor,
                       created_at=datetime.now(UTC))
    session.add(rule)
    audit(session, workspace.id, actor, "keyword.create", rule.id, {"word": word, "action": action})
    return rule


async def _target(session: AsyncSession, workspace: Workspace, action: str, body: dict[str, Any]
                  ) -> tuple[str | None, str | None]:
    if action == keywords.REPLY:
        if not body.get("template"):
            raise errors.Invalid("A reply keyword names the SMS template it answers with.",
                                 code="template_required", field="template")
        try:
            template = await templates.find(session, workspace.id, body["template"])
        except errors.NotFound as exc:
            raise errors.Invalid(exc.detail, code="template_not_found", field="template") from None
        if template.channel != "sms":
            raise errors.Invalid(f"Template {template.name!r} is for {template.channel}, not sms.",
                                 code="template_channel_mismatch", field="template")
        return template.id, None
    if action == keywords.EVENT:
        if not body.get("event_type"):
            raise errors.Invalid("An event keyword names the event type it fires.", code="event_type_required",
                                 field="event_type")
        found = (await event_types.by_names(session, workspace.id, {body["event_type"]})).get(body["event_type"])
        if found is None:
            raise errors.Invalid(f"No event type {body['event_type']!r}; create it under /v1/event-types.",
                                 code="unknown_event_type", field="event_type")
        problems = payloads.problems(found.schema, SAMPLE_REPLY)
        if problems:
            raise errors.Invalid(f"Event type {found.name!r} would refuse a reply's payload ({problems[0]['field']}: "
                                 f"{problems[0]['message']}); it carries keyword, body, from, to and inbound_id.",
                                 code="event_schema_mismatch", field="event_type", errors=problems)
        return None, found.name
    if body.get("template") or body.get("event_type"):
        raise errors.Invalid("Only reply keywords take a template, and only event keywords an event type.",
                             code="field_not_for_action", field="template" if body.get("template") else "event_type")
    return None, None


async def set_text(session: AsyncSession, workspace: Workspace, body: dict[str, Any], actor: str) -> KeywordText:
    """Set (or replace) one answer."""
    action, text = body["action"], body["text"].strip()
    if action == keywords.HELP and "stop" not in text.casefold():
        raise errors.Invalid("A help text must tell how to stop (e.g. 'Reply STOP to unsubscribe').",
                             code="help_without_stop", field="text")
    sender = _sender(workspace, body.get("sender"))
    language = (body.get("language") or "").split("-")[0].lower() or None
    row = await session.scalar(select(KeywordText).where(
        KeywordText.workspace_id == workspace.id, KeywordText.action == action,
        KeywordText.sender.is_(None) if sender is None else KeywordText.sender == sender,
        KeywordText.language.is_(None) if language is None else KeywordText.language == language))
    now = datetime.now(UTC)
    if row is None:
        row = KeywordText(id=ids.new_id("kwt"), workspace_id=workspace.id, sender=sender, action=action,
                          language=language, text=text, updated_by=actor, updated_at=now)
        session.add(row)
    else:
        row.text, row.updated_by, row.updated_at = text, actor, now
    audit(session, workspace.id, actor, "keyword_text.set", row.id, {"action": action, "sender": sender,
                                                                     "language": language})
    return row


async def rules_for(session: AsyncSession, workspace_id: str, sender: str) -> list[KeywordRule]:
    """The custom keywords that apply to replies to ``sender``; a sender's own rule wins over a general one."""
    rows = (await session.scalars(select(KeywordRule).where(
        KeywordRule.workspace_id == workspace_id,
        or_(KeywordRule.sender == sender, KeywordRule.sender.is_(None))))).all()
    return sorted(rows, key=lambda r: r.sender is None)


async def text_for(session: AsyncSession, workspace_id: str, action: str, sender: str, locale: str | None
                   ) -> str | None:
    """The configured answer, preferring this sender over all senders, then the contact's language over any."""
    rows = (await session.scalars(select(KeywordText).where(
        KeywordText.workspace_id == workspace_id, KeywordText.action == action,
        or_(KeywordText.sender == sender, KeywordText.sender.is_(None))))).all()
    language = (locale or "").split("-")[0].lower() or None

    def rank(row: KeywordText) -> tuple[int, int]:
        return (0 if row.sender == sender else 1,
                0 if row.language == language and language else (1 if row.language is None else 2))

    best = min(rows, key=rank, default=None)
    return best.text if best is not None and rank(best)[1] < 2 else None


async def reply_window(session: AsyncSession, workspace_id: str) -> int:
    """Minutes a reply may come after our message (or the person's previous reply) and still thread."""
    row = await session.get(InboundSettings, workspace_id)
    return row.reply_window_minutes if row is not None else DEFAULT_REPLY_WINDOW


async def set_reply_window(session: AsyncSession, workspace_id: str, minutes: int, actor: str) -> InboundSettings:
    row = await session.get(InboundSettings, workspace_id)
    now = datetime.now(UTC)
    if row is None:
        row = InboundSettings(workspace_id=workspace_id, reply_window_minutes=minutes, updated_by=actor,
                              updated_at=now)
        session.add(row)
    else:
        row.reply_window_minutes, row.updated_by, row.updated_at = minutes, actor, now
    audit(session, workspace_id, actor, "inbound_settings.set", workspace_id, {"reply_window_minutes": minutes})
    return row
