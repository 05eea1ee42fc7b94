"""Issue 18, policy engine: the order facts it reads — delivery per line, times with an offset, units with serial
numbers and their repairs (CN12), and the rule ids default timers cite — through the public API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from returnflow.importer import import_file
from tests.support.returns import shop_with_warehouse
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

LINE = {"sku": "SKU-A", "unit_price": "100.00", "quantity": 1}


def push(client, shop, body, **headers):
    return client.post("/api/v1/orders", headers=shop.headers(**headers), json={
        "currency": "CNY", "customer": {"id": "C-1"}, "ordered_at": "2026-11-01T10:00:00+08:00", **body})


def dry(client, shop, order, line_no=1, at="2026-11-06T10:00:00+08:00", **extra):
    r = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        "order": order, "type": extra.pop("type", "return_refund"), "reason": extra.pop("reason", None),
        "at": at, "lines": [{"line_no": line_no, "quantity": 1, **extra}]})
    assert r.status_code == 200, r.text
    return r.json()["lines"][0]["decision"]


# --- split deliveries: CN counts from each item's signing, EU/UK from the last item's delivery ---------------

SPLIT = [
    # (currency, line, at, eligible, window end)
    ("CNY", 1, "2026-11-12T10:00:00+08:00", False, "2026-11-11"),  # its own parcel, signed 11-04
    ("CNY", 2, "2026-11-12T10:00:00+08:00", True, "2026-11-17"),  # its own parcel, signed 11-10
    ("EUR", 1, "2026-11-20T10:00:00+01:00", True, "2026-11-24"),  # EU1: from the last item (11-10)
    ("EUR", 2, "2026-11-24T20:00:00+01:00", True, "2026-11-24"),
    ("EUR", 1, "2026-11-25T10:00:00+01:00", False, "2026-11-24"),
    ("GBP", 1, "2026-11-20T10:00:00+00:00", True, "2026-11-24"),  # uk-ccr: the same for cancellations
]


@pytest.mark.parametrize("currency,line_no,at,eligible,end", SPLIT)
def test_each_parcel_counts_as_the_law_of_the_preset_says(client, db, currency, line_no, at, eligible, end):
    shop = make_shop(db, "s" + currency.lower(), currency=currency)
    if currency == "GBP":
        assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={
            "source": '[policy]\nid = "uk"\nextends = "uk-ccr"\n'}).status_code == 201
    first = "2026-11-04T10:00:00+08:00"
    last = "2026-11-10T10:00:00+08:00"
    r = push(client, shop, {"number": "O-S", "currency": currency, "lines": [
        {**LINE, "delivered_at": first, "signed_at": first}, {**LINE, "sku": "SKU-B", "delivered_at": last}]})
    assert r.status_code == 200, r.text
    assert [x["delivered_at"][:10] for x in r.json()["lines"]] == ["2026-11-04", "2026-11-10"]
    d = dry(client, shop, "O-S", line_no, at)
    window = next(x for x in d["deadlines"] if x["kind"] == "customer_window")
    assert d["eligible"] is eligible and window["at"][:10] == end


def test_while_an_item_is_still_on_its_way_the_eu_period_has_not_begun(client, db):
    shop = make_shop(db, "eu", currency="EUR")
    first = "2026-11-04T10:00:00+01:00"
    r = push(client, shop, {"number": "O-P", "currency": "EUR", "lines": [
        {**LINE, "delivered_at": first}, {**LINE, "sku": "SKU-B"}]})
    assert r.status_code == 200 and r.json()["lines"][1]["delivered_quantity"] == 0
    late = dry(client, shop, "O-P", 1, "2026-12-20T10:00:00+01:00")
    assert late["eligible"] is True and "EU1" in late["rule_ids"]
    cn = make_shop(db, "cn")
    push(client, cn, {"number": "O-P", "lines": [{**LINE, "signed_at": first}, {**LINE, "sku": "SKU-B"}]})
    assert dry(client, cn, "O-P", 1, "2026-12-20T10:00:00+08:00")["eligible"] is False  # CN1: each item's own


# --- times without an offset are refused, naming the field, everywhere --------------------------------------

@pytest.mark.parametrize("body,field", [
    ({"number": "O-T", "delivered_at": "2026-11-04T10:00:00", "lines": [LINE]}, "delivered_at"),
    ({"number": "O-T", "ordered_at": "2026-11-01 10:00", "lines": [LINE]}, "ordered_at"),
    ({"number": "O-T", "lines": [{**LINE, "signed_at": "2026-11-04T10:00:00"}]}, "lines[0].signed_at"),
])
def test_a_pushed_time_without_an_offset_is_refused_in_the_callers_language(client, db, body, field):
    shop = make_shop(db)
    zh, en = push(client, shop, body), push(client, shop, body, **{"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 422
    assert zh.json()["error"]["field"] == en.json()["error"]["field"] == field
    assert "时区偏移" in zh.json()["error"]["message"] and "UTC offset" in en.json()["error"]["message"]
    assert client.get("/api/v1/orders/O-T", headers=shop.headers()).status_code == 404


def test_the_dry_run_refuses_a_time_without_an_offset(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    r = client.post("/api/v1/policy/dry-run", headers=shop.headers(**{"Accept-Language": "en"}), json={
        "order": "O-1", "type": "return_refund", "at": "2026-11-06T10:00:00",
        "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "at"
    assert "UTC offset" in r.json()["error"]["message"]


@pytest.mark.parametrize("method,url,kw,field", [
    ("post", "/api/v1/receiving/parcels", {"json": {"code": "X", "arrived_at": "2026-11-24T10:00:00"}}, "arrived_at"),
    ("get", "/api/v1/cases", {"params": {"created_from": "2026-11-24T10:00:00"}}, "created_from"),
    ("get", "/api/v1/logistics/overdue-advance-returns", {"params": {"as_of": "2026-11-24 10:00"}}, "as_of"),
])
def test_other_api_times_without_an_offset_are_refused_too(client, db, method, url, kw, field):
    shop = make_shop(db)
    r = getattr(client, method)(url, headers=shop.headers("warehouse" if method == "post" else "agent"), **kw)
    assert r.status_code == 422 and r.json()["error"]["field"] == field
    assert "时区偏移" in r.json()["error"]["message"]


def test_an_imported_time_without_an_offset_refuses_its_order(db, tmp_path):
    shop = make_shop(db)
    header = "order_number,currency,ordered_at,delivered_at,line_no,sku,unit_price,quantity,line_delivered_at"
    rows = ["I-1,CNY,2026-11-01T10:00:00+08:00,2026-11-04T10:00:00,1,SKU-A,10.00,1,",
            "I-2,CNY,2026-11-01T10:00:00+08:00,2026-11-04T10:00:00+08:00,1,SKU-A,10.00,1,"]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = import_file(db, file=path, merchant_id=shop.id)
    assert result.orders_inserted == 1 and result.refused_rows == 1
    assert "delivered_at" in result.refused[0].reason and "offset" in result.refused[0].reason


# --- units: serial numbers, repair history per unit, CN12 in real cases and the dry run ---------------------

def test_serial_numbers_are_one_per_unit_and_read_back(client, db):
    shop = make_shop(db)
    bad = push(client, shop, {"number": "O-N", "lines": [{**LINE, "serial_numbers": ["SN-1", "SN-2"]}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "lines[0].serial_numbers"
    twice = push(client, shop, {"number": "O-N", "lines": [{**LINE, "quantity": 2, "serial_numbers": ["A", "A"]}]})
    assert twice.status_code == 422 and twice.json()["error"]["field"] == "lines[0].serial_numbers"
    ok = push(client, shop, {"number": "O-N", "lines": [{**LINE, "quantity": 2, "serial_numbers": ["A", "B"]}]})
    assert ok.status_code == 200 and ok.json()["lines"][0]["serial_numbers"] == ["A", "B"]


def _act(client, shop, case, action, payload=None, role="agent"):
    r = client.post(f"/api/v1/cases/{case['number']}/actions/{action}", headers=shop.headers(role),
                    json={"version": case["version"], "payload": payload or {}})
    assert r.status_code == 200, r.text
    return r.json()


def _repair_round(client, shop, case, serial, tracking, *, desk_inspection=True):
    """An approved repair case, from the customer's parcel to the repaired unit shipped back and resolved."""
    r = client.post(f"/api/v1/cases/{case['number']}/return-shipment", headers=shop.headers(),
                    json={"version": case["version"], "carrier": "SF", "tracking_number": tracking})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={"code": case["number"]})
    assert r.status_code == 201, r.text
    case = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    line = case["lines"][0]["id"]
    if desk_inspection:
        r = client.post(f"/api/v1/cases/{case['number']}/inspections", headers=shop.headers("warehouse"), json={
            "lines": [{"line_id": line, "grade": "B", "verdict": "accept", "checklist": {
                "original_item": True, "signs_of_use": False, "accessories_complete": True,
                "packaging_intact": True, "defect_confirmed": True, "serial_number": True, "ccc_mark": True}}]})
        assert r.status_code == 201, r.text
        case = r.json()["case"]
    else:
        case = _act(client, shop, case, "inspect", role="warehouse")
    url = f"/api/v1/cases/{case['number']}/repairs"
    r = client.post(url, headers=shop.headers("warehouse"), json={
        "version": case["version"], "line_id": line, "fault": "no sound", "serial_number": serial})
    assert r.status_code == 201, r.text
    r = client.post(f"{url}/{r.json()['repair']['id']}/finish", headers=shop.headers("warehouse"),
                    json={"version": r.json()["case"]["version"], "outcome": "repaired", "cost": "0"})
    assert r.status_code == 200 and r.json()["case"]["state"] == "resolving", r.text
    case = r.json()["case"]
    r = client.post(f"/api/v1/cases/{case['number']}/outbound-shipments", headers=shop.headers(), json={
        "version": case["version"], "carrier": "SF", "tracking_number": "SF9" + tracking[3:],
        "items": [{"line_id": line, "sku": "SKU-A", "quantity": 1}]})
    assert r.status_code == 201, r.text
    return _act(client, shop, r.json()["case"], "resolve")


