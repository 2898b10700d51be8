"""A campaign's results for people: every recipient's outcome as spreadsheet-safe CSV (skipped ones with their
reason included), and a PDF report. Both read in pages on their own connection, never holding a writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald import csvsafe
from herald.auth.models import Workspace
from herald.campaigns import report
from herald.campaigns.models import Campaign
from herald.campaigns.progress import counts
from herald.contacts.models import Contact
from herald.db.session import reading
from herald.messages.models import MESSAGES

PAGE = 5000
HEADER = ["message_id", "contact_id", "external_id", "to", "state", "reason", "explanation", "attempts",
          "created_at", "sent_at", "delivered_at", "final_at"]
_m = MESSAGES.c


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else ""


async def csv_lines(engine: AsyncEngine, campaign_id: str) -> AsyncIterator[str]:
    """The CSV text, streamed a page of recipients at a time."""
    after = ""
    page: list[Any] = [None]
    lines = csvsafe.rows(HEADER, [])
    yield next(lines)
    while page:
        async with reading(engine) as conn:
            page = list((await conn.execute(
                select(_m.id, _m.contact_id, Contact.external_id, _m.to_address, _m.state, _m.reason,
                       _m.explanation, _m.attempts, _m.created_at, _m.sent_at, _m.delivered_at, _m.final_at)
                .outerjoin(Contact, Contact.id == _m.contact_id)
                .where(_m.source_id == campaign_id, _m.id > after).order_by(_m.id).limit(PAGE))).all())
        if page:
            after = page[-1][0]
            body = csvsafe.rows([], ([*r[:8], *(_time(t) for t in r[8:])] for r in page))
            next(body)  # the (empty) header line
            yield "".join(body)


async def pdf(session: AsyncSession, campaign: Campaign) -> bytes:
    """Built on the request's own session: on SQLite a second connection would wait for its write lock."""
    counted = await counts(session, campaign.id, campaign.total)
    workspace = await session.scalar(select(Workspace.name).where(Workspace.id == campaign.workspace_id))
    hour = _hour_bucket(session.get_bind().dialect.name)
    timeline = [(_parse_hour(h), int(n)) for h, n in (await session.execute(
        select(hour, func.count()).where(_m.source_id == campaign.id, _m.sent_at.is_not(None))
        .group_by(hour).order_by(hour))).all()]
    data = report.ReportData(
        workspace=workspace or "", campaign_id=campaign.id, name=campaign.name, channel=campaign.channel,
        state=campaign.state, classification=campaign.classification, created_at=campaign.created_at,
        started_at=campaign.started_at, finished_at=campaign.finished_at,
        counters={k: v for k, v in counted.items() if isinstance(v, int)},
        skipped=counted["skipped_by_reason"], failed=counted["failed_by_reason"], timeline=timeline,
        generated_at=datetime.now(UTC))
    return await asyncio.to_thread(report.render, data)


def _hour_bucket(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), _m.sent_at), literal_column("'YYYY-MM-DD HH24'"))
    return func.substr(_m.sent_at, 1, 13)


def _parse_hour(text: str) -> datetime:
    return datetime.strptime(text.replace("T", " ")[:13], "%Y-%m-%d %H").replace(tzinfo=UTC)
