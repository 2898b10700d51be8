"""STOP during a 10,000-recipient SMS campaign, end to end: `herald serve` sends through the fake Twilio while
1 % of the recipients reply STOP to the signed inbound webhook. After each STOP commits (the webhook has
answered), no further marketing message reaches that number -- counted at the fake -- and each STOP gets
exactly one confirmation."""

from __future__ import annotations

import asyncio
import collections
import random
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from herald.bootstrap import DEFAULT_WORKSPACE, first_start
from herald.campaigns import service as campaigns
from herald.campaigns.schemas import CampaignIn
from herald.channels.sms.twilio import compute_signature
from herald.crypto import Keyring
from herald.db.migrate import upgrade
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.fakes import audience
from herald.fakes.twilio import FakeTwilio
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings
from tests.acceptance import helpers

pytestmark = pytest.mark.slow
SID, AUTH, OURS = "AC" + "5" * 32, "stop-campaign-token", "+14155550199"
TOTAL, STOPS = 10_000, 100
PENDING = "SELECT count(*) FROM messages WHERE state IN ('queued', 'retrying', 'sending')"


async def _seed(settings: Settings, twilio_url: str) -> str:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    keyring = Keyring.from_settings(settings)
    await first_start(settings, engine, keyring)
    crowd = await audience.seed(engine, DEFAULT_WORKSPACE, TOTAL, dnc_every=TOTAL * 10)  # only number 7 on DNC
    async with unit_of_work(make_sessionmaker(engine)) as session:
        provider = await providers.create(session, keyring, DEFAULT_WORKSPACE, ProviderCreate(
            name="twilio", kind="twilio", priority=10, settings={
                "account_sid": SID, "auth_token": AUTH, "from_number": OURS, "base_url": twilio_url}), actor="test")
        await session.flush()
        made = await campaigns.create(session, DEFAULT_WORKSPACE, CampaignIn(
            name="Offer", channel="sms", lists=[crowd.list_id], message_column="text",
            # 50 s of sending: room for the 100 STOP round trips even on a slow, loaded machine (at 400/s a
            # CI machine at a fifth of its usual speed finished the campaign before the last STOP).
            classification="direct_marketing", quiet_hours=False, throttle_per_second=200), actor="test")
        await session.flush()
        await campaigns.start(session, made, actor="test")
        provider_id = provider.id
    await engine.dispose()
    return provider_id


def test_a_stop_mid_campaign_stops_that_numbers_next_message(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}"
    port = helpers.free_port()
    base = f"http://127.0.0.1:{port}"
    env = helpers.herald_env(tmp_path, db_url, port, HERALD_PUBLIC_URL=base, HERALD_POLL_INTERVAL="0.05")
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", secret_key=env["HERALD_SECRET_KEY"])
    upgrade(db_url)
    rng = random.Random(7)
    stopped: dict[str, float] = {}
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callbacks=False).running() as twilio:
        provider_id = asyncio.run(_seed(settings, twilio.base_url))
        path = f"/webhooks/twilio/{provider_id}/inbound"
        proc = helpers.start(["serve"], env, tmp_path / "serve.log")
        try:
            helpers.wait_ready(base, proc, tmp_path / "serve.log")
            deadline = time.monotonic() + 180
            while len(twilio.messages) < TOTAL * 0.1:  # the campaign is under way
                assert time.monotonic() < deadline, "the campaign never started sending"
                time.sleep(0.05)
            with httpx.Client(base_url=base, timeout=10) as client:
                while len(stopped) < STOPS:
                    reached = {m["to"] for m in twilio.messages}
                    phones = (audience.Audience.phone(i) for i in range(TOTAL) if i != 7)
                    waiting = [p for p in phones if p not in reached and p not in stopped]
                    assert waiting, "the campaign ended before every STOP was sent"
                    number = rng.choice(waiting)
                    form = {"MessageSid": f"SM{len(stopped):032d}", "AccountSid": SID, "From": number, "To": OURS,
                            "Body": "STOP", "NumMedia": "0"}
                    resp = client.post(path, data=form, headers={
                        "X-Twilio-Signature": compute_signature(AUTH, base + path, form)})
                    assert resp.status_code == 200, resp.text
                    stopped[number] = time.time()  # committed: the webhook answers after its transaction
                    time.sleep(0.03)
            db = sqlite3.connect(tmp_path / "herald.db")
            while pending := db.execute(PENDING).fetchone()[0]:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, f"{pending} messages still waiting"
                time.sleep(0.2)
            states = dict(db.execute("SELECT state || ':' || coalesce(reason, ''), count(*) FROM messages "
                                     "GROUP BY 1").fetchall())
            db.close()
        finally:
            helpers.stop(proc)
        received = list(twilio.messages)
    late = [m for m in received if m["to"] in stopped and m["body"].startswith("Hello")
            and m["received_at"] > stopped[m["to"]]]
    assert late == [], f"{len(late)} marketing messages reached a number after its STOP committed"
    confirmations = collections.Counter(m["to"] for m in received if "unsubscribed" in m["body"])
    assert set(confirmations) == set(stopped)
    assert set(confirmations.values()) == {1}
    offers = collections.Counter(m["to"] for m in received if m["body"].startswith("Hello"))
    assert max(offers.values()) == 1
    missed = {audience.Audience.phone(i) for i in range(TOTAL)} - set(offers) - {audience.Audience.phone(7)}
    assert missed <= set(stopped), f"{len(missed - set(stopped))} numbers that never replied STOP got nothing: {states}"
    print(f"\nstop during campaign: {STOPS} STOPs; {len(offers)} offers; "
          f"{sum(1 for n in stopped if n in offers)} stopped numbers had theirs before the STOP")
