"""The campaign pages in a real browser against `herald serve`: find a draft campaign, start it, watch its
counters move to completed (htmx polling), read its skip reasons, and download its results."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from herald.bootstrap import DEFAULT_WORKSPACE
from herald.campaigns import service as campaigns
from herald.campaigns.schemas import CampaignIn
from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.fakes import audience
from herald.fakes.twilio import FakeTwilio
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Served, Tab

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
SID, AUTH = "AC" + "6" * 32, "e2e-campaign-token"


async def _draft(tmp_path: Path, twilio_url: str) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}", var_dir=tmp_path / "var",
                        secret_key="acceptance-secret-key-0123456789")
    engine = make_engine(settings.effective_database_url, pool_size=1)
    crowd = await audience.seed(engine, DEFAULT_WORKSPACE, 40)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await providers.create(session, Keyring.from_settings(settings), DEFAULT_WORKSPACE, ProviderCreate(
            name="twilio", kind="twilio", priority=10, settings={
                "account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199", "base_url": twilio_url}),
            actor="test")
        await session.flush()
        await campaigns.create(session, DEFAULT_WORKSPACE, CampaignIn(
            name="Winter offer", channel="sms", lists=[crowd.list_id], message_column="text",
            classification="direct_marketing", quiet_hours=False), actor="test")
    await engine.dispose()


def test_start_a_campaign_and_watch_it_finish(tab: Tab, served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page, problems = tab.page, tab.problems
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callbacks=False).running() as twilio:
        with ThreadPoolExecutor(1) as pool:  # playwright's sync API holds this thread's event loop
            pool.submit(asyncio.run, _draft(tmp_path, twilio.base_url)).result()
        page.goto(served.base + "/console/login")
        page.fill("#email", ADMIN_EMAIL)
        page.fill("#password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(served.base + "/console")
        page.click("nav >> text=Campaigns")
        page.click("#campaigns >> text=Winter offer")
        page.wait_for_url(re.compile(r".*/console/campaigns/cmp_[0-9A-Z]+$"))
        expect(page.locator("#campaign-state")).to_have_text("draft")
        page.click("#do-start")
        expect(page.locator("#campaign-state")).to_have_text("completed", timeout=30_000)
        assert page.inner_text("#sent") == "38"
        assert page.inner_text("#skipped") == "2"
        assert page.inner_text("#total") == "40"
        assert "dnc:Do not call Everyone" in page.inner_text("#skip-reasons")
        assert page.locator("#do-pause").count() == 0, "a completed campaign offers no actions"
        with page.expect_download() as download:
            page.click("text=Every recipient (CSV)")
        saved = tmp_path / "results.csv"
        download.value.save_as(saved)
        lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("message_id,contact_id,external_id,to,state,reason")
    assert len(lines) == 41
    assert len(twilio.messages) == 38
    assert problems == []
