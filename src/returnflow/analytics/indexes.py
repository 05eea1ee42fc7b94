"""Indexes the reports need, declared beside the tables they serve (migration 0009 creates them).

Sold figures read orders by merchant and order date; platform-wide reports read orders and cases by date alone.
"""

from __future__ import annotations

from sqlalchemy import Index

from ..cases.models import Case
from ..orders.models import Order

ORDERS_BY_MERCHANT_DATE = Index("ix_orders_merchant_ordered", Order.merchant_id, Order.ordered_at)
ORDERS_BY_DATE = Index("ix_orders_ordered_at", Order.ordered_at)
CASES_BY_DATE = Index("ix_cases_created_at", Case.created_at)
