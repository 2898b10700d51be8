"""Campaigns: checked when written, and moved through ``draft → scheduled → running ⇄ paused → completed |
stopped`` by the actions, each allowed only from the states that make sense (else 409 with the state)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald import errors, ids, pagination
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.campaigns import repeat, window
from herald.campaigns.models import (
    DRAFT,
    ENDED,
    HELD,
    JOB_KIND,
    PAUSED,
    RUNNING,
    SCHEDULED,
    STOPPED,
    Campaign,
)
from herald.campaigns.progress import counts, finished_sends, provider_failures
from herald.campaigns.schemas import CampaignIn, CampaignOut, CampaignPatch
from herald.channels.base import SYSTEM_CHANNELS
from herald.lists import service as lists
from herald.lists.models import ListMember
from herald.messages.models import CANCELLED, MESSAGES, RETRYING
from herald.messages.models import QUEUED as M_QUEUED
from herald.messages.schemas import CLASSIFICATIONS
from herald.messages.service import PAST_TOLERANCE, pick_provider
from herald.pipeline import plan
from herald.pipeline.policy import MARKETING
from herald.queue import jobs
from herald.queue.models import JOBS
from herald.templates import service as templates

_WAITING = (M_QUEUED, RETRYING)


def to_out(c: Campaign, progress: dict[str, Any]) -> CampaignOut:
    return CampaignOut(
        id=c.id, name=c.name, channel=c.channel, lists=list(c.list_ids), template_id=c.template_id,
        template_version=c.template_version, message_column=c.message_column, subject=c.subject, sender=c.sender,
        provider_id=c.provider_id, classification=c.classification, dnc_lists=list(c.dnc_lists),
        start_at=c.start_at, send_window=c.send_window, quiet_hours=c.quiet_hours,
        throttle_per_second=c.throttle_per_second, max_error_rate=c.max_error_rate,
        skip_notified_within_days=c.skip_notified_within_days, repeat=c.repeat, next_run_at=c.next_run_at,
        last_run_id=c.last_run_id, parent_id=c.parent_id, state=c.state,
        state_reason=c.state_reason, progress=progress, created_at=c.created_at,  # type: ignore[arg-type]
        started_at=c.started_at, finished_at=c.finished_at)


async def create(session: AsyncSession, workspace_id: str, req: CampaignIn, actor: str) -> Campaign:
    now = datetime.now(UTC)
    campaign = Campaign(id=ids.new_id("cmp"), workspace_id=workspace_id, name=req.name, channel=req.channel,
                        state=DRAFT, created_by=actor, created_at=now, updated_at=now, checkpoint={}, total=0)
    await _apply(session, campaign, req.model_dump(), now)
    if await session.scalar(select(Campaign.id).where(Campaign.workspace_id == workspace_id,
                                                      Campaign.name == req.name)):
        raise errors.Conflict(f"A campaign named {req.name!r} exists.", code="campaign_exists", field="name")
    session.add(campaign)
    audit(session, workspace_id, actor, "campaign.create", campaign.id, {"name": req.name})
    return campaign


async def patch(session: AsyncSession, campaign: Campaign, req: CampaignPatch, actor: str) -> Campaign:
    if campaign.state != DRAFT:
        _refuse(campaign, "changed")
    await _apply(session, campaign, req.model_dump(exclude_unset=True), datetime.now(UTC))
    campaign.updated_at = datetime.now(UTC)
    return campaign


_CLEARABLE = ("message_column", "subject", "sender", "throttle_per_second", "skip_notified_within_days")
"""Fields a change may set to null (no throttle: as fast as the provider allows); null leaves the others."""


async def _apply(session: AsyncSession, c: Campaign, values: dict[str, Any], now: datetime) -> None:
    """Check and set what ``values`` holds (a new campaign: every field; a change: the fields sent); the
    campaign must still make sense as a whole afterwards."""
    if "throttle_per_minute" in values:
        per_minute = values.pop("throttle_per_minute")
        if per_minute is not None and values.get("throttle_per_second") is not None:
            raise errors.Invalid("Give throttle_per_second or throttle_per_minute, not both.",
                                 code="throttle_twice", field="throttle_per_minute")
        if per_minute is not None or "throttle_per_second" not in values:
            values["throttle_per_second"] = per_minute / 60 if per_minute is not None else None
    ws = c.workspace_id
    if values.get("name"):
        c.name = values["name"]
    if "lists" in values and values["lists"] is not None:
        with _as_invalid("lists"):
            c.list_ids = [(await lists.get(session, ws, ref)).id for ref in dict.fromkeys(values["lists"])]
    if values.get("classification"):
        if values["classification"] not in CLASSIFICATIONS:
            raise errors.Invalid(f"Unknown classification {values['classification']!r}; use one of "
                                 f"{', '.join(CLASSIFICATIONS)}.", code="unknown_classification",
                                 field="classification")
        c.classification = values["classification"]
    if "template" in values:
        with _as_invalid("template"):
            template = await templates.find(session, ws, values["template"]) if values["template"] else None
        if template is not None and template.channel != c.channel:
            raise errors.Invalid(f"Template {template.name!r} is for {template.channel}, not {c.channel}.",
                                 code="template_channel_mismatch", field="template")
        c.template_id = template.id if template else None
    for name in ("message_column", "subject", "sender", "quiet_hours", "throttle_per_second", "max_error_rate",
                 "skip_notified_within_days"):
        if name in values and (values[name] is not None or name in _CLEARABLE):
            setattr(c, name, values[name])
    if "repeat" in values:
        c.repeat = await _repeat(session, c, values["repeat"])
    if "dnc_lists" in values and values["dnc_lists"] is not None:
        c.dnc_lists = await plan.dnc_selection(session, ws, values["dnc_lists"])
    if "provider" in values or c.provider_id is None:
        c.provider_id = (await pick_provider(session, ws, c.channel, values.get("provider"))).id
    if "start_at" in values:
        start = pagination.aware(values["start_at"], "start_at")
        if start is not None and start < now - PAST_TOLERANCE:
            raise errors.Invalid("start_at is in the past.", code="start_at_in_past", field="start_at")
        c.start_at = start
    if "send_window" in values:
        w = values["send_window"]
        c.send_window = dict(w) if w else None
    await _check(session, c)


async def _repeat(session: AsyncSession, c: Campaign, rule: dict[str, Any] | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    workspace = await session.get(Workspace, c.workspace_id)
    assert workspace is not None
    until = pagination.aware(rule.get("until"), "repeat.until")
    return repeat.check({**rule, "until": until.isoformat() if until else None}, workspace.timezone)


async def _check(session: AsyncSession, c: Campaign) -> None:
    if not c.list_ids:
        raise errors.Invalid("A campaign needs an audience: give one or more lists.", code="audience_required",
                             field="lists")
    if bool(c.template_id) == bool(c.message_column):
        raise errors.Invalid("Give the content as a template or as a message column (one of them).",
                             code="content_required", field="template")
    if c.channel in SYSTEM_CHANNELS and c.message_column:
        raise errors.Invalid(f"A {c.channel} message's content is JSON: the campaign takes it from a template, not "
                             "a message column.", code="json_needs_template", field="message_column")
    if c.skip_notified_within_days and not c.template_id:
        raise errors.Invalid("Notification history is kept per template: skip_notified_within_days needs the "
                             "campaign's content to come from a template.", code="history_needs_template",
                             field="skip_notified_within_days")
    if c.message_column:
        for list_id in c.list_ids:
            lst = await lists.get(session, c.workspace_id, list_id)
            if c.message_column not in (lst.fields or []):
                known = ", ".join(lst.fields or []) or "none yet"
                raise errors.Invalid(f"List {lst.name!r} has no column {c.message_column!r} (its columns: {known}).",
                                     code="unknown_message_column", field="message_column")
        if c.channel == "email" and not c.subject:
            raise errors.Invalid("An email campaign with a message column needs a subject.",
                                 code="missing_subject", field="subject")
    if c.send_window:
        sw = window.Window.parse(c.send_window["start"], c.send_window["end"], c.send_window.get("days"))
        if (c.quiet_hours and c.channel == "sms" and c.classification in MARKETING
                and not window.intersect_ok(sw, window.QUIET_HOURS)):
            raise errors.Invalid("The send window never overlaps the quiet hours for marketing SMS "
                                 "(08:00-21:00 recipient local time), so nothing could ever be sent.",
                                 code="window_outside_quiet_hours", field="send_window")


async def get(session: AsyncSession, workspace_id: str, ref: str) -> Campaign:
    query = select(Campaign).where(Campaign.workspace_id == workspace_id)
    found = await session.scalar(query.where(Campaign.id == ref)) or await session.scalar(
        query.where(Campaign.name == ref))
    if found is None:
        raise errors.NotFound(f"No campaign {ref!r} in this workspace.", code="campaign_not_found")
    return found


@contextmanager
def _as_invalid(field: str) -> Iterator[None]:
    """Something the body names does not exist: a 422 on that field (the campaign itself was found)."""
    try:
        yield
    except errors.NotFound as exc:
        raise errors.Invalid(exc.detail, code=exc.code, field=field) from None


def _refuse(c: Campaign, verb: str) -> NoReturn:
    raise errors.Conflict(f"Campaign {c.name!r} is {c.state}; it cannot be {verb} now.", code="campaign_state",
                          errors=[{"field": "state", "message": c.state}])


# -- actions ---------------------------------------------------------------------------------------------------
async def start(session: AsyncSession, c: Campaign, actor: str) -> Campaign:
    if c.state != DRAFT:
        _refuse(c, "started")
    await _check(session, c)
    now = datetime.now(UTC)
    if c.start_at is not None and c.start_at < now - PAST_TOLERANCE:
        raise errors.Invalid("start_at has passed; change it or clear it to start now.", code="start_at_in_past",
                             field="start_at")
    if c.repeat:
        return await _start_recurring(session, c, now, actor)
    if c.template_id:
        template = await templates.find(session, c.workspace_id, c.template_id)
        c.template_version = template.current_version
    due = c.start_at if c.start_at and c.start_at > now else now
    c.state = SCHEDULED if due > now else RUNNING
    c.started_at = None if due > now else now
    c.total = await audience_size(session, c.list_ids)
    c.updated_at = now
    conn = await session.connection()
    c.job_id = await jobs.enqueue(conn, JOB_KIND, {"campaign_id": c.id}, due_at=due, workspace_id=c.workspace_id,
                                  max_attempts=100)
    audit(session, c.workspace_id, actor, "campaign.start", c.id, {"start_at": due.isoformat()})
    return c


async def _start_recurring(session: AsyncSession, c: Campaign, now: datetime, actor: str) -> Campaign:
    """A definition waits for its first occurrence (not before ``start_at``); each run takes the template's
    version current at that run."""
    assert c.repeat is not None
    first = repeat.next_after(c.repeat, max(now, c.start_at or now) - timedelta(microseconds=1))
    if first is None:
        raise errors.Invalid("The repeat rule has no occurrence before its 'until'.", code="invalid_repeat",
                             field="repeat.until")
    c.state, c.next_run_at, c.updated_at = SCHEDULED, first, now
    c.total = await audience_size(session, c.list_ids)
    c.job_id = await jobs.enqueue(await session.connection(), repeat.JOB_KIND, {"campaign_id": c.id}, due_at=first,
                                  workspace_id=c.workspace_id, max_attempts=100)
    audit(session, c.workspace_id, actor, "campaign.start", c.id, {"repeat": c.repeat, "first": first.isoformat()})
    return c


async def audience_size(session: AsyncSession, list_ids: list[str]) -> int:
    return int(await session.scalar(select(func.count(func.distinct(ListMember.contact_id)))
                                    .where(ListMember.list_id.in_(list_ids))) or 0)


async def pause(session: AsyncSession, c: Campaign, actor: str, why: str | None = None) -> Campaign:
    if c.state != RUNNING:
        _refuse(c, "paused")
    await hold(await session.connection(), c.id, why or f"paused by {actor}")
    c.state, c.state_reason, c.updated_at = PAUSED, why, datetime.now(UTC)
    audit(session, c.workspace_id, actor, "campaign.pause", c.id, {"reason": why} if why else None)
    return c


async def hold(conn: AsyncConnection, campaign_id: str, why: str) -> None:
    """A paused campaign's waiting messages are held (never claimed) until it resumes."""
    m = MESSAGES.c
    await conn.execute(update(MESSAGES).where(m.source_id == campaign_id, m.state.in_(_WAITING)).values(
        due_at=HELD, explanation=f"Held: the campaign was {why}", updated_at=datetime.now(UTC)))


