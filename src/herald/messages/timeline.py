"""A message's timeline rows (``message_events``), written together with the flush that writes the messages.

Added as ORM objects, each row cost a statement of its own on SQLite: its id is an autoincrement integer the
ORM must read back, and SQLite does not promise the order of a multi-row ``INSERT … RETURNING``, so
SQLAlchemy inserted them one at a time (a round trip, and a hop to aiosqlite's thread, per planned message).
Nothing reads those ids back. :func:`record` queues plain rows instead, and they go in with one executemany
right after the flush that inserts their messages (after it: each row refers to its message), in the order
they were recorded; a commit flushes what is still queued. A rollback drops them with everything else."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from herald.messages.models import MessageEvent

_PENDING = "herald.timeline.pending"
_TABLE = cast(Table, MessageEvent.__table__)


def record(session: AsyncSession | Session, message_id: str, state: str, at: datetime, detail: str | None) -> None:
    """Add a row to the message's timeline, written with the session's next flush or commit."""
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.append({"message_id": message_id, "state": state, "at": at, "detail": detail})


def _write(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.connection().execute(insert(_TABLE), rows)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        session.flush()  # the messages first (a flush with nothing to do writes nothing, nor these rows)
        _write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_PENDING, None)
