"""recurring campaigns: a campaign's repeat rule, and the runs it makes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db.base

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.add_column(sa.Column('repeat', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('next_run_at', herald.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_run_id', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_campaigns_parent_id', ['parent_id'])


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.drop_index('ix_campaigns_parent_id')
        batch_op.drop_column('last_run_id')
        batch_op.drop_column('next_run_at')
        batch_op.drop_column('parent_id')
        batch_op.drop_column('repeat')
