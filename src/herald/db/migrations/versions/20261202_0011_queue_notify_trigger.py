"""queue notify trigger: on PostgreSQL, every statement that inserts messages sends NOTIFY herald_queue

Each path that planned a message used to send the NOTIFY itself: a round trip of its own in every event group
commit, API send, timer batch and console send, and a path that forgot it left the other processes' workers
waiting for their next poll. A statement-level trigger sends it in the inserting transaction instead, so it
is delivered at commit with the rows (PostgreSQL folds repeats within one transaction into one). SQLite has
one process and no LISTEN: nothing changes there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE FUNCTION herald_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN PERFORM pg_notify('herald_queue', ''); RETURN NULL; END $$")
    op.execute("CREATE TRIGGER messages_queue_notify AFTER INSERT ON messages "
               "FOR EACH STATEMENT EXECUTE FUNCTION herald_queue_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER messages_queue_notify ON messages")
    op.execute("DROP FUNCTION herald_queue_notify()")
