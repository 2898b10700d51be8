"""Opaque cursors over time-sortable prefixed ids: the cursor is the last id a page returned."""

from __future__ import annotations

import base64

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
    if not value.startswith(f"{prefix}_"):
        raise errors.Invalid("The cursor is not one this API gave out.", code="invalid_cursor", field="cursor")
    return value
