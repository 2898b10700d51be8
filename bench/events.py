"""Event ingestion and event-to-SMS latency through ONE `herald serve` process (API and worker together), or
with --split through `herald api` and `herald worker` as two processes (the deployment at scale on PostgreSQL).

Starts the fake Twilio and `herald serve` as processes, then sets up through the API a Twilio provider at the
fake, an event type `page.view` with no trigger, and `card.withdrawal` with a trigger (channel == "ATM" sends
the SMS template `atm-alert`, ttl PT5M). After a short warm-up each, it measures:
  single_untriggered / single_triggered: events/s accepted by POST /v1/events, one event per request from 50
    concurrent clients (page.view: ingestion only; card.withdrawal: each also starts a journey run and plans
    an SMS), with request latency p50/p99/max;
  batch: events/s through POST /v1/events/batch, 1,000 page.view events per request from 4 clients;
  end_to_end: card.withdrawal events sent open-loop at a steady 500/s (after a warm-up at that rate); latency
    from just before each POST to the fake Twilio receiving its SMS (the fake's own `received_at`,
    time.time() on the same machine), and how many never arrived. Sending stops early (flagged) once 2 s
    worth of events are unanswered.
Also Herald's CPU per phase and peak RSS (both processes together with --split). The load generator shares
the machine's cores with Herald. `machine_speed` (bench/speed.py), taken before and after, says how fast the
machine ran Python against its usual speed: figures from a slowed host are read against it.
Prints one JSON object (progress on stderr). Usage:
  python bench/events.py [--seconds 10] [--e2e-seconds 30] [--both] [--split]
      [--database-url postgresql://postgres@127.0.0.1:5432/test]
With a PostgreSQL URL a fresh database is created on that server for the run and dropped after it; --both
runs SQLite, then PostgreSQL (--database-url, by default the server above).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import psycopg

from herald import gcpolicy

sys.path.insert(0, str(Path(__file__).parent))
from dispatch import AUTH, SID, free_port, wait_port
from speed import sample as machine_speed

CLIENT, SECRET = "cli_bench", "hs_bench_secret_0123456789"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
WITHDRAWAL = {"type": "object", "required": ["amount", "channel", "atm_id"], "properties": {
    "amount": {"type": "number", "minimum": 0}, "channel": {"type": "string", "enum": ["ATM", "POS", "WEB"]},
    "atm_id": {"type": "string"}}}
PAGE_VIEW = {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}}
E2E_ATM, E2E_RUNS = re.compile(r"at ATM (e\d+-\d+)$"), itertools.count()
TARGETS = {"single_per_second": 1000, "single_p99_ms": 50, "batch_per_second": 20000, "end_to_end_p99_ms": 50}


def log(text: str) -> None:
    print(f"[events] {text}", file=sys.stderr, flush=True)


def page_view(n: int) -> dict[str, Any]:
    return {"type": "page.view", "contact": {"external_id": f"c{n % 5000}"}, "payload": {"path": f"/p/{n % 97}"}}


def withdrawal(n: int, atm: str) -> dict[str, Any]:
    return {"type": "card.withdrawal", "contact": {"external_id": f"a{n % 5000}", "phone": f"+1415555{n % 5000:04d}"},
            "payload": {"amount": 20.0, "channel": "ATM", "atm_id": atm}, "idempotency_key": f"k-{atm}"}


def pct(ordered: list[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted seconds, in ms."""
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 1) if ordered else None


