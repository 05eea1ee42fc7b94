"""Derived work from the event log: which events are derived (event_derivations), how far the log is derived
(derive_positions), and the event key of derived outbox messages (outbox.event_id, event_item; unique together).

Events already in the log count as derived (their rows were written in their own transactions before this
revision): the position starts at the newest event, so an upgrade does not derive history again.

Revision ID: 0022_derivations
Revises: 0021_cache_versions
"""
from alembic import op
import sqlalchemy as sa

from returnflow.db import UTCDateTime


revision = '0022_derivations'
down_revision = '0021_cache_versions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'event_derivations',
        sa.Column('event_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('derived_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_derivations')),
    )
    positions = op.create_table(
        'derive_positions',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('pending_id', sa.BigInteger(), nullable=True),
        sa.Column('pending_xmax', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_derive_positions')),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('event_item', sa.SmallInteger(), nullable=True))
    op.create_index('ix_outbox_event_item', 'outbox', ['event_id', 'event_item'], unique=True)
    newest = op.get_bind().execute(sa.text("SELECT max(id) FROM case_events")).scalar() or 0
    op.bulk_insert(positions, [{"name": "case_events", "event_id": newest}])


def downgrade() -> None:
    op.drop_index('ix_outbox_event_item', table_name='outbox')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('event_item')
        batch_op.drop_column('event_id')
    op.drop_table('derive_positions')
    op.drop_table('event_derivations')
