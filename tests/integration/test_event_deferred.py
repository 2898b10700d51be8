"""PostgreSQL: a group commit of single events writes the events with their journeys' runs and messages, in
the transaction's last statement, not in one of their own. The race this opens (a concurrent request stores
an event under the same idempotency key meanwhile) still answers that event as a repeat, and journeys that
read stored events (counters) still see the event that moved them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg._connection_base import BaseConnection
from sqlalchemy import event, text

from herald.db import raw
from herald.db.session import unit_of_work
from herald.events.models import EVENTS
from herald.messages import pending
from herald.pipeline import handoff
from tests.conftest import Running
from tests.integration.trigger_setup import (
    WITHDRAWAL_SAMPLE,
    WITHDRAWAL_SCHEMA,
    event_type,
    file_provider,
    send_event,
    template,
    trigger,
)


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement psycopg is given from now on, through SQLAlchemy or not."""
    seen: list[str] = []
    real = psycopg.AsyncCursor.execute

    async def record(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(" ".join(str(query).split()))
        return await real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", record)
    return seen


async def _atm_alert(client: Any) -> dict[str, Any]:
    await file_provider(client)
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await template(client, "atm", "Cash out: {{ event.payload.amount }}")
    return await trigger(client, "atm alert", "card.withdrawal",
                         [{"type": "send", "channel": "sms", "template": "atm"}])


async def test_an_event_goes_in_with_its_journey(herald: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await herald.authed()
    alert = await _atm_alert(client)
    assert (await send_event(client, "card.withdrawal", {"external_id": "c1"}, WITHDRAWAL_SAMPLE)).status_code == 202
    seen = _statements(monkeypatch)
    answer = await send_event(client, "card.withdrawal", {"external_id": "c1"}, WITHDRAWAL_SAMPLE,
                              idempotency_key="k-1")
    assert answer.status_code == 202, answer.text
    inserts = [s for s in seen if "INSERT INTO events" in s]
    assert len(inserts) == 1
    assert inserts[0].startswith("WITH")  # with the run and the message, not alone
    runs = (await client.get(f"/v1/triggers/{alert['id']}/runs")).json()["data"]
    assert {r["event_id"] for r in runs} >= {answer.json()["id"]}
    stored = (await client.get("/v1/events", params={"limit": 10})).json()["data"]
    assert answer.json()["id"] in {e["id"] for e in stored}


async def test_a_group_commit_waits_for_no_begin_and_no_commit_of_their_own(
        herald: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """BEGIN goes in one flight with the opening read, COMMIT with the last statement (psycopg's pipeline
    mode), so neither costs a round trip of its own."""
    client = await herald.authed()
    alert = await _atm_alert(client)
    assert (await send_event(client, "card.withdrawal", {"external_id": "c1"}, WITHDRAWAL_SAMPLE)).status_code == 202
    commands: list[tuple[bytes, bool]] = []
    real = BaseConnection._exec_command

    def recording(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        commands.append((bytes(command), self._pipeline is not None))
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(BaseConnection, "_exec_command", recording)
    answers = await asyncio.gather(*(send_event(client, "card.withdrawal", {"external_id": f"c{n % 3}"},
                                                WITHDRAWAL_SAMPLE) for n in range(8)))
    monkeypatch.undo()
    assert {a.status_code for a in answers} == {202}
    assert commands, "the group commits were seen"
    assert set(commands) == {(b"BEGIN", True), (b"COMMIT", True)}
    runs = (await client.get(f"/v1/triggers/{alert['id']}/runs", params={"limit": 20})).json()["data"]
    assert len(runs) == 9  # every event's journey committed


async def test_a_key_stored_meanwhile_by_another_transaction_answers_that_event(
        herald: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await herald.authed()
    alert = await _atm_alert(client)
    first = await send_event(client, "card.withdrawal", {"external_id": "c1"}, WITHDRAWAL_SAMPLE)
    contact_id, workspace_id = first.json()["contact_id"], None
    plain = herald.settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    other = await psycopg.AsyncConnection.connect(plain)
    try:
        workspace_id = (await (await other.execute("SELECT workspace_id FROM contacts WHERE id = %s",
                                                   (contact_id,))).fetchone() or [None])[0]
        now = datetime.now(UTC)
        await other.execute(  # uncommitted: the request's own insert waits for it at the unique key
            "INSERT INTO events (id, workspace_id, type, contact_id, payload, occurred_at, received_at, "
            "idempotency_key) VALUES ('ev_other', %s, 'card.withdrawal', %s, %s, %s, %s, 'raced')",
            (workspace_id, contact_id, psycopg.types.json.Json(WITHDRAWAL_SAMPLE), now, now))
        seen, rollbacks = _statements(monkeypatch), [0]

        def rolled_back(_conn: Any) -> None:
            rollbacks[0] += 1

        event.listen(herald.app.state.herald.engine.sync_engine, "rollback", rolled_back)
        sending = asyncio.create_task(send_event(client, "card.withdrawal", {"external_id": "c1"},
                                                 WITHDRAWAL_SAMPLE, idempotency_key="raced"))
        await asyncio.sleep(0.5)
        assert not sending.done()  # its commit waits on the other transaction's key
        await other.commit()
        answer = await asyncio.wait_for(sending, 10)
    finally:
        await other.close()
    assert answer.status_code == 200, answer.text
    assert (answer.json()["id"], answer.json()["duplicate"]) == ("ev_other", True)
    inserts = [s for s in seen if "INSERT INTO events" in s]
    assert [s.startswith("WITH") for s in inserts] == [True]  # deferred, and failed at the key
    assert rollbacks == [1]  # then tried again, where the key's event was found
    stored = (await client.get("/v1/events", params={"limit": 10})).json()["data"]
    assert sorted(e["id"] for e in stored) == sorted([first.json()["id"], "ev_other"])
    runs = (await client.get(f"/v1/triggers/{alert['id']}/runs")).json()["data"]
    assert len(runs) == 1  # the raced event's journey was rolled back with it; the other's is not ours to run


async def test_a_counter_counts_the_event_that_moves_it(herald: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await herald.authed()
    await file_provider(client)
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await template(client, "atm", "Cash out: {{ event.payload.amount }}")
    made = await trigger(client, "second withdrawal", "card.withdrawal",
                         [{"type": "send", "channel": "sms", "template": "atm"}],
                         counters=[{"event": "card.withdrawal", "op": "==", "count": 2}])
    seen = _statements(monkeypatch)
    answers = [await send_event(client, "card.withdrawal", {"external_id": "c1"}, WITHDRAWAL_SAMPLE)
               for _ in range(3)]
    assert [a.json()["triggers"] for a in answers] == [[], [made["id"]], []]
    assert any(s.startswith("INSERT INTO events") for s in seen)  # stored first: the counter reads it


async def test_suppressions_read_with_the_contact_lock_match_each_address(herald: Running) -> None:
    """The lock reads the suppressions of each contact's phone and lower-cased email in the same statement; an
    address that PostgreSQL might lower-case otherwise than Python is looked up apart. Each message still
    gets its own verdict."""
    client = await herald.authed()
    for channel in ("sms", "email"):
        made = await client.post("/v1/providers", json={"name": f"out-{channel}", "kind": "file",
                                                        "channel": channel, "settings": {}})
        assert made.status_code == 201, made.text
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await template(client, "atm", "Cash out")
    await template(client, "atm-mail", "Cash out", channel="email")
    made = await trigger(client, "alerts", "card.withdrawal", [
        {"type": "send", "channel": "sms", "template": "atm"},
        {"type": "send", "channel": "email", "template": "atm-mail"}])
    added = await client.post("/v1/suppressions", json={"entries": [
        {"address": "ann.smith@example.com"}, {"address": "zoë@example.com"}, {"address": "+14155550104"}]})
    assert added.status_code == 201, added.text
    people = [{"email": "Ann.Smith@Example.com", "phone": "+14155550103"},
              {"email": "Zoë@example.com", "phone": "+14155550104"},
              {"email": "bob@example.com", "phone": "+14155550105"}]
    answers = await asyncio.gather(*(send_event(client, "card.withdrawal", who, WITHDRAWAL_SAMPLE) for who in people))
    assert {a.status_code for a in answers} == {202}
    runs = {r["id"]: r for r in (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"]}
    verdicts = []
    for answer in answers:
        sms, mail = [(await client.get(f"/v1/messages/{m}")).json() for m in runs[answer.json()["runs"][0]]["messages"]]
        verdicts.append((sms["reason"] == "suppressed", mail["reason"] == "suppressed"))
    assert verdicts == [(False, True), (True, True), (False, False)]


async def test_a_void_handoff_leaves_the_commit_to_the_unit_of_work(herald: Running) -> None:
    """Part of the transaction rolled back: the messages the handoff took must go back to the queue between
    the rows' insert and the commit, so the rows are not sent with COMMIT in one flight."""
    state = herald.app.state.herald
    async with unit_of_work(state.sessions) as session:
        await session.execute(text("SELECT 1"))  # the transaction has begun
        handoff.offer(session.sync_session, handoff.Handoff(token="t-void", room=10, lease_seconds=60))
        handoff.rolled_back(session.sync_session)
        pending.add(session, EVENTS, {"id": "ev_void", "workspace_id": "ws_default", "type": "t",
                                      "contact_id": None, "payload": {}, "occurred_at": datetime.now(UTC),
                                      "received_at": datetime.now(UTC), "idempotency_key": None})
        await pending.commit(session)
        psycopg_conn = await raw.driver(await session.connection())
        assert psycopg_conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # not committed yet
    async with unit_of_work(state.sessions) as session:  # the unit of work committed it
        assert (await session.execute(text("SELECT count(*) FROM events WHERE id = 'ev_void'"))).scalar() == 1
