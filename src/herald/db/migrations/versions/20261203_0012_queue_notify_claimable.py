"""queue notify only for claimable messages: NOTIFY herald_queue when an insert adds a queued message

Messages a transaction hands straight to its own process's dispatcher are inserted already ``sending``
(:mod:`herald.pipeline.handoff`), and ones the send-time policy refused are inserted settled: no worker can
claim either. Notifying for them woke every listening worker, the sending process's own included, into an
empty claim (three round trips) after each of ``herald serve``'s event group commits. The trigger now reads
the statement's inserted rows (a transition table) and notifies only when one of them waits for a claim.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE OR REPLACE FUNCTION herald_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN IF EXISTS (SELECT 1 FROM inserted WHERE state IN ('queued', 'retrying')) THEN "
               "PERFORM pg_notify('herald_queue', ''); END IF; RETURN NULL; END $$")
    op.execute("DROP TRIGGER messages_queue_notify ON messages")
    op.execute("CREATE TRIGGER messages_queue_notify AFTER INSERT ON messages REFERENCING NEW TABLE AS inserted "
               "FOR EACH STATEMENT EXECUTE FUNCTION herald_queue_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER messages_queue_notify ON messages")
    op.execute("CREATE OR REPLACE FUNCTION herald_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN PERFORM pg_notify('herald_queue', ''); RETURN NULL; END $$")
    op.execute("CREATE TRIGGER messages_queue_notify AFTER INSERT ON messages "
               "FOR EACH STATEMENT EXECUTE FUNCTION herald_queue_notify()")