async def resume(session: AsyncSession, c: Campaign, actor: str) -> Campaign:
    if c.state != PAUSED:
        _refuse(c, "resumed")
    now = datetime.now(UTC)
    m = MESSAGES.c
    conn = await session.connection()
    await conn.execute(update(MESSAGES).where(m.source_id == c.id, m.state.in_(_WAITING), m.due_at == HELD).values(
        due_at=now, explanation="Queued again: the campaign was resumed", updated_at=now))
    c.state, c.state_reason, c.updated_at = RUNNING, None, now
    counted = await counts(conn, c.id, c.total)  # the error rate is judged afresh from here
    c.checkpoint = {**c.checkpoint, "baseline": {"failed": provider_failures(counted),
                                                 "done": finished_sends(counted)}}
    await _wake_job(conn, c)
    audit(session, c.workspace_id, actor, "campaign.resume", c.id)
    return c


async def stop(session: AsyncSession, c: Campaign, actor: str) -> Campaign:
    if c.state in ENDED or c.state == DRAFT:
        _refuse(c, "stopped")
    now = datetime.now(UTC)
    m = MESSAGES.c
    await (await session.connection()).execute(update(MESSAGES).where(
        m.source_id == c.id, m.state.in_(_WAITING)).values(
        state=CANCELLED, reason="campaign_stopped", explanation=f"Not sent: the campaign was stopped by {actor}",
        final_at=now, updated_at=now, lease_until=None))
    c.state, c.finished_at, c.updated_at = STOPPED, now, now
    audit(session, c.workspace_id, actor, "campaign.stop", c.id)
    return c


async def _wake_job(conn: AsyncConnection, c: Campaign) -> None:
    """The fan-out job resumes planning (or watching) now."""
    now = datetime.now(UTC)
    if c.job_id:
        result = await conn.execute(update(JOBS).where(JOBS.c.id == c.job_id, JOBS.c.state.in_(
            ("done", "failed", "queued", "retrying"))).values(state="queued", due_at=now, attempts=0, updated_at=now))
        if result.rowcount:  # type: ignore[attr-defined]
            return
    c.job_id = await jobs.enqueue(conn, JOB_KIND, {"campaign_id": c.id}, due_at=now + timedelta(seconds=0),
                                  workspace_id=c.workspace_id, max_attempts=100)


ACTIONS = {"start": start, "pause": pause, "resume": resume, "stop": stop}
"""The actions by name, for the CLI and the console."""


async def progress(db: AsyncSession | AsyncConnection, c: Campaign) -> dict[str, Any]:
    return await counts(db, c.id, c.total)
