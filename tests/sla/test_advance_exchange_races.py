"""Advance exchange: the customer is never charged twice, whatever the order of the original's arrival, the worker's
rounds and redelivered gateway calls, and when the original arrives at the very moment the deadline fires."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from returnflow.cases.models import Case, OutboxMessage
from returnflow.db import utcnow
from returnflow.notify import outbox
from returnflow.refunds.models import CustomerCharge, Voucher, VoucherLine
from tests.sla.test_advance_exchange import DAY, fake  # noqa: F401  (the fake provider fixture)
from tests.sla.test_clock_walk import worker
from tests.support.returns import WAREHOUSE, case_awaiting_return
from tests.support.world import make_shop

COUNTER = itertools.count()


def new_shop(client, db, *, hold: bool, grace_days: int = 1):
    shop = make_shop(db, code=f"race{next(COUNTER)}")
    assert client.put("/api/v1/return-addresses/SH", headers=shop.headers("admin"),
                      json={**WAREHOUSE, "is_default": True}).status_code == 200
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"default_gateway": "http"}).status_code == 200
    assert client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"),
                      json={"on_overdue": "charge", "grace_days": grace_days, "return_days": 10,
                            "hold": hold}).status_code == 200
    return shop


def shipped_case(client, db, shop):
    case = case_awaiting_return(client, shop, db, type_="exchange", advance=True, claim=[(1, 1)])
    r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers(),
                    json={"version": case["version"], "carrier": "SF", "tracking_number": "SF2222222222222",
                          "items": [{"line_id": case["lines"][0]["id"], "sku": "SKU-A", "quantity": 1}]})
    assert r.status_code == 201, r.text
    return r.json()["case"]["number"]


def arrive(client, shop, number) -> None:
    """The customer's parcel comes in at the desk (a 409 from a concurrent change is retried, as the desk would)."""
    for _ in range(20):
        case = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
        if case["state"] == "awaiting_return":
            r = client.post(f"/api/v1/cases/{number}/return-shipment", headers=shop.headers(),
                            json={"version": case["version"], "carrier": "SF", "tracking_number": "SF1234567890123"})
            if r.status_code == 409:
                continue
            assert r.status_code == 201, r.text
        r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": number})
        if r.status_code == 201:
            return
        assert r.status_code == 409 and r.json()["error"]["code"] == "stale_version", r.text
    raise AssertionError("the parcel could not be received")


def money_of(db, fake, number):
    """What moved for the case: (our charge row, vouchers of it, the provider's charges for it)."""
    with db.read() as s:
        case_id = s.scalar(select(Case.id).where(Case.number == number))
        row = s.scalar(select(CustomerCharge).where(CustomerCharge.case_id == case_id))
        vouchers = s.execute(select(VoucherLine.debit).join(Voucher, Voucher.id == VoucherLine.voucher_id).where(
            Voucher.case_id == case_id, Voucher.kind == "customer_charge", VoucherLine.account == "gateway_cash")
        ).scalars().all()
    provider = [c for c in fake.stats()["charges"].values() if row is not None and c["reference"] == row.number]
    return row, vouchers, provider


def check_once(db, fake, number, *, arrived_first: bool | None) -> str:
    """The invariant: at most one charge at the provider, taken at most once, with exactly one voucher if taken."""
    row, vouchers, provider = money_of(db, fake, number)
    assert len(provider) <= 1
    taken = sum(c["captured"] for c in provider)
    assert taken in (0, 10000)
    assert sum(vouchers) == taken and len(vouchers) == (1 if taken else 0)
    if arrived_first:
        assert taken == 0
    if row is not None and row.kind == "hold" and taken == 0 and arrived_first:
        assert row.state == "released" and provider[0]["status"] == "released"
    return "taken" if taken else "free"


def redeliver_charge_calls(db) -> None:
    """At-least-once delivery: every gateway call already made is made again."""
    with db.read() as s:
        ids = list(s.scalars(select(OutboxMessage.id).where(OutboxMessage.topic == "customer_charge",
                                                            OutboxMessage.status == "sent")))
    outbox.replay(db, ids=ids)


