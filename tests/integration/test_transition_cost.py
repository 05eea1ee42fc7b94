"""What one transition costs in SQL, and that what it reads with the case (its side effects' context: the SLA
settings' time, webhook endpoints, the customer's contact, the chain head) is never stale: a change made just before
applies to the very next transition. Speed itself is measured in bench/lifecycle.py, not here."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, select

from returnflow import derive
from returnflow.audit import chain
from returnflow.cases.models import Case, CaseEvent, OutboxMessage
from returnflow.cases.service import act, get_case
from returnflow.cases.models import WebhookEndpoint
from returnflow.notify.webhooks import new_secret
from returnflow.orders.models import Customer
from returnflow.refunds.gateways import GatewaySettings  # noqa: F401  (the app and its hooks are importable)
from returnflow.sla import settings as sla_settings
from returnflow.sla.models import Timer
from tests.support.flows import PAYLOADS, open_for, run
from tests.support.world import make_order, make_shop

# ship_return (awaiting_return → return_in_transit), in the request's transaction: load the case with its context, the
# guarded UPDATE, the event and its chain link. Everything else the event sets off is derived afterwards.
SHIP_RETURN_STATEMENTS = 4
# Recorded as a plain action (no shipment yet), the return parcel also gets its inbound shipment in that transaction,
# so the receiving desk and tracking webhooks find it (logistics/hooks.py): is the number free, the warehouse it
# goes to (the order's country with the lines' categories in one read; the merchant's addresses come from the
# per-process `return_addresses` cache, read by the approval before), the carrier events that came for it before,
# the INSERT and its opening move's record_events row (logistics/flows.py SHIPMENT `register`).
RECORD_SHIPMENT_READS = 3
RECORD_SHIPMENT_STATEMENTS = RECORD_SHIPMENT_READS + 2
# The derivation of that event (returnflow/derive.py, its own transaction): on PostgreSQL the case's derivation lock,
# its events not yet derived, the case with its context, the derivation row, end the step's clocks, start the next step's two (one statement), the
# customer's notices (one), the analytics step summary's "shipped" time (one guarded UPDATE), and whether the
# merchant tracks with Kuaidi100 (its settings: a subscription is queued then).
DERIVE_STATEMENTS = 9


@contextmanager
def counting(db):
    statements: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _act(db, number: str, action: str, actor) -> None:
    with db.read() as session:
        version = get_case(session, actor=actor, number=number).version
    with db.transaction() as session:
        act(session, actor=actor, number=number, action=action, version=version, payload=PAYLOADS.get(action, {}))


def _approved(db, shop, order: str) -> str:
    make_order(db, shop, order)
    number = open_for(db, shop.actors["agent"], order, "return_refund")
    run(db, number, "approve", shop.actors["agent"])
    return number


def test_one_transition_runs_a_bounded_number_of_statements(db, monkeypatch):
    shop = make_shop(db)
    number = _approved(db, shop, "O-1")
    monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")  # the request alone first, then its derivation
    monkeypatch.setattr(derive, "NOTIFY_EVERY", 0)  # every commit wakes the workers (not one in 50 ms)
    derive.get_derive_settings.cache_clear()
    try:
        with counting(db) as statements:
            _act(db, number, "ship_return", shop.actors["agent"])
    finally:
        monkeypatch.setenv("RETURNFLOW_DERIVE", "inline")
        derive.get_derive_settings.cache_clear()
    writes = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The version read by the test itself, then the case with its context (and the shipment's own reads).
    assert len(reads) == 2 + RECORD_SHIPMENT_READS, reads
    # On PostgreSQL one more: the NOTIFY that wakes the worker processes when the transaction commits.
    assert len(statements) - 1 <= SHIP_RETURN_STATEMENTS + RECORD_SHIPMENT_STATEMENTS + (db.dialect == "postgresql"), \
        "\n".join(statements)
    assert any(s.startswith("NOTIFY") for s in statements) == (db.dialect == "postgresql")
    assert any("INSERT INTO shipments" in s for s in writes)
    assert any("INSERT INTO case_event_chain" in s for s in writes)
    # Nothing derived is written in the request's transaction.
    assert not [s for s in writes if "sla_timers" in s or "outbox" in s or "analytics_case_steps" in s]
    with db.read() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
    with counting(db) as derived:
        assert derive.derive_cases(db.engine, [case_id]).events == 1
    assert len(derived) <= DERIVE_STATEMENTS - (db.dialect != "postgresql"), "\n".join(derived)
    # Every side effect is written, in the derivation's transaction.
    assert any("INSERT INTO sla_timers" in s for s in derived)
    assert any("INSERT INTO outbox" in s for s in derived)
    assert any("INSERT INTO event_derivations" in s for s in derived)
    with db.read() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        timers = session.execute(select(Timer.kind, Timer.status).where(Timer.case_id == case_id)).all()
        notices = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.case_id == case_id)).all()
        checked, problems = chain.verify_case(session, case_id, number)
    assert ("receipt_confirmation.due", "pending") in timers and ("receipt_confirmation.remind", "pending") in timers
    assert not [t for t in timers if t.kind.startswith("customer_shipping") and t.status == "pending"]
    assert [n["channel"] for n in notices if n.get("data", {}).get("state") == "return_in_transit"] == [
        "in_app", "email"]
    assert checked == 3 and problems == []  # open, approve, ship_return


def _inspection_due(db, number: str) -> timedelta:
    """How long after `receive` the case's inspection deadline falls."""
    with db.read() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        received = session.scalar(select(CaseEvent.created_at).where(CaseEvent.case_id == case_id,
                                                                     CaseEvent.action == "receive"))
        due = session.scalar(select(Timer.due_at).where(Timer.case_id == case_id, Timer.kind == "inspection.due",
                                                        Timer.status == "pending"))
    return due - received


