"""The policy decision a case page shows: the one stored on the case when opening ran the policy (contract 3),
otherwise the current policy's answer for the case's lines, computed the same way as the dry run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases import reasons as reason_taxonomy
from ..cases.store import CaseRecord
from ..errors import AppError
from ..orders.models import Customer as CustomerRow, Order, OrderLine
from ..policy import service as policy_service
from ..policy.api import DryRunLine, _categories, _category, _line_request, decision_dict
from ..policy.engine import decide
from ..policy.model import Customer


def decision_of_case(session: Session, case: CaseRecord) -> dict[str, Any] | None:
    """{"stored": bool, "lines": [{"line_no", "sku", "decision"}]} or None when the policy cannot say."""
    stored = getattr(case, "policy_decision", None)
    if stored:
        by_id = {line.id: line for line in case.lines}
        return {"stored": True, "version": stored.get("policy_version"), "lines": [
            {"line_no": by_id[x["case_line_id"]].line_no if x.get("case_line_id") in by_id else None,
             "sku": by_id[x["case_line_id"]].sku if x.get("case_line_id") in by_id else "",
             "decision": _from_stored(x)} for x in stored.get("lines", [])]}
    try:
        return _live(session, case)
    except (AppError, KeyError, ValueError):
        return None


def _from_stored(line: dict[str, Any]) -> dict[str, Any]:
    """The stored shape (contract 3) in the dry run's names, so one template shows both."""
    return {"eligible": line.get("eligible"), "outcomes": line.get("outcomes", []),
            "return_required": line.get("must_return"), "shipping_payer": line.get("return_shipping_payer"),
            "deductions": [{"kind": d.get("kind"), "amount": d.get("amount_minor"), "rule": d.get("rule")}
                           for d in line.get("deductions", [])],
            "deadlines": [{"kind": k, "at": v} for k, v in (line.get("deadlines") or {}).items()]
            if isinstance(line.get("deadlines"), dict) else line.get("deadlines") or [],
            "reasons": line.get("reasons", []), "route": line.get("route"), "refundable": line.get("refundable")}


def _live(session: Session, case: CaseRecord) -> dict[str, Any]:
    row, policy = policy_service.current(session, case.merchant_id)
    order = session.get(Order, case.order_id)
    taxonomy = {r.code: r for r in reason_taxonomy.for_merchant(session, case.merchant_id)}
    customer_row = session.get(CustomerRow, order.customer_id) if order.customer_id else None
    customer = Customer(id=customer_row.external_id if customer_row else "")
    order_lines = {line.id: line for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
    categories = _categories(session, case.merchant_id, {x.category for x in order_lines.values() if x.category})
    lines = []
    for line in case.lines:
        order_line = order_lines[line.order_line_id]
        code = line.reason_code or case.reason_code
        fault = taxonomy[code].fault if code in taxonomy else "customer"
        category, tags = _category(order_line.category, categories.get(order_line.category or ""))
        request = _line_request(order, order_line, DryRunLine(line_no=order_line.line_no, quantity=line.quantity),
                                case.type, code or "", fault, category, tags, customer)
        lines.append({"line_no": order_line.line_no, "sku": order_line.sku,
                      "decision": decision_dict(decide(policy, request, case.created_at), policy)})
    return {"stored": False, "version": row.version if row else None, "lines": lines}
