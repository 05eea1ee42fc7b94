"""The policy API: stored versions of the merchant's policy file, and the dry run of a return."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth.actor import Actor
from ..cases import reasons as reason_taxonomy
from ..cases.models import CaseType
from ..cases.service import check_reasons, lines_with_claims, match_lines, resolve_merchant
from ..db import utcnow
from ..errors import Explained, Forbidden, NotFound
from ..money import from_minor
from ..orders.models import Category as CategoryRow
from ..orders.models import Customer as CustomerRow
from ..orders.models import Order, OrderLine
from ..web import DB, JSON, CurrentActor, mutate
from . import service
from .engine import decide
from .errors import PolicyError
from .loader import Policy, preset_text
from .model import Category, Customer, Decision, LineRequest
from .models import PolicyVersion

router = APIRouter(tags=["policy"])

POLICY_EDITORS = ("admin", "supervisor", "platform")
# Category.attributes keys read as the engine's legal attributes (anything else is ignored).
BOOL_ATTRIBUTES = ("custom_made", "perishable", "digital", "periodical", "hygiene_sealed", "one_time_seal",
                   "needs_confirmation", "sanbao", "virtual")
GOODS_BACK = {CaseType.RETURN_REFUND, CaseType.EXCHANGE, CaseType.REPAIR}


def _staff(actor: Actor, what: str) -> None:
    if actor.kind not in ("staff", "system"):
        raise Forbidden("forbidden_role", role=actor.role, what=what, allowed=["staff"])


def _version_dict(row: PolicyVersion | None, policy: Policy, default: str | None = None) -> dict:
    if row is None:
        return {"version": None, "default": True, "extends": default, "policy_id": policy.id,
                "source": preset_text(default) if default else "", "created_at": None, "created_by": None}
    return {"version": row.version, "default": False, "extends": row.extends or None, "policy_id": policy.id,
            "source": row.source, "created_at": row.created_at, "created_by": row.created_by}


@router.get("/policy")
async def get_policy(actor: CurrentActor, db: DB, merchant: str | None = None):
    """The merchant's active policy version, or the default preset when none was saved (`version` null)."""
    _staff(actor, "read the policy")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        row, policy = service.current(session, m.id)
        return JSON(_version_dict(row, policy, None if row else service.default_preset(m)))


@router.get("/policy/versions")
async def list_versions(actor: CurrentActor, db: DB, merchant: str | None = None):
    """Every saved version of the merchant's policy, newest first (without the source text)."""
    _staff(actor, "read the policy")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        rows = service.versions(session, m.id)
        return JSON({"items": [{"version": r.version, "extends": r.extends or None, "created_at": r.created_at,
                                "created_by": r.created_by} for r in rows],
                     "current": rows[0].version if rows else None})


@router.get("/policy/versions/{version}")
async def get_version(actor: CurrentActor, db: DB, version: int = Path(ge=1), merchant: str | None = None):
    """One saved version with its source text."""
    _staff(actor, "read the policy")
    with db.read() as session:
        m = resolve_merchant(session, actor, merchant)
        row = service.get_version(session, m.id, version)
        return JSON(_version_dict(row, service.compile_version(row)))


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200_000, description="The merchant policy file (TOML)")
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")


class PolicyRefused(Explained):
    """A policy file that does not load: 422 with `field`, `line` and the reason in the caller's language."""

    def __init__(self, exc: PolicyError) -> None:
        where_en = f"line {exc.line}: " if exc.line else ""
        where_zh = f"第 {exc.line} 行：" if exc.line else ""
        super().__init__(exc.field, where_en + exc.en, where_zh + exc.zh, code="invalid_policy")
        self.line = exc.line

    def render(self, locale: str) -> dict:
        body = super().render(locale)
        body["line"] = self.line
        return body


@router.put("/policy", status_code=201)
async def put_policy(body: PolicyIn, actor: CurrentActor, request: Request):
    """Saves a new version of the merchant's policy file (admins, supervisors, platform); it becomes active at
    once. A file that does not load is refused with the field and line, and the active version stays."""
    if actor.role not in POLICY_EDITORS:
        raise Forbidden("forbidden_role", role=actor.role, what="change the policy", allowed=list(POLICY_EDITORS))

    def work(session):
        merchant = resolve_merchant(session, actor, body.merchant)
        try:
            row = service.save(session, merchant.id, body.source, actor)
        except PolicyError as exc:
            raise PolicyRefused(exc) from None
        return 201, _version_dict(row, service.compile_version(row))

    return await mutate(request, actor, work)


class DryRunLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_no: int | None = Field(default=None, ge=1, description="The order line number; or give the SKU")
    sku: str | None = Field(default=None, min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=1_000_000)
    reason: str | None = Field(default=None, max_length=60)
    opened: bool = Field(default=False, description="Seal broken / unpacked")
    used: bool = Field(default=False, description="Used beyond inspecting and reasonable testing (CN4)")

    @model_validator(mode="after")
    def _line_or_sku(self) -> DryRunLine:
        if self.line_no is None and self.sku is None:
            raise ValueError("give line_no or sku")
        return self


class DryRunIn(BaseModel):
    """A case request as it would be opened, plus when (default now) and under which saved version."""

    model_config = ConfigDict(extra="forbid")

    order: str = Field(min_length=1, max_length=100, description="Order number")
    merchant: str | None = Field(default=None, description="Merchant code; only platform users need it")
    type: CaseType
    reason: str | None = Field(default=None, max_length=60)
    lines: list[DryRunLine] = Field(min_length=1, max_length=500)
    at: datetime | None = Field(default=None, description="Decide as of this time (default: now)")
    version: int | None = Field(default=None, ge=1, description="A saved policy version (default: the active one)")


