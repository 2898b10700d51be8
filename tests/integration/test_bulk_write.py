"""The bulk write path under imports and list adds, on both databases: rows written by ``insert_rows`` (COPY on
PostgreSQL, executemany on SQLite) read back exactly as SQLAlchemy wrote them, a duplicate is SQLAlchemy's
``IntegrityError`` and leaves the transaction usable after its savepoint, the batch lookup finds existing
contacts by any key, and ``upsert_settled`` on PostgreSQL settles a race with a concurrent creation."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from herald.contacts import bulk
from herald.contacts.fields import Cleaned
from herald.contacts.models import Contact
from herald.db.fastinsert import insert_rows
from herald.db.session import make_engine, make_sessionmaker
from herald.settings import Settings


def contact(contact_id: str, external_id: str, **extra: object) -> dict[str, object]:
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return {"id": contact_id, "workspace_id": "ws_default", "external_id": external_id, "name": "Zoë\t\"q\"\\n",
            "email": None, "phone": None, "locale": None, "timezone": None, "birthday": date(1990, 5, 31),
            "attributes": {"tier": "gold", "n": 3, "nested": {"x": [1, None]}}, "consent": {}, "erased_at": None,
            "created_at": now, "updated_at": now, **extra}


async def test_insert_rows_round_trips_and_reports_duplicates(herald: object, settings: Settings) -> None:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as conn, conn.begin():
            await insert_rows(conn, bulk.CONTACTS, [contact("ct_a", "A"), contact("ct_b", "B", name=None)])
            row = (await conn.execute(select(bulk.CONTACTS).where(bulk.CONTACTS.c.id == "ct_a"))).mappings().one()
            assert row["name"] == "Zoë\t\"q\"\\n"
            assert row["birthday"] == date(1990, 5, 31)
            assert row["attributes"] == {"tier": "gold", "n": 3, "nested": {"x": [1, None]}}
            assert row["created_at"] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
            with pytest.raises(IntegrityError):
                async with conn.begin_nested():
                    await insert_rows(conn, bulk.CONTACTS, [contact("ct_c", "C"), contact("ct_d", "A")])
            names = (await conn.execute(select(bulk.CONTACTS.c.id).order_by(bulk.CONTACTS.c.id))).scalars().all()
            assert names == ["ct_a", "ct_b"]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("key", bulk.KEYS)
async def test_the_batch_lookup_finds_existing_contacts_by_each_key(herald: object, settings: Settings,
                                                                    key: str) -> None:
    engine = make_engine(settings.effective_database_url, pool_size=1)
    values = {"external_id": "X-1", "email": "x@example.com", "phone": "+14155550100"}
    try:
        async with engine.connect() as conn, conn.begin():
            first = await bulk.upsert(conn, "ws_default", [bulk.Item(Cleaned(values=dict(values)))], key=key)
            again = await bulk.upsert(conn, "ws_default", [bulk.Item(Cleaned(values={**values, "name": "X"})),
                                                           bulk.Item(Cleaned(values={key: "nobody"}))], key=key)
            assert [r.status for r in first] == [bulk.CREATED]
            assert [(r.contact_id, r.status) for r in again[:1]] == [(first[0].contact_id, bulk.UPDATED)]
            assert again[1].status == bulk.CREATED
            count = len((await conn.execute(select(Contact.id))).all())
            assert count == 2
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_contact_created_concurrently_is_used_not_duplicated_and_the_transaction_lives_on(
        pg_url: str) -> None:
    """Another transaction inserts external id "race" and has not committed when this one upserts it with a
    new one: this insert waits on the first and leaves its row out (no error, no savepoint), the next pass
    finds the committed contact, and each result says what this request did to it."""
    engine = make_engine(pg_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    try:
        async with engine.connect() as first:
            await first.begin()
            await insert_rows(first, bulk.CONTACTS, [contact("ct_first", "race")])
            async with sessions() as session:
                items = [bulk.Item(Cleaned(values={"external_id": "race", "name": "Raced"})),
                         bulk.Item(Cleaned(values={"external_id": "fresh"}))]
                upserting = asyncio.create_task(bulk.upsert_settled(session, "ws_default", items, key="external_id"))
                await asyncio.sleep(0.3)
                assert not upserting.done()  # waiting on the uncommitted "race"
                await first.commit()
                results = await upserting
                assert results[0].contact_id == "ct_first"
                assert results[0].status == bulk.UPDATED  # its name, set on the contact the other request made
                assert results[1].status == bulk.CREATED  # made in the first pass, found again in the second
                await session.commit()
        async with sessions() as session:
            rows = {c.external_id: c for c in (await session.scalars(select(Contact))).all()}
        assert sorted(rows) == ["fresh", "race"]
        assert rows["race"].name == "Raced"
        assert rows["fresh"].id == results[1].contact_id
    finally:
        await engine.dispose()
