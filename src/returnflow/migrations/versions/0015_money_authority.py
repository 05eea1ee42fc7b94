"""Compensations and balance spends follow approval by authority (state, decision, version, history); one ledger
entry per compensation.

Revision ID: 0015_money_authority
Revises: 0015_files_exports
"""
from alembic import op
import sqlalchemy as sa
import returnflow.db


revision = '0015_money_authority'
down_revision = '0015_files_exports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compensations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), server_default='applied', nullable=False))
        batch_op.add_column(sa.Column('requested_role', sa.String(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('approved_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('decided_at', returnflow.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('history', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.create_index('ix_compensations_state', ['merchant_id', 'state'], unique=False)
    op.create_table('balance_spends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('asset', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('requested_role', sa.String(length=20), nullable=False),
    sa.Column('approved_by', sa.String(length=80), nullable=True),
    sa.Column('decided_at', returnflow.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('created_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_balance_spends_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_balance_spends_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_balance_spends'))
    )
    op.create_index('ix_balance_spends_state', 'balance_spends', ['merchant_id', 'state'], unique=False)
    # Compensations made before this revision were applied at once: their entry is the only one each.
    op.create_index('uq_customer_ledger_compensation', 'customer_ledger', ['compensation_id'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_balance_spends_state', table_name='balance_spends')
    op.drop_table('balance_spends')
    op.drop_index('uq_customer_ledger_compensation', table_name='customer_ledger')
    with op.batch_alter_table('compensations', schema=None) as batch_op:
        batch_op.drop_index('ix_compensations_state')
        for column in ('history', 'version', 'decision_note', 'decided_at', 'approved_by', 'requested_role',
                       'state'):
            batch_op.drop_column(column)
