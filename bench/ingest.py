"""The group commit of ``POST /v1/events`` alone, in this process: CPU and wall time per group of N triggered
events (each finds or creates its contact, starts a journey run and plans an SMS), with no HTTP, no sending
and no other work on the event loop. `bench/events.py` measures the whole path; this one isolates the part
that sets its latency (see Running at scale in the README), so a change to it can be judged on a noisy VM
by a few interleaved runs instead of many end-to-end ones.

Creates a fresh database (SQLite file, or one on the PostgreSQL server of --database-url, dropped after),
sets it up through the app as `bench/events.py` does, warms up, then stores --groups groups of --size events
through the coalescer's store: each event names a new contact (created in its group) or, with --known, one the
warm-up made (as most events of a steady load do). Prints one JSON object; --profile FILE also writes cProfile
statistics of the measured groups (read them with `python -m pstats FILE`). Usage:
  python bench/ingest.py [--size 12] [--groups 300] [--database-url postgresql://postgres@127.0.0.1:5432/test]
      [--known] [--profile /tmp/ingest.pstats]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from events import CLIENT, SECRET, database, setup_requests, withdrawal
from herald.app import create_app
from herald.auth import tokens
from herald.db import planner_stats
from herald.events.coalesce import coalescer
from herald.events.schemas import EventIn
from herald.settings import Settings
from speed import sample as machine_speed

WARM_UP_GROUPS = 30
ANALYZE_EVERY = 50
"""Groups between the planner statistics' refreshes."""


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    app = create_app(Settings())  # no worker: the messages planned stay queued, nothing is sent
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        token = (await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": CLIENT,
                                                         "client_secret": SECRET})).json()["access_token"]
        for path, body in setup_requests("http://127.0.0.1:9"):  # a provider nothing will call
            resp = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            if resp.status_code != 201:
                raise RuntimeError(f"setup {path}: {resp.status_code} {resp.text}")
        state = app.state.herald
        principal, store = tokens.verify(state.keyring, token), coalescer(state)._store
        numbers = itertools.count()

        warm = WARM_UP_GROUPS * args.size  # --known: the measured events name the warm-up's contacts again

        def group(contacts: int = 5000) -> list[EventIn]:
            return [EventIn.model_validate(withdrawal(n % contacts, f"b{n}"))
                    for n in itertools.islice(numbers, args.size)]

        for _ in range(WARM_UP_GROUPS):
            await store(principal, group(), defer=True)
        groups = [group(warm if args.known else 5000) for _ in range(args.groups)]  # made before the clock starts
        profile = cProfile.Profile() if args.profile else None
        wall = cpu = 0.0
        for start in range(0, len(groups), ANALYZE_EVERY):
            # What `herald serve` does every few seconds (db/planner_stats.py), off the clock: with the
            # statistics of a table a tenth its size, PostgreSQL plans the group's reads as scans.
            if state.engine.dialect.name == "postgresql":
                await planner_stats.analyze_grown(state.engine)
            clocks = time.perf_counter(), time.process_time()
            if profile:
                profile.enable()
            for items in groups[start:start + ANALYZE_EVERY]:
                await store(principal, items, defer=True)
            if profile:
                profile.disable()
            wall, cpu = wall + time.perf_counter() - clocks[0], cpu + time.process_time() - clocks[1]
        if profile:
            profile.dump_stats(args.profile)
    per_group = 1000 / args.groups
    return {"size": args.size, "groups": args.groups, "known_contacts": args.known, "profiled": bool(args.profile),
            "cpu_ms_per_group": round(cpu * per_group, 3), "wall_ms_per_group": round(wall * per_group, 3),
            "cpu_ms_per_event": round(cpu * per_group / args.size, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=12, help="events per group (500 events/s makes groups of ~12)")
    parser.add_argument("--groups", type=int, default=300, help="measured groups")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL; default: a fresh SQLite file")
    parser.add_argument("--known", action="store_true",
                        help="events name existing contacts (by default each names a new one, until 5,000)")
    parser.add_argument("--profile", default="", help="write cProfile statistics of the measured groups here")
    args = parser.parse_args()
    if args.size < 1 or args.groups < 1:
        parser.error("--size and --groups take a positive number")
    before = machine_speed()
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url, Path(tmp)) as url:
        for key in [key for key in os.environ if key.startswith("HERALD_")]:
            del os.environ[key]  # the run's own settings only, as bench/events.py gives its servers
        os.environ.update({
            "HERALD_DATABASE_URL": url, "HERALD_VAR_DIR": str(Path(tmp) / "var"), "HERALD_LOG_LEVEL": "WARNING",
            "HERALD_SECRET_KEY": "bench-secret-key-0123456789", "HERALD_CLIENT_ID": CLIENT,
            "HERALD_CLIENT_SECRET": SECRET})
        subprocess.run([sys.executable, "-m", "herald", "migrate"], check=True, capture_output=True)
        result = asyncio.run(measure(args))
    print(json.dumps({"database": url.split(":")[0].split("+")[0], **result,
                      "machine_speed": {"before": before, "after": machine_speed()}}))


if __name__ == "__main__":
    main()
