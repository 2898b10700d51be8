"""Triggers: create, change, find, and the checks that run when one is saved.

Everything a trigger refers to is checked at save, not when the first event arrives: its event types, every
expression (422 with the character position), every duration, and every send step's template (it must exist
and be for the step's channel). Each template is test-rendered with the event type's sample payload (or, without
one, a payload shaped like its schema); a variable the payload lacks is a *warning* in the answer (the payload
may legitimately omit it), not a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.events import payloads
from herald.events import service as event_types
from herald.messages import service as messages
from herald.messages.schemas import CLASSIFICATIONS
from herald.templates import service as templates
from herald.templates.liquid import Renderer
from herald.triggers import conditions, durations
from herald.triggers.models import REENTRY, Trigger
from herald.triggers.schemas import TriggerIn, TriggerOut, TriggerPatch, TriggerStats

SAMPLE_CONTACT = {"id": "ct_SAMPLE", "external_id": "sample-1", "name": "Sample Person", "first_name": "Sample",
                  "email": "sample@example.com", "phone": "+14155550100", "locale": "en", "timezone": "UTC",
                  "birthday": "1990-01-01"}


def to_out(t: Trigger, warnings: list[dict[str, Any]] | None = None, stats: TriggerStats | None = None) -> TriggerOut:
    return TriggerOut(id=t.id, name=t.name, description=t.description, owner=t.owner, event_type=t.event_type,
                      schedule=t.schedule, filter=t.filter, counters=t.counters, steps=t.steps, exit_on=t.exit_on,
                      reentry=t.reentry, active=t.active, created_at=t.created_at, updated_at=t.updated_at,
                      warnings=warnings or [], stats=stats)


def walk(steps: list[dict[str, Any]], prefix: str = "steps") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step of the tree with its field path (``steps[0].on_timeout[1]``)."""
    for index, step in enumerate(steps):
        here = f"{prefix}[{index}]"
        yield here, step
        for branch in ("on_event", "on_timeout"):
            yield from walk(step.get(branch) or [], f"{here}.{branch}")


async def create(session: AsyncSession, workspace: Workspace, req: TriggerIn, actor: str,
                 renderer: Renderer) -> tuple[Trigger, list[dict[str, Any]]]:
    values = _values(req.model_dump(mode="json", by_alias=True, exclude_none=False))
    taken = await session.scalar(select(Trigger.id).where(Trigger.workspace_id == workspace.id,
                                                          Trigger.name == values["name"]))
    if taken:
        raise errors.Conflict(f"A trigger named {values['name']!r} exists.", code="trigger_exists", field="name")
    warnings = await check(session, workspace, values, renderer)
    now = datetime.now(UTC)
    t = Trigger(id=ids.new_id("trg"), workspace_id=workspace.id, owner=actor, created_at=now, updated_at=now,
                **values)
    session.add(t)
    audit(session, workspace.id, actor, "trigger.create", t.id, {"name": t.name, "active": t.active})
    return t, warnings


async def patch(session: AsyncSession, workspace: Workspace, t: Trigger, req: TriggerPatch, actor: str,
                renderer: Renderer) -> tuple[Trigger, list[dict[str, Any]]]:
    """Change a trigger. Runs already under way keep their position; new steps apply from their next move."""
    given = req.model_dump(mode="json", by_alias=True, exclude_unset=True)
    values = _values({**_current(t), **given})
    if values["name"] != t.name and await session.scalar(select(Trigger.id).where(
            Trigger.workspace_id == workspace.id, Trigger.name == values["name"])):
        raise errors.Conflict(f"A trigger named {values['name']!r} exists.", code="trigger_exists", field="name")
    warnings = await check(session, workspace, values, renderer)
    for name, value in values.items():
        setattr(t, name, value)
    t.updated_at = datetime.now(UTC)
    audit(session, workspace.id, actor, "trigger.update", t.id, {"fields": sorted(given)})
    return t, warnings


