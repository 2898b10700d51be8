"""`herald import FILE --list NAME` as a user runs it: a real process, a progress bar, a report of failed
rows written next to the file, and exit codes that scripts can trust."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from herald.campaigns.models import JOB_KIND as CAMPAIGN_JOB
from herald.db.session import make_engine
from herald.imports.service import JOB_KIND as IMPORT_JOB
from herald.imports.service import job_key
from herald.queue import jobs
from herald.triggers.models import TIMER_JOB
from tests.acceptance.helpers import free_port, herald_env

pytestmark = pytest.mark.slow


def run_import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = herald_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}", free_port())
    return subprocess.run([sys.executable, "-m", "herald", "import", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_import_reports_counts_and_failed_rows(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    data.write_text("Cust No;Handy;Name\n1;+447911123456;Ann\n2;4.47912E+11;Bob\n3;+447911123457;=cmd|' /C calc'!A0\n",
                    encoding="utf-8")
    done = run_import(tmp_path, str(data), "--list", "UK customers", "--map", "Cust No=external_id",
                      "--map", "Handy=phone")
    assert done.returncode == 1, done.stderr
    assert "Created the list" in done.stderr
    assert "│ 2 " in done.stderr  # created
    report = (tmp_path / "customers.failures.csv").read_text(encoding="utf-8-sig").splitlines()
    assert report[0] == "row,code,reason"
    assert report[1].startswith("3,phone_scientific_notation,")
    again = run_import(tmp_path, str(data), "--list", "UK customers", "--map", "Cust No=external_id",
                       "--map", "Handy=phone")
    assert again.returncode == 1
    assert "unchanged" in again.stderr


def test_cli_refuses_a_bad_mapping_with_a_message(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    done = run_import(tmp_path, str(data), "--list", "L", "--map", "a=fax")
    assert done.returncode == 2
    assert "fax" in done.stderr
    missing = run_import(tmp_path, str(tmp_path / "nope.csv"), "--list", "L")
    assert missing.returncode == 2


def test_cli_runs_its_own_import_and_leaves_every_other_job_queued(tmp_path: Path) -> None:
    """`herald import` runs beside a live system: a journey timer, a campaign fan-out or another import due
    meanwhile is a worker's to run, not failed here for want of a handler (nor run by a CLI about to exit)."""
    data = tmp_path / "customers.csv"
    data.write_text("id,phone\n1,+447911123456\n", encoding="utf-8")
    assert run_import(tmp_path, str(data), "--list", "L", "--map", "id=external_id").returncode == 0
    url = f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}"
    others = asyncio.run(_enqueue(url, [(TIMER_JOB, {"run_id": "run_x", "version": 1}, None),
                                        (CAMPAIGN_JOB, {"campaign_id": "cmp_x"}, None),
                                        (IMPORT_JOB, {"import_id": "imp_other"}, job_key("imp_other"))]))
    data.write_text("id,phone\n2,+447911123457\n", encoding="utf-8")
    done = run_import(tmp_path, str(data), "--list", "L", "--map", "id=external_id")
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(tmp_path / "herald.db")) as db:
        rows = db.execute(f"SELECT kind, state, attempts, last_error, lease_token FROM jobs WHERE id IN "
                          f"({','.join('?' * len(others))}) ORDER BY kind", others).fetchall()
        imports = db.execute("SELECT state FROM jobs WHERE kind = 'import' AND unique_key != ?",
                             (job_key("imp_other"),))
        assert [state for (state,) in imports] == ["done", "done"]
    assert rows == [(CAMPAIGN_JOB, "queued", 0, None, None), (IMPORT_JOB, "queued", 0, None, None),
                    (TIMER_JOB, "queued", 0, None, None)]


async def _enqueue(url: str, specs: list[tuple[str, dict[str, Any], str | None]]) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return [str(await jobs.enqueue(conn, kind, payload, unique_key=key)) for kind, payload, key in specs]
    finally:
        await engine.dispose()
