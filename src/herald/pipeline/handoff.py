"""Messages handed straight to this process's dispatcher by the transaction that plans them.

In ``herald serve`` (and in a worker firing journey timers) the process that plans a message is the one that
will send it. Without a handoff, the message is inserted ``queued``, the commit wakes the dispatcher, and the
dispatcher claims it back in a transaction of its own (an UPDATE with RETURNING, a read of its content, the
send-time policy check, a commit): a few milliseconds of latency on every alert, and on SQLite another turn
at the one write lock. With a handoff the planning transaction inserts the message already claimed --
``sending``, under a lease token of this process's dispatcher, as a claim would leave it -- and after the
commit the dispatcher sends it from the rows and content it was planned with.

Nothing else changes: the lease fences the outcome, and a process that dies after the commit loses the lease,
so recovery puts the message back and it is sent (after a check with the provider) by whoever claims it. The
send-time policy check is not repeated: it ran in the very transaction that planned the message.

Only what a rollback cannot take back is handed over: if any part of the transaction rolls back (a savepoint
of a timer retried on its own, say), the handoff is void and, just before the commit, the messages it took go
back to ``queued`` for an ordinary claim. So do the messages of a handoff committed after its dispatcher
stopped (a timer batch finishing during shutdown), when the worker shuts down: not after their lease."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from herald.messages.models import MESSAGES, QUEUED, SENDING
from herald.queue.notify import CHANNEL as QUEUE_CHANNEL

_KEY = "herald.handoff"


@dataclass(slots=True)
class Handoff:
    """Up to ``room`` messages a transaction may hand to the dispatcher that made this, under ``token``."""

    token: str
    room: int
    lease_seconds: float
    taken: list[dict[str, Any]] = field(default_factory=list)
    contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    left: int = 0
    """Queued messages it had no room for: they wait for an ordinary claim."""
    void: bool = False

    def rows(self) -> list[Any]:
        """The taken messages as the dispatcher reads claimed rows (attributes named as the columns)."""
        return [SimpleNamespace(**row) for row in self.taken]

    @property
    def complete(self) -> bool:
        """Every queued message went to the dispatcher: no need to wake it."""
        return not self.void and not self.left


def left_queued(handoff: Handoff | None) -> bool:
    """Whether a committed transaction left queued messages for an ordinary claim (it had no handoff, or the
    handoff did not take them all): then the dispatcher must be woken."""
    return handoff is None or not handoff.complete


def offer(session: Session, handoff: Handoff | None) -> None:
    """Let the messages this session plans be handed over (nothing happens for ``None``)."""
    if handoff is not None:
        session.info[_KEY] = handoff


def take(session: Session, messages: list[dict[str, Any]], contents: list[dict[str, Any]]) -> None:
    """Claim, in their rows before they are written, the queued messages that are due now, while there is
    room; called by :mod:`herald.messages.pending` for the rows it is about to insert."""
    handoff: Handoff | None = session.info.get(_KEY)
    if handoff is None:
        return
    now = datetime.now(UTC)
    content = {c["message_id"]: c["content"] for c in contents}
    for row in messages:
        if row["state"] != QUEUED:
            continue
        if not _can_take(handoff, row["state"], row["due_at"], now) or row["id"] not in content:
            handoff.left += 1
            continue
        row.update(_lease(handoff, now), attempts=row["attempts"] + 1)
        handoff.taken.append(row)
        handoff.contents[row["id"]] = content[row["id"]]


def take_created(session: Session, message: Any, content: dict[str, Any]) -> bool:
    """The same for one message made as an ORM object (``POST /v1/messages``), before its flush: it is
    inserted leased. Answers whether it was taken."""
    handoff: Handoff | None = session.info.get(_KEY)
    now = datetime.now(UTC)
    if handoff is None or not _can_take(handoff, message.state, message.due_at, now):
        return False
    for name, value in _lease(handoff, now).items():
        setattr(message, name, value)
    message.attempts += 1
    handoff.taken.append({attr.key: getattr(message, attr.key) for attr in message.__mapper__.column_attrs})
    handoff.contents[message.id] = content
    return True


def _can_take(handoff: Handoff, state: str, due_at: datetime, now: datetime) -> bool:
    return not handoff.void and len(handoff.taken) < handoff.room and state == QUEUED and due_at <= now


def _lease(handoff: Handoff, now: datetime) -> dict[str, Any]:
    """What a claim writes on a message (but its attempt count): leased to the handoff's dispatcher."""
    return {"state": SENDING, "lease_token": handoff.token,
            "lease_until": now + timedelta(seconds=handoff.lease_seconds), "updated_at": now}


def rolled_back(session: Session) -> None:
    """Part of the transaction rolled back: what was taken may not all be there at commit."""
    handoff: Handoff | None = session.info.get(_KEY)
    if handoff is not None:
        handoff.void = True


def is_void(session: Session) -> bool:
    """Whether the session's handoff is void: its commit must requeue what it took (:func:`release_if_void`)."""
    handoff: Handoff | None = session.info.get(_KEY)
    return handoff is not None and handoff.void


def release_if_void(session: Session) -> None:
    """Before the commit: a void handoff's surviving messages go back to the queue for an ordinary claim."""
    handoff: Handoff | None = session.info.get(_KEY)
    if handoff is None or not handoff.void or not handoff.taken:
        return
    requeue(session.connection(), [handoff.token])
    handoff.left += len(handoff.taken)
    handoff.taken.clear()


def requeue(conn: Connection, tokens: Sequence[str]) -> None:
    """Put the messages handed over under ``tokens`` that are still unsent back in the queue, as if never
    claimed, and announce them to other processes' workers."""
    c = MESSAGES.c
    conn.execute(update(MESSAGES).where(c.lease_token.in_(tokens), c.state == SENDING)
                 .values(state=QUEUED, lease_token=None, lease_until=None, attempts=c.attempts - 1))
    if conn.dialect.name == "postgresql":  # they were inserted leased, which notified no one (migration 0012)
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": QUEUE_CHANNEL})
