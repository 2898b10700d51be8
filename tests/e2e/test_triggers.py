"""The trigger pages in a real browser against `herald serve`: find a trigger, read its statistics and the
runs its events started (a waiting one says what it waits for), and switch it off."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from herald.auth.models import Workspace
from herald.bootstrap import DEFAULT_WORKSPACE
from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.events import ingest
from herald.events import service as event_types
from herald.events.schemas import EventContact, EventIn, EventTypeIn
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings
from herald.templates import service as templates
from herald.templates.liquid import Renderer
from herald.templates.schemas import TemplateCreate
from herald.triggers import service as triggers
from herald.triggers.schemas import TriggerIn
from herald.triggers.sending import SendContext
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Served, Tab

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


async def _seed(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}", var_dir=tmp_path / "var",
                        secret_key="acceptance-secret-key-0123456789")
    engine = make_engine(settings.effective_database_url, pool_size=1)
    renderer = Renderer()
    async with unit_of_work(make_sessionmaker(engine)) as session:
        workspace = await session.get(Workspace, DEFAULT_WORKSPACE)
        assert workspace is not None
        await providers.create(session, Keyring.from_settings(settings), workspace.id, ProviderCreate(
            name="outbox", kind="file", channel="sms", settings={}), actor="test")
        await templates.create(session, renderer, workspace.id, TemplateCreate(
            name="cart", channel="sms", variants={"en": {"body": "Your cart {{ event.cart_id }} misses you"}}), "test")
        await event_types.create(session, workspace.id, EventTypeIn(name="cart.abandoned"), "test")
        await session.flush()
        await triggers.create(session, workspace, TriggerIn.model_validate({
            "name": "Abandoned cart", "description": "A nudge an hour after a cart is left", "event_type":
            "cart.abandoned", "filter": "event.total > 20", "steps": [
                {"type": "wait", "duration": "PT1H"}, {"type": "send", "channel": "sms", "template": "cart"}]}),
            "admin@herald.localhost", renderer)
        await session.flush()
        items = [EventIn(type="cart.abandoned", contact=EventContact(phone=f"+447500000{i:03d}"),
                         payload={"cart_id": f"k{i}", "total": 10 * i}) for i in range(1, 6)]
        await ingest.ingest(session, workspace, items, ctx=SendContext(renderer), batch=True)
    await engine.dispose()


def test_read_a_trigger_and_switch_it_off(tab: Tab, served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page, problems = tab.page, tab.problems
    with ThreadPoolExecutor(1) as pool:  # playwright's sync API holds this thread's event loop
        pool.submit(asyncio.run, _seed(tmp_path)).result()
    page.goto(served.base + "/console/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served.base + "/console")
    page.click("nav >> text=Triggers")
    page.click("#triggers >> text=Abandoned cart")
    page.wait_for_url(re.compile(r".*/console/triggers/trg_[0-9A-Z]+$"))
    assert page.inner_text("#matched") == "3"  # totals of 30, 40 and 50 pass "event.total > 20"
    assert page.inner_text("#waiting") == "3"
    assert page.locator("#runs tbody tr").count() == 3
    assert "time until" in page.inner_text("#runs")
    assert "event.total > 20" in page.inner_text("#definition")
    assert page.locator("#events tbody tr").count() == 5
    expect(page.locator("#trigger-state")).to_have_text("active")
    page.click("#toggle")
    expect(page.locator("#trigger-state")).to_have_text("inactive")
    assert problems == []
