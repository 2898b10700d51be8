"""A campaign's progress, counted from its message rows in one grouped query over an index: exact at the
moment of the read, so delivery receipts, retries and opt-outs show up without any counter to keep in step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.messages.models import (
    BOUNCED,
    CANCELLED,
    COMPLAINED,
    COMPLETED,
    DELIVERED,
    EXPIRED,
    FAILED,
    MESSAGES,
    QUEUED,
    REJECTED,
    REMOVED,
    RETRYING,
    SENDING,
    SENT,
    SKIPPED,
    UNDELIVERED,
)

_m = MESSAGES.c
_BY_STATE = select(_m.state, _m.reason, func.count()).group_by(_m.state, _m.reason)
# Which counter each message state adds to.
_COUNTER = {QUEUED: "queued", RETRYING: "queued", SENDING: "sending", SENT: "sent", DELIVERED: "delivered",
            UNDELIVERED: "undelivered", BOUNCED: "undelivered", COMPLAINED: "delivered", FAILED: "failed",
            EXPIRED: "failed", SKIPPED: "skipped", CANCELLED: "cancelled", COMPLETED: "delivered",
            REMOVED: "delivered", REJECTED: "undelivered"}
FIELDS = ("queued", "sending", "sent", "delivered", "failed", "skipped", "cancelled", "undelivered")
STATES_OF = {field: tuple(s for s, counter in _COUNTER.items() if counter == field) for field in FIELDS}
"""The message states each counter covers (the recipients filter uses the counters' names)."""
PROVIDER_FAILURES_EXCLUDE = frozenset({"render_error", "empty_message", "too_many_segments", "body_too_large"})


async def counts(db: AsyncSession | AsyncConnection, campaign_id: str, total: int) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIELDS, 0)
    skipped: dict[str, int] = {}
    failed: dict[str, int] = {}
    planned = 0
    for state, reason, n in (await db.execute(_BY_STATE.where(_m.source_id == campaign_id))).all():
        planned += n
        counter = _COUNTER.get(state, "queued")
        out[counter] += n
        if counter == "skipped":
            skipped[reason or "unknown"] = skipped.get(reason or "unknown", 0) + n
        elif counter == "failed":
            key = reason or state
            failed[key] = failed.get(key, 0) + n
    out.update(total=total, planned=planned, skipped_by_reason=skipped, failed_by_reason=failed)
    return out


def provider_failures(progress: dict[str, Any]) -> int:
    """Failures the provider caused (not this recipient's data): what the error-rate pause looks at."""
    return sum(n for reason, n in progress["failed_by_reason"].items() if reason not in PROVIDER_FAILURES_EXCLUDE)


def pending(progress: dict[str, Any]) -> int:
    return int(progress["queued"] + progress["sending"])


def finished_sends(progress: dict[str, Any]) -> int:
    return int(progress["sent"] + progress["delivered"] + progress["undelivered"] + provider_failures(progress))
