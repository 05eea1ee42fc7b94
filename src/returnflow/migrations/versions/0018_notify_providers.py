"""Template messages at providers (Aliyun SMS, WeChat), staff alert robots (企业微信, 钉钉), orders pushed by a
signed webhook, and the customer's WeChat openid.

Revision ID: 0018_notify_providers
Revises: 0017_imports
"""
from alembic import op
import sqlalchemy as sa

from returnflow.db import UTCDateTime


revision = '0018_notify_providers'
down_revision = '0017_imports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provider_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('channel', sa.String(length=12), nullable=False),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('template_id', sa.String(length=100), nullable=False),
        sa.Column('sign_name', sa.String(length=60), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_provider_templates_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_templates')),
        sa.UniqueConstraint('merchant_id', 'key', 'channel',
                            name=op.f('uq_provider_templates_merchant_id_key_channel')),
    )
    op.create_table(
        'alert_robots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_alert_robots_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_robots')),
    )
    op.create_index(op.f('ix_alert_robots_merchant_id'), 'alert_robots', ['merchant_id'], unique=False)
    op.create_table(
        'order_hook_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_order_hook_keys_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_hook_keys')),
        sa.UniqueConstraint('merchant_id', name=op.f('uq_order_hook_keys_merchant_id')),
    )
    op.create_table(
        'order_hook_seen',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('delivery', sa.String(length=100), nullable=True),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_order_hook_seen_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_hook_seen')),
        sa.UniqueConstraint('merchant_id', 'signature', name=op.f('uq_order_hook_seen_merchant_id_signature')),
        sa.UniqueConstraint('merchant_id', 'delivery', name=op.f('uq_order_hook_seen_merchant_id_delivery')),
    )
    op.create_index(op.f('ix_order_hook_seen_at'), 'order_hook_seen', ['at'], unique=False)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wechat_openid', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'wechat_openid')
    op.drop_table('order_hook_seen')
    op.drop_table('order_hook_keys')
    op.drop_table('alert_robots')
    op.drop_table('provider_templates')
