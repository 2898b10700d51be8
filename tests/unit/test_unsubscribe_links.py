"""Unsubscribe links: tokens round-trip and refuse any change; emails get the RFC 8058 headers and a footer."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest

from herald import errors
from herald.channels.email.mime import build_message
from herald.crypto import Keyring
from herald.unsubscribe import links

KEYRING = Keyring("unit-test-master-key-0123456789")
URL = "https://herald.example.com/u/TOKEN-abc_123"


def token(keyring: Keyring = KEYRING, **overrides: str | None) -> str:
    fields: dict[str, str | None] = {"workspace_id": "ws_a", "message_id": "msg_01J0000000000000000000000",
                                     "contact_id": "ct_01J0000000000000000000000", "purpose": "direct_marketing"}
    fields.update(overrides)
    return links.token_for(keyring, workspace_id=fields["workspace_id"] or "", message_id=fields["message_id"],
                           contact_id=fields["contact_id"] or "", purpose=fields["purpose"] or "")


def _raw(tok: str) -> bytes:
    return base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_round_trip_compact_and_url_safe() -> None:
    tok = token()
    assert links.verify(KEYRING, tok) == links.Claims("ws_a", "msg_01J0000000000000000000000",
                                                      "ct_01J0000000000000000000000", "direct_marketing")
    assert len(tok) < 200
    assert set(tok) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert links.verify(KEYRING, token(message_id=None, purpose="affiliate_marketing")).message_id is None
    assert links.url_for("https://h.example/", tok) == f"https://h.example/u/{tok}"


def test_an_opt_in_token_says_so_and_differs_from_the_opt_out_one() -> None:
    opt_in = links.token_for(KEYRING, workspace_id="ws_a", message_id=None, contact_id="ct_1",
                             purpose="affiliate_marketing", grant=True)
    opt_out = links.token_for(KEYRING, workspace_id="ws_a", message_id=None, contact_id="ct_1",
                              purpose="affiliate_marketing")
    assert opt_in != opt_out
    assert links.verify(KEYRING, opt_in) == links.Claims("ws_a", None, "ct_1", "affiliate_marketing", grant=True)
    assert links.verify(KEYRING, opt_out).grant is False


def test_only_optional_purposes_get_links() -> None:
    with pytest.raises(errors.Invalid):
        token(purpose="transactional")


def _refused(tok: str, keyring: Keyring = KEYRING) -> None:
    with pytest.raises(errors.NotFound) as caught:
        links.verify(keyring, tok)
    assert caught.value.code == "invalid_unsubscribe_link"


def test_every_one_character_change_is_refused() -> None:
    tok = token()
    for i, ch in enumerate(tok):
        _refused(tok[:i] + ("B" if ch == "A" else "A") + tok[i + 1:])


def test_truncated_padded_garbage_and_foreign_tokens_are_refused() -> None:
    tok = token()
    for bad in (tok[:-1], tok[:-4], tok[: len(tok) // 2], tok + "A", tok + "=", tok + "==", " " + tok, tok + ".",
                "", "A", "!!!!", "x" * 600):
        _refused(bad)
    _refused(token(Keyring("another-installation-key-0123")))
    # Another workspace's signature on this payload.
    mine, theirs = _raw(tok), _raw(token(workspace_id="ws_b"))
    _refused(_enc(mine[:-links.MAC_BYTES] + theirs[-links.MAC_BYTES:]))
    # A payload that is signed but is not ours in shape.
    payload = b'[2,"ws_a","","ct_x","d"]'
    _refused(_enc(payload + links._mac(KEYRING.link_keys[0], payload)))


def test_old_keys_still_verify_after_rotation() -> None:
    old = Keyring("old-master-key-0123456789")
    rotated = Keyring("new-master-key-0123456789", ["old-master-key-0123456789"])
    assert links.verify(rotated, token(old)).workspace_id == "ws_a"
    assert links.verify(rotated, token(rotated)).workspace_id == "ws_a"
    _refused(token(rotated), old)


def test_decorate_adds_headers_and_footers_once() -> None:
    content = {"subject": "Sale", "html": "<html><body><p>Hi</p></body></html>", "text": "Hi",
               "headers": {"X-Campaign": "c1", "list-unsubscribe": "<mailto:old@example.com>"}}
    out = links.decorate_email(content, URL)
    assert out["headers"] == {"X-Campaign": "c1", "List-Unsubscribe": f"<{URL}>",
                              "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert out["html"].count(URL) == 1
    assert out["html"].endswith("Unsubscribe</a>.</p></body></html>")
    assert out["text"].count(URL) == 1
    assert content["html"] == "<html><body><p>Hi</p></body></html>"  # the input is not changed
    again = links.decorate_email(out, URL)
    assert again == out


def test_decorate_keeps_bodies_that_already_link_and_adds_no_missing_parts() -> None:
    content = {"subject": "Sale", "html": f'<p><a href="{URL}">stop these</a></p>', "text": f"Stop: {URL}"}
    out = links.decorate_email(content, URL)
    assert (out["html"], out["text"]) == (content["html"], content["text"])
    only_text = links.decorate_email({"subject": "s", "text": "Hi"}, URL)
    assert "html" not in only_text
    fragment = links.decorate_email({"html": "<p>Hi</p>"}, URL)["html"]
    assert fragment.startswith("<p>Hi</p><p")


def test_decorate_escapes_the_url_in_html() -> None:
    url = 'https://h.example/u/T?a=1&b="2"'
    html = links.decorate_email({"html": "<p>Hi</p>"}, url)["html"]
    assert 'href="https://h.example/u/T?a=1&amp;b=&quot;2&quot;"' in html
    assert url not in html
    assert links.decorate_email({"html": html}, url)["html"] == html  # escaped form counts as present


def test_decorate_refuses_urls_that_cannot_be_a_header() -> None:
    for bad in ("https://h.example/u/" + "a" * 1000, "https://h.example/u/a b", "https://h.example/u/a>",
                "https://h.example/u/é"):
        with pytest.raises(ValueError, match="unsubscribe URL"):
            links.decorate_email({"text": "Hi"}, bad)


def test_mime_builder_writes_both_headers_once() -> None:
    url = links.url_for("https://herald.example.com", token())
    out = links.decorate_email({"subject": "Sale", "html": "<p>Hi</p>", "text": "Hi"}, url)
    raw = build_message(message_id="01HV7Z3K9Q", domain="mail.example.com", from_email="news@example.com",
                        from_name="News", to="jane@example.org", subject=out["subject"], text=out["text"],
                        html=out["html"], headers=out["headers"])
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"\r\nList-Unsubscribe: ") == 1
    assert head.count(b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") == 1
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_all("List-Unsubscribe") == [f"<{url}>"]
    assert parsed.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
