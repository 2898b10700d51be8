"""The communication queue's pull protocol (seed 002): a third-party system -- a customer portal, an app's
inbox -- pulls the entries Herald made available to it and acknowledges what became of each.

An entry is a message of the ``queue`` channel in state ``sent`` (see :mod:`herald.channels.queue`). A pull
leases the system's next entries, highest priority first, then oldest: each is hidden from other pulls for
the visibility time, so two consumers of one system never get the same entry at once (``SKIP LOCKED`` on
PostgreSQL; SQLite serialises writers). An entry not acknowledged in that time is pulled again: delivery to
the system is at least once, and the entry's id is the same each time, so the system can recognise a repeat.

Acknowledgements move an entry forward only: ``sent`` (pending) -> ``completed`` | ``rejected`` |
``removed``, and ``completed`` -> ``removed`` (the customer deleted it from the inbox). The same state twice
is a no-op, so a retried acknowledgement is safe; any other move is refused per entry. An entry whose
``expires_at`` passed before it was pulled is ``expired`` instead, never handed out late."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors
from herald.messages import timeline
from herald.messages.models import (
    COMPLETED,
    CONTENTS,
    EXPIRED,
    MESSAGES,
    QUEUE_PENDING,
    REJECTED,
    REMOVED,
    SENT,
)
from herald.providers.models import Provider
from herald.queue.claim import new_token

ACK_STATES = (COMPLETED, REJECTED, REMOVED)
_NEXT = {SENT: frozenset(ACK_STATES), COMPLETED: frozenset({REMOVED})}
"""The moves an acknowledgement may make, by the entry's current state."""
_NOT_YET = frozenset({"queued", "retrying", "sending"})

_m = MESSAGES.c
ENTRY_COLUMNS = (_m.id, _m.to_address, _m.contact_id, _m.classification, _m.priority, _m.template_id,
                 _m.template_version, _m.locale, _m.metadata, _m.source, _m.source_id, _m.created_at, _m.sent_at,
                 _m.expires_at, _m.lease_until)


@dataclass(frozen=True, slots=True)
class Ack:
    id: str
    state: str
    detail: str | None = None


async def system(session: AsyncSession, workspace_id: str, ref: str) -> Provider:
    """The third-party system (a provider of the ``queue`` channel) named by id or name."""
    found = await session.scalar(select(Provider).where(Provider.workspace_id == workspace_id,
                                                        Provider.channel == "queue",
                                                        or_(Provider.id == ref, Provider.name == ref)))
    if found is None:
        raise errors.NotFound(f"No third-party system {ref!r} in this workspace (a provider of kind queue).",
                              code="queue_not_found")
    return found


def visibility(provider: Provider, asked: int | None) -> int:
    return asked if asked is not None else int((provider.settings or {}).get("visibility_seconds", 60))


async def pull(session: AsyncSession, provider: Provider, *, limit: int, visibility_seconds: int,
               now: datetime) -> list[dict[str, Any]]:
    """Lease up to ``limit`` of the system's pending entries for ``visibility_seconds``; answer them in order,
    each with its content."""
    await _expire(session, provider, now)
    due = pending(provider.id, now, limit)
    lease = {"lease_until": now + timedelta(seconds=visibility_seconds), "lease_token": new_token()}
    if session.get_bind().dialect.name == "postgresql":
        taken = due.with_for_update(skip_locked=True).cte("taken")
        stmt = update(MESSAGES).where(_m.id == taken.c.id)
    else:
        stmt = update(MESSAGES).where(_m.id.in_(due.scalar_subquery()))
    rows = (await session.execute(stmt.values(lease).returning(*ENTRY_COLUMNS))).all()
    if not rows:
        return []
    content = dict((await session.execute(select(CONTENTS.c.message_id, CONTENTS.c.content).where(
        CONTENTS.c.message_id.in_([r.id for r in rows])))).all())
    entries = [_entry(provider, r, content.get(r.id) or {}) for r in rows]
    entries.sort(key=lambda e: (-e["priority"], e["sent_at"], e["id"]))
    return entries


def pending(provider_id: str, now: datetime, limit: int) -> Select[tuple[str]]:
    """The ids of the system's next entries to hand out, in order; ``ix_messages_queue_pending`` serves it."""
    return (select(_m.id)
            .where(text(QUEUE_PENDING), _m.provider_id == provider_id,
                   or_(_m.lease_until.is_(None), _m.lease_until <= now))
            .order_by(_m.priority.desc(), _m.sent_at)
            .limit(limit))


async def _expire(session: AsyncSession, provider: Provider, now: datetime) -> None:
    """Entries whose time ran out while they waited are expired, never handed out late."""
    why = f"Expired: {provider.name} did not pull it before its expiry time"
    gone = (await session.execute(
        update(MESSAGES)
        .where(text(QUEUE_PENDING), _m.provider_id == provider.id, _m.expires_at <= now,
               or_(_m.lease_until.is_(None), _m.lease_until <= now))
        .values(state=EXPIRED, reason="expired", explanation=why, final_at=now, updated_at=now, lease_until=None,
                lease_token=None)
        .returning(_m.id))).scalars().all()
    for message_id in gone:
        timeline.record(session, message_id, EXPIRED, now, why)


