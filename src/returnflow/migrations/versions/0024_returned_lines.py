"""analytics: the returned-lines summary (analytics_returned_lines, analytics/returned.py), filled from the cases

One row per counted return line, valued as analytics/base.py `line_value` values it: the line's credited amount,
else the refunds paid for its case shared over the case's product lines by cumulative purchase value, else its
purchase value (then also `at_price`). The rate reports read the period's rows as one range of the key instead of
joining every line to its case, order line, order and credit and sub-selecting the case's refunds and lines.

Revision ID: 0024_returned_lines
Revises: 0023_outbox_lanes
"""
import sqlalchemy as sa
from alembic import op

from returnflow.db import UTCDateTime

revision = '0024_returned_lines'
down_revision = '0023_outbox_lanes'
branch_labels = None
depends_on = None

# The cases that exist already. Integer division truncates in both databases; every amount is >= 0, so it is the
# floor division line_value does.
PAID = "(SELECT sum(r.amount) FROM refunds r WHERE r.case_id = c.id AND r.state = 'completed')"
WHOLE = ("(SELECT sum(cl2.quantity * ol2.unit_price) FROM case_lines cl2 JOIN order_lines ol2 "
         "ON ol2.id = cl2.order_line_id WHERE cl2.case_id = c.id AND ol2.kind = 'product'{})")
BEFORE = "coalesce(" + WHOLE.format(" AND cl2.id < cl.id") + ", 0)"
WHOLE = WHOLE.format("")
PV = "(cl.quantity * ol.unit_price)"
SHARED = f"{PAID} IS NOT NULL AND coalesce({WHOLE}, 0) <> 0"
FILL = (
    "INSERT INTO analytics_returned_lines (merchant_id, ordered_at, case_line_id, case_id, sku, category, country, "
    "channel, reason, currency, units, value, at_price) "
    "SELECT c.merchant_id, o.ordered_at, cl.id, c.id, ol.sku, ol.category, o.country, o.sales_channel, "
    "coalesce(cl.reason_code, c.reason_code), c.currency, cl.quantity, "
    f"CASE WHEN rc.amount IS NOT NULL THEN rc.amount WHEN {SHARED} "
    f"THEN {PAID} * ({BEFORE} + {PV}) / {WHOLE} - {PAID} * {BEFORE} / {WHOLE} ELSE {PV} END, "
    f"CASE WHEN rc.amount IS NOT NULL OR ({SHARED}) THEN 0 ELSE {PV} END "
    "FROM case_lines cl JOIN cases c ON c.id = cl.case_id JOIN order_lines ol ON ol.id = cl.order_line_id "
    "JOIN orders o ON o.id = ol.order_id LEFT OUTER JOIN return_credits rc ON rc.case_line_id = cl.id "
    "WHERE c.type IN ('return_refund', 'refund_only', 'exchange') AND c.state NOT IN ('cancelled', 'rejected') "
    "AND (c.outcome IS NULL OR c.outcome NOT IN ('cancelled', 'rejected')) "
    "AND (o.status IS NULL OR o.status <> 'cancelled') AND ol.kind = 'product' AND o.ordered_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        'analytics_returned_lines',
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('ordered_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('case_line_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('sku', sa.String(length=100), nullable=False),
        sa.Column('category', sa.String(length=60), nullable=True),
        sa.Column('country', sa.String(length=60), nullable=True),
        sa.Column('channel', sa.String(length=60), nullable=True),
        sa.Column('reason', sa.String(length=60), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('at_price', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('merchant_id', 'ordered_at', 'case_line_id', name=op.f('pk_analytics_returned_lines')),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_analytics_returned_lines_case', 'analytics_returned_lines', ['case_id'], unique=False)
    op.create_index('ix_analytics_returned_lines_line', 'analytics_returned_lines', ['case_line_id'], unique=True)
    op.execute(FILL)


def downgrade() -> None:
    op.drop_index('ix_analytics_returned_lines_line', table_name='analytics_returned_lines')
    op.drop_index('ix_analytics_returned_lines_case', table_name='analytics_returned_lines')
    op.drop_table('analytics_returned_lines')
