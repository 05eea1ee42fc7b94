"""The receiving desk, data only: parcels received straight from their scan are told apart from parcels matched
later from the exceptions queue (status 'received'), and return parcels recorded as a plain case action get the
inbound shipment the desk and tracking webhooks find them by.

Revision ID: 0017_warehouse_desk
Revises: 0016_portal_form
"""
import re
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = '0017_warehouse_desk'
down_revision = '0017_desks'
branch_labels = None
depends_on = None

RECEIPTS = sa.table('receipts', sa.column('id', sa.Integer), sa.column('status', sa.String),
                    sa.column('created_at', sa.DateTime), sa.column('matched_at', sa.DateTime))
EVENTS = sa.table('case_events', sa.column('case_id', sa.Integer), sa.column('action', sa.String),
                  sa.column('actor_id', sa.String), sa.column('payload', sa.JSON), sa.column('created_at', sa.DateTime))
CASES = sa.table('cases', sa.column('id', sa.Integer), sa.column('merchant_id', sa.Integer))
SHIPMENTS = sa.table('shipments', sa.column('merchant_id', sa.Integer), sa.column('case_id', sa.Integer),
                     sa.column('direction', sa.String), sa.column('purpose', sa.String),
                     sa.column('carrier', sa.String), sa.column('tracking_number', sa.String),
                     sa.column('status', sa.String), sa.column('pickup', sa.JSON), sa.column('items', sa.JSON),
                     sa.column('created_by', sa.String), sa.column('created_at', sa.DateTime))
CARRIERS = {'SF', 'JD', 'YTO', 'ZTO', 'STO', 'YUNDA', 'EMS', 'CORREIOS', 'HKPOST', 'USPS', 'DPDUK', 'UPS', 'OTHER'}


def upgrade() -> None:
    bind = op.get_bind()
    # A parcel received from its scan was matched in the same request it was recorded in; one matched from the
    # exceptions queue was matched by a later request.
    direct = [rid for rid, created, matched in bind.execute(
        sa.select(RECEIPTS.c.id, RECEIPTS.c.created_at, RECEIPTS.c.matched_at).where(RECEIPTS.c.status == 'matched'))
        if created is not None and matched is not None and matched - created < timedelta(seconds=2)]
    for start in range(0, len(direct), 500):
        bind.execute(RECEIPTS.update().where(RECEIPTS.c.id.in_(direct[start:start + 500])).values(status='received'))
    taken = {(m, c, n) for m, c, n in bind.execute(
        sa.select(SHIPMENTS.c.merchant_id, SHIPMENTS.c.carrier, SHIPMENTS.c.tracking_number))}
    rows = bind.execute(sa.select(CASES.c.merchant_id, EVENTS.c.case_id, EVENTS.c.actor_id, EVENTS.c.payload,
                                  EVENTS.c.created_at).join(CASES, CASES.c.id == EVENTS.c.case_id)
                        .where(EVENTS.c.action == 'ship_return')).all()
    for merchant_id, case_id, actor_id, payload, at in rows:
        payload = payload or {}
        if payload.get('shipment_id') is not None:
            continue
        number = re.sub(r'\s', '', str(payload.get('tracking_number') or '')).upper()[:60]
        carrier = str(payload.get('carrier') or '').strip().upper()
        carrier = carrier if carrier in CARRIERS else 'OTHER'
        if not number or (merchant_id, carrier, number) in taken:
            continue
        taken.add((merchant_id, carrier, number))
        bind.execute(SHIPMENTS.insert().values(
            merchant_id=merchant_id, case_id=case_id, direction='inbound', purpose='return', carrier=carrier,
            tracking_number=number, status='registered', pickup={}, items=[], created_by=actor_id or '',
            created_at=at))


def downgrade() -> None:
    op.execute("UPDATE receipts SET status = 'matched' WHERE status = 'received'")
