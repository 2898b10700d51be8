"""Opaque cursors over time-sortable prefixed ids (the cursor is the last id a page returned), and the time
bounds list endpoints take."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

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
