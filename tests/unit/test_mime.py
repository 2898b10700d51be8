"""MIME assembly: what the stdlib parser reads back must be what we were given, and no input can add a
header."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.channels.email.mime import build_message


def build(**overrides: object) -> bytes:
    kwargs: dict[str, object] = {
        "message_id": "01HV7Z3K9Q",
        "domain": "mail.example.com",
        "from_email": "news@example.com",
        "from_name": "Example News",
        "to": "jane@example.org",
        "subject": "Hello",
        "text": "Hi Jane",
        "html": "<p>Hi Jane</p>",
    }
    kwargs.update(overrides)
    raw: bytes = build_message(**kwargs)
    return raw


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def texts(msg: EmailMessage) -> dict[str, str]:
    """Part texts by subtype, line endings normalised to LF."""
    parts = list(msg.iter_parts()) if msg.is_multipart() else [msg]
    out = {}
    for part in parts:
        assert isinstance(part, EmailMessage)
        out[part.get_content_subtype()] = lf(part.get_content())
    return out


def assert_wire_safe(raw: bytes) -> None:
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
    # Header lines keep to 78 columns, except a display name: it is one encoded word whatever its length,
    # because Python (like several clients) puts a space between adjacent encoded words of a name.
    field = b""
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        field = field if line[:1] == b" " else line.split(b":", 1)[0]
        assert field == b"From" or len(line) <= 78, line


CASES = {
    "ascii": ("Your order has shipped", "Example News", "Hi Jane,\nit is on its way.", "<p>Hi</p>"),
    "accented": ("Votre commande a été expédiée", "Zoë Café", "Bonjour Zoë,\nà bientôt — ça va", "<p>é</p>"),
    "cjk": ("您的订单已发货,请注意查收" * 3, "山田 太郎", "你好世界\n第二行", "<p>日本語</p>"),
    "emoji": ("🎉 Party time 🥳 — don't miss it 👨‍👩‍👧‍👦", "Herald 🚀", "Hi 👋\nbye 👋", "<b>🎉</b>"),
    "long lines": ("x " * 60 + "end", "N", "word " * 500, "<td>" + "a" * 3000 + "</td>"),
    "lone dot": ("Dots", "N", "line one\n.\nline three\n.", "<p>\n.\n</p>"),
    "specials in name": ("Hi", 'Doe, "Jane" (J) \\ <x>', "t", None),
    "empty text": ("", None, "", None),
    "html only": ("Only html", "N", None, "<html><body>x</body></html>"),
    "fake encoded word": ("=?utf-8?q?not_decoded?=", "=?utf-8?b?eA==?=", "t", "h"),
    "crlf body": ("s", "N", "a\r\nb\rc\n", "<p>\r\n</p>"),
}


@pytest.mark.parametrize(("subject", "name", "text", "html"), list(CASES.values()), ids=list(CASES))
def test_round_trip(subject: str, name: str | None, text: str | None, html: str | None) -> None:
    raw = build(subject=subject, from_name=name, text=text, html=html)
    assert_wire_safe(raw)
    msg = parse(raw)
    assert not msg.defects
    assert msg["subject"] == subject
    assert msg["to"].addresses[0].addr_spec == "jane@example.org"
    sender = msg["from"].addresses[0]
    assert sender.addr_spec == "news@example.com"
    assert sender.display_name == (name or "")
    assert msg["message-id"] == "<01HV7Z3K9Q@mail.example.com>"
    assert msg["mime-version"] == "1.0"
    got = texts(msg)
    expected = {k: lf(v) for k, v in (("plain", text), ("html", html)) if v is not None}
    if len(expected) == 1:
        # A lone 7bit body gets a final line break, as EmailMessage.set_content gives it.
        ((key, value),) = expected.items()
        allowed = {value, value + "\n"} if value and not value.endswith("\n") else {value}
        assert got[key] in allowed
        assert msg.get_content_type() == f"text/{key}"
    else:
        assert got == expected
        assert msg.get_content_type() == "multipart/alternative"


def test_structure_and_encodings() -> None:
    raw = build(text="plain ascii", html="<p>café</p>", date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    msg = parse(raw)
    plain, html = msg.iter_parts()
    assert plain["content-transfer-encoding"] == "7bit"
    assert html["content-transfer-encoding"] == "base64"
    assert plain.get_content_charset() == "utf-8"
    assert msg["date"] == "Fri, 02 Jan 2026 03:04:05 +0000"
    assert raw.startswith(b"From: Example News <news@example.com>\r\nTo: jane@example.org\r\n")
    # base64 lines are 76 columns
    body = raw.split(b"base64\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


def test_long_line_forces_base64() -> None:
    msg = parse(build(text="a" * 999, html=None))
    assert msg["content-transfer-encoding"] == "base64"
    assert msg.get_content() == "a" * 999
    msg = parse(build(text="a" * 998, html=None))
    assert msg["content-transfer-encoding"] == "7bit"


def test_boundary_is_deterministic_and_avoids_the_body() -> None:
    first = build(date=datetime(2026, 1, 1, tzinfo=UTC))
    assert first == build(date=datetime(2026, 1, 1, tzinfo=UTC))
    boundary = parse(first).get_boundary()
    assert boundary is not None
    assert boundary.startswith("=_herald_")
    assert parse(build(message_id="other")).get_boundary() != boundary
    # A body that contains the would-be boundary gets another one.
    sneaky = f"--{boundary}\nnot a part\n--{boundary}--"
    msg = parse(build(text=sneaky, html="<p>x</p>"))
    assert msg.get_boundary() != boundary
    assert texts(msg) == {"plain": sneaky, "html": "<p>x</p>"}


def test_extra_headers_and_reply_to() -> None:
    raw = build(
        headers={"List-Unsubscribe": "<https://u.example/1>", "X-Campaign": "Été 2026"},
        reply_to="help@example.com",
    )
    msg = parse(raw)
    assert msg["list-unsubscribe"] == "<https://u.example/1>"
    assert msg["x-campaign"] == "Été 2026"
    assert msg["reply-to"].addresses[0].addr_spec == "help@example.com"
    assert b"\r\nList-Unsubscribe: <https://u.example/1>\r\n" in raw


def test_idn_domain_is_punycoded() -> None:
    msg = parse(build(to="jane@bücher.example"))
    assert msg["to"].addresses[0].addr_spec == "jane@xn--bcher-kva.example"


INJECTIONS = {
    "subject lf": {"subject": "Hi\nBcc: victim@example.com"},
    "subject cr": {"subject": "Hi\rBcc: victim@example.com"},
    "name crlf": {"from_name": "Eve\r\nBcc: victim@example.com"},
    "name control": {"from_name": "Eve\x00"},
    "to crlf": {"to": "a@example.com\r\nBcc: victim@example.com"},
    "to list": {"to": "a@example.com, victim@example.com"},
    "to angle": {"to": "<a@example.com>"},
    "from crlf": {"from_email": "a@example.com\nX: y"},
    "reply-to lf": {"reply_to": "a@example.com\nBcc: v@example.com"},
    "header value lf": {"headers": {"X-Tag": "a\nBcc: victim@example.com"}},
    "header value cr": {"headers": {"X-Tag": "a\rb"}},
    "header name colon": {"headers": {"X-Tag: x\r\nBcc": "v"}},
    "header name space": {"headers": {"X Tag": "v"}},
    "header name empty": {"headers": {"": "v"}},
    "header name non-ascii": {"headers": {"X-Tåg": "v"}},
    "reserved header": {"headers": {"bcc": "victim@example.com"}},
    "reserved content-type": {"headers": {"Content-Type": "text/html"}},
    "message id": {"message_id": "a\r\nBcc: v"},
    "message id angle": {"message_id": "a>b"},
    "domain": {"domain": "example.com\nBcc: v"},
    "no parts": {"text": None, "html": None},
}


@pytest.mark.parametrize("overrides", list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_unsafe_input_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every one of these is a ValueError
        build(**overrides)


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
_line = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=200)


@settings(max_examples=300, deadline=None)
@given(subject=_line, name=_line, text=_text, html=st.one_of(st.none(), _text))
def test_property_round_trip(subject: str, name: str, text: str, html: str | None) -> None:
    # Display names are read with whitespace runs as one space; control characters are refused.
    name = " ".join(name.split())
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        with pytest.raises(ValueError, match="control characters"):
            build(from_name=name)
        name = " ".join("".join(c for c in name if ord(c) >= 32 and c != "\x7f").split())
    raw = build(subject=subject, from_name=name or None, text=text, html=html)
    assert_wire_safe(raw)
    msg = parse(raw)
    assert msg["subject"] == subject
    assert msg["from"].addresses[0].display_name == name
    assert msg["from"].addresses[0].addr_spec == "news@example.com"
    got = texts(msg)
    if html is None:
        expected = lf(text)
        assert got["plain"] in (expected, expected + "\n")
    else:
        assert got == {"plain": lf(text), "html": lf(html)}
