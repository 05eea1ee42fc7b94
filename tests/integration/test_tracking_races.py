"""The same tracking event delivered twice at the same moment (carriers retry, aggregators fan out): one copy is
stored, the other is answered as a duplicate — never a 500 from the unique constraint, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from returnflow.logistics.models import Shipment, TrackingEvent
from returnflow.logistics.tracking import ingest
from tests.support.asgi import TestClient
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse

EVENT = {"carrier": "SF", "tracking_number": "SF1234567890123",
         "events": [{"status": "in_transit", "occurred_at": "2026-11-26T09:00:00+08:00", "location": "深圳"},
                    {"status": "out_for_delivery", "occurred_at": "2026-11-27T08:00:00+08:00", "location": "上海"}]}


def stored(db) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(TrackingEvent))


def test_a_duplicate_written_while_the_first_copy_is_uncommitted_is_recognised(client, db):
    """Deterministic interleaving: the second delivery runs while the first one's transaction is still open."""
    shop = shop_with_warehouse(db, client)
    ship_back(client, shop, case_awaiting_return(client, shop, db))
    actor = shop.actors["agent"]
    result: dict = {}
    started = threading.Event()

    def second():
        started.set()
        with db.transaction() as session:  # waits for the first (row lock / SQLite's writer lock), then decides
            result["summary"] = ingest(session, actor=actor, fmt="generic", body=EVENT)

    with db.transaction() as session:
        first = ingest(session, actor=actor, fmt="generic", body=EVENT)
        thread = threading.Thread(target=second)
        thread.start()
        started.wait(5)
        thread.join(0.5)  # the second delivery is now blocked behind this open transaction
        assert thread.is_alive()
    thread.join(30)
    assert first["accepted"] == 2 and first["duplicates"] == 0
    assert result["summary"]["accepted"] == 0 and result["summary"]["duplicates"] == 2
    assert stored(db) == 2


def test_simultaneous_webhook_calls_with_the_same_events_store_them_once(app, client, db):
    shop = shop_with_warehouse(db, client)
    ship_back(client, shop, case_awaiting_return(client, shop, db))
    unmatched = {"carrier": "YTO", "tracking_number": "YT1234567890123",
                 "events": [{"status": "in_transit", "occurred_at": "2026-11-26T09:00:00+08:00"}]}
    for body, events in ((EVENT, 2), (unmatched, 1)):  # a registered parcel, and one nobody registered yet
        n = 8
        barrier = threading.Barrier(n)
        answers: list = [None] * n

        def post(i):
            with TestClient(app) as own:
                barrier.wait()
                answers[i] = own.post("/api/v1/tracking/webhooks/generic", headers=shop.headers(), json=body)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [a.status_code for a in answers] == [200] * n, [a.text for a in answers if a.status_code != 200]
        summaries = [a.json() for a in answers]
        assert sum(s["accepted"] for s in summaries) == events
        assert sum(s["duplicates"] for s in summaries) == events * (n - 1)
    assert stored(db) == 3
    with db.read() as s:
        status = s.scalar(select(Shipment.status).where(Shipment.tracking_number == "SF1234567890123"))
    assert status == "out_for_delivery"
