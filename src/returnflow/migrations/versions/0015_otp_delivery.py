"""Outbox priority, delivery lanes and secret (one-time code) messages.

Revision ID: 0015_otp_delivery
Revises: 0015_portal_identity
"""
import sqlalchemy as sa
from alembic import op

import returnflow.db

revision = '0015_otp_delivery'
down_revision = '0015_portal_identity'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.SmallInteger(), server_default=sa.text('100'), nullable=False))
        batch_op.add_column(sa.Column('lane', sa.String(length=80), server_default='', nullable=False))
        batch_op.add_column(sa.Column('secret', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('expires_at', returnflow.db.UTCDateTime(timezone=True), nullable=True))
    # Messages still waiting get their lane; sign-in codes already queued go first and are kept from staff.
    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('merchant_id', sa.Integer),
                      sa.column('topic', sa.String), sa.column('payload', sa.JSON), sa.column('lane', sa.String),
                      sa.column('priority', sa.SmallInteger), sa.column('secret', sa.Boolean),
                      sa.column('status', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(outbox.c.id, outbox.c.merchant_id, outbox.c.topic, outbox.c.payload)
                              .where(outbox.c.status.in_(('pending', 'leased')))).all()
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else {}
        code = payload.get('template') == 'otp_code'
        destination = payload.get('endpoint_id') or payload.get('channel') or ''
        connection.execute(sa.update(outbox).where(outbox.c.id == row.id).values(
            lane=f"{row.merchant_id or 0}:{row.topic}:{destination}"[:80], priority=0 if code else 100, secret=code))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('secret')
        batch_op.drop_column('lane')
        batch_op.drop_column('priority')
