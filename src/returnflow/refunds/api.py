"""The money API: quote and request refunds, approve, execute, mark paid, webhooks, store credit, compensation,
vouchers (JSON and CSV), reconciliation and the merchant's money settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from datetime import timedelta

from ..cases.service import get_case
from ..cases.views import DETAIL_SECTIONS
from ..errors import Forbidden, NotFound
from ..merchants.models import Merchant
from ..money import fmt
from ..orders.models import Customer
from ..sla import refund_clock
from ..web import DB, JSON, CurrentActor, current_actor, mutate
from . import (charge_approval, charges, diminished, grants, ledger, money_flows, money_settings, postage,
               quote as quoting, reports, service, settings_save, settle, credit)
from .gateways import GATEWAYS, GatewaySettings
from .models import Refund
from .providers import config as provider_config
from .providers import routes as provider_routes
from .schemas import (
    BalanceSpend, CompensationCreate, Decision, DiminishedValueIn, MoneyDecision, MoneyRejection, MoneySettingsIn,
    PaidMark, PostageClaimIn, RefundCreate, Rejection,
)
from .credit import spend as run

router = APIRouter(tags=["money"])
router.include_router(provider_routes.router)  # WeChat Pay, Alipay and Stripe notifications
# A row id in a path: within the id column, so an oversized one is a 422, never a database error.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DETAIL_SECTIONS["refunds"] = lambda session, case: reports.case_refunds(session, case.id)
DETAIL_SECTIONS["postage_claim"] = postage.claim_dict
DETAIL_SECTIONS["refund_deadline"] = refund_clock.due_of


def pay_settings(request: Request) -> GatewaySettings:
    """The gateway settings of this app (from RETURNFLOW_PAY_*), made once."""
    found = getattr(request.app.state, "pay_settings", None)
    if found is None:
        found = request.app.state.pay_settings = GatewaySettings()
    return found


@router.post("/cases/{number}/refunds/quote")
async def quote(number: str, body: RefundCreate, actor: CurrentActor, db: DB):
    """What a refund would be, line by line, with deductions, caps and the split per payment; changes nothing."""
    with db.read() as session:
        case = get_case(session, actor=actor, number=number)
        result, _facts, order = quoting.plan(session, case, quoting.agreed(session, case, body))
        return JSON(quoting.quote_dict(result, order))


@router.post("/cases/{number}/refunds", status_code=201)
async def request_refund(number: str, body: RefundCreate, request: Request):
    """Decides a refund: approved at once within the requester's limit, otherwise it awaits a supervisor."""
    actor = await current_actor(request)

    def work(session):
        refund = service.request_refund(session, actor=actor, number=number, body=body)
        return 201, reports.refund_dict(session, refund)

    return await mutate(request, actor, work)


@router.post("/cases/{number}/postage", status_code=201)
async def claim_postage(number: str, body: PostageClaimIn, request: Request):
    """The customer's return postage on a merchant-fault return (CN7): recorded with its receipt, capped by the
    merchant's `postage_cap`, refunded with the case's next refund."""
    actor = await current_actor(request)

    def work(session):
        postage.claim(session, actor=actor, number=number, body=body)
        return 201, postage.claim_dict(session, get_case(session, actor=actor, number=number))

    return await mutate(request, actor, work)


@router.post("/cases/{number}/diminished-value", status_code=201)
async def diminished_value(number: str, body: DiminishedValueIn, request: Request):
    """EU5/EU7: the diminished value found after a refund paid before inspection, charged to the customer."""
    actor = await current_actor(request)

    def work(session):
        return 201, charges.charge_dict(diminished.settle_later(session, actor=actor, number=number, body=body))

    return await mutate(request, actor, work)


@router.get("/cases/{number}/refunds")
async def list_refunds(number: str, actor: CurrentActor, db: DB):
    """The case's refunds with their payments and every state change."""
    with db.read() as session:
        case = get_case(session, actor=actor, number=number)
        return JSON(reports.case_refunds(session, case.id))


