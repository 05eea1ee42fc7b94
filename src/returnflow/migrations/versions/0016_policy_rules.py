"""Split deliveries and units: delivery / signing time and serial numbers per order line; the unit a repair
work order is for (CN12).

Revision ID: 0016_policy_rules
Revises: 0016_visibility
"""
from alembic import op
import sqlalchemy as sa
import returnflow.db


revision = '0016_policy_rules'
down_revision = '0016_visibility'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', returnflow.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signed_at', returnflow.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('serial_numbers', sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('serial_number', sa.String(length=100), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch copy of a table that other rows point at fails its
    # foreign keys once there is data.
    op.drop_column('repair_orders', 'serial_number')
    for column in ('serial_numbers', 'signed_at', 'delivered_at'):
        op.drop_column('order_lines', column)
