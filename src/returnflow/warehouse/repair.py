"""Repair work orders (维修单) and the 三包 counters (CN11–CN13).

- The warranty runs from delivery for the category's `warranty_months`; time in repair is excluded from it
  (CN12: the warranty pauses while the item is away), and it restarts when the item was exchanged.
- Two repairs in warranty that did not hold entitle the customer to an exchange or a return (CN12).
- A repair the repairer let run over 30 days, or parts not supplied within 90 days, entitles an exchange (CN13).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.models import Case, CaseLine, CaseState as S, CaseType as T
from ..cases.service import get_case
from ..cases.store import CaseRecord
from ..cases.workflow import fire
from ..db import utcnow
from ..errors import Conflict, Explained
from ..flows import move
from ..i18n import N_
from ..logistics.models import Shipment
from ..logistics.staff import staff_merchant
from ..money import MoneyError, fmt, to_minor
from ..orders import units
from ..orders.models import Category, Order, OrderLine
from .flows import REPAIR_ORDER
from .models import RepairOrder

REPAIRERS = REPAIR_ORDER.transition("open").roles
REPAIR_DAYS_LIMIT = 30  # CN13: the repairer's own delay
PARTS_DAYS_LIMIT = 90  # CN13: parts not supplied


def _line(case: CaseRecord, line_id: int):
    line = next((x for x in case.lines if x.id == line_id), None)
    if line is None:
        ids = [x.id for x in case.lines]
        raise Explained("line_id", N_("not a line of case {number}; lines: {lines}"), number=case.number, lines=ids,
                        allowed=ids)
    return line


def warranty(session: Session, case: CaseRecord, order_line_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The line's warranty: start (delivery, or the last exchange), months, days paused by repairs, end, and
    whether it still runs."""
    now = now or utcnow()
    order = session.get(Order, case.order_id)
    line = session.get(OrderLine, order_line_id)
    attributes = session.scalar(select(Category.attributes).where(Category.merchant_id == case.merchant_id,
                                                                  Category.code == line.category)) or {}
    months = int(attributes.get("warranty_months") or (12 if attributes.get("sanbao") else 0))
    start = order.signed_at or order.delivered_at or order.shipped_at or case.created_at
    restarted = session.scalar(
        select(Shipment.created_at).join(CaseLine, CaseLine.case_id == Shipment.case_id)
        .join(Case, Case.id == Shipment.case_id)
        .where(CaseLine.order_line_id == order_line_id, Shipment.direction == "outbound",
               Case.type == T.EXCHANGE.value).order_by(Shipment.created_at.desc()).limit(1))
    if restarted is not None and restarted > start:
        start = restarted  # CN12: the warranty restarts after an exchange
    paused = 0
    for row in session.scalars(select(RepairOrder).where(RepairOrder.order_line_id == order_line_id,
                                                         RepairOrder.started_at >= start)):
        paused += ((row.finished_at or now) - row.started_at).days
    end = start + timedelta(days=round(months * 30.4375) + paused)
    return {"start": start, "months": months, "paused_days": paused, "end": end, "running": now <= end,
            "days_since_start": (now - start).days}


def counters(session: Session, case: CaseRecord, order_line_id: int) -> dict[str, Any]:
    """三包 counters of an order line across all its cases, and what they entitle the customer to."""
    rows = list(session.scalars(select(RepairOrder).where(RepairOrder.order_line_id == order_line_id)
                                .order_by(RepairOrder.id)))
    in_warranty = [r for r in rows if r.in_warranty]
    failed = sum(1 for r in in_warranty if r.status == "failed")
    repaired = sum(1 for r in in_warranty if r.status == "repaired")
    entitled: list[str] = []
    rules: list[str] = []
    # A repair did not hold if it failed, or if the fault came back (another repair followed it); two → CN12.
    did_not_hold = sum(1 for k, r in enumerate(in_warranty)
                       if r.status == "failed" or (r.status == "repaired" and k < len(in_warranty) - 1))
    if did_not_hold >= 2:
        entitled, rules = ["exchange", "return"], ["CN12"]
    for r in in_warranty:
        if r.finished_at is not None:
            own_days = (r.finished_at - r.started_at).days - r.parts_waiting_days
            if own_days > REPAIR_DAYS_LIMIT or r.parts_waiting_days > PARTS_DAYS_LIMIT:
                entitled = entitled or ["exchange"]
                rules.append("CN13")
    w = warranty(session, case, order_line_id)
    if w["days_since_start"] <= 7:
        window = ["return", "exchange", "repair"]
    elif w["days_since_start"] <= 15:
        window = ["exchange", "repair"]
    else:
        window = ["repair"] if w["running"] else []
    return {"repairs": len(rows), "repairs_in_warranty": len(in_warranty), "failed_repairs": failed,
            "completed_repairs": repaired,
            "did_not_hold": did_not_hold, "entitled": sorted(set(entitled)), "rules": sorted(set(rules)),
            "sanbao_window": window, "warranty": w}


