"""The SMPP provider against the fake SMSC: bind, GSM-7 / UCS-2 / concatenated sends, the error table, a lost
session (ambiguous, then a rebind), the send window, keep-alive, and receipts and inbound messages handed to
the host's hooks. Through the worker (SQLite and PostgreSQL): a receipt delivers a message and an MO STOP is
stored, suppresses the number and is confirmed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from herald.channels.base import (
    Envelope,
    Incoming,
    PermanentError,
    ProviderContext,
    Receipt,
    TransientError,
)
from herald.channels.sms import smpp_pdu as p
from herald.channels.sms.smpp import SmppProvider, SmppSettings
from herald.fakes.smsc import FakeSmsc
from tests.conftest import Running, wait_for

OURS, THEM = "+14155550199", "+447700900123"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSmsc]:
    async with FakeSmsc(receipt_delay=0.01) as server:
        yield server


def settings_for(fake: FakeSmsc, **overrides: Any) -> SmppSettings:
    values: dict[str, Any] = {"host": fake.host, "port": fake.port, "system_id": fake.system_id,
                              "password": fake.password, "source_addr": OURS, "timeout": 1.0,
                              "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.2, **overrides}
    return SmppSettings(**values)


class Hooks:
    """Collects what the provider hands back; ``fail`` makes the next hook call raise."""

    def __init__(self) -> None:
        self.receipts: list[tuple[str, Receipt]] = []
        self.inbound: list[tuple[str, Incoming]] = []
        self.fail = False

    async def on_receipt(self, provider_id: str, receipt: Receipt) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.receipts.append((provider_id, receipt))

    async def on_inbound(self, provider_id: str, message: Incoming) -> None:
        self.inbound.append((provider_id, message))


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
async def provider(fake: FakeSmsc, hooks: Hooks, tmp_path: Path) -> AsyncIterator[SmppProvider]:
    ctx = ProviderContext(outbox_dir=tmp_path, provider_id="prv_smpp", on_receipt=hooks.on_receipt,
                          on_inbound=hooks.on_inbound)
    prov = SmppProvider(settings_for(fake), ctx)
    yield prov
    await prov.close()


def envelope(body: str = "Your code is 123456", to: str = THEM, **extra: Any) -> Envelope:
    return Envelope(message_id="msg_01SMPP", channel="sms", to=to, content={"body": body}, **extra)


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    async def check() -> bool:
        return bool(predicate())

    await wait_for(check, timeout=timeout, interval=0.01)


async def test_binds_and_sends_gsm7_with_a_delivery_receipt_request(fake: FakeSmsc, provider: SmppProvider):
    result = await provider.send(envelope("Hi @ £5 {ok}"))
    [message] = fake.messages
    assert result.provider_message_id == message["message_id"]
    assert (message["to"], message["from"], message["text"]) == ("447700900123", "14155550199", "Hi @ £5 {ok}")
    assert (message["data_coding"], message["registered_delivery"]) == (p.DC_DEFAULT, 1)
    submit = fake.submits[0]
    assert (submit.get_int("source_addr_ton"), submit.get_int("dest_addr_ton")) == (1, 1)
    assert fake.binds == 1
    await provider.send(envelope(sender="HERALD"))
    assert fake.submits[1].get_int("source_addr_ton") == p.TON_ALPHANUMERIC
    assert fake.messages[1]["from"] == "HERALD"
    assert fake.binds == 1  # one persistent session


async def test_ucs2_with_emoji(fake: FakeSmsc, provider: SmppProvider):
    await provider.send(envelope("Grüße 😀 çava"))
    assert (fake.messages[0]["text"], fake.messages[0]["data_coding"]) == ("Grüße 😀 çava", p.DC_UCS2)


@pytest.mark.parametrize(("body", "parts"), [("x" * 160, 1), ("y" * 161, 2), ("€" * 100, 2), ("z" * 459, 3),
                                             ("ç" * 71, 2), ("😀" * 40, 2)])
async def test_long_texts_go_in_concatenated_parts_and_reassemble(fake: FakeSmsc, provider: SmppProvider,
                                                                  body: str, parts: int):
    result = await provider.send(envelope(body))
    [message] = fake.messages
    assert message["text"] == body
    assert len(message["parts"]) == len(fake.submits) == parts
    assert result.provider_message_id == message["parts"][0]
    if parts > 1:
        assert all(s.get_int("esm_class") == p.ESM_UDHI for s in fake.submits)
        # UCS-2 fills the 140 octets; GSM-7 goes unpacked (one septet an octet, the SMSC packs it): 6 + 153
        limit = 140 if message["data_coding"] == p.DC_UCS2 else 159
        assert all(len(s.get_bytes("short_message")) <= limit for s in fake.submits)


async def test_throttled_is_transient_then_the_next_send_goes(fake: FakeSmsc, provider: SmppProvider):
    fake.throttle()
    with pytest.raises(TransientError) as err:
        await provider.send(envelope())
    assert (err.value.code, err.value.retry_after, err.value.maybe_sent) == ("ESME_RTHROTTLED", 1.0, False)
    fake.fail(p.ESME_RMSGQFUL)
    with pytest.raises(TransientError):
        await provider.send(envelope())
    await provider.send(envelope())
    assert len(fake.messages) == 1


async def test_a_later_part_failing_is_ambiguous(fake: FakeSmsc, provider: SmppProvider):
    fake.fail(p.ESME_ROK)  # the first part goes through
    fake.fail(p.ESME_RSYSERR)
    with pytest.raises(TransientError) as err:
        await provider.send(envelope("q" * 200))
    assert err.value.maybe_sent is True


async def test_invalid_destination_is_permanent(fake: FakeSmsc, provider: SmppProvider):
    with pytest.raises(PermanentError) as err:
        await provider.send(envelope(to="+44abc"))
    assert err.value.code == "ESME_RINVDSTADR"
    fake.fail(p.ESME_RINVSRCADR)
    with pytest.raises(PermanentError):
        await provider.send(envelope())
    with pytest.raises(PermanentError):
        await provider.send(envelope(""))


@pytest.mark.parametrize(("field", "code"), [("password", "ESME_RINVPASWD"), ("system_id", "ESME_RINVSYSID")])
async def test_wrong_credentials_are_permanent_at_bind(fake: FakeSmsc, field: str, code: str):
    prov = SmppProvider(settings_for(fake, **{field: "wrong"}))
    try:
        with pytest.raises(PermanentError) as err:
            await prov.send(envelope())
        assert err.value.code == code
        assert "wrong" not in err.value.message or field == "system_id"
    finally:
        await prov.close()
    assert fake.messages == []


async def test_refused_binds_and_no_smsc_are_transient(fake: FakeSmsc):
    fake.refuse_binds = p.ESME_RBINDFAIL
    prov = SmppProvider(settings_for(fake))
    try:
        with pytest.raises(TransientError) as err:
            await prov.send(envelope())
        assert err.value.code == "ESME_RBINDFAIL"
        assert not err.value.maybe_sent
        fake.refuse_binds = None
        await eventually(lambda: prov.bound)  # the supervisor retries with backoff
        await prov.send(envelope())
    finally:
        await prov.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    nowhere = SmppProvider(settings_for(fake, port=port))
    try:
        with pytest.raises(TransientError, match="cannot connect"):
            await nowhere.send(envelope())
    finally:
        await nowhere.close()


async def test_connection_dropped_mid_window_is_ambiguous_and_the_provider_rebinds(fake: FakeSmsc,
                                                                                   provider: SmppProvider):
    await provider.send(envelope("first"))
    fake.fail("silent", 3)
    sends = [asyncio.create_task(provider.send(envelope(f"pending {n}"))) for n in range(3)]
    await eventually(lambda: len(fake.submits) == 4)
    fake.drop()
    for outcome in await asyncio.gather(*sends, return_exceptions=True):
        assert isinstance(outcome, TransientError), outcome
        assert outcome.maybe_sent
    fake.fail("drop")
    with pytest.raises(TransientError) as err:
        await provider.send(envelope("dropped"))
    assert err.value.maybe_sent
    await provider.send(envelope("after"))
    assert fake.binds == 3
    assert fake.messages[-1]["text"] == "after"


async def test_a_missing_answer_times_out_as_ambiguous(fake: FakeSmsc, tmp_path: Path):
    prov = SmppProvider(settings_for(fake, timeout=0.2))
    try:
        fake.fail("silent")
        with pytest.raises(TransientError) as err:
            await prov.send(envelope())
        assert err.value.maybe_sent
    finally:
        await prov.close()


async def test_the_window_bounds_outstanding_submits(fake: FakeSmsc):
    prov = SmppProvider(settings_for(fake, window=2))
    try:
        await prov.send(envelope("bind"))
        fake.fail("silent", 5)
        sends = [asyncio.create_task(prov.send(envelope(f"n{n}"))) for n in range(5)]
        await eventually(lambda: len(fake.submits) == 3)
        await asyncio.sleep(0.1)
        assert len(fake.submits) == 3  # 1 + the window of 2
        fake.drop()
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        assert all(isinstance(o, TransientError) for o in outcomes), outcomes
        assert sorted(o.maybe_sent for o in outcomes if isinstance(o, TransientError)) == [
            False, False, False, True, True]  # only the two written may have gone out
    finally:
        await prov.close()


async def test_enquire_link_keepalive_both_ways_and_unbind_on_close(fake: FakeSmsc):
    prov = SmppProvider(settings_for(fake, enquire_link_seconds=0.05))
    await prov.send(envelope())
    await eventually(lambda: fake.enquire_links >= 2)
    await fake.enquire_link()
    await eventually(lambda: any(a.command_id == p.ENQUIRE_LINK_RESP for a in fake.acks))
    await prov.close()
    await eventually(lambda: fake.connections == 0)


async def test_receipts_and_mo_messages_reach_the_hooks(fake: FakeSmsc, provider: SmppProvider, hooks: Hooks):
    result = await provider.send(envelope())
    await fake.deliver_receipt(fake.messages[0])
    await eventually(lambda: hooks.receipts)
    provider_id, receipt = hooks.receipts[0]
    assert (provider_id, receipt.provider_message_id, receipt.state) == (
        "prv_smpp", result.provider_message_id, "delivered")
    await fake.deliver_receipt(fake.messages[0], "UNDELIV", "011")
    await eventually(lambda: len(hooks.receipts) == 2)
    assert (hooks.receipts[1][1].state, hooks.receipts[1][1].code) == ("undelivered", "011")
    await fake.inject_mo(THEM, OURS, "STOP")
    await fake.inject_mo(THEM, OURS, "Ça va? 🙂")
    await eventually(lambda: len(hooks.inbound) == 2)
    first, second = (m for _, m in hooks.inbound)
    assert (first.from_address, first.to_address, first.body) == (THEM, OURS, "STOP")
    assert second.body == "Ça va? 🙂"
    assert first.provider_message_id != second.provider_message_id
    assert all(a.command_id == p.DELIVER_SM_RESP and a.status == p.ESME_ROK for a in fake.acks)
    hooks.fail = True
    await fake.deliver_receipt(fake.messages[0])
    await eventually(lambda: len(fake.acks) == 5)
    assert fake.acks[-1].status == p.ESME_RX_T_APPN  # the SMSC will deliver it again


def sms_settings(fake: FakeSmsc) -> dict[str, Any]:
    return {"host": fake.host, "port": fake.port, "system_id": fake.system_id, "password": fake.password,
            "source_addr": OURS, "timeout": 2.0, "reconnect_min_seconds": 0.05}


async def test_through_the_worker_receipts_deliver_and_mo_stop_suppresses(herald_with_worker: Running):
    US_THEM = "+14155550123"
    async with FakeSmsc(receipts=True, receipt_delay=0.05) as fake:
        client = await herald_with_worker.authed()
        resp = await client.post("/v1/providers", json={"name": "smsc", "kind": "smpp", "priority": 50,
                                                        "settings": sms_settings(fake)})
        assert resp.status_code == 201, resp.text
        assert "password" not in str(resp.json().get("settings"))

        async def settled(mid: str, *states: str) -> dict[str, Any]:
            async def check() -> dict[str, Any] | None:
                body = (await client.get(f"/v1/messages/{mid}")).json()
                return dict(body) if body["state"] in states else None

            return dict(await wait_for(check, timeout=15))

        resp = await client.post("/v1/messages", json={"channel": "sms", "to": US_THEM, "body": "b" * 200})
        assert resp.status_code == 202, resp.text
        msg = await settled(resp.json()["id"], "delivered", "failed")
        assert msg["state"] == "delivered", msg
        assert msg["provider_message_id"] == fake.messages[0]["message_id"]
        assert fake.messages[0]["text"] == "b" * 200

        await fake.inject_mo(US_THEM, OURS, "STOP")

        async def stored() -> list[dict[str, Any]]:
            return list((await client.get("/v1/inbound", params={"from": US_THEM})).json()["data"])

        [inbound] = await wait_for(stored, timeout=10)
        assert (inbound["to"], inbound["keyword"], inbound["action"]) == (OURS, "STOP", "opt_out")
        assert (await client.get("/v1/suppressions", params={"address": US_THEM})).json()["blocked"] is True
        answered = await settled(inbound["reply_id"], "delivered", "sent", "failed")
        assert answered["state"] in ("sent", "delivered"), answered
        assert "unsubscribed" in fake.messages[-1]["text"]
