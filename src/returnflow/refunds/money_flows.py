"""The declared transition tables of the money records (run by flows.move, drawn by `returnflow workflow`).

Who may: the staff roles of each step, "system" for what the system does as a consequence (a refund completed by
its last leg, a charge withdrawn) and "gateway" for what a payment provider's answer or webhook records. The
services check the person's role and limit first with their own messages; the table is the one place the steps
and their states are declared.
"""

from __future__ import annotations

from ..flows import OPENING, Flow, Transition

REQUESTERS = ("agent", "supervisor", "admin")
APPROVERS = ("supervisor", "admin")
EXECUTORS = ("finance", "admin")
STAFF = ("agent", "supervisor", "admin", "finance")
MACHINE = ("system", "gateway")
SPENDERS = ("agent", "supervisor", "admin", "platform")


def _t(action: str, sources, to: str | None, roles: tuple[str, ...], summary: str) -> Transition:
    return Transition(action=action, sources=frozenset(sources), to=to, roles=roles, summary=summary)


REFUND = Flow("refund", "Refund (退款单)", ("awaiting_approval", "approved", "completed", "rejected"), (
    _t("request", [OPENING], "awaiting_approval", REQUESTERS, "above the requester's limit: waits for an approver"),
    _t("request_within_limit", [OPENING], "approved", REQUESTERS, "within the requester's limit: approved at once"),
    _t("approve", ["awaiting_approval"], "approved", APPROVERS, "another approver whose limit covers it"),
    _t("reject", ["awaiting_approval"], "rejected", APPROVERS, "turned down; the amounts are free again"),
    _t("complete", ["approved"], "completed", (*MACHINE, *STAFF), "its last leg was paid"),
))

# Settling a leg happens from whoever's step paid it: the approver (ledger legs at once), finance by hand, the
# gateway's answer or webhook, the system's lookup.
SETTLERS = (*STAFF, *MACHINE)

REFUND_PAYMENT = Flow("refund_payment", "Refund payment leg (退款支付明细)",
                      ("pending", "sent", "succeeded", "failed"), (
    _t("open", [OPENING], "pending", REQUESTERS, "one leg per payment method the refund goes back to"),
    _t("send", ["pending"], "sent", (*EXECUTORS, "system"), "finance executes: the gateway is called"),
    _t("retry", ["failed"], "sent", (*EXECUTORS, "system"), "a failed leg again, under a new idempotency key"),
    _t("resend", ["sent"], None, (*EXECUTORS, "system"), "no outcome yet: sent again under the same key"),
    _t("settle", ["pending", "sent", "failed"], "succeeded", SETTLERS, "paid: voucher, ledger credit"),
    _t("fail", ["sent"], "failed", SETTLERS, "the gateway refused: no money moved"),
))

CHARGE_OPS = {"hold": ("holding", "held", "hold_failed"), "charge": ("charging", "charged", "failed"),
              "capture": ("capturing", "captured", "failed"), "release": ("releasing", "released", "held")}
# The states each operation may be asked from (OPENING: the charge is being opened with it).
CHARGE_ASKED_FROM = {"hold": [OPENING], "charge": [OPENING, "hold_failed"], "capture": ["held"],
                     "release": ["held", "holding"]}
WAITING = "awaiting_approval"
CHARGE_DECIDERS = (*REQUESTERS, *MACHINE)


def _charge_transitions() -> tuple[Transition, ...]:
    rows = []
    for op, (asked, done, refused) in CHARGE_OPS.items():
        rows += [
            _t(op, CHARGE_ASKED_FROM[op], asked, CHARGE_DECIDERS, f"{op} asked: the worker calls the gateway"),
            _t(f"{op}_done", [asked, "awaiting_finance"], done, SETTLERS, f"the {op} succeeded"),
            _t(f"{op}_refused", [asked], refused, SETTLERS, f"the {op} was refused"),
            _t(f"{op}_manual", [asked], "awaiting_finance", SETTLERS, "a manual gateway: finance collects by hand"),
        ]
    rows += [
        _t("hold_for_approval", ["holding", "charging"], WAITING, CHARGE_DECIDERS,
           "priced above the decider's limit: nothing is called"),
        _t("approve_hold", [WAITING], "holding", APPROVERS, "approved: the hold is asked"),
        _t("approve_charge", [WAITING], "charging", APPROVERS, "approved: the charge is asked"),
        _t("reject", [WAITING], "rejected", APPROVERS, "nothing is taken"),
        _t("withdraw", [WAITING], "withdrawn", MACHINE, "no longer needed (the original came back)"),
    ]
    return tuple(rows)


CUSTOMER_CHARGE = Flow("customer_charge", "Charge to the customer (顾客扣款)", (
    "holding", "held", "hold_failed", "capturing", "captured", "releasing", "released", "charging", "charged",
    "failed", "awaiting_finance", WAITING, "rejected", "withdrawn"), _charge_transitions())


def _approval_flow(kind: str, title: str, openers: tuple[str, ...], what: str) -> Flow:
    return Flow(kind, title, ("requested", WAITING, "applied", "rejected"), (
        _t("apply", ["requested"], "applied", openers, f"within the requester's limit: {what} at once"),
        _t("submit", ["requested"], WAITING, openers, "above the requester's limit: waits, nothing moves"),
        _t("approve", [WAITING], "applied", APPROVERS, f"another approver whose limit covers it: {what} once"),
        _t("reject", [WAITING], "rejected", APPROVERS, "turned down with a reason: nothing moves"),
    ))


COMPENSATION = _approval_flow("compensation", "Compensation (补偿)", REQUESTERS, "credited to the customer")
BALANCE_SPEND = _approval_flow("balance_spend", "Balance spend (余额使用)", SPENDERS, "taken off the balance")

MONEY_FLOWS = (REFUND, REFUND_PAYMENT, CUSTOMER_CHARGE, COMPENSATION, BALANCE_SPEND)
