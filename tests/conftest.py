"""Shared fixtures: real databases (SQLite always; PostgreSQL when reachable, and required under CI=true),
the real app with its lifespan, and API clients holding tokens."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from herald.app import create_app
from herald.bootstrap import first_start
from herald.crypto import Keyring
from herald.db.migrate import upgrade
from herald.db.session import make_engine
from herald.settings import Settings

PG_ADMIN = os.environ.get("HERALD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CLIENT_ID, CLIENT_SECRET = "cli_test", "hs_test_secret_0123456789"


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


def require_pg() -> None:
    if pg_available():
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"PostgreSQL is required under CI=true but {PG_ADMIN} is not reachable")
    pytest.skip("PostgreSQL is not reachable (set HERALD_TEST_PG); these tests run in CI")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@contextmanager
def new_pg_database(*, migrated: bool = True) -> Iterator[str]:
    """A database of its own on the test server (migrated, or empty for a test that migrates it itself),
    dropped afterwards."""
    require_pg()
    name = f"herald_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    try:
        if migrated:
            upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with new_pg_database() as url:
        yield url


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """For tests of what the server remembers across TRUNCATE (planner statistics, its counters)."""
    with new_pg_database() as url:
        yield url


def _truncate_pg(url: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")]
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "herald.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """An empty, migrated PostgreSQL database, for tests that are about PostgreSQL only."""
    _truncate_pg(pg_database)
    return pg_database


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url, var_dir=tmp_path / "var", secret_key="test-secret-key-0123456789",
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, admin_password="admin-password-123",
        public_url="http://testserver", poll_interval=0.05, retry_base_seconds=0.05, retry_max_seconds=0.5,
        lease_seconds=5,
    )


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    async def token(self, scope: str | None = None, client_id: str = CLIENT_ID,
                    secret: str = CLIENT_SECRET) -> str:
        form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        resp = await self.client.post("/oauth/token", data=form, auth=(client_id, secret))
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    async def authed(self, scope: str | None = None) -> httpx.AsyncClient:
        self.client.headers["Authorization"] = f"Bearer {await self.token(scope)}"
        return self.client


async def _start(settings: Settings, with_worker: bool) -> tuple[FastAPI, object]:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    await first_start(settings, engine, Keyring.from_settings(settings))
    await engine.dispose()
    app = create_app(settings, with_worker=with_worker)
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    return app, ctx


@pytest.fixture
async def herald(settings: Settings) -> AsyncIterator[Running]:
    """The API in-process, without a worker (messages stay queued)."""
    app, ctx = await _start(settings, with_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield Running(app, client, settings)
    await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture
async def herald_with_worker(settings: Settings) -> AsyncIterator[Running]:
    """API and dispatcher in-process, as `herald serve` runs them."""
    app, ctx = await _start(settings, with_worker=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield Running(app, client, settings)
    await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it answers something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)
