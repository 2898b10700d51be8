"""Rendering and read-only queries for the console pages.

Templates are our own (trusted) Jinja2 files with autoescape on for everything, so message content,
addresses and provider errors are always shown as text, never interpreted as HTML. Times are shown in UTC
ISO form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse

from herald.messages.models import (
    BOUNCED,
    CANCELLED,
    CLAIMABLE,
    COMPLAINED,
    DELIVERED,
    EXPIRED,
    FAILED,
    SENDING,
    SENT,
    SKIPPED,
    STATES,
    UNDELIVERED,
    Message,
)
from herald.providers.models import Provider

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

_TONE = {
    DELIVERED: "ok", SENT: "ok",
    FAILED: "bad", UNDELIVERED: "bad", BOUNCED: "bad", COMPLAINED: "bad", EXPIRED: "bad",
    SKIPPED: "muted", CANCELLED: "muted",
}


def utc(value: datetime | None, ms: bool = False) -> str:
    """``2026-11-23T10:04:05Z`` (with milliseconds when ``ms``); empty for None."""
    if value is None:
        return ""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if ms else "seconds")
    return text.replace("+00:00", "Z")


def tone(state: str) -> str:
    """The badge colour family of a state: ok, bad, muted, or wait (still moving)."""
    return _TONE.get(state, "wait")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["utc"] = utc
    env.filters["tone"] = tone
    return env


ENV = _environment()


def render(template: str, context: dict[str, Any], *, status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render one of our templates into an HTML response."""
    return HTMLResponse(ENV.get_template(template).render(context), status_code=status, headers=headers)


@dataclass(frozen=True)
class Stats:
    """The dashboard numbers for one workspace."""

    since: datetime
    by_state: list[tuple[str, int]]
    by_channel: list[tuple[str, int]]
    total: int
    due: int
    """Waiting to be claimed now (queued or retrying, due)."""
    scheduled: int
    """Waiting for a later due time (scheduled, deferred or backing off)."""
    sending: int


async def dashboard_stats(session: AsyncSession, workspace_id: str, now: datetime | None = None) -> Stats:
    """Counts by state and by channel for messages created in the last 24 hours, and the queue depth."""
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=24)
    recent = (Message.workspace_id == workspace_id, Message.created_at >= since)
    by_state = await session.execute(
        select(Message.state, func.count()).where(*recent).group_by(Message.state))
    by_channel = await session.execute(
        select(Message.channel, func.count()).where(*recent).group_by(Message.channel))
    states: dict[str, int] = dict(by_state.all())
    channels: dict[str, int] = dict(by_channel.all())
    waiting = (Message.workspace_id == workspace_id, Message.state.in_(CLAIMABLE))
    due = await session.scalar(select(func.count()).select_from(Message).where(*waiting, Message.due_at <= now))
    later = await session.scalar(select(func.count()).select_from(Message).where(*waiting, Message.due_at > now))
    sending = await session.scalar(select(func.count()).select_from(Message).where(
        Message.workspace_id == workspace_id, Message.state == SENDING))
    ordered = [(s, states[s]) for s in STATES if states.get(s)]
    ordered += [(s, n) for s, n in states.items() if s not in STATES and n]
    return Stats(since=since, by_state=ordered, by_channel=sorted(channels.items()),
                 total=sum(states.values()), due=due or 0, scheduled=later or 0, sending=sending or 0)


async def provider_names(session: AsyncSession, workspace_id: str) -> dict[str, str]:
    """Provider id -> name in this workspace, to label messages and attempts."""
    rows = await session.execute(select(Provider.id, Provider.name).where(Provider.workspace_id == workspace_id))
    return dict(rows.all())
