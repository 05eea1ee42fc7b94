"""Advance exchange (先发后退): when the original is not back by its deadline the worker charges the customer,
captures the hold or escalates, once; when it arrives in time the hold is released. Through the API and the worker
with a controlled clock, against the fake payment provider process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from returnflow.db import utcnow
from returnflow.notify.models import InAppMessage
from returnflow.refunds.models import CustomerCharge, Voucher, VoucherLine
from returnflow.sla.models import Timer
from tests.sla.test_clock_walk import worker
from tests.support.money import start_fake_pay
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

DAY = timedelta(days=1)


@pytest.fixture
def fake(monkeypatch):
    provider = start_fake_pay()
    # The worker reads the provider's address and key the way a deployment gives them: RETURNFLOW_PAY_*.
    monkeypatch.setenv("RETURNFLOW_PAY_HTTP_URL", provider.url)
    monkeypatch.setenv("RETURNFLOW_PAY_HTTP_API_KEY", provider.api_key)
    monkeypatch.setenv("RETURNFLOW_PAY_HTTP_TIMEOUT", "2")
    yield provider
    provider.stop()


def setup_shop(client, db, **settings):
    shop = shop_with_warehouse(db, client)
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"default_gateway": "http"}).status_code == 200
    r = client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"), json=settings)
    assert r.status_code == 200, r.text
    return shop


def ship_first(client, shop, db, sku="SKU-A-RED", unit_price=None):
    """An approved advance exchange of one SKU-A (100.00) whose replacement ships now."""
    case = case_awaiting_return(client, shop, db, type_="exchange", advance=True, claim=[(1, 1)])
    item = {"line_id": case["lines"][0]["id"], "sku": sku, "quantity": 1}
    if unit_price is not None:
        item["unit_price"] = unit_price
    r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers(),
                    json={"version": case["version"], "carrier": "SF", "tracking_number": "SF2222222222222",
                          "items": [item]})
    assert r.status_code == 201, r.text
    return r.json()["case"]


def state(client, shop, number):
    r = client.get(f"/api/v1/cases/{number}/advance-exchange", headers=shop.headers())
    assert r.status_code == 200, r.text
    return r.json()


def settle_events(client, shop, number):
    events = client.get(f"/api/v1/cases/{number}/timeline", headers=shop.headers()).json()
    return [e for e in events if e["action"] in ("settle_advance_exchange", "escalate")
            and e["payload"].get("rule") == "advance_exchange"]  # the SLA steps' own escalations are not ours


def vouchers(db, kind="customer_charge"):
    with db.read() as s:
        rows = s.execute(select(Voucher.number, VoucherLine.account, VoucherLine.debit, VoucherLine.credit)
                         .join(VoucherLine, VoucherLine.voucher_id == Voucher.id).where(Voucher.kind == kind)).all()
    return sorted((account, debit, credit) for _, account, debit, credit in rows)


def customer_messages(db, template):
    with db.read() as s:
        return list(s.scalars(select(InAppMessage.body).where(InAppMessage.template == template)))


def test_an_original_never_returned_is_charged_once_after_the_grace_days(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=3, return_days=10)
    case = ship_first(client, shop, db, unit_price="120.00")  # another variant at 120.00: the customer owes 120.00
    info = state(client, shop, case["number"])
    shipped = utcnow()
    assert info["on_overdue"] == "charge" and info["charge"] is None
    acts_at = info["acts_at"]
    w = worker(db)
    # The deadline (10 days) passes, but the grace days (3) not yet: nothing happens.
    w.run_once(shipped + 12 * DAY)
    assert state(client, shop, case["number"])["charge"] is None and settle_events(client, shop, case["number"]) == []
    assert fake.stats()["charges"] == {}
    # After the grace days the worker charges, and on its next round records the provider's answer.
    w.run_once(shipped + 13 * DAY + timedelta(minutes=1))
    w.run_once(shipped + 13 * DAY + timedelta(minutes=2))
    info = state(client, shop, case["number"])
    assert acts_at.startswith((shipped + 13 * DAY).date().isoformat())
    charge = info["charge"]
    assert charge["state"] == "charged" and charge["amount"] == "120.00" and charge["amount_minor"] == 12000
    assert charge["voucher"] and charge["provider_ref"]
    provider = fake.stats()["charges"]
    assert [(c["amount"], c["captured"], c["status"]) for c in provider.values()] == [(12000, 12000, "succeeded")]
    outcomes = [(e["actor"]["role"], e["payload"].get("outcome")) for e in settle_events(client, shop, case["number"])]
    assert outcomes == [("system", "charge_requested"), ("system", "charged")]
    assert vouchers(db) == [("gateway_cash", 12000, 0), ("sales_revenue", 0, 12000)]
    # The real clock is still before the deadline; finance looks ahead like the worker's clock did.
    ahead = client.get("/api/v1/logistics/overdue-advance-returns", headers=shop.headers("finance"),
                       params={"as_of": (shipped + 14 * DAY).isoformat()}).json()
    assert [(x["case"], x["charge"]["state"]) for x in ahead] == [(case["number"], "charged")]
    assert len(customer_messages(db, "advance_exchange_charged")) == 1
    assert "120.00" in customer_messages(db, "advance_exchange_charged")[0]
    # More rounds, much later: nothing is charged again.
    for days in (20, 40, 400):
        w.run_once(shipped + days * DAY)
    assert len(fake.stats()["charges"]) == 1 and len(vouchers(db)) == 2
    assert len(settle_events(client, shop, case["number"])) == 2
    # The audit chain holds the new events like every other.
    from returnflow.audit.chain import verify

    with db.read() as s:
        assert [(n, found) for n, _checked, found in verify(s, number=case["number"])] == [(case["number"], [])]


def test_an_original_that_arrives_in_time_releases_the_hold_and_nothing_is_charged(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=0, hold=True)
    case = ship_first(client, shop, db)
    w = worker(db)
    w.run_once(utcnow() + timedelta(seconds=1))  # the hold is placed with the provider
    info = state(client, shop, case["number"])
    assert info["charge"]["kind"] == "hold" and info["charge"]["state"] == "held"
    assert [c["status"] for c in fake.stats()["charges"].values()] == ["authorized"]
    # The customer sends the original, the desk receives it: the deadline timer stops, the hold is released.
    case = ship_back(client, shop, client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json())
    assert client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"),
                       json={"code": "SF1234567890123"}).status_code == 201
    w.run_once(utcnow() + timedelta(seconds=2))
    info = state(client, shop, case["number"])
    assert info["charge"]["state"] == "released" and info["acts_at"] is None and info["arrived"] is True
    assert [c["status"] for c in fake.stats()["charges"].values()] == ["released"]
    # Long past the deadline: still nothing captured.
    w.run_once(utcnow() + 100 * DAY)
    assert [c["captured"] for c in fake.stats()["charges"].values()] == [0] and vouchers(db) == []
    outcomes = [e["payload"].get("outcome") for e in settle_events(client, shop, case["number"])]
    assert outcomes == ["hold_placed", "hold_released"]
    assert len(customer_messages(db, "advance_exchange_hold_released")) == 1


def test_a_hold_is_captured_when_the_original_never_comes(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=1, return_days=15, hold=True)
    case = ship_first(client, shop, db)
    w = worker(db)
    w.run_once(utcnow() + timedelta(seconds=1))
    # On its way back (in transit) is not back: the deadline still applies.
    ship_back(client, shop, client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json())
    w.run_once(utcnow() + 17 * DAY)
    w.run_once(utcnow() + 17 * DAY + timedelta(minutes=1))
    charge = state(client, shop, case["number"])["charge"]
    assert charge["state"] == "captured" and charge["amount_minor"] == 10000
    assert [(c["status"], c["captured"]) for c in fake.stats()["charges"].values()] == [("captured", 10000)]
    assert vouchers(db) == [("gateway_cash", 10000, 0), ("sales_revenue", 0, 10000)]
    outcomes = [e["payload"].get("outcome") for e in settle_events(client, shop, case["number"])]
    assert outcomes == ["hold_placed", "capture_requested", "hold_captured"]
    # The original turns up after all: a person is asked to decide about the money (nothing moves by itself).
    assert client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"),
                       json={"code": "SF1234567890123"}).status_code == 201
    w.run_once(utcnow() + 18 * DAY)
    last = settle_events(client, shop, case["number"])[-1]
    assert last["action"] == "escalate" and "arrived after charge" in last["payload"]["reason"]
    assert len(fake.stats()["charges"]) == 1 and len(vouchers(db)) == 2


def test_a_merchant_that_escalates_gets_an_agent_not_a_charge(client, db, fake):
    shop = setup_shop(client, db, on_overdue="escalate", grace_days=2)
    case = ship_first(client, shop, db)
    w = worker(db)
    w.run_once(utcnow() + 16 * DAY)
    assert settle_events(client, shop, case["number"]) == []
    w.run_once(utcnow() + 17 * DAY + timedelta(minutes=1))
    events = settle_events(client, shop, case["number"])
    assert [(e["action"], e["actor"]["role"], e["payload"]["rule"]) for e in events] == [
        ("escalate", "system", "advance_exchange")]
    assert "not returned by" in events[0]["payload"]["reason"]
    detail = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    assert detail["escalation_level"] == 1
    assert state(client, shop, case["number"])["charge"] is None and fake.stats()["charges"] == {}
    zh = customer_messages(db, "advance_exchange_overdue")
    assert len(zh) == 1 and "原商品未在" in zh[0]


def test_a_refused_charge_is_recorded_and_put_before_an_agent(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=0)
    case = ship_first(client, shop, db)
    fake.config(decline_next=1)
    w = worker(db)
    w.run_once(utcnow() + 15 * DAY + timedelta(minutes=1))
    w.run_once(utcnow() + 15 * DAY + timedelta(minutes=2))
    charge = state(client, shop, case["number"])["charge"]
    assert charge["state"] == "failed" and "card_declined" in charge["last_error"]
    assert vouchers(db) == []
    events = settle_events(client, shop, case["number"])
    assert [e["payload"].get("outcome") for e in events[:2]] == ["charge_requested", "charge_failed"]
    assert events[-1]["action"] == "escalate" and "refused" in events[-1]["payload"]["reason"]


def test_a_provider_that_does_not_answer_is_asked_again_with_the_same_key(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=0)
    case = ship_first(client, shop, db)
    fake.config(fail_next=2)  # two 503s: no answer kept, the worker retries with backoff
    w = worker(db)
    t = utcnow() + 15 * DAY + timedelta(minutes=1)
    for minutes in range(0, 60, 5):
        w.run_once(t + timedelta(minutes=minutes))
    charge = state(client, shop, case["number"])["charge"]
    assert charge["state"] == "charged"
    assert len(fake.stats()["charges"]) == 1 and fake.stats()["charge_posts"] == 3
    assert len(vouchers(db)) == 2


def test_a_manual_gateway_waits_for_finance_to_mark_the_charge_collected(client, db):
    shop = shop_with_warehouse(db, client)
    assert client.put("/api/v1/logistics/settings/advance-exchange", headers=shop.headers("admin"),
                      json={"on_overdue": "charge", "grace_days": 0}).status_code == 200
    case = ship_first(client, shop, db)
    w = worker(db)
    w.run_once(utcnow() + 15 * DAY + timedelta(minutes=1))
    w.run_once(utcnow() + 15 * DAY + timedelta(minutes=2))
    charge = state(client, shop, case["number"])["charge"]
    assert charge["state"] == "awaiting_finance" and charge["gateway"] == "manual" and vouchers(db) == []
    url = f"/api/v1/money/charges/{charge['number']}/collected"
    assert client.post(url, headers=shop.headers("agent"), json={"reference": "BANK-1"}).status_code == 403
    empty = client.post(url, headers=shop.headers("finance", **{"Accept-Language": "en"}), json={"reference": ""})
    assert empty.status_code == 422 and "reference" in empty.text
    r = client.post(url, headers=shop.headers("finance"), json={"reference": "BANK-1"})
    assert r.status_code == 200 and r.json()["state"] == "charged" and r.json()["reference"] == "BANK-1"
    again = client.post(url, headers=shop.headers("finance", **{"Accept-Language": "en"}), json={"reference": "BANK-2"})
    assert again.status_code == 409 and again.json()["error"]["field"] == "number"
    assert vouchers(db) == [("gateway_cash", 10000, 0), ("sales_revenue", 0, 10000)]


def test_settings_are_validated_and_named_in_the_error(client, db):
    shop = shop_with_warehouse(db, client)
    url = "/api/v1/logistics/settings/advance-exchange"
    assert client.get(url, headers=shop.headers()).json() == {"on_overdue": "escalate", "grace_days": 2,
                                                              "return_days": 15, "hold": False}
    for body, field in (({"on_overdue": "refund"}, "on_overdue"), ({"grace_days": -1}, "grace_days"),
                        ({"return_days": 0}, "return_days"), ({"colour": "red"}, "colour")):
        r = client.put(url, headers=shop.headers("admin", **{"Accept-Language": "en"}), json=body)
        assert r.status_code == 422 and field in r.text, (body, r.text)
    assert client.put(url, headers=shop.headers("agent"), json={"grace_days": 1}).status_code == 403
    assert client.get(url, headers=shop.headers()).json()["grace_days"] == 2
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Timer)) == 0
        assert s.scalar(select(func.count()).select_from(CustomerCharge)) == 0


def test_a_free_replacement_has_nothing_to_charge_and_goes_to_an_agent(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=0)
    case = ship_first(client, shop, db, unit_price="0.00")  # a goodwill replacement: worth nothing to charge
    w = worker(db)
    w.run_once(utcnow() + 15 * DAY + timedelta(minutes=1))
    w.run_once(utcnow() + 15 * DAY + timedelta(minutes=2))
    [event] = settle_events(client, shop, case["number"])
    assert event["action"] == "escalate" and "no price to charge" in event["payload"]["reason"]
    assert state(client, shop, case["number"])["charge"] is None and fake.stats()["charges"] == {}


def test_once_the_replacement_is_paid_for_an_agent_can_finish_the_case_without_the_parcel(client, db, fake):
    shop = setup_shop(client, db, on_overdue="charge", grace_days=0, return_days=10)
    case = ship_first(client, shop, db)
    number = case["number"]

    def resolve():
        current = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
        return current, client.post(f"/api/v1/cases/{number}/actions/resolve", json={"version": current["version"]},
                                    headers={**shop.headers(), "Accept-Language": "en"})

    # Still waiting for the original and nothing paid: resolving is refused, in the caller's language, and
    # nothing changes.
    before, refused = resolve()
    assert before["state"] == "awaiting_return" and "resolve" in before["allowed_actions"]
    assert refused.status_code == 422 and "paid for" in refused.json()["error"]["message"], refused.text
    zh = client.post(f"/api/v1/cases/{number}/actions/resolve", json={"version": before["version"]},
                     headers={**shop.headers(), "Accept-Language": "zh-CN"})
    assert zh.status_code == 422 and "先发后退" in zh.json()["error"]["message"]
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["version"] == before["version"]
    # The deadline passes: the customer is charged for the replacement; now the agent can finish the case.
    w = worker(db)
    w.run_once(utcnow() + 10 * DAY + timedelta(minutes=1))
    w.run_once(utcnow() + 10 * DAY + timedelta(minutes=2))
    assert state(client, shop, number)["charge"]["state"] == "charged"
    _, done = resolve()
    assert done.status_code == 200, done.text
    finished = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
    assert finished["state"] == "resolved" and finished["outcome"] == "resolved"
    assert len(fake.stats()["charges"]) == 1 and len(vouchers(db)) == 2  # nothing moved again
