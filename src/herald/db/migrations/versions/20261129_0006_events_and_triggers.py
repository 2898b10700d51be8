"""events and triggers: event types, stored events, triggers and journey runs (timers live in jobs)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 21:12:22.648635
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db.base

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('event_types',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('payload_schema', sa.JSON(), nullable=True),
    sa.Column('sample', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_event_types_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_types')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_event_types_workspace_id_name'))
    )
    op.create_table('triggers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=True),
    sa.Column('filter', sa.Text(), nullable=True),
    sa.Column('counters', sa.JSON(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('exit_on', sa.JSON(), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=True),
    sa.Column('reentry', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_triggers_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triggers')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_triggers_workspace_id_name'))
    )
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triggers_workspace_id_event_type'), ['workspace_id', 'event_type'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('occurred_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_events_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('workspace_id', 'idempotency_key', name=op.f('uq_events_workspace_id_idempotency_key'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_contact_id_type_occurred_at'), ['contact_id', 'type', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_workspace_id_id'), ['workspace_id', 'id'], unique=False)

    op.create_table('journey_runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('trigger_id', sa.String(length=40), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=True),
    sa.Column('event_id', sa.String(length=40), nullable=True),
    sa.Column('entry', sa.JSON(), nullable=False),
    sa.Column('occurrence', sa.String(length=40), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('position', sa.JSON(), nullable=False),
    sa.Column('entered_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('clock_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wait', sa.JSON(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('messages', sa.JSON(), nullable=False),
    sa.Column('started_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', herald.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', herald.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_journey_runs_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trigger_id'], ['triggers.id'], name=op.f('fk_journey_runs_trigger_id_triggers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_journey_runs_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journey_runs')),
    sa.UniqueConstraint('trigger_id', 'contact_id', 'occurrence', name=op.f('uq_journey_runs_trigger_id_contact_id_occurrence'))
    )
    with op.batch_alter_table('journey_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journey_runs_contact_id_state'), ['contact_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_runs_trigger_id_contact_id'), ['trigger_id', 'contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_journey_runs_trigger_id_state'), ['trigger_id', 'state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('journey_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journey_runs_trigger_id_state'))
        batch_op.drop_index(batch_op.f('ix_journey_runs_trigger_id_contact_id'))
        batch_op.drop_index(batch_op.f('ix_journey_runs_contact_id_state'))

    op.drop_table('journey_runs')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_workspace_id_id'))
        batch_op.drop_index(batch_op.f('ix_events_contact_id_type_occurred_at'))

    op.drop_table('events')
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triggers_workspace_id_event_type'))

    op.drop_table('triggers')
    op.drop_table('event_types')
