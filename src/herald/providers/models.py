"""A configured provider account of a workspace."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.auth.models import track_config
from herald.db.base import Base, TimestampMixin


class Provider(TimestampMixin, Base):
    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    """Fernet token of the secret settings (JSON); never returned by the API."""
    rate_limit: Mapped[float | None]
    """Messages per second this account may send (per worker process); None = unlimited."""
    priority: Mapped[int] = mapped_column(default=0)
    """The highest-priority enabled provider of a channel is the one a new message goes to."""
    enabled: Mapped[bool] = mapped_column(default=True)


track_config(Provider)  # messages planned for events reuse lookups of these (herald.triggers.config)
