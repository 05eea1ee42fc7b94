"""Issue 18, policy engine: each rule's reading, table-driven through the public API (the dry run and real cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

SIGNED = "2026-11-04T18:00:00+08:00"  # CN1 window: 2026-11-05 .. 2026-11-11
IN_WINDOW = "2026-11-06T10:00:00+08:00"
CATEGORIES = {
    "lipstick": {"one_time_seal": True, "needs_confirmation": True},  # CN3 + CN5
    "software": {"digital": True},  # digital content on a medium
    "ecard": {"virtual": True},  # digital content not on a medium
    "shirt": {},
}


def push(client, shop, number, lines, **order):
    body = {"number": number, "currency": order.pop("currency", "CNY"), "customer": {"id": "C-1"},
            "ordered_at": "2026-11-01T10:00:00+08:00", "signed_at": SIGNED, **order,
            "lines": [{"sku": f"SKU-{i}", "unit_price": "100.00", "quantity": 1, **line}
                      for i, line in enumerate(lines, start=1)]}
    r = client.post("/api/v1/orders", headers=shop.headers(), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def dry(client, shop, order, line=None, at=IN_WINDOW, reason="no_reason_7day", type_="return_refund", **headers):
    r = client.post("/api/v1/policy/dry-run", headers=shop.headers(**headers), json={
        "order": order, "type": type_, "reason": reason, **({"at": at} if at else {}),
        "lines": [{"line_no": 1, "quantity": 1, **(line or {})}]})
    assert r.status_code == 200, r.text
    return r.json()["lines"][0]["decision"]


def put_policy(client, shop, text, **headers):
    return client.put("/api/v1/policy", headers=shop.headers("admin", **headers), json={"source": text})


@pytest.fixture
def shop(db, client):
    shop = make_shop(db)
    for code, attributes in CATEGORIES.items():
        r = client.put(f"/api/v1/categories/{code}", headers=shop.headers("admin"),
                       json={"name_zh": code, "name_en": code, "attributes": attributes})
        assert r.status_code == 200, r.text
    return shop


# --- CN3/CN5: intake never refuses on a condition only inspection can establish --------------------------------

CONDITION = [
    # (category, confirmed at checkout, the customer's flags, eligible, cited, never cited)
    ("lipstick", False, {"opened": True}, True, {"CN3.unconfirmed", "CN5.on_arrival", "CN1"}, {"CN5", "CN3"}),
    ("lipstick", False, {}, True, {"CN3.unconfirmed", "CN1"}, {"CN5.on_arrival", "CN5"}),
    ("lipstick", True, {"opened": True}, False, {"CN3"}, {"CN3.unconfirmed", "CN5.on_arrival"}),
    ("shirt", False, {"used": True}, True, {"CN4.on_arrival", "CN1"}, {"CN4"}),
    ("shirt", False, {"opened": True}, True, {"CN1"}, {"CN4", "CN4.on_arrival", "CN5.on_arrival"}),
]


@pytest.mark.parametrize("category,confirmed,flags,eligible,cited,absent", CONDITION)
def test_the_condition_is_checked_on_arrival_not_refused_at_intake(client, shop, category, confirmed, flags,
                                                                     eligible, cited, absent):
    # signed two days ago: the real case below is decided now, so both run inside the window
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    push(client, shop, "O-C", [{"category": category, "final_sale_confirmed": confirmed}], signed_at=recent,
         ordered_at=recent)
    d = dry(client, shop, "O-C", flags, at=None)
    assert d["eligible"] is eligible
    assert cited <= set(d["rule_ids"]) and not absent & set(d["rule_ids"])
    if "CN5.on_arrival" in cited:
        reason = next(r for r in d["reasons"] if r["rule"] == "CN5.on_arrival")
        assert "到达后检验" in reason["zh-CN"] and "checked when the return arrives" in reason["en"]
        assert reason["source"]
    # the real case is decided the same way
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-C", "type": "return_refund", "reason": "no_reason_7day",
        "lines": [{"line_no": 1, "quantity": 1, **flags}]})
    assert r.status_code == 201, r.text
    policy = client.get(f"/api/v1/cases/{r.json()['number']}", headers=shop.headers()).json()["policy"]
    assert policy["eligible"] is eligible and cited <= set(policy["rule_ids"])


# --- digital content: activated is excluded under both attributes --------------------------------------------

DIGITAL = [
    # (preset currency, category, confirmed, flags, eligible, rule)
    ("CNY", "software", False, {"opened": True}, False, "CN2"),
    ("CNY", "software", False, {}, True, "CN1"),
    ("CNY", "ecard", False, {"used": True}, False, "CN2"),
    ("CNY", "ecard", False, {"opened": True}, False, "CN2"),
    ("CNY", "ecard", False, {}, True, "CN1"),
    ("EUR", "software", False, {"opened": True}, False, "EU8"),
    ("EUR", "ecard", True, {"used": True}, False, "EU8"),
    ("EUR", "ecard", False, {"used": True}, True, "EU8.unconfirmed"),  # EU8(m): no recorded consent
]


@pytest.mark.parametrize("currency,category,confirmed,flags,eligible,rule", DIGITAL)
def test_activated_digital_content_is_excluded_under_both_attributes(client, db, currency, category, confirmed,
                                                                      flags, eligible, rule):
    shop = make_shop(db, "d" + currency.lower(), currency=currency)
    client.put(f"/api/v1/categories/{category}", headers=shop.headers("admin"),
               json={"name_zh": category, "name_en": category, "attributes": CATEGORIES[category]})
    push(client, shop, "O-D", [{"category": category, "final_sale_confirmed": confirmed}], currency=currency,
         delivered_at=SIGNED)
    d = dry(client, shop, "O-D", flags, reason=None)
    assert d["eligible"] is eligible and rule in d["rule_ids"]


# --- restocking fees by condition and grade; the law refuses or warns ----------------------------------------

FEE_RULE = """[policy]
id = "fees"
extends = "{preset}"

