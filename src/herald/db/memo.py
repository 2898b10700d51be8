"""Lookups remembered for one unit of work: a batch of timers or events that plans a hundred messages through
the same provider and template asks the database once, not a hundred times. Kept on the session, so it lives
exactly as long as the transaction's view of those rows.

A unit of work may also bring a longer-lived memory (:data:`SHARED` in ``session.info``): event ingestion
passes the one kept with its workspace's configuration version (``herald.triggers.config``), valid while no
provider, template, event type or trigger of the workspace changes. It holds detached copies of ORM rows, so
no session's later changes or expiry reach them."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


SHARED = "herald_shared_memo"
SHAREABLE = frozenset({"provider", "template", "template_version"})  # what the configuration version covers


async def once(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """``load()``'s answer, asked once per unit of work; ``key`` is a tuple whose first item names the kind."""
    shared: dict[Hashable, Any] | None = session.info.get(SHARED)
    if shared is not None and isinstance(key, tuple) and key and key[0] in SHAREABLE:
        if key not in shared:
            shared[key] = detached(await load())
        kept: T = shared[key]
        return kept
    cache: dict[Hashable, Any] = session.info.setdefault("herald_memo", {})
    if key not in cache:
        cache[key] = await load()
    value: T = cache[key]
    return value


def detached(value: T) -> T:
    """A transient copy of an ORM row (every column, JSON values copied); anything else as it is."""
    state = inspect(value, raiseerr=False)
    if state is None or not hasattr(state, "mapper"):
        return value
    mapper = state.mapper
    return mapper.class_(**{attr.key: copy.deepcopy(getattr(value, attr.key))  # type: ignore[no-any-return]
                            for attr in mapper.column_attrs})
