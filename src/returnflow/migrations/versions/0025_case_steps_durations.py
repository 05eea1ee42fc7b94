"""analytics: the step summary keeps each step's seconds (computed by the database), who decided and the state the
case was closed from, keyed by (merchant, opening time, case)

The step-time tile read eight timestamps per case and subtracted them in Python; the satisfaction tile looked up,
for every survey answer, the case's first decision and last closing among its events. Both now read one row of the
summary. The key puts a period's rows in one range (on SQLite the table is WITHOUT ROWID, as the returned-lines
summary); a case's row is found for updates by its own unique index.

Revision ID: 0025_case_steps_durations
Revises: 0024_returned_lines
"""
import sqlalchemy as sa
from alembic import op

from returnflow.analytics.sql import span
from returnflow.db import UTCDateTime

revision = '0025_case_steps_durations'
down_revision = '0024_returned_lines'
branch_labels = None
depends_on = None

MILESTONES = ('intake', 'decision', 'shipped', 'received', 'inspected', 'resolved', 'closed')
TIMES = ', '.join(f'{name}_at' for name in MILESTONES)
c = sa.column
STEPS = {
    'decision': span(c('intake_at'), c('decision_at')),
    'shipped': span(c('decision_at'), c('shipped_at')),
    'received': span(sa.func.coalesce(c('shipped_at'), c('decision_at')), c('received_at')),
    'inspected': span(c('received_at'), c('inspected_at')),
    'resolved': span(sa.func.coalesce(c('inspected_at'), c('received_at'), c('decision_at'), c('intake_at')),
                     c('resolved_at')),
    'closed': span(sa.func.coalesce(c('resolved_at'), c('decision_at')), c('closed_at')),
    'total': span(c('intake_at'), c('closed_at')),
}
DECIDED_BY = ("(SELECT coalesce(nullif(e.actor_name, ''), e.actor_id, e.actor_kind) FROM case_events e "
              "WHERE e.case_id = s.case_id AND e.action IN ('approve', 'reject') ORDER BY e.seq LIMIT 1)")
CLOSED_FROM = ("(SELECT e.from_state FROM case_events e WHERE e.case_id = s.case_id AND e.action = 'close' "
               "ORDER BY e.seq DESC LIMIT 1)")


def _times():
    return [sa.Column(f'{name}_at', UTCDateTime(timezone=True), nullable=True) for name in MILESTONES]


def _foreign_keys():
    return [sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name='fk_analytics_case_steps_case_id_cases'),
            sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                    name='fk_analytics_case_steps_merchant_id_merchants')]


def _set_aside() -> None:
    """The old table under another name, with nothing left that holds a name the new one takes."""
    op.drop_index('ix_analytics_case_steps_scope', table_name='analytics_case_steps')
    if op.get_bind().dialect.name == 'postgresql':  # its primary key's index name is the new table's
        op.execute('ALTER TABLE analytics_case_steps DROP CONSTRAINT pk_analytics_case_steps')
    op.rename_table('analytics_case_steps', 'analytics_case_steps_old')


def upgrade() -> None:
    _set_aside()
    op.create_table(
        'analytics_case_steps',
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        *_times(),
        sa.Column('decided_by', sa.String(length=200), nullable=True),
        sa.Column('closed_from', sa.String(length=30), nullable=True),
        *[sa.Column(f'{name}_secs', sa.Float(), sa.Computed(expression, persisted=True), nullable=True)
          for name, expression in STEPS.items()],
        *_foreign_keys(),
        sa.PrimaryKeyConstraint('merchant_id', 'created_at', 'case_id', name='pk_analytics_case_steps'),
        sqlite_with_rowid=False,
    )
    op.execute(f"INSERT INTO analytics_case_steps (case_id, merchant_id, created_at, {TIMES}, decided_by, "
               f"closed_from) SELECT s.case_id, s.merchant_id, s.created_at, {TIMES}, {DECIDED_BY}, {CLOSED_FROM} "
               f"FROM analytics_case_steps_old s")
    op.drop_table('analytics_case_steps_old')
    op.create_index('ix_analytics_case_steps_case', 'analytics_case_steps', ['case_id'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_analytics_case_steps_case', table_name='analytics_case_steps')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE analytics_case_steps DROP CONSTRAINT pk_analytics_case_steps')
    op.rename_table('analytics_case_steps', 'analytics_case_steps_old')
    op.create_table(
        'analytics_case_steps',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        *_times(),
        *_foreign_keys(),
        sa.PrimaryKeyConstraint('case_id', name='pk_analytics_case_steps'),
    )
    op.execute(f"INSERT INTO analytics_case_steps (case_id, merchant_id, created_at, {TIMES}) "
               f"SELECT case_id, merchant_id, created_at, {TIMES} FROM analytics_case_steps_old")
    op.drop_table('analytics_case_steps_old')
    op.create_index('ix_analytics_case_steps_scope', 'analytics_case_steps', ['merchant_id', 'created_at'],
                    unique=False)
