"""unchecked parents: the per-row tables drop their foreign keys to workspaces and contacts (and messages to
providers)

Herald never deletes a workspace or a contact, so these keys' ON DELETE never ran, and each new row paid a
parent lookup (on PostgreSQL a row lock too): herald/db/base.py says more. A deleted provider's messages are
now cleared by the provider service.

SQLite rebuilds each table; herald/db/migrations/env.py turns its foreign keys off for migrations, since
dropping a parent table with them on would first delete its children through ON DELETE CASCADE. The claim
index is made again by hand, as in 0008: the rebuild would lose its DESC.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = {
    'contacts': (('workspace_id', 'workspaces', 'CASCADE'),),
    'list_members': (('contact_id', 'contacts', 'CASCADE'),),
    'events': (('workspace_id', 'workspaces', 'CASCADE'), ('contact_id', 'contacts', 'SET NULL')),
    'journey_runs': (('workspace_id', 'workspaces', 'CASCADE'), ('contact_id', 'contacts', 'SET NULL')),
    'messages': (('workspace_id', 'workspaces', 'CASCADE'), ('provider_id', 'providers', 'SET NULL'),
                 ('contact_id', 'contacts', 'SET NULL')),
}
_CLAIM = ("CREATE INDEX ix_messages_claim ON messages (priority DESC, due_at) "
          "WHERE state IN ('queued', 'retrying')")


def _claim_index() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_messages_claim")
        op.execute(_CLAIM)


def upgrade() -> None:
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table) as batch_op:
            for column, parent, _ in keys:
                batch_op.drop_constraint(f'fk_{table}_{column}_{parent}', type_='foreignkey')
    _claim_index()


def downgrade() -> None:
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table) as batch_op:
            for column, parent, ondelete in keys:
                batch_op.create_foreign_key(f'fk_{table}_{column}_{parent}', parent, [column], ['id'],
                                            ondelete=ondelete)
    _claim_index()
