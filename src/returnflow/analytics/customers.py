"""Customer return profiles: who returns how much, and the abuse signals raised, each with the evidence behind it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..i18n import N_, every
from ..money import fmt
from ..orders.models import Customer
from .base import c, cl, needs_order, o, ol, reason_of, returned, returns_from, returns_where
from .filters import Filters
from .report import Column, Report, percent, defines

NON_RECEIPT = ("not_received", "missing_item")
# Thresholds are here so the evidence can quote them; each rule is said in every language (msgids, i18n.every).
SERIAL = {"cases": 3, "unit_rate": 30}
MOST_BACK = {"units_bought": 5, "unit_rate": 80}
NON_RECEIPT_CLAIMS = 2
REFUND_ONLY_CLAIMS = 3
EVIDENCE_CASES = 10


def _flags(p: dict[str, Any], cases: list[tuple]) -> list[dict[str, Any]]:
    """Each signal names its rule, the threshold, what was observed and the cases that show it."""
    flags = []
    rate = (p["units_returned"] * 100 / p["units_bought"]) if p["units_bought"] else None
    numbers = [n for n, *_ in cases][:EVIDENCE_CASES]
    if p["cases"] >= SERIAL["cases"] and (rate is None or rate >= SERIAL["unit_rate"]):
        flags.append({"flag": "serial_returner",
                      "rule": every(N_("at least {cases} return cases in the period and at least {rate}% of the units "
                                       "bought in it returned (or nothing bought)"),
                                    cases=SERIAL["cases"], rate=SERIAL["unit_rate"]),
                      "observed": {"cases": p["cases"], "unit_rate": p["unit_rate"]}, "cases": numbers})
    if p["units_bought"] >= MOST_BACK["units_bought"] and rate is not None and rate >= MOST_BACK["unit_rate"]:
        flags.append({"flag": "returns_most_purchases",
                      "rule": every(N_("bought at least {units} units and returned at least {rate}% of them"),
                                    units=MOST_BACK["units_bought"], rate=MOST_BACK["unit_rate"]),
                      "observed": {"units_bought": p["units_bought"], "units_returned": p["units_returned"]},
                      "cases": numbers})
    claims = [n for n, _t, reason in cases if reason in NON_RECEIPT]
    if len(claims) >= NON_RECEIPT_CLAIMS:
        flags.append({"flag": "repeated_non_receipt",
                      "rule": every(N_("at least {claims} claims that a parcel or item never arrived"),
                                    claims=NON_RECEIPT_CLAIMS),
                      "observed": {"claims": len(claims)}, "cases": claims[:EVIDENCE_CASES]})
    refund_only = [n for n, t, _r in cases if t == "refund_only"]
    if len(refund_only) >= REFUND_ONLY_CLAIMS:
        flags.append({"flag": "refunds_without_return",
                      "rule": every(N_("at least {cases} refund-only cases (money back, goods kept)"),
                                    cases=REFUND_ONLY_CLAIMS),
                      "observed": {"refund_only_cases": len(refund_only)}, "cases": refund_only[:EVIDENCE_CASES]})
    return flags


@defines("customers", N_("Customer return profiles"))
def customers(session: Session, f: Filters) -> Report:
    """The customers with the most return cases in the period, their rates and abuse signals with evidence."""
    top = (returned(f, [c.c.customer_id.label("k")], orders=needs_order(f, None)).where(c.c.customer_id.is_not(None))
           .order_by(func.count(func.distinct(c.c.id)).desc(), func.sum(cl.c.quantity * ol.c.unit_price).desc(),
                     c.c.customer_id).limit(f.limit))
    profiles: dict[int, dict[str, Any]] = {}
    for cid, cur, cases, units, value in session.execute(top):
        prof = profiles.setdefault(cid, {"customer_id": cid, "currency": cur, "cases": 0, "units_returned": 0,
                                         "value_minor": 0, "orders": 0, "units_bought": 0})
        prof["cases"] += int(cases or 0)
        prof["units_returned"] += int(units or 0)
        prof["value_minor"] += int(value or 0)
    ids = list(profiles)
    people: dict[int, Any] = {}
    evidence: dict[int, list[tuple]] = defaultdict(list)
    if ids:
        for cid, orders, units in session.execute(
                select(o.c.customer_id, func.count(func.distinct(o.c.id)), func.sum(ol.c.quantity))
                .select_from(ol.join(o, o.c.id == ol.c.order_id))
                .where(o.c.customer_id.in_(ids), o.c.ordered_at >= f.start, o.c.ordered_at < f.end)
                .group_by(o.c.customer_id)):
            profiles[cid]["orders"] = int(orders or 0)
            profiles[cid]["units_bought"] = int(units or 0)
        people = {r.id: r for r in session.execute(
            select(Customer.id, Customer.external_id, Customer.name, Customer.country).where(Customer.id.in_(ids)))}
        seen: set[str] = set()
        stmt = returns_where(f, select(c.c.customer_id, c.c.number, c.c.type, reason_of.label("r"))
                             .select_from(returns_from(False, orders=needs_order(f, None))).where(c.c.customer_id.in_(ids))
                             .order_by(c.c.created_at.desc(), c.c.id.desc()))
        for cid, number, ctype, reason in session.execute(stmt):
            if number not in seen:
                seen.add(number)
                evidence[cid].append((number, ctype, reason))
    rows = []
    for cid, prof in profiles.items():
        who = people.get(cid)
        prof["unit_rate"] = percent(prof["units_returned"], prof["units_bought"])
        flags = _flags(prof, evidence.get(cid, []))
        rows.append({"customer": who.external_id if who else str(cid), "name": who.name if who else "",
                     "country": who.country if who else None, "orders": prof["orders"],
                     "units_bought": prof["units_bought"], "cases": prof["cases"],
                     "units_returned": prof["units_returned"], "unit_rate": prof["unit_rate"],
                     "currency": prof["currency"], "value_returned": fmt(prof["value_minor"], prof["currency"]),
                     "flags": [fl["flag"] for fl in flags], "evidence": flags,
                     "drill": {"customer": who.external_id} if who else None})
    rows.sort(key=lambda r: (-len(r["flags"]), -r["cases"], r["customer"]))
    columns = [Column("customer", "Customer", "顾客"), Column("name", "Name", "姓名"),
               Column("country", "Country/region", "国家/地区"), Column("orders", "Orders", "订单数", "int"),
               Column("units_bought", "Units bought", "购买件数", "int"), Column("cases", "Return cases", "退货单数", "int"),
               Column("units_returned", "Units returned", "退回件数", "int"),
               Column("unit_rate", "Return rate (units) %", "退货率（件数）%", "percent"),
               Column("currency", "Currency", "币种"), Column("value_returned", "Value returned", "退货金额", "money"),
               Column("flags", "Signals", "异常信号", "list")]
    note = N_("Purchases and returns are both counted within the period, so a return of an earlier purchase can "
              "lift the rate above 100%. A signal is a reason to look, not a verdict: read its cases.")
    return Report("customers", N_("Customer return profiles"), columns, rows, note=note).finish()

