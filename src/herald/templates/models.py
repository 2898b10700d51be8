"""Templates and their versions. A version is immutable: an edit makes a new one, and every message keeps
the id and version it was rendered from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.auth.models import track_config
from herald.db.base import Base, TimestampMixin, utcnow


class Template(TimestampMixin, Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    current_version: Mapped[int] = mapped_column(default=1)
    archived: Mapped[bool] = mapped_column(default=False)


class TemplateVersion(Base):
    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int]
    default_locale: Mapped[str] = mapped_column(String(35))
    variants: Mapped[dict[str, Any]]
    """``{locale: parts}`` as prepared at save: MJML compiled, CSS inlined, the text part generated."""
    sources: Mapped[dict[str, Any]]
    """``{locale: parts}`` exactly as the author wrote them (MJML source included)."""
    sample_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


track_config(Template)  # messages planned for events reuse lookups of these (herald.triggers.config)
