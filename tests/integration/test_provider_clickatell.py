"""The Clickatell provider against the fake Clickatell server: wire format (JSON body, bare API key header,
numbers without +, clientMessageId), the error table, status callbacks, and the fake's own admin interface."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aiohttp
import pytest
from aiohttp import web

from herald.channels.base import Envelope, PermanentError, SendResult, TransientError
from herald.channels.sms.clickatell import ClickatellProvider, ClickatellSettings, parse_status_callback
from herald.fakes.clickatell import FakeClickatell

TO = "+447700900123"
TOKEN = "provider-test-token-0123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeClickatell]:
    async with FakeClickatell(callback_delay=0.01) as server:
        yield server


def settings_for(fake: FakeClickatell, **overrides: Any) -> ClickatellSettings:
    values: dict[str, Any] = {"api_key": fake.api_key, "webhook_token": TOKEN, "base_url": fake.base_url,
                              **overrides}
    return ClickatellSettings(**values)


@pytest.fixture
async def provider(fake: FakeClickatell) -> AsyncIterator[ClickatellProvider]:
    p = ClickatellProvider(settings_for(fake))
    yield p
    await p.close()


def envelope(body: str = "Your code is 123456", to: str = TO, **extra: Any) -> Envelope:
    return Envelope(message_id="msg_01TEST", channel="sms", to=to, content={"body": body}, **extra)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_send_uses_clickatell_number_format_and_client_message_id(fake: FakeClickatell,
                                                                        provider: ClickatellProvider):
    result = await provider.send(envelope(callback_url="https://herald.example/webhooks/clickatell/p/status"))
    assert len(fake.messages) == 1
    recorded = fake.messages[0]
    assert result == SendResult(provider_message_id=recorded["apiMessageId"], code="202")
    assert (recorded["to"], recorded["from"]) == ("447700900123", None)  # no +; no sender configured
    assert (recorded["content"], recorded["clientMessageId"]) == ("Your code is 123456", "msg_01TEST")
    assert fake.request_count == 1


async def test_sender_override_default_sender_and_unicode(fake: FakeClickatell):
    p = ClickatellProvider(settings_for(fake, from_number="+14155550199"))
    try:
        await p.send(envelope())
        await p.send(envelope(sender="HERALD", body="Grüße 😀"))
    finally:
        await p.close()
    assert [(m["from"], m["content"]) for m in fake.messages] == [("14155550199", "Your code is 123456"),
                                                                  ("HERALD", "Grüße 😀")]


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
    "throttled": Case(TransientError, {"code": "43", "retry_after": 2.0, "maybe_sent": False},
                      failure=("throttle", {"retry_after": 2})),
    "throttled-no-header": Case(TransientError, {"code": "43", "retry_after": None}, failure=("throttle", {})),
    "blocked": Case(PermanentError, {"code": "26"}, failure=("blocked", {})),
    "no-credit": Case(TransientError, {"code": "20", "retry_after": 60.0}, failure=("no_credit", {})),
    "bad-api-key": Case(PermanentError, {"code": "1"}, settings={"api_key": "wrong=="}),
    "server-error": Case(TransientError, {"code": "18", "maybe_sent": False}, failure=("500", {})),
    "invalid-to": Case(PermanentError, {"code": "25"}, env={"to": "07700900123"}),
    "invalid-from": Case(PermanentError, {"code": "23"}, env={"sender": "no such sender!"}),
    "content-too-long": Case(PermanentError, {"code": "24"}, env={"body": "x" * 1601}),
    "empty-body": Case(PermanentError, {"code": "101"}, env={"body": ""}),
    "slow-past-timeout": Case(TransientError, {"maybe_sent": True}, settings={"timeout": 1.0},
                              failure=("slow", {"delay": 1.6}), recorded=True),
    "accept-then-drop": Case(TransientError, {"maybe_sent": True}, failure=("drop", {}), recorded=True),
}


@pytest.mark.parametrize("case", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
async def test_error_mapping(fake: FakeClickatell, case: Case):
    if case.failure is not None:
        fake.fail(case.failure[0], **case.failure[1])
    p = ClickatellProvider(settings_for(fake, **case.settings))
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


async def test_failures_apply_to_the_next_count_sends_only(fake: FakeClickatell, provider: ClickatellProvider):
    fake.fail("throttle", count=2)
    for _ in range(2):
        with pytest.raises(TransientError):
            await provider.send(envelope())
    result = await provider.send(envelope())
    assert result.provider_message_id == fake.messages[0]["apiMessageId"]
    assert fake.request_count == 3


async def test_connection_refused_is_transient_not_sent_and_reconcile_cannot_tell():
    p = ClickatellProvider(ClickatellSettings(api_key="k", webhook_token=TOKEN,
                                              base_url=f"http://127.0.0.1:{closed_port()}"))
    try:
        with pytest.raises(TransientError) as caught:
            await p.send(envelope())
        assert caught.value.maybe_sent is False
        assert await p.reconcile(envelope(), datetime.now(UTC)) is None
    finally:
        await p.close()


Calls = list[dict[str, Any]]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Calls]]:
    """A tiny callback endpoint recording the JSON bodies it gets and checking the token."""
    calls: Calls = []

    async def hook(request: web.Request) -> web.Response:
        if request.query.get("token") != TOKEN:
            return web.Response(status=403)
        calls.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/clickatell/status", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/clickatell/status", calls
    await runner.cleanup()


async def wait_for(calls: list[Any], n: int) -> None:
    for _ in range(300):
        if len(calls) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {n} callbacks, got {len(calls)}")


async def test_status_callbacks_go_to_the_integration_url(fake: FakeClickatell, provider: ClickatellProvider,
                                                          receiver: Any):
    url, calls = receiver
    fake.callback_url = f"{url}?token={TOKEN}"
    result = await provider.send(envelope())
    await wait_for(calls, 2)
    assert [(c["statusCode"], c["status"]) for c in calls] == [(3, "DELIVERED_TO_GATEWAY"),
                                                               (4, "RECEIVED_BY_RECIPIENT")]
    assert {(c["messageId"], c["clientMessageId"], c["to"]) for c in calls} == {
        (result.provider_message_id, "msg_01TEST", "447700900123")}
    receipts = [r for c in calls for r in parse_status_callback(c)]
    assert [(r.state, r.herald_message_id) for r in receipts] == [("sent", "msg_01TEST"), ("delivered", "msg_01TEST")]
    assert fake.stats() == {"requests": 1, "accepted": 1, "callbacks_sent": 2, "callback_failures": 0}


async def test_a_blocked_number_bounces_in_its_status_callback(fake: FakeClickatell, provider: ClickatellProvider,
                                                               receiver: Any):
    url, calls = receiver
    fake.callback_url = f"{url}?token={TOKEN}"
    fake.undeliverable[TO] = "blocked"
    await provider.send(envelope())
    await wait_for(calls, 2)
    (receipt,) = parse_status_callback(calls[1])
    assert (receipt.state, receipt.code) == ("bounced", "7")


async def test_callback_failures_are_counted_not_raised(fake: FakeClickatell, provider: ClickatellProvider,
                                                        receiver: Any):
    url, calls = receiver
    fake.callback_url = f"{url}?token=wrong"  # our receiver refuses it with 403
    await provider.send(envelope())
    for _ in range(300):
        if fake.callback_failures >= 2:
            break
        await asyncio.sleep(0.01)
    assert (fake.callbacks_sent, fake.callback_failures, calls) == (0, 2, [])


async def test_fake_runs_on_a_thread_and_obeys_admin_http():
    fake = FakeClickatell(callbacks=False)
    with fake.running():
        async with aiohttp.ClientSession(base_url=fake.base_url) as http:
            async with http.post("/_fake/fail", json={"mode": "500"}) as resp:
                assert resp.status == 200
            p = ClickatellProvider(settings_for(fake))
            try:
                with pytest.raises(TransientError) as caught:
                    await p.send(envelope())
                assert caught.value.code == "18"
                sent = await p.send(envelope())
            finally:
                await p.close()
            body = {"messages": [{"channel": "sms", "to": "14155550100", "content": "hi"}]}
            async with http.post("/v1/message", json=body, headers={"Authorization": fake.api_key}) as resp:
                assert resp.status == 202
                assert (await resp.json())["messages"][0]["accepted"] is True
            async with http.post("/v1/message", json=body, headers={"Authorization": "nope"}) as resp:
                assert resp.status == 401
                assert (await resp.json())["error"]["code"] == 1
            async with http.post("/v1/message", data=b"{", headers={"Authorization": fake.api_key}) as resp:
                assert (resp.status, (await resp.json())["error"]["code"]) == (400, 21)
            async with http.get("/_fake/messages") as resp:
                assert [m["apiMessageId"] for m in await resp.json()][:1] == [sent.provider_message_id]
            async with http.get("/_fake/stats") as resp:
                assert await resp.json() == {"requests": 5, "accepted": 2, "callbacks_sent": 0,
                                             "callback_failures": 0}
            async with http.post("/_fake/reset") as resp:
                assert resp.status == 200
            assert fake.messages == []
            for bad in ({"mode": "explode"}, ["throttle"]):
                async with http.post("/_fake/fail", json=bad) as resp:
                    assert resp.status == 400
            async with http.post("/_fake/inbound", data=json.dumps({"from": "x"})) as resp:
                assert resp.status == 400
