"""The import job: read the stored file, clean each row, and commit the rows in batches, each batch together
with its checkpoint (``rows_done``) and its failed-row reports. A crash or a restart resumes after the last
committed batch; a re-run changes nothing it already did."""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, cast

import structlog
from sqlalchemy import Row, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from herald import errors, gcpolicy
from herald.auth.models import Workspace
from herald.contacts import bulk, fields, normalize
from herald.db.session import reading, write_lock
from herald.imports import reader
from herald.imports.models import COMPLETED, FAILED, RUNNING, Import, ImportChunk, ImportFailure
from herald.lists.models import ContactList
from herald.lists.service import note_fields
from herald.queue.jobs import Lease
from herald.suppressions import service as suppressions
from herald.suppressions.models import DncList

log = structlog.get_logger(__name__)
# Rows per committed batch. On SQLite a batch's commit writes every index page it touched to the WAL, and the
# phone and email indexes take rows in random order: 10,000-row batches write each such page for ~5 rows
# instead of ~1 (measured: commit + checkpoint ~14 -> ~4 µs a row at 200,000 contacts).
BATCH = 10_000
YIELD_EVERY = 250
# PostgreSQL plans the batch lookups once and reuses the plan; one made while the tables were small walks
# them whole later (a sequential scan per batch, quadratic over a large import). Fresh statistics at these
# batch counts make it re-plan with the indexes.
REPLAN_AFTER = frozenset({2, 8, 32, 128, 512})
SQLITE_CACHE_KIB = 64 * 1024
_FAILURES = cast(Table, ImportFailure.__table__)
_CHUNKS = cast(Table, ImportChunk.__table__)


class Plan:
    """How each column of a row becomes part of a contact, per the import's mapping."""

    def __init__(self, header: list[str], mapping: dict[str, str]) -> None:
        self.core: list[tuple[int, str]] = []
        self.consent: list[tuple[int, str]] = []
        self.fields: list[tuple[int, str]] = []
        self.attributes: list[tuple[int, str]] = []
        self.first = self.last = self.priority = -1
        for index, column in enumerate(header):
            target = mapping.get(column, "ignore")
            if target in fields.CORE:
                self.core.append((index, target))
            elif target.startswith("consent:"):
                self.consent.append((index, target.split(":", 1)[1]))
            elif target.startswith("field:"):
                self.fields.append((index, target.split(":", 1)[1]))
            elif target.startswith("attribute:"):
                self.attributes.append((index, target.split(":", 1)[1]))
            elif target == "first_name":
                self.first = index
            elif target == "last_name":
                self.last = index
            elif target == "priority":
                self.priority = index

    def item(self, cells: list[str], region: str, key: str) -> bulk.Item:
        raw = {name: cells[i] for i, name in self.core}
        if "name" not in raw and (self.first >= 0 or self.last >= 0):
            parts = [cells[i].strip() for i in (self.first, self.last) if i >= 0 and cells[i].strip()]
            raw["name"] = " ".join(parts)
        consent = {p: cells[i] for i, p in self.consent} if self.consent else None
        attributes = ({n: cells[i] for i, n in self.attributes if cells[i] != ""} or None) if self.attributes else None
        cleaned = fields.clean(raw, region, consent=consent, attributes=attributes)
        if not cleaned.values.get(key):
            raise errors.Invalid(f"The {key} column is empty; rows are matched on it.", code="missing_key")
        priority = normalize.priority(cells[self.priority]) if self.priority >= 0 else None
        row_fields = {n: cells[i] for i, n in self.fields} if self.fields else None
        return bulk.Item(cleaned, fields=row_fields, priority=priority)


async def run(engine: AsyncEngine, job: Row[Any], lease: Lease) -> None:
    import_id = job.payload["import_id"]
    async with write_lock(engine), AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        imp = await session.get(Import, import_id)
        if imp is None or imp.state in (COMPLETED, FAILED):
            return
        workspace = await session.get(Workspace, imp.workspace_id)
        assert workspace is not None
        region = imp.options.get("region") or workspace.default_region
        imp.state = RUNNING
    path = await _spool(engine, import_id)
    try:
        with _collector_spared():
            await _process(engine, imp, region, path, lease)
    except (errors.Invalid, UnicodeError) as exc:  # the file itself is unreadable: report it, don't retry
        async with write_lock(engine), AsyncSession(engine) as session, session.begin():
            await session.execute(update(Import).where(Import.id == import_id).values(
                state=FAILED, error=getattr(exc, "detail", str(exc)), finished_at=datetime.now(UTC)))
    finally:
        os.unlink(path)


