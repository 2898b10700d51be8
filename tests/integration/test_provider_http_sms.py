"""The generic ``http`` SMS provider against the fake gateway (form, JSON and GET requests; the error table),
and on the real app (SQLite and PostgreSQL): a bad request template refused at creation, the token-checked
inbound webhook (STOP suppresses and confirms once), and a message sent through the worker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
import pytest

from herald.channels.base import Envelope, PermanentError, SendResult, TransientError
from herald.channels.sms.httpsms import HttpSmsProvider, HttpSmsSettings
from herald.fakes.httpsms import DEFAULT_PASSWORD, DEFAULT_TOKEN, DEFAULT_USERNAME, SEND_PATH, FakeHttpSms
from tests.conftest import Running, wait_for

FROM = "+14155550199"
TO = "+254712345678"
FORM_BODY = {"to": "{{ to_digits }}", "text": "{{ text }}", "sender": "{{ from }}", "ref": "{{ message_id }}"}
RULES = {"success_path": "status", "success_value": "OK", "message_id_path": "id"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeHttpSms]:
    async with FakeHttpSms() as server:
        yield server


def gateway(fake: FakeHttpSms, **overrides: Any) -> HttpSmsSettings:
    values: dict[str, Any] = {"url": fake.base_url + SEND_PATH, "from_number": FROM, "auth": "bearer",
                              "token": fake.token, "body": FORM_BODY, **RULES, **overrides}
    return HttpSmsSettings(**values)


def envelope(body: str = "Your code is 123456", **extra: Any) -> Envelope:
    return Envelope(message_id="msg_01TEST", channel="sms", to=TO, content={"body": body}, **extra)


async def send(settings: HttpSmsSettings, env: Envelope | None = None) -> SendResult:
    p = HttpSmsProvider(settings)
    try:
        return await p.send(env or envelope())
    finally:
        await p.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_form_post_with_a_bearer_token(fake: FakeHttpSms) -> None:
    result = await send(gateway(fake), envelope(sender="HERALD"))
    [sent] = fake.messages
    assert result == SendResult(provider_message_id=sent["id"], code="200")
    assert (sent["method"], sent["content_type"]) == ("POST", "application/x-www-form-urlencoded")
    assert (sent["to"], sent["from"], sent["text"]) == ("254712345678", "HERALD", "Your code is 123456")
    assert sent["fields"]["ref"] == "msg_01TEST"


async def test_json_post_with_basic_auth_and_unicode(fake: FakeHttpSms) -> None:
    fake.auth = "basic"
    settings = gateway(fake, auth="basic", token=None, username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD,
                       body_format="json", body={**FORM_BODY, "to": "{{ to }}", "unicode": "{{ unicode }}"})
    result = await send(settings, envelope(body="Grüße 😀"))
    [sent] = fake.messages
    assert (sent["content_type"], sent["to"], sent["text"]) == ("application/json", TO, "Grüße 😀")
    assert (sent["from"], sent["fields"]["unicode"]) == (FROM, "true")
    assert result.provider_message_id == sent["id"]


async def test_get_with_query_parameters_and_a_header_token(fake: FakeHttpSms) -> None:
    fake.auth = "none"
    settings = gateway(fake, method="GET", body_format="none", body={}, auth="header", auth_header="X-Api-Key",
                       token="unused-by-this-fake", query={"to": "{{ to_digits }}", "text": "{{ text }}",
                                                           "from": "{{ from }}"})
    result = await send(settings, envelope(body="a & b = c?"))
    [sent] = fake.messages
    assert (sent["method"], sent["text"], sent["to"], sent["from"]) == ("GET", "a & b = c?", "254712345678", FROM)
    assert result.provider_message_id == sent["id"]


class Case(NamedTuple):
    """One row of the error table: provider settings, an injected fake failure, the outcome."""

    error: type[Exception]
    attrs: dict[str, Any]
    settings: dict[str, Any] = {}
    failure: tuple[str, dict[str, Any]] | None = None
    recorded: bool = False
    """Whether the fake accepted (recorded) the message in spite of the error."""


ERROR_CASES = {
    "server-error": Case(TransientError, {"code": "500", "maybe_sent": False}, failure=("500", {})),
    "rate-limited": Case(TransientError, {"code": "429", "retry_after": 3.0}, failure=("429", {"retry_after": 3})),
    "rejected-400": Case(PermanentError, {"code": "400"}, failure=("reject", {})),
    "bad-credentials": Case(PermanentError, {"code": "401"}, settings={"token": "wrong"}),
    "missing-field": Case(PermanentError, {"code": "400"}, settings={"body": {"to": "{{ to }}"}}),
    "value-rule-refuses": Case(PermanentError, {"code": "OK"}, settings={"success_value": "ACCEPTED"},
                               recorded=True),
    "slow-past-timeout": Case(TransientError, {"maybe_sent": True}, settings={"timeout": 1.0},
                              failure=("slow", {"delay": 1.6}), recorded=True),
    "accept-then-drop": Case(TransientError, {"maybe_sent": True}, failure=("drop", {}), recorded=True),
    "connection-refused": Case(TransientError, {"maybe_sent": False},
                               settings={"url": f"http://127.0.0.1:{closed_port()}/send"}),
}


@pytest.mark.parametrize("case", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
async def test_error_mapping(fake: FakeHttpSms, case: Case) -> None:
    if case.failure is not None:
        fake.fail(case.failure[0], **case.failure[1])
    with pytest.raises(case.error) as caught:
        await send(gateway(fake, **case.settings))
    assert type(caught.value) is case.error
    for name, value in case.attrs.items():
        assert getattr(caught.value, name) == value, name
    if case.failure and case.failure[0] == "slow":
        await asyncio.sleep(0.8)  # the fake answers late; the message is accepted all the same
    assert len(fake.messages) == (1 if case.recorded else 0)
    assert DEFAULT_TOKEN not in str(caught.value)


async def test_reconcile_cannot_tell(fake: FakeHttpSms) -> None:
    p = HttpSmsProvider(gateway(fake))
    assert await p.reconcile(envelope(), datetime.now(UTC)) is None
    await p.close()


# -- on the real app ------------------------------------------------------------------------------------------

HOOK_TOKEN = "hook-token-0123456789"
OURS, THEM = "+14155550199", "+14155550123"


async def setup(herald: Running, **settings: Any) -> tuple[httpx.AsyncClient, str]:
    client = await herald.authed()
    values = {"url": "https://sms.example/send", "from_number": OURS, "body": FORM_BODY, "auth": "bearer",
              "token": "gateway-token", "webhook_token": HOOK_TOKEN, **RULES} | settings
    resp = await client.post("/v1/providers", json={"name": "gateway", "kind": "http", "priority": 50,
                                                    "settings": values})
    assert resp.status_code == 201, resp.text
    return client, str(resp.json()["id"])


async def test_a_bad_template_is_refused_at_creation_naming_the_field(herald: Running) -> None:
    client = await herald.authed()
    settings = {"url": "https://sms.example/send", "from_number": OURS, "body": {"msg": "{{ text | nosuch }}"}}
    resp = await client.post("/v1/providers", json={"name": "bad", "kind": "http", "settings": settings})
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["code"] == "invalid_settings"
    assert problem["errors"][0]["field"] == "settings.body.msg"
    assert "unknown filter" in problem["errors"][0]["message"]
    settings["body"] = {"msg": "{{ recipient }}"}
    resp = await client.post("/v1/providers", json={"name": "bad", "kind": "http", "settings": settings})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "settings.body.msg"


async def test_secrets_are_stored_not_shown(herald: Running) -> None:
    client, provider_id = await setup(herald)
    shown = (await client.get(f"/v1/providers/{provider_id}")).json()
    assert shown["secrets"] == {"password": False, "token": True, "webhook_token": True}
    assert "gateway-token" not in str(shown)
    assert HOOK_TOKEN not in str(shown)


async def inbound(herald: Running, provider_id: str, fields: dict[str, Any], token: str | None = HOOK_TOKEN,
                  json: bool = False) -> int:
    path = f"/webhooks/http/{provider_id}/inbound"
    params = {"token": token} if token is not None else {}
    if json:
        resp = await herald.client.post(path, params=params, json=fields)
    else:
        resp = await herald.client.post(path, params=params, data=fields)
    return resp.status_code


async def received(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return list((await client.get("/v1/inbound", params=params)).json()["data"])


async def test_inbound_stop_suppresses_and_confirms_once(herald: Running) -> None:
    client, provider_id = await setup(herald)
    stop = {"from": THEM[1:], "to": OURS, "text": "Stop", "id": "gw-1001"}
    assert await inbound(herald, provider_id, stop) == 204
    assert await inbound(herald, provider_id, stop, json=True) == 204  # the gateway retried
    stored = await received(client, **{"from": THEM})
    assert len(stored) == 1
    assert (stored[0]["to"], stored[0]["keyword"], stored[0]["action"]) == (OURS, "STOP", "opt_out")
    confirmation = (await client.get(f"/v1/messages/{stored[0]['reply_id']}")).json()
    assert confirmation["state"] == "queued"
    assert (confirmation["to"], confirmation["from"], confirmation["provider_id"]) == (THEM, OURS, provider_id)
    check = (await client.get("/v1/suppressions", params={"address": THEM})).json()
    assert check["blocked"] is True
    assert len((await client.get("/v1/messages", params={"to": THEM})).json()["data"]) == 1


async def test_inbound_needs_the_token(herald: Running) -> None:
    client, provider_id = await setup(herald)
    stop = {"from": THEM, "to": OURS, "text": "STOP", "id": "gw-1002"}
    assert await inbound(herald, provider_id, stop, token=None) == 403
    assert await inbound(herald, provider_id, stop, token="hook-token-wrong") == 403
    assert await inbound(herald, provider_id, stop, token="") == 403
    assert await inbound(herald, "prv_nope", stop) == 404
    assert await received(client) == []
    assert not (await client.get("/v1/suppressions", params={"address": THEM})).json()["blocked"]


async def test_inbound_is_off_without_a_webhook_token_and_field_names_are_configurable(herald: Running) -> None:
    client = await herald.authed()
    values = {"url": "https://sms.example/send", "from_number": OURS, "body": FORM_BODY}
    resp = await client.post("/v1/providers", json={"name": "no-hook", "kind": "http", "settings": values})
    assert await inbound(herald, resp.json()["id"], {"from": THEM, "to": OURS, "id": "x"}, token="") == 403
    assert await inbound(herald, resp.json()["id"], {"from": THEM, "to": OURS, "id": "x"}, token="any") == 403

    _, provider_id = await setup(herald, inbound_from_field="msisdn", inbound_to_field="shortcode",
                                 inbound_text_field="message", inbound_id_field="msgId")
    fields = {"msisdn": "14155550124", "shortcode": OURS[1:], "message": "HELP", "msgId": 77}
    assert await inbound(herald, provider_id, fields, json=True) == 204  # a JSON number as the id
    [help_] = await received(client, **{"from": "+14155550124"})
    assert (help_["action"], help_["to"]) == ("help", OURS)
    assert await inbound(herald, provider_id, {"msisdn": THEM, "message": "hi"}) == 422


async def test_through_the_worker_a_message_goes_out_through_the_gateway(herald_with_worker: Running) -> None:
    async with FakeHttpSms() as fake:
        client, _ = await setup(herald_with_worker, url=fake.base_url + SEND_PATH, token=fake.token,
                                body_format="json", timeout=1.0)
        resp = await client.post("/v1/messages", json={"channel": "sms", "to": THEM, "body": "Statement ready"})
        mid = resp.json()["id"]

        async def settled() -> dict[str, Any] | None:
            body = (await client.get(f"/v1/messages/{mid}")).json()
            return dict(body) if body["state"] in ("sent", "failed") else None

        msg = await wait_for(settled, timeout=15)
        assert msg["state"] == "sent", msg
        [sent] = fake.messages
        assert (sent["to"], sent["from"], sent["text"], sent["fields"]["ref"]) == (
            THEM[1:], OURS, "Statement ready", mid)
        assert msg["provider_message_id"] == sent["id"]
