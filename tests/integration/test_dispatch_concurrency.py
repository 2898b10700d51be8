"""``HERALD_WORKER_CONCURRENCY`` bounds the sends in flight however messages reach the dispatcher: API sends
handed over by many requests at once (each offered the room free at its start) wait for a slot instead of
all going out together, and every one of them is still sent, once; also with a concurrency of one (whose
claim loop once spun without yielding when no slot was free)."""

from __future__ import annotations

import asyncio

import pytest

from herald.fakes.twilio import FakeTwilio
from herald.settings import Settings
from tests.conftest import Running, wait_for
from tests.integration.campaign_setup import add_twilio


@pytest.fixture(params=[1, 4])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"worker_concurrency": request.param})


async def test_api_sends_handed_over_at_once_never_exceed_the_concurrency(herald_with_worker: Running,
                                                                         fake: FakeTwilio, settings: Settings) -> None:
    client = await herald_with_worker.authed()
    await add_twilio(client, fake)
    fake.fail("slow", count=12, delay=0.1)  # each send holds its slot a while
    answers = await asyncio.gather(*(client.post("/v1/messages", json={
        "channel": "sms", "to": f"+1415555{n:04d}", "body": f"Alert {n}"}) for n in range(12)))
    assert [a.status_code for a in answers] == [202] * 12

    async def all_sent() -> bool:
        data = (await client.get("/v1/messages", params={"limit": 100})).json()["data"]
        return len(data) == 12 and all(m["state"] == "sent" for m in data)

    await wait_for(all_sent)
    assert sorted(m["body"] for m in fake.messages) == sorted(f"Alert {n}" for n in range(12))
    assert fake.peak_in_flight == settings.worker_concurrency
    data = (await client.get("/v1/messages", params={"limit": 100})).json()["data"]
    assert {m["attempt_count"] for m in data} == {1}
