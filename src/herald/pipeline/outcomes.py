"""What a delivery attempt turned into, and how outcomes are written: a batch per transaction, each row
fenced on its lease token so that a worker which lost its lease records nothing but the attempt itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.channels.base import SendResult
from herald.db import jsondoc
from herald.messages.models import (
    ATTEMPTS,
    CANCELLED,
    CONTENTS,
    DELIVERED,
    EVENTS,
    EXPIRED,
    FAILED,
    MESSAGES,
    QUEUED,
    RETRYING,
    SENDING,
    SENT,
    SKIPPED,
)
from herald.providers.runtime import LiveProvider
from herald.queue import claim as claims

_messages = MESSAGES
_events = EVENTS
_attempts = ATTEMPTS


@dataclass(slots=True)
class Outcome:
    id: str
    token: str
    state: str
    at: datetime
    due_at: datetime
    reason: str | None = None
    explanation: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    final_at: datetime | None = None
    attempt: dict[str, Any] | None = field(default=None)
    undo: int = 0
    """1 when the claim was not an attempt (a deferral): its count is given back."""
    content: dict[str, Any] | None = None
    """Content rendered at send time (campaigns), stored with the outcome: the row keeps what went out."""


def attempt(
    row: Row[Any], started: datetime, live: LiveProvider, outcome: str, code: str | None,
    error: str | None, provider_message_id: str | None = None,
) -> dict[str, Any]:
    return {
        "message_id": row.id, "number": row.attempts, "provider_id": live.id, "started_at": started,
        "ended_at": datetime.now(started.tzinfo), "outcome": outcome, "code": code,
        "error": error[:2000] if error else None, "provider_message_id": provider_message_id,
    }


def sent(row: Row[Any], token: str, started: datetime, live: LiveProvider, result: SendResult) -> Outcome:
    now = datetime.now(started.tzinfo)
    ref = f" ({result.provider_message_id})" if result.provider_message_id else ""
    state = DELIVERED if result.delivered else SENT
    verb = "Delivered" if result.delivered else "Accepted"
    said = f"{verb} by {live.kind}{ref}"
    if live.channel == "queue":  # the provider is a third-party system that pulls its entries
        said = f"Pending: available to the third-party system ({live.id}) until it pulls and acknowledges it"
    return Outcome(
        id=row.id, token=token, state=state, at=now, due_at=row.due_at,
        explanation=said, provider_message_id=result.provider_message_id,
        sent_at=now, delivered_at=now if result.delivered else None, final_at=now if result.delivered else None,
        attempt=attempt(row, started, live, "sent", result.code, None, result.provider_message_id),
    )


def failed(
    row: Row[Any], token: str, at: datetime, reason: str, why: str, *, attempt: dict[str, Any] | None
) -> Outcome:
    return Outcome(
        id=row.id, token=token, state=FAILED, at=at, due_at=row.due_at, reason=reason, explanation=why,
        final_at=at, attempt=attempt,
    )


def skipped(row: Row[Any], token: str, at: datetime, reason: str, why: str) -> Outcome:
    """Stopped just before sending by a rule that changed while it waited (an opt-out, a suppression)."""
    return Outcome(id=row.id, token=token, state=SKIPPED, at=at, due_at=row.due_at, reason=reason,
                   explanation=f"Not sent: {why}", final_at=at)


def deferred(row: Row[Any], token: str, at: datetime, due: datetime, why: str) -> Outcome:
    """Not now: back to the queue until ``due`` (a send window, quiet hours, a throttle, a paused campaign)."""
    return Outcome(id=row.id, token=token, state=QUEUED, at=at, due_at=due, reason=row.reason,
                   explanation=f"Deferred: {why}", undo=1)


def cancelled(row: Row[Any], token: str, at: datetime, reason: str, why: str) -> Outcome:
    return Outcome(id=row.id, token=token, state=CANCELLED, at=at, due_at=row.due_at, reason=reason,
                   explanation=f"Not sent: {why}", final_at=at, undo=1)


def expired(
    row: Row[Any], token: str, at: datetime, *, attempt: dict[str, Any] | None = None, why: str | None = None
) -> Outcome:
    text = f"Not sent: it expired at {row.expires_at.isoformat()}" if row.expires_at else "Expired"
    if why:
        text += f" before a retry was possible (last error: {why})"
    return Outcome(
        id=row.id, token=token, state=EXPIRED, at=at, due_at=row.due_at, reason="expired",
        explanation=text, final_at=at, attempt=attempt,
    )


def retrying(
    row: Row[Any], token: str, at: datetime, due: datetime, outcome: str, error: str,
    attempt: dict[str, Any],
) -> Outcome:
    return Outcome(
        id=row.id, token=token, state=RETRYING, at=at, due_at=due, reason=outcome,
        explanation=f"Attempt {row.attempts} failed ({error}); next attempt at {due.isoformat()}",
        attempt=attempt,
    )


_fenced_update = (
    update(_messages)
    .where(
        _messages.c.id == bindparam("b_id"),
        _messages.c.lease_token == bindparam("b_token"),
        _messages.c.state == SENDING,
    )
    .values(
        state=bindparam("b_state"),
        reason=bindparam("b_reason"),
        explanation=bindparam("b_explanation"),
        due_at=bindparam("b_due_at"),
        provider_message_id=func.coalesce(bindparam("b_pmid"), _messages.c.provider_message_id),
        sent_at=func.coalesce(bindparam("b_sent_at"), _messages.c.sent_at),
        delivered_at=bindparam("b_delivered_at"),
        final_at=bindparam("b_final_at"),
        updated_at=bindparam("b_at"),
        attempts=_messages.c.attempts - bindparam("b_undo"),
        lease_until=None,
    )
)


# The timeline entry is written only where the fenced update took effect: same id, token and new state.
_owned_event = insert(_events).from_select(
    ["message_id", "state", "at", "detail"],
    select(_messages.c.id, _messages.c.state, bindparam("e_at"), bindparam("e_detail")).where(
        _messages.c.id == bindparam("e_id"),
        _messages.c.lease_token == bindparam("e_token"),
        _messages.c.state == bindparam("e_state"),
    ),
)


async def write(conn: AsyncConnection, batch: list[Outcome]) -> None:
    """Record a batch of outcomes: on SQLite in the caller's transaction, on PostgreSQL in one statement,
    atomic on its own (the dispatcher runs it without a transaction). A worker that lost a lease changes
    nothing but the attempt row: the provider call did happen."""
    if conn.dialect.name == "postgresql":
        await _write_pg(conn, batch)
        return
    await conn.execute(
        _fenced_update,
        [
            {
                "b_id": o.id, "b_token": o.token, "b_state": o.state, "b_reason": o.reason,
                "b_explanation": o.explanation, "b_due_at": o.due_at, "b_pmid": o.provider_message_id,
                "b_sent_at": o.sent_at, "b_delivered_at": o.delivered_at, "b_final_at": o.final_at,
                "b_at": o.at, "b_undo": o.undo,
            }
            for o in batch
        ],
    )
    await conn.execute(
        _owned_event,
        [{"e_id": o.id, "e_token": o.token, "e_state": o.state, "e_at": o.at, "e_detail": o.explanation}
         for o in batch],
    )
    tries = [o.attempt for o in batch if o.attempt is not None]
    if tries:
        await conn.execute(insert(_attempts), tries)
    rendered = [{"message_id": o.id, "content": o.content} for o in batch if o.content is not None]
    if rendered:  # a worker that lost its lease may have rendered it too: the first content stays
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(CONTENTS).on_conflict_do_nothing(), rendered)


_ATTEMPT_COLUMNS = ("message_id", "number", "provider_id", "started_at", "ended_at", "outcome", "code", "error",
                    "provider_message_id")


@cache
def _pg_statement(dialect: Dialect) -> str:
    """The batch in one statement, each part's rows one JSON document: the fenced update, the timeline rows
    of the updates that took effect (its RETURNING), the attempts and the contents. Three or four pipelined
    executemany calls sent one prepared execution per row."""
    attempts = ", ".join(f'"{c}"' for c in _ATTEMPT_COLUMNS)
    return (
        "WITH b AS (SELECT * FROM json_to_recordset(%s::json) AS t(id varchar, token varchar, state varchar, "  # noqa: S608
        "reason varchar, explanation text, due_at timestamptz, pmid varchar, sent_at timestamptz, "
        "delivered_at timestamptz, final_at timestamptz, at timestamptz, undo integer)), "
        "u AS (UPDATE messages SET state = b.state, reason = b.reason, explanation = b.explanation, "
        "due_at = b.due_at, provider_message_id = coalesce(b.pmid, messages.provider_message_id), "
        "sent_at = coalesce(b.sent_at, messages.sent_at), delivered_at = b.delivered_at, final_at = b.final_at, "
        "updated_at = b.at, attempts = messages.attempts - b.undo, lease_until = NULL FROM b "
        f"WHERE messages.id = b.id AND messages.lease_token = b.token AND messages.state = '{SENDING}' "
        "RETURNING messages.id, messages.state, b.at, b.explanation), "
        f"a AS (INSERT INTO attempts ({attempts}) SELECT {attempts} "
        f"FROM {jsondoc.recordset(_attempts, _ATTEMPT_COLUMNS, dialect)}), "
        "c AS (INSERT INTO message_contents (message_id, content) SELECT message_id, content "
        f"FROM {jsondoc.recordset(CONTENTS, ('message_id', 'content'), dialect)} ON CONFLICT DO NOTHING) "
        "INSERT INTO message_events (message_id, state, at, detail) SELECT id, state, at, explanation FROM u")


async def _write_pg(conn: AsyncConnection, batch: list[Outcome]) -> None:
    """:func:`write` on PostgreSQL, in one round trip. A worker that lost its lease may have rendered the
    content too: the first content stays."""
    rows = [{"id": o.id, "token": o.token, "state": o.state, "reason": o.reason, "explanation": o.explanation,
             "due_at": o.due_at, "pmid": o.provider_message_id, "sent_at": o.sent_at,
             "delivered_at": o.delivered_at, "final_at": o.final_at, "at": o.at, "undo": o.undo} for o in batch]
    tries = [o.attempt for o in batch if o.attempt is not None]
    rendered = [{"message_id": o.id, "content": o.content} for o in batch if o.content is not None]
    await conn.exec_driver_sql(_pg_statement(conn.dialect),
                               (jsondoc.dumps(rows), jsondoc.dumps(tries), jsondoc.dumps(rendered)))


async def contents(conn: AsyncConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The content of each claimed message, in one query per batch."""
    rows = await conn.execute(select(CONTENTS.c.message_id, CONTENTS.c.content).where(CONTENTS.c.message_id.in_(ids)))
    return {r[0]: r[1] for r in rows}


async def recover_expired_leases(conn: AsyncConnection, now: datetime) -> list[str]:
    """Messages whose worker stopped answering go back to the queue, marked ambiguous: the provider may
    have accepted them before the crash, so the next attempt asks it before sending again."""
    detail = "The worker sending it stopped responding (lease expired); it will be checked and retried"
    ids = await claims.recover(
        conn, _messages, now=now, running_state=SENDING, back_to=RETRYING,
        extra_values={"reason": "ambiguous", "explanation": detail},
    )
    if ids:
        await conn.execute(
            insert(_events), [{"message_id": i, "state": RETRYING, "at": now, "detail": detail} for i in ids]
        )
    return ids
