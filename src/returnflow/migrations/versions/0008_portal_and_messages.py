"""pages: portal one-time codes, portal sessions, the portal throttle, case messages

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 22:03:21.924668
"""
from alembic import op
import sqlalchemy as sa
import returnflow.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('portal_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('created_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_attempts'))
    )
    with op.batch_alter_table('portal_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_portal_attempts_key_at', ['key', 'created_at'], unique=False)

    op.create_table('portal_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_portal_sessions_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_portal_sessions_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_portal_sessions_token_hash'))
    )
    with op.batch_alter_table('portal_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_sessions_customer_id'), ['customer_id'], unique=False)

    op.create_table('portal_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', returnflow.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_portal_codes_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_portal_codes_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_portal_codes_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_codes')),
    sa.UniqueConstraint('challenge', name=op.f('uq_portal_codes_challenge'))
    )
    with op.batch_alter_table('portal_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_codes_customer_id'), ['customer_id'], unique=False)

    op.create_table('case_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('author_kind', sa.String(length=20), nullable=False),
    sa.Column('author_ref', sa.String(length=80), nullable=False),
    sa.Column('author_name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_messages_case_id_cases')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_case_messages_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_messages'))
    )
    with op.batch_alter_table('case_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_messages_case_id'), ['case_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('case_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_messages_case_id'))

    op.drop_table('case_messages')
    with op.batch_alter_table('portal_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_codes_customer_id'))

    op.drop_table('portal_codes')
    with op.batch_alter_table('portal_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_sessions_customer_id'))

    op.drop_table('portal_sessions')
    with op.batch_alter_table('portal_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_attempts_key_at')

    op.drop_table('portal_attempts')

