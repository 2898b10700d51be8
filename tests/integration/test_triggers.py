"""Triggers through the API, on SQLite and PostgreSQL: what a save refuses (with the field, and the position
in a filter) and warns about, alerts that reach the fake Twilio through the worker, filters, counters, exits,
re-entry, TTLs, statistics and runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event

from herald.fakes.twilio import FakeTwilio
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

ALERT = [{"type": "send", "channel": "sms", "template": "atm-alert", "ttl": "PT30M"}]


async def setup(client: Any) -> None:
    await event_type(client, "card.withdrawal", WITHDRAWAL_SCHEMA, WITHDRAWAL_SAMPLE)
    await event_type(client, "purchase", sample={"order_id": "o-1", "total": 10})
    await template(client, "atm-alert", "Card used: {{ event.amount }} at ATM {{ event.atm_id }}")


async def test_bad_triggers_are_refused_with_the_field(herald: Running) -> None:
    client = await herald.authed()
    await setup(client)

    async def refused(**body: Any) -> dict[str, Any]:
        full = {"name": "t", "description": "d", "event_type": "card.withdrawal", "steps": ALERT, **body}
        resp = await client.post("/v1/triggers", json=full)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        return dict(resp.json())

    bad = await refused(filter="event.amount > > 3")
    assert bad["code"] == "invalid_expression"
    assert bad["errors"][0]["position"] == 15
    assert bad["errors"][0]["field"] == "filter"
    assert (await refused(filter="foo.bar == 1"))["errors"][0]["position"] == 0
    assert (await refused(event_type="nope"))["code"] == "unknown_event_type"
    assert (await refused(description=""))["errors"][0]["field"] == "description"
    wait = {"type": "wait", "event": "purchase"}
    assert "timeout" in (await refused(steps=[wait]))["detail"]
    assert (await refused(steps=[{"type": "wait", "duration": "P1M"}]))["errors"][0]["field"] == "steps[0].duration"
    assert (await refused(steps=[{"type": "wait", "until": "25:00"}]))["code"] == "invalid_time"
    nested = [{**wait, "timeout": "P1D", "match": "event.order_id ==", "on_event": ALERT}]
    assert (await refused(steps=nested))["errors"][0]["field"] == "steps[0].match"
    assert (await refused(steps=[{**ALERT[0], "template": "missing"}]))["code"] == "template_not_found"
    assert (await refused(steps=[{**ALERT[0], "channel": "email"}]))["code"] == "template_channel_mismatch"
    assert (await refused(steps=[{**ALERT[0], "ttl": "soon"}]))["code"] == "invalid_duration"
    assert (await refused(counters=[{"event": "purchase", "period": "fortnight", "count": 1}]))["code"] == (
        "invalid_period")
    assert (await refused(reentry="sometimes"))["code"] == "unknown_reentry"
    assert (await refused(event_type=None))["code"] == "trigger_kind"
    assert (await refused(owner="someone-else"))["errors"][0]["field"] == "owner"
    assert (await client.get("/v1/triggers")).json() == []


async def test_a_template_variable_the_sample_lacks_is_a_warning(herald: Running) -> None:
    client = await herald.authed()
    await setup(client)
    await template(client, "odd", "Balance {{ event.balance }}")
    made = await trigger(client, "Odd", "card.withdrawal", [{**ALERT[0], "template": "odd"}])
    assert made["warnings"][0]["field"] == "steps[0].template"
    assert "balance" in made["warnings"][0]["message"]
    fine = await trigger(client, "Fine", "card.withdrawal", ALERT)
    assert fine["warnings"] == []
    assert fine["owner"] == "cli_test"
    resp = await client.patch(f"/v1/triggers/{fine['id']}", json={"owner": "x"})
    assert resp.status_code == 422
    resp = await client.patch(f"/v1/triggers/{fine['id']}", json={"active": False, "name": "Odd"})
    assert resp.status_code == 409


async def test_a_large_atm_withdrawal_reaches_the_customer_once(herald_with_worker: Running,
                                                                fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    await setup(client)
    made = await trigger(client, "Large ATM", "card.withdrawal", ALERT,
                         filter='event.amount > 10000 and event.channel == "ATM"')
    who = {"phone": "+14155550100"}
    small = await send_event(client, "card.withdrawal", who, {"amount": 50, "channel": "ATM", "atm_id": "1"})
    assert small.json()["triggers"] == []
    pos = await send_event(client, "card.withdrawal", who, {"amount": 20000, "channel": "POS"})
    assert pos.json()["triggers"] == []
    big = await send_event(client, "card.withdrawal", who, {"amount": 20000, "channel": "ATM", "atm_id": "0042"},
                           idempotency_key="atm-1")
    assert big.json()["triggers"] == [made["id"]]
    await send_event(client, "card.withdrawal", who, {"amount": 20000, "channel": "ATM", "atm_id": "0042"},
                     idempotency_key="atm-1")
    await wait_for(lambda: _count(fake, 1))
    assert fake.messages[0]["body"] == "Card used: 20000 at ATM 0042"
    stats = (await client.get(f"/v1/triggers/{made['id']}")).json()["stats"]
    assert stats["events_matched"] == 1
    assert stats["completed"] == 1
    await wait_for(lambda: _sent(client, made["id"]))
    runs = (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"]
    assert len(runs) == 1
    assert len(runs[0]["messages"]) == 1
    message = (await client.get(f"/v1/messages/{runs[0]['messages'][0]}")).json()
    assert message["priority"] == 5
    assert message["expires_at"] is not None
    assert message["metadata"]["trigger_id"] == made["id"]


async def _count(fake: FakeTwilio, n: int) -> bool:
    return len(fake.messages) >= n


async def _sent(client: Any, trigger_id: str) -> bool:
    stats = (await client.get(f"/v1/triggers/{trigger_id}")).json()["stats"]
    return bool(stats["messages"].get("sent") or stats["messages"].get("delivered"))


async def test_an_alert_past_its_ttl_expires_instead_of_arriving_late(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    made = await trigger(client, "ATM", "card.withdrawal", [{**ALERT[0], "ttl": "PT5M"}])
    late = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    out = (await send_event(client, "card.withdrawal", {"phone": "+14155550101"}, WITHDRAWAL_SAMPLE,
                            occurred_at=late)).json()
    run = (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"][0]
    message = (await client.get(f"/v1/messages/{run['messages'][0]}")).json()
    assert out["runs"] == [run["id"]]
    assert message["state"] == "expired"
    assert "ttl PT5M" in message["explanation"]


async def test_one_batch_stores_each_planned_outcome_with_its_timeline(herald: Running) -> None:
    """Send steps of many events in one transaction: each message is stored with its content and timeline,
    whatever became of it (queued, expired, skipped, failed to render), and each run goes on to its end."""
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    alert = await trigger(client, "ATM", "card.withdrawal", [{**ALERT[0], "ttl": "PT5M"}])
    await template(client, "broken", "Your coupon {{ event.coupon.code }}")  # purchases carry no coupon
    broken = await trigger(client, "Broken", "purchase", [{"type": "send", "channel": "sms", "template": "broken"}])
    await client.post("/v1/suppressions", json={"entries": [{"address": "+14155550103", "reason": "fraud"}]})
    late = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    events = [
        {"type": "card.withdrawal", "contact": {"phone": "+14155550101"}, "payload": WITHDRAWAL_SAMPLE},
        {"type": "card.withdrawal", "contact": {"phone": "+14155550102"}, "payload": WITHDRAWAL_SAMPLE,
         "occurred_at": late},
        {"type": "card.withdrawal", "contact": {"phone": "+14155550103"}, "payload": WITHDRAWAL_SAMPLE},
        {"type": "purchase", "contact": {"phone": "+14155550104"}, "payload": {"order_id": "o-9", "total": 5}},
        {"type": "card.withdrawal", "contact": {"phone": "+14155550101"}, "payload": {**WITHDRAWAL_SAMPLE,
                                                                                    "amount": 7}},
    ]
    resp = await client.post("/v1/events/batch", json={"events": events})
    assert resp.status_code == 202, resp.text
    runs = {r["id"]: r for t in (alert, broken)
            for r in (await client.get(f"/v1/triggers/{t['id']}/runs")).json()["data"]}
    ordered = [runs[out["runs"][0]] for out in resp.json()["events"]]
    assert [r["state"] for r in ordered] == ["completed"] * 5
    found = [(await client.get(f"/v1/messages/{r['messages'][0]}")).json() for r in ordered]
    assert [(m["state"], m["reason"]) for m in found] == [
        ("queued", None), ("expired", "expired"), ("skipped", "suppressed"), ("failed", "render_error"),
        ("queued", None)]
    assert [[step["state"] for step in m["timeline"]] for m in found] == [
        ["queued"], ["queued", "expired"], ["skipped"], ["failed"], ["queued"]]
    assert [m["to"] for m in found] == ["+14155550101", "+14155550102", "+14155550103", "+14155550104",
                                        "+14155550101"]
    assert found[0]["metadata"].get("run_id") == ordered[0]["id"], found[0]["metadata"]
    assert [m["content"]["body"] for m in (found[0], found[4])] == ["Card used: 120.0 at ATM 0042",
                                                                    "Card used: 7 at ATM 0042"]
    assert "coupon" in found[3]["explanation"]


async def test_a_batch_writes_its_runs_with_their_messages(herald: Running) -> None:
    """The runs a batch starts go in as rows beside the messages they planned: on PostgreSQL in the very
    statement that writes the messages, their contents and timelines (one round trip for all), on SQLite in
    one multi-row insert; never an insert per run."""
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    made = await trigger(client, "ATM", "card.withdrawal", ALERT)
    engine = herald.app.state.herald.engine.sync_engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = await client.post("/v1/events/batch", json={"events": [
            {"type": "card.withdrawal", "contact": {"phone": f"+1415555012{i}"}, "payload": WITHDRAWAL_SAMPLE}
            for i in range(5)]})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 202, resp.text
    inserts = [s for s in seen if "INSERT INTO journey_runs" in s]
    assert len(inserts) == 1, inserts
    if engine.dialect.name == "postgresql":
        assert "INSERT INTO messages" in inserts[0], inserts[0]
    runs = (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"]
    assert sorted(r["state"] for r in runs) == ["completed"] * 5
    assert all(len(r["messages"]) == 1 for r in runs)


async def test_counters_pick_the_first_and_the_third_purchase(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    await template(client, "thanks", "Thanks for order {{ event.order_id }}")
    step = [{"type": "send", "channel": "sms", "template": "thanks"}]
    first = await trigger(client, "First", "purchase", step, counters=[{"event": "purchase", "count": 1}])
    third = await trigger(client, "Third this month", "purchase", step,
                          counters=[{"event": "purchase", "period": "month", "count": 3}])
    big = await trigger(client, "Second big one", "purchase", step, counters=[
        {"event": "purchase", "count": 2, "match": "event.total >= 100"}], filter="event.total >= 100")
    who = {"external_id": "buyer"}
    got = [(await send_event(client, "purchase", who, {"order_id": f"o{i}", "total": total})).json()["triggers"]
           for i, total in enumerate((10, 150, 20, 300, 5))]
    assert got == [[first["id"]], [], [third["id"]], [big["id"]], []]


async def test_an_exit_event_ends_the_run_and_its_timer(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    await event_type(client, "cart.abandoned", sample={"cart_id": "k1"})
    await template(client, "nudge", "You left something in your cart")
    made = await trigger(client, "Cart", "cart.abandoned", [
        {"type": "wait", "duration": "PT2H"}, {"type": "send", "channel": "sms", "template": "nudge"}],
        exit_on=[{"event": "purchase", "match": "event.cart_id == entry.cart_id"}], reentry="once_at_a_time")
    who = {"phone": "+14155550102"}
    await send_event(client, "cart.abandoned", who, {"cart_id": "k1"})
    again = (await send_event(client, "cart.abandoned", who, {"cart_id": "k1"})).json()
    assert again["triggers"] == [made["id"]]
    other = (await send_event(client, "purchase", who, {"order_id": "o", "cart_id": "other"})).json()
    assert other["runs"] == []
    done = (await send_event(client, "purchase", who, {"order_id": "o", "cart_id": "k1"})).json()
    assert len(done["runs"]) == 1
    runs = {r["state"]: r for r in (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"]}
    assert set(runs) == {"cancelled", "skipped"}
    assert "exit on purchase" in runs["cancelled"]["reason"]
    stats = (await client.get("/v1/triggers/Cart")).json()["stats"]
    assert (stats["cancelled"], stats["skipped"], stats["runs_started"], stats["waiting"]) == (1, 1, 1, 0)
    jobs = await _timers(herald)
    assert jobs == 0, "the cancelled run's timer is gone"


async def _timers(h: Running) -> int:
    from sqlalchemy import func, select

    from herald.db.session import unit_of_work
    from herald.queue.models import Job

    async with unit_of_work(h.app.state.herald.sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(Job).where(Job.kind == "journey.timer"))
                   or 0)


async def test_deleting_a_trigger_cancels_its_waiting_runs(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    made = await trigger(client, "Later", "card.withdrawal", [{"type": "wait", "until": "10:00"}, *ALERT])
    await send_event(client, "card.withdrawal", {"phone": "+14155550103", "timezone": "Asia/Kolkata"},
                     WITHDRAWAL_SAMPLE)
    run = (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"][0]
    until = datetime.fromisoformat(run["wait"]["until"]).astimezone(ZoneInfo("Asia/Kolkata"))
    assert run["state"] == "waiting"
    assert (until.hour, until.minute) == (10, 0)
    assert timedelta(0) < until - datetime.now(UTC) <= timedelta(days=1)
    assert await _timers(herald) == 1
    assert (await client.delete(f"/v1/triggers/{made['id']}")).status_code == 204
    assert await _timers(herald) == 0
    assert (await client.get(f"/v1/triggers/{made['id']}")).status_code == 404
    resp = await client.delete("/v1/event-types/card.withdrawal")
    assert resp.status_code == 204


async def test_concurrent_events_of_one_contact_start_one_run_at_a_time(herald: Running) -> None:
    client = await herald.authed()
    await file_provider(client)
    await setup(client)
    made = await trigger(client, "One at a time", "card.withdrawal", [{"type": "wait", "duration": "P1D"}, *ALERT],
                         reentry="once_at_a_time")
    who = {"external_id": "busy", "phone": "+14155550104"}
    answers = await asyncio.gather(*(send_event(client, "card.withdrawal", who, WITHDRAWAL_SAMPLE)
                                     for _ in range(12)))
    assert {a.status_code for a in answers} == {202}
    runs = (await client.get(f"/v1/triggers/{made['id']}/runs")).json()["data"]
    assert sorted(r["state"] for r in runs) == ["skipped"] * 11 + ["waiting"]


async def test_without_a_sample_the_schema_shapes_the_template_check(herald: Running) -> None:
    client = await herald.authed()
    await event_type(client, "loan.due", {"type": "object", "properties": {
        "amount": {"type": "number"}, "due": {"type": "string", "examples": ["2026-12-01"]}}})
    await event_type(client, "anything")
    await template(client, "due", "{{ event.amount }} due on {{ event.due }} for {{ event.loan_id }}")
    made = await trigger(client, "Due", "loan.due", [{"type": "send", "channel": "sms", "template": "due"}])
    assert [w["field"] for w in made["warnings"]] == ["steps[0].template"]
    assert "loan_id" in made["warnings"][0]["message"]
    blind = await trigger(client, "Blind", "anything", [{"type": "send", "channel": "sms", "template": "due"}])
    assert [w["code"] for w in blind["warnings"]] == ["no_sample"]
