"""`herald campaign …` as an operator runs it: real processes, a worker sending to the fake Twilio, a live
progress bar, refusals with a message and exit code 2."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.fakes.twilio import FakeTwilio
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings
from tests.acceptance.helpers import free_port, herald_env, start, stop

pytestmark = pytest.mark.slow
SID, AUTH = "AC" + "9" * 32, "cli-campaign-token"


async def _add_provider(env: dict[str, str], tmp_path: Path, base_url: str) -> None:
    settings = Settings(database_url=env["HERALD_DATABASE_URL"], var_dir=tmp_path / "var",
                        secret_key=env["HERALD_SECRET_KEY"])
    engine = make_engine(settings.effective_database_url, pool_size=1)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await providers.create(session, Keyring.from_settings(settings), "ws_default", ProviderCreate(
            name="twilio", kind="twilio", priority=10, settings={
                "account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199", "base_url": base_url}),
            actor="test")
    await engine.dispose()


def test_campaign_from_the_command_line(tmp_path: Path) -> None:
    env = herald_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}", free_port())

    def herald(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "herald", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    data = tmp_path / "people.csv"
    data.write_text("id,phone,text\n" + "".join(f"{i},+4479111234{i:02d},Hello {i}\n" for i in range(12)),
                    encoding="utf-8")
    imported = herald("import", str(data), "--list", "People", "--map", "id=external_id", "--map", "phone=phone",
                      "--map", "text=field:text")
    assert imported.returncode == 0, imported.stderr
    with FakeTwilio(account_sid=SID, auth_token=AUTH, callbacks=False).running() as twilio:
        asyncio.run(_add_provider(env, tmp_path, twilio.base_url))
        refused = herald("campaign", "create", "Hello", "--list", "People", "--message-column", "nope")
        assert refused.returncode == 2
        assert "no column 'nope'" in refused.stderr
        made = herald("campaign", "create", "Hello", "--list", "People", "--message-column", "text",
                      "--classification", "service")
        assert made.returncode == 0, made.stderr
        assert "a draft" in made.stderr
        assert herald("campaign", "pause", "Hello").returncode == 2, "a draft cannot be paused"
        worker = start(["worker"], env, tmp_path / "worker.log")
        try:
            done = herald("campaign", "start", "Hello", "--watch")
        finally:
            stop(worker)
    assert done.returncode == 0, done.stderr
    assert "now running" in done.stderr
    assert "completed" in done.stderr
    assert sorted(m["body"] for m in twilio.messages) == sorted(f"Hello {i}" for i in range(12))
    listed = herald("campaign", "list")
    assert "Hello" in listed.stderr
    assert "completed" in listed.stderr
