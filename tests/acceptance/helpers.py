"""Start Herald as real processes for acceptance tests, and seed or inspect their database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from herald import ids
from herald.bootstrap import first_start
from herald.crypto import Keyring
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.messages import service as messages
from herald.messages.models import Message
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def herald_env(tmp: Path, db_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update({
        "HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(tmp / "var"), "HERALD_PORT": str(port),
        "HERALD_HOST": "127.0.0.1", "HERALD_SECRET_KEY": "acceptance-secret-key-0123456789",
        "HERALD_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "herald", *args], env=env, stdout=handle,
                            stderr=subprocess.STDOUT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"herald exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"herald did not become ready:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def token(base: str, client_id: str, secret: str) -> str:
    resp = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    resp.raise_for_status()
    return str(resp.json()["access_token"])


async def seed_sms(settings: Settings, twilio_url: str, total: int, sid: str, auth: str) -> None:
    """A Twilio provider pointing at the fake, and ``total`` queued SMS with distinct bodies."""
    engine = make_engine(settings.effective_database_url, pool_size=1)
    keyring = Keyring.from_settings(settings)
    await first_start(settings, engine, keyring)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        provider = await providers.create(session, keyring, "ws_default", ProviderCreate(
            name="twilio", kind="twilio", priority=10, settings={
                "account_sid": sid, "auth_token": auth, "from_number": "+14155550199", "base_url": twilio_url}),
            actor="test")
        await session.flush()
        now = datetime.now(UTC)
        await messages.bulk_enqueue(session, [{
            "id": ids.new_id("msg"), "workspace_id": "ws_default", "source": "api", "channel": "sms",
            "provider_id": provider.id, "to_address": f"+4477009{i % 1000:05d}", "content": {"body": f"sms {i}"},
            "classification": "transactional", "priority": 0, "meta": {}, "state": "queued", "due_at": now,
            "attempts": 0, "created_at": now, "updated_at": now,
        } for i in range(total)])
    await engine.dispose()


async def counts(url: str) -> dict[str, int]:
    """Messages by state."""
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Message.state, func.count()).group_by(Message.state))).all()
    await engine.dispose()
    return {state: int(n) for state, n in rows}
