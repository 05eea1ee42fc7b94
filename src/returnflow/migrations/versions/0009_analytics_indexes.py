"""analytics indexes: orders by merchant and date, orders and cases by date

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 22:20:00
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_orders_merchant_ordered', 'orders', ['merchant_id', 'ordered_at'], unique=False)
    op.create_index('ix_orders_ordered_at', 'orders', ['ordered_at'], unique=False)
    op.create_index('ix_cases_created_at', 'cases', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_cases_created_at', table_name='cases')
    op.drop_index('ix_orders_ordered_at', table_name='orders')
    op.drop_index('ix_orders_merchant_ordered', table_name='orders')
