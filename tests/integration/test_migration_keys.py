"""Migration 0010 drops foreign keys by rebuilding tables on SQLite: upgrading (and downgrading) an existing
database must keep every row, above all the children that ON DELETE CASCADE would have taken with a dropped
parent table, and leave SQLite's remaining keys enforced."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from herald.auth.models import Workspace
from herald.contacts.models import Contact
from herald.db.migrate import alembic_config, upgrade
from herald.events.models import Event
from herald.lists.models import ContactList, ListMember
from herald.messages.models import Message, MessageContent, MessageEvent
from herald.providers.models import Provider
from herald.triggers.models import JourneyRun, Trigger
from tests.conftest import new_pg_database

CHILDREN = (Contact, ListMember, Event, JourneyRun, Message, MessageContent, MessageEvent, Provider)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables yet); the test migrates it itself."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    with new_pg_database(migrated=False) as url:
        yield url


def _sync(url: str) -> str:
    return url.replace("+aiosqlite", "")


def _fill(url: str) -> None:
    """One row in each table the migration rebuilds, and in the children of those tables."""
    engine = create_engine(_sync(url))
    with Session(engine) as s, s.begin():
        s.add(Workspace(id="ws_1", name="Bank"))
        s.flush()
        s.add_all([Contact(id="ct_1", workspace_id="ws_1", phone="+15555550100"),
                   ContactList(id="cl_1", workspace_id="ws_1", name="All"),
                   Provider(id="pr_1", workspace_id="ws_1", name="sms", kind="file", channel="sms", settings={}),
                   Trigger(id="tr_1", workspace_id="ws_1", name="t", description="", owner="ops")])
        s.flush()
        s.add_all([ListMember(list_id="cl_1", contact_id="ct_1"),
                   Event(id="ev_1", workspace_id="ws_1", type="x", contact_id="ct_1", occurred_at=func.now()),
                   JourneyRun(id="jr_1", workspace_id="ws_1", trigger_id="tr_1", contact_id="ct_1",
                              entered_at=func.now(), clock_at=func.now()),
                   Message(id="msg_1", workspace_id="ws_1", channel="sms", provider_id="pr_1", contact_id="ct_1",
                           to_address="+15555550100")])
        s.flush()
        s.add_all([MessageContent(message_id="msg_1", content={"body": "hi"}),
                   MessageEvent(message_id="msg_1", state="queued")])
    engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(_sync(url))
    with Session(engine) as s:
        counts = {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0 for m in CHILDREN}
    engine.dispose()
    return counts


def test_upgrade_and_downgrade_keep_every_row(fresh_url: str) -> None:
    upgrade(fresh_url, "0009")
    _fill(fresh_url)
    assert set(_counts(fresh_url).values()) == {1}

    upgrade(fresh_url)
    assert set(_counts(fresh_url).values()) == {1}
    command.downgrade(alembic_config(fresh_url), "0009")
    assert set(_counts(fresh_url).values()) == {1}


def test_sqlite_still_enforces_the_keys_that_stay(tmp_path: Path) -> None:
    """The rebuilt tables keep their other keys: a timeline row for a missing message is refused."""
    path = tmp_path / "new.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO message_events (message_id, state, at) VALUES ('msg_nope', 'queued', '2026-01-01')")
    conn.close()
