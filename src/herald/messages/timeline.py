"""A message's timeline rows (``message_events``), written together with the flush that writes the messages.

Added as ORM objects, each row cost a statement of its own on SQLite: its id is an autoincrement integer the
ORM must read back, and SQLite does not promise the order of a multi-row ``INSERT … RETURNING``, so
SQLAlchemy inserted them one at a time (a round trip, and a hop to aiosqlite's thread, per planned message).
Nothing reads those ids back. :func:`record` queues plain rows instead (:mod:`herald.messages.pending`): they
go in with one executemany right after the flush that inserts their messages, in the order they were
recorded; a commit writes what is still queued, a rollback drops them with everything else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from herald.messages import pending
from herald.messages.models import EVENTS


def record(session: AsyncSession | Session, message_id: str, state: str, at: datetime, detail: str | None) -> None:
    """Add a row to the message's timeline, written with the session's next flush or commit."""
    pending.add(session, EVENTS, {"message_id": message_id, "state": state, "at": at, "detail": detail})
