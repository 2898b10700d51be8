"""Live provider instances for a worker process: built from the provider rows, cached, rebuilt when the
row changes, closed when dropped. One instance per provider owns its connection pool."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.channels import registry
from herald.channels.base import Provider, ProviderContext
from herald.crypto import Keyring
from herald.db.session import reading
from herald.providers.models import Provider as ProviderRow
from herald.queue.ratelimit import TokenBucket

log = structlog.get_logger(__name__)


@dataclass
class LiveProvider:
    id: str
    kind: str
    channel: str
    enabled: bool
    updated_at: datetime
    instance: Provider | None
    bucket: TokenBucket | None
    error: str | None = None
    """Why the instance could not be built (bad settings, undecryptable secrets)."""


def settings_for(row: ProviderRow, keyring: Keyring) -> Any:
    """Validate the stored settings plus decrypted secrets against the kind's typed model."""
    spec = registry.get(row.kind)
    if spec is None:
        raise ValueError(f"unknown provider kind {row.kind!r}")
    return spec.settings_model.model_validate({**row.settings, **keyring.decrypt(row.secrets)})


class ProviderCache:
    def __init__(self, engine: AsyncEngine, keyring: Keyring, ctx: ProviderContext, ttl: float = 2.0) -> None:
        self._engine = engine
        self._keyring = keyring
        self._ctx = ctx
        self._ttl = ttl
        self._live: dict[str, LiveProvider] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._renewal: asyncio.Task[None] | None = None

    async def get(self, provider_id: str) -> LiveProvider | None:
        """The provider as last read. One older than ``ttl`` is answered as it is while a read of the rows
        goes on in the background: every send once waited for that read every ``ttl`` (and for a pooled
        connection to make it on, behind whatever held them all), a stall of every send in flight at once.
        A change to a provider still applies within ``ttl`` and one read; one not known yet is read now."""
        live = self._live.get(provider_id)
        if live is None:
            await self.refresh()
            return self._live.get(provider_id)
        if time.monotonic() - self._loaded_at > self._ttl and (self._renewal is None or self._renewal.done()):
            self._renewal = asyncio.create_task(self._renew(), name="providers.refresh")
        return live

    async def _renew(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the database away for a moment: keep what is known, read again in ``ttl``
            self._loaded_at = time.monotonic()
            log.warning("provider.refresh_failed", exc_info=True)

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at < 0.05:
                return
            # A reader: on SQLite a plain connection would begin IMMEDIATE and wait for the write lock (for
            # whatever a group commit or an outcome write holds it), and every send waits for this refresh.
            async with reading(self._engine) as conn:
                rows = (await conn.execute(select(ProviderRow))).all()
                await conn.rollback()
            seen = set()
            for row in rows:
                seen.add(row.id)
                current = self._live.get(row.id)
                if current and current.updated_at == row.updated_at:
                    continue
                if current and current.instance:
                    await current.instance.close()
                self._live[row.id] = self._build(row)  # type: ignore[arg-type]
            for gone in set(self._live) - seen:
                old = self._live.pop(gone)
                if old.instance:
                    await old.instance.close()
            self._loaded_at = time.monotonic()

    def _build(self, row: ProviderRow) -> LiveProvider:
        bucket = TokenBucket(row.rate_limit) if row.rate_limit else None
        live = LiveProvider(row.id, row.kind, row.channel, row.enabled, row.updated_at, None, bucket)
        try:
            spec = registry.get(row.kind)
            assert spec is not None, f"unknown provider kind {row.kind!r}"
            ctx = dataclasses.replace(self._ctx, provider_id=row.id)  # keeps the receipt/inbound hooks
            live.instance = spec.factory(settings_for(row, self._keyring), ctx)
        except Exception as exc:  # a broken configuration fails its messages, not the worker
            live.error = str(exc)
            log.warning("provider.unusable", provider_id=row.id, kind=row.kind, error=str(exc))
        return live

    async def close(self) -> None:
        if self._renewal is not None:
            await asyncio.gather(self._renewal, return_exceptions=True)
        for live in self._live.values():
            if live.instance:
                await live.instance.close()
        self._live.clear()
