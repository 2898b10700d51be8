"""Declarative base: constraint naming (so Alembic batch migrations work on SQLite), UTC timestamps.

Foreign keys, and the columns marked *unchecked*. The tables that take a row per contact, membership, event,
journey run or message do not declare foreign keys to ``workspaces`` and ``contacts``. Herald never deletes
either (erasure clears a contact's data in place, :mod:`herald.contacts.privacy`), so such a key's ON DELETE
never ran; all it did was look up, and on PostgreSQL lock, the parent row for every new child row: about a
third of planning 200,000 campaign messages on PostgreSQL, and of its server's CPU per imported contact. The ids those
columns take are always read from the parent in the same transaction. Keys whose ON DELETE does work (a
list's members, a trigger's runs, a message's events and content) stay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases; SQLite stores them naive, so we normalise on the way in and
    re-attach UTC on the way out. Naive values are refused: a time without a zone is a bug."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        str: String(),
    }


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
