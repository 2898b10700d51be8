"""``GET /v1/audit`` over the real app and both databases: one workspace's rows only, filters, cursor pages,
and the scope."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from herald import ids
from herald.auth import service as auth
from herald.auth.models import AuditLog
from herald.db.session import unit_of_work
from tests.conftest import Running

OTHER_ID, OTHER_SECRET = "cli_other", "hs_other_secret_0123456789"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def _seed(herald: Running) -> dict[str, str]:
    """Rows in the default workspace and in another one; answers their ids by label."""
    made: dict[str, str] = {}
    rows = [
        ("w1", "ws_default", "recipient", "consent.withdrawn", "ct_1", T0),
        ("g1", "ws_default", "cli_test", "consent.granted", "ct_1", T0 + timedelta(hours=1)),
        ("w2", "ws_default", "recipient", "consent.withdrawn", "ct_2", T0 + timedelta(hours=2)),
        ("u1", "ws_default", "cli_test", "consent_changed", "ct_2", T0 + timedelta(hours=3)),
        ("c1", "ws_default", "cli_test", "Consent.granted", "ct_3", T0 + timedelta(hours=4)),
        ("x1", None, "recipient", "consent.withdrawn", "ct_1", T0 + timedelta(hours=1)),
    ]
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        other = await auth.create_workspace(session, name="Other", region="GB")
        await session.flush()
        await auth.create_client(session, other.id, name="other", actor="test", client_id=OTHER_ID,
                                 secret=OTHER_SECRET)
        for label, ws, actor, action, target, at in rows:
            made[label] = ids.new_id("aud")
            session.add(AuditLog(id=made[label], workspace_id=ws or other.id, actor=actor, action=action,
                                 target=target, detail={"n": label}, ip="192.0.2.7", created_at=at))
    return made


async def _get(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    resp = await client.get("/v1/audit", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _labels(body: dict[str, Any], made: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in made.items()}
    return [by_id.get(e["id"], e["action"]) for e in body["data"]]


async def test_newest_first_with_every_field_and_only_this_workspace(herald: Running) -> None:
    made = await _seed(herald)
    client = await herald.authed("audit:read")
    body = await _get(client, limit=200)
    seen = {e["id"] for e in body["data"]}
    assert made["x1"] not in seen
    assert {made[k] for k in ("w1", "g1", "w2", "u1", "c1")} <= seen
    assert [e["id"] for e in body["data"]] == sorted(seen, reverse=True)
    assert body["next_cursor"] is None
    entry = next(e for e in body["data"] if e["id"] == made["w2"])
    assert entry == {"id": made["w2"], "actor": "recipient", "action": "consent.withdrawn", "target": "ct_2",
                     "detail": {"n": "w2"}, "ip": "192.0.2.7", "created_at": entry["created_at"]}
    assert datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00")) == T0 + timedelta(hours=2)

    other = await herald.token(client_id=OTHER_ID, secret=OTHER_SECRET)
    resp = await herald.client.get("/v1/audit", headers={"Authorization": f"Bearer {other}"})
    theirs = resp.json()
    assert [e["id"] for e in theirs["data"] if e["action"] == "consent.withdrawn"] == [made["x1"]]
    assert made["w1"] not in {e["id"] for e in theirs["data"]}


async def test_filters(herald: Running) -> None:
    made = await _seed(herald)
    client = await herald.authed("audit:read")
    order = sorted(["w1", "g1", "w2"], key=lambda k: made[k], reverse=True)
    assert _labels(await _get(client, action="consent.*"), made) == order
    assert _labels(await _get(client, action="consent.withdrawn"), made) == [k for k in order if k != "g1"]
    assert _labels(await _get(client, action="consent"), made) == []
    assert sorted(_labels(await _get(client, action="consent_*"), made)) == ["u1"]
    assert _labels(await _get(client, target="ct_1"), made) == [k for k in order if k != "w2"]
    assert _labels(await _get(client, actor="recipient", target="ct_2"), made) == ["w2"]
    window = {"since": (T0 + timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=3)).isoformat()}
    assert sorted(_labels(await _get(client, action="consent*", **window), made)) == ["g1", "w2"]
    since_only = await _get(client, action="consent*", since="2026-11-01T15:30:00+03:30")  # 12:00 UTC
    assert sorted(_labels(since_only, made)) == ["g1", "u1", "w1", "w2"]

    naive = await client.get("/v1/audit", params={"since": "2026-11-01T12:00:00"})
    assert naive.status_code == 422
    assert naive.json()["code"] == "timezone_required"
    assert naive.headers["content-type"].startswith("application/problem+json")


async def test_cursor_pages_and_bad_cursors(herald: Running) -> None:
    made = await _seed(herald)
    client = await herald.authed("audit:read")
    pages: list[str] = []
    cursor: str | None = None
    while True:
        body = await _get(client, action="consent*", limit=2, **({"cursor": cursor} if cursor else {}))
        pages += _labels(body, made)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == sorted(["w1", "g1", "w2", "u1"], key=lambda k: made[k], reverse=True)

    foreign = base64.urlsafe_b64encode(b"msg_01J0000000").decode().rstrip("=")
    for bad in ("!!!", "not-a-cursor", foreign, "YXVkXzE="):
        resp = await client.get("/v1/audit", params={"cursor": bad})
        assert resp.status_code == 422, bad
        assert resp.json()["code"] == "invalid_cursor"
        assert resp.headers["content-type"].startswith("application/problem+json")
    for limit in (0, 201):
        assert (await client.get("/v1/audit", params={"limit": limit})).status_code == 422


async def test_scope_is_required_and_there_is_no_write(herald: Running) -> None:
    assert (await herald.client.get("/v1/audit")).status_code == 401
    client = await herald.authed("messages:read")
    resp = await client.get("/v1/audit")
    assert resp.status_code == 403
    assert resp.json()["code"] == "insufficient_scope"
    client = await herald.authed("audit:read")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/v1/audit", json={})).status_code == 405
    assert "post" not in herald.app.openapi()["paths"]["/v1/audit"]
