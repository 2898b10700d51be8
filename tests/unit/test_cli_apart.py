"""`herald api` and `herald worker` warn when pointed at SQLite, where they only work well as one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.cli import apart_on_sqlite
from herald.settings import Settings


def test_api_or_worker_on_sqlite_is_told_to_run_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERALD_DATABASE_URL", raising=False)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}", var_dir=tmp_path)
    warning = apart_on_sqlite(settings, "worker")
    assert warning is not None
    assert warning.startswith("herald worker on SQLite")
    assert "herald serve" in warning
    default = Settings(var_dir=tmp_path)  # no database URL: SQLite under the var directory
    assert apart_on_sqlite(default, "api") is not None


def test_postgresql_is_what_they_are_for(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql+psycopg://herald@db.internal/herald", var_dir=tmp_path)
    assert apart_on_sqlite(settings, "api") is None
