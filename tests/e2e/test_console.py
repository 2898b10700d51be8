"""The console in a real browser against `herald serve`: sign in, send a test SMS, watch it reach
`delivered` (the demo file provider delivers at once), read its timeline, find it in the list, sign out."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Served, Tab

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _badge_until(page: Any, states: set[str], timeout: float = 20) -> str:
    """Reload the message page until its state badge shows one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        state = str(page.locator("h1 .badge").inner_text()).strip()
        if state in states or time.monotonic() > deadline:
            return state
        time.sleep(0.2)
        page.reload()


def test_sign_in_send_follow_and_sign_out(tab: Tab, served: Served, tmp_path: Path) -> None:
    page, problems = tab.page, tab.problems
    page.goto(served.base + "/")
    assert page.url.startswith(served.base + "/console/login")

    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    assert "Wrong email or password." in page.locator(".alert").inner_text()

    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served.base + "/console")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert ADMIN_EMAIL in page.locator("header .who").inner_text()

    page.click("nav >> text=Test send")
    page.wait_for_url(served.base + "/console/send")
    page.select_option("#channel", "email")
    assert page.is_visible("#subject")
    assert not page.is_visible("#body")
    page.select_option("#channel", "sms")
    assert page.is_visible("#body")
    assert not page.is_visible("#subject")
    page.fill("#to", "+14155550100")
    page.fill("#body", "Your card ending 1234 was used at ATM 0042.")
    page.click("form.send button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/messages/msg_[0-9A-Z]+$"))
    message_id = page.url.rsplit("/", 1)[1]

    assert _badge_until(page, {"delivered", "failed"}) == "delivered"
    timeline = page.locator("#timeline li").all_inner_texts()
    steps = [line.split()[1] for line in timeline]  # "<time> <state> <detail>"
    assert (steps[0], steps[-1]) == ("queued", "delivered")
    assert "sending" in steps
    assert "Your card ending 1234 was used at ATM 0042." in page.locator("dl.content").inner_text()
    assert "demo-sms" in page.inner_text("main")

    page.click("nav >> text=Messages")
    page.wait_for_url(served.base + "/console/messages")
    row = page.locator("table.grid tbody tr", has=page.locator(f"a[href='/console/messages/{message_id}']"))
    assert row.count() == 1
    assert "delivered" in row.inner_text()
    assert "+14155550100" in row.inner_text()

    page.click("nav >> text=Dashboard")
    page.wait_for_url(served.base + "/console")
    with page.expect_response(lambda r: "/console/fragments/dashboard" in r.url, timeout=15_000) as polled:
        pass
    assert polled.value.status == 200
    page.wait_for_timeout(300)  # let htmx swap the refreshed fragment in
    assert "+14155550100" in page.inner_text("#live")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.click("text=Sign out")
    page.wait_for_url(served.base + "/console/login")
    page.goto(served.base + "/console/messages")
    assert page.url.startswith(served.base + "/console/login?next=")
    assert not problems, problems  # no script errors, no CSP violations
