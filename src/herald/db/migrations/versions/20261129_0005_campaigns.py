"""campaigns: fan-out to lists with a checkpoint, messages know their source

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:57:11.632726
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('list_ids', sa.JSON(), nullable=False),
    sa.Column('template_id', sa.String(length=40), nullable=True),
    sa.Column('template_version', sa.Integer(), nullable=True),
    sa.Column('message_column', sa.String(length=100), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('sender', sa.String(length=320), nullable=True),
    sa.Column('provider_id', sa.String(length=40), nullable=True),
    sa.Column('classification', sa.String(length=40), nullable=False),
    sa.Column('dnc_lists', sa.JSON(), nullable=False),
    sa.Column('start_at', herald.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('send_window', sa.JSON(), nullable=True),
    sa.Column('quiet_hours', sa.Boolean(), nullable=False),
    sa.Column('throttle_per_second', sa.Float(), nullable=True),
    sa.Column('max_error_rate', sa.Float(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('state_reason', sa.Text(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('checkpoint', sa.JSON(), nullable=False),
    sa.Column('planned_all', sa.Boolean(), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', herald.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', herald.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_campaigns_provider_id_providers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_campaigns_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_campaigns_workspace_id_name'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_workspace_id'), ['workspace_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('source_item', sa.Integer(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_messages_state_due_at'))
        batch_op.drop_index(batch_op.f('ix_messages_provider_id_provider_message_id'))
        batch_op.create_index('ix_messages_provider_ref', ['provider_id', 'provider_message_id'], unique=False,
                              sqlite_where=sa.text("provider_message_id IS NOT NULL"),
                              postgresql_where=sa.text("provider_message_id IS NOT NULL"))
        batch_op.create_index('ix_messages_leased', ['lease_until'], unique=False,
                              sqlite_where=sa.text("state = 'sending'"), postgresql_where=sa.text("state = 'sending'"))
        batch_op.create_index(batch_op.f('ix_messages_source_id_state_reason'), ['source_id', 'state', 'reason'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_source_id_state_reason'))
        batch_op.drop_index('ix_messages_leased')
        batch_op.drop_index('ix_messages_provider_ref')
        batch_op.create_index(batch_op.f('ix_messages_provider_id_provider_message_id'),
                              ['provider_id', 'provider_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_state_due_at'), ['state', 'due_at'], unique=False)
        batch_op.drop_column('source_item')
        batch_op.drop_column('source_id')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_workspace_id'))

    op.drop_table('campaigns')