@dataclass
class Tally:
    """Request latencies (seconds) of the 2xx answers; the rest counted by status, with the first body of each."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)

    async def post(self, session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> bool:
        clock = time.perf_counter()
        try:
            async with session.post(path, json=body) as resp:
                text = await resp.text()
                status = str(resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            text, status = repr(exc), type(exc).__name__
        if status.startswith("2"):
            self.latencies.append(time.perf_counter() - clock)
            return True
        self.errors[status] += 1
        self.problems.setdefault(status, text[:400])
        return False

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        out = {"p50_ms": pct(ordered, 0.5), "p99_ms": pct(ordered, 0.99), "max_ms": pct(ordered, 1.0),
               "errors": sum(self.errors.values())}
        return out | ({"error_statuses": dict(self.errors), "problems": self.problems} if self.errors else {})


class Monitor:
    """Peak RSS of the herald processes together (sampled every 0.1 s) and CPU used by them and by this load
    generator."""

    def __init__(self, pids: list[int]) -> None:
        self.procs, self.me, self.peak = [psutil.Process(pid) for pid in pids], psutil.Process(), 0
        self.stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self.stop.wait(0.1):
            try:
                self.peak = max(self.peak, sum(proc.memory_info().rss for proc in self.procs))
            except psutil.Error:
                return

    def cpu(self) -> tuple[float, float, float]:
        times, m = [proc.cpu_times() for proc in self.procs], self.me.cpu_times()
        return time.perf_counter(), sum(t.user + t.system for t in times), m.user + m.system

    @staticmethod
    def percent(start: tuple[float, float, float], end: tuple[float, float, float]) -> dict[str, float]:
        wall = end[0] - start[0]
        return {"herald_cpu_percent": round(100 * (end[1] - start[1]) / wall, 1),
                "loadgen_cpu_percent": round(100 * (end[2] - start[2]) / wall, 1)}


async def closed_loop(session: aiohttp.ClientSession, mon: Monitor, path: str, body: Callable[[int], dict[str, Any]],
                      clients: int, seconds: float, warmup: float, per_request: int) -> dict[str, Any]:
    numbers = itertools.count()

    async def client(tally: Tally, until: float) -> None:
        while time.perf_counter() < until:
            await tally.post(session, path, body(next(numbers)))

    warm = Tally()
    until = time.perf_counter() + warmup
    await asyncio.gather(*(client(warm, until) for _ in range(clients)))
    tally, start = Tally(), mon.cpu()
    await asyncio.gather(*(client(tally, start[0] + seconds) for _ in range(clients)))
    end = mon.cpu()
    events = len(tally.latencies) * per_request
    return {"clients": clients, "events_per_request": per_request, "seconds": round(end[0] - start[0], 2),
            "events": events, "events_per_second": round(events / (end[0] - start[0]), 1), **tally.summary(),
            **({"warmup_errors": dict(warm.errors)} if warm.errors else {}), **mon.percent(start, end),
            "herald_cpu_ms_per_event": round(1000 * (end[1] - start[1]) / max(1, events), 3),
            "accepted_total": (len(warm.latencies) + len(tally.latencies)) * per_request}


async def fake_accepted(session: aiohttp.ClientSession, fake: str) -> int:
    async with session.get(fake + "/_fake/stats") as resp:
        return int((await resp.json())["accepted"])


async def drain(session: aiohttp.ClientSession, fake: str, expected: int, patience: float) -> tuple[int, float]:
    """Wait until the fake has accepted ``expected`` messages in all: (accepted, seconds waited)."""
    clock = time.perf_counter()
    got = await fake_accepted(session, fake)
    while got < expected and time.perf_counter() - clock < patience:
        await asyncio.sleep(0.1)
        got = await fake_accepted(session, fake)
    return got, round(time.perf_counter() - clock, 2)


async def end_to_end(session: aiohttp.ClientSession, mon: Monitor, fake: str, rate: float, seconds: float,
                     warmup: float) -> dict[str, Any]:
    """Open loop at ``rate``: ``warmup`` seconds unmeasured (the clients' connections are opened then, as in
    the closed-loop phases), then ``seconds`` measured."""
    sent_at: dict[str, float] = {}
    tally, answered, run = Tally(), 0, next(E2E_RUNS)
    tasks: list[asyncio.Task[None]] = []

    async def fire(i: int, measured: bool) -> None:
        nonlocal answered
        atm = f"e{run}-{i}"
        if measured:
            sent_at[atm] = time.time()
        if not await (tally if measured else Tally()).post(session, "/v1/events", withdrawal(i, atm)):
            sent_at.pop(atm, None)
        answered += 1

    before = await fake_accepted(session, fake)
    warm, total = int(rate * warmup), int(rate * (warmup + seconds))
    clock, start = time.perf_counter(), mon.cpu()
    for i in range(total):  # open loop: each send at its slot, whether or not earlier answers came back
        if (delay := clock + i / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if len(tasks) - answered > 2 * rate:  # 2 s of events unanswered: overloaded; keep the load bounded
            log(f"end to end: overloaded after {len(tasks)} events; stopping early")
            break
        if i == warm:
            start = mon.cpu()
        tasks.append(asyncio.create_task(fire(i, measured=i >= warm)))
    sending = time.perf_counter() - start[0]
    await asyncio.gather(*tasks)
    end = mon.cpu()
    # Wait on the fake's cheap counter first: serving its full message list holds up SMS still arriving.
    _, waited = await drain(session, fake, before + len(tasks), patience=10)
    async with session.get(fake + "/_fake/messages") as resp:
        received = {m.group(1): msg["received_at"] for msg in await resp.json() if (m := E2E_ATM.search(msg["body"]))}
    latencies = [(t, received[k] - t) for k, t in sent_at.items() if k in received]
    ordered = sorted(latency for _, latency in latencies)
    measured = max(0, len(tasks) - warm)
    return {"target_rate": rate, "achieved_rate": round(measured / sending, 1), "seconds": round(sending, 2),
            "warmup_seconds": warmup, "stopped_early_overloaded": len(tasks) < total, "sent": measured,
            "accepted": len(sent_at), "received": len(ordered), "lost": len(sent_at) - len(ordered),
            "extra_wait_for_stragglers_s": waited, "p50_ms": pct(ordered, 0.5), "p99_ms": pct(ordered, 0.99),
            "max_ms": pct(ordered, 1.0), "max_ms_by_second": by_second(latencies), "request": tally.summary(),
            **mon.percent(start, end)}


def by_second(latencies: list[tuple[float, float]]) -> list[float | None]:
    """The worst latency of the events sent in each second of the run, in ms: shows whether a bad p99 is one
    stall (a collection, a checkpoint) or a steady queue."""
    if not latencies:
        return []
    first = min(sent for sent, _ in latencies)
    worst: dict[int, float] = {}
    for sent, latency in latencies:
        second = int(sent - first)
        worst[second] = max(worst.get(second, 0.0), latency)
    return [round(worst[s] * 1000, 1) if s in worst else None for s in range(max(worst) + 1)]


def setup_requests(fake: str) -> list[tuple[str, dict[str, Any]]]:
    """What the run creates through the API before measuring: a Twilio provider at the fake, the two event
    types, the SMS template and the ATM trigger."""
    return [
        ("/v1/providers", {"name": "bench-twilio", "kind": "twilio", "priority": 100, "settings": {
            "account_sid": SID, "auth_token": AUTH, "from_number": "+14155550199", "base_url": fake,
            "max_connections": 500}}),
        ("/v1/event-types", {"name": "page.view", "description": "A page seen (no trigger)", "schema": PAGE_VIEW}),
        ("/v1/event-types", {"name": "card.withdrawal", "description": "Cash taken with the card",
                             "schema": WITHDRAWAL, "sample": {"amount": 120.0, "channel": "ATM", "atm_id": "42"}}),
        ("/v1/templates", {"name": "atm-alert", "channel": "sms", "variants": {"en": {
            "body": "Card used: {{ event.amount }} at ATM {{ event.atm_id }}"}}}),
        ("/v1/triggers", {"name": "ATM alert", "description": "SMS on every ATM withdrawal",
                          "event_type": "card.withdrawal", "filter": 'event.channel == "ATM"', "steps": [
                              {"type": "send", "channel": "sms", "template": "atm-alert", "ttl": "PT5M"}]}),
    ]


async def setup(base: str, fake: str) -> str:
    async with aiohttp.ClientSession(base) as s:
        async with s.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": CLIENT,
                                                "client_secret": SECRET}) as resp:
            token = str((await resp.json())["access_token"])
        head = {"Authorization": f"Bearer {token}"}
        for path, body in setup_requests(fake):
            async with s.post(path, json=body, headers=head) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"setup {path}: {resp.status} {await resp.text()}")
    return token


async def measure(base: str, fake: str, mon: Monitor, args: argparse.Namespace) -> dict[str, Any]:
    token = await setup(base, fake)
    # The load generator's own full collections (60-80 ms, walking aiohttp, psycopg and psutil) stalled its
    # sends and were measured as Herald's latency: its collector is settled as Herald's are.
    gcpolicy.settle()
    out: dict[str, Any] = {}
    limits = aiohttp.TCPConnector(limit=1000, keepalive_timeout=3)  # closes before uvicorn does (5 s)
    async with aiohttp.ClientSession(base, connector=limits, timeout=aiohttp.ClientTimeout(total=60),
                                     headers={"Authorization": f"Bearer {token}"}) as s:
        if "single" in args.phases:
            log("single events, page.view (no trigger)")
            out["single_untriggered"] = await closed_loop(s, mon, "/v1/events", page_view, 50, args.seconds,
                                                          args.warmup, 1)
        if "batch" in args.phases:
            log("batches of 1,000 page.view events")
            out["batch"] = await closed_loop(
                s, mon, "/v1/events/batch",
                lambda b: {"events": [page_view(n) for n in range(b * 1000, b * 1000 + 1000)]},
                4, args.seconds, args.warmup, 1000)
        if "triggered" in args.phases:
            log("single events, card.withdrawal (trigger -> SMS)")
            before = await fake_accepted(s, fake)
            out["single_triggered"] = single = await closed_loop(
                s, mon, "/v1/events", lambda n: withdrawal(n, f"s{n}"), 50, args.seconds, args.warmup, 1)
            got, waited = await drain(s, fake, before + single["accepted_total"], patience=180)
            single |= {"sms_received": got - before, "sms_backlog_drained_after_s": waited}
        if "e2e" in args.phases:
            log(f"end to end at {args.rate:g} events/s")
            out["end_to_end"] = await end_to_end(s, mon, fake, args.rate, args.e2e_seconds, args.warmup)
    return out


@contextmanager
def database(url: str, workdir: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the PostgreSQL server at ``url`` (dropped afterwards)."""
    if not url:
        yield f"sqlite+aiosqlite:///{workdir / 'herald.db'}"
        return
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"herald_bench_events_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    before = machine_speed()
    with tempfile.TemporaryDirectory() as tmp, database(url, Path(tmp)) as db_url:
        workdir = Path(tmp)
        port, fake_port = free_port(), free_port()
        base, fake = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{fake_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")} | {
            "HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(workdir / "var"), "HERALD_PORT": str(port),
            "HERALD_PUBLIC_URL": base, "HERALD_SECRET_KEY": "bench-secret-key-0123456789",
            "HERALD_CLIENT_ID": CLIENT, "HERALD_CLIENT_SECRET": SECRET, "HERALD_LOG_LEVEL": "WARNING"}
        database_name = db_url.split(":")[0].split("+")[0]
        herald = "api and herald worker" if args.split else "serve"
        log(f"{database_name}: starting the fake Twilio and herald {herald} (logs in {workdir})")
        fake_proc = subprocess.Popen([sys.executable, "-m", "herald", "fake", "twilio", "--port", str(fake_port),
                                      "--account-sid", SID, "--auth-token", AUTH, "--no-callbacks"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        serve_log = workdir / "serve.log"
        servers: list[subprocess.Popen[bytes]] = []
        try:
            if args.split:  # `herald api` does not migrate: the worker and the API start on a ready database
                subprocess.run([sys.executable, "-m", "herald", "migrate"], env=env, check=True, capture_output=True)
            with serve_log.open("wb") as sink:
                for command in (("api", "worker") if args.split else ("serve",)):
                    servers.append(subprocess.Popen([sys.executable, "-m", "herald", command], env=env,
                                                    stdout=sink, stderr=subprocess.STDOUT))
            wait_port(fake_port)
            wait_port(port, timeout=120)
            mon = Monitor([server.pid for server in servers])
            result = asyncio.run(measure(base, fake, mon, args))
            mon.stop.set()
            if exited := [server.args[-1] for server in servers if server.poll() is not None]:
                raise RuntimeError(f"herald {', '.join(exited)} exited during the run")
        finally:
            for proc in (*servers, fake_proc):
                proc.terminate()
                proc.wait(30)
        text = serve_log.read_text(errors="replace")
        problems = [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line]
        if problems:  # the first error and its exception line: the log goes with the temporary directory
            lines = text[max(0, text.find("Traceback")):].splitlines()
            end = next((i for i, line in enumerate(lines) if i and line[:1] not in (" ", "")), len(lines) - 1)
            log("serve.log, its first error:\n" + "\n".join([lines[0], "  ...", *lines[max(1, end - 6):end + 1]]))
    single, batch, e2e = (result.get(k, {}) for k in ("single_untriggered", "batch", "end_to_end"))
    triggered = result.get("single_triggered", {})
    met = {"single_untriggered_per_second": single.get("events_per_second", 0) >= TARGETS["single_per_second"],
           "single_untriggered_p99": (single.get("p99_ms") or 1e9) < TARGETS["single_p99_ms"],
           "single_triggered_per_second": triggered.get("events_per_second", 0) >= TARGETS["single_per_second"],
           "single_triggered_p99": (triggered.get("p99_ms") or 1e9) < TARGETS["single_p99_ms"],
           "batch_per_second": batch.get("events_per_second", 0) >= TARGETS["batch_per_second"],
           "end_to_end_p99": (e2e.get("p99_ms") or 1e9) < TARGETS["end_to_end_p99_ms"] and e2e.get("lost") == 0}
    return {"database": database_name, "processes": "herald api + herald worker" if args.split else "herald serve",
            "cpu_count": os.cpu_count(), "machine_speed": {"before": before, "after": machine_speed()}, **result,
            "targets": {**TARGETS, "met": met}, "rss_mb": round(mon.peak / 2**20, 1),
            "serve_log_problem_lines": len(problems)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each closed-loop phase")
    parser.add_argument("--phases", default="single,batch,triggered,e2e",
                        help="which phases to run, comma-separated (default: all four)")
    parser.add_argument("--rate", type=float, default=500.0, help="end-to-end events per second")
    parser.add_argument("--e2e-seconds", type=float, default=30.0,
                        help="measured seconds of the end-to-end phase: long enough to take in what happens every "
                             "few tens of seconds (a collection, the disk writing back a burst)")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL; default: a fresh SQLite file")
    parser.add_argument("--both", action="store_true", help=f"SQLite, then PostgreSQL (default {PG_DEFAULT})")
    parser.add_argument("--split", action="store_true",
                        help="`herald api` and one `herald worker` process instead of `herald serve`")
    args = parser.parse_args()
    args.phases = set(args.phases.split(","))
    if args.phases - {"single", "batch", "triggered", "e2e"}:
        parser.error("--phases takes single, batch, triggered and e2e")
    if args.both:
        both: dict[str, Any] = {"sqlite": run("", args)}
        try:
            both["postgresql"] = run(args.database_url or PG_DEFAULT, args)
        except psycopg.OperationalError as exc:  # no server: say so rather than lose the SQLite numbers
            both["postgresql"] = {"skipped": f"PostgreSQL not reachable: {str(exc).splitlines()[0]}"}
        print(json.dumps(both))
    else:
        print(json.dumps(run(args.database_url, args)))


if __name__ == "__main__":
    main()