def test_saved_sla_settings_apply_to_the_very_next_transition(db):
    shop = make_shop(db)
    cases = []
    for order in ("O-1", "O-2", "O-3"):
        number = _approved(db, shop, order)
        run(db, number, "ship_return", shop.actors["agent"])
        cases.append(number)
    for number, hours in zip(cases, (5, 7, 11)):
        with db.transaction() as session:
            sla_settings.save(session, shop.id, {"steps": {"inspection": {"hours": hours}}}, "test")
        run(db, number, "receive", shop.actors["warehouse"])  # the settings read before are in this process' cache
        assert _inspection_due(db, number) == timedelta(hours=hours)


def test_webhook_endpoints_and_customer_channels_apply_to_the_very_next_transition(db):
    shop = make_shop(db)
    number = _approved(db, shop, "O-1")

    def written(action: str, role: str) -> list[dict]:
        with db.read() as session:
            before = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1))
        run(db, number, action, shop.actors[role])
        with db.read() as session:
            return list(session.scalars(select(OutboxMessage.payload).where(OutboxMessage.id > before)
                                        .order_by(OutboxMessage.id)))

    assert not [m for m in written("ship_return", "agent") if "endpoint_id" in m]
    with db.transaction() as session:
        session.add(WebhookEndpoint(merchant_id=shop.id, url="http://127.0.0.1:9/hook", secret=new_secret(),
                                    events=[]))
        customer = session.scalar(select(Customer).where(Customer.merchant_id == shop.id))
        customer.channels = []  # in-app only from now on
    messages = written("receive", "warehouse")
    assert [m["event"]["action"] for m in messages if "endpoint_id" in m] == ["receive"]
    assert [m["channel"] for m in messages if "channel" in m] == ["in_app"]
    with db.transaction() as session:
        for endpoint in session.scalars(select(WebhookEndpoint)):
            endpoint.active = False
        session.scalar(select(Customer).where(Customer.merchant_id == shop.id)).channels = None
    messages = written("inspect", "warehouse")
    assert not [m for m in messages if "endpoint_id" in m]
    assert [m["channel"] for m in messages if "channel" in m] == ["in_app", "email"]


def test_commits_wake_the_workers_of_other_processes_at_most_once_per_interval(db, monkeypatch):
    """PostgreSQL: a transaction that writes case events notifies the listening workers (NOTIFY returnflow_derive),
    but a process sends at most one notice per derive.NOTIFY_EVERY; SQLite has no notices (its worker is a thread
    woken in process)."""
    shop = make_shop(db)
    numbers = [_approved(db, shop, f"O-{n}") for n in (1, 2, 3)]
    monkeypatch.setenv("RETURNFLOW_DERIVE", "worker")
    derive.get_derive_settings.cache_clear()
    monkeypatch.setattr(derive, "_notified", [float("-inf")])  # as if nothing was sent for a long while
    monkeypatch.setattr(derive, "NOTIFY_EVERY", 3600)
    try:
        with counting(db) as statements:
            for number in numbers[:2]:
                _act(db, number, "ship_return", shop.actors["agent"])
        first = [s for s in statements if s.startswith("NOTIFY")]
        monkeypatch.setattr(derive, "NOTIFY_EVERY", 0)
        with counting(db) as statements:
            _act(db, numbers[2], "ship_return", shop.actors["agent"])
        later = [s for s in statements if s.startswith("NOTIFY")]
    finally:
        monkeypatch.setenv("RETURNFLOW_DERIVE", "inline")
        derive.get_derive_settings.cache_clear()
    postgres = db.dialect == "postgresql"
    assert first == (["NOTIFY returnflow_derive"] if postgres else [])  # two commits, one notice
    assert later == (["NOTIFY returnflow_derive"] if postgres else [])  # the interval passed: the next one notifies
