"""Inbound STOP latency: from a signed Twilio webhook to a committed suppression, through `herald serve`.

Starts `herald serve` (SQLite by default) as a process with a Twilio provider, then posts N signed STOP
webhooks from distinct numbers at a fixed concurrency. The suppression commits before the webhook answers, so
the answer time is the latency asked for; afterwards every number is checked to be suppressed. Prints one
JSON object. Usage: python bench/inbound.py [--stops 2000] [--concurrency 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from herald.channels.sms.twilio import compute_signature

SID, TOKEN, OURS = "AC" + "7" * 32, "bench-inbound-token", "+14155550199"
CLIENT, SECRET = "cli_bench", "hs_bench_secret_0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(base + "/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("herald serve did not become ready")


async def run(base: str, fake: str, stops: int, concurrency: int) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        token = (await client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                   auth=(CLIENT, SECRET))).json()["access_token"]
        api = {"Authorization": f"Bearer {token}"}
        made = await client.post("/v1/providers", headers=api, json={"name": "tw", "kind": "twilio", "priority": 50,
                                 "settings": {"account_sid": SID, "auth_token": TOKEN, "from_number": OURS,
                                              "base_url": fake}})
        provider_id = made.json()["id"]
        path = f"/webhooks/twilio/{provider_id}/inbound"
        numbers = [f"+1212555{n:04d}" for n in range(stops)]
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def stop(n: int, number: str) -> None:
            form = {"MessageSid": f"SM{n:032d}", "AccountSid": SID, "From": number, "To": OURS, "Body": "STOP"}
            headers = {"X-Twilio-Signature": compute_signature(TOKEN, base + path, form)}
            async with gate:
                clock = time.perf_counter()
                resp = await client.post(path, data=form, headers=headers)
                latencies.append(time.perf_counter() - clock)
            resp.raise_for_status()

        clock = time.perf_counter()
        await asyncio.gather(*(stop(n, number) for n, number in enumerate(numbers)))
        seconds = time.perf_counter() - clock
        checks = await asyncio.gather(*(client.get("/v1/suppressions", params={"address": number}, headers=api)
                                        for number in numbers[:: max(1, stops // 200)]))
        suppressed = all(c.json()["blocked"] for c in checks)
    ordered = sorted(latencies)
    return {"stops": stops, "concurrency": concurrency, "seconds": round(seconds, 2),
            "stops_per_second": round(stops / seconds), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1), "target_p99_ms": 1000,
            "all_checked_suppressed": suppressed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stops", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")} | {
        "HERALD_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{work / 'herald.db'}",
        "HERALD_VAR_DIR": str(work / "var"), "HERALD_PORT": str(port), "HERALD_PUBLIC_URL": base,
        "HERALD_SECRET_KEY": "bench-inbound-secret-0123456789", "HERALD_CLIENT_ID": CLIENT,
        "HERALD_CLIENT_SECRET": SECRET, "HERALD_LOG_LEVEL": "WARNING"}
    fake_port = free_port()
    with (work / "serve.log").open("wb") as log:
        # The keyword answers go out through Twilio's API: the fake, in its own process, takes them.
        fake = subprocess.Popen([sys.executable, "-m", "herald", "fake", "twilio", "--port", str(fake_port),
                                 "--account-sid", SID, "--auth-token", TOKEN, "--no-callbacks"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        server = subprocess.Popen([sys.executable, "-m", "herald", "serve"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            asyncio.run(wait_ready(base))
            result = asyncio.run(run(base, f"http://127.0.0.1:{fake_port}", args.stops, args.concurrency))
        finally:
            for proc in (server, fake):
                proc.terminate()
                proc.wait(timeout=30)
    database = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
    print(json.dumps({"benchmark": "inbound_stop_to_suppression", "database": database, **result}))


if __name__ == "__main__":
    main()
