"""The web console over the real app (SQLite and PostgreSQL): sign-in, CSRF, pages, test send, roles and
workspace isolation."""

from __future__ import annotations

import re

import httpx
import pytest

from herald.auth import service as auth_service
from herald.bootstrap import DEFAULT_WORKSPACE
from herald.console import routes
from herald.console import session as cs
from herald.db.session import unit_of_work
from tests.conftest import Running

ADMIN, PASSWORD = "admin@herald.localhost", "admin-password-123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str = ADMIN, password: str = PASSWORD,
                  next_: str | None = None) -> httpx.Response:
    page = await client.get("/console/login")
    assert page.status_code == 200
    form = {"email": email, "password": password, "csrf_token": csrf_of(page.text)}
    if next_:
        form["next"] = next_
    return await client.post("/console/login", data=form)


def new_client(herald: Running) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=herald.app), base_url="http://testserver")


async def add_user(herald: Running, email: str, password: str, role: str, workspace: str = DEFAULT_WORKSPACE,
                   new_workspace: bool = False) -> None:
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        if new_workspace:
            await auth_service.create_workspace(session, name="Other", region="GB", workspace_id=workspace)
            await session.flush()
        await auth_service.create_console_user(session, workspace, email=email, password=password, role=role)


async def test_sign_in_sets_a_hardened_session_cookie(herald: Running) -> None:
    c = herald.client
    resp = await sign_in(c)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/console"
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(f"{cs.SESSION_COOKIE}="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    page = await c.get("/console")
    assert page.status_code == 200
    assert "Dashboard" in page.text
    assert ADMIN in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    # Signed in, the login page sends you on.
    again = await c.get("/console/login")
    assert again.status_code == 303


async def test_wrong_password_shows_an_error_and_sets_no_cookie(herald: Running) -> None:
    c = herald.client
    for email, password in ((ADMIN, "not-the-password"), ("nobody@example.com", PASSWORD)):
        resp = await sign_in(c, email, password)
        assert resp.status_code == 400
        assert "Wrong email or password." in resp.text
        assert not any(h.startswith(f"{cs.SESSION_COOKIE}=") for h in resp.headers.get_list("set-cookie"))
        assert f'value="{email}"' in resp.text  # the email is kept
        assert password not in resp.text
    assert (await c.get("/console")).status_code == 303


async def test_repeated_failures_are_throttled_per_email(herald: Running) -> None:
    c = herald.client
    for _ in range(cs.MAX_FAILURES):
        assert (await sign_in(c, ADMIN, "wrong-password")).status_code == 400
    blocked = await sign_in(c, ADMIN, PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    await add_user(herald, "editor@example.com", "editor-password-1", "editor")
    assert (await sign_in(c, "editor@example.com", "editor-password-1")).status_code == 303  # others are not


async def test_pages_redirect_to_login_without_a_session(herald: Running) -> None:
    c = herald.client
    root = await c.get("/")
    assert (root.status_code, root.headers["location"]) == (303, "/console")
    assert (await c.get("/console")).headers["location"] == "/console/login"
    for path in ("/console/messages", "/console/messages/msg_x", "/console/providers", "/console/send",
                 "/console/fragments/dashboard"):
        resp = await c.get(path)
        assert resp.status_code == 303, path
        assert resp.headers["location"].startswith("/console/login?next="), path
    fragment = await c.get("/console/fragments/dashboard", headers={"HX-Request": "true"})
    assert (fragment.status_code, fragment.headers["hx-redirect"]) == (401, "/console/login")
    post = await c.post("/console/send", data={"to": "+14155550100", "body": "hi"})
    assert post.status_code == 303
    # A forged or foreign cookie is no session: an API Bearer token does not pass as one.
    c.cookies.set(cs.SESSION_COOKIE, await herald.token(), domain="testserver", path="/console")
    assert (await c.get("/console")).status_code == 303


async def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(herald: Running) -> None:
    resp = await sign_in(herald.client, next_="/console/providers")
    assert resp.headers["location"] == "/console/providers"
    other = new_client(herald)
    async with other:
        for evil in ("//evil.example/console", "https://evil.example/", "/console/../x\\y", "/consolex"):
            resp = await sign_in(other, next_=evil)
            assert resp.headers["location"] == "/console", evil
            other.cookies.clear()


async def test_posts_without_the_session_csrf_token_are_refused(herald: Running) -> None:
    c = herald.client
    login = await c.post("/console/login", data={"email": ADMIN, "password": PASSWORD})
    assert login.status_code == 403
    assert not any(h.startswith(f"{cs.SESSION_COOKIE}=") for h in login.headers.get_list("set-cookie"))
    await sign_in(c)
    for token in (None, "0" * 64, cs.csrf_token(herald.app.state.herald.keyring, "session", "another-sid")):
        data = {"channel": "sms", "to": "+14155550100", "body": "hello"} | ({"csrf_token": token} if token else {})
        resp = await c.post("/console/send", data=data)
        assert resp.status_code == 403, token
        assert "security token" in resp.text
    assert (await c.post("/console/logout")).status_code == 403
    api = await herald.authed("messages:read")
    assert (await api.get("/v1/messages")).json()["data"] == []


async def test_test_send_creates_a_message_and_shows_it(herald: Running) -> None:
    c = herald.client
    await sign_in(c)
    form = await c.get("/console/send")
    assert form.status_code == 200
    resp = await c.post("/console/send", data={
        "csrf_token": csrf_of(form.text), "channel": "sms", "to": "+1 415 555 0100",
        "body": "<script>alert(1)</script> card 1234", "subject": "ignored for sms", "text": ""})
    assert resp.status_code == 303
    location = resp.headers["location"]
    mid = location.rsplit("/", 1)[1]
    assert location == f"/console/messages/{mid}"
    page = await c.get(location)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; card 1234" in page.text
    assert "<script>alert(1)" not in page.text
    assert "+14155550100" in page.text
    assert "queued" in page.text
    assert 'id="timeline"' in page.text
    listing = await c.get("/console/messages")
    assert mid in listing.text
    api = await herald.authed("messages:read")
    data = (await api.get("/v1/messages")).json()["data"]
    assert [(m["id"], m["to"], m["state"]) for m in data] == [(mid, "+14155550100", "queued")]


async def test_test_send_email(herald: Running) -> None:
    c = herald.client
    await sign_in(c)
    token = csrf_of((await c.get("/console/send")).text)
    resp = await c.post("/console/send", data={"csrf_token": token, "channel": "email", "to": "jane@example.com",
                                                "subject": "Payment due", "text": "Hello Jane", "body": "x"})
    assert resp.status_code == 303
    page = await c.get(resp.headers["location"])
    assert "Payment due" in page.text
    assert "Hello Jane" in page.text


async def test_send_errors_are_shown_next_to_the_form_with_the_input_kept(herald: Running) -> None:
    c = herald.client
    await sign_in(c)
    token = csrf_of((await c.get("/console/send")).text)
    resp = await c.post("/console/send", data={"csrf_token": token, "channel": "sms", "to": "12",
                                                "body": "Kept body text"})
    assert resp.status_code == 422
    assert re.search(r'<p class="field-error" id="to-error" role="alert">[^<]*not a (valid )?phone number',
                     resp.text)
    assert 'value="12"' in resp.text
    assert "Kept body text</textarea>" in resp.text
    resp = await c.post("/console/send", data={"csrf_token": token, "channel": "email",
                                                "to": "jane@example.com", "subject": "", "text": "body"})
    assert resp.status_code == 422
    assert 'id="subject-error"' in resp.text
    assert '<option value="email" selected>' in resp.text
    resp = await c.post("/console/send", data={"csrf_token": token, "channel": "sms", "to": "+14155550100"})
    assert 'id="body-error"' in resp.text
    api = await herald.authed("messages:read")
    assert (await api.get("/v1/messages")).json()["data"] == []


async def test_viewers_may_look_but_not_send(herald: Running) -> None:
    await add_user(herald, "viewer@example.com", "viewer-password-1", "viewer")
    c = herald.client
    assert (await sign_in(c, "viewer@example.com", "viewer-password-1")).status_code == 303
    dash = await c.get("/console")
    assert dash.status_code == 200
    assert "/console/send" not in dash.text
    assert (await c.get("/console/messages")).status_code == 200
    assert (await c.get("/console/providers")).status_code == 200
    page = await c.get("/console/send")
    assert page.status_code == 403
    assert "viewer" in page.text
    resp = await c.post("/console/send", data={"csrf_token": csrf_of(dash.text), "channel": "sms",
                                                "to": "+14155550100", "body": "hi"})
    assert resp.status_code == 403


async def test_providers_page_never_shows_secrets(herald: Running) -> None:
    api = await herald.authed()
    secret = "twilio-auth-token-do-not-show-0123456789"
    r = await api.post("/v1/providers", json={"name": "twilio-main", "kind": "twilio", "rate_limit": 25,
                                              "priority": 5, "settings": {
                                                  "account_sid": "AC" + "1" * 32, "auth_token": secret,
                                                  "from_number": "+14155550199"}})
    assert r.status_code == 201, r.text
    api.headers.pop("Authorization")
    await sign_in(herald.client)
    page = await herald.client.get("/console/providers")
    assert page.status_code == 200
    assert "twilio-main" in page.text
    assert "demo-sms" in page.text
    assert "auth_token: set" in page.text
    assert "25.0/s" in page.text
    assert secret not in page.text
    assert secret[:12] not in page.text


async def test_another_workspaces_message_is_a_404_page(herald: Running) -> None:
    c = herald.client
    await sign_in(c)
    token = csrf_of((await c.get("/console/send")).text)
    resp = await c.post("/console/send", data={"csrf_token": token, "channel": "sms", "to": "+14155550100",
                                                "body": "private"})
    location = resp.headers["location"]
    await add_user(herald, "other@example.com", "other-password-1", "admin", workspace="ws_other",
                   new_workspace=True)
    async with new_client(herald) as other:
        await sign_in(other, "other@example.com", "other-password-1")
        page = await other.get(location)
        assert page.status_code == 404
        assert "text/html" in page.headers["content-type"]
        assert "private" not in page.text
        listing = await other.get("/console/messages")
        assert location.rsplit("/", 1)[1] not in listing.text
        assert (await other.get("/console/messages/msg_nope")).status_code == 404


async def test_messages_filters_and_older_pages(herald: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    c = herald.client
    await sign_in(c)
    token = csrf_of((await c.get("/console/send")).text)
    ids = []
    for n in range(3):
        r = await c.post("/console/send", data={"csrf_token": token, "channel": "sms", "to": "+14155550100",
                                                 "body": f"n{n}"})
        ids.append(r.headers["location"].rsplit("/", 1)[1])
    r = await c.post("/console/send", data={"csrf_token": token, "channel": "email", "to": "a@example.com",
                                             "subject": "s", "text": "t"})
    email_id = r.headers["location"].rsplit("/", 1)[1]
    first = await c.get("/console/messages", params={"channel": "sms", "state": "queued"})
    assert first.status_code == 200
    assert ids[2] in first.text
    assert ids[1] in first.text
    assert ids[0] not in first.text
    assert email_id not in first.text
    older = re.search(r'href="/console/messages(\?[^"]+)" rel="next"', first.text)
    assert older
    second = await c.get("/console/messages" + older.group(1).replace("&amp;", "&"))
    assert ids[0] in second.text
    assert ids[2] not in second.text
    assert 'rel="next"' not in second.text
    assert "Newest" in second.text
    assert email_id in (await c.get("/console/messages", params={"channel": "email"})).text
    assert ids[0] not in (await c.get("/console/messages", params={"state": "delivered"})).text
    assert (await c.get("/console/messages", params={"state": "bogus"})).status_code == 400
    assert (await c.get("/console/messages", params={"cursor": "!!!"})).status_code == 400
    by_address = (await c.get("/console/messages", params={"to": "A@example.com"})).text
    assert email_id in by_address
    assert ids[0] not in by_address
    assert (await c.get("/console/messages", params={"to": "nobody"})).status_code == 400
    link = re.search(r'href="(/console/messages/export\.csv\?[^"]+)" download', first.text)
    assert link, "the list offers its selection as CSV"
    export = await c.get(link.group(1).replace("&amp;", "&"))
    assert export.headers["content-type"].startswith("text/csv")
    assert [line.split(",")[0] for line in export.text.lstrip("\ufeff").splitlines()[1:]] == ids[::-1], \
        "every message of the selection, not one page"


async def test_dashboard_counts_and_fragment(herald: Running) -> None:
    c = herald.client
    await sign_in(c)
    token = csrf_of((await c.get("/console/send")).text)
    await c.post("/console/send", data={"csrf_token": token, "channel": "sms", "to": "+14155550100",
                                         "body": "x"})
    dash = await c.get("/console")
    assert 'hx-get="/console/fragments/dashboard"' in dash.text
    assert 'src="/console/static/htmx.min.js"' in dash.text
    fragment = await c.get("/console/fragments/dashboard", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert re.search(r'<div class="num">1</div><div class="label">messages, last 24 h', fragment.text)
    assert re.search(r'<div class="num">1</div><div class="label">waiting to send', fragment.text)
    assert "+14155550100" in fragment.text


async def test_logout_ends_the_session(herald: Running) -> None:
    c = herald.client
    await sign_in(c)
    dash = await c.get("/console")
    old = c.cookies.get(cs.SESSION_COOKIE)
    assert old
    resp = await c.post("/console/logout", data={"csrf_token": csrf_of(dash.text)})
    assert (resp.status_code, resp.headers["location"]) == (303, "/console/login")
    assert (await c.get("/console")).status_code == 303
    c.cookies.set(cs.SESSION_COOKIE, old, domain="testserver", path="/console")  # a replayed cookie
    assert (await c.get("/console")).status_code == 303


async def test_static_files_and_no_console_in_openapi(herald: Running) -> None:
    c = herald.client
    js = await c.get("/console/static/htmx.min.js")
    assert js.status_code == 200
    assert "htmx" in js.text[:200]
    assert (await c.get("/console/static/console.css")).status_code == 200
    paths = (await c.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/console")]
