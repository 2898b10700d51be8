"""PostgreSQL: the contacts a group of events concerns, locked in id order, and the suppressions of their
phone numbers and email addresses, in one statement on the transaction's own psycopg connection.

Through the ORM these were two statements (the lock, then :func:`herald.pipeline.policy.prefetched`'s read),
each a round trip and the ORM's work of a query; a lone triggered event's transaction spent a fifth of its CPU
on them. The contacts come back as the session's :class:`Contact` objects, as a query would have made them
(:mod:`herald.db.rows`). The suppressions are matched on the contact's phone as stored (E.164, what
:func:`address_key` answers for it) and its lower-cased email; :class:`Read` says which addresses that covered,
so the caller looks up any other (an address PostgreSQL and Python lower-case differently) the usual way. The
ids are joined as rows (one primary key probe each, see :mod:`herald.events.opening`), and the rows are locked
as sorted, in id order, so concurrent transactions cannot deadlock on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.models import Contact
from herald.db import raw
from herald.db.rows import loaded
from herald.pipeline.policy import Entry

_CONTACT = tuple(column.name for column in Contact.__table__.columns)  # the primary key first
_SQL = (f"SELECT {', '.join(f'c.{name}' for name in _CONTACT)}, "  # noqa: S608 (names from the model)
        "(SELECT json_agg(json_build_array(s.workspace_id, s.channel, s.address, s.scope, s.source, s.reason, "
        "s.created_at, s.list_id, d.name, d.kind, d.always)) FROM suppressions s JOIN dnc_lists d ON d.id = s.list_id "
        "WHERE s.workspace_id = c.workspace_id AND s.address IN (c.phone, lower(c.email))) "
        "FROM unnest(%(ids)s::varchar[]) AS k(id) JOIN contacts c ON c.id = k.id "
        "ORDER BY c.id FOR NO KEY UPDATE OF c")


@dataclass(slots=True)
class Read:
    """The suppressions read with the contacts: every entry of each address in ``covered``."""

    covered: set[str] = field(default_factory=set)
    entries: dict[str, list[Entry]] = field(default_factory=dict)


async def lock(session: AsyncSession, ids: Sequence[str]) -> tuple[list[Contact], Read]:
    """Lock the contacts of ``ids`` (sorted) that exist; answer them and their suppressions."""
    conn = await session.connection()
    params = {"ids": list(ids)}
    with raw.as_sqlalchemy(conn, _SQL, params):
        rows = await (await (await raw.driver(conn)).execute(_SQL, params)).fetchall()
    contacts, read = [], Read()
    for row in rows:
        contact = loaded(session, Contact, _CONTACT, row[:-1])
        contacts.append(contact)
        if contact.phone:
            read.covered.add(contact.phone)
        if contact.email and contact.email.isascii():  # lower() agrees with Python's there
            read.covered.add(contact.email.lower())
        for (workspace_id, channel, address, scope, source, reason, at, list_id, name, kind, always) in row[-1] or ():
            read.entries.setdefault(address, []).append(Entry(
                workspace_id, channel, address, scope, source, reason, datetime.fromisoformat(at).astimezone(UTC),
                list_id, name, kind, always))
    return contacts, read
