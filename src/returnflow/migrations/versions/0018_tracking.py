"""Shipments remember their tracking subscription with the aggregator (provider, state, times re-subscribed).

Revision ID: 0018_tracking
Revises: 0017_imports
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_tracking'
down_revision = '0018_notify_providers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('shipments', 'subscription')
