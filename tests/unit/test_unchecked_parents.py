"""The per-row tables keep no foreign keys to workspaces and contacts because Herald never deletes either
(herald/db/base.py). Whoever adds such a delete must first give those rows back their ON DELETE behaviour:
this test names the place."""

from __future__ import annotations

import re
from pathlib import Path

import herald

SOURCE = Path(herald.__file__).parent
DELETES = re.compile(
    r"delete\(\s*(Contact|Workspace)\b"                       # ORM / Core delete(Contact)
    r"|\b(CONTACTS|WORKSPACES)\.delete\("                      # Table.delete()
    r"|DELETE\s+FROM\s+(contacts|workspaces)\b"                # raw SQL
    r"|session\.delete\(\s*(contact|workspace|ws)\b",          # session.delete(contact)
    re.IGNORECASE)


def test_nothing_deletes_a_contact_or_a_workspace() -> None:
    found = [f"{path.relative_to(SOURCE)}:{n}: {line.strip()}"
             for path in sorted(SOURCE.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if DELETES.search(line)]
    assert found == [], "contacts or workspaces are deleted here; see herald/db/base.py first:\n" + "\n".join(found)


def test_the_check_sees_a_delete() -> None:
    for line in ('await session.execute(delete(Contact).where(Contact.id == x))', "CONTACTS.delete()",
                 "DELETE FROM contacts WHERE id = :id", "await session.delete(contact)"):
        assert DELETES.search(line), line
    assert not DELETES.search("await session.execute(delete(ListMember).where(ListMember.contact_id == c.id))")
