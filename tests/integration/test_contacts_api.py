"""/v1/contacts: upsert by external id, normalisation, lookups, consent rules, privacy export and erasure."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Running


async def test_upsert_normalises_and_is_idempotent_by_external_id(herald: Running) -> None:
    client = await herald.authed()
    body = {"external_id": "CUST-1", "name": "  Jane\r\n Doe ", "email": "Jane.Doe@EXAMPLE.com",
            "phone": "(415) 555-0100", "attributes": {"tier": "gold"}}
    first = await client.post("/v1/contacts", json=body)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["phone"] == "+14155550100"
    assert made["email"] == "jane.doe@example.com"  # one spelling, so lookups and suppressions match
    assert made["name"] == "Jane Doe"
    assert made["timezone"] == "America/Los_Angeles"  # derived from the number
    again = await client.post("/v1/contacts", json=body)
    assert again.status_code == 200
    assert again.json()["id"] == made["id"]
    changed = await client.post("/v1/contacts", json={"external_id": "CUST-1", "attributes": {"segment": "b"}})
    assert changed.json()["attributes"] == {"tier": "gold", "segment": "b"}
    assert changed.json()["phone"] == "+14155550100"  # fields not stated are kept

    for query in ("external_id=CUST-1", "email=jane.doe@example.COM", "phone=%2B1%20415%20555%200100"):
        found = (await client.get(f"/v1/contacts?{query}")).json()["data"]
        assert [c["id"] for c in found] == [made["id"]], query


BAD = [
    ({"phone": "12"}, "invalid_phone", "phone"),
    ({"phone": "4.15555E+09"}, "phone_scientific_notation", "phone"),
    ({"email": "jane@"}, "invalid_email", "email"),
    ({"timezone": "Mars/Olympus"}, "unknown_timezone", "timezone"),
    ({"consent": {"transactional": False}}, None, "consent.transactional"),
]


@pytest.mark.parametrize(("fields", "code", "field"), BAD)
async def test_bad_contact_fields_are_refused_with_the_field(herald: Running, fields: dict[str, Any],
                                                             code: str | None, field: str) -> None:
    client = await herald.authed()
    resp = await client.post("/v1/contacts", json={"external_id": "bad", **fields})
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert field in [e["field"] for e in problem["errors"]]
    if code:
        assert problem["code"] == code
    assert (await client.get("/v1/contacts")).json()["data"] == []


async def test_an_upsert_never_regrants_withdrawn_consent_but_an_explicit_change_does(herald: Running) -> None:
    client = await herald.authed()
    made = (await client.post("/v1/contacts", json={"external_id": "k", "consent": {"direct_marketing": True}})).json()
    withdraw = await client.put(f"/v1/contacts/{made['id']}/consent", json={"purposes": {"direct_marketing": False}})
    assert withdraw.json()["consent"]["direct_marketing"]["granted"] is False
    regrant = await client.post("/v1/contacts", json={"external_id": "k", "consent": {"direct_marketing": True,
                                                                                       "service": True}})
    after = regrant.json()["consent"]
    assert after["direct_marketing"]["granted"] is False
    assert after["service"]["granted"] is True
    explicit = await client.put(f"/v1/contacts/{made['id']}/consent",
                                json={"purposes": {"direct_marketing": True}, "source": "web form"})
    assert explicit.json()["consent"]["direct_marketing"] | {"at": None} == {"granted": True, "source": "web form",
                                                                             "at": None}
    audit = (await client.get("/v1/audit", params={"target": made["id"]})).json()["data"]
    actions = [a["action"] for a in audit]
    assert actions.count("consent.withdrawn") == 1
    assert actions.count("consent.granted") == 1
    assert all(a["ip"] for a in audit if a["action"].startswith("consent."))


async def test_export_holds_everything_and_erase_removes_personal_data_but_keeps_counts(herald: Running) -> None:
    client = await herald.authed()
    made = (await client.post("/v1/contacts", json={"external_id": "p1", "name": "Ann", "phone": "+14155550150",
                                                    "email": "ann@example.com"})).json()
    lst = (await client.post("/v1/lists", json={"name": "VIP"})).json()
    await client.post(f"/v1/lists/{lst['id']}/members", json={"members": [{"contact_id": made["id"],
                                                                           "fields": {"note": "x"}}]})
    sent = (await client.post("/v1/messages", json={"channel": "sms", "contact": {"id": made["id"]},
                                                    "body": "Your card was used"})).json()
    await client.post("/v1/suppressions", json={"entries": [{"address": "ann@example.com"}]})
    export = (await client.get(f"/v1/contacts/{made['id']}/export")).json()
    assert export["contact"]["name"] == "Ann"
    assert export["lists"][0]["fields"] == {"note": "x"}
    assert export["messages"][0]["content"] == {"body": "Your card was used"}
    assert export["suppressions"][0]["address"] == "ann@example.com"

    erased = (await client.post(f"/v1/contacts/{made['id']}/erase")).json()
    assert erased["erased"] is True
    assert (erased["name"], erased["email"], erased["phone"], erased["external_id"]) == (None, None, None, None)
    message = (await client.get(f"/v1/messages/{sent['id']}")).json()
    assert message["to"] == "erased"
    assert message["state"] == "cancelled"  # it was still waiting
    assert [(e["state"], e["detail"]) for e in message["timeline"]][-1] == ("cancelled", "The contact was erased")
    assert message["content"] == {}
    assert (await client.get(f"/v1/lists/{lst['id']}")).json()["members"] == 0
    total = (await client.get("/v1/messages")).json()["data"]
    assert len(total) == 1  # the count stays
    assert (await client.get("/v1/suppressions", params={"address": "ann@example.com"})).json()["blocked"]
    again = await client.post(f"/v1/contacts/{made['id']}/erase")
    assert again.status_code == 200
    refused = await client.patch(f"/v1/contacts/{made['id']}", json={"name": "Back"})
    assert refused.status_code == 409


async def test_another_workspaces_contact_is_not_found(herald: Running) -> None:
    client = await herald.authed()
    made = (await client.post("/v1/contacts", json={"external_id": "x"})).json()
    async with herald.app.state.herald.sessions() as session, session.begin():
        from herald.contacts.models import Contact

        row = await session.get(Contact, made["id"])
        assert row is not None
        from herald.auth.service import create_workspace

        other = await create_workspace(session, name="Other", region="GB", workspace_id="ws_other")
        await session.flush()
        row.workspace_id = other.id
    assert (await client.get(f"/v1/contacts/{made['id']}")).status_code == 404
    assert (await client.get(f"/v1/contacts/{made['id']}/export")).status_code == 404
    assert (await client.post(f"/v1/contacts/{made['id']}/erase")).status_code == 404


async def test_concurrent_upserts_of_one_external_id_make_one_contact(herald: Running) -> None:
    import asyncio

    client = await herald.authed()
    answers = await asyncio.gather(*(client.post("/v1/contacts", json={"external_id": "race", "name": f"N{i}"})
                                     for i in range(6)))
    assert sorted({r.status_code for r in answers}) in ([200, 201], [201])
    assert len({r.json()["id"] for r in answers}) == 1
    assert len((await client.get("/v1/contacts", params={"external_id": "race"})).json()["data"]) == 1
