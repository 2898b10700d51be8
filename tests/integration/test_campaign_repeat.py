"""Recurring campaigns (seed 002: "execute on the first day of the month; recur each month"): a definition
makes a run at each occurrence, each run a campaign of its own that plans the audience as it is then; stopping
the definition ends the recurrence. On SQLite and PostgreSQL, through the worker and the fake Twilio; the
clock is moved by bringing the definition's next occurrence (and its job) to now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import update

from herald.campaigns.models import Campaign
from herald.db.session import unit_of_work
from herald.fakes.twilio import FakeTwilio
from herald.queue.models import JOBS
from tests.conftest import Running, wait_for
from tests.integration.campaign_setup import act, add_twilio, campaign, make_list, person, sms_template

MONTHLY = {"every": "month", "day": 1, "at": "09:00", "timezone": "Europe/Nicosia"}


async def due_now(herald: Running, campaign_id: str) -> None:
    """What the clock reaching the next occurrence does: the definition's job is due, and so is its run."""
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        now = datetime.now(UTC)
        definition = await session.get(Campaign, campaign_id)
        assert definition is not None
        definition.next_run_at = now
        await session.execute(update(JOBS).where(JOBS.c.id == definition.job_id).values(due_at=now))


async def runs(client: httpx.AsyncClient, definition_id: str, count: int) -> list[dict[str, Any]]:
    async def made() -> list[dict[str, Any]] | None:
        found = (await client.get("/v1/campaigns", params={"parent_id": definition_id})).json()
        return found if len(found) == count and all(r["state"] == "completed" for r in found) else None

    return list(await wait_for(made, 30))


def first_of_next_month_9am_nicosia() -> datetime:
    local = datetime.now(ZoneInfo("Europe/Nicosia"))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, 9, tzinfo=ZoneInfo("Europe/Nicosia")).astimezone(UTC)


async def test_a_monthly_campaign_makes_a_run_at_each_occurrence_until_stopped(herald_with_worker: Running,
                                                                               fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    await sms_template(client, "Your balance of {{ row.offer }} is overdue", name="unsettled")
    lst = await make_list(client, "Unsettled", [person(i) for i in range(3)])
    made = await campaign(client, name="Unsettled bills", lists=[lst["id"]], template="unsettled",
                          classification="financial", repeat=MONTHLY)
    assert made["repeat"] == {**MONTHLY, "weekday": None, "until": None}
    started = await act(client, made["id"], "start")
    assert started["state"] == "scheduled"
    assert datetime.fromisoformat(started["next_run_at"]) == first_of_next_month_9am_nicosia()
    assert fake.messages == []  # nothing before the first occurrence

    await due_now(herald_with_worker, made["id"])
    first = await runs(client, made["id"], 1)
    today = datetime.now(ZoneInfo("Europe/Nicosia")).date().isoformat()
    assert first[0]["name"] == f"Unsettled bills · {today}"
    assert (first[0]["parent_id"], first[0]["progress"]["sent"] + first[0]["progress"]["delivered"]) == (made["id"], 3)
    definition = (await client.get(f"/v1/campaigns/{made['id']}")).json()
    assert (definition["state"], definition["last_run_id"]) == ("scheduled", first[0]["id"])
    assert datetime.fromisoformat(definition["next_run_at"]) == first_of_next_month_9am_nicosia()

    await client.post(f"/v1/lists/{lst['id']}/members", json={"members": [person(3)]})  # the audience grows
    await due_now(herald_with_worker, made["id"])
    both = await runs(client, made["id"], 2)
    assert sorted(r["progress"]["total"] for r in both) == [3, 4]  # each run plans the audience of its day
    assert sorted(m["to"] for m in fake.messages) == sorted(
        [f"+1415555{i:04d}" for i in range(3)] * 2 + ["+14155550003"])

    assert (await act(client, made["id"], "stop"))["state"] == "stopped"
    await due_now(herald_with_worker, made["id"])
    await wait_for(lambda: _job_done(herald_with_worker, made["id"]), 10)
    assert len((await client.get("/v1/campaigns", params={"parent_id": made["id"]})).json()) == 2


async def _job_done(herald: Running, campaign_id: str) -> bool:
    async with unit_of_work(herald.app.state.herald.sessions) as session:
        definition = await session.get(Campaign, campaign_id)
        assert definition is not None
        state = (await session.execute(JOBS.select().where(JOBS.c.id == definition.job_id))).one().state
    return bool(state == "done")


async def test_a_run_that_cannot_start_is_skipped_and_the_definition_says_why(herald_with_worker: Running,
                                                                             fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    await sms_template(client, "Hello {{ row.offer }}", name="hello")
    lst = await make_list(client, "People", [person(0)])
    made = await campaign(client, name="Weekly", lists=[lst["id"]], template="hello", classification="service",
                          repeat={"every": "week", "weekday": "mon"})
    await act(client, made["id"], "start")
    assert (await client.delete("/v1/templates/hello")).status_code == 204
    await due_now(herald_with_worker, made["id"])

    async def told() -> dict[str, Any] | None:
        found = (await client.get(f"/v1/campaigns/{made['id']}")).json()
        return found if found["state_reason"] else None

    definition = await wait_for(told, 20)
    assert "could not start" in definition["state_reason"]
    assert definition["state"] == "scheduled"
    assert datetime.fromisoformat(definition["next_run_at"]) > datetime.now(UTC)
    assert (await client.get("/v1/campaigns", params={"parent_id": made["id"]})).json() == []


async def test_a_repeat_rule_that_cannot_work_is_refused(herald_with_worker: Running, fake: FakeTwilio) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    await sms_template(client, "Hi", name="hi")
    lst = await make_list(client, "L", [person(0)])

    async def refused(repeat: dict[str, Any]) -> tuple[int, str, str]:
        resp = await client.post("/v1/campaigns", json={"name": "x", "channel": "sms", "lists": [lst["id"]],
                                                        "template": "hi", "repeat": repeat})
        body = resp.json()
        return resp.status_code, body.get("code"), (body.get("errors") or [{}])[0].get("field", "")

    assert await refused({"every": "week"}) == (422, "invalid_repeat", "repeat.weekday")
    assert await refused({"every": "day", "timezone": "Mars/Olympus"}) == (422, "invalid_repeat", "repeat.timezone")
    assert (await refused({"every": "fortnight"}))[0] == 422
    assert (await refused({"every": "day", "at": "25:00"}))[0] == 422
    ended = await campaign(client, name="ended", lists=[lst["id"]], template="hi",
                           repeat={"every": "day", "until": "2026-01-01T00:00:00Z"})
    resp = await client.post(f"/v1/campaigns/{ended['id']}/start")
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_repeat")
