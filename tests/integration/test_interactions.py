"""The interactions view through the API: messages filtered by contact, address, classification and source,
and the same filter exported as CSV or PDF with the columns chosen, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.conftest import Running
from tests.integration.test_console import new_client, sign_in

ANN, OTHER = "+14155550101", "+14155550102"


async def send(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await client.post("/v1/messages", json=body)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


async def listed(client: httpx.AsyncClient, **params: str) -> list[str]:
    resp = await client.get("/v1/messages", params=params)
    assert resp.status_code == 200, resp.text
    return [m["id"] for m in resp.json()["data"]]


async def exported(client: httpx.AsyncClient, **params: str) -> tuple[httpx.Response, list[list[str]]]:
    resp = await client.get("/v1/messages/export.csv", params=params)
    return resp, list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))


async def test_filters_find_one_persons_messages_and_export_them(herald: Running) -> None:
    client = await herald.authed()
    ann = (await client.post("/v1/contacts", json={"external_id": "ann", "phone": ANN,
                                                   "email": "ann@example.com"})).json()
    alert = await send(client, channel="sms", contact={"id": ann["id"]}, body="Card used")
    mail = await send(client, channel="email", contact={"id": ann["id"]}, subject="Statement", text="Ready")
    offer = await send(client, channel="sms", contact={"id": ann["id"]}, body="20% off",
                       classification="direct_marketing")  # no consent: skipped, and listed all the same
    other = await send(client, channel="sms", to=OTHER, body="Hello")
    assert offer["state"] == "skipped"
    raw = await send(client, channel="email", to="Ann.Smith@Example.COM", subject="Hi", text="x")
    assert raw["to"] == "ann.smith@example.com"  # stored as contacts store emails: one spelling to find it by
    assert await listed(client, to="ANN.SMITH@example.com") == [raw["id"]]
    assert await listed(client, source="api", channel="email", to="Ann.Smith@example.com") == [raw["id"]]

    assert await listed(client, contact_id=ann["id"]) == [offer["id"], mail["id"], alert["id"]]
    assert await listed(client, to="(415) 555-0101") == [offer["id"], alert["id"]]  # read as the workspace's US
    assert await listed(client, to="Ann@Example.com") == [mail["id"]]
    assert await listed(client, classification="direct_marketing") == [offer["id"]]
    assert await listed(client, source="api", channel="sms", state="queued") == [other["id"], alert["id"]]
    assert await listed(client, source="campaign") == []
    for params, code in (({"to": "not a number"}, "invalid_phone"), ({"classification": "spam"},
                         "unknown_classification"), ({"channel": "fax"}, "unknown_channel")):
        bad = await client.get("/v1/messages", params=params)
        assert (bad.status_code, bad.json()["code"]) == (422, code), bad.text

    resp, rows = await exported(client, contact_id=ann["id"], columns="id,external_id,to,state,reason")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    assert rows == [["id", "external_id", "to", "state", "reason"],
                    [offer["id"], "ann", "'" + ANN, "skipped", offer["reason"]],  # no formula in a spreadsheet
                    [mail["id"], "ann", "ann@example.com", "queued", ""],
                    [alert["id"], "ann", "'" + ANN, "queued", ""]]
    _, rows = await exported(client)
    assert rows[0] == ["id", "created_at", "channel", "classification", "source", "contact_id", "to", "state",
                       "reason", "sent_at", "delivered_at"]
    assert [r[0] for r in rows[1:]] == [raw["id"], other["id"], offer["id"], mail["id"], alert["id"]]
    assert rows[1][1].endswith("Z")
    for columns, code in (("id,body", "unknown_column"), ("id,id", "duplicate_column")):
        bad, _ = await exported(client, columns=columns)
        assert (bad.status_code, bad.json()["code"]) == (422, code), bad.text
    audit = (await client.get("/v1/audit", params={"action": "messages.export"})).json()["data"]
    assert [a["detail"]["filter"] for a in audit] == [{}, {"contact_id": ann["id"]}]  # refusals export nothing


async def test_the_same_selection_downloads_as_a_pdf_from_the_api_and_the_console(herald: Running) -> None:
    client = await herald.authed()
    for i in range(3):
        await send(client, channel="sms", to=ANN, body=f"Alert {i}")
    resp = await client.get("/v1/messages/export.pdf", params={"to": ANN, "columns": "id,to,state,explanation"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert "messages.pdf" in resp.headers["content-disposition"]
    assert resp.content.startswith(b"%PDF-")
    bad = await client.get("/v1/messages/export.pdf", params={"columns": "id,body"})
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_column")
    audit = (await client.get("/v1/audit", params={"action": "messages.export"})).json()["data"]
    assert [(a["detail"]["format"], a["detail"]["filter"]) for a in audit] == [("pdf", {"to": ANN})]
    async with new_client(herald) as console:
        await sign_in(console)
        page = (await console.get("/console/messages", params={"channel": "sms"})).text
        assert 'href="/console/messages/export.pdf?channel=sms"' in page
        pdf = await console.get("/console/messages/export.pdf", params={"channel": "sms"})
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