[[rules]]
id = "used-fee"
kind = "restocking_fee"
conditions = [{conditions}]
{grades}percent = 10
"""


@pytest.mark.parametrize("preset,conditions,field,needle_en,needle_zh", [
    ("eu-crd", '"used"', "rules[0].kind", "EU4", "EU4"),
    ("uk-ccr", '"used"', "rules[0].kind", "EU4", "EU4"),
    ("cn-law", '"opened"', "rules[0].conditions", "CN4", "CN4"),
    ("cn-law", '"worn"', "rules[0].conditions", "unopened, opened, used", "状况"),
])
def test_a_fee_the_law_forbids_is_refused_with_the_rule_and_changes_nothing(client, shop, preset, conditions,
                                                                             field, needle_en, needle_zh):
    text = FEE_RULE.format(preset=preset, conditions=conditions, grades="")
    en = put_policy(client, shop, text, **{"Accept-Language": "en"})
    zh = put_policy(client, shop, text)
    assert en.status_code == zh.status_code == 422
    assert en.json()["error"]["field"] == zh.json()["error"]["field"] == field
    assert needle_en in en.json()["error"]["message"] and needle_zh in zh.json()["error"]["message"]
    assert client.get("/api/v1/policy", headers=shop.headers()).json()["version"] is None


def test_a_fee_by_condition_and_grade_is_saved_with_the_laws_warning_and_applied(client, shop):
    text = FEE_RULE.format(preset="cn-law", conditions='"used"', grades='grades = ["C"]\n')
    r = put_policy(client, shop, text, **{"Accept-Language": "en"})
    assert r.status_code == 201, r.text
    [warning] = r.json()["warnings"]
    assert warning["field"] == "rules[0].percent" and warning["rule"] == "CN6" and warning["line"] == 10
    assert "not in the law" in warning["message"]
    push(client, shop, "O-F", [{"category": "shirt"}])
    fees = {}
    for flags, grade in (({"used": True}, "C"), ({"used": True}, "B"), ({}, "C"), ({"used": True}, None)):
        line = {**flags, **({"grade": grade} if grade else {})}
        d = dry(client, shop, "O-F", line)
        assert d["eligible"] is True
        fees[(bool(flags), grade)] = [(x["kind"], x["amount"], x["rule"]) for x in d["deductions"]]
    assert fees == {(True, "C"): [("restocking_fee", "10.00", "used-fee")], (True, "B"): [], (False, "C"): [],
                    (True, None): []}
    # before inspection the grade is unknown: the line carries the fee that applies once grade C is recorded
    r = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        "order": "O-F", "type": "return_refund", "reason": "no_reason_7day", "at": IN_WINDOW,
        "lines": [{"line_no": 1, "quantity": 1, "used": True}]})
    [pending] = r.json()["lines"][0]["grade_fees"]
    assert {k: pending[k] for k in ("rule", "grades", "percent", "amount")} == {
        "rule": "used-fee", "grades": ["C"], "percent": "10", "amount": "10.00"}
    assert "10.00" in pending["en"] and "10.00" in pending["zh-CN"]  # the sentence the refund's deduction cites
    window = FEE_RULE.replace('kind = "restocking_fee"', 'kind = "window"\ndays = 30').format(
        preset="cn-law", conditions='"used"', grades="")
    bad = put_policy(client, shop, window, **{"Accept-Language": "en"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rules[0].conditions"


def test_the_dry_run_refuses_impossible_prior_repairs_naming_the_field(client, shop):
    push(client, shop, "O-G", [{}])
    r = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json={
        "order": "O-G", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1, "repairs_done": -1}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "lines[0].repairs_done"


# --- a window ending on a weekend or holiday runs to the next business day (merchant option) -----------------

BUSINESS_DAY = """[policy]
id = "business-day"
extends = "cn-law"

