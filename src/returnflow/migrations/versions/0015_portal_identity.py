"""The merchant's country (merchants.country); stored customer phones rewritten in E.164 where they can be read.

No merchant has a country yet, so a number without a country code is read as one of the customer's country when
that is an ISO code, else as a Chinese number at a merchant selling in CNY; elsewhere only numbers written with
+<country code> are rewritten. A phone that is no valid number is left as it was: the portal never matches it,
and the next order pushed for that customer must bring a valid one.

Revision ID: 0015_portal_identity
Revises: 0015_auth_tenants
"""
import re

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = '0015_portal_identity'
down_revision = '0015_auth_tenants'
branch_labels = None
depends_on = None

BATCH = 1000
# The same reading as returnflow.orders.contacts.phone_e164, copied so that later changes there do not change
# what this migration did.
_PHONE = re.compile(r"[\d\s+\-().]{1,40}")


def _e164(value: str, region: str | None) -> str | None:
    text = value.strip()
    if not _PHONE.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _region(customer_country: str | None, currency: str | None) -> str | None:
    country = (customer_country or '').strip().upper()
    if country in phonenumbers.SUPPORTED_REGIONS:
        return country
    return 'CN' if currency == 'CNY' else None


def upgrade() -> None:
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))
    conn = op.get_bind()
    customers = sa.table('customers', sa.column('id', sa.Integer), sa.column('merchant_id', sa.Integer),
                         sa.column('phone', sa.String), sa.column('country', sa.String))
    merchants = sa.table('merchants', sa.column('id', sa.Integer), sa.column('default_currency', sa.String))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(customers.c.id, customers.c.phone, customers.c.country, merchants.c.default_currency)
            .join(merchants, merchants.c.id == customers.c.merchant_id)
            .where(customers.c.id > last, customers.c.phone.is_not(None), customers.c.phone != '')
            .order_by(customers.c.id).limit(BATCH)).all()
        if not rows:
            break
        last = rows[-1][0]
        changes = []
        for id_, phone, country, currency in rows:
            e164 = _e164(phone, _region(country, currency))
            if e164 is not None and e164 != phone:
                changes.append({'key': id_, 'phone': e164})
        if changes:
            conn.execute(customers.update().where(customers.c.id == sa.bindparam('key'))
                         .values(phone=sa.bindparam('phone')), changes)


def downgrade() -> None:
    # The phones stay in E.164: the form they had before is not kept, and every reader accepts E.164.
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_column('country')
