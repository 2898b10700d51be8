"""Turn an email envelope into the bytes both the SMTP and the file provider hand over."""

from __future__ import annotations

from datetime import datetime

from herald.channels.base import Envelope, PermanentError
from herald.channels.email.mime import build_message


def email_bytes(envelope: Envelope, *, domain: str, from_email: str, from_name: str | None,
                date: datetime | None = None) -> bytes:
    """The RFC 5322 message for ``envelope``; content that cannot make one is a permanent error."""
    content = envelope.content
    subject, text, html = content.get("subject") or "", content.get("text"), content.get("html")
    if not all(isinstance(v, str | None) for v in (subject, text, html)):
        raise PermanentError("email content parts must be strings", code="invalid_message")
    try:
        return build_message(message_id=envelope.message_id, domain=domain, from_email=from_email,
                             from_name=from_name, to=envelope.to, subject=subject, text=text, html=html,
                             headers=envelope.headers, date=date)
    except ValueError as exc:
        raise PermanentError(f"cannot build the message: {exc}", code="invalid_message") from None
