"""Real-browser fixtures: `herald serve` as a process on SQLite, and Debian's chromium driven by playwright.

A missing browser or playwright skips these tests on a developer machine, but fails them under CI=true:
CI must never pass without having run them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.acceptance import helpers

CHROMIUM = os.environ.get("HERALD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@herald.localhost", "e2e-admin-password-123"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        raise RuntimeError(f"the console browser tests must run under CI=true, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")  # playwright's sync API keeps an event loop running while open
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page in its own browser context, collecting script errors and CSP violations (not the expected 4xx
    answers, e.g. a failed sign-in's 400) so a test can assert there were none."""

    context: Any
    page: Any
    problems: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        yield Tab(context, page, problems)
    finally:
        context.close()


@dataclass(frozen=True)
class Served:
    base: str
    log: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`herald serve` (API, console and worker) on a fresh SQLite database."""
    port = helpers.free_port()
    base = f"http://127.0.0.1:{port}"
    env = helpers.herald_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}", port,
                             HERALD_ADMIN_EMAIL=ADMIN_EMAIL, HERALD_ADMIN_PASSWORD=ADMIN_PASSWORD,
                             HERALD_PUBLIC_URL=base, HERALD_POLL_INTERVAL="0.1")
    log = tmp_path / "serve.log"
    proc = helpers.start(["serve"], env, log)
    try:
        helpers.wait_ready(base, proc, log)
        yield Served(base, log)
    finally:
        helpers.stop(proc)
