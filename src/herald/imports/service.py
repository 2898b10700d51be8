"""Starting a CSV import: stream the upload into the database in chunks (bounded memory, any worker on any
host can process it), read and check the header and mapping at once (so a wrong file is refused in the
response, not an hour later), and queue the job that does the rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.imports import reader
from herald.imports.models import QUEUED, Import, ImportChunk, ImportFailure
from herald.lists.models import ContactList
from herald.queue import jobs
from herald.suppressions.models import SCOPES, DncList

CHUNK_BYTES = 1 << 20
CONTACT_KEYS = ("external_id", "email", "phone")
JOB_KIND = "import"


async def create(
    session: AsyncSession, workspace_id: str, body: AsyncIterator[bytes], *, actor: str, max_bytes: int,
    filename: str | None = None, contact_list: ContactList | None = None, dnc_list: DncList | None = None,
    mapping: dict[str, str] | None = None, key: str | None = None, region: str | None = None,
    scope: str = "all", reason: str | None = None,
) -> Import:
    """Store the file and queue its import; header, mapping and option problems raise ``errors.Invalid``."""
    pending = bytearray()
    stream = body.__aiter__()
    async for piece in stream:
        pending += piece
        if len(pending) >= reader.HEAD_BYTES:
            break
    head = bytes(pending[:reader.HEAD_BYTES])
    dialect = reader.sniff(head)
    header = reader.read_header(head, dialect)
    full = reader.validate_mapping(header, mapping) if mapping else reader.auto_map(header)
    options = _options(full, key=key, region=region, dnc=dnc_list is not None, scope=scope, reason=reason)
    imp = Import(
        id=ids.new_id("imp"), workspace_id=workspace_id, list_id=contact_list.id if contact_list else None,
        dnc_list_id=dnc_list.id if dnc_list else None, state=QUEUED, filename=(filename or "")[:255] or None,
        encoding=dialect.encoding, delimiter=dialect.delimiter, bom=dialect.bom, header=header, mapping=full,
        options=options, created_by=actor, size_bytes=0)
    session.add(imp)
    await session.flush()
    seq, size = 0, 0

    async def put(data: bytes) -> None:
        nonlocal seq, size
        size += len(data)
        if size > max_bytes:
            raise errors.TooLarge(f"The file is larger than the import limit of {max_bytes} bytes.",
                                  code="import_too_large")
        await session.execute(insert(ImportChunk), [{"import_id": imp.id, "seq": seq, "data": data}])
        seq += 1

    async for piece in stream:
        pending += piece
        while len(pending) >= CHUNK_BYTES:
            await put(bytes(pending[:CHUNK_BYTES]))
            del pending[:CHUNK_BYTES]
    if pending:
        await put(bytes(pending))
    imp.size_bytes = size
    await jobs.enqueue(await session.connection(), JOB_KIND, {"import_id": imp.id}, workspace_id=workspace_id,
                       unique_key=job_key(imp.id), max_attempts=5)
    return imp


def job_key(import_id: str) -> str:
    """The unique key of an import's job."""
    return f"import:{import_id}"


def _options(mapping: dict[str, str], *, key: str | None, region: str | None, dnc: bool, scope: str,
             reason: str | None) -> dict[str, Any]:
    targets = set(mapping.values())
    if region is not None:
        import phonenumbers

        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise errors.Invalid(f"Unknown region {region!r}; use an ISO 3166 code such as GB or US.",
                                 code="unknown_region", field="region")
    if dnc:
        if not targets & {"phone", "email"}:
            raise errors.Invalid("A do-not-contact import needs a phone or an email column; none of the columns "
                                 "maps to one.", code="no_address_column", field="mapping")
        if scope not in SCOPES:
            raise errors.Invalid(f"scope must be one of {', '.join(SCOPES)}.", code="unknown_scope", field="scope")
        return {"region": region, "scope": scope, "reason": reason}
    if key is None:
        key = next((k for k in CONTACT_KEYS if k in targets), None)
        if key is None:
            raise errors.Invalid("No column identifies the contact: map one to external_id, email or phone.",
                                 code="no_key_column", field="mapping")
    elif key not in CONTACT_KEYS:
        raise errors.Invalid(f"key must be one of {', '.join(CONTACT_KEYS)}.", code="invalid_key", field="key")
    elif key not in targets:
        raise errors.Invalid(f"No column maps to the key {key!r}.", code="no_key_column", field="key")
    return {"region": region, "key": key}


async def get(session: AsyncSession, workspace_id: str, import_id: str) -> Import:
    found = await session.get(Import, import_id)
    if found is None or found.workspace_id != workspace_id:
        raise errors.NotFound(f"No import {import_id!r} in this workspace.", code="import_not_found")
    return found


async def failures(session: AsyncSession, import_id: str, *, after: int = 0, limit: int | None = None
                   ) -> list[ImportFailure]:
    query = (select(ImportFailure).where(ImportFailure.import_id == import_id, ImportFailure.id > after)
             .order_by(ImportFailure.id))
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())
