"""``Idempotency-Key`` for creating POSTs: a replay answers the first response; the same key with another
body is refused. The key row is written in the same transaction as what the request creates."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors
from herald.messages.models import IdempotencyKey

MAX_KEY = 255


def request_hash(path: str, body: Any) -> str:
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{path}\n{canon}".encode()).hexdigest()


@dataclass
class Reservation:
    row: IdempotencyKey | None
    replay: tuple[int, dict[str, Any]] | None = None

    def store(self, status: int, response: dict[str, Any]) -> None:
        if self.row is not None:
            self.row.status_code = status
            self.row.response = response


async def begin(session: AsyncSession, workspace_id: str, key: str | None, path: str, body: Any
                ) -> tuple[Reservation, JSONResponse | None]:
    """For a creating POST: the reservation to fill in, and the stored response when this is a replay."""
    reservation = await reserve(session, workspace_id, key, request_hash(path, body))
    if reservation.replay is None:
        return reservation, None
    status, stored = reservation.replay
    return reservation, JSONResponse(stored, status_code=status, headers={"Idempotent-Replayed": "true"})


async def reserve(session: AsyncSession, workspace_id: str, key: str | None, digest: str) -> Reservation:
    """Either the stored first response (replay) or a reservation to fill in with this request's response."""
    if key is None:
        return Reservation(None)
    if not key or len(key) > MAX_KEY:
        raise errors.Invalid(f"Idempotency-Key must be 1 to {MAX_KEY} characters.",
                             code="invalid_idempotency_key", field="Idempotency-Key")
    for _ in range(2):
        found = await session.get(IdempotencyKey, (workspace_id, key))
        if found is not None:
            if found.request_hash != digest:
                raise errors.Invalid(
                    "This Idempotency-Key was already used with a different request body.",
                    code="idempotency_key_reused", field="Idempotency-Key",
                )
            return Reservation(None, (found.status_code, found.response))
        row = IdempotencyKey(workspace_id=workspace_id, key=key, request_hash=digest, status_code=0, response={})
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:  # a concurrent request with the same key won: answer as it did
            await session.rollback()
            continue
        return Reservation(row)
    raise errors.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.",
                          code="idempotency_key_in_use", field="Idempotency-Key")
