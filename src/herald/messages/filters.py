"""Which messages a list or an export shows: the interactions view's filter, read from query parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from herald import addresses, errors, pagination
from herald.auth.models import Workspace
from herald.channels.base import CHANNELS, SYSTEM_CHANNELS
from herald.deps import CallerDep, SessionDep
from herald.messages.models import STATES, Message
from herald.messages.schemas import CLASSIFICATIONS


@dataclass(frozen=True, slots=True)
class Filter:
    """Every part is optional; the parts given must all hold."""

    states: tuple[str, ...] = ()
    channel: str | None = None
    classification: str | None = None
    source: str | None = None
    """``api``, ``campaign``, ``trigger``, ``keyword``…"""
    source_id: str | None = None
    """The campaign or trigger."""
    contact_id: str | None = None
    to: str | None = None
    """An address as stored (E.164 phone, lower-case email)."""
    created_after: datetime | None = None
    created_before: datetime | None = None

    def where(self, workspace_id: str) -> list[ColumnElement[bool]]:
        out = [Message.workspace_id == workspace_id]
        if self.states:
            out.append(Message.state.in_(self.states))
        for column, value in ((Message.channel, self.channel), (Message.classification, self.classification),
                              (Message.source, self.source), (Message.source_id, self.source_id),
                              (Message.contact_id, self.contact_id), (Message.to_address, self.to)):
            if value:
                out.append(column == value)
        if self.created_after:
            out.append(Message.created_at >= pagination.aware(self.created_after, "created_after"))
        if self.created_before:
            out.append(Message.created_at < pagination.aware(self.created_before, "created_before"))
        return out

    def given(self) -> dict[str, Any]:
        """The parts set, JSON-ready (for the audit log)."""
        return {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items() if v}


async def from_query(
    session: SessionDep,
    caller: CallerDep,
    state: Annotated[str | None, Query(max_length=200, description="Comma-separated states")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    classification: Annotated[str | None, Query(max_length=40)] = None,
    source: Annotated[str | None, Query(max_length=20, description="api, campaign, trigger, keyword…")] = None,
    source_id: Annotated[str | None, Query(max_length=64, description="A campaign or trigger id")] = None,
    contact_id: Annotated[str | None, Query(max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=320, description="A phone number or email address")] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
) -> Filter:
    """The filter of an API request's query parameters (a FastAPI dependency)."""
    return await build(session, caller.workspace_id, state=state, channel=channel, classification=classification,
                       source=source, source_id=source_id, contact_id=contact_id, to=to,
                       created_after=created_after, created_before=created_before)


async def build(session: AsyncSession, workspace_id: str, *, state: str | None = None, channel: str | None = None,
                classification: str | None = None, source: str | None = None, source_id: str | None = None,
                contact_id: str | None = None, to: str | None = None, created_after: datetime | None = None,
                created_before: datetime | None = None) -> Filter:
    """A checked filter (the API's and the console's): an unknown state, channel or classification, or an
    address that is none, is refused with its field."""
    states = tuple(s.strip() for s in state.split(",") if s.strip()) if state else ()
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise errors.Invalid(f"Unknown state(s): {', '.join(unknown)}.", code="unknown_state", field="state")
    if channel and channel not in CHANNELS:
        raise errors.Invalid(f"Unknown channel {channel!r}; use one of {', '.join(CHANNELS)}.",
                             code="unknown_channel", field="channel")
    if classification and classification not in CLASSIFICATIONS:
        raise errors.Invalid(f"Unknown classification {classification!r}; use one of "
                             f"{', '.join(CLASSIFICATIONS)}.", code="unknown_classification", field="classification")
    return Filter(states=states, channel=channel or None, classification=classification or None,
                  source=source or None, source_id=source_id or None, contact_id=contact_id or None,
                  to=await _address(session, workspace_id, to, channel), created_after=created_after,
                  created_before=created_before)


async def _address(session: AsyncSession, workspace_id: str, raw: str | None, channel: str | None) -> str | None:
    """The address as messages store it: a phone number in E.164 (read against the workspace's region when
    it has no country code), an email lower-cased, a queue's or webhook's recipient as given."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if channel in SYSTEM_CHANNELS:
        return raw
    if "@" in raw:
        return addresses.email(raw).lower()
    region = "US"
    if not raw.startswith("+"):
        workspace = await session.get(Workspace, workspace_id)
        region = workspace.default_region if workspace is not None else region
    return addresses.phone_e164(raw, region)
