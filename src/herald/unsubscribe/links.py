"""Signed consent links -- unsubscribe, and the opt-in and opt-out "dynamic links" a template may place (seed
002) -- and the email decoration that carries the unsubscribe link (RFC 2369 / RFC 8058).

A token is ``base64url(payload || mac)``: the payload is a compact JSON array naming the workspace, message,
contact and purpose (a lower-case letter withdraws it, an upper-case one grants it); the mac is HMAC-SHA256 over
the payload, truncated to 128 bits, keyed by ``Keyring.link_keys``. Tokens never expire (links in old emails
must keep working), so rotation keeps old keys for verification. The signed token is the capability: whoever
holds it may withdraw (or, for an opt-in link, grant) that one purpose."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from html import escape
from typing import Any

from herald import errors
from herald.crypto import Keyring

VERSION = 1
MAC_BYTES = 16
MAX_TOKEN = 512
"""Longer input is refused before decoding; real tokens are about 170 characters."""
MAX_URL = 900
"""``List-Unsubscribe: <url>`` must stay on one header line (998 octets, RFC 5322): a URL cannot be folded."""
HEADER_LINKS = "List-Unsubscribe"
HEADER_POST = "List-Unsubscribe-Post"
ONE_CLICK = "List-Unsubscribe=One-Click"
_CODES = {"direct_marketing": "d", "affiliate_marketing": "a", "service": "s"}
"""The optional purposes (``pipeline.policy``), one letter each in a token."""
_PURPOSES = {code: purpose for purpose, code in _CODES.items()}
_GRANTS = {code.upper(): purpose for purpose, code in _CODES.items()}
DYNAMIC = ("direct_marketing", "affiliate_marketing")
"""The mailing lists a template's dynamic links opt in to and out of (seed 002: direct and affiliate)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified link names: the consent of ``purpose`` of this contact in this workspace."""

    workspace_id: str
    message_id: str | None
    contact_id: str
    purpose: str
    grant: bool = False
    """An opt-in link: following it grants the purpose instead of withdrawing it."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def token_for(keyring: Keyring, *, workspace_id: str, message_id: str | None, contact_id: str, purpose: str,
              grant: bool = False) -> str:
    """The URL-safe token for one recipient's link, signed with the current link key."""
    if purpose not in _CODES:
        raise errors.Invalid(f"{purpose!r} cannot be unsubscribed from.", code="consent_not_optional",
                             field="purpose")
    code = _CODES[purpose].upper() if grant else _CODES[purpose]
    payload = json.dumps([VERSION, workspace_id, message_id or "", contact_id, code],
                         separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _b64encode(payload + _mac(keyring.link_keys[0], payload))


def _invalid() -> errors.NotFound:
    return errors.NotFound("This unsubscribe link is not valid. Copy the whole link from the email.",
                           code="invalid_unsubscribe_link")


def verify(keyring: Keyring, token: str) -> Claims:
    """The claims of a genuine token; ``NotFound`` for anything tampered, truncated or signed by others."""
    if not token or len(token) > MAX_TOKEN:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _invalid() from None
    # Only the exact encoding we write: the decoder skips stray characters and ignores a last character's
    # spare bits, so two spellings could otherwise decode to the same bytes.
    if _b64encode(raw) != token or len(raw) <= MAC_BYTES:
        raise _invalid()
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    ok = False
    for key in keyring.link_keys:  # every key is tried: the time taken says nothing about which one matched
        ok |= hmac.compare_digest(_mac(key, payload), mac)
    if not ok:
        raise _invalid()
    try:
        fields: Any = json.loads(payload)
        version, workspace_id, message_id, contact_id, code = fields
    except (ValueError, TypeError):
        raise _invalid() from None
    if version != VERSION or (code not in _PURPOSES and code not in _GRANTS) or not all(
        isinstance(v, str) for v in (workspace_id, message_id, contact_id)
    ):
        raise _invalid()
    if code in _GRANTS:
        return Claims(workspace_id, message_id or None, contact_id, _GRANTS[code], grant=True)
    return Claims(workspace_id, message_id or None, contact_id, _PURPOSES[code])


def url_for(public_url: str, token: str) -> str:
    """The link a recipient clicks (and a mail provider POSTs to)."""
    return f"{public_url.rstrip('/')}/u/{token}"


def decorate_email(content: dict[str, Any], url: str) -> dict[str, Any]:
    """A copy of email ``content`` with the RFC 8058 headers, and a visible unsubscribe link in each body
    part that does not show the URL already. Existing headers are kept; ours replace any of the same name."""
    if len(url) > MAX_URL or not url.isascii() or any(c in url for c in "<> \r\n\t"):
        raise ValueError("the unsubscribe URL must be a short ASCII URL without spaces or angle brackets")
    headers = {k: v for k, v in (content.get("headers") or {}).items()
               if k.lower() not in (HEADER_LINKS.lower(), HEADER_POST.lower())}
    out = {**content, "headers": {**headers, HEADER_LINKS: f"<{url}>", HEADER_POST: ONE_CLICK}}
    html, text = content.get("html"), content.get("text")
    if isinstance(html, str) and url not in html and escape(url) not in html:
        footer = (f'<p style="font-size:12px;color:#667085">Don\'t want these emails? '
                  f'<a href="{escape(url)}">Unsubscribe</a>.</p>')
        at = html.lower().rfind("</body>")
        out["html"] = html[:at] + footer + html[at:] if at >= 0 else html + footer
    if isinstance(text, str) and url not in text:
        out["text"] = f"{text.rstrip()}\n\n--\nUnsubscribe: {url}\n"
    return out
