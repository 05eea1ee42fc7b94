"""analytics: the step summary (analytics_case_steps, filled from the events); covering indexes for the dashboard;
money, SLA and satisfaction rows by merchant and date

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 01:30:00
"""
import sqlalchemy as sa
from alembic import op

from returnflow.db import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_analytics_cases_scope', 'cases', ['merchant_id', 'created_at', 'type', 'state', 'currency', 'reason_code',
                                           'id']),
    ('ix_analytics_case_lines', 'case_lines', ['case_id', 'order_line_id', 'quantity', 'reason_code']),
    ('ix_analytics_orders_scope', 'orders', ['merchant_id', 'ordered_at', 'id', 'currency', 'country',
                                             'sales_channel']),
    ('ix_analytics_order_lines', 'order_lines', ['order_id', 'sku', 'quantity', 'unit_price', 'category']),
    ('ix_analytics_case_events', 'case_events', ['case_id', 'action', 'created_at']),
    ('ix_refunds_merchant_created', 'refunds', ['merchant_id', 'created_at', 'state', 'currency', 'case_id', 'amount',
                                                'goods_amount', 'shipping_amount', 'deducted_amount']),
    ('ix_compensations_merchant_created', 'compensations', ['merchant_id', 'created_at']),
    ('ix_customer_ledger_merchant_created', 'customer_ledger', ['merchant_id', 'created_at']),
    ('ix_sla_timers_merchant_created', 'sla_timers', ['merchant_id', 'created_at']),
    ('ix_sla_timers_merchant_status', 'sla_timers', ['merchant_id', 'status', 'kind']),
    ('ix_survey_responses_merchant_created', 'survey_responses', ['merchant_id', 'created_at']),
    ('ix_follow_up_tasks_merchant_created', 'follow_up_tasks', ['merchant_id', 'created_at']),
]


MILESTONES = {'intake': ('open',), 'decision': ('approve', 'reject'), 'shipped': ('ship_return',),
              'received': ('receive',), 'inspected': ('inspect',), 'resolved': ('resolve',), 'closed': ('close',)}


def upgrade() -> None:
    op.create_table(
        'analytics_case_steps',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        *[sa.Column(f'{name}_at', UTCDateTime(timezone=True), nullable=True) for name in MILESTONES],
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_analytics_case_steps_case_id_cases')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_analytics_case_steps_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_analytics_case_steps')),
    )
    op.create_index('ix_analytics_case_steps_scope', 'analytics_case_steps', ['merchant_id', 'created_at'],
                    unique=False)
    # The cases that exist already: the first time of each milestone, from their events.
    firsts = ", ".join("min(CASE WHEN e.action IN (%s) THEN e.created_at END)" % ", ".join(f"'{a}'" for a in actions)
                       for actions in MILESTONES.values())
    actions = ", ".join(f"'{a}'" for actions in MILESTONES.values() for a in actions)
    op.execute(f"INSERT INTO analytics_case_steps (case_id, merchant_id, created_at, "
               f"{', '.join(f'{n}_at' for n in MILESTONES)}) "
               f"SELECT e.case_id, c.merchant_id, c.created_at, {firsts} FROM case_events e "
               f"JOIN cases c ON c.id = e.case_id WHERE e.action IN ({actions}) "
               f"GROUP BY e.case_id, c.merchant_id, c.created_at")
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index('ix_analytics_case_steps_scope', table_name='analytics_case_steps')
    op.drop_table('analytics_case_steps')
