"""CSV import throughput: a generated N-row file (phone, email, name, 3 custom fields) imported into a list,
through the same code the API and `herald import` use (upload into chunks, then the import job).

Measures the job's rows/s (phone and email validation, upsert of contacts and list rows), the CPU it took
(the whole process, and its main thread alone: the Python that cleans and builds the rows), and the process's
peak memory. Wall-clock figures swing widely on a shared machine; rows per CPU-second do much less. Runs in a
child process per database so peak RSS is this import's alone; a PostgreSQL URL names a server, on which a
fresh database is created for the run and dropped after it. Prints one JSON object.
Usage: python bench/import.py [--rows 1000000] [--database-url URL ...] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REGIONS = [("+1", 0), ("+4474", 8), ("+49151", 8), ("+3361", 7)]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(7)
    tiers = ["gold", "silver", "bronze"]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("customer_id,phone,email,name,tier,balance,branch\n")
        for n in range(rows):
            prefix, digits = REGIONS[n % len(REGIONS)]
            if prefix == "+1":
                number = f"+1{rng.choice([212, 646, 917, 415])}{rng.randint(2000000, 9999999)}"
            else:
                number = prefix + "".join(str(rng.randint(0, 9)) for _ in range(digits))
            out.write(f"C{n:07d},{number},user{n}@example{n % 97}.com,Customer {n},{tiers[n % 3]},"
                      f"{rng.randint(0, 100000) / 100:.2f},B{n % 250:03d}\n")


async def run_one(url: str, path: Path) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import AsyncSession

    from herald.bootstrap import first_start
    from herald.crypto import Keyring
    from herald.db import planner_stats
    from herald.db.session import make_engine
    from herald.imports import runner
    from herald.imports import service as imports
    from herald.imports.models import Import
    from herald.lists import service as lists
    from herald.queue.jobs import JobRunner
    from herald.settings import Settings

    settings = Settings(database_url=url, var_dir=Path(tempfile.mkdtemp()), secret_key="bench-key-0123456789")  # noqa: S106
    engine = make_engine(url, pool_size=2)
    await first_start(settings, engine, Keyring.from_settings(settings))

    async def body() -> Any:
        with path.open("rb") as fh:
            while block := fh.read(imports.CHUNK_BYTES):
                yield block

    clock = time.perf_counter()
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        target = await lists.create(session, "ws_default", "bench", None)
        imp = await imports.create(session, "ws_default", body(), actor="bench", max_bytes=1 << 31,
                                   contact_list=target)
    upload = time.perf_counter() - clock
    jobs = JobRunner(engine, long_handlers={imports.JOB_KIND: runner.run}, lease_seconds=600)
    server_cpu = await _server_cpu(engine) if engine.dialect.name == "postgresql" else 0.0
    clock, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    stop = asyncio.Event()
    keeper = asyncio.create_task(planner_stats.keep(engine, stop))  # as `herald import` and workers do
    while True:
        await jobs.run_once()
        async with AsyncSession(engine) as session:
            done = await session.get(Import, imp.id)
            assert done is not None
        if done.state in ("completed", "failed"):
            break
    seconds = time.perf_counter() - clock
    stop.set()
    await keeper
    cpu, main_cpu = time.process_time() - cpu, time.thread_time() - main_cpu
    server = await _server_cpu(engine) - server_cpu if engine.dialect.name == "postgresql" else None
    await engine.dispose()
    return {"state": done.state, "rows": done.rows_done, "created": done.created, "failed": done.failed,
            "upload_seconds": round(upload, 2), "import_seconds": round(seconds, 2),
            "rows_per_second": round(done.rows_done / seconds), "cpu_seconds": round(cpu, 2),
            "rows_per_cpu_second": round(done.rows_done / cpu),
            "main_thread_us_per_row": round(main_cpu / max(done.rows_done, 1) * 1e6, 1),
            **({"server_cpu_seconds": round(server, 2)} if server is not None else {}), "peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


async def _server_cpu(engine: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this database (a server on this machine:
    read from /proc; 0 when it cannot be read)."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        pids = (await conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
        return sum(_cpu_of(pid) for (pid,) in pids)


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def database(url: str, work: Path) -> Iterator[str]:
    """The URL to import into: a fresh SQLite file, or a fresh database on the named PostgreSQL server."""
    if not url.startswith("postgresql"):
        yield url
        return
    import psycopg

    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"herald_import_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", action="append", default=[],
                        help="a PostgreSQL server URL (a fresh database is made on it); default: SQLite only")
    parser.add_argument("--sqlite", action="store_true", help="also run SQLite when --database-url is given")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from herald import aio
        from herald.db.migrate import upgrade

        upgrade(args.child[0])
        print(json.dumps(aio.run(run_one(args.child[0], Path(args.child[1])))))
        return
    work = Path(tempfile.mkdtemp())
    path = work / "contacts.csv"
    generate(path, args.rows)
    sqlite = [f"sqlite+aiosqlite:///{work / 'bench.db'}"] if args.sqlite or not args.database_url else []
    results = {}
    for server in sqlite + args.database_url:
        with database(server, work) as url:
            out = subprocess.run([sys.executable, __file__, "--child", url, str(path)], capture_output=True,
                                 text=True, check=True)
        results["postgresql" if url.startswith("postgresql") else "sqlite"] = json.loads(out.stdout.strip()
                                                                                         .splitlines()[-1])
    print(json.dumps({"benchmark": "import", "rows": args.rows, "file_mb": round(path.stat().st_size / 1e6, 1),
                      "target_rows_per_second": 25000, "target_peak_rss_mb": 300, "results": results}))


if __name__ == "__main__":
    main()
