"""Reply templates (话术) carry who sees them: offered to every agent on the case page, or hidden (kept, not offered).

Revision ID: 0017_settings_desk
Revises: 0016_portal_form
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_settings_desk'
down_revision = '0017_warehouse_desk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reply_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visibility', sa.String(length=12), nullable=False, server_default='agents'))


def downgrade() -> None:
    op.drop_column('reply_templates', 'visibility')
