"""Dispatch throughput of ONE worker process through the fake Twilio and the fake SMTP.

Seeds N queued messages, starts the fake server and `herald worker` as separate processes, and measures
from the first message sent to the last (database timestamps) and the worker's CPU over that window.
Prints one JSON object. Usage: python bench/dispatch.py [--messages 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from herald import ids
from herald.bootstrap import first_start
from herald.crypto import Keyring
from herald.db.migrate import upgrade
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.messages import service as messages
from herald.messages.models import Message
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings

SID, AUTH = "AC" + "5" * 32, "bench-twilio-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


async def seed(settings: Settings, channel: str, count: int, provider_settings: dict[str, Any], kind: str,
               paragraphs: int = 40) -> None:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    keyring = Keyring.from_settings(settings)
    await first_start(settings, engine, keyring)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        provider = await providers.create(session, keyring, "ws_default", ProviderCreate(
            name=f"bench-{channel}-{ids.new_id('x')[-6:]}", kind=kind, priority=100, settings=provider_settings),
            actor="bench")
        await session.flush()
        now = datetime.now(UTC)
        html = "<html><body><h1>Statement</h1>" + "<p>Your statement is ready.</p>" * paragraphs + "</body></html>"
        for start in range(0, count, 5000):
            rows = []
            for i in range(start, min(count, start + 5000)):
                if channel == "sms":
                    to, content = f"+4477009{i % 100000:05d}", {"body": f"Your code is {i:06d}. Valid 5 minutes."}
                else:
                    to = f"user{i}@example.com"
                    content = {"subject": f"Your statement #{i}", "text": "Your monthly statement is ready.",
                               "html": html}
                rows.append({
                    "id": ids.new_id("msg"), "workspace_id": "ws_default", "source": "api", "channel": channel,
                    "provider_id": provider.id, "to_address": to, "content": content,
                    "classification": "transactional", "priority": 0, "meta": {}, "state": "queued",
                    "due_at": now, "attempts": 0, "created_at": now, "updated_at": now,
                })
            await messages.bulk_enqueue(session, rows)
    await engine.dispose()


async def progress(url: str, channel: str) -> tuple[int, datetime | None, datetime | None]:
    # A plain engine: Herald's own SQLite engine begins every transaction IMMEDIATE, which would make this
    # observer take the write lock away from the worker it is measuring.
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        row = (await conn.execute(
            select(func.count(), func.min(Message.sent_at), func.max(Message.sent_at))
            .where(Message.channel == channel, Message.state.in_(("sent", "delivered", "failed")))
        )).one()
    await engine.dispose()
    return int(row[0]), row[1], row[2]


async def failed_reasons(url: str, channel: str) -> dict[str, int]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Message.reason, func.count()).where(
            Message.channel == channel, Message.state == "failed").group_by(Message.reason))).all()
    await engine.dispose()
    return {str(reason): int(n) for reason, n in rows}


def run_one(channel: str, count: int, base_env: dict[str, str], workdir: Path, db_url: str, paragraphs: int = 40
            ) -> dict[str, Any]:
    port = free_port()
    if channel == "sms":
        fake_cmd = ["fake", "twilio", "--port", str(port), "--account-sid", SID, "--auth-token", AUTH,
                    "--no-callbacks"]
        kind, psettings = "twilio", {"account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199",
                                     "base_url": f"http://127.0.0.1:{port}", "max_connections": 500}
    else:
        fake_cmd = ["fake", "smtp", "--port", str(port)]
        kind, psettings = "smtp", {"host": "127.0.0.1", "port": port, "security": "none",
                                   "from_email": "bench@example.com", "pool_size": 50}
    settings = Settings(database_url=db_url, var_dir=workdir / "var", secret_key=base_env["HERALD_SECRET_KEY"])
    asyncio.run(seed(settings, channel, count, psettings, kind, paragraphs))
    fake = subprocess.Popen([sys.executable, "-m", "herald", *fake_cmd], env=base_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        wait_port(port)
        worker = subprocess.Popen([sys.executable, "-m", "herald", "worker"], env=base_env,
                                  stdout=subprocess.DEVNULL, stderr=(workdir / f"worker-{channel}.log").open("wb"))
        proc, fake_proc = psutil.Process(worker.pid), psutil.Process(fake.pid)
        cpu_start = None
        deadline = time.monotonic() + 600
        while True:
            done, first, last = asyncio.run(progress(db_url, channel))
            if cpu_start is None and done > 0:
                t, f = proc.cpu_times(), fake_proc.cpu_times()
                cpu_start, wall_start = t.user + t.system, time.monotonic()
                fake_start = f.user + f.system
            if done >= count:
                t, f = proc.cpu_times(), fake_proc.cpu_times()
                cpu_used, wall = t.user + t.system - (cpu_start or 0), time.monotonic() - wall_start
                fake_used = f.user + f.system - fake_start
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"{channel}: only {done}/{count} done")
            time.sleep(0.2)
    finally:
        for p in (worker, fake):
            if p is not None:
                p.terminate()
                p.wait(10)
    seconds = (last - first).total_seconds() if first and last else float("nan")
    failures = asyncio.run(failed_reasons(db_url, channel))
    if failures:
        print(f"{channel}: failures {failures}; see {workdir}/worker-{channel}.log", file=sys.stderr)
    return {"messages": count, "failed": sum(failures.values()), "seconds": round(seconds, 3),
            "per_second": round(count / seconds, 1),
            "worker_cpu_percent": round(100 * cpu_used / wall, 1) if wall else None,
            "fake_cpu_percent": round(100 * fake_used / wall, 1) if wall else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--channels", default="sms,email")
    parser.add_argument("--html-paragraphs", type=int, default=40, help="email HTML size (40 = about 1.7 KB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        upgrade(db_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update({"HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(workdir / "var"),
                    "HERALD_SECRET_KEY": "bench-secret-key-0123456789", "HERALD_LOG_LEVEL": "WARNING"})
        result: dict[str, Any] = {"database": db_url.split(":")[0], "cpu_count": os.cpu_count()}
        for channel in args.channels.split(","):
            result[channel] = run_one(channel, args.messages, env, workdir, db_url, args.html_paragraphs)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