@router.post("/policy/dry-run")
async def dry_run(body: DryRunIn, actor: CurrentActor, db: DB):
    """What the policy would decide for these lines if the case were opened now (or at `at`); writes nothing."""
    _staff(actor, "run the policy")
    with db.read() as session:
        return JSON(run_dry(session, actor, body))


def run_dry(session: Session, actor: Actor, body: DryRunIn) -> dict:
    merchant = resolve_merchant(session, actor, body.merchant)
    if body.version is not None:
        row = service.get_version(session, merchant.id, body.version)
        policy = service.compile_version(row)
    else:
        row, policy = service.current(session, merchant.id)
    now = body.at or utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)

    order = session.scalar(select(Order).where(Order.merchant_id == merchant.id, Order.number == body.order))
    if order is None:
        raise NotFound("order", body.order, field="order")
    taxonomy = {r.code: r for r in reason_taxonomy.for_merchant(session, merchant.id)}
    check_reasons(session, merchant.id, body.type, body.reason, body.lines)

    customer_row = session.get(CustomerRow, order.customer_id) if order.customer_id is not None else None
    customer = Customer(id=customer_row.external_id if customer_row else "")
    lines = {line.id: line for line in order.lines}
    categories = _categories(session, merchant.id, {line.category for line in lines.values() if line.category})
    answers = []
    # The same checks as opening a case, so a dry run and the real request never disagree.
    for claim, item in match_lines(order.number, lines_with_claims(session, order.id), body.lines, body.type):
        line = lines[claim.id]
        code = item.reason or body.reason
        # No reason given: a return for the customer's own reasons (the 7-day no-reason case).
        fault = taxonomy[code].fault if code in taxonomy else "customer"
        category, tags = _category(line.category, categories.get(line.category or ""))
        request = _line_request(order, line, item, body.type.value, code or "", fault, category, tags, customer)
        decision = decide(policy, request, now)
        answers.append({"line_no": line.line_no, "sku": line.sku, "quantity": item.quantity, "reason": code,
                        "fault": fault, "category": category.code, "decision": decision_dict(decision, policy)})
    return {"order": order.number, "merchant": merchant.code, "type": body.type.value, "at": now,
            "policy": {"version": row.version if row else None, "default": row is None,
                       "extends": (row.extends or None) if row else service.default_preset(merchant),
                       "policy_id": policy.id},
            "lines": answers}


def _categories(session: Session, merchant_id: int, codes: set[str]) -> dict[str, CategoryRow]:
    if not codes:
        return {}
    rows = session.scalars(select(CategoryRow).where(CategoryRow.merchant_id == merchant_id,
                                                     CategoryRow.code.in_(codes)))
    return {row.code: row for row in rows}


def _category(code: str | None, row: CategoryRow | None) -> tuple[Category, frozenset[str]]:
    """The engine's Category from the category row's `attributes` (see docs/policy.md); tags for rules."""
    attrs = (row.attributes or {}) if row is not None else {}
    flags = {name: attrs.get(name) is True for name in BOOL_ATTRIBUTES}
    months = attrs.get("warranty_months")
    checklist = attrs.get("checklist")
    tags = attrs.get("tags")
    return (Category(code=code or "", warranty_months=months if isinstance(months, int) and months > 0 else 0,
                     checklist=tuple(str(x) for x in checklist) if isinstance(checklist, list) else (), **flags),
            frozenset(str(x) for x in tags) if isinstance(tags, list) else frozenset())


def _line_request(order: Order, line: OrderLine, item: DryRunLine, case_type: str, reason: str, fault: str,
                  category: Category, tags: frozenset[str], customer: Customer) -> LineRequest:
    currency = order.currency
    unit = from_minor(line.unit_price, currency)
    paid = None
    if line.paid_amount and line.quantity:
        paid = from_minor(line.paid_amount, currency) * item.quantity / line.quantity
    return LineRequest(
        case_type=case_type, reason_code=reason, fault=fault, category=category, sku=line.sku, currency=currency,
        unit_price=unit, quantity=item.quantity, customer=customer,
        ordered_at=order.ordered_at or order.imported_at, line_amount=paid, tags=tags,
        shipped_at=order.shipped_at, delivered_at=order.delivered_at, signed_at=order.signed_at,
        opened=item.opened, used=item.used,
        order_goods_total=from_minor(order.goods_total, currency) if order.goods_total else None)


def decision_dict(d: Decision, policy: Policy) -> dict:
    """A Decision as JSON: amounts as decimal strings, times ISO 8601, reasons in zh-CN and en."""
    return {
        "eligible": d.eligible,
        "outcomes": [o.value for o in d.outcomes],
        "return_required": d.return_required,
        "shipping_payer": d.shipping_payer.value,
        "insurance_covers": d.insurance_covers,
        "deductions": [{"kind": x.kind, "amount": str(x.amount), "rule": x.rule} for x in d.deductions],
        "refundable": str(d.refundable),
        "route": d.route.value,
        "authority_level": d.authority_level,
        "deadlines": [{"kind": x.kind, "rule": x.rule, "anchor": x.anchor.value,
                       "period_seconds": int(x.period.total_seconds()) if x.period is not None else None,
                       "at": x.at} for x in d.deadlines],
        "reasons": [{"rule": c.rule, "source": c.source, "zh-CN": c.zh, "en": c.en} for c in d.reasons],
        "rule_ids": list(d.rule_ids),
        "checklist": list(d.checklist),
        "compensation": str(d.compensation) if d.compensation else "0",
        "refund_on_dispatch": d.refund_on_dispatch,
    }