@router.get("/refunds/{number}")
async def get_refund(number: str, actor: CurrentActor, db: DB):
    """One refund."""
    with db.read() as session:
        refund = session.scalar(select(Refund).where(Refund.number == number))
        if refund is None or not actor.can_see(refund.merchant_id) or actor.kind == "customer":
            raise NotFound("refund", number, field="number")
        return JSON(reports.refund_dict(session, refund))


@router.post("/refunds/{number}/approve")
async def approve(number: str, body: Decision, request: Request):
    """A supervisor approves a refund above the requester's limit (within their own)."""
    actor = await current_actor(request)

    def work(session):
        return 200, reports.refund_dict(session, service.approve(session, actor=actor, number=number, note=body.note))

    return await mutate(request, actor, work)


@router.post("/refunds/{number}/reject")
async def reject(number: str, body: Rejection, request: Request):
    """A supervisor turns a refund down; its amounts become refundable again."""
    actor = await current_actor(request)

    def work(session):
        return 200, reports.refund_dict(session, service.reject(session, actor=actor, number=number,
                                                                reason=body.reason))

    return await mutate(request, actor, work)


@router.post("/refunds/{number}/execute")
async def execute(number: str, request: Request):
    """Finance pays an approved refund: each gateway payment is sent (a failed one retried under a new key, one
    without an outcome sent again under the same key). Calling it again never pays twice."""
    actor = await current_actor(request)
    db = request.app.state.db
    await run_in_threadpool(settle.execute, db, pay_settings(request), actor=actor, number=number)
    with db.read() as session:
        refund = session.scalar(select(Refund).where(Refund.number == number))
        return JSON(reports.refund_dict(session, refund))


@router.post("/refund-payments/{number}/mark-paid")
async def mark_paid(number: str, body: PaidMark, request: Request):
    """Finance records a manual payment made outside the system, with its reference."""
    actor = await current_actor(request)

    def work(session):
        leg = settle.mark_paid(session, actor=actor, number=number, reference=body.reference,
                               note=body.note)
        return 200, reports.refund_dict(session, session.get(Refund, leg.refund_id))

    return await mutate(request, actor, work)


@router.post("/money/webhooks/{gateway}")
async def webhook(gateway: str, request: Request):
    """A gateway's signed confirmation (no token: the signature is the authentication)."""
    if gateway not in GATEWAYS:
        raise NotFound("gateway", gateway, field="gateway")
    body = await request.body()
    result = await run_in_threadpool(settle.webhook, request.app.state.db, pay_settings(request), name=gateway,
                                     signature=request.headers.get("pay-signature"), body=body)
    return JSON(result)


@router.post("/money/sync")
async def sync(request: Request, older_than_seconds: int = Query(300, ge=0)):
    """Asks the provider about payments sent without an outcome (lost answers, lost webhooks, crashes)."""
    actor = await current_actor(request)
    if actor.role not in money_flows.EXECUTORS:
        raise Forbidden("forbidden_role", role=actor.role, what="sync refunds", allowed=list(money_flows.EXECUTORS))
    return JSON(await run_in_threadpool(settle.sync, request.app.state.db, pay_settings(request),
                                        older_than=timedelta(seconds=older_than_seconds)))


@router.get("/customers/{external_id}/balance")
async def balance(external_id: str, actor: CurrentActor, db: DB, merchant: str | None = None):
    """A customer's store credit, points and coupons owed, per currency."""
    with db.read() as session:
        stmt = select(Customer).where(Customer.external_id == external_id)
        if actor.merchant_id is not None:
            stmt = stmt.where(Customer.merchant_id == actor.merchant_id)
        elif merchant:
            stmt = stmt.join(Merchant, Merchant.id == Customer.merchant_id).where(Merchant.code == merchant)
        customer = session.scalars(stmt).first()
        if customer is None or (actor.kind == "customer" and actor.customer_id != customer.id):
            raise NotFound("customer", external_id, field="external_id")
        found = ledger.balances(session, merchant_id=customer.merchant_id, customer_id=customer.id)
        return JSON({"customer": external_id, "balances": [
            {"asset": asset, "currency": currency, "amount": fmt(amount, currency)}
            for (asset, currency), amount in sorted(found.items())]})


