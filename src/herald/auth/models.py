"""Tenants and the credentials that act inside them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, ForeignKey, Index, String, UniqueConstraint, column, event, table, update
from sqlalchemy.orm import Mapped, mapped_column

from herald.db.base import Base, TimestampMixin, utcnow


class Workspace(TimestampMixin, Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    default_region: Mapped[str] = mapped_column(String(2), default="US")
    default_locale: Mapped[str] = mapped_column(String(35), default="en")
    """The last step of every template's locale fallback chain."""
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    """For dates in messages when the recipient's own time zone is unknown."""
    config_version: Mapped[int] = mapped_column(default=0, server_default="0")
    """Bumped by every change to the workspace's event types, triggers, providers or templates
    (:func:`track_config`): processes reuse what they read of those while it stays the same
    (``herald.triggers.config``)."""


_VERSIONS = table("workspaces", column("id"), column("config_version"))


def bump_config_version(connection: Connection, workspace_id: str) -> None:
    """Called inside the flush that changes a tracked row, so the bump commits with it."""
    connection.execute(update(_VERSIONS).where(_VERSIONS.c.id == workspace_id)
                       .values(config_version=_VERSIONS.c.config_version + 1))


def track_config(model: type[Any]) -> None:
    """Every insert, update or delete of a ``model`` row (it has ``workspace_id``) bumps its workspace's
    ``config_version``: mapper events, so no code path that changes one through the ORM can forget it."""

    def changed(_mapper: Any, connection: Connection, target: Any) -> None:
        bump_config_version(connection, target.workspace_id)

    for name in ("after_insert", "after_update", "after_delete"):
        event.listen(model, name, changed)


class ConsoleUser(TimestampMixin, Base):
    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="admin")


class ApiClient(TimestampMixin, Base):
    """An OAuth2 client (client credentials). ``id`` is the public client id; the secret is stored hashed."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]]
    active: Mapped[bool] = mapped_column(default=True)
    last_used_at: Mapped[datetime | None]


class AuditLog(Base):
    """Append-only record of sensitive changes: credentials, providers, consent, exports."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