def _current(t: Trigger) -> dict[str, Any]:
    return {"name": t.name, "description": t.description, "event_type": t.event_type, "schedule": t.schedule,
            "filter": t.filter, "counters": t.counters, "steps": t.steps, "exit_on": t.exit_on,
            "reentry": t.reentry, "active": t.active}


def _values(raw: dict[str, Any]) -> dict[str, Any]:
    """The columns, with steps stripped of unset optional keys (smaller rows, clearer answers)."""
    def lean(step: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in step.items() if v not in (None, [], {}) or k == "type"}
        for branch in ("on_event", "on_timeout"):
            if branch in out:
                out[branch] = [lean(s) for s in out[branch]]
        return out

    return {"name": raw["name"], "description": raw["description"], "event_type": raw.get("event_type"),
            "schedule": raw.get("schedule"), "filter": raw.get("filter") or None,
            "counters": [{k: v for k, v in c.items() if v is not None} for c in raw.get("counters") or []],
            "steps": [lean(s) for s in raw["steps"]],
            "exit_on": [{k: v for k, v in e.items() if v is not None} for e in raw.get("exit_on") or []],
            "reentry": raw.get("reentry") or "every_time", "active": raw.get("active", True)}


async def check(session: AsyncSession, workspace: Workspace, v: dict[str, Any], renderer: Renderer
                ) -> list[dict[str, Any]]:
    """Refuse what cannot work (422 on the field); answer warnings for what may not."""
    if (v["event_type"] is None) == (v["schedule"] is None):
        raise errors.Invalid("A trigger reacts to an 'event_type' or runs on a date 'schedule' (exactly one).",
                             code="trigger_kind", field="event_type")
    if v["reentry"] not in REENTRY:
        raise errors.Invalid(f"Unknown re-entry policy {v['reentry']!r}; use one of {', '.join(REENTRY)}.",
                             code="unknown_reentry", field="reentry")
    named = {v["event_type"]} if v["event_type"] else set()
    named |= {c["event"] for c in v["counters"]} | {e["event"] for e in v["exit_on"]}
    named |= {s["event"] for _, s in walk(v["steps"]) if s["type"] == "wait" and s.get("event")}
    known = await event_types.by_names(session, workspace.id, named)
    unknown = sorted(named - set(known))
    if unknown:
        raise errors.Invalid(f"Unknown event type(s): {', '.join(unknown)}; create them under /v1/event-types.",
                             code="unknown_event_type", field="event_type" if v["event_type"] in unknown else "steps")
    if v["schedule"] is not None:
        _check_schedule(v["schedule"])
        if v["filter"] or v["counters"]:
            raise errors.Invalid("A date-based trigger uses 'schedule.condition', not a filter or counters.",
                                 code="filter_not_for_schedule", field="filter")
    conditions.check(v["filter"], conditions.FILTER_ROOTS, "filter")
    for i, c in enumerate(v["counters"]):
        conditions.check_period(c.get("period", "ever"), f"counters[{i}].period")
        conditions.check(c.get("match"), conditions.FILTER_ROOTS, f"counters[{i}].match")
    for i, e in enumerate(v["exit_on"]):
        conditions.check(e.get("match"), conditions.MATCH_ROOTS, f"exit_on[{i}].match")
    entry = known[v["event_type"]] if v["event_type"] else None
    sample = entry.sample if entry is not None else None
    if entry is not None and sample is None and entry.schema:
        sample = payloads.example(entry.schema)
    warnings: list[dict[str, Any]] = []
    for path, step in walk(v["steps"]):
        if step["type"] == "wait":
            _check_wait(step, path)
        elif step["type"] == "send":
            warnings += await _check_send(session, workspace, step, path, sample, v, renderer)
    if v["event_type"] and sample is None and any(s["type"] == "send" for _, s in walk(v["steps"])):
        warnings.append({"field": "event_type", "code": "no_sample",
                         "message": f"Event type {v['event_type']!r} has neither a schema nor a sample payload, so "
                                    "the templates' event variables were not checked."})
    return warnings


