"""Indexes the reports need, declared beside the tables they serve (migrations 0009 and 0012 create them).

Sold figures read orders by merchant and order date; platform-wide reports read orders and cases by date alone.
The dashboard's reads are index-only where it matters (0012): a merchant's cases of a period with what the rates
count (type, state, currency, reason), their lines, the period's orders and order lines with what is sold, and each
case's milestone events. The money, SLA and satisfaction reports read their rows by merchant and date, and the
money report each refund's cause from (case id, reason) (0028).
"""

from __future__ import annotations

from sqlalchemy import Index

from ..cases.models import Case, CaseEvent, CaseLine
from ..notify.models import FollowUpTask, SurveyResponse
from ..orders.models import Order, OrderLine
from ..refunds.models import Compensation, LedgerEntry, Refund
from ..sla.models import Timer

ORDERS_BY_MERCHANT_DATE = Index("ix_orders_merchant_ordered", Order.merchant_id, Order.ordered_at)
ORDERS_BY_DATE = Index("ix_orders_ordered_at", Order.ordered_at)
CASES_BY_DATE = Index("ix_cases_created_at", Case.created_at)

# 0012: covering indexes for the dashboard (the trailing columns are there to be read, not searched).
CASES_SCOPE = Index("ix_analytics_cases_scope", Case.merchant_id, Case.created_at, Case.type, Case.state,
                    Case.currency, Case.reason_code, Case.id, Case.outcome)  # 0018: the outcome
# 0028: each refund's cause (the money tile) read from the index, not the case's row.
CASES_REASON = Index("ix_analytics_cases_reason", Case.id, Case.reason_code)
CASE_LINES_READ = Index("ix_analytics_case_lines", CaseLine.case_id, CaseLine.order_line_id, CaseLine.quantity,
                        CaseLine.reason_code)
# 0018: with the order's status and the line's kind, which decide what is a sale.
ORDERS_SCOPE = Index("ix_analytics_orders_scope", Order.merchant_id, Order.ordered_at, Order.id, Order.currency,
                     Order.country, Order.sales_channel, Order.status)
ORDER_LINES_READ = Index("ix_analytics_order_lines", OrderLine.order_id, OrderLine.sku, OrderLine.quantity,
                         OrderLine.unit_price, OrderLine.category, OrderLine.kind)
EVENTS_MILESTONES = Index("ix_analytics_case_events", CaseEvent.case_id, CaseEvent.action, CaseEvent.created_at)
REFUNDS_BY_DATE = Index("ix_refunds_merchant_created", Refund.merchant_id, Refund.created_at, Refund.state,
                        Refund.currency, Refund.case_id, Refund.amount, Refund.goods_amount, Refund.shipping_amount,
                        Refund.deducted_amount)
COMPENSATIONS_BY_DATE = Index("ix_compensations_merchant_created", Compensation.merchant_id, Compensation.created_at)
LEDGER_BY_DATE = Index("ix_customer_ledger_merchant_created", LedgerEntry.merchant_id, LedgerEntry.created_at)
TIMERS_BY_DATE = Index("ix_sla_timers_merchant_created", Timer.merchant_id, Timer.created_at)
TIMERS_OPEN = Index("ix_sla_timers_merchant_status", Timer.merchant_id, Timer.status, Timer.kind)
SURVEYS_BY_DATE = Index("ix_survey_responses_merchant_created", SurveyResponse.merchant_id, SurveyResponse.created_at)
FOLLOW_UPS_BY_DATE = Index("ix_follow_up_tasks_merchant_created", FollowUpTask.merchant_id, FollowUpTask.created_at)
