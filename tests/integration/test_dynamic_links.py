"""Seed 002's dynamic links: a template places ``message.links.opt_in`` / ``opt_out`` for direct and
affiliate marketing, each signed for its recipient; following an opt-in link asks, and its POST grants that
purpose (audited, source ``link``), after which marketing reaches the contact. Through the API and a campaign,
on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from herald.auth.models import AuditLog
from herald.unsubscribe import links
from tests.conftest import Running
from tests.integration.campaign_setup import act, campaign, make_list, person, until

BODY = ("Want our offers? {{ message.links.opt_in.direct_marketing }} "
        "No partner offers: {{ message.links.opt_out.affiliate_marketing }}")
URL = re.compile(r"http://testserver/u/[A-Za-z0-9_-]+")


async def setup(client: httpx.AsyncClient) -> str:
    resp = await client.post("/v1/templates", json={"name": "welcome", "channel": "email",
                                                    "variants": {"en": {"subject": "Welcome", "text": BODY}}})
    assert resp.status_code == 201, resp.text
    made = await client.post("/v1/contacts", json={"external_id": "c1", "email": "ann@example.com",
                                                   "consent": {"affiliate_marketing": True}})
    assert made.status_code in (200, 201), made.text
    return str(made.json()["id"])


async def sent_text(client: httpx.AsyncClient, **body: Any) -> tuple[dict[str, Any], str]:
    resp = await client.post("/v1/messages", json={"channel": "email", "template": "welcome",
                                                   "classification": "service", **body})
    assert resp.status_code in (202, 422), resp.text
    message = (await client.get(f"/v1/messages/{resp.json().get('id') or resp.json()['message_id']}")).json()
    return message, (message.get("content") or {}).get("text", "")


async def test_an_opt_in_link_asks_then_grants_and_marketing_then_goes(herald: Running) -> None:
    client = await herald.authed()
    contact_id = await setup(client)
    before = await client.post("/v1/messages", json={"channel": "email", "contact": {"id": contact_id},
                                                     "subject": "Sale", "text": "20% off",
                                                     "classification": "direct_marketing"})
    assert (before.json()["state"], before.json()["reason"]) == ("skipped", "no_consent")

    message, text = await sent_text(client, contact={"id": contact_id})
    opt_in, opt_out = URL.findall(text)
    claims = links.verify(herald.app.state.herald.keyring, opt_in.rsplit("/", 1)[1])
    assert (claims.contact_id, claims.purpose, claims.grant, claims.message_id) == (
        contact_id, "direct_marketing", True, message["id"])
    path = opt_in.removeprefix("http://testserver")
    page = await herald.client.get(path)
    assert page.status_code == 200
    assert "Receive marketing emails from" in page.text  # asks; a link preview changes nothing
    assert (await client.get(f"/v1/contacts/{contact_id}")).json()["consent"].get("direct_marketing") is None
    assert "You are subscribed" in (await herald.client.post(path)).text
    assert "You are subscribed" in (await herald.client.get(path)).text
    consent = (await client.get(f"/v1/contacts/{contact_id}")).json()["consent"]
    assert (consent["direct_marketing"]["granted"], consent["direct_marketing"]["source"]) == (True, "link")
    async with herald.app.state.herald.sessions() as session:
        audited = (await session.scalars(select(AuditLog.action).where(AuditLog.target == contact_id))).all()
    assert audited.count("consent.granted") == 1

    after = await client.post("/v1/messages", json={"channel": "email", "contact": {"id": contact_id},
                                                    "subject": "Sale", "text": "20% off",
                                                    "classification": "direct_marketing"})
    assert after.json()["state"] == "queued"
    assert "You are unsubscribed" in (await herald.client.post(opt_out.removeprefix("http://testserver"))).text
    consent = (await client.get(f"/v1/contacts/{contact_id}")).json()["consent"]
    assert consent["affiliate_marketing"]["granted"] is False


async def test_links_need_a_contact_and_a_tampered_one_is_refused(herald: Running) -> None:
    client = await herald.authed()
    await setup(client)
    message, _ = await sent_text(client, to="someone@example.com")  # no contact: nobody to sign for
    assert (message["state"], message["reason"]) == ("failed", "render_error")
    _, text = await sent_text(client, contact={"external_id": "c1"})
    path = URL.findall(text)[0].removeprefix("http://testserver")
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert (await herald.client.post(forged)).status_code == 404
    plain = await client.post("/v1/templates", json={"name": "plain", "channel": "email",
                                                     "variants": {"en": {"subject": "Hi", "text": "Hello"}}})
    assert plain.status_code == 201


async def test_a_campaign_signs_each_recipients_links(herald_with_worker: Running) -> None:
    client = await herald_with_worker.authed()
    await setup(client)
    lst = await make_list(client, "People", [person(i) for i in range(2)])
    made = await campaign(client, channel="email", lists=[lst["id"]], template="welcome", classification="service")
    dry = (await client.post(f"/v1/campaigns/{made['id']}/preview", json={"samples": 2})).json()
    assert [len(URL.findall(s["content"]["text"])) for s in dry["samples"]] == [2, 2]  # signed as a send would
    await act(client, made["id"], "start")
    await until(client, made["id"], lambda d: d["state"] == "completed")
    rows = (await client.get(f"/v1/campaigns/{made['id']}/recipients")).json()["data"]
    keyring = herald_with_worker.app.state.herald.keyring
    seen = set()
    for row in rows:
        text = (await client.get(f"/v1/messages/{row['message_id']}")).json()["content"]["text"]
        claims = links.verify(keyring, URL.findall(text)[0].rsplit("/", 1)[1])
        assert (claims.contact_id, claims.message_id, claims.grant) == (row["contact_id"], row["message_id"], True)
        seen.add(claims.contact_id)
    assert len(seen) == 2