[window]
extend_to_business_day = true
"""


@pytest.mark.parametrize("signed,at,option,eligible,end", [
    # signed Sat 2026-11-07: the window ends Sat 11-14 -> Mon 11-16
    ("2026-11-07T12:00:00+08:00", "2026-11-15T10:00:00+08:00", True, True, "2026-11-16T23:59:59.999999+08:00"),
    ("2026-11-07T12:00:00+08:00", "2026-11-15T10:00:00+08:00", False, False, "2026-11-14T23:59:59.999999+08:00"),
    ("2026-11-07T12:00:00+08:00", "2026-11-17T10:00:00+08:00", True, False, "2026-11-16T23:59:59.999999+08:00"),
    # signed Mon 2026-09-28: ends Mon 10-05 inside National Day (10-01..10-07) -> Thu 10-08
    ("2026-09-28T12:00:00+08:00", "2026-10-08T20:00:00+08:00", True, True, "2026-10-08T23:59:59.999999+08:00"),
    # signed Tue 2026-11-03: ends Tue 11-10, a working day: nothing moves
    ("2026-11-03T12:00:00+08:00", "2026-11-10T10:00:00+08:00", True, True, "2026-11-10T23:59:59.999999+08:00"),
])
def test_the_window_runs_to_the_next_business_day_when_the_merchant_says_so(client, shop, signed, at, option,
                                                                           eligible, end):
    if option:
        assert put_policy(client, shop, BUSINESS_DAY).status_code == 201
    push(client, shop, "O-W", [{}], signed_at=signed, ordered_at="2026-09-20T10:00:00+08:00")
    d = dry(client, shop, "O-W", at=at)
    window = next(x for x in d["deadlines"] if x["kind"] == "customer_window")
    assert d["eligible"] is eligible and window["at"] == end
    moved = end[:10] != _plain_end(signed)
    assert ("M.business_day" in d["rule_ids"]) is moved
    if moved:
        reason = next(r for r in d["reasons"] if r["rule"] == "M.business_day")
        assert end[:10] in reason["en"] and "顺延" in reason["zh-CN"]


def _plain_end(signed: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(signed[:10]) + timedelta(days=7)).isoformat()


def test_the_public_policy_states_the_business_day_option_and_the_fee_conditions(client, shop):
    def items():
        body = client.get(f"/api/v1/public/merchants/{shop.code}/policy").json()
        return {it["rule"]: it["text"] for sec in body["sections"] for it in sec["items"]}

    assert "M.business_day" not in items()
    assert put_policy(client, shop, BUSINESS_DAY).status_code == 201
    assert "next business day" in items()["M.business_day"]["en"]
    fee = FEE_RULE.format(preset="cn-law", conditions='"used"', grades='grades = ["C"]\n')
    assert put_policy(client, shop, fee).status_code == 201
    text = items()["used-fee"]
    assert "(used, inspection grade C)" in text["en"] and "已使用" in text["zh-CN"] and "10%" in text["en"]


@pytest.mark.parametrize("lang,needle", [("zh-CN", "第 10 行：法律规定"), ("en", "Line 10: PRC law lets")])
def test_the_settings_page_shows_the_laws_warning_before_publishing(app, db, lang, needle):
    from tests.support.asgi import TestClient

    from tests.support.portal import csrf_of, sign_in_staff

    make_shop(db, "cfg")
    web = TestClient(app, headers={"Accept-Language": lang})
    sign_in_staff(web, "admin@cfg.test", "pw-admin")
    fee = FEE_RULE.format(preset="cn-law", conditions='"used"', grades='grades = ["C"]\n')
    r = web.post("/staff/settings/policy", data={"csrf": csrf_of(web), "intent": "validate", "source": fee})
    assert r.status_code == 200 and needle in r.text and "rules[0]" not in r.text
    assert _published_version(db) is None


def _published_version(db):
    from sqlalchemy import select

    from returnflow.policy.models import PolicyVersion

    with db.read() as session:
        return session.scalar(select(PolicyVersion.version))
