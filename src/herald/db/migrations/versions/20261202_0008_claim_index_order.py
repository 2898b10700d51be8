"""claim index order: give SQLite's ix_messages_claim back its ``priority DESC``

SQLite's batch mode rebuilds a table by reflecting its indexes, and reflection drops the ``DESC`` of an
expression index: every batch change of ``messages`` after 0001 left the claim index as
``(priority, due_at)``. The claim orders by ``priority DESC, due_at``, so SQLite could only use the index
for the priority part and sorted every waiting message of the top priority on each claim (0.4 s per claim
with a million queued campaign messages: the worker fell to ~200 SMS/s). PostgreSQL never lost it.

A later batch change of ``messages`` on SQLite must recreate this index the same way
(tests/integration/test_migrations.py checks the claim query's plan).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIM = ("CREATE INDEX ix_messages_claim ON messages (priority DESC, due_at) "
          "WHERE state IN ('queued', 'retrying')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_messages_claim")
        op.execute(_CLAIM)


def downgrade() -> None:
    """Nothing to undo: the index is what 0001 meant it to be."""
