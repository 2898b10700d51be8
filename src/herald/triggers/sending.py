"""A trigger's ``send`` step: one message through the same path as ``POST /v1/messages`` (plan, consent,
suppressions, render), in the run's transaction, so the step and its message commit together or not at all.

The template sees the run's event as ``event`` and the trigger as ``trigger``; the step's overrides replace
template parts for this trigger only. A TTL counts from the run's clock (the event's ``occurred_at``): an alert
whose moment has passed is stored as ``expired`` with the reason, never sent late."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.models import Workspace
from herald.messages import service as messages
from herald.messages import timeline
from herald.messages.models import EXPIRED
from herald.messages.schemas import ContactRef, MessageCreate
from herald.templates.liquid import Renderer
from herald.triggers import durations
from herald.triggers.models import SOURCE, Run, Trigger


@dataclass(frozen=True, slots=True)
class SendContext:
    """What rendering and planning need, from the process's settings."""

    renderer: Renderer
    sms_max_segments: int = 10
    links: messages.Links | None = None


def request_for(step: dict[str, Any], trigger: Trigger, run: Run, contact_id: str,
                expires_at: datetime | None) -> MessageCreate:
    return MessageCreate.model_validate({
        "channel": step["channel"], "contact": ContactRef(id=contact_id), "template": step["template"],
        "data": {**step.get("data", {}), "event": run.entry, "trigger": {"id": trigger.id, "name": trigger.name}},
        "overrides": step.get("overrides", {}), "classification": step.get("classification", "transactional"),
        "provider": step.get("provider"), "from": step.get("sender"), "priority": step.get("priority", 5),
        "override": step.get("override", False), "dnc_lists": step.get("dnc_lists", []), "expires_at": expires_at,
        "metadata": {"trigger_id": trigger.id, "run_id": run.id, "event_id": run.event_id},
    })


async def send(session: AsyncSession, workspace: Workspace, trigger: Trigger, run: Run, step: dict[str, Any],
               ctx: SendContext, now: datetime) -> str:
    """Plan the step's message; answer its id. A message that cannot be rendered for this contact is kept as
    failed (the run goes on); a step that cannot be planned at all (its template or provider is gone) raises."""
    assert run.contact_id is not None
    expires_at = run.clock_at + durations.parse(step["ttl"]) if step.get("ttl") else None
    late = expires_at is not None and expires_at <= now
    req = request_for(step, trigger, run, run.contact_id, None if late else expires_at)
    # Planning reads suppressions, consent and lookups, none of which the run being moved affects: not
    # flushing it first lets it be inserted once, in its final state, instead of inserted then updated. The
    # message is stored with the run, as plain rows (a message that cannot be rendered is stored failed).
    with session.no_autoflush:
        message = await messages.queue(session, workspace, req, source=SOURCE, source_id=trigger.id,
                                       renderer=ctx.renderer, sms_max_segments=ctx.sms_max_segments,
                                       actor=f"trigger:{trigger.id}", links=ctx.links)
    if late and expires_at is not None and message["state"] not in ("skipped", "failed"):
        explanation = (f"Not sent: the event happened at {run.clock_at.isoformat()} and this message was "
                       f"worthless after {expires_at.isoformat()} (ttl {step['ttl']})")
        at = message["created_at"]  # not ``now``, the moment the group of events began: it would come first
        message.update(state=EXPIRED, reason="expired", final_at=at, expires_at=expires_at, explanation=explanation)
        timeline.record(session, message["id"], EXPIRED, at, explanation)
    return str(message["id"])
