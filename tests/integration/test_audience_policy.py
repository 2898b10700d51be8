"""Who may be contacted: consent by purpose, the suppression list, DNC lists, erasure and overrides, checked
when a message is planned and again just before it is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from herald.auth.models import AuditLog
from tests.conftest import Running, wait_for


async def contact(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/contacts", json=fields)
    assert resp.status_code in (200, 201), resp.text
    return dict(resp.json())


async def send(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    payload = {"channel": "sms", "body": "Hello from the bank"} | body
    resp = await client.post("/v1/messages", json=payload)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


async def test_each_blocked_recipient_is_skipped_with_its_reason_and_financial_still_goes(herald: Running) -> None:
    client = await herald.authed()
    on_dnc = await contact(client, external_id="c1", phone="+14155550101", consent={"direct_marketing": True})
    stopped = await contact(client, external_id="c2", phone="+14155550102", consent={"direct_marketing": True})
    no_consent = await contact(client, external_id="c3", phone="+14155550103")
    erased = await contact(client, external_id="c4", phone="+14155550104", consent={"direct_marketing": True})
    allowed = await contact(client, external_id="c5", phone="+14155550105", consent={"direct_marketing": True})

    dnc = (await client.post("/v1/dnc-lists", json={"name": "Collections"})).json()
    resp = await client.post(f"/v1/dnc-lists/{dnc['id']}/entries", json={"entries": [{"address": "+14155550101"}]})
    assert resp.json()["added"] == 1
    # A STOP keyword lands on the workspace suppression list with source "keyword" (issue 7 writes it so).
    async with herald.app.state.herald.sessions() as session, session.begin():
        from herald.suppressions import service as sup

        target = await sup.workspace_list(session, "ws_default")
        await sup.add(session, target, [{"channel": "sms", "address": "+14155550102", "scope": "all",
                                         "reason": "STOP"}], source="keyword", actor="inbound")
    assert (await client.post(f"/v1/contacts/{erased['id']}/erase")).status_code == 200

    outcomes = {}
    for who in (on_dnc, stopped, no_consent, erased, allowed):
        message = await send(client, contact={"id": who["id"]}, classification="direct_marketing")
        outcomes[who["id"]] = (message["state"], message["reason"])
    assert outcomes[on_dnc["id"]] == ("skipped", "dnc:Collections")
    assert outcomes[stopped["id"]] == ("skipped", "opted_out")
    assert outcomes[no_consent["id"]] == ("skipped", "no_consent")
    assert outcomes[erased["id"]] == ("skipped", "erased")
    assert outcomes[allowed["id"]] == ("queued", None)

    financial = await send(client, contact={"id": no_consent["id"]}, classification="financial")
    assert financial["state"] == "queued"
    # a DNC list of scope "all" stops even a financial alert; the explanation names the list
    blocked = await send(client, to="+14155550101", classification="financial")
    assert (blocked["state"], blocked["reason"]) == ("skipped", "dnc:Collections")
    assert 'dnc list "Collections"' in blocked["explanation"]


async def test_withdrawn_consent_and_marketing_scope_can_be_overridden_but_scope_all_cannot(herald: Running) -> None:
    client = await herald.authed()
    person = await contact(client, external_id="o1", phone="+14155550110", consent={"direct_marketing": True})
    resp = await client.put(f"/v1/contacts/{person['id']}/consent",
                            json={"purposes": {"direct_marketing": False}, "source": "call centre"})
    assert resp.status_code == 200
    assert resp.json()["consent"]["direct_marketing"]["granted"] is False
    plain = await send(client, contact={"id": person["id"]}, classification="direct_marketing")
    assert (plain["state"], plain["reason"]) == ("skipped", "opted_out")
    assert "call centre" in plain["explanation"]
    forced = await send(client, contact={"id": person["id"]}, classification="direct_marketing", override=True)
    assert forced["state"] == "queued"

    await client.post("/v1/suppressions", json={"entries": [{"address": "+14155550110", "scope": "all",
                                                             "reason": "fraud"}]})
    refused = await send(client, contact={"id": person["id"]}, classification="direct_marketing", override=True)
    assert (refused["state"], refused["reason"]) == ("skipped", "suppressed")

    async with herald.app.state.herald.sessions() as session:
        actions = list((await session.scalars(select(AuditLog.action).where(AuditLog.target == forced["id"]))).all())
    assert actions == ["message.override"]


async def test_marketing_to_a_raw_address_needs_a_contact_with_consent(herald: Running) -> None:
    client = await herald.authed()
    unknown = await send(client, to="+14155550120", classification="affiliate_marketing")
    assert (unknown["state"], unknown["reason"]) == ("skipped", "no_consent")
    await contact(client, external_id="r1", phone="+14155550120", consent={"affiliate_marketing": True})
    known = await send(client, to="+14155550120", classification="affiliate_marketing")
    assert known["state"] == "queued"
    assert known["contact_id"] is not None


async def test_optional_dnc_list_applies_only_when_selected(herald: Running) -> None:
    client = await herald.authed()
    lst = (await client.post("/v1/dnc-lists", json={"name": "Campaign exclusions", "always": False})).json()
    await client.post(f"/v1/dnc-lists/{lst['id']}/entries", json={"entries": [{"address": "+14155550130"}]})
    assert (await send(client, to="+14155550130"))["state"] == "queued"
    chosen = await send(client, to="+14155550130", dnc_lists=["Campaign exclusions"])
    assert (chosen["state"], chosen["reason"]) == ("skipped", "dnc:Campaign exclusions")
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550130", "body": "x",
                                                   "dnc_lists": ["No such list"]})
    assert resp.status_code == 422
    assert resp.json()["code"] == "dnc_list_not_found"


async def test_a_contact_without_the_channel_address_is_skipped_not_refused(herald: Running) -> None:
    client = await herald.authed()
    person = await contact(client, external_id="e1", email="only@example.com")
    message = await send(client, contact={"external_id": "e1"})
    assert (message["state"], message["reason"]) == ("skipped", "no_address")
    assert person["id"] == message["contact_id"]
    resp = await client.post("/v1/messages", json={"channel": "sms", "body": "x", "contact": {"external_id": "nope"}})
    assert resp.status_code == 404
    assert resp.json()["code"] == "contact_not_found"
    both = await client.post("/v1/messages", json={"channel": "sms", "body": "x", "to": "+14155550100",
                                                   "contact": {"id": person["id"]}})
    assert both.json()["code"] == "recipient_required"


async def test_an_opt_out_that_lands_while_a_message_waits_stops_it_before_sending(herald_with_worker: Running
                                                                                    ) -> None:
    client = await herald_with_worker.authed()
    person = await contact(client, external_id="w1", phone="+14155550140", consent={"direct_marketing": True})
    other = await contact(client, external_id="w2", phone="+14155550141", consent={"direct_marketing": True})
    later = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    waiting = await send(client, contact={"id": person["id"]}, classification="direct_marketing", send_at=later)
    going = await send(client, contact={"id": other["id"]}, classification="direct_marketing", send_at=later)
    assert waiting["state"] == going["state"] == "queued"
    resp = await client.put(f"/v1/contacts/{person['id']}/consent", json={"purposes": {"direct_marketing": False}})
    assert resp.status_code == 200

    async def final(mid: str) -> dict[str, Any] | None:
        body = (await client.get(f"/v1/messages/{mid}")).json()
        return body if body["state"] not in ("queued", "sending", "retrying") else None

    stopped = await wait_for(lambda: final(waiting["id"]), timeout=15)
    sent = await wait_for(lambda: final(going["id"]), timeout=15)
    assert (stopped["state"], stopped["reason"]) == ("skipped", "opted_out")
    assert stopped["attempts"] == []  # the provider was never called
    assert sent["state"] in ("sent", "delivered")


async def test_marketing_email_carries_a_one_click_link_that_withdraws_that_purpose_only(herald: Running) -> None:
    client = await herald.authed()
    person = await contact(client, external_id="u1", email="una@example.com",
                           consent={"direct_marketing": True, "affiliate_marketing": True})
    first = await send(client, channel="email", contact={"id": person["id"]}, classification="direct_marketing",
                       subject="Offers", html="<html><body><p>20% off</p></body></html>", body=None)
    content = (await client.get(f"/v1/messages/{first['id']}")).json()["content"]
    url = content["headers"]["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://testserver/u/")
    assert content["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in content["html"]
    transactional = await send(client, channel="email", contact={"id": person["id"]}, subject="Statement",
                               text="Your statement is ready", body=None)
    assert "headers" not in (await client.get(f"/v1/messages/{transactional['id']}")).json()["content"]

    path = url.removeprefix("http://testserver")
    assert (await herald.client.post(path, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    after = (await client.get(f"/v1/contacts/{person['id']}")).json()["consent"]
    assert after["direct_marketing"]["granted"] is False
    trail = (await client.get("/v1/audit", params={"action": "consent.withdrawn"})).json()["data"]
    assert [(a["target"], a["actor"], a["detail"]["message_id"]) for a in trail] == [
        (person["id"], "recipient", first["id"])]
    assert after["affiliate_marketing"]["granted"] is True
    second = await send(client, channel="email", contact={"id": person["id"]}, classification="direct_marketing",
                        subject="More offers", text="30% off", body=None)
    assert (second["state"], second["reason"]) == ("skipped", "opted_out")
    assert "unsubscribe" in second["explanation"]
