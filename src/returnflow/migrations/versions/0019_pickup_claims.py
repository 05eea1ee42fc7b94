"""One courier pickup booking at a time per case (pickup_claims).

Revision ID: 0019_pickup_claims
Revises: 0018_tracking
"""

import sqlalchemy as sa
from alembic import op

from returnflow.db import UTCDateTime

revision = '0019_pickup_claims'
down_revision = '0018_tracking'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pickup_claims",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False, server_default="booking"),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pickup_claims")
