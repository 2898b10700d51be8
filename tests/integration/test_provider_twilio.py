"""The Twilio provider against the fake Twilio server: wire format, error mapping, reconcile, signatures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from herald.channels.base import Envelope, PermanentError, Receipt, SendResult, TransientError
from herald.channels.sms import twilio
from herald.channels.sms.twilio import (
    SPEC,
    TwilioProvider,
    TwilioSettings,
    compute_signature,
    parse_status_callback,
    verify_signature,
)
from herald.fakes.twilio import FakeTwilio

FROM = "+15005550006"
TO = "+447700900123"
KEY_SID = "SK" + "1" * 32
KEY_SECRET = "key-secret"
SERVICE_SID = "MG" + "2" * 32
OTHER_ACCOUNT = "AC" + "f" * 32
KEY_PAIR = {"api_key_sid": KEY_SID, "api_key_secret": KEY_SECRET}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(callback_delay=0.01, api_keys={KEY_SID: KEY_SECRET}) as server:
        yield server


def settings_for(fake: FakeTwilio, **overrides: Any) -> TwilioSettings:
    values: dict[str, Any] = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "from_number": FROM,
        "base_url": fake.base_url,
        **overrides,
    }
    return TwilioSettings(**values)


@pytest.fixture
async def provider(fake: FakeTwilio) -> AsyncIterator[TwilioProvider]:
    p = TwilioProvider(settings_for(fake))
    yield p
    await p.close()


def envelope(body: str = "Your code is 123456", to: str = TO, **extra: Any) -> Envelope:
    return Envelope(message_id="msg-1", channel="sms", to=to, content={"body": body}, **extra)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_send_returns_fake_sid_and_fake_records_the_form(fake: FakeTwilio, provider: TwilioProvider):
    result = await provider.send(envelope(callback_url="https://herald.example/hooks/twilio"))

    assert len(fake.messages) == 1
    recorded = fake.messages[0]
    assert result == SendResult(provider_message_id=recorded["sid"], code="queued")
    assert recorded["sid"].startswith("SM")
    assert len(recorded["sid"]) == 34
    assert recorded["to"] == TO
    assert recorded["from"] == FROM
    assert recorded["body"] == "Your code is 123456"
    assert recorded["status_callback"] == "https://herald.example/hooks/twilio"
    assert fake.request_count == 1


async def test_sender_override_is_sent_as_from(fake: FakeTwilio, provider: TwilioProvider):
    await provider.send(envelope(sender="HERALD"))
    assert fake.messages[0]["from"] == "HERALD"
    assert fake.messages[0]["status_callback"] is None


async def test_messaging_service_sid_replaces_from(fake: FakeTwilio):
    p = TwilioProvider(settings_for(fake, from_number=None, messaging_service_sid=SERVICE_SID))
    try:
        result = await p.send(envelope())
    finally:
        await p.close()
    recorded = fake.messages[0]
    assert recorded["messaging_service_sid"] == SERVICE_SID
    assert recorded["from"] is None
    assert result.code == "accepted"


async def test_api_key_pair_is_used_for_basic_auth(fake: FakeTwilio):
    # The auth token is wrong on purpose: only the key pair can have authenticated this request.
    p = TwilioProvider(settings_for(fake, auth_token="not-the-token", **KEY_PAIR))
    try:
        result = await p.send(envelope())
    finally:
        await p.close()
    assert result.provider_message_id == fake.messages[0]["sid"]


class Case(NamedTuple):
    """One row of the error table: provider settings, an injected fake failure, the envelope, the outcome."""

    error: type[Exception]
    attrs: dict[str, Any]
    settings: dict[str, Any] = {}
    failure: tuple[str, dict[str, Any]] | None = None
    env: dict[str, Any] = {}
    recorded: bool = False
    """Whether the fake accepted (recorded) the message in spite of the error."""


ERROR_CASES = {
    "bad-credentials": Case(PermanentError, {"code": "20003"}, settings={"auth_token": "wrong"}),
    "bad-api-key": Case(PermanentError, {"code": "20003"}, settings={**KEY_PAIR, "api_key_secret": "nope"}),
    "wrong-account": Case(
        PermanentError, {"code": "20404"}, settings={**KEY_PAIR, "account_sid": OTHER_ACCOUNT}
    ),
    "invalid-to": Case(PermanentError, {"code": "21211"}, env={"to": "07700900123"}),
    "invalid-from": Case(PermanentError, {"code": "21606"}, env={"sender": "+0"}),
    "body-too-long": Case(PermanentError, {"code": "21617"}, env={"body": "x" * 1601}),
    "server-error": Case(
        TransientError, {"code": "20500", "maybe_sent": False, "retry_after": None}, failure=("500", {})
    ),
    "rate-limited": Case(
        TransientError,
        {"code": "20429", "maybe_sent": False, "retry_after": 7.0},
        failure=("429", {"retry_after": 7}),
    ),
    "slow-past-timeout": Case(
        TransientError,
        {"maybe_sent": True},
        settings={"timeout": 1.0},
        failure=("slow", {"delay": 1.6}),
        recorded=True,
    ),
    "accept-then-drop": Case(TransientError, {"maybe_sent": True}, failure=("drop", {}), recorded=True),
}


@pytest.mark.parametrize("case", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
async def test_error_mapping(fake: FakeTwilio, case: Case):
    if case.failure is not None:
        fake.fail(case.failure[0], **case.failure[1])
    p = TwilioProvider(settings_for(fake, **case.settings))
    try:
        with pytest.raises(case.error) as caught:
            await p.send(envelope(**case.env))
    finally:
        await p.close()
    assert type(caught.value) is case.error
    for name, value in case.attrs.items():
        assert getattr(caught.value, name) == value, name
    if case.failure and case.failure[0] == "slow":
        await asyncio.sleep(0.8)  # the fake answers late; the message is accepted all the same
    assert len(fake.messages) == (1 if case.recorded else 0)


async def test_failures_apply_to_the_next_count_posts_only(fake: FakeTwilio, provider: TwilioProvider):
    fake.fail("500", count=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            await provider.send(envelope())
    result = await provider.send(envelope())
    assert result.provider_message_id == fake.messages[0]["sid"]
    assert fake.request_count == 3


async def test_drop_then_reconcile_finds_the_accepted_message(fake: FakeTwilio, provider: TwilioProvider):
    since = datetime.now(UTC)
    env = envelope(body="Drop me, find me")
    await provider.send(envelope(body="Another message to the same number"))
    fake.fail("drop")
    with pytest.raises(TransientError) as caught:
        await provider.send(env)
    assert caught.value.maybe_sent is True
    dropped_sid = fake.messages[-1]["sid"]

    found = await provider.reconcile(env, since)
    assert found is not None
    assert found.provider_message_id == dropped_sid

    assert await provider.reconcile(envelope(body="Never sent"), since) is None
    assert await provider.reconcile(envelope(body="Drop me, find me", to="+447700900999"), since) is None
    assert await provider.reconcile(env, datetime.now(UTC) + timedelta(hours=1)) is None


async def test_reconcile_follows_pages_and_gives_up_transiently(
    fake: FakeTwilio, provider: TwilioProvider, monkeypatch: pytest.MonkeyPatch
):
    since = datetime.now(UTC)
    target = envelope(body="oldest")
    for body in ("oldest", "middle", "newest"):
        await provider.send(envelope(body=body))
    monkeypatch.setattr(twilio, "RECONCILE_PAGE_SIZE", 1)
    found = await provider.reconcile(target, since)
    assert found is not None
    assert found.provider_message_id == fake.messages[0]["sid"]
    monkeypatch.setattr(twilio, "RECONCILE_MAX_PAGES", 2)
    with pytest.raises(TransientError):
        await provider.reconcile(target, since)


async def test_connection_refused_is_transient_and_not_sent():
    port = closed_port()
    p = TwilioProvider(
        TwilioSettings(
            account_sid="AC" + "0" * 32, auth_token="t", from_number=FROM, base_url=f"http://127.0.0.1:{port}"
        )
    )
    try:
        with pytest.raises(TransientError) as caught:
            await p.send(envelope())
        assert caught.value.maybe_sent is False
        with pytest.raises(TransientError):
            await p.reconcile(envelope(), datetime.now(UTC))
    finally:
        await p.close()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str], str | None]]]]:
    """A tiny webhook endpoint recording (url it was called on, form, X-Twilio-Signature)."""
    calls: list[tuple[str, dict[str, str], str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        calls.append((str(request.url), form, request.headers.get("X-Twilio-Signature")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/twilio/status", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/twilio/status?tenant=acme", calls
    await runner.cleanup()


async def wait_for(calls: list[Any], n: int) -> None:
    for _ in range(200):
        if len(calls) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} callbacks, got {len(calls)}")


async def test_signed_status_callbacks_verify(fake: FakeTwilio, provider: TwilioProvider, receiver: Any):
    url, calls = receiver
    result = await provider.send(envelope(callback_url=url))
    await wait_for(calls, 2)

    assert [form["MessageStatus"] for _, form, _ in calls] == ["sent", "delivered"]
    for called_url, form, signature in calls:
        assert called_url == url
        assert form["MessageSid"] == form["SmsSid"] == result.provider_message_id
        assert form["AccountSid"] == fake.account_sid
        assert (form["From"], form["To"], form["ApiVersion"]) == (FROM, TO, "2010-04-01")
        assert verify_signature(fake.auth_token, called_url, form, signature) is True
        assert verify_signature("another-token", called_url, form, signature) is False
        assert verify_signature(fake.auth_token, called_url, form, None) is False
        assert verify_signature(fake.auth_token, called_url, form, "") is False
        assert verify_signature(fake.auth_token, called_url + "&x=1", form, signature) is False
        tampered = {**form, "MessageStatus": "failed"}
        assert verify_signature(fake.auth_token, called_url, tampered, signature) is False
    receipts = [parse_status_callback(form) for _, form, _ in calls]
    assert [r.state if r else None for r in receipts] == ["sent", "delivered"]
    assert fake.stats() == {"requests": 1, "peak_in_flight": 1, "accepted": 1, "callbacks_sent": 2,
                            "callback_failures": 0}


async def test_undeliverable_number_gets_30003(fake: FakeTwilio, provider: TwilioProvider, receiver: Any):
    url, calls = receiver
    fake.undeliverable.add(TO)
    result = await provider.send(envelope(callback_url=url))
    await wait_for(calls, 2)
    receipt = parse_status_callback(calls[1][1])
    assert receipt == Receipt(
        provider_message_id=str(result.provider_message_id),
        state="undelivered",
        code="30003",
        detail="Twilio: undelivered (30003 Unreachable destination handset)",
    )


async def test_callback_failures_are_counted_not_raised(fake: FakeTwilio, provider: TwilioProvider):
    await provider.send(envelope(callback_url=f"http://127.0.0.1:{closed_port()}/hook"))
    for _ in range(200):
        if fake.callback_failures >= 2:
            break
        await asyncio.sleep(0.01)
    assert (fake.callbacks_sent, fake.callback_failures) == (0, 2)


def test_twilio_documented_signature_vector():
    # From Twilio's request-validation documentation (twilio-php docs/usage/validation.rst).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert compute_signature("12345", url, params) == expected
    assert verify_signature("12345", url, params, expected) is True
    assert verify_signature("12345", url, {**params, "Digits": "1235"}, expected) is False
    assert compute_signature("12345", url, dict(reversed(params.items()))) == expected  # sorted by name


def test_signature_accepts_explicit_default_port():
    params = {"MessageSid": "SM1"}
    signed_with_port = compute_signature("tok", "https://hooks.example:443/twilio", params)
    assert verify_signature("tok", "https://hooks.example/twilio", params, signed_with_port) is True
    assert verify_signature("tok", "https://hooks.example:8443/twilio", params, signed_with_port) is False


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"MessageSid": "SM1", "MessageStatus": "sent"}, Receipt("SM1", "sent", None, "Twilio: sent")),
        (
            {"MessageSid": "SM3", "SmsStatus": "delivered"},
            Receipt("SM3", "delivered", None, "Twilio: delivered"),
        ),
        ({"SmsSid": "SM2", "SmsStatus": "read"}, Receipt("SM2", "delivered", None, "Twilio: read")),
        (
            {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30008"},
            Receipt("SM1", "failed", "30008", "Twilio: failed (30008 Unknown error)"),
        ),
        (
            {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30005"},
            Receipt("SM1", "bounced", "30005", "Twilio: undelivered (30005 Unknown destination handset)"),
        ),
        (  # the handset is off or out of reach: temporary, not a bounce
            {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"},
            Receipt("SM1", "undelivered", "30003", "Twilio: undelivered (30003 Unreachable destination handset)"),
        ),
        (
            {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "63016"},
            Receipt("SM1", "undelivered", "63016", "Twilio: undelivered (error 63016)"),
        ),
        ({"MessageSid": "SM1", "MessageStatus": "queued"}, None),
        ({"MessageSid": "SM1", "MessageStatus": "accepted"}, None),
        ({"MessageSid": "SM1", "MessageStatus": "sending"}, None),
        ({"MessageSid": "SM1", "MessageStatus": "received"}, None),
        ({"MessageStatus": "delivered"}, None),
    ],
)
def test_parse_status_callback(form: dict[str, str], expected: Receipt | None):
    assert parse_status_callback(form) == expected


VALID = {"account_sid": "AC" + "a" * 32, "auth_token": "secret", "from_number": FROM}


@pytest.mark.parametrize(
    "changes",
    [
        {"from_number": None},
        {"account_sid": "AC123"},
        {"account_sid": "XX" + "a" * 32},
        {"messaging_service_sid": "MG123"},
        {"api_key_sid": KEY_SID},
        {"api_key_sid": "AB" + "1" * 32, "api_key_secret": "s"},
        {"timeout": 0.5},
        {"max_connections": 0},
        {"from_number": "not a valid sender"},
        {"unexpected": 1},
    ],
)
def test_settings_validation_rejects(changes: dict[str, Any]):
    with pytest.raises(ValidationError):
        TwilioSettings(**{**VALID, **changes})


def test_settings_accept_messaging_service_alone_and_spec_declares_secrets():
    settings = TwilioSettings(**{**VALID, "from_number": None, "messaging_service_sid": SERVICE_SID})
    assert settings.messaging_service_sid == SERVICE_SID
    assert settings.base_url == "https://api.twilio.com"
    assert SPEC.kind == "twilio"
    assert SPEC.channels == frozenset({"sms"})
    assert SPEC.secret_field_names() == ("auth_token", "api_key_secret")
    assert isinstance(SPEC.factory(settings, None), TwilioProvider)


async def test_fake_runs_on_a_thread_and_obeys_admin_http():
    fake = FakeTwilio(callbacks=False)
    with fake.running():
        async with aiohttp.ClientSession(base_url=fake.base_url) as http:
            async with http.post("/_fake/fail", json={"mode": "429", "retry_after": 3}) as resp:
                assert resp.status == 200
            p = TwilioProvider(settings_for(fake))
            try:
                with pytest.raises(TransientError) as caught:
                    await p.send(envelope())
                assert caught.value.retry_after == 3.0
                sent = await p.send(envelope())
            finally:
                await p.close()
            async with http.get("/_fake/messages") as resp:
                listed = await resp.json()
            assert [m["sid"] for m in listed] == [sent.provider_message_id]
            async with http.get("/_fake/stats") as resp:
                stats = await resp.json()
            assert stats == {"requests": 2, "peak_in_flight": 1, "accepted": 1, "callbacks_sent": 0,
                             "callback_failures": 0}
            async with http.post("/_fake/reset") as resp:
                assert resp.status == 200
            assert fake.messages == []
            async with http.post("/_fake/fail", json={"mode": "explode"}) as resp:
                assert resp.status == 400
