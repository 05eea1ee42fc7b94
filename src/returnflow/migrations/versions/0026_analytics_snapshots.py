"""analytics: snapshots of the platform's dashboard (analytics_snapshots, analytics/snapshots.py)

The platform's view reads every merchant's period (seconds at scale); it is served from a snapshot at most five
minutes old, which the worker keeps fresh while someone looks at it.

Revision ID: 0026_analytics_snapshots
Revises: 0025_case_steps_durations
"""
import sqlalchemy as sa
from alembic import op

from returnflow.db import UTCDateTime

revision = '0026_analytics_snapshots'
down_revision = '0025_case_steps_durations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'analytics_snapshots',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('filters', sa.Text(), nullable=False),
        sa.Column('tiles', sa.Text(), nullable=False),
        sa.Column('computed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('requested_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('claimed_until', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_analytics_snapshots')),
    )
    op.create_index('ix_analytics_snapshots_requested_at', 'analytics_snapshots', ['requested_at'])


def downgrade() -> None:
    op.drop_index('ix_analytics_snapshots_requested_at', table_name='analytics_snapshots')
    op.drop_table('analytics_snapshots')
