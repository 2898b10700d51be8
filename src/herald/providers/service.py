"""Provider configuration: validated against the kind's typed settings, secrets encrypted at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.service import audit
from herald.channels import registry
from herald.channels.base import ProviderSpec
from herald.crypto import Keyring
from herald.messages.models import CLAIMABLE, SENDING, Message
from herald.providers.models import Provider
from herald.providers.schemas import ProviderCreate, ProviderOut, ProviderUpdate


def _spec(kind: str) -> ProviderSpec:
    spec = registry.get(kind)
    if spec is None:
        raise errors.Invalid(f"Unknown provider kind {kind!r}; use one of {', '.join(sorted(registry.SPECS))}.",
                             code="unknown_kind", field="kind")
    return spec


def _split(spec: ProviderSpec, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate ``values`` against the kind's model; answer (plain settings, secrets)."""
    try:
        model = spec.settings_model.model_validate(values)
    except ValidationError as exc:
        errs = [{"field": "settings." + ".".join(str(p) for p in e["loc"]), "code": e["type"], "message": e["msg"]}
                for e in exc.errors()]
        raise errors.Invalid(f"Invalid {spec.kind} settings: {errs[0]['field']}: {errs[0]['message']}",
                             code="invalid_settings", errors=errs) from exc
    secret_names = spec.secret_field_names()
    plain = model.model_dump(mode="json", exclude=set(secret_names))
    secrets = {n: getattr(model, n).get_secret_value() for n in secret_names if getattr(model, n) is not None}
    return plain, secrets


def to_out(p: Provider, keyring: Keyring) -> ProviderOut:
    spec = registry.get(p.kind)
    stored = keyring.decrypt(p.secrets) if p.secrets else {}
    names = spec.secret_field_names() if spec else tuple(stored)
    return ProviderOut(id=p.id, name=p.name, kind=p.kind, channel=p.channel, settings=p.settings,
                       secrets={n: n in stored for n in names}, rate_limit=p.rate_limit, priority=p.priority,
                       enabled=p.enabled, created_at=p.created_at, updated_at=p.updated_at)


async def create(session: AsyncSession, keyring: Keyring, workspace_id: str, req: ProviderCreate, actor: str
                 ) -> Provider:
    spec = _spec(req.kind)
    channel = req.channel or (next(iter(spec.channels)) if len(spec.channels) == 1 else None)
    if channel is None:
        raise errors.Invalid(f"{spec.kind} serves several channels; say which with 'channel'.",
                             code="channel_required", field="channel")
    if channel not in spec.channels:
        raise errors.Invalid(f"{spec.kind} cannot send {channel}.", code="channel_not_supported", field="channel")
    plain, secrets = _split(spec, req.settings)
    provider = Provider(id=ids.new_id("prv"), workspace_id=workspace_id, name=req.name, channel=channel,
                        kind=spec.kind, settings=plain, secrets=keyring.encrypt(secrets) if secrets else None,
                        rate_limit=req.rate_limit, priority=req.priority, enabled=req.enabled)
    session.add(provider)
    await _flush_unique(session, req.name)
    audit(session, workspace_id, actor, "provider.created", provider.id, {"kind": spec.kind, "name": req.name})
    return provider


async def get(session: AsyncSession, workspace_id: str, provider_id: str) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None or provider.workspace_id != workspace_id:
        raise errors.NotFound(f"No provider {provider_id!r} in this workspace.", code="provider_not_found")
    return provider


async def update(session: AsyncSession, keyring: Keyring, provider: Provider, req: ProviderUpdate, actor: str
                 ) -> Provider:
    changed = req.model_dump(exclude_unset=True)
    if "settings" in changed and req.settings is not None:
        spec = _spec(provider.kind)
        current = {**provider.settings, **keyring.decrypt(provider.secrets)}
        plain, secrets = _split(spec, {**current, **req.settings})
        provider.settings = plain
        provider.secrets = keyring.encrypt(secrets) if secrets else None
    for name in ("name", "rate_limit", "priority", "enabled"):
        if name in changed:
            setattr(provider, name, changed[name])
    provider.updated_at = datetime.now(UTC)
    await _flush_unique(session, provider.name)
    audit(session, provider.workspace_id, actor, "provider.updated", provider.id,
          {"fields": sorted(changed), "secrets_changed": bool(req.settings) and bool(
              set(req.settings or {}) & set(_spec(provider.kind).secret_field_names()))})
    return provider


async def delete(session: AsyncSession, provider: Provider, actor: str) -> None:
    busy = await session.scalar(select(func.count()).select_from(Message).where(
        Message.provider_id == provider.id, Message.state.in_((*CLAIMABLE, SENDING))))
    if busy:
        raise errors.Conflict(f"{busy} message(s) are still waiting for this provider; disable it and let "
                              "them drain, or delete it later.", code="provider_in_use")
    audit(session, provider.workspace_id, actor, "provider.deleted", provider.id, {"name": provider.name})
    # The messages it sent keep their history but no longer name it (messages.provider_id has no foreign key).
    await session.execute(update_rows(Message).where(Message.provider_id == provider.id).values(provider_id=None))
    await session.delete(provider)


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise errors.Conflict(f"A provider named {name!r} exists already.", code="provider_name_taken",
                              field="name") from exc
