"""Messages planned in the process that sends them are handed to its dispatcher already claimed
(herald.pipeline.handoff), on SQLite and PostgreSQL: sent once each without a claim, never sent from a
transaction that rolled back, and put back in the queue when part of their transaction rolled back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from herald.auth.models import Workspace
from herald.db.session import unit_of_work
from herald.fakes.twilio import FakeTwilio
from herald.messages import service as messages
from herald.messages.models import MESSAGES
from herald.messages.schemas import MessageCreate
from herald.pipeline import handoff
from herald.pipeline.handoff import Handoff
from tests.conftest import Running, wait_for
from tests.integration.campaign_setup import add_twilio
from tests.integration.trigger_setup import (
    WITHDRAWAL_SAMPLE,
    WITHDRAWAL_SCHEMA,
    event_type,
    file_provider,
    send_event,
    template,
    trigger,
)


async def test_alerts_planned_in_serve_are_sent_once_each_without_a_claim(herald_with_worker: Running,
                                                                          fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await template(client, "atm-alert", "Card used at ATM {{ event.atm_id }}")
    await trigger(client, "ATM", "card.withdrawal", [{"type": "send", "channel": "sms", "template": "atm-alert"}])
    claimed = _count_claims(herald_with_worker)
    who = {"phone": "+14155550100"}
    good = [send_event(client, "card.withdrawal", who, {**WITHDRAWAL_SAMPLE, "atm_id": f"g{n}"}) for n in range(20)]
    # An idempotency conflict among them fails a group commit, which is rolled back and split: what that
    # transaction had planned must not be sent, only what the retries commit.
    keyed = [send_event(client, "card.withdrawal", who, {**WITHDRAWAL_SAMPLE, "atm_id": "k", "amount": n},
                        idempotency_key="same") for n in (1, 1, 2)]
    answers = await asyncio.gather(*good, *keyed)
    assert sorted(a.status_code for a in answers) == [200] + [202] * 21 + [409]

    async def arrived() -> bool:
        return len(fake.messages) >= 21

    await wait_for(arrived)
    await asyncio.sleep(0.3)  # room for a duplicate to show
    bodies = sorted(m["body"] for m in fake.messages)
    assert bodies == sorted([f"Card used at ATM g{n}" for n in range(20)] + ["Card used at ATM k"])
    assert claimed[0] == 0  # every one went from the planning transaction straight to the dispatcher

    async def all_sent() -> list[dict[str, Any]] | None:
        data = (await client.get("/v1/messages", params={"limit": 100})).json()["data"]
        return data if len(data) == 21 and all(m["state"] == "sent" for m in data) else None

    sent = await wait_for(all_sent)
    assert {m["attempt_count"] for m in sent} == {1}
    one = (await client.get(f"/v1/messages/{sent[0]['id']}")).json()
    assert [step["state"] for step in one["timeline"]] == ["queued", "sending", "sent"]


def _count_claims(running: Running) -> list[int]:
    dispatcher = running.app.state.worker.dispatcher
    claim, claimed = dispatcher._claim, [0]

    async def counting(limit: int) -> int:
        claimed[0] += (n := await claim(limit))
        return n

    dispatcher._claim = counting
    return claimed


async def test_a_message_sent_through_the_api_goes_out_once_without_a_claim(herald_with_worker: Running,
                                                                            fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    claimed = _count_claims(herald_with_worker)
    body = {"channel": "sms", "to": "+14155550100", "body": "Your code is 123456"}
    first = await client.post("/v1/messages", json=body, headers={"Idempotency-Key": "otp-1"})
    assert first.status_code == 202, first.text
    assert first.json()["state"] == "queued"  # as accepted; the dispatcher holds it from the commit on
    again = await client.post("/v1/messages", json=body, headers={"Idempotency-Key": "otp-1"})
    assert again.json()["id"] == first.json()["id"]
    later = await client.post("/v1/messages", json={**body, "send_at": "2099-01-01T00:00:00Z"})

    async def sent() -> dict[str, Any] | None:
        data = (await client.get(f"/v1/messages/{first.json()['id']}")).json()
        return data if data["state"] == "sent" else None

    message = await wait_for(sent)
    await asyncio.sleep(0.3)  # room for a duplicate to show
    assert [m["body"] for m in fake.messages] == ["Your code is 123456"]
    assert message["attempt_count"] == 1
    assert claimed[0] == 0
    scheduled = (await client.get(f"/v1/messages/{later.json()['id']}")).json()
    assert scheduled["state"] == "queued"  # not due: left for a claim when it is
    assert scheduled["attempt_count"] == 0


async def test_a_rolled_back_savepoint_voids_the_handoff_and_requeues_the_rest(herald: Running) -> None:
    """A timer batch retried one timer at a time uses savepoints: a message written in one that rolled back is
    gone, so nothing of the handoff is sent from memory; the messages that survive go back to ``queued``."""
    client = await herald.authed()
    await file_provider(client)
    state = herald.app.state.herald
    offered = Handoff(token="t" * 32, room=10, lease_seconds=30)
    # Audited (an override), so each message's flush has an object to write and its rows go with it.
    req = MessageCreate(channel="sms", to="+14155550100", body="Your code expires soon", override=True)
    plan: dict[str, Any] = {"source": "trigger", "renderer": state.renderer, "sms_max_segments": 10,
                            "actor": "test", "links": None, "source_id": None}
    async with unit_of_work(state.sessions) as session:
        handoff.offer(session.sync_session, offered)
        workspace = (await session.execute(select(Workspace).limit(1))).scalar_one()
        kept = await messages.queue(session, workspace, req, **plan)
        await session.flush()
        assert len(offered.taken) == 1  # taken as it was written
        lost: list[dict[str, Any]] = []

        async def failing_timer() -> None:
            async with session.begin_nested():
                lost.append(await messages.queue(session, workspace, req, **plan))
                await session.flush()
                raise RuntimeError("this timer failed")

        with pytest.raises(RuntimeError):
            await failing_timer()
        later = await messages.queue(session, workspace, req, **plan)
    assert offered.void
    assert not offered.taken
    assert not offered.complete
    async with state.engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(select(MESSAGES))}
    assert lost[0]["id"] not in rows
    for message_id in (kept["id"], later["id"]):
        row = rows[message_id]
        assert (row.state, row.lease_token, row.lease_until, row.attempts) == ("queued", None, None, 0)


async def test_a_handoff_committed_after_the_dispatcher_stopped_is_queued_again_at_shutdown(
        herald_with_worker: Running) -> None:
    """A timer batch that commits during shutdown hands its alerts to a dispatcher that no longer sends:
    they go back to the queue when the worker has stopped, for another process to send now, not after their
    lease (a minute late, at every restart)."""
    client = await herald_with_worker.authed()
    await file_provider(client)
    state, worker = herald_with_worker.app.state.herald, herald_with_worker.app.state.worker
    offered = worker.dispatcher.offer()
    assert offered is not None
    req = MessageCreate(channel="sms", to="+14155550100", body="Card used at ATM 7")
    async with unit_of_work(state.sessions) as session:
        handoff.offer(session.sync_session, offered)
        workspace = (await session.execute(select(Workspace).limit(1))).scalar_one()
        planned = await messages.queue(session, workspace, req, source="trigger", renderer=state.renderer,
                                       sms_max_segments=10, actor="test", links=None, source_id=None)
    assert len(offered.taken) == 1
    worker.stop.set()  # shutting down: the dispatcher stops first, the timer batch commits after
    await wait_for(lambda: _stopped(worker))
    worker.dispatcher.adopt(offered)
    async with state.engine.connect() as conn:
        row = (await conn.execute(select(MESSAGES).where(MESSAGES.c.id == planned["id"]))).one()
    assert (row.state, row.lease_token) == ("sending", offered.token)  # not sent from memory
    await worker.shutdown()
    async with state.engine.connect() as conn:
        row = (await conn.execute(select(MESSAGES).where(MESSAGES.c.id == planned["id"]))).one()
    assert (row.state, row.lease_token, row.lease_until, row.attempts) == ("queued", None, None, 0)


async def _stopped(worker: Any) -> bool:
    return not worker.dispatcher._running
