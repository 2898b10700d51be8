"""Alembic environment: async engines, batch mode (SQLite ALTERs), the models' metadata."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection

from herald.db.models import Base
from herald.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        user_module_prefix="herald.db.base.",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    existing: Any = config.attributes.get("connection")
    if existing is not None:
        _run(existing)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", pool_size=1)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_keys_off)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        if engine.dialect.name == "sqlite":
            await conn.run_sync(_check_keys)
        await conn.commit()
    await engine.dispose()


def _sqlite_keys_off(dbapi_connection: Any, _record: Any) -> None:
    """Batch mode rebuilds a SQLite table by dropping it; with foreign keys on, that DROP would first delete
    every child row through ON DELETE CASCADE. SQLite's own recipe for altering a table: keys off (outside a
    transaction, so on connecting), rebuild, then :func:`_check_keys` before committing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _check_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left {len(broken)} row(s) whose parent is missing: {broken[:5]}")


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
