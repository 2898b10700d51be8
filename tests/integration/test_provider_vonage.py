"""The Vonage provider against the fake Vonage server: wire format (numbers without +, client-ref, unicode, long
texts in parts), the error table, signed delivery receipts, and the fake's own admin interface."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aiohttp
import pytest
from aiohttp import web

from herald.channels.base import Envelope, PermanentError, SendResult, TransientError
from herald.channels.sms.vonage import (
    VonageProvider,
    VonageSettings,
    parse_delivery_receipt,
    verify_signature,
)
from herald.fakes.vonage import FakeVonage

FROM = "+14155550199"
TO = "+447700900123"
SIGNING = "fake-signature-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeVonage]:
    async with FakeVonage(signature_secret=SIGNING, callback_delay=0.01) as server:
        yield server


def settings_for(fake: FakeVonage, **overrides: Any) -> VonageSettings:
    values: dict[str, Any] = {"api_key": fake.api_key, "api_secret": fake.api_secret, "from_number": FROM,
                              "base_url": fake.base_url, **overrides}
    return VonageSettings(**values)


@pytest.fixture
async def provider(fake: FakeVonage) -> AsyncIterator[VonageProvider]:
    p = VonageProvider(settings_for(fake))
    yield p
    await p.close()


def envelope(body: str = "Your code is 123456", to: str = TO, **extra: Any) -> Envelope:
    return Envelope(message_id="msg_01TEST", channel="sms", to=to, content={"body": body}, **extra)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_send_uses_vonage_number_format_and_client_ref(fake: FakeVonage, provider: VonageProvider):
    url = "https://herald.example/webhooks/vonage/prv_1/status?mid=msg_01TEST&tenant=acme"
    result = await provider.send(envelope(callback_url=url))

    assert len(fake.messages) == 1
    recorded = fake.messages[0]
    assert result == SendResult(provider_message_id=recorded["message-id"], code="0")
    assert (recorded["to"], recorded["from"]) == ("447700900123", "14155550199")  # no +
    assert (recorded["text"], recorded["type"]) == ("Your code is 123456", "text")
    assert recorded["client-ref"] == "msg_01TEST"
    assert recorded["callback"] == "https://herald.example/webhooks/vonage/prv_1/status?tenant=acme"  # no mid
    assert len(recorded["parts"]) == 1
    assert fake.request_count == 1


async def test_sender_override_and_alphanumeric_sender(fake: FakeVonage, provider: VonageProvider):
    await provider.send(envelope(sender="HERALD"))
    await provider.send(envelope(sender="+14155550111"))
    assert [m["from"] for m in fake.messages] == ["HERALD", "14155550111"]
    assert fake.messages[0]["callback"] is None


@pytest.mark.parametrize(
    ("body", "kind", "parts", "per_part"),
    [
        ("x" * 160, "text", 1, [160]),
        ("y" * 161, "text", 2, [153, 8]),
        ("z" * 459, "text", 3, [153, 153, 153]),
        ("Grüße 😀", "unicode", 1, [7]),
        ("é" * 160, "text", 1, [160]),  # é is in the GSM-7 alphabet
        ("ç" * 71, "unicode", 2, [67, 4]),
    ],
)
async def test_long_and_unicode_texts_are_sent_in_parts(fake: FakeVonage, provider: VonageProvider, body: str,
                                                        kind: str, parts: int, per_part: list[int]):
    result = await provider.send(envelope(body=body))
    recorded = fake.messages[0]
    assert recorded["type"] == kind
    assert recorded["text"] == body
    assert [len(p["text"]) for p in recorded["parts"]] == per_part
    assert len(recorded["parts"]) == parts
    assert result.provider_message_id == recorded["parts"][0]["message-id"] == recorded["message-id"]
    assert len({p["message-id"] for p in recorded["parts"]}) == parts
    assert fake.stats()["parts"] == parts


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
    "throttled": Case(TransientError, {"code": "1", "retry_after": 1.0, "maybe_sent": False}, failure=("throttle", {})),
    "number-barred": Case(PermanentError, {"code": "7"}, failure=("barred", {})),
    "bad-credentials": Case(PermanentError, {"code": "4"}, settings={"api_secret": "wrong"}),
    "unknown-key": Case(PermanentError, {"code": "4"}, settings={"api_key": "otherkey"}),
    "server-error": Case(TransientError, {"code": "500", "maybe_sent": False}, failure=("500", {})),
    "invalid-to": Case(PermanentError, {"code": "3"}, env={"to": "07700900123"}),
    "invalid-from": Case(PermanentError, {"code": "15"}, env={"sender": "no such sender!"}),
    "text-too-long": Case(PermanentError, {"code": "12"}, env={"body": "x" * 3201}),
    "empty-body": Case(PermanentError, {"code": "2"}, env={"body": ""}),
    "slow-past-timeout": Case(TransientError, {"maybe_sent": True}, settings={"timeout": 1.0},
                              failure=("slow", {"delay": 1.6}), recorded=True),
    "accept-then-drop": Case(TransientError, {"maybe_sent": True}, failure=("drop", {}), recorded=True),
}


@pytest.mark.parametrize("case", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
async def test_error_mapping(fake: FakeVonage, case: Case):
    if case.failure is not None:
        fake.fail(case.failure[0], **case.failure[1])
    p = VonageProvider(settings_for(fake, **case.settings))
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


async def test_failures_apply_to_the_next_count_sends_only(fake: FakeVonage, provider: VonageProvider):
    fake.fail("throttle", count=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            await provider.send(envelope())
    result = await provider.send(envelope())
    assert result.provider_message_id == fake.messages[0]["message-id"]
    assert fake.request_count == 3


async def test_connection_refused_is_transient_not_sent_and_reconcile_cannot_tell(provider: VonageProvider):
    p = VonageProvider(VonageSettings(api_key="k1234", api_secret="s", from_number=FROM,
                                      base_url=f"http://127.0.0.1:{closed_port()}"))
    try:
        with pytest.raises(TransientError) as caught:
            await p.send(envelope())
        assert caught.value.maybe_sent is False
        assert await p.reconcile(envelope(), datetime.now(UTC)) is None
    finally:
        await p.close()


Calls = list[tuple[str, dict[str, str]]]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Calls]]:
    """A tiny DLR endpoint recording (method, parameters) whichever way Vonage sends them."""
    calls: Calls = []

    async def hook(request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update({k: str(v) for k, v in (await request.post()).items()})
        calls.append((request.method, params))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/vonage/status", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/vonage/status", calls
    await runner.cleanup()


async def wait_for(calls: list[Any], n: int) -> None:
    for _ in range(300):
        if len(calls) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} callbacks, got {len(calls)}")


@pytest.mark.parametrize("method", ["GET", "POST", "JSON"])
async def test_signed_delivery_receipts_verify_for_every_part(fake: FakeVonage, provider: VonageProvider,
                                                              receiver: Any, method: Any):
    url, calls = receiver
    fake.callback_method = method
    result = await provider.send(envelope(body="w" * 200, callback_url=url))
    await wait_for(calls, 4)  # accepted + delivered, for each of 2 parts

    recorded = fake.messages[0]
    assert {m for m, _ in calls} == {"POST" if method == "JSON" else method}
    assert [(p["status"], p["messageId"]) for _, p in calls] == [
        (status, part["message-id"]) for status in ("accepted", "delivered") for part in recorded["parts"]]
    for _, params in calls:
        assert (params["msisdn"], params["to"]) == ("447700900123", "14155550199")
        assert (params["client-ref"], params["api-key"]) == ("msg_01TEST", fake.api_key)
        assert verify_signature(SIGNING, params) is True
        assert verify_signature("another-secret", params) is False
        assert verify_signature(SIGNING, {**params, "status": "failed"}) is False
        assert verify_signature(SIGNING, params, "sha256") is False
    receipts = [parse_delivery_receipt(p) for _, p in calls]
    assert [r.state if r else None for r in receipts] == [None, None, "delivered", "delivered"]
    assert receipts[2] is not None
    assert (receipts[2].provider_message_id, receipts[2].herald_message_id) == (result.provider_message_id,
                                                                                 "msg_01TEST")
    assert fake.stats() == {"requests": 1, "accepted": 1, "parts": 2, "callbacks_sent": 4, "callback_failures": 0}


async def test_undeliverable_number_fails_with_its_error_code(fake: FakeVonage, provider: VonageProvider,
                                                              receiver: Any):
    url, calls = receiver
    fake.undeliverable[TO] = "3"
    await provider.send(envelope(callback_url=url))
    await wait_for(calls, 2)
    receipt = parse_delivery_receipt(calls[1][1])
    assert receipt is not None
    assert (receipt.state, receipt.code, receipt.detail) == ("bounced", "3", "Vonage: failed (3 Absent subscriber "
                                                                             "- permanent)")


async def test_without_a_signature_secret_receipts_carry_the_api_key_only(receiver: Any):
    url, calls = receiver
    async with FakeVonage(callback_delay=0.01) as fake:
        p = VonageProvider(settings_for(fake))
        try:
            await p.send(envelope(callback_url=url))
            await wait_for(calls, 2)
        finally:
            await p.close()
    assert calls[1][1]["api-key"] == fake.api_key
    assert not {"sig", "timestamp", "nonce"} & set(calls[1][1])


async def test_callback_failures_are_counted_not_raised(fake: FakeVonage, provider: VonageProvider):
    await provider.send(envelope(callback_url=f"http://127.0.0.1:{closed_port()}/hook"))
    for _ in range(300):
        if fake.callback_failures >= 2:
            break
        await asyncio.sleep(0.01)
    assert (fake.callbacks_sent, fake.callback_failures) == (0, 2)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_fake_runs_on_a_thread_and_obeys_admin_http():
    fake = FakeVonage(callbacks=False)
    with fake.running():
        async with aiohttp.ClientSession(base_url=fake.base_url) as http:
            async with http.post("/_fake/fail", json={"mode": "throttle"}) as resp:
                assert resp.status == 200
            p = VonageProvider(settings_for(fake))
            try:
                with pytest.raises(TransientError) as caught:
                    await p.send(envelope())
                assert caught.value.code == "1"
                sent = await p.send(envelope())
            finally:
                await p.close()
            # Basic auth and a JSON body work too, as Vonage's curl examples do.
            body = {"from": "HERALD", "to": "14155550100", "text": "hi"}
            async with http.post("/sms/json", json=body, headers=basic(fake.api_key, fake.api_secret)) as resp:
                assert (await resp.json())["messages"][0]["status"] == "0"
            async with http.post("/sms/json", json=body, headers=basic(fake.api_key, "no")) as resp:
                assert (await resp.json())["messages"] == [{"status": "4", "error-text": "Bad Credentials"}]
            async with http.get("/_fake/messages") as resp:
                listed = await resp.json()
            assert [m["message-id"] for m in listed][:1] == [sent.provider_message_id]
            async with http.get("/_fake/stats") as resp:
                stats = await resp.json()
            assert stats == {"requests": 4, "accepted": 2, "parts": 2, "callbacks_sent": 0, "callback_failures": 0}
            async with http.post("/_fake/reset") as resp:
                assert resp.status == 200
            assert fake.messages == []
            for bad in ({"mode": "explode"}, ["throttle"]):
                async with http.post("/_fake/fail", json=bad) as resp:
                    assert resp.status == 400
