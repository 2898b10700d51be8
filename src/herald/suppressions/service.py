"""Suppressions and DNC lists: add and lift entries (batched), and say whether and why an address is blocked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.service import audit
from herald.contacts import normalize
from herald.db.upsert import insert_ignore
from herald.pipeline import policy
from herald.suppressions.models import DNC, SCOPES, SOURCES, SUPPRESSION, DncList, Suppression

SUPPRESSIONS = cast(Table, Suppression.__table__)
WORKSPACE_LIST = "Suppression list"
ADDRESS_CHANNELS = ("sms", "email", "push")


@dataclass(frozen=True, slots=True)
class Address:
    channel: str
    key: str


def parse_address(raw: str, channel: str | None, region: str) -> Address:
    """The channel (inferred when absent: ``@`` means email, else a phone number) and the match key."""
    raw = raw.strip()
    channel = channel or ("email" if "@" in raw else "sms")
    if channel not in ADDRESS_CHANNELS:
        raise errors.Invalid(f"Unknown channel {channel!r}; use one of {', '.join(ADDRESS_CHANNELS)}.",
                             code="unknown_channel", field="channel")
    if channel == "sms":
        return Address("sms", normalize.phone(raw, region, for_sms=False))
    if channel == "email":
        return Address("email", normalize.address_key("email", normalize.email(raw)))
    if not raw or len(raw) > 320 or any(c.isspace() for c in raw):
        raise errors.Invalid("A device token is one word of at most 320 characters.", code="invalid_token_address",
                             field="address")
    return Address("push", raw)


async def workspace_list(session: AsyncSession, workspace_id: str) -> DncList:
    """The workspace's own suppression list, made on first use."""
    query = select(DncList).where(DncList.workspace_id == workspace_id, DncList.kind == SUPPRESSION)
    found = await session.scalar(query)
    if found is not None:
        return found
    made = DncList(id=ids.new_id("dnc"), workspace_id=workspace_id, name=WORKSPACE_LIST, kind=SUPPRESSION,
                   description="STOP keywords, bounces, complaints and manual blocks; checked on every send",
                   always=True)
    try:
        async with session.begin_nested():
            session.add(made)
    except IntegrityError:
        found = await session.scalar(query)
        if found is None:
            raise
        return found
    return made


async def get_list(session: AsyncSession, workspace_id: str, ref: str) -> DncList:
    found = await session.scalar(select(DncList).where(DncList.workspace_id == workspace_id, DncList.kind == DNC,
                                                       (DncList.id == ref) | (DncList.name == ref)))
    if found is None:
        raise errors.NotFound(f"No do-not-contact list {ref!r} in this workspace.", code="dnc_list_not_found")
    return found


async def add(session: AsyncSession, target: DncList, rows: Sequence[dict[str, Any]], *, source: str,
              actor: str | None) -> tuple[int, int]:
    """Add entries (``channel``, ``address`` key, ``scope``, ``reason``) to a list; answers (added, already
    present). An address already on the list keeps its first entry: the earliest opt-out is the one to prove."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    now = datetime.now(UTC)
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["scope"] not in SCOPES:
            raise errors.Invalid(f"Unknown scope {row['scope']!r}; use one of {', '.join(SCOPES)}.",
                                 code="unknown_scope", field="scope")
        unique.setdefault((row["channel"], row["address"]), row)
    present: set[tuple[str, str]] = set()
    pairs = list(unique)
    for start in range(0, len(pairs), 500):
        chunk = pairs[start:start + 500]
        query = select(Suppression.channel, Suppression.address).where(
            Suppression.list_id == target.id, tuple_(Suppression.channel, Suppression.address).in_(chunk))
        present.update((r[0], r[1]) for r in (await session.execute(query)).all())
    fresh = [{"workspace_id": target.workspace_id, "list_id": target.id, "channel": c, "address": a,
              "scope": unique[(c, a)]["scope"], "source": source, "reason": unique[(c, a)].get("reason"),
              "created_by": actor, "created_at": now} for (c, a) in pairs if (c, a) not in present]
    if fresh:
        try:
            async with session.begin_nested():
                await session.execute(insert(SUPPRESSIONS), fresh)
            added = len(fresh)
        except IntegrityError:  # a concurrent add of the same address: fall back to row by row
            added = await insert_ignore(session, SUPPRESSIONS, fresh)
    else:
        added = 0
    return added, len(rows) - added


async def lift(session: AsyncSession, target: DncList, address: Address, *, sources: Sequence[str] | None = None
               ) -> int:
    query = delete(Suppression).where(Suppression.list_id == target.id, Suppression.channel == address.channel,
                                      Suppression.address == address.key)
    if sources is not None:
        query = query.where(Suppression.source.in_(sources))
    result = await session.execute(query)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def check(session: AsyncSession, workspace_id: str, address: Address) -> tuple[list[policy.Entry], list[str]]:
    """Every entry on any list for this address, and the classifications it blocks on a plain send."""
    entries = [e for e in await policy.entries_for(session, [(workspace_id, address.key)])
               if e.channel == address.channel]
    blocked = [purpose for purpose in policy.PURPOSES if policy.suppression_block(
        policy.Subject(address.channel, address.key, purpose, dnc_lists=[e.list_id for e in entries]), entries)]
    return entries, blocked


async def counts(session: AsyncSession, list_ids: Sequence[str]) -> dict[str, int]:
    if not list_ids:
        return {}
    rows = await session.execute(select(Suppression.list_id, func.count()).where(Suppression.list_id.in_(list_ids))
                                 .group_by(Suppression.list_id))
    return {r[0]: int(r[1]) for r in rows.all()}


def audit_entries(session: AsyncSession, target: DncList, actor: str, action: str, detail: dict[str, Any],
                  ip: str | None) -> None:
    audit(session, target.workspace_id, actor, action, target.id, {"list": target.name, **detail}, ip=ip)
