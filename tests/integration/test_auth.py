"""OAuth client credentials, scopes and tenant isolation over the real app and databases."""

from __future__ import annotations

import time

import jwt

from herald.auth import service as auth
from herald.crypto import Keyring
from herald.db.session import make_sessionmaker, unit_of_work
from tests.conftest import CLIENT_ID, CLIENT_SECRET, Running


async def test_token_with_basic_auth_and_with_body_credentials(herald: Running) -> None:
    basic = await herald.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                     auth=(CLIENT_ID, CLIENT_SECRET))
    body = await herald.client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    for resp in (basic, body):
        assert resp.status_code == 200
        data = resp.json()
        assert data["token_type"] == "Bearer"
        assert data["expires_in"] == herald.settings.token_ttl_seconds
        assert "messages:send" in data["scope"].split()
        assert resp.headers["cache-control"] == "no-store"


async def test_token_refusals_follow_rfc6749(herald: Running) -> None:
    cases = [
        ({"grant_type": "client_credentials"}, (CLIENT_ID, "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("cli_nobody", CLIENT_SECRET), 401, "invalid_client"),
        ({"grant_type": "password"}, (CLIENT_ID, CLIENT_SECRET), 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "scope": "messages:send nope:x"}, (CLIENT_ID, CLIENT_SECRET),
         400, "invalid_scope"),
    ]
    for form, creds, status, error in cases:
        resp = await herald.client.post("/oauth/token", data=form, auth=creds)
        assert resp.status_code == status, (form, resp.text)
        assert resp.json()["error"] == error
        assert resp.headers["content-type"].startswith("application/problem+json")
    garbage = await herald.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                       headers={"Authorization": "Basic !!!"})
    assert garbage.status_code == 401
    missing = await herald.client.post("/oauth/token", data={})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "grant_type"


async def test_bearer_token_required_valid_and_unexpired(herald: Running) -> None:
    no_token = await herald.client.get("/v1/messages")
    assert no_token.status_code == 401
    assert no_token.json()["code"] == "missing_token"
    assert no_token.headers["www-authenticate"].startswith("Bearer")

    bad = await herald.client.get("/v1/messages", headers={"Authorization": "Bearer not.a.token"})
    assert bad.json()["code"] == "invalid_token"

    keyring = Keyring.from_settings(herald.settings)
    expired = jwt.encode({"iss": "herald", "sub": CLIENT_ID, "ws": "ws_default", "scope": "messages:read",
                          "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
                         keyring.token_key, algorithm="HS256")
    resp = await herald.client.get("/v1/messages", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401
    assert resp.json()["code"] == "token_expired"

    forged = jwt.encode({"iss": "herald", "sub": CLIENT_ID, "ws": "ws_default", "scope": "messages:read",
                         "iat": int(time.time()), "exp": int(time.time()) + 60}, b"k" * 32, algorithm="HS256")
    resp = await herald.client.get("/v1/messages", headers={"Authorization": f"Bearer {forged}"})
    assert resp.json()["code"] == "invalid_token"


async def test_missing_scope_is_403(herald: Running) -> None:
    client = await herald.authed(scope="messages:read")
    resp = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "hi"})
    assert resp.status_code == 403
    assert resp.json()["code"] == "insufficient_scope"
    assert (await client.get("/v1/messages")).status_code == 200


async def test_another_workspace_sees_404_for_my_ids(herald: Running) -> None:
    client = await herald.authed()
    sent = await client.post("/v1/messages", json={"channel": "sms", "to": "+14155550100", "body": "mine"})
    assert sent.status_code == 202
    message_id = sent.json()["id"]
    provider_id = (await client.get("/v1/providers")).json()[0]["id"]

    from herald.db.session import make_engine

    engine = make_engine(herald.settings.effective_database_url, pool_size=1)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        ws = await auth.create_workspace(session, name="Other", region="GB")
        await session.flush()
        await auth.create_client(session, ws.id, name="other", actor="test", client_id="cli_other",
                                 secret="hs_other_secret_0123456789")
    await engine.dispose()

    other = await herald.token(client_id="cli_other", secret="hs_other_secret_0123456789")
    headers = {"Authorization": f"Bearer {other}"}
    for path in (f"/v1/messages/{message_id}", f"/v1/providers/{provider_id}"):
        resp = await herald.client.get(path, headers=headers)
        assert resp.status_code == 404, path
        assert resp.headers["content-type"].startswith("application/problem+json")
    listing = await herald.client.get("/v1/messages", headers=headers)
    assert listing.json()["data"] == []


async def test_clients_are_created_listed_and_revoked(herald: Running) -> None:
    client = await herald.authed()
    made = await client.post("/v1/clients", json={"name": "core-banking", "scopes": ["messages:send"]})
    assert made.status_code == 201, made.text
    new = made.json()
    assert new["secret"].startswith("hs_")
    listed = (await client.get("/v1/clients")).json()
    assert {c["id"] for c in listed} == {CLIENT_ID, new["id"]}
    assert all("secret" not in c for c in listed)

    token = await herald.token(client_id=new["id"], secret=new["secret"])
    limited = {"Authorization": f"Bearer {token}"}
    assert (await herald.client.get("/v1/clients", headers=limited)).status_code == 403
    assert (await herald.client.post("/v1/messages", headers=limited, json={
        "channel": "sms", "to": "+14155550100", "body": "hi"})).status_code == 202

    assert (await client.delete(f"/v1/clients/{new['id']}")).status_code == 204
    refused = await herald.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                       auth=(new["id"], new["secret"]))
    assert refused.status_code == 401
    bad = await client.post("/v1/clients", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_scope"
    assert (await client.delete("/v1/clients/cli_nobody")).status_code == 404