@router.post("/customers/{external_id}/balance/spend",
             responses={202: {"description": "Above the spender's limit: awaiting approval, the balance untouched"}})
async def spend(external_id: str, body: BalanceSpend, request: Request):
    """Takes an amount off the customer's store credit, points or coupons (never below zero): 200 when applied,
    202 when above the spender's limit it awaits approval (the balance untouched)."""
    actor = await current_actor(request)

    def work(session):
        result = run(session, actor=actor, external_id=external_id, asset=body.asset,
                     currency=body.currency.upper(), amount=body.amount, reference=body.reference)
        return (200 if result["state"] == "applied" else 202), result

    return await mutate(request, actor, work)


@router.get("/balance-spends")
async def list_spends(actor: CurrentActor, db: DB, state: str | None = None):
    """Balance spends, oldest first (`state=awaiting_approval`: the approval queue)."""
    if actor.kind == "customer":
        raise Forbidden("forbidden_role", role=actor.role, what="list balance spends", allowed=["staff"])
    with db.read() as session:
        return JSON({"items": credit.listing(session, actor=actor, state=state)})


@router.post("/balance-spends/{spend_id}/approve")
async def approve_spend(spend_id: RowId, body: MoneyDecision, request: Request):
    """A supervisor or admin whose own limit covers it takes the spend off the balance (once, never below zero)."""
    actor = await current_actor(request)

    def work(session):
        return 200, credit.approve(session, actor=actor, spend_id=spend_id, version=body.version, note=body.note)

    return await mutate(request, actor, work)


@router.post("/balance-spends/{spend_id}/reject")
async def reject_spend(spend_id: RowId, body: MoneyRejection, request: Request):
    """A supervisor or admin turns a spend down with the reason; the balance stays."""
    actor = await current_actor(request)

    def work(session):
        return 200, credit.reject(session, actor=actor, spend_id=spend_id, version=body.version, reason=body.reason)

    return await mutate(request, actor, work)


@router.post("/cases/{number}/compensations", status_code=201)
async def compensate(number: str, body: CompensationCreate, request: Request):
    """Compensates the customer for the merchant's fault: a coupon code, store credit or points. Within the
    requester's limit it is applied at once (`state: applied`); above it it awaits approval and nothing moves."""
    actor = await current_actor(request)

    def work(session):
        return 201, grants.compensation_dict(grants.compensate(session, actor=actor, number=number, body=body))

    return await mutate(request, actor, work)


@router.get("/compensations")
async def list_compensations(actor: CurrentActor, db: DB, state: str | None = None):
    """The merchant's compensations, oldest first (`state=awaiting_approval`: the approval queue)."""
    if actor.kind == "customer":
        raise Forbidden("forbidden_role", role=actor.role, what="list compensations", allowed=["staff"])
    with db.read() as session:
        return JSON({"items": [grants.compensation_dict(c) for c in grants.listing(session, actor=actor,
                                                                                   state=state)]})


@router.get("/compensations/{comp_id}")
async def get_compensation(comp_id: RowId, actor: CurrentActor, db: DB):
    """One compensation with its decisions."""
    with db.read() as session:
        return JSON(grants.compensation_dict(grants.get(session, actor=actor, comp_id=comp_id)))


@router.post("/compensations/{comp_id}/approve")
async def approve_compensation(comp_id: RowId, body: MoneyDecision, request: Request):
    """A supervisor or admin whose own limit covers it applies a compensation awaiting approval (exactly once)."""
    actor = await current_actor(request)

    def work(session):
        return 200, grants.compensation_dict(grants.approve(session, actor=actor, comp_id=comp_id,
                                                            version=body.version, note=body.note))

    return await mutate(request, actor, work)


