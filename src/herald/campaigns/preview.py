"""The dry run: how many would be sent and skipped (per reason), what the SMS would cost in segments, a few
recipients rendered for real, and warnings for template variables the lists cannot fill."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors
from herald.auth.models import Workspace
from herald.campaigns import planner
from herald.campaigns.delivery import CampaignDelivery, Spec, windows_of
from herald.campaigns.models import Campaign
from herald.campaigns.schemas import PreviewIn, PreviewOut
from herald.campaigns.service import audience_size
from herald.channels.sms import segments
from herald.contacts.models import Contact
from herald.lists.models import ContactList
from herald.messages.service import Links
from herald.pipeline import plan
from herald.templates import service as templates
from herald.templates.liquid import Renderer

STATISTICS_SAMPLE = 200
"""Recipients rendered to estimate segments per message (only ``samples`` of them are shown)."""


class _Row(NamedTuple):
    id: str
    channel: str
    to_address: str


async def preview(session: AsyncSession, renderer: Renderer, c: Campaign, req: PreviewIn,
                  links: Links | None = None) -> PreviewOut:
    """``links`` signs what the samples place as a send would (unsubscribe, ``message.links``)."""
    workspace = await session.get(Workspace, c.workspace_id)
    assert workspace is not None
    template = version = None
    if c.template_id:
        template = await templates.find(session, c.workspace_id, c.template_id)
        version = await templates.version_of(session, template, c.template_version)
    spec = planner.Spec(campaign_id=c.id, workspace_id=c.workspace_id, channel=c.channel,
                        classification=c.classification, dnc_lists=tuple(c.dnc_lists or ()),
                        provider_id=c.provider_id, sender=c.sender, template_id=c.template_id,
                        template_version=c.template_version, queued_explanation="",
                        **planner.history(c.skip_notified_within_days, datetime.now(UTC)))
    counted = dict((await session.execute(planner.outcomes(spec, c.list_ids))).all())
    would_send = counted.pop(None, 0)
    warnings = await _warnings(session, renderer, c, version.sources if version else None)
    delivery = CampaignDelivery(renderer, links=links)
    look = Spec(c, workspace, template, version, windows_of(c), 0.0)
    picked = (await session.execute(planner.sample(spec, c.list_ids, max(req.samples, STATISTICS_SAMPLE)))).all()
    people = {p.id: p for p in (await session.execute(
        select(Contact).where(Contact.id.in_([r[2] for r in picked])))).scalars()}
    shown: list[dict[str, Any]] = []
    counts: list[int] = []
    for member_id, fields, contact_id in picked:
        person = people[contact_id]
        to = plan.address_of(person, c.channel)
        try:
            content = delivery.render(_Row(f"preview-{member_id}", c.channel, to), look, person, fields or {})
        except errors.Invalid as exc:
            if len(shown) < req.samples:
                shown.append({"contact_id": contact_id, "to": to, "error": exc.detail, "code": exc.code})
            continue
        if c.channel == "sms":
            counts.append(segments.analyze(content.get("body", "")).segments)
        if len(shown) < req.samples:
            shown.append({"contact_id": contact_id, "to": to, "content": content})
    per: dict[str, float] | None = None
    estimated = cost = None
    if c.channel == "sms" and counts:
        per = {"min": min(counts), "mean": round(statistics.fmean(counts), 3), "max": max(counts)}
        estimated = round(per["mean"] * would_send)
        if req.cost_per_segment is not None:
            cost = round(estimated * req.cost_per_segment, 4)
    return PreviewOut(audience=await audience_size(session, c.list_ids), would_send=would_send,
                      would_skip={str(k): v for k, v in sorted(counted.items(), key=lambda kv: -kv[1])},
                      segments_per_message=per, estimated_segments=estimated, estimated_cost=cost, samples=shown,
                      warnings=warnings)


async def _warnings(session: AsyncSession, renderer: Renderer, c: Campaign, sources: dict[str, Any] | None
                    ) -> list[dict[str, Any]]:
    """``row.<column>`` variables the template reads that one of the lists lacks: those recipients would fail
    with ``render_error`` (strict variables), so say so before anything is sent."""
    if not sources:
        return []
    used: set[str] = set()
    for parts in sources.values():
        for part, text in parts.items():
            if isinstance(text, str) and text:
                with _quiet():
                    used |= {v for v in renderer.check(text, html=part == "html").variables if v.startswith("row.")}
    found: list[dict[str, Any]] = []
    lists = (await session.execute(select(ContactList).where(ContactList.id.in_(c.list_ids)))).scalars()
    for lst in lists:
        for variable in sorted(used):
            column = variable.split(".")[1]
            if column not in (lst.fields or []):
                found.append({"variable": variable, "list": lst.name,
                              "message": f"List {lst.name!r} has no column {column!r}: its recipients would fail "
                                         f"with render_error"})
    return found


class _quiet:
    """A template that no longer compiles is reported when it renders, not here."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, errors.Invalid)
