"""Lookups remembered for one unit of work: a batch of timers or events that plans a hundred messages through
the same provider and template asks the database once, not a hundred times. Kept on the session, so it lives
exactly as long as the transaction's view of those rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def once(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    cache: dict[Hashable, Any] = session.info.setdefault("herald_memo", {})
    if key not in cache:
        cache[key] = await load()
    value: T = cache[key]
    return value
