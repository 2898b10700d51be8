"""Fast RFC 5322 / MIME assembly straight into bytes.

Building a stdlib ``EmailMessage`` per recipient caps near 500 messages/s/core; this writes the few headers
Herald needs by hand (~30,000 messages/s/core) and keeps the properties that matter:

* header injection is impossible: CR/LF in any header value, or a bad field name, raises ``ValueError``;
* non-ASCII header text becomes RFC 2047 ``=?utf-8?b?...?=`` encoded words, folded to 78 columns;
* a body part is ``7bit`` when it is ASCII with lines of at most 998 octets, base64 (76-column lines)
  otherwise; line endings are CRLF throughout;
* the multipart boundary is derived from the message id (the same message always gives the same bytes
  except ``Date``) and is checked against the ``7bit`` parts (base64 can never contain ``=_``).

A single ``7bit`` part that does not end with a line break gets one, as ``EmailMessage.set_content`` does;
multipart parts come back exactly. IDN domains are written as punycode; a non-ASCII local part is written
as UTF-8 (RFC 6532), which needs a server with SMTPUTF8.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from types import MappingProxyType

__all__ = ["RESERVED_HEADERS", "build_message", "format_address"]

MAX_LINE = 78
"""Soft limit for header lines (RFC 5322 2.1.1); encoded words are folded to stay within it."""
HARD_LINE = 998
"""Hard limit for any line, headers and 7bit bodies alike."""

RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
"""Headers :func:`build_message` writes itself; extra headers may not repeat them."""

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ":"
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_ID_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_ADDRESS = re.compile(r'[^\s<>()\[\],;:"\\@]+@[^\s<>()\[\],;:"\\@]+')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_EW_CHUNK = 42
"""UTF-8 bytes per encoded word: 56 base64 chars + 12 of ``=?utf-8?b?...?=`` = 68 columns."""


def _no_newline(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must not contain CR or LF")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _encoded_words(value: str, first_budget: int) -> str:
    """``value`` as folded ``=?utf-8?b?..?=`` words (the folding whitespace between them is not text).

    ``first_budget`` is the room left on the first line after ``Name: ``. A word never splits a UTF-8
    sequence, so each decodes on its own."""
    data = value.encode("utf-8")
    if not data:
        return "=?utf-8?b??="
    words: list[str] = []
    start, n = 0, len(data)
    # The first word must fit after the field name; if it cannot, the value starts on the next line.
    limit = min(_EW_CHUNK, (first_budget - 12) // 4 * 3)
    lead = ""
    if limit < 4:
        lead, limit = "\r\n ", _EW_CHUNK
    while start < n:
        end = min(start + limit, n)
        while end < n and (data[end] & 0xC0) == 0x80:  # back off to a character boundary
            end -= 1
        words.append(f"=?utf-8?b?{_b64(data[start:end])}?=")
        start, limit = end, _EW_CHUNK
    return lead + "\r\n ".join(words)


def _plain_ok(value: str) -> bool:
    """True when ``value`` survives as literal unstructured text (else it is written as encoded words)."""
    return (
        value.isascii()
        and not _CONTROL.search(value)
        and "=?" not in value
        and value == value.strip(" ")
        and "  " not in value
    )


def _unstructured(name: str, value: str) -> str:
    """One ``Name: value`` field (without the final CRLF) for free text such as Subject."""
    _no_newline(name, value)
    prefix = len(name) + 2
    if _plain_ok(value):
        if prefix + len(value) <= MAX_LINE:
            return f"{name}: {value}"
        # Fold before single spaces; unfolding (removing the CRLF) restores the text exactly.
        lines: list[str] = []
        room = MAX_LINE - prefix
        for word in value.split(" "):
            if lines and len(lines[-1]) + 1 + len(word) <= room:
                lines[-1] += " " + word
            else:
                lines.append(word)
                room = MAX_LINE - (prefix if len(lines) == 1 else 1)
        if len(lines[0]) <= MAX_LINE - prefix and all(len(x) < MAX_LINE for x in lines[1:]):
            return f"{name}: " + "\r\n ".join(lines)
    return f"{name}: {_encoded_words(value, MAX_LINE - prefix)}"


def _address(what: str, address: str) -> str:
    """Validate a bare ``local@domain``; an IDN domain is written in its ASCII (punycode) form."""
    _no_newline(what, address)
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"{what} is not a plain email address")
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{what} has an invalid domain") from exc
    return f"{local}@{domain}"


def format_address(address: str, name: str | None = None, *, what: str = "address") -> str:
    """``name <address>`` for a header: the name bare when it is a plain phrase, quoted when it has
    specials, one RFC 2047 encoded word when it is not printable ASCII (Python's parser, like many
    clients, would put a space between several encoded words of a display name). Whitespace in the name
    is normalised to single spaces."""
    addr = _address(what, address)
    if not name:
        return addr
    _no_newline(f"{what} display name", name)
    # Runs of whitespace are one space, as mail clients (and Python's parser) read a display name anyway.
    name = " ".join(name.split())
    if _CONTROL.search(name):  # parsers flag these as defects
        raise ValueError(f"{what} display name must not contain control characters")
    if not name:
        return addr
    if _ATOM_PHRASE.fullmatch(name) and "=?" not in name:
        phrase = name
    elif name.isascii() and "=?" not in name:
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = f"=?utf-8?b?{_b64(name.encode('utf-8'))}?="
    if len(phrase) + len(addr) + 20 > HARD_LINE:
        raise ValueError(f"{what} display name is too long")
    # Fold before the address when "From: name <address>" would pass 78 columns.
    return f"{phrase}\r\n <{addr}>" if len(phrase) + len(addr) + 13 > MAX_LINE else f"{phrase} <{addr}>"


def _extra_header(name: str, value: str) -> str:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by Herald and cannot be overridden")
    _no_newline(f"header {name}", value)
    if value.isascii() and not _CONTROL.search(value):
        if len(name) + 2 + len(value) <= HARD_LINE:
            return f"{name}: {value}"
        if _plain_ok(value):
            return _unstructured(name, value)
        raise ValueError(f"header {name!r} is too long")
    if _CONTROL.search(value):
        raise ValueError(f"header {name!r} contains control characters")
    return f"{name}: {_encoded_words(value, MAX_LINE - len(name) - 2)}"


def _body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, encoded body with CRLF line endings)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (
        text.isascii()
        and "\x00" not in text
        and (len(text) <= HARD_LINE or max(map(len, text.split("\n"))) <= HARD_LINE)
    ):
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    data = binascii.b2a_base64(text.replace("\n", "\r\n").encode("utf-8"), newline=False)
    return "base64", b"\r\n".join([data[i : i + 76] for i in range(0, len(data), 76)])


def _boundary(message_id: str, parts: list[tuple[str, bytes]]) -> bytes:
    """A boundary derived from the message id; ``=_`` cannot occur in base64, and 7bit parts are checked."""
    salt = 0
    while True:
        digest = hashlib.blake2b(f"{message_id}/{salt}".encode(), digest_size=12).hexdigest()
        boundary = f"=_herald_{digest}".encode("ascii")
        if not any(cte == "7bit" and boundary in body for cte, body in parts):
            return boundary
        salt += 1


def build_message(
    *,
    message_id: str,
    domain: str,
    from_email: str,
    from_name: str | None,
    to: str,
    subject: str,
    text: str | None,
    html: str | None,
    headers: Mapping[str, str] = _NO_HEADERS,
    date: datetime | None = None,
    reply_to: str | None = None,
) -> bytes:
    """The complete message as CRLF bytes, ready for SMTP ``DATA`` (before dot-stuffing).

    ``Message-ID`` is ``<message_id@domain>``, so a retry of the same message carries the same id and
    receiving systems can drop the duplicate. Raises ``ValueError`` on any unsafe header input."""
    if text is None and html is None:
        raise ValueError("an email needs a text or an html part")
    _no_newline("message id", message_id)
    _no_newline("domain", domain)
    if not _ID_PART.fullmatch(message_id) or not _ID_PART.fullmatch(domain):
        raise ValueError("message id and domain must be dot-atoms")

    lines = [
        "From: " + format_address(from_email, from_name, what="from address"),
        "To: " + _address("to address", to),
    ]
    if reply_to:
        lines.append("Reply-To: " + _address("reply-to address", reply_to))
    lines.append(_unstructured("Subject", subject))
    lines.append("Date: " + format_datetime(date or datetime.now(UTC)))
    lines.append(f"Message-ID: <{message_id}@{domain}>")
    if headers:
        lines.extend(_extra_header(k, v) for k, v in headers.items())
    lines.append("MIME-Version: 1.0")

    parts = [(sub, *_body(body)) for sub, body in (("plain", text), ("html", html)) if body is not None]
    if len(parts) == 1:
        subtype, cte, body = parts[0]
        lines.append(f'Content-Type: text/{subtype}; charset="utf-8"')
        lines.append(f"Content-Transfer-Encoding: {cte}")
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
        head = "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n"
        return head + body

    boundary = _boundary(f"{message_id}@{domain}", [(cte, body) for _, cte, body in parts])
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary.decode("ascii")}"')
    out = ["\r\n".join(lines).encode("utf-8"), b"\r\n\r\n"]
    for subtype, cte, body in parts:
        out.append(
            b'--%s\r\nContent-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: %s\r\n\r\n'
            % (boundary, subtype.encode("ascii"), cte.encode("ascii"))
        )
        out.append(body)
        out.append(b"\r\n")
    out.append(b"--%s--\r\n" % boundary)
    return b"".join(out)
