"""keywords: a workspace's own keywords with actions, configurable keyword answers, inbound replies that fire events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:52:01.787472
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('keyword_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=True),
    sa.Column('word', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('template_id', sa.String(length=40), nullable=True),
    sa.Column('event_type', sa.String(length=100), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_keyword_rules_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keyword_rules'))
    )
    with op.batch_alter_table('keyword_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_keyword_rules_workspace_id_sender'), ['workspace_id', 'sender'], unique=False)

    op.create_table('keyword_texts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('sender', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_keyword_texts_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keyword_texts'))
    )
    with op.batch_alter_table('keyword_texts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_keyword_texts_workspace_id_action'), ['workspace_id', 'action'], unique=False)

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.String(length=40), nullable=True))

    op.create_table('inbound_settings',
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('reply_window_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_inbound_settings_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', name=op.f('pk_inbound_settings'))
    )



def downgrade() -> None:
    op.drop_table('inbound_settings')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('event_id')

    with op.batch_alter_table('keyword_texts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_keyword_texts_workspace_id_action'))

    op.drop_table('keyword_texts')
    with op.batch_alter_table('keyword_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_keyword_rules_workspace_id_sender'))

    op.drop_table('keyword_rules')
