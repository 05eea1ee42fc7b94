"""Money records keep their history as event rows (record_events) instead of JSON arrays on the row: every element
of refund_payments, customer_charges, compensations and balance_spends `history` is copied into one event, then the
columns go.

Revision ID: 0020_money_events
Revises: 0018_analytics_defs
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import returnflow.db


revision = '0020_money_events'
down_revision = '0020_marketplace'
branch_labels = None
depends_on = None

# kind -> the table whose `history` column becomes its events
TABLES = {'refund_payment': 'refund_payments', 'customer_charge': 'customer_charges',
          'compensation': 'compensations', 'balance_spend': 'balance_spends'}
# A charge operation by the state that asks for it, by its done state and by its refused state.
ASKED = {'holding': 'hold', 'charging': 'charge', 'capturing': 'capture', 'releasing': 'release'}
DONE = {'held': 'hold', 'charged': 'charge', 'captured': 'capture', 'released': 'release'}
REFUSED = {('holding', 'hold_failed'): 'hold', ('charging', 'failed'): 'charge', ('capturing', 'failed'): 'capture',
           ('releasing', 'held'): 'release'}
APPROVED = {'holding': 'approve_hold', 'charging': 'approve_charge', 'rejected': 'reject', 'withdrawn': 'withdraw'}


def action_of(kind: str, source, target, element: dict) -> str:
    """The declared action (refunds/money_flows.py) a history element recorded."""
    if target is None:
        return 'resend' if element.get('resent') else 'note'
    if kind == 'refund_payment':
        return {'pending': 'open', 'succeeded': 'settle', 'failed': 'fail'}.get(
            target, 'retry' if source == 'failed' else 'send')
    if kind == 'customer_charge':
        if source is None:
            return ASKED.get(target, 'open')
        if target == 'awaiting_approval':
            return 'hold_for_approval'
        if source == 'awaiting_approval':
            return APPROVED.get(target, 'decide')
        if target == 'awaiting_finance':
            return f"{ASKED.get(source, 'charge')}_manual"
        if (source, target) in REFUSED:
            return f'{REFUSED[(source, target)]}_refused'
        if target in DONE and source in ('awaiting_finance', *ASKED):
            return f'{DONE[target]}_done'
        return ASKED.get(target, 'move')
    if source == 'requested':
        return 'apply' if target == 'applied' else 'submit'
    return 'approve' if target == 'applied' else 'reject'


def _parse(value):
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo is not None else None


def event_of(kind: str, record_id: int, merchant_id: int, case_id, created_at, element: dict) -> dict:
    """One history element as an event row; whatever the columns cannot say stays in `data` (nothing is lost)."""
    data = {k: v for k, v in element.items() if k not in ('at', 'from', 'to', 'by')}
    source, target = element.get('from'), element.get('to')
    if target is None and 'from' in element:
        data['from'], source = source, None
    # An element without a time or an author (no code wrote one) gets the record's creation time and no author.
    at = _parse(element.get('at'))
    if 'at' in element and (at is None or at.astimezone(timezone.utc).isoformat() != element['at']):
        data['at'] = element['at']  # stored in UTC: read back as written
    at = at or created_at
    if 'by' in element and not isinstance(element['by'], str):
        data['by'] = element['by']
    return {'kind': kind, 'record_id': record_id, 'merchant_id': merchant_id, 'case_id': case_id,
            'action': action_of(kind, source, target, element), 'from_state': source, 'to_state': target,
            'actor': element.get('by') if isinstance(element.get('by'), str) else '', 'at': at, 'data': data}


def _table(name: str, *columns) -> sa.Table:
    return sa.table(name, sa.column('id', sa.Integer), sa.column('merchant_id', sa.Integer),
                    sa.column('history', sa.JSON), sa.column('created_at', returnflow.db.UTCDateTime(timezone=True)),
                    *columns)


def upgrade() -> None:
    op.create_table('record_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_state', sa.String(length=30), nullable=True),
    sa.Column('to_state', sa.String(length=30), nullable=True),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('at', returnflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_record_events_case_id_cases')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_record_events_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_events'))
    )
    op.create_index('ix_record_events_record', 'record_events', ['kind', 'record_id', 'id'], unique=False)
    op.create_index(op.f('ix_record_events_merchant_id'), 'record_events', ['merchant_id'], unique=False)
    op.create_index(op.f('ix_record_events_case_id'), 'record_events', ['case_id'], unique=False)

    bind = op.get_bind()
    refunds = sa.table('refunds', sa.column('id', sa.Integer), sa.column('case_id', sa.Integer))
    legs = _table('refund_payments', sa.column('refund_id', sa.Integer))
    sources = {
        'refund_payment': sa.select(legs.c.id, legs.c.merchant_id, refunds.c.case_id, legs.c.created_at,
                                    legs.c.history).join(refunds, refunds.c.id == legs.c.refund_id),
    }
    for kind, name in TABLES.items():
        if kind == 'refund_payment':
            continue
        table = _table(name, sa.column('case_id', sa.Integer)) if kind != 'balance_spend' else _table(name)
        case_id = table.c.case_id if kind != 'balance_spend' else sa.null().label('case_id')
        sources[kind] = sa.select(table.c.id, table.c.merchant_id, case_id, table.c.created_at, table.c.history)
    events = sa.table('record_events', *(sa.column(c) for c in (
        'kind', 'record_id', 'merchant_id', 'case_id', 'action', 'from_state', 'to_state', 'actor')),
        sa.column('at', returnflow.db.UTCDateTime(timezone=True)), sa.column('data', sa.JSON))
    for kind, select in sources.items():
        rows = []
        for row in bind.execute(select.order_by(sa.text('1'))):
            rows += [event_of(kind, row.id, row.merchant_id, row.case_id, row.created_at,
                              element if isinstance(element, dict) else {'value': element})
                     for element in row.history or []]
        for start in range(0, len(rows), 1000):
            bind.execute(events.insert(), rows[start:start + 1000])

    for name in TABLES.values():
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column('history')


def downgrade() -> None:
    for name in TABLES.values():
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('history', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.drop_index(op.f('ix_record_events_case_id'), table_name='record_events')
    op.drop_index(op.f('ix_record_events_merchant_id'), table_name='record_events')
    op.drop_index('ix_record_events_record', table_name='record_events')
    op.drop_table('record_events')
