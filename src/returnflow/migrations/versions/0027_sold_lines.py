"""analytics: the sold-lines summary (analytics_sold_lines, analytics/sold.py), filled from the orders

One row per order line that counts as sold (a product line of an order that is not cancelled and has a date),
with the order's time, merchant, currency, country and channel: the rate reports read the period's sales as one
range of the key instead of joining every order line to its order.

Revision ID: 0027_sold_lines
Revises: 0026_analytics_snapshots
"""
import sqlalchemy as sa
from alembic import op

from returnflow.db import UTCDateTime

revision = '0027_sold_lines'
down_revision = '0026_analytics_snapshots'
branch_labels = None
depends_on = None

FILL = (
    "INSERT INTO analytics_sold_lines (merchant_id, ordered_at, order_line_id, order_id, sku, category, country, "
    "channel, currency, units, value) "
    "SELECT o.merchant_id, o.ordered_at, ol.id, ol.order_id, ol.sku, ol.category, o.country, o.sales_channel, "
    "o.currency, ol.quantity, ol.quantity * ol.unit_price "
    "FROM order_lines ol JOIN orders o ON o.id = ol.order_id "
    "WHERE (o.status IS NULL OR o.status <> 'cancelled') AND ol.kind = 'product' AND o.ordered_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        'analytics_sold_lines',
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('ordered_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('order_line_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=100), nullable=False),
        sa.Column('category', sa.String(length=60), nullable=True),
        sa.Column('country', sa.String(length=60), nullable=True),
        sa.Column('channel', sa.String(length=60), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('merchant_id', 'ordered_at', 'order_line_id', name=op.f('pk_analytics_sold_lines')),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_analytics_sold_lines_order', 'analytics_sold_lines', ['order_id'], unique=False)
    op.execute(FILL)


def downgrade() -> None:
    op.drop_index('ix_analytics_sold_lines_order', table_name='analytics_sold_lines')
    op.drop_table('analytics_sold_lines')
