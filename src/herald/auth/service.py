"""Workspaces, API clients and console users."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth import passwords, scopes
from herald.auth.models import ApiClient, AuditLog, ConsoleUser, Workspace


@dataclass(frozen=True)
class IssuedClient:
    client: ApiClient
    secret: str
    """Shown once; only its hash is kept."""


def audit(session: AsyncSession, workspace_id: str, actor: str, action: str, target: str | None,
          detail: dict[str, Any] | None = None, *, ip: str | None = None) -> None:
    """Append to the audit log, in the caller's transaction: the record and the change commit together."""
    session.add(AuditLog(id=ids.new_id("aud"), workspace_id=workspace_id, actor=actor, action=action,
                         target=target, detail=detail or {}, ip=ip))


async def create_client(
    session: AsyncSession, workspace_id: str, *, name: str, actor: str, client_id: str | None = None,
    secret: str | None = None, scope_list: list[str] | None = None,
) -> IssuedClient:
    wanted = list(scope_list or scopes.ALL)
    unknown = sorted(set(wanted) - set(scopes.ALL))
    if unknown:
        raise errors.Invalid(f"unknown scopes: {', '.join(unknown)}", code="invalid_scope", field="scopes")
    cid = client_id or ids.new_id("cli")
    if await session.get(ApiClient, cid) is not None:
        raise errors.Conflict(f"client id {cid!r} already exists", code="client_exists", field="client_id")
    plain = secret or passwords.generate("hs_")
    client = ApiClient(id=cid, workspace_id=workspace_id, name=name, secret_hash=passwords.hash_secret(plain),
                       scopes=wanted, active=True)
    session.add(client)
    audit(session, workspace_id, actor, "client.created", cid, {"scopes": wanted})
    return IssuedClient(client, plain)


async def authenticate_client(session: AsyncSession, client_id: str, secret: str) -> ApiClient | None:
    client = await session.get(ApiClient, client_id)
    if client is None or not client.active:
        passwords.verify_secret(secret, _dummy_hash())  # same work either way: no timing oracle
        return None
    if not passwords.verify_secret(secret, client.secret_hash):
        return None
    client.last_used_at = datetime.now(UTC)
    return client


async def create_workspace(session: AsyncSession, *, name: str, region: str, workspace_id: str | None = None
                           ) -> Workspace:
    ws = Workspace(id=workspace_id or ids.new_id("ws"), name=name, default_region=region)
    session.add(ws)
    return ws


async def create_console_user(session: AsyncSession, workspace_id: str, *, email: str, password: str,
                              role: str = "admin") -> ConsoleUser:
    existing = await session.scalar(select(ConsoleUser).where(ConsoleUser.email == email.lower()))
    if existing is not None:
        raise errors.Conflict(f"a user with email {email!r} exists", code="user_exists", field="email")
    user = ConsoleUser(id=ids.new_id("usr"), workspace_id=workspace_id, email=email.lower(),
                       password_hash=passwords.hash_secret(password), role=role)
    session.add(user)
    return user


@functools.cache
def _dummy_hash() -> str:
    return passwords.hash_secret("not-a-real-secret")
