"""A synthetic audience for benchmarks, crash tests and demos: ``n`` contacts with UK mobile numbers and
marketing consent, one contact list, and a share of them on a do-not-contact list. Written with multi-row
inserts straight into the tables (an import of a million rows is measured by ``bench/import.py``; here the
audience is only the stage)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from herald import ids
from herald.contacts.models import Contact
from herald.db.session import write_lock
from herald.lists.models import ContactList, ListMember
from herald.suppressions.models import DNC, DncList, Suppression

CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Audience:
    list_id: str
    dnc_list_id: str
    size: int
    on_dnc: int

    @staticmethod
    def phone(i: int) -> str:
        return f"+4475{i:08d}"


async def seed(engine: AsyncEngine, workspace_id: str, size: int, *, dnc_every: int = 20, name: str = "Everyone"
               ) -> Audience:
    """Contacts ``0..size-1``; every ``dnc_every``-th one (5% by default) is on the DNC list "Do not call"."""
    now = datetime.now(UTC)
    list_id, dnc_id = ids.new_id("lst"), ids.new_id("dnc")
    consent = {"direct_marketing": {"granted": True, "at": now.isoformat(), "source": "seed"},
               "service": {"granted": True, "at": now.isoformat(), "source": "seed"}}
    async with write_lock(engine), engine.begin() as conn:
        await conn.execute(insert(ContactList).values(id=list_id, workspace_id=workspace_id, name=name,
                                                      fields=["text"], created_at=now, updated_at=now))
        await conn.execute(insert(DncList).values(id=dnc_id, workspace_id=workspace_id, name=f"Do not call {name}",
                                                  kind=DNC, always=True, created_at=now))
    on_dnc = 0
    for start in range(0, size, CHUNK):
        span = range(start, min(size, start + CHUNK))
        contact_ids = [ids.new_id("ct") for _ in span]
        async with write_lock(engine), engine.begin() as conn:
            await conn.execute(insert(Contact), [
                {"id": cid, "workspace_id": workspace_id, "external_id": f"{name}-{i}", "name": f"Person {i}",
                 "phone": Audience.phone(i), "timezone": "Europe/London", "consent": consent, "attributes": {},
                 "created_at": now, "updated_at": now} for cid, i in zip(contact_ids, span, strict=True)])
            await conn.execute(insert(ListMember), [
                {"list_id": list_id, "contact_id": cid, "fields": {"text": f"Hello {i}"}, "priority": i % 50 == 0,
                 "created_at": now, "updated_at": now} for cid, i in zip(contact_ids, span, strict=True)])
            blocked = [i for i in span if i % dnc_every == 7]
            if blocked:
                await conn.execute(insert(Suppression), [
                    {"workspace_id": workspace_id, "list_id": dnc_id, "channel": "sms", "address": Audience.phone(i),
                     "scope": "all", "source": "import", "created_at": now} for i in blocked])
            on_dnc += len(blocked)
    return Audience(list_id, dnc_id, size, on_dnc)