def open_repair(session: Session, *, actor: Actor, number: str, version: int, line_id: int, mode: str,
                fault: str, serial_number: str | None = None) -> tuple[CaseRecord, RepairOrder]:
    """Opens a repair work order; a mail-in repair of an inspected item starts the repair in the workflow."""
    staff_merchant(actor, REPAIRERS, "open repair work orders")
    case = get_case(session, actor=actor, number=number)
    if case.type != T.REPAIR:
        raise Explained("number", N_("case {number} is a {type} case, not a repair"), number=case.number,
                        type=case.type, code="guard_failed")
    line = _line(case, line_id)
    if session.scalar(select(RepairOrder.id).where(RepairOrder.case_id == case.id,
                                                   RepairOrder.status == "open")) is not None:
        raise Explained("number", N_("this case already has an open repair work order"), code="repair_open",
                        status=409)
    if case.state not in (S.INSPECTED, S.IN_REPAIR):
        raise Explained("number", N_("a repair starts after inspection (mail-in) or on site; the case is {state}"),
                        state=case.state, code="illegal_transition", status=409)
    now = utcnow()
    w = warranty(session, case, line.order_line_id, now)
    serial = units.record(session, line.order_line_id, serial_number, "serial_number") if serial_number else None
    row = RepairOrder(merchant_id=case.merchant_id, case_id=case.id, order_line_id=line.order_line_id, mode=mode,
                      fault=fault, cost=0, currency=case.currency, in_warranty=w["running"],
                      started_at=now, created_by=actor.ref, serial_number=serial)
    move(session, REPAIR_ORDER, row, "open", by=actor.ref, role=actor.role, at=now,
         data={"mode": mode, "in_warranty": w["running"]})
    if case.state == S.INSPECTED:
        fire(session, case, "start_repair", actor, expected_version=version, at=now, payload={
            "repair_order": row.id, "mode": mode, "fault": fault, "in_warranty": w["running"]})
    elif version != case.version:
        raise Conflict("stale_version", field="version", sent=version, current=case.version)
    return case, row


def finish_repair(session: Session, *, actor: Actor, number: str, repair_id: int, version: int, outcome: str,
                  cost: str, parts_waiting_days: int, note: str) -> tuple[CaseRecord, RepairOrder]:
    """Closes a repair work order: repaired → the case moves on (complete_repair); failed → the case stays in
    repair and the 三包 counters say whether an exchange or return is now due."""
    staff_merchant(actor, REPAIRERS, "finish repair work orders")
    case = get_case(session, actor=actor, number=number)
    row = session.get(RepairOrder, repair_id)
    if row is None or row.case_id != case.id:
        raise Explained("repair_id", N_("repair order {repair} of case {number} was not found"), repair=repair_id,
                        number=case.number, code="not_found", status=404)
    if row.status != "open":
        raise Explained("repair_id", N_("this work order is already {state}"), state=row.status,
                        code="repair_closed", status=409)
    try:
        minor = to_minor(cost, case.currency)
    except MoneyError as exc:
        raise exc.refusal("cost") from None
    if minor < 0:
        raise Explained("cost", N_("must not be negative"))
    now = utcnow()
    row.cost, row.finished_at, row.parts_waiting_days = minor, now, parts_waiting_days
    if note:
        row.fault = f"{row.fault}\n{note}".strip()
    move(session, REPAIR_ORDER, row, outcome, by=actor.ref, role=actor.role, at=now,
         data={"cost": fmt(minor, case.currency), "currency": case.currency, **({"note": note} if note else {})})
    if outcome == "repaired" and case.state == S.IN_REPAIR:
        fire(session, case, "complete_repair", actor, expected_version=version, at=now, payload={
            "repair_order": row.id, "cost": fmt(minor, case.currency), "currency": case.currency})
    elif version != case.version:
        raise Conflict("stale_version", field="version", sent=version, current=case.version)
    return case, row


def repair_dict(row: RepairOrder) -> dict[str, Any]:
    return {"id": row.id, "mode": row.mode, "status": row.status, "fault": row.fault,
            "cost": fmt(row.cost, row.currency), "currency": row.currency, "in_warranty": row.in_warranty,
            "started_at": row.started_at, "finished_at": row.finished_at,
            "parts_waiting_days": row.parts_waiting_days, "serial_number": row.serial_number}


def repairs_of(session: Session, case: CaseRecord) -> dict[str, Any]:
    rows = session.scalars(select(RepairOrder).where(RepairOrder.case_id == case.id).order_by(RepairOrder.id))
    return {"repairs": [repair_dict(r) for r in rows],
            "lines": {line.id: counters(session, case, line.order_line_id) for line in case.lines},
            "units": units_of(session, [line.order_line_id for line in case.lines])}


def units_of(session: Session, order_line_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    """CN12: every repair of these order lines' units across all cases, by serial number (unrecorded: "")."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in session.scalars(select(RepairOrder).where(RepairOrder.order_line_id.in_(order_line_ids))
                               .order_by(RepairOrder.id)):
        out.setdefault(row.serial_number or "", []).append(repair_dict(row))
    return out
