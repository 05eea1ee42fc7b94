"""Labels in any language: a reason's and a category's labels become {language tag: text}, none required in a
particular language (the reader's language, its family, the merchant's default, English, then any is shown).
The zh-CN and English columns stay as they were, written beside them, so nothing that reads them changes.

Revision ID: 0020_labels
Revises: 0018_analytics_defs
"""
from alembic import op
import sqlalchemy as sa


revision = '0020_labels'
down_revision = '0020_money_events'
branch_labels = None
depends_on = None

COLUMNS = {'reasons': ('label_zh', 'label_en'), 'categories': ('name_zh', 'name_en')}


def upgrade() -> None:
    bind = op.get_bind()
    for table, (zh, en) in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('labels', sa.JSON(none_as_null=True), nullable=True))
        rows = sa.table(table, sa.column('id', sa.Integer()), sa.column(zh, sa.String()), sa.column(en, sa.String()),
                        sa.column('labels', sa.JSON(none_as_null=True)))
        for row in bind.execute(sa.select(rows.c.id, rows.c[zh], rows.c[en])).all():
            labels = {tag: text for tag, text in (('zh-CN', row[1]), ('en', row[2])) if text and text.strip()}
            bind.execute(rows.update().where(rows.c.id == row[0]).values(labels=labels))


def downgrade() -> None:
    op.drop_column('categories', 'labels')
    op.drop_column('reasons', 'labels')
