"""Analytics a returns manager can defend: the amount credited per returned line, the returns that match no
purchase, reviews not tied to a case, and the reports' covering indexes with what decides a sale and a return.

Revision ID: 0018_analytics_defs
Revises: 0017_imports
"""
from alembic import op
import sqlalchemy as sa

from returnflow.db import UTCDateTime


revision = '0018_analytics_defs'
down_revision = '0019_pickup_claims'
branch_labels = None
depends_on = None


CASES_SCOPE = ['merchant_id', 'created_at', 'type', 'state', 'currency', 'reason_code', 'id']
ORDERS_SCOPE = ['merchant_id', 'ordered_at', 'id', 'currency', 'country', 'sales_channel']
ORDER_LINES_READ = ['order_id', 'sku', 'quantity', 'unit_price', 'category']


def upgrade() -> None:
    # The reports' covering indexes gain what decides a sale and a return: the order's status, the line's kind,
    # the case's outcome.
    op.drop_index('ix_analytics_cases_scope', table_name='cases')
    op.create_index('ix_analytics_cases_scope', 'cases', CASES_SCOPE + ['outcome'])
    op.drop_index('ix_analytics_orders_scope', table_name='orders')
    op.create_index('ix_analytics_orders_scope', 'orders', ORDERS_SCOPE + ['status'])
    op.drop_index('ix_analytics_order_lines', table_name='order_lines')
    op.create_index('ix_analytics_order_lines', 'order_lines', ORDER_LINES_READ + ['kind'])
    op.create_table(
        'return_credits',
        sa.Column('case_line_id', sa.Integer(), sa.ForeignKey('case_lines.id'), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('cases.id'), nullable=False),
        sa.Column('merchant_id', sa.Integer(), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
    )
    op.create_index('ix_return_credits_case_id', 'return_credits', ['case_id'])
    op.create_table(
        'unmatched_returns',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('merchant_id', sa.Integer(), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('reference', sa.String(length=80), nullable=False),
        sa.Column('line', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=80), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('customer', sa.String(length=80), nullable=True),
        sa.Column('returned_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('why', sa.String(length=40), nullable=False),
        sa.UniqueConstraint('merchant_id', 'reference', 'line'),
    )
    op.create_index('ix_unmatched_returns_scope', 'unmatched_returns', ['merchant_id', 'returned_at'])
    op.create_table(
        'reviews',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('merchant_id', sa.Integer(), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('source_id', sa.String(length=120), nullable=True),
        sa.Column('order_number', sa.String(length=80), nullable=True),
        sa.Column('order_id', sa.Integer(), sa.ForeignKey('orders.id'), nullable=True),
        sa.Column('sku', sa.String(length=80), nullable=True),
        sa.Column('rating', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('reviewed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('imported_at', UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('merchant_id', 'key'),
    )
    op.create_index('ix_reviews_scope', 'reviews', ['merchant_id', 'reviewed_at'])
    op.create_index('ix_reviews_order_id', 'reviews', ['order_id'])


def downgrade() -> None:
    op.drop_index('ix_analytics_order_lines', table_name='order_lines')
    op.create_index('ix_analytics_order_lines', 'order_lines', ORDER_LINES_READ)
    op.drop_index('ix_analytics_orders_scope', table_name='orders')
    op.create_index('ix_analytics_orders_scope', 'orders', ORDERS_SCOPE)
    op.drop_index('ix_analytics_cases_scope', table_name='cases')
    op.create_index('ix_analytics_cases_scope', 'cases', CASES_SCOPE)
    op.drop_table('reviews')
    op.drop_table('unmatched_returns')
    op.drop_table('return_credits')