def _open_repair(client, shop):
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-R", "type": "repair", "reason": "quality_issue", "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    case = client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()
    if case["state"] == "pending_review":
        case = _act(client, shop, case, "approve", {"override_reason": "repair accepted"})
    assert case["state"] == "awaiting_return", case
    return case


def test_two_completed_repairs_of_a_unit_reach_cn12_and_a_reopened_repair_completes(client, db):
    shop = shop_with_warehouse(db, client)
    assert client.put("/api/v1/categories/electronics", headers=shop.headers("admin"), json={
        "name_zh": "数码", "name_en": "Electronics",
        "attributes": {"sanbao": True, "warranty_months": 12,
                       "checklist": ["serial number", "CCC mark"]}}).status_code == 200
    # delivered 20 days ago: past 三包's 15 days, within the 12-month warranty - a fault now means repair (CN11)
    make_order(db, shop, "O-R", category="electronics", lines=(("SKU-A", "800.00", 1),),
               when=datetime.now(UTC) - timedelta(days=23))
    at = datetime.now(UTC).isoformat()
    fault = {"type": "exchange", "reason": "quality_issue", "at": at}
    assert dry(client, shop, "O-R", **fault)["outcomes"] == ["repair"]

    first = _repair_round(client, shop, _open_repair(client, shop), "SN-1", "SF1000000000001")
    order = client.get("/api/v1/orders/O-R", headers=shop.headers()).json()
    # a completed repair gave the unit back: it is still claimable, and its serial number was recorded
    assert order["lines"][0]["returnable_quantity"] == 1 and order["lines"][0]["serial_numbers"] == ["SN-1"]
    one = dry(client, shop, "O-R", **fault)
    assert one["outcomes"] == ["repair"] and "CN12" not in one["rule_ids"]

    second = _repair_round(client, shop, _open_repair(client, shop), "SN-1", "SF1000000000002")
    two = dry(client, shop, "O-R", **fault)
    assert set(two["outcomes"]) == {"exchange", "refund"} and "CN12" in two["rule_ids"]
    cn12 = next(r for r in two["reasons"] if r["rule"] == "CN12")
    assert "2" in cn12["en"] and "2" in cn12["zh-CN"]
    # the dry run can state prior repairs, or ask about another unit
    assert dry(client, shop, "O-R", repairs_done=0, **fault)["outcomes"] == ["repair"]
    assert "CN12" in dry(client, shop, "O-R", repairs_done=2, **{**fault, "at": at})["rule_ids"]
    assert dry(client, shop, "O-R", serial_number="SN-2", **fault)["outcomes"] == ["repair"]
    units = client.get(f"/api/v1/cases/{second['number']}/repairs", headers=shop.headers()).json()["units"]
    assert [r["status"] for r in units["SN-1"]] == ["repaired", "repaired"]

    # a real exchange request is now within the policy (CN12)
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-R", "type": "exchange", "reason": "quality_issue", "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    policy = client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()["policy"]
    assert policy["within_policy"] is True and "CN12" in policy["rule_ids"]
    cancelled = _act(client, shop, client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json(),
                     "cancel")
    assert cancelled["state"] == "cancelled"
    # ... but not for another unit, which was never repaired
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-R", "type": "exchange", "reason": "quality_issue",
        "lines": [{"line_no": 1, "quantity": 1, "serial_number": "SN-2"}]})
    other = client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()
    assert other["policy"]["within_policy"] is False and "CN12" not in other["policy"]["rule_ids"]
    _act(client, shop, other, "cancel")

    # the first case, closed and reopened: its unit can be received again and the repair completed
    closed = _act(client, shop, first, "close")
    reopened = _act(client, shop, closed, "reopen", {"reason": "the fault is back"}, role="supervisor")
    approved = _act(client, shop, reopened, "approve", {"override_reason": "repair again"})
    assert approved["state"] == "awaiting_return"
    done = _repair_round(client, shop, approved, "SN-1", "SF1000000000003", desk_inspection=False)
    assert done["state"] == "resolved"


