"""Cache versions: one counter per (cache, merchant), bumped in the transaction of a change, so every process drops
what it remembered of it within a second (returnflow/caches.py).

Revision ID: 0021_cache_versions
Revises: 0020_labels
"""
from alembic import op
import sqlalchemy as sa


revision = '0021_cache_versions'
down_revision = '0020_labels'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cache_versions',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('scope', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name', 'scope', name=op.f('pk_cache_versions')),
    )


def downgrade() -> None:
    op.drop_table('cache_versions')