@router.post("/compensations/{comp_id}/reject")
async def reject_compensation(comp_id: RowId, body: MoneyRejection, request: Request):
    """A supervisor or admin turns a compensation down with the reason; nothing reaches the customer."""
    actor = await current_actor(request)

    def work(session):
        return 200, grants.compensation_dict(grants.reject(session, actor=actor, comp_id=comp_id,
                                                           version=body.version, reason=body.reason))

    return await mutate(request, actor, work)


@router.get("/money/charges")
async def list_waiting_charges(actor: CurrentActor, db: DB):
    """Charges to customers awaiting approval (priced above their decider's limit), oldest first."""
    if actor.kind == "customer":
        raise Forbidden("forbidden_role", role=actor.role, what="list charges", allowed=["staff"])
    with db.read() as session:
        return JSON({"items": [charges.charge_dict(c) for c in charge_approval.waiting(session, actor=actor)]})


@router.post("/money/charges/{number}/approve")
async def approve_charge(number: str, body: Decision, request: Request):
    """A supervisor or admin whose own limit covers it lets a charge awaiting approval go to the gateway (once)."""
    actor = await current_actor(request)

    def work(session):
        return 200, charges.charge_dict(charge_approval.approve(session, actor=actor, number=number, note=body.note))

    return await mutate(request, actor, work)


@router.post("/money/charges/{number}/reject")
async def reject_charge(number: str, body: Rejection, request: Request):
    """A supervisor or admin turns a charge awaiting approval down with the reason: nothing is taken."""
    actor = await current_actor(request)

    def work(session):
        return 200, charges.charge_dict(charge_approval.reject(session, actor=actor, number=number,
                                                               reason=body.reason))

    return await mutate(request, actor, work)


@router.get("/money/vouchers")
async def list_vouchers(actor: CurrentActor, db: DB, period: str = Query(..., description="YYYY-MM")):
    """The period's finance vouchers (财务凭证) with their lines."""
    with db.read() as session:
        return JSON({"period": period, "items": reports.vouchers(session, actor=actor, period=period)})


@router.get("/money/vouchers.csv", responses={200: {"description": "CSV", "content": {"text/csv": {}}}})
async def export_vouchers(actor: CurrentActor, db: DB, period: str = Query(..., description="YYYY-MM")):
    """The period's vouchers as CSV, one row per line."""
    with db.read() as session:
        text = reports.vouchers_csv(reports.vouchers(session, actor=actor, period=period))
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="vouchers-{period}.csv"'})


@router.get("/money/reconciliation")
async def reconciliation(actor: CurrentActor, db: DB, period: str = Query(..., description="YYYY-MM")):
    """Gateway confirmations matched against settlement vouchers, with every mismatch."""
    with db.read() as session:
        return JSON(reports.reconciliation(session, actor=actor, period=period))


@router.get("/money/settings")
async def get_settings(actor: CurrentActor, db: DB):
    """The merchant's approval limits, gateways per payment method and extra refund routes."""
    if actor.merchant_id is None:
        raise Forbidden("merchant_required", status=422, field="merchant")
    with db.read() as session:
        found = money_settings.money_settings(session, actor.merchant_id)
        return JSON({**found, "providers": provider_config.shown(found["providers"])})


@router.put("/money/settings")
async def put_settings(body: MoneySettingsIn, request: Request):
    """Sets the merchant's money settings (admin)."""
    actor = await current_actor(request)
    if actor.role != "admin" or actor.merchant_id is None:
        raise Forbidden("forbidden_role", role=actor.role, what="change money settings", allowed=["admin"])
    allowed = pay_settings(request).allowed()

    def work(session):
        return 200, settings_save.save(session, actor=actor, body=body, allowed=allowed)

    return await mutate(request, actor, work)