def _duration(text: str, field: str) -> None:
    try:
        durations.parse(text)
    except ValueError as exc:
        raise errors.Invalid(f"{field}: {exc}", code="invalid_duration", field=field) from None


def _check_wait(step: dict[str, Any], path: str) -> None:
    for name in ("duration", "timeout"):
        if step.get(name):
            _duration(step[name], f"{path}.{name}")
    if step.get("until"):
        try:
            durations.clock(step["until"])
        except ValueError as exc:
            raise errors.Invalid(f"{path}.until: {exc}", code="invalid_time", field=f"{path}.until") from None
    conditions.check(step.get("match"), conditions.MATCH_ROOTS, f"{path}.match")


def _check_schedule(schedule: dict[str, Any]) -> None:
    try:
        durations.clock(schedule.get("at") or "10:00")
    except ValueError as exc:
        raise errors.Invalid(f"schedule.at: {exc}", code="invalid_time", field="schedule.at") from None
    attribute = schedule["attribute"]
    if attribute != "birthday" and not attribute.replace("_", "").replace(".", "").isalnum():
        raise errors.Invalid("schedule.attribute names 'birthday' or a contact attribute (letters, digits, _).",
                             code="invalid_attribute", field="schedule.attribute")
    conditions.check(schedule.get("condition"), conditions.CONTACT_ROOTS, "schedule.condition")


async def _check_send(session: AsyncSession, workspace: Workspace, step: dict[str, Any], path: str,
                      sample: dict[str, Any] | None, v: dict[str, Any], renderer: Renderer) -> list[dict[str, Any]]:
    if step["channel"] not in messages.SUPPORTED:
        raise errors.Invalid(f"{path}.channel: sending {step['channel']!r} from a trigger is not available yet; "
                             f"use {', '.join(messages.SUPPORTED)}.", code="channel_not_supported",
                             field=f"{path}.channel")
    if step.get("classification", "transactional") not in CLASSIFICATIONS:
        raise errors.Invalid(f"{path}.classification: use one of {', '.join(CLASSIFICATIONS)}.",
                             code="unknown_classification", field=f"{path}.classification")
    if step.get("ttl"):
        _duration(step["ttl"], f"{path}.ttl")
    try:
        template = await templates.find(session, workspace.id, step["template"])
    except errors.NotFound as exc:
        raise errors.Invalid(exc.detail, code="template_not_found", field=f"{path}.template") from None
    if template.channel != step["channel"]:
        raise errors.Invalid(f"Template {template.name!r} is for {template.channel}, not {step['channel']}.",
                             code="template_channel_mismatch", field=f"{path}.template")
    if sample is None:
        return []
    version = await templates.version_of(session, template)
    data = {**step.get("data", {}), "event": sample, "contact": SAMPLE_CONTACT,
            "trigger": {"id": "trg_SAMPLE", "name": v["name"]}}
    try:
        templates.render_version(renderer, template, version, workspace, data=data, locale=None,
                                 overrides=step.get("overrides") or None, sms_max_segments=50,
                                 message={"id": "msg_SAMPLE", "channel": step["channel"], "to": "sample"})
    except errors.Invalid as exc:
        if exc.code not in ("undefined_variable", "render_error", "limit_exceeded", "empty_render"):
            raise errors.Invalid(f"{path}.overrides: {exc.detail}", code=exc.code, field=f"{path}.overrides",
                                 errors=exc.errors) from None
        return [{"field": f"{path}.template", "code": exc.code,
                 "message": f"With the sample payload of {v['event_type']!r}: {exc.detail}"}]
    return []


async def get(session: AsyncSession, workspace_id: str, ref: str) -> Trigger:
    t = await session.scalar(select(Trigger).where(Trigger.workspace_id == workspace_id,
                                                   or_(Trigger.id == ref, Trigger.name == ref)))
    if t is None:
        raise errors.NotFound(f"No trigger {ref!r} in this workspace.", code="trigger_not_found")
    return t