# --- default timers cite the merchant's own preset ------------------------------------------------------------

@pytest.mark.parametrize("preset,appeal_rule", [("cn-law", "SLA.appeal"), ("eu-crd", "SLA.appeal"),
                                                 ("taobao-current", "TB3")])
def test_default_timers_never_cite_another_presets_rules(client, db, preset, appeal_rule):
    shop = make_shop(db)
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={
        "source": f'[policy]\nid = "p"\nextends = "{preset}"\n'}).status_code == 201
    make_order(db, shop, "O-1", when=datetime.now(UTC) - timedelta(days=60))  # past every window
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})
    case = client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()
    _act(client, shop, case, "reject", {"reason": "past the window"})
    timers = client.get(f"/api/v1/cases/{case['number']}/timers", headers=shop.headers()).json()
    rules = {t["kind"]: t["rule"] for t in timers}
    assert rules["appeal.due"] == appeal_rule
    if preset != "taobao-current":
        assert not any((t["rule"] or "").startswith(("TB", "JD")) for t in timers)
        steps = client.get("/api/v1/sla/settings", headers=shop.headers()).json()["settings"]["steps"]
        assert not any((conf.get("rule") or "").startswith(("TB", "JD")) for conf in steps.values())
        assert steps["appeal"]["rule"] == "SLA.appeal"


