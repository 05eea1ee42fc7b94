"""Ways to bring a case into each state through the workflow (never by setting the state)."""

from __future__ import annotations

from returnflow.actor import Actor
from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import act, get_case, open_case
from returnflow.db import Database

SHIP = {"carrier": "SF", "tracking_number": "SF100200300"}

# Payloads that satisfy each action's guard.
PAYLOADS: dict[str, dict] = {
    # The test orders' windows have passed, so an approval overrides the policy and must say why.
    "approve": {"override_reason": "approved against the policy for the test"},
    "reject": {"reason": "outside the policy"},
    "request_info": {"message": "please send a photo"},
    "customer_reply": {"message": "here it is"},
    "ship_return": SHIP,
    "ship_replacement": {"carrier": "SF", "tracking_number": "SF999"},
    "resolve": {"answer": "done"},
    "reopen": {"reason": "customer called back"},
    "dispute": {"reason": "I disagree"},
    "arbitrate": {"decision": "customer", "reason": "evidence supports the customer"},
    "escalate": {"reason": "angry customer"},
    "note": {"text": "called the customer"},
    "assign": {"assignee_id": None},
}

# (case type, extra create fields, actions) that end in each state.
PATHS: dict[str, tuple[str, dict, list[str]]] = {
    "pending_review": ("return_refund", {}, []),
    "awaiting_customer": ("return_refund", {}, ["request_info"]),
    "pending_approval": ("return_refund", {}, ["require_approval"]),
    "awaiting_return": ("return_refund", {}, ["approve"]),
    "return_in_transit": ("return_refund", {}, ["approve", "ship_return"]),
    "received": ("return_refund", {}, ["approve", "ship_return", "receive"]),
    "inspected": ("return_refund", {}, ["approve", "ship_return", "receive", "inspect"]),
    "in_repair": ("repair", {}, ["approve", "ship_return", "receive", "inspect", "start_repair"]),
    "resolving": ("refund_only", {}, ["approve"]),
    "resolved": ("refund_only", {}, ["approve", "resolve"]),
    "rejected": ("return_refund", {}, ["reject"]),
    "disputed": ("return_refund", {}, ["reject", "dispute"]),
    "cancelled": ("return_refund", {}, ["cancel"]),
    "closed": ("return_refund", {}, ["reject", "close"]),
}

ROLE_FOR = {"customer": None, "policy": None, "system": None, "platform": None}


def actor_for(role: str, merchant_id: int, shop_actors: dict[str, Actor], platform: Actor | None = None) -> Actor:
    """A concrete actor holding `role` for this merchant."""
    if role in shop_actors:
        return shop_actors[role]
    if role == "platform":
        return platform or Actor(kind="staff", role="platform", name="platform")
    if role == "customer":
        return Actor(kind="customer", role="customer", merchant_id=merchant_id, customer_id=-1, name="customer")
    return Actor(kind=role, role=role, merchant_id=merchant_id, name=role)


def open_for(db: Database, actor: Actor, order: str, type_: str, line_no: int = 1, quantity: int = 1,
             **extra) -> str:
    with db.transaction() as session:
        return open_case(session, actor=actor, data=CaseCreate(
            order=order, type=type_, lines=[CaseLineCreate(line_no=line_no, quantity=quantity)], **extra)).number


def run(db: Database, number: str, action: str, actor: Actor, payload: dict | None = None):
    """Fires one action at the case's current version; returns the case after it."""
    if actor.kind == "customer" and actor.customer_id == -1:
        with db.read() as session:
            owner = get_case(session, actor=Actor(kind="staff", role="platform"), number=number).customer_id
        actor = Actor(kind="customer", role="customer", merchant_id=actor.merchant_id, customer_id=owner)
    with db.transaction() as session:
        case = get_case(session, actor=actor, number=number)
        return act(session, actor=actor, number=number, action=action, version=case.version,
                   payload=PAYLOADS.get(action, {}) if payload is None else payload)
