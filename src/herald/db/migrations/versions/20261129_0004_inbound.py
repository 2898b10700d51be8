"""inbound messages: replies threaded to what was sent, with the keyword and action taken

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:28:22.763813
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_messages',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=True),
    sa.Column('provider_message_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=True),
    sa.Column('in_reply_to', sa.String(length=40), nullable=True),
    sa.Column('keyword', sa.String(length=40), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('reply_id', sa.String(length=40), nullable=True),
    sa.Column('received_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_inbound_messages_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['in_reply_to'], ['messages.id'], name=op.f('fk_inbound_messages_in_reply_to_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_inbound_messages_provider_id_providers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_inbound_messages_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('provider_id', 'provider_message_id', name=op.f('uq_inbound_messages_provider_id_provider_message_id'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_workspace_id_from_address'), ['workspace_id', 'from_address'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_workspace_id_id'), ['workspace_id', 'id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_to_address'), ['to_address'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_to_address'))

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_workspace_id_id'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_workspace_id_from_address'))

    op.drop_table('inbound_messages')
