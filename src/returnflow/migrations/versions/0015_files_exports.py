"""The copy of a photo people see (location data stripped, HEIC as JPEG) beside the original evidence file.

Revision ID: 0015_files_exports
Revises: 0015_otp_delivery
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_files_exports'
down_revision = '0015_otp_delivery'
branch_labels = None
depends_on = None

TABLES = ('attachments', 'receipt_photos')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('view_key', sa.String(length=300), nullable=True))
            batch_op.add_column(sa.Column('view_type', sa.String(length=100), nullable=True))
            batch_op.add_column(sa.Column('view_size', sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column('view_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in ('view_sha256', 'view_size', 'view_type', 'view_key'):
                batch_op.drop_column(column)
