"""Case search by trigram indexes: PostgreSQL pg_trgm GIN indexes; on SQLite, FTS5 trigram tables kept in step by
triggers (external content: the text stays in its own table). See cases/search.py.

Revision ID: 0017_desks
Revises: 0016_portal_form
"""
from alembic import op


revision = '0017_desks'
down_revision = '0016_portal_form'
branch_labels = None
depends_on = None

# table -> the columns searched in it (cases/search.py reads them through these indexes).
SEARCHED = {
    'cases': ('number', 'description', 'external_ref'),
    'orders': ('number',),
    'customers': ('external_id', 'name', 'email', 'phone'),
    'order_lines': ('sku', 'title'),
}


def _sqlite_up() -> None:
    for table, columns in SEARCHED.items():
        fts = f'{table}_fts'
        cols = ', '.join(columns)
        new = ', '.join(f'new.{c}' for c in columns)
        old = ', '.join(f'old.{c}' for c in columns)
        changed = ' OR '.join(f'old.{c} IS NOT new.{c}' for c in columns)
        op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
                   f"tokenize='trigram')")
        op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
                   f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END")
        op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END")
        op.execute(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} WHEN {changed} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
                   f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END")
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_up()
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for table, columns in SEARCHED.items():
        for column in columns:
            op.execute(f'CREATE INDEX IF NOT EXISTS ix_trgm_{table}_{column} ON {table} '
                       f'USING gin ({column} gin_trgm_ops)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for table in SEARCHED:
            for suffix in ('ai', 'ad', 'au'):
                op.execute(f'DROP TRIGGER IF EXISTS {table}_fts_{suffix}')
            op.drop_table(f'{table}_fts')
        return
    for table, columns in SEARCHED.items():
        for column in columns:
            op.drop_index(f'ix_trgm_{table}_{column}', table_name=table)
