"""Every event, message, file and hand-off of a case is customer-visible or internal (cases/visibility.py).

Rows written before are marked as the rules mark new ones: notes, escalations, assignments and advance-exchange
settlements internal; files staff added (warehouse, inspection and evidence photos) internal unless they were sent
with a message to the customer, and their `attach` events with them; everything else visible as it was shown.

Revision ID: 0016_visibility
Revises: 0015_money_authority
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0016_visibility'
down_revision = '0015_money_authority'
branch_labels = None
depends_on = None

TABLES = (('case_events', 'customer'), ('case_messages', 'customer'), ('attachments', 'customer'),
          ('case_handoffs', 'internal'))
INTERNAL_ACTIONS = ('note', 'escalate', 'assign', 'settle_advance_exchange')
TRIGGER = "case_events_no_update"
MESSAGE = "case_events are immutable: append a new event instead"


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or {})


def upgrade() -> None:
    for table, default in TABLES:
        # A plain ADD COLUMN (not a batch copy): SQLite keeps the table, and with it the immutability trigger.
        op.add_column(table, sa.Column('visibility', sa.String(length=10), nullable=False, server_default=default))
    bind = op.get_bind()
    sent = set()
    for (ids,) in bind.execute(sa.text("SELECT attachment_ids FROM case_messages")):
        sent.update(i for i in (_json(ids) or []) if isinstance(i, int))
    internal_files = [row.id for row in bind.execute(sa.text(
        "SELECT id FROM attachments WHERE uploaded_by LIKE 'user:%'")) if row.id not in sent]
    for start in range(0, len(internal_files), 500):
        bind.execute(sa.text("UPDATE attachments SET visibility = 'internal' WHERE id IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)), {"ids": internal_files[start:start + 500]})
    hidden = set(internal_files)
    events = [row.id for row in bind.execute(sa.text(
        "SELECT id, action, actor_kind, payload FROM case_events WHERE actor_kind <> 'customer' "
        "AND action IN ('note', 'escalate', 'assign', 'settle_advance_exchange', 'attach')"))
        if row.action != 'attach' or _json(row.payload).get('attachment_id') in hidden]
    if not events:
        return
    # The one change ever made to existing events, by the migration itself: the trigger steps aside meanwhile.
    postgres = bind.dialect.name == "postgresql"
    op.execute(f"ALTER TABLE case_events DISABLE TRIGGER {TRIGGER}" if postgres else f"DROP TRIGGER {TRIGGER}")
    for start in range(0, len(events), 500):
        bind.execute(sa.text("UPDATE case_events SET visibility = 'internal' WHERE id IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)), {"ids": events[start:start + 500]})
    if postgres:
        op.execute(f"ALTER TABLE case_events ENABLE TRIGGER {TRIGGER}")
    else:
        op.execute(f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON case_events BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    for table, _default in reversed(TABLES):
        op.drop_column(table, 'visibility')  # not a batch copy, which would lose the trigger on SQLite
