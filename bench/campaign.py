"""A campaign to a 1,000,000-contact list with 5% on a do-not-contact list, run by ONE `herald worker` process
against the fake Twilio (its own process).

Measures: seconds until every recipient is planned (queued, or skipped with its reason), then the sustained
send rate over a window while the worker works through the queue, the worker's and the fake's CPU time per
SMS over that window (steadier than the rate on a shared machine), and the worker's peak memory (RSS).
Prints one JSON object. Usage:
  python bench/campaign.py [--contacts 1000000] [--send-seconds 30] [--database-url postgresql://...]
With a PostgreSQL URL, a fresh database is created on that server for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from herald.bootstrap import DEFAULT_WORKSPACE, first_start
from herald.campaigns import service as campaigns
from herald.campaigns.models import Campaign
from herald.campaigns.schemas import CampaignIn
from herald.crypto import Keyring
from herald.db.migrate import upgrade
from herald.db.session import make_engine, make_sessionmaker, unit_of_work
from herald.fakes import audience
from herald.messages.models import Message
from herald.providers import service as providers
from herald.providers.schemas import ProviderCreate
from herald.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from dispatch import AUTH, SID, free_port, wait_port


async def prepare(settings: Settings, contacts: int, twilio_url: str) -> tuple[str, float]:
    engine = make_engine(settings.effective_database_url, pool_size=2)
    keyring = Keyring.from_settings(settings)
    await first_start(settings, engine, keyring)
    clock = time.monotonic()
    crowd = await audience.seed(engine, DEFAULT_WORKSPACE, contacts)
    seeded = time.monotonic() - clock
    async with unit_of_work(make_sessionmaker(engine)) as session:
        await providers.create(session, keyring, DEFAULT_WORKSPACE, ProviderCreate(
            name="bench-twilio", kind="twilio", priority=100, settings={
                "account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199", "base_url": twilio_url,
                "max_connections": 500}), actor="bench")
        await session.flush()
        made = await campaigns.create(session, DEFAULT_WORKSPACE, CampaignIn(
            name="Bench", channel="sms", lists=[crowd.list_id], message_column="text",
            classification="direct_marketing", quiet_hours=False), actor="bench")
        await session.flush()
        await campaigns.start(session, made, actor="bench")
        campaign_id = made.id
    await engine.dispose()
    return campaign_id, seeded


async def observe(url: str, campaign_id: str, *, span: bool = False) -> dict[str, Any]:
    """Whether planning is done and how many were sent; with ``span``, also when the first and the last
    message were planned. That reads every message row (most of a core for a second on a million), so it
    is asked once, at the end, not on every poll: the observer must not take the CPU it is measuring."""
    # A plain engine: Herald's SQLite engine begins IMMEDIATE, which would take the worker's write lock.
    engine = create_async_engine(url)
    m = Message.__table__.c
    async with engine.connect() as conn:
        planned_all = await conn.scalar(select(Campaign.planned_all).where(Campaign.id == campaign_id))
        sent = await conn.scalar(select(func.count()).where(m.source_id == campaign_id, m.state == "sent"))
        first_last = (await conn.execute(select(func.min(m.created_at), func.max(m.created_at), func.count())
                                         .where(m.source_id == campaign_id))).one() if span else None
    await engine.dispose()
    return {"planned_all": bool(planned_all), "sent": int(sent or 0), "span": first_last}


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run(args: argparse.Namespace, db_url: str, workdir: Path) -> dict[str, Any]:
    upgrade(db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update({"HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(workdir / "var"),
                "HERALD_SECRET_KEY": "bench-secret-key-0123456789", "HERALD_LOG_LEVEL": "WARNING"})
    port = free_port()
    settings = Settings(database_url=db_url, var_dir=workdir / "var", secret_key=env["HERALD_SECRET_KEY"])
    campaign_id, seeded = asyncio.run(prepare(settings, args.contacts, f"http://127.0.0.1:{port}"))
    fake = subprocess.Popen([sys.executable, "-m", "herald", "fake", "twilio", "--port", str(port), "--account-sid",
                             SID, "--auth-token", AUTH, "--no-callbacks"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    worker = None
    try:
        wait_port(port)
        began = time.monotonic()
        worker = subprocess.Popen([sys.executable, "-m", "herald", "worker"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=(workdir / "worker.log").open("wb"))
        proc, fake_proc = psutil.Process(worker.pid), psutil.Process(fake.pid)
        peak = 0
        cpu: list[tuple[float, float]] = []
        planned_after = None
        window: list[tuple[float, int]] = []
        state: dict[str, Any] = {}
        deadline = began + args.timeout
        while time.monotonic() < deadline:
            peak = max(peak, proc.memory_info().rss)
            state = asyncio.run(observe(db_url, campaign_id))
            now = time.monotonic()
            if planned_after is None and state["planned_all"]:
                planned_after = now - began
                window = [(now, state["sent"])]
                cpu = [(_cpu(proc), _cpu(fake_proc))]
            elif planned_after is not None:
                window.append((now, state["sent"]))
                cpu.append((_cpu(proc), _cpu(fake_proc)))
                if now - window[0][0] >= args.send_seconds or state["sent"] >= args.contacts * 0.95 - 1:
                    break
            if worker.poll() is not None:
                raise RuntimeError(f"the worker died; see {workdir}/worker.log")
            time.sleep(0.5)
    finally:
        for p in (worker, fake):
            if p is not None:
                p.terminate()
                p.wait(10)
    if planned_after is None or len(window) < 2:
        raise RuntimeError(f"planning did not finish within {args.timeout}s: {state}")
    first, last, planned = asyncio.run(observe(db_url, campaign_id, span=True))["span"]
    sent_in_window = window[-1][1] - window[0][1]
    rate = sent_in_window / (window[-1][0] - window[0][0])
    per_sms = max(sent_in_window, 1)
    return {"database": db_url.split(":")[0], "contacts": args.contacts, "on_dnc_list": args.contacts // 20,
            "seed_seconds": round(seeded, 1), "planned_messages": planned,
            "planning_seconds": round((last - first).total_seconds(), 2),
            "planned_after_worker_start_seconds": round(planned_after, 2),
            "send_window_seconds": round(window[-1][0] - window[0][0], 1),
            "sent_in_window": sent_in_window, "sms_per_second": round(rate, 1),
            # CPU per SMS over the same window: steadier than the rate on a shared machine.
            "worker_cpu_ms_per_sms": round((cpu[-1][0] - cpu[0][0]) * 1000 / per_sms, 3),
            "fake_cpu_ms_per_sms": round((cpu[-1][1] - cpu[0][1]) * 1000 / per_sms, 3),
            "worker_peak_rss_mb": round(peak / 2**20, 1), "cpu_count": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--send-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL; default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.database_url:
            print(json.dumps(run(args, f"sqlite+aiosqlite:///{workdir / 'bench.db'}", workdir)))
            return
        admin = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        name = f"herald_bench_{os.getpid()}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
            print(json.dumps(run(args, url, workdir)))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
