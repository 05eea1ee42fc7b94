"""Two desk actions at the same moment on the same parcel, line or unit: one is done, the other gets a clear
refusal (never a 500 from a unique constraint, never done twice). The second runs while the first one's
transaction is still open, so the race is certain on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from returnflow.errors import AppError
from returnflow.warehouse import inspection, receiving
from returnflow.warehouse.models import Disposition, Inspection, ReceiptLine
from tests.support.returns import case_awaiting_return, shop_with_warehouse

OK = {"original_item": True, "signs_of_use": False, "accessories_complete": True, "packaging_intact": True,
      "defect_confirmed": None}


def race(db, action: Callable) -> tuple[object, BaseException | None]:
    """Runs `action(session)` in an open transaction and again in a thread meanwhile; returns (first result,
    what the second raised)."""
    outcome: dict = {}
    started = threading.Event()

    def second():
        started.set()
        try:
            with db.transaction() as session:
                outcome["result"] = action(session)
        except BaseException as exc:  # noqa: BLE001 — inspected by the test
            outcome["error"] = exc

    with db.transaction() as session:
        first = action(session)
        thread = threading.Thread(target=second)
        thread.start()
        started.wait(5)
        thread.join(0.5)
        assert thread.is_alive(), "the second action did not wait for the first"
    thread.join(30)
    assert "result" not in outcome, "the second action was done as well"
    return first, outcome.get("error")


def count(db, model) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def received(client, db, shop):
    case = case_awaiting_return(client, shop, db)
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": case["number"]})
    assert r.status_code == 201, r.text
    return r.json()["case"]


def test_the_same_unit_disposed_of_twice_at_once_is_disposed_of_once(client, db):
    shop = shop_with_warehouse(db, client)
    case = received(client, db, shop)
    line = case["lines"][0]["id"]
    assert client.post(f"/api/v1/cases/{case['number']}/inspections", headers=shop.headers("warehouse"),
                       json={"lines": [{"line_id": line, "checklist": OK, "grade": "A",
                                        "verdict": "accept"}]}).status_code == 201
    _, error = race(db, lambda s: inspection.dispose(s, actor=shop.actors["warehouse"], number=case["number"],
                                                     line_id=line, kind="restock", quantity=None, units=[1],
                                                     supplier=None, note=""))
    assert isinstance(error, AppError) and error.key == "already_disposed" and error.status == 409
    assert count(db, Disposition) == 1


def test_the_same_line_inspected_twice_at_once_is_inspected_once(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, lines=(("SKU-A", "100.00", 1), ("SKU-B", "35.50", 1)))
    a = case["lines"][0]["id"]
    assert client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"),
                       json={"code": case["number"]}).status_code == 201
    item = [{"line_id": a, "checklist": OK, "grade": "A", "verdict": "accept"}]
    _, error = race(db, lambda s: inspection.inspect(s, actor=shop.actors["warehouse"], number=case["number"],
                                                     items=item))
    assert isinstance(error, AppError) and error.key == "already_inspected" and error.status == 409
    assert count(db, Inspection) == 1


def test_a_parcel_matched_from_the_exceptions_queue_twice_at_once_is_received_once(client, db):
    shop = shop_with_warehouse(db, client)
    first = case_awaiting_return(client, shop, db, "O-1")
    second = case_awaiting_return(client, shop, db, "O-2")
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": "YT9999999999999"})
    receipt_id = r.json()["receipt"]["id"]
    targets = iter((first["number"], second["number"]))  # two clerks pick two different cases for it

    def match(session):
        return receiving.match_exception(session, actor=shop.actors["warehouse"], receipt_id=receipt_id,
                                         number=next(targets), lines=None, photos=[])

    _, error = race(db, match)
    assert isinstance(error, AppError) and error.key == "already_matched" and error.status == 409
    assert count(db, ReceiptLine) == 1
    states = {n: client.get(f"/api/v1/cases/{n}", headers=shop.headers()).json()["state"]
              for n in (first["number"], second["number"])}
    assert states == {first["number"]: "received", second["number"]: "awaiting_return"}
