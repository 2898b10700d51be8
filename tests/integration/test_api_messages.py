"""POST/GET /v1/messages: validation with stable problem codes, idempotency, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Running

SOON = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
LATER = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
PAST = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

BAD_INPUT = [
    # (body, status, code, field)
    ({"channel": "sms", "to": "not a number", "body": "x"}, 422, "invalid_phone", "to"),
    ({"channel": "sms", "to": "+1415555", "body": "x"}, 422, "invalid_phone", "to"),
    ({"channel": "email", "to": "jane@", "subject": "s", "text": "t"}, 422, "invalid_email", "to"),
    ({"channel": "fax", "to": "+14155550100", "body": "x"}, 422, "unknown_channel", "channel"),
    ({"channel": "sms", "to": "+14155550100"}, 422, "missing_body", "body"),
    ({"channel": "email", "to": "jane@example.com", "text": "t"}, 422, "missing_subject", "subject"),
    ({"channel": "email", "to": "jane@example.com", "subject": "s"}, 422, "missing_body", "text"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "send_at": PAST}, 422, "send_at_in_past", "send_at"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "send_at": "2030-01-01T10:00:00"}, 422,
     "timezone_required", "send_at"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "send_at": LATER, "expires_at": SOON}, 422,
     "expires_before_send_at", "expires_at"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "expires_at": PAST}, 422, "expires_in_past",
     "expires_at"),
    ({"channel": "sms", "to": "+14155550100", "body": "x" * 1601}, 413, "body_too_large", "body"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "classification": "spam"}, 422,
     "unknown_classification", "classification"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "provider": "nope"}, 422, "no_provider", "provider"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "colour": "red"}, 422, "validation_failed", "colour"),
    ({"channel": "sms", "to": "+14155550100", "body": "x", "priority": "high"}, 422, "validation_failed",
     "priority"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_INPUT)
async def test_bad_input_gets_a_problem_with_code_and_field(
    herald: Running, body: dict[str, object], status: int, code: str, field: str
) -> None:
    client = await herald.authed()
    resp = await client.post("/v1/messages", json=body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert field in [e["field"] for e in problem["errors"]]
    assert (await client.get("/v1/messages")).json()["data"] == []  # nothing was stored


async def test_malformed_json_and_oversized_request(herald: Running) -> None:
    client = await herald.authed()
    resp = await client.post("/v1/messages", content=b'{"channel": "sms",',
                             headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["code"] == "malformed_json"
    huge = b'{"channel":"sms","to":"+14155550100","body":"' + b"x" * (herald.settings.max_request_bytes + 10) + b'"}'
    resp = await client.post("/v1/messages", content=huge, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["code"] == "request_too_large"


async def test_no_provider_for_channel(herald: Running) -> None:
    client = await herald.authed()
    for p in (await client.get("/v1/providers")).json():
        if p["channel"] == "sms":
            assert (await client.patch(f"/v1/providers/{p['id']}", json={"enabled": False})).status_code == 200
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "x"})
    assert resp.status_code == 422
    assert resp.json()["code"] == "no_provider"
    assert resp.json()["errors"][0]["field"] == "channel"


async def test_accepts_and_normalises_addresses(herald: Running) -> None:
    client = await herald.authed()
    resp = await client.post("/v1/messages", json={
        "channel": "sms", "to": "(415) 555-0100", "body": "Card 1234 used at ATM", "metadata": {"ref": "T1"}})
    assert resp.status_code == 202, resp.text
    data = resp.json()
    assert data["to"] == "+14155550100"  # read with the default region US
    assert data["state"] == "queued"
    assert data["id"].startswith("msg_")
    assert resp.headers["location"] == f"/v1/messages/{data['id']}"
    assert [t["state"] for t in data["timeline"]] == ["queued"]
    mail = await client.post("/v1/messages", json={
        "channel": "email", "to": "Jane.Doe@EXAMPLE.com", "subject": "Hi", "text": "t"})
    assert mail.json()["to"] == "jane.doe@example.com"  # lower-cased whole, as contacts' emails are stored


async def test_idempotency_key_replays_and_refuses_a_different_body(herald: Running) -> None:
    client = await herald.authed()
    body = {"channel": "sms", "to": "+14155550100", "body": "OTP request"}
    first = await client.post("/v1/messages", json=body, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/v1/messages", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/v1/messages", json={**body, "body": "changed"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    listing = (await client.get("/v1/messages")).json()["data"]
    assert len(listing) == 1


async def test_list_filters_and_cursor_pagination(herald: Running) -> None:
    client = await herald.authed()
    ids = []
    for i in range(5):
        resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": f"m{i}"})
        ids.append(resp.json()["id"])
    await client.post("/v1/messages", json={"channel": "email", "to": "a@example.com", "subject": "s", "text": "t"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"channel": "sms", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/messages", params=params)).json()
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert (await client.get("/v1/messages", params={"state": "sent"})).json()["data"] == []
    bad = await client.get("/v1/messages", params={"state": "flying"})
    assert bad.json()["code"] == "unknown_state"
    bad = await client.get("/v1/messages", params={"cursor": "garbage!"})
    assert bad.json()["code"] == "invalid_cursor"
    bad = await client.get("/v1/messages", params={"limit": 0})
    assert bad.status_code == 422


async def test_unknown_message_is_404(herald: Running) -> None:
    client = await herald.authed()
    resp = await client.get("/v1/messages/msg_doesnotexist")
    assert resp.status_code == 404
    assert resp.json()["code"] == "message_not_found"