def test_per_line_times_and_serials_survive_the_bulk_write_paths(client, db):
    """250 lines take PostgreSQL's COPY path and SQLite's driver-level insert: both keep the new columns."""
    shop = make_shop(db)
    lines = [{**LINE, "sku": f"SKU-{i}", "delivered_at": f"2026-11-{1 + i % 28:02d}T10:00:00+08:00",
              "serial_numbers": [f"SN-{i}"]} for i in range(250)]
    r = push(client, shop, {"number": "O-BULK", "lines": lines})
    assert r.status_code == 200, r.text
    got = client.get("/api/v1/orders/O-BULK", headers=shop.headers()).json()["lines"]
    assert [(x["delivered_at"], x["serial_numbers"]) for x in got[:3]] == [
        ("2026-11-01T02:00:00Z", ["SN-0"]), ("2026-11-02T02:00:00Z", ["SN-1"]), ("2026-11-03T02:00:00Z", ["SN-2"])]
    assert got[249]["serial_numbers"] == ["SN-249"] and got[249]["returnable_quantity"] == 1


def test_the_receiving_desk_records_the_units_serial_numbers(client, db):
    from tests.support.returns import case_awaiting_return, ship_back

    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db, claim=[(1, 1)]))
    line = case["lines"][0]["id"]
    too_many = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={
        "code": case["number"], "lines": [{"line_id": line, "quantity": 1, "serial_numbers": ["SN-7", "SN-8"]}]})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "lines[0].serial_numbers"
    assert client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["state"] != "received"
    ok = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"), json={
        "code": case["number"], "lines": [{"line_id": line, "quantity": 1, "serial_numbers": ["SN-7"]}]})
    assert ok.status_code == 201, ok.text
    order = client.get("/api/v1/orders/O-1", headers=shop.headers()).json()
    assert order["lines"][0]["serial_numbers"] == ["SN-7"]
