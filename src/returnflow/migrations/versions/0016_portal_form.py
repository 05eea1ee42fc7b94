"""Order lines carry the product image and the variants offered in exchange; a case line keeps the chosen one.

Revision ID: 0016_portal_form
Revises: 0016_money_rules
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_portal_form'
down_revision = '0016_money_rules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_url', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('exchange_variants', sa.Text(), nullable=True))
    with op.batch_alter_table('case_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of a table other rows point at fails its foreign keys on data.
    op.drop_column('case_lines', 'variant')
    op.drop_column('order_lines', 'exchange_variants')
    op.drop_column('order_lines', 'image_url')
