"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from sqlalchemy import text

from herald import errors
from herald.db.session import reading
from herald.deps import StateDep

router = APIRouter(tags=["operations"])


@router.get("/health", summary="The process is alive")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="The process can reach its database")
async def ready(state: StateDep) -> dict[str, str]:
    try:
        async with reading(state.engine) as conn:  # on SQLite, never behind the write lock
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise errors.Unavailable(f"The database is not reachable: {type(exc).__name__}",
                                 code="database_unavailable") from exc
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    async with reading(state.engine) as conn:
        body = await state.metrics.scrape(conn, datetime.now(UTC))
        await conn.rollback()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
