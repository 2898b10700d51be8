"""Consent per purpose on a contact, changed only here so that every change is audited the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors
from herald.auth.service import audit
from herald.contacts.models import Contact
from herald.pipeline.policy import OPTIONAL_PURPOSES, UNOPTABLE


def record(granted: bool, source: str, at: datetime | None = None) -> dict[str, Any]:
    return {"granted": granted, "at": (at or datetime.now(UTC)).isoformat(), "source": source}


def check_purpose(purpose: str) -> None:
    if purpose in UNOPTABLE:
        raise errors.Invalid(f"{purpose} messages cannot be opted out of, so they carry no consent.",
                             code="consent_not_optional", field=f"consent.{purpose}")
    if purpose not in OPTIONAL_PURPOSES:
        raise errors.Invalid(f"Unknown purpose {purpose!r}; use one of {', '.join(OPTIONAL_PURPOSES)}.",
                             code="unknown_purpose", field=f"consent.{purpose}")


def withdrawn(consent: dict[str, Any], purpose: str) -> bool:
    entry = consent.get(purpose)
    return isinstance(entry, dict) and entry.get("granted") is False


def granted(consent: dict[str, Any], purpose: str) -> bool:
    entry = consent.get(purpose)
    return isinstance(entry, dict) and entry.get("granted") is True


def merge_soft(current: dict[str, Any], stated: dict[str, bool | None], source: str) -> dict[str, Any]:
    """Consent stated by an upsert or an import: it may grant what was never stated and withdraw anything,
    but never re-grant what the contact withdrew (that takes :func:`change`, audited). Blank (None) changes
    nothing."""
    merged = dict(current)
    for purpose, granted in stated.items():
        if granted is None:
            continue
        entry = current.get(purpose)
        if entry and entry.get("granted") is granted:
            continue
        if granted and withdrawn(current, purpose):
            continue
        merged[purpose] = record(granted, source)
    return merged


def change(session: AsyncSession, contact: Contact, purpose: str, granted: bool, *, source: str, actor: str,
           ip: str | None = None, detail: dict[str, Any] | None = None) -> bool:
    """Set one purpose explicitly (a form, the unsubscribe link, a keyword, an operator); audited.
    Answers whether anything changed (repeating a withdrawal is a no-op, so one-click unsubscribe is
    idempotent)."""
    check_purpose(purpose)
    entry = (contact.consent or {}).get(purpose)
    if entry and entry.get("granted") is granted:
        return False
    contact.consent = {**(contact.consent or {}), purpose: record(granted, source)}
    contact.updated_at = datetime.now(UTC)
    audit(session, contact.workspace_id, actor, "consent.granted" if granted else "consent.withdrawn", contact.id,
          {"purpose": purpose, "source": source, **(detail or {})}, ip=ip)
    return True
