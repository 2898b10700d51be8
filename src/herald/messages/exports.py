"""The interactions view as a file: the messages a filter shows (:mod:`herald.messages.filters`), newest first,
with the columns a person chooses, as spreadsheet-safe CSV streamed a page at a time, each page read on a
connection of its own (never holding a writer). Message bodies are not exported: they hold one-time codes
and whatever else a template put there; the API shows one message's content to whoever may read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.responses import Response, StreamingResponse

from herald import csvsafe, errors
from herald.auth.service import audit
from herald.contacts.models import Contact
from herald.db.session import reading
from herald.messages.filters import Filter
from herald.messages.models import Message

PAGE = 5000
COLUMNS: dict[str, Any] = {
    "id": Message.id, "created_at": Message.created_at, "channel": Message.channel,
    "classification": Message.classification, "source": Message.source, "source_id": Message.source_id,
    "contact_id": Message.contact_id, "external_id": Contact.external_id, "to": Message.to_address,
    "from": Message.sender, "state": Message.state, "reason": Message.reason, "explanation": Message.explanation,
    "template_id": Message.template_id, "locale": Message.locale, "provider_id": Message.provider_id,
    "provider_message_id": Message.provider_message_id, "attempts": Message.attempts, "due_at": Message.due_at,
    "expires_at": Message.expires_at, "sent_at": Message.sent_at, "delivered_at": Message.delivered_at,
    "final_at": Message.final_at,
}
DEFAULT = ("id", "created_at", "channel", "classification", "source", "contact_id", "to", "state", "reason",
           "sent_at", "delivered_at")


def chosen(text: str | None) -> list[str]:
    """The columns asked for, in their order; the default set when none are."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise errors.Invalid(f"Unknown column(s): {', '.join(unknown)}; choose from {', '.join(COLUMNS)}.",
                             code="unknown_column", field="columns")
    if len(set(names)) != len(names):
        raise errors.Invalid("A column is named twice.", code="duplicate_column", field="columns")
    return names or list(DEFAULT)


async def download(session: AsyncSession, engine: AsyncEngine, workspace_id: str, actor: str, shown: Filter,
                   names: list[str], fmt: str) -> Response:
    """The download of the API and the console, ``csv`` or ``pdf``, audited (``messages.export``)."""
    audit(session, workspace_id, actor, "messages.export", None,
          {"columns": names, "filter": shown.given(), "format": fmt})
    if fmt == "pdf":
        from herald.messages import pdfexport  # here, not above: it builds on this module's COLUMNS

        return await pdfexport.response(engine, shown.where(workspace_id), names, shown.given())
    return response(engine, shown.where(workspace_id), names)


def response(engine: AsyncEngine, where: list[ColumnElement[bool]], names: list[str]) -> StreamingResponse:
    """The CSV download."""
    return StreamingResponse(csv_lines(engine, where, names), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="messages.csv"'})


async def csv_lines(engine: AsyncEngine, where: list[ColumnElement[bool]], names: list[str]) -> AsyncIterator[str]:
    """The CSV text, streamed a page of messages at a time (keyset on the id, newest first)."""
    query = select(Message.id, *(COLUMNS[n] for n in names)).where(*where)
    if "external_id" in names:
        query = query.outerjoin(Contact, Contact.id == Message.contact_id)
    lines = csvsafe.rows(names, [])
    yield next(lines)
    before: str | None = None
    while True:
        async with reading(engine) as conn:
            page = (await conn.execute((query.where(Message.id < before) if before else query)
                                       .order_by(Message.id.desc()).limit(PAGE))).all()
        if not page:
            return
        before = page[-1][0]
        body = csvsafe.rows([], ([_cell(v) for v in row[1:]] for row in page))
        next(body)  # the (empty) header line
        yield "".join(body)
        if len(page) < PAGE:
            return


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value
