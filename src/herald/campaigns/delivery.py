"""Just before a campaign's messages are sent: the dispatcher's preparer for ``source = campaign``.

For each claimed campaign message, in this order: a stopped campaign cancels it, a paused one holds it; the
recipient's send window and quiet hours (in their local time) may defer it; the campaign's throttle paces
it; and its content is rendered now, from the version of the template pinned at start or from the list's
message column, and stored with its outcome. A render that fails for this recipient fails the message with
the reason; it is never sent half-rendered."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald import errors
from herald.auth.models import Workspace
from herald.campaigns import window
from herald.campaigns.models import HELD, PAUSED, SOURCE, STOPPED, Campaign
from herald.channels.sms import segments
from herald.contacts import service as contacts
from herald.contacts.models import Contact
from herald.lists.models import ListMember
from herald.messages.content import MAX_SMS_CHARS, RENDER_FAILURES
from herald.messages.service import Links
from herald.pipeline import outcomes
from herald.pipeline.dispatch import Prepared
from herald.pipeline.policy import MARKETING
from herald.templates import service as templates
from herald.templates.liquid import Renderer
from herald.templates.models import Template, TemplateVersion
from herald.unsubscribe import links

STATE_TTL = 1.0
"""How stale a campaign's state may be here: a pause or stop takes effect within this many seconds."""
PACE_HORIZON = 1.0
"""A throttled message waits in memory at most this long; later slots go back to the queue."""
_CONTACT_COLUMNS = (Contact.id, Contact.external_id, Contact.name, Contact.email, Contact.phone, Contact.locale,
                    Contact.timezone, Contact.birthday, Contact.attributes)


@dataclass(slots=True)
class _Pacer:
    rate: float
    next_free: float = 0.0

    def reserve(self, now: float) -> float | None:
        """Seconds to wait for this message's slot, or None when the slot is beyond the horizon."""
        wait = max(0.0, self.next_free - now)
        if wait > PACE_HORIZON:
            return None
        self.next_free = max(now, self.next_free) + 1.0 / self.rate
        return wait

    def free_in(self, now: float) -> float:
        return max(0.0, self.next_free - now)


@dataclass(slots=True)
class Spec:
    campaign: Campaign
    workspace: Workspace
    template: Template | None
    version: TemplateVersion | None
    windows: tuple[window.Window, ...]
    loaded: float


