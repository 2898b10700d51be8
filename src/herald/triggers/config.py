"""A workspace's event types and triggers, read from the database once per change instead of once per event.

Every event needs both: its type (to check the payload against the schema) and every trigger of the workspace
(which ones it enters, resumes or exits). Reading them cost two queries and a Trigger object per trigger per
request. Each process now keeps them per database and workspace, tagged with the workspace's
``config_version``, which is read with the workspace on every request anyway and which every insert, update
or delete of an event type, trigger, provider or template bumps in the same transaction (mapper events, so
no code path can forget it). A request whose workspace shows another version reads them afresh.

The triggers kept are detached copies: they are never added to a session, and the engine only reads them.
The lookups of providers, templates and template versions that planning messages makes are kept with it
too (``Config.lookups``, used through ``herald.db.memo``).
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.models import Workspace
from herald.db import memo
from herald.events.models import EventType
from herald.events.payloads import Checker, checker
from herald.triggers.models import Trigger

LIMIT = 1000  # workspaces remembered per database


@dataclass(frozen=True, slots=True)
class Config:
    version: int
    types: dict[str, Checker | None]
    """Each event type's payload checker (None: the type has no schema, any object goes)."""
    triggers: tuple[Trigger, ...]
    lookups: dict[Hashable, Any] = field(default_factory=dict)
    """Providers, templates and template versions found while planning messages at this version
    (``herald.db.memo``); the version also changes with any provider or template."""


_KEPT: weakref.WeakKeyDictionary[Any, dict[str, Config]] = weakref.WeakKeyDictionary()


async def current(session: AsyncSession, workspace: Workspace) -> Config:
    """The workspace's event types and triggers as of ``workspace.config_version``."""
    bind = session.get_bind()
    kept = _KEPT.setdefault(getattr(bind, "engine", bind), {})
    found = kept.get(workspace.id)
    if found is not None and found.version == workspace.config_version:
        return found
    types = (await session.scalars(select(EventType).where(EventType.workspace_id == workspace.id))).all()
    triggers = (await session.scalars(select(Trigger).where(Trigger.workspace_id == workspace.id))).all()
    config = Config(workspace.config_version,
                    {t.name: checker(t.schema) if t.schema else None for t in types},
                    tuple(memo.detached(t) for t in triggers))
    if len(kept) >= LIMIT:
        kept.clear()
    kept[workspace.id] = config
    return config