def test_any_order_of_arrival_rounds_and_redeliveries_charges_at_most_once(client, db, fake):
    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(hold=st.booleans(),
           steps=st.lists(st.one_of(st.tuples(st.just("round"), st.integers(0, 20)),
                                    st.just(("arrive", 0)), st.just(("redeliver", 0))), min_size=1, max_size=7))
    def run(hold, steps):
        shop = new_shop(client, db, hold=hold)
        number = shipped_case(client, db, shop)
        start = utcnow()
        w = worker(db)
        w.run_once(start + timedelta(seconds=1))  # the worker runs all along: a hold is placed right away
        arrived, acted, clock = False, False, start + timedelta(seconds=1)
        for kind, days in steps:
            if kind == "round":
                clock = max(clock, start + days * DAY + timedelta(minutes=1))
                w.run_once(clock)
                acted = acted or clock >= start + 11 * DAY  # 10 days + 1 grace day
            elif kind == "arrive" and not arrived:
                arrive(client, shop, number)
                arrived = True
                arrived_first = not acted
            elif kind == "redeliver":
                redeliver_charge_calls(db)
        for extra in (1, 2, 3):
            w.run_once(max(clock, start + 30 * DAY) + timedelta(minutes=extra))
        outcome = check_once(db, fake, number, arrived_first=arrived and arrived_first)
        if not arrived:
            assert outcome == "taken"

    run()


def test_the_original_arriving_as_the_deadline_fires_is_settled_exactly_one_way(client, db, fake):
    """The worker fires the deadline while the desk receives the parcel, in two threads at once."""
    outcomes = []
    # The worker starts a little later each time, so the two meet at different points of the desk's request.
    for hold, delay in ((False, 0.0), (True, 0.0), (False, 0.03), (True, 0.06), (False, 0.12), (True, 0.25)):
        shop = new_shop(client, db, hold=hold, grace_days=0)
        number = shipped_case(client, db, shop)
        w = worker(db)
        start = utcnow()
        w.run_once(start + timedelta(seconds=1))  # the hold, if any, is placed
        case = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
        assert client.post(f"/api/v1/cases/{number}/return-shipment", headers=shop.headers(),
                           json={"version": case["version"], "carrier": "SF",
                                 "tracking_number": "SF1234567890123"}).status_code == 201
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def deadline():
            try:
                barrier.wait()
                time.sleep(delay)
                w.run_once(start + 10 * DAY + timedelta(minutes=1), messages=False)
            except BaseException as exc:  # noqa: BLE001 — reported below
                errors.append(exc)

        thread = threading.Thread(target=deadline)
        thread.start()
        barrier.wait()
        arrive(client, shop, number)
        thread.join(60)
        assert not errors, errors
        for extra in (2, 3, 4, 5):
            worker(db).run_once(start + 10 * DAY + timedelta(minutes=extra))
        outcome = check_once(db, fake, number, arrived_first=None)
        row, _, provider = money_of(db, fake, number)
        events = client.get(f"/api/v1/cases/{number}/timeline", headers=shop.headers()).json()
        ours = [e["payload"].get("outcome") or e["action"] for e in events
                if e["payload"].get("rule") == "advance_exchange"]
        if outcome == "taken":
            # The deadline won: charged once, and the original's late arrival is put before an agent.
            assert ours.count("charged") + ours.count("hold_captured") == 1 and ours.count("escalate") == 1
        else:
            # The parcel won: nothing charged, a hold released, and the deadline did nothing.
            assert "charge_requested" not in ours and "capture_requested" not in ours
            if hold:
                assert row.state == "released" and provider[0]["status"] == "released"
        outcomes.append(outcome)
    print("deadline-vs-arrival outcomes:", outcomes)
    assert set(outcomes) <= {"taken", "free"}