class CampaignDelivery:
    def __init__(self, renderer: Renderer, *, sms_max_segments: int = 10, links: Links | None = None) -> None:
        self.renderer = renderer
        self.sms_max_segments = sms_max_segments
        self.links = links
        self._specs: dict[str, Spec] = {}
        self._pacers: dict[str, _Pacer] = {}

    async def __call__(self, conn: AsyncConnection, rows: Sequence[Row[Any]], contents: dict[str, dict[str, Any]],
                       token: str, now: datetime) -> Prepared:
        prepared = Prepared()
        mine = [r for r in rows if r.source == SOURCE and r.source_id]
        if not mine:
            return prepared
        specs = {cid: await self._spec(conn, cid) for cid in {r.source_id for r in mine}}
        # The contact is read only for what needs it: a send window (its zone and phone) or a template.
        people = await self._contacts(conn, [r.contact_id for r in mine if r.contact_id
                                             and _needs_contact(specs[r.source_id])])
        fields = await self._fields(conn, [r.source_item for r in mine if r.source_item is not None
                                           and r.id not in contents])
        clock = time.monotonic()
        for row in mine:
            spec = specs[row.source_id]
            held = self._hold(row, token, now, spec, people.get(row.contact_id))
            if held is None and spec.campaign.throttle_per_second:
                held = self._pace(row, token, now, spec, clock, prepared)
            if held is not None:
                prepared.outcomes[row.id] = held
                continue
            if row.id in contents:
                continue
            person = people.get(row.contact_id)
            try:
                prepared.contents[row.id] = self.render(row, spec, person, fields.get(row.source_item) or {})
            except errors.Invalid as exc:
                reason = "render_error" if exc.code in RENDER_FAILURES else exc.code
                prepared.outcomes[row.id] = outcomes.failed(
                    row, token, now, reason[:60], f"Not sent: the content could not be made for this recipient "
                    f"({exc.detail})", attempt=None)
        return prepared

    # -- rules that say "not now" -------------------------------------------------------------------------
    def _hold(self, row: Row[Any], token: str, now: datetime, spec: Spec, person: Row[Any] | None
              ) -> outcomes.Outcome | None:
        campaign = spec.campaign
        if campaign.state == STOPPED:
            return outcomes.cancelled(row, token, now, "campaign_stopped", "the campaign was stopped")
        if campaign.state == PAUSED:
            return outcomes.deferred(row, token, now, HELD, "held while the campaign is paused")
        if not spec.windows:
            return None
        zones = window.zones_for(person.timezone if person else None, person.phone if person else None,
                                 spec.workspace.timezone)
        opens = window.next_open(now, zones, spec.windows)
        if opens is None:
            return None
        what = "send window" if campaign.send_window else "quiet hours"
        return outcomes.deferred(row, token, now, opens, f"{what} until {window.describe(opens, zones)}")

    def _pace(self, row: Row[Any], token: str, now: datetime, spec: Spec, clock: float, prepared: Prepared
              ) -> outcomes.Outcome | None:
        rate = float(spec.campaign.throttle_per_second or 0)
        pacer = self._pacers.get(spec.campaign.id)
        if pacer is None or pacer.rate != rate:
            pacer = self._pacers[spec.campaign.id] = _Pacer(rate)
        wait = pacer.reserve(clock)
        if wait is None:
            due = now + timedelta(seconds=pacer.free_in(clock))
            return outcomes.deferred(row, token, now, due, f"the campaign's throttle ({rate:g}/s)")
        if wait > 0:
            prepared.waits[row.id] = wait
        return None

    # -- content ------------------------------------------------------------------------------------------
    def render(self, row: Any, spec: Spec, person: Any, fields: dict[str, Any]
                ) -> dict[str, Any]:
        campaign = spec.campaign
        if campaign.message_column:
            return _from_column(campaign, fields, self.sms_max_segments)
        assert spec.template is not None
        assert spec.version is not None
        unsubscribe = None
        if (self.links is not None and person is not None and row.channel == "email"
                and campaign.classification in MARKETING):
            unsubscribe = self.links.url(campaign.workspace_id, row.id, person.id, campaign.classification)
        data: dict[str, Any] = {"row": fields, "campaign": {"id": campaign.id, "name": campaign.name}}
        if person is not None:
            data["contact"] = contacts.variables(person)  # type: ignore[arg-type]
        message: dict[str, Any] = {"id": row.id, "channel": row.channel, "to": row.to_address,
                                   "unsubscribe_url": unsubscribe}
        if self.links is not None and person is not None and templates.uses_links(spec.version):
            message["links"] = self.links.dynamic(campaign.workspace_id, row.id, person.id)
        rendered = templates.render_version(
            self.renderer, spec.template, spec.version, spec.workspace, data=data,
            locale=person.locale if person else None, overrides=None, sms_max_segments=self.sms_max_segments,
            message=message)
        if unsubscribe:
            return links.decorate_email(rendered.parts, unsubscribe)
        return dict(rendered.parts)

    # -- loading ------------------------------------------------------------------------------------------
    async def _spec(self, conn: AsyncConnection, campaign_id: str) -> Spec:
        cached = self._specs.get(campaign_id)
        clock = time.monotonic()
        if cached is not None:
            if clock - cached.loaded < STATE_TTL:
                return cached
            state = await conn.scalar(select(Campaign.state).where(Campaign.id == campaign_id))
            cached.campaign.state, cached.loaded = state or STOPPED, clock
            return cached
        async with AsyncSession(bind=conn, expire_on_commit=False) as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None:
                raise LookupError(f"campaign {campaign_id} vanished")
            workspace = await session.get(Workspace, campaign.workspace_id)
            assert workspace is not None
            template = version = None
            if campaign.template_id:
                template = await session.get(Template, campaign.template_id)
                assert template is not None
                version = await templates.version_of(session, template, campaign.template_version)
            session.expunge_all()
        spec = Spec(campaign, workspace, template, version, windows_of(campaign), clock)
        self._specs[campaign_id] = spec
        return spec

    async def _contacts(self, conn: AsyncConnection, ids: list[str]) -> dict[str, Row[Any]]:
        if not ids:
            return {}
        rows = await conn.execute(select(*_CONTACT_COLUMNS).where(Contact.id.in_(sorted(set(ids)))))
        return {r.id: r for r in rows}

    async def _fields(self, conn: AsyncConnection, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = await conn.execute(select(ListMember.id, ListMember.fields).where(ListMember.id.in_(sorted(set(ids)))))
        return {r[0]: r[1] or {} for r in rows}


def _needs_contact(spec: Spec) -> bool:
    return bool(spec.windows) or not spec.campaign.message_column


def windows_of(campaign: Campaign) -> tuple[window.Window, ...]:
    """The daily windows a campaign's message must be inside, in the recipient's local time."""
    found: list[window.Window] = []
    if campaign.send_window:
        w = campaign.send_window
        found.append(window.Window.parse(w["start"], w["end"], w.get("days")))
    if campaign.quiet_hours and campaign.channel == "sms" and campaign.classification in MARKETING:
        found.append(window.QUIET_HOURS)
    return tuple(found)


def _from_column(campaign: Campaign, fields: dict[str, Any], max_segments: int) -> dict[str, Any]:
    column = campaign.message_column or ""
    text = str(fields.get(column) or "").strip()
    if not text:
        raise errors.Invalid(f"the list's {column!r} column is empty for this contact", code="empty_message")
    if campaign.channel == "email":
        return {"subject": campaign.subject or "", "text": text}
    if len(text) > MAX_SMS_CHARS:
        raise errors.Invalid(f"the {column!r} text has {len(text)} characters; the limit is {MAX_SMS_CHARS}",
                             code="body_too_large")
    if segments.analyze(text, max_segments=max_segments).over_limit:
        raise errors.Invalid(f"the {column!r} text needs more than {max_segments} SMS segments",
                             code="too_many_segments")
    return {"body": text}

