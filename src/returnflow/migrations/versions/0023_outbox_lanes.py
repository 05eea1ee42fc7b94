"""The outbox claim reads lane by lane: an index on (status, lane, available_at), so the lanes with pending messages
are found one index seek each and a lane's due messages are one range of it, the ones waiting out a retry left
unread (notify.outbox.claim). Before, every claim read and sorted every due message, the backlog of a lane that was busy
or failing included. It replaces (status, available_at): what else looks up messages by status alone (the backlog,
the lists by status) uses its first column, and with both SQLite's planner kept choosing the old one for the claim.

Revision ID: 0023_outbox_lanes
Revises: 0022_derivations
"""
from alembic import op


revision = '0023_outbox_lanes'
down_revision = '0022_derivations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_status_lane_due', 'outbox', ['status', 'lane', 'available_at'], unique=False)
    op.drop_index('ix_outbox_status_available', table_name='outbox')


def downgrade() -> None:
    op.create_index('ix_outbox_status_available', 'outbox', ['status', 'available_at'], unique=False)
    op.drop_index('ix_outbox_status_lane_due', table_name='outbox')
