"""One-click unsubscribe over the real app and both databases: GET asks and changes nothing; POST withdraws
that one purpose, once, audited with the caller's address; anything but a genuine link is a 404 page."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from herald import ids
from herald.auth import service as auth
from herald.auth.models import AuditLog
from herald.contacts.models import Contact
from herald.crypto import Keyring
from herald.db.session import unit_of_work
from herald.unsubscribe import links
from tests.conftest import Running

GRANTED = {"granted": True, "at": "2026-01-05T10:00:00+00:00", "source": "signup"}
MESSAGE_ID = "msg_01J00000000000000000000000"


async def _workspace(herald: Running, name: str) -> str:
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        ws = await auth.create_workspace(session, name=name, region="GB")
    return ws.id


async def _contact(herald: Running, workspace_id: str = "ws_default", **extra: Any) -> str:
    contact_id = ids.new_id("ct")
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        session.add(Contact(id=contact_id, workspace_id=workspace_id, email="jane@example.org",
                            consent={"direct_marketing": dict(GRANTED), "affiliate_marketing": dict(GRANTED)},
                            **extra))
    return contact_id


async def _state(herald: Running, contact_id: str) -> tuple[dict[str, Any], list[AuditLog]]:
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        contact = await session.get(Contact, contact_id)
        rows = (await session.scalars(select(AuditLog).where(AuditLog.target == contact_id))).all()
    return (contact.consent if contact else {}), list(rows)


def _token(herald: Running, contact_id: str, workspace_id: str = "ws_default",
           purpose: str = "direct_marketing", keyring: Keyring | None = None) -> str:
    return links.token_for(keyring or herald.app.state.herald.keyring, workspace_id=workspace_id,
                           message_id=MESSAGE_ID, contact_id=contact_id, purpose=purpose)


def _html(resp: httpx.Response, status: int = 200) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["referrer-policy"] == "no-referrer"
    return resp.text


async def test_get_asks_and_changes_nothing(herald: Running) -> None:
    ws = await _workspace(herald, "Acme & Sons")
    contact_id = await _contact(herald, ws)
    token = _token(herald, contact_id, ws)
    for _ in range(2):
        page = _html(await herald.client.get(f"/u/{token}"))
        assert "Unsubscribe from marketing emails from Acme &amp; Sons?" in page
        assert f'<form method="post" action="/u/{token}"' in page
    consent, audit = await _state(herald, contact_id)
    assert consent["direct_marketing"] == GRANTED
    assert audit == []


async def test_one_click_post_withdraws_that_purpose_only_once(herald: Running) -> None:
    contact_id = await _contact(herald)
    url = f"/u/{_token(herald, contact_id)}"
    # As mail providers send it (RFC 8058: multipart/form-data; many send urlencoded).
    first = await herald.client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert "You are unsubscribed" in _html(first)
    consent, audit = await _state(herald, contact_id)
    assert consent["direct_marketing"]["granted"] is False
    assert consent["direct_marketing"]["source"] == "unsubscribe"
    assert consent["affiliate_marketing"] == GRANTED
    assert [(a.action, a.actor, a.ip, a.detail) for a in audit] == [
        ("consent.withdrawn", "recipient", "127.0.0.1",
         {"purpose": "direct_marketing", "source": "unsubscribe", "message_id": MESSAGE_ID})]
    assert audit[0].workspace_id == "ws_default"

    for again in (await herald.client.post(url, data={"List-Unsubscribe": "One-Click"}),
                  await herald.client.post(url)):
        assert "You are unsubscribed" in _html(again)
    consent_after, audit_after = await _state(herald, contact_id)
    assert consent_after == consent
    assert [a.id for a in audit_after] == [audit[0].id]
    assert "already unsubscribed" in _html(await herald.client.get(url))

    affiliate = await herald.client.post(f"/u/{_token(herald, contact_id, purpose='affiliate_marketing')}")
    assert "offers from our partners" in _html(affiliate)
    consent, audit = await _state(herald, contact_id)
    assert consent["affiliate_marketing"]["granted"] is False
    assert len(audit) == 2


def _splice(mine: str, theirs: str) -> str:
    def raw(t: str) -> bytes:
        return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))

    spliced = raw(mine)[:-links.MAC_BYTES] + raw(theirs)[-links.MAC_BYTES:]
    return base64.urlsafe_b64encode(spliced).decode().rstrip("=")


async def test_anything_but_a_genuine_link_is_a_404_page(herald: Running) -> None:
    other_ws = await _workspace(herald, "Other")
    contact_id = await _contact(herald)
    token = _token(herald, contact_id)
    flipped = token[:10] + ("B" if token[10] == "A" else "A") + token[11:]
    bad = [flipped, token[:-1], token[:-8], token + "A",
           _splice(token, _token(herald, contact_id, other_ws)),
           _token(herald, contact_id, keyring=Keyring("another-installation-0123456789")), "x", "a" * 600]
    for candidate in bad:
        for method in ("GET", "POST"):
            resp = await herald.client.request(method, f"/u/{candidate}", data={"List-Unsubscribe": "One-Click"})
            assert "This link does not work" in _html(resp, 404), (method, candidate)
    consent, audit = await _state(herald, contact_id)
    assert consent["direct_marketing"] == GRANTED
    assert audit == []


async def test_erased_deleted_or_foreign_contacts_answer_200_and_change_nothing(herald: Running) -> None:
    other_ws = await _workspace(herald, "Other")
    erased = await _contact(herald, erased_at=datetime.now(UTC))
    foreign = await _contact(herald, other_ws)
    for contact_id, ws in ((erased, "ws_default"), (foreign, "ws_default"), ("ct_gone", "ws_default")):
        resp = await herald.client.post(f"/u/{_token(herald, contact_id, ws)}")
        assert "You are unsubscribed" in _html(resp)
    for contact_id in (erased, foreign):
        consent, audit = await _state(herald, contact_id)
        assert consent["direct_marketing"] == GRANTED
        assert audit == []
    gone_workspace = await herald.client.post(f"/u/{_token(herald, foreign, 'ws_gone')}")
    _html(gone_workspace, 404)


async def test_old_links_keep_working_after_key_rotation(herald: Running) -> None:
    contact_id = await _contact(herald)
    old = Keyring("old-master-key-0123456789")
    herald.app.state.herald.keyring = Keyring("new-master-key-0123456789", ["old-master-key-0123456789"])
    assert "Unsubscribe from" in _html(await herald.client.get(f"/u/{_token(herald, contact_id, keyring=old)}"))
    stranger = Keyring("unrelated-master-key-0123456789")
    _html(await herald.client.post(f"/u/{_token(herald, contact_id, keyring=stranger)}"), 404)
    _html(await herald.client.post(f"/u/{_token(herald, contact_id, keyring=old)}"))
    consent, audit = await _state(herald, contact_id)
    assert consent["direct_marketing"]["granted"] is False
    assert len(audit) == 1
