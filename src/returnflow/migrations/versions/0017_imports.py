"""Orders carry their status (a cancelled order is not a sale) and order lines their kind (product, shipping, fee,
discount, adjustment: only products are sales), as mapped order exports say.

Revision ID: 0017_imports
Revises: 0016_portal_form
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_imports'
down_revision = '0017_settings_desk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=True))
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='product'))


def downgrade() -> None:
    op.drop_column('order_lines', 'kind')
    op.drop_column('orders', 'status')
