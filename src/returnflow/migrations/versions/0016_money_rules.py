"""Money rules: an order's standard delivery price (EU4) and the customer's return postage claims (CN7).

Revision ID: 0016_money_rules
Revises: 0016_policy_rules
"""
from alembic import op
import sqlalchemy as sa

import returnflow.db


revision = '0016_money_rules'
down_revision = '0016_policy_rules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('standard_shipping_fee', sa.BigInteger(), nullable=True))
    op.create_table(
        'postage_claims',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('asked', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('receipt_id', sa.Integer(), nullable=True),
        sa.Column('claimed_by', sa.String(length=80), nullable=False),
        sa.Column('refund_id', sa.Integer(), nullable=True),
        sa.Column('created_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id']),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['receipt_id'], ['attachments.id']),
        sa.ForeignKeyConstraint(['refund_id'], ['refunds.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id', name='uq_postage_claims_case'),
    )


def downgrade() -> None:
    op.drop_table('postage_claims')
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch copy of `orders`, which cases point at, fails its foreign
    # keys once there is data.
    op.drop_column('orders', 'standard_shipping_fee')
