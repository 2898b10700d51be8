"""communication queue: the index third-party systems' pulls walk

Entries of the ``queue`` channel wait in state ``sent`` until their system pulls and acknowledges them. A
pull takes a system's next pending entries by priority, then age; this partial index holds only pending
entries, so it stays as small as the queue's backlog and a pull stops at its limit. Written as SQL, not
with ``op.create_index``: SQLite keeps the ``DESC`` of an expression index only when created this way (see
0008).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_messages_queue_pending ON messages (provider_id, priority DESC, sent_at) "
               "WHERE channel = 'queue' AND state = 'sent'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_messages_queue_pending")
