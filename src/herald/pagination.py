"""Opaque cursors over time-sortable prefixed ids (the cursor is the last id a page returned), and the time
bounds list endpoints take."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from herald import errors


def encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode(cursor: str, prefix: str) -> str:
    """The id inside ``cursor``; refuses cursors this API did not give out for ids of ``prefix``."""
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception as exc:
        raise errors.Invalid("The cursor is not one this API gave out.", code="invalid_cursor",
                             field="cursor") from exc
    if not value.startswith(f"{prefix}_") or encode(value) != cursor:
        raise errors.Invalid("The cursor is not one this API gave out.", code="invalid_cursor", field="cursor")
    return value


async def newest_first(session: AsyncSession, query: Select[Any], id_column: InstrumentedAttribute[Any],
                       prefix: str, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of ``query``'s rows, newest first by their time-sortable id, and the cursor of the next page
    (None on the last)."""
    if cursor:
        query = query.where(id_column < decode(cursor, prefix))
    rows = list((await session.scalars(query.order_by(id_column.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode(str(getattr(rows[-1], id_column.key))) if more and rows else None


def after_row(cursor: str) -> int:
    """The row id inside a cursor over an integer-keyed table (list members, suppression entries)."""
    if not cursor.isdigit():
        raise errors.Invalid("The cursor is not one this API gave out.", code="invalid_cursor", field="cursor")
    return int(cursor)


def aware(value: datetime | None, field: str) -> datetime | None:
    """``value`` in UTC; a time without a zone is refused (it would be read in the server's zone)."""
    if value is not None and value.tzinfo is None:
        raise errors.Invalid(f"{field} needs a time zone (e.g. 2026-12-01T09:00:00Z).", code="timezone_required",
                             field=field)
    return value.astimezone(UTC) if value else None