def _entry(provider: Provider, row: Any, content: dict[str, Any]) -> dict[str, Any]:
    return {"id": row.id, "system": provider.id, "to": row.to_address, "contact_id": row.contact_id,
            "classification": row.classification, "priority": row.priority, "content": content.get("json"),
            "template_id": row.template_id, "template_version": row.template_version, "locale": row.locale,
            "metadata": row.metadata or {}, "source": row.source, "source_id": row.source_id,
            "created_at": row.created_at, "sent_at": row.sent_at, "expires_at": row.expires_at,
            "visible_again_at": row.lease_until}


_ACK = (update(MESSAGES).where(_m.id == bindparam("b_id"))
        .values(state=bindparam("b_state"), reason=bindparam("b_reason"), explanation=bindparam("b_explanation"),
                delivered_at=func.coalesce(_m.delivered_at, bindparam("b_delivered")),
                final_at=bindparam("b_final"), updated_at=bindparam("b_now"), lease_until=None, lease_token=None))


async def acknowledge(session: AsyncSession, provider: Provider, acks: list[Ack], now: datetime
                      ) -> list[dict[str, Any]]:
    """Apply each acknowledgement in order; answer one result per acknowledgement: ``updated``,
    ``unchanged`` (already in that state) or ``refused`` with a code."""
    query = select(_m.id, _m.state).where(_m.id.in_({a.id for a in acks}), _m.provider_id == provider.id,
                                          _m.channel == "queue")
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # a concurrent acknowledgement of the same entry waits, then sees this one
    state_of: dict[str, str] = dict((await session.execute(query)).all())
    results: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for ack in acks:
        current = state_of.get(ack.id)
        refusal = _refusal(provider, ack, current)
        if refusal is not None:
            results.append({"id": ack.id, "state": current, "outcome": "refused", **refusal})
            continue
        if current == ack.state:
            results.append({"id": ack.id, "state": current, "outcome": "unchanged"})
            continue
        explanation = _explain(provider, ack)
        changes.append({"b_id": ack.id, "b_state": ack.state, "b_reason": ack.state if ack.state == REJECTED else None,
                        "b_explanation": explanation, "b_delivered": now if ack.state != REJECTED else None,
                        "b_final": now if ack.state != COMPLETED else None, "b_now": now})
        timeline.record(session, ack.id, ack.state, now, explanation)
        state_of[ack.id] = ack.state
        results.append({"id": ack.id, "state": ack.state, "outcome": "updated"})
    if changes:
        await session.execute(_ACK, changes)
    return results


def _refusal(provider: Provider, ack: Ack, current: str | None) -> dict[str, str] | None:
    if current is None:
        return {"code": "entry_not_found", "detail": f"{provider.name} has no entry {ack.id!r}."}
    if current == ack.state or ack.state in _NEXT.get(current, ()):
        return None
    if current in _NOT_YET:
        return {"code": "entry_not_available",
                "detail": f"The entry is {current}: it has not been made available to {provider.name} yet."}
    return {"code": "invalid_transition", "detail": f"The entry is {current}; it cannot become {ack.state}."}


def _explain(provider: Provider, ack: Ack) -> str:
    said = f" ({ack.detail})" if ack.detail else ""
    if ack.state == COMPLETED:
        return f"Completed: {provider.name} delivered it to the recipient{said}"
    if ack.state == REMOVED:
        return f"Removed: deleted from the recipient's {provider.name} inbox or device{said}"
    return f"Rejected by {provider.name}: {ack.detail or 'no reason given'}"


async def stats(session: AsyncSession, provider: Provider, now: datetime) -> dict[str, Any]:
    """How the system's queue stands: pending, in flight (pulled, not yet acknowledged), and the outcomes."""
    mine = (_m.provider_id == provider.id, _m.channel == "queue")
    by_state: Counter[str] = Counter(dict((await session.execute(
        select(_m.state, func.count()).where(*mine).group_by(_m.state))).all()))
    in_flight, oldest = (await session.execute(
        select(func.count().filter(_m.lease_until > now),
               func.min(_m.sent_at).filter(or_(_m.lease_until.is_(None), _m.lease_until <= now)))
        .where(text(QUEUE_PENDING), _m.provider_id == provider.id))).one()
    return {"system": provider.id, "name": provider.name, "pending": by_state[SENT] - in_flight,
            "in_flight": in_flight, "waiting_to_be_made_available": sum(by_state[s] for s in _NOT_YET),
            "completed": by_state[COMPLETED], "rejected": by_state[REJECTED], "removed": by_state[REMOVED],
            "expired": by_state[EXPIRED], "oldest_pending_at": oldest}