async def _spool(engine: AsyncEngine, import_id: str) -> str:
    """Copy the stored chunks to a local temporary file, one chunk in memory at a time."""
    fd, path = tempfile.mkstemp(prefix="herald-import-", suffix=".csv")
    with os.fdopen(fd, "wb") as out:
        async with reading(engine) as conn:
            seq = 0
            while True:
                data = await conn.scalar(select(ImportChunk.data).where(ImportChunk.import_id == import_id,
                                                                        ImportChunk.seq == seq))
                await conn.rollback()  # one chunk per short transaction: other writers are never held up
                if data is None:
                    return path
                out.write(data)
                seq += 1


_spared = 0
_settled = False
_threshold = gc.get_threshold()
# Allocations between young-generation collections while imports run (Python's default is 700). The freezes
# every few hundred rows reset the count, so collections then hardly ever run: with the default, a 200,000-row
# import ran ~3,400 young and ~200 middle collections, ~1 s of the main thread's ~6.5 s (measured by
# gc.callbacks); with this, one.
IMPORT_GC_THRESHOLD = 100_000


@contextmanager
def _collector_spared() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects that existed before the import (``gc.freeze``) until
    it ends; :func:`_prepare` freezes again every few hundred rows, so collections do not walk the rows in
    flight either, and they run far less often (:data:`IMPORT_GC_THRESHOLD`). An import allocates millions of
    objects, so collections ran all the time, and each full one walked every object of the process (the phone
    metadata, SQLAlchemy's tables, ...) and every row of the batches in flight: ~11 µs of a row's ~32 µs on
    the main thread. Frozen objects are still freed when nothing refers to them (rows are); only reference
    cycles among them (475 objects over a 200,000-row import, from SQLAlchemy's sessions) wait for the
    collector, which gets them back when the last running import ends, and the usual threshold returns."""
    global _spared, _threshold, _settled
    if not _spared:
        _settled = gc.get_freeze_count() > 0  # a server froze its start-up (herald.gcpolicy)
        gc.freeze()
        _threshold = gc.get_threshold()
        gc.set_threshold(max(_threshold[0], IMPORT_GC_THRESHOLD), *_threshold[1:])
    _spared += 1
    try:
        yield
    finally:
        _spared -= 1
        if not _spared:
            gc.set_threshold(*_threshold)
            gc.unfreeze()
            if _settled:  # collect the import's cycles once, and freeze the server's long-lived objects again
                gcpolicy.refreeze()


def _chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            yield block


async def _process(engine: AsyncEngine, imp: Import, region: str, path: str, lease: Lease) -> None:
    """Read and clean the next batch while the database writes this one: SQLite works in its own thread
    (and PostgreSQL in its own process), so the two overlap. Batches still commit strictly in order."""
    dialect = reader.Dialect(encoding=imp.encoding, delimiter=imp.delimiter, bom=imp.bom)
    rows = reader.rows(_chunks(path), dialect, skip_rows=imp.rows_done, expect=imp.header)
    plan = Plan(imp.header, imp.mapping)
    key = imp.options.get("key", "external_id")
    current = await _prepare(imp, plan, region, key, list(islice(rows, BATCH)))
    committed = 0
    async with _import_connection(engine) as conn:
        while current.size:
            writing = asyncio.ensure_future(_commit(conn, imp, lease, key, current))
            try:
                following = await _prepare(imp, plan, region, key, list(islice(rows, BATCH)))
            finally:
                await writing
            committed += 1
            if committed in REPLAN_AFTER and engine.dialect.name == "postgresql":
                await _analyze(engine)
            current = following
    async with write_lock(engine), AsyncSession(engine) as session, session.begin():
        await session.execute(update(Import).where(Import.id == imp.id).values(
            state=COMPLETED, finished_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
        await session.execute(_CHUNKS.delete().where(_CHUNKS.c.import_id == imp.id))
    log.info("import.completed", import_id=imp.id)


@dataclass(slots=True)
class _Batch:
    size: int
    items: list[bulk.Item] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


async def _prepare(imp: Import, plan: Plan, region: str, key: str,
                   batch: list[tuple[int, list[str]] | reader.RowError]) -> _Batch:
    out = _Batch(len(batch))
    for index, entry in enumerate(batch):
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            gc.freeze()  # the rows made so far too (see _collector_spared)
            await asyncio.sleep(0)  # let the batch being written take its next step
        if isinstance(entry, reader.RowError):
            out.failed.append({"import_id": imp.id, "row_number": entry.row_number, "code": entry.code,
                               "reason": entry.reason})
            continue
        number, cells = entry
        try:
            out.items.append(plan.item(cells, region, key) if imp.dnc_list_id is None
                             else _address_item(plan, cells, region))
        except errors.Invalid as exc:
            out.failed.append({"import_id": imp.id, "row_number": number, "code": exc.code, "reason": exc.detail})
    return out


@asynccontextmanager
async def _import_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection for the whole import. On SQLite it gets a page cache big enough for the indexes an
    import of millions of rows keeps inserting into (the default 2 MB turns each insert into page reads); the
    default is restored before the connection goes back to the pool."""
    async with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            await conn.commit()
        try:
            yield conn
        finally:
            if sqlite:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA cache_size=-2000")
                await conn.commit()


async def _commit(conn: AsyncConnection, imp: Import, lease: Lease, key: str, batch: _Batch) -> None:
    """One batch, its failed-row reports and its checkpoint, in one transaction under the job's lease."""
    async with write_lock(conn.engine), conn.begin(), AsyncSession(bind=conn, expire_on_commit=False) as session:
        await lease.keep(conn)
        counts = await _write(session, imp, batch.items, key)
        if batch.failed:
            await session.execute(insert(_FAILURES), batch.failed)
        await session.execute(update(Import).where(Import.id == imp.id).values(
            rows_done=Import.rows_done + batch.size, created=Import.created + counts[0],
            updated=Import.updated + counts[1], unchanged=Import.unchanged + counts[2],
            failed=Import.failed + len(batch.failed), updated_at=datetime.now(UTC)))


async def _analyze(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE contacts")
        await conn.exec_driver_sql("ANALYZE list_members")


def _address_item(plan: Plan, cells: list[str], region: str) -> bulk.Item:
    raw = {name: cells[i] for i, name in plan.core if name in ("phone", "email") and cells[i].strip()}
    if not raw:
        raise errors.Invalid("The row has no phone number or email address.", code="missing_address")
    problems = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            values[name] = (normalize.phone(value, region, for_sms=False) if name == "phone"
                            else normalize.address_key("email", normalize.email(value)))
        except errors.Invalid as exc:
            problems.append(exc)
    if problems and not values:
        raise problems[0]
    return bulk.Item(fields.Cleaned(values=values))


async def _write(session: AsyncSession, imp: Import, items: list[bulk.Item], key: str) -> tuple[int, int, int]:
    if imp.dnc_list_id is not None:
        target = await session.get(DncList, imp.dnc_list_id)
        if target is None:
            raise errors.Invalid("The do-not-contact list was deleted during the import.", code="list_deleted")
        rows = [{"channel": "sms" if name == "phone" else "email", "address": value,
                 "scope": imp.options.get("scope", "all"), "reason": imp.options.get("reason")}
                for item in items for name, value in item.cleaned.values.items()]
        added, present = await suppressions.add(session, target, rows, source="import", actor=imp.created_by)
        return added, 0, present
    results = await bulk.upsert(session, imp.workspace_id, items, key=key, list_id=imp.list_id, source="import")
    if imp.list_id is not None and items and items[0].fields:
        lst = await session.get(ContactList, imp.list_id)
        if lst is not None:
            note_fields(lst, list(items[0].fields))
    return (sum(r.status == bulk.CREATED for r in results), sum(r.status == bulk.UPDATED for r in results),
            sum(r.status == bulk.UNCHANGED for r in results))
