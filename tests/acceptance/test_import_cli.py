"""`herald import FILE --list NAME` as a user runs it: a real process, a progress bar, a report of failed
rows written next to the file, and exit codes that scripts can trust."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
