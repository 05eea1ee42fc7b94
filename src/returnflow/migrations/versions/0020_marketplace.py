"""Marketplace after-sales sync: connectors, the platform's requests, the desk's decisions going back.

Revision ID: 0020_marketplace
Revises: 0018_analytics_defs
"""

import sqlalchemy as sa
from alembic import op

from returnflow.db import UTCDateTime

revision = '0020_marketplace'
down_revision = '0018_analytics_defs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marketplace_connectors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("app_key", sa.String(100), nullable=False),
        sa.Column("app_secret", sa.String(300), nullable=False),
        sa.Column("session_key", sa.String(300), nullable=False),
        sa.Column("api_url", sa.String(500), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("cursor", UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_pull_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_pull_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("merchant_id", "platform"),
    )
    op.create_table(
        "marketplace_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("order_ref", sa.String(100), nullable=False),
        sa.Column("status", sa.String(60), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("platform_created", UTCDateTime(timezone=True), nullable=False),
        sa.Column("platform_modified", UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True, unique=True),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("conflict", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("pulled_at", UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("merchant_id", "platform", "external_id"),
    )
    op.create_index("ix_marketplace_requests_open", "marketplace_requests", ["merchant_id", "case_id"])
    op.create_table(
        "marketplace_pushes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("marketplace_requests.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("case_id", "decision"),
    )
    op.create_index("ix_marketplace_pushes_request_id", "marketplace_pushes", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_marketplace_pushes_request_id", table_name="marketplace_pushes")
    op.drop_table("marketplace_pushes")
    op.drop_index("ix_marketplace_requests_open", table_name="marketplace_requests")
    op.drop_table("marketplace_requests")
    op.drop_table("marketplace_connectors")
