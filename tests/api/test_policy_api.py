"""The policy API: stored versions (kept, readable, refused whole when bad) and the dry run of a return."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from returnflow.cases.models import Case, CaseEvent, OutboxMessage
from returnflow.idempotency import IdempotencyRecord
from returnflow.orders.models import Category
from returnflow.policy.models import PolicyVersion
from tests.support.world import make_order, make_shop, platform_token

V1 = """[policy]
id = "shop-v1"
extends = "cn-law"

[window]
days = 15
counted_from = "signing"
"""

V2 = """[policy]
id = "shop-v2"
extends = "taobao-current"

[fees]
restocking_percent = 5
"""

UNKNOWN_FIELD = """[policy]
id = "shop-bad"
extends = "cn-law"

[window]
days = 15
colour = "red"
"""

NEGATIVE_DAYS = """[policy]
id = "shop-bad"
extends = "cn-law"

[window]
days = -3
"""

RETURN = {"order": "O-1", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]}
IN_WINDOW = "2026-11-06T10:00:00+08:00"  # delivered 2026-11-04 18:00 Shanghai: CN1 window ends 2026-11-11
PAST_WINDOW = "2026-11-20T10:00:00+08:00"


def put(client, shop, source, role="admin", **headers):
    return client.put("/api/v1/policy", headers=shop.headers(role, **headers), json={"source": source})


def dry(client, shop, body=None, role="agent", **headers):
    return client.post("/api/v1/policy/dry-run", headers=shop.headers(role, **headers), json=body or RETURN)


def counts(db):
    with db.read() as s:
        return tuple(s.scalar(select(func.count()).select_from(t))
                     for t in (Case, CaseEvent, OutboxMessage, PolicyVersion, IdempotencyRecord))


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_order(db, shop)
    return shop


def test_without_a_saved_version_the_merchant_gets_the_default_preset(client, shop):
    body = client.get("/api/v1/policy", headers=shop.headers()).json()
    assert body["version"] is None and body["default"] is True and body["extends"] == "cn-law"
    assert "CN1" in body["source"]
    assert client.get("/api/v1/policy/versions", headers=shop.headers()).json() == {"items": [], "current": None}


def test_every_saved_version_is_kept_and_readable(client, shop):
    r1 = put(client, shop, V1)
    assert r1.status_code == 201, r1.text
    assert r1.json()["version"] == 1 and r1.json()["extends"] == "cn-law" and r1.json()["source"] == V1
    assert r1.json()["created_by"] == f"user:{shop.user_ids['admin']}" and r1.json()["created_at"]
    r2 = put(client, shop, V2, role="supervisor")
    assert r2.status_code == 201 and r2.json()["version"] == 2

    current = client.get("/api/v1/policy", headers=shop.headers()).json()
    assert current["version"] == 2 and current["extends"] == "taobao-current" and current["source"] == V2
    listed = client.get("/api/v1/policy/versions", headers=shop.headers()).json()
    assert [v["version"] for v in listed["items"]] == [2, 1] and listed["current"] == 2
    first = client.get("/api/v1/policy/versions/1", headers=shop.headers()).json()
    assert first["source"] == V1 and first["policy_id"] == "shop-v1"
    missing = client.get("/api/v1/policy/versions/9", headers=shop.headers())
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "version"


def test_saving_is_idempotent_with_a_key(client, shop, db):
    a = put(client, shop, V1, **{"Idempotency-Key": "k1"})
    b = put(client, shop, V1, **{"Idempotency-Key": "k1"})
    assert a.status_code == b.status_code == 201 and b.headers.get("Idempotent-Replayed") == "true"
    assert a.json()["version"] == b.json()["version"] == 1
    assert counts(db)[3] == 1


@pytest.mark.parametrize("source,field,line", [(UNKNOWN_FIELD, "window.colour", 7), (NEGATIVE_DAYS, "window.days", 6)])
def test_a_bad_file_names_field_and_line_in_the_callers_language_and_changes_nothing(client, shop, db, source,
                                                                                     field, line):
    assert put(client, shop, V1).status_code == 201
    before = counts(db)
    en = put(client, shop, source, **{"Accept-Language": "en"})
    assert en.status_code == 422
    err = en.json()["error"]
    assert err["code"] == "invalid_policy" and err["field"] == field and err["line"] == line
    assert err["message"].startswith(f"{field}: line {line}: ")
    zh = put(client, shop, source, **{"Accept-Language": "zh-CN"}).json()["error"]
    assert zh["field"] == field and zh["line"] == line and f"第 {line} 行" in zh["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh["message"]) and zh["message"] != err["message"]
    assert counts(db) == before
    current = client.get("/api/v1/policy", headers=shop.headers()).json()
    assert current["version"] == 1 and current["source"] == V1


def test_only_admins_supervisors_and_platform_save(client, shop, db):
    r = put(client, shop, V1, role="agent", **{"Accept-Language": "en"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"
    token, _ = platform_token(db)
    r = client.put("/api/v1/policy", headers={"Authorization": f"Bearer {token}"},
                   json={"source": V1, "merchant": shop.code})
    assert r.status_code == 201 and r.json()["version"] == 1
    assert counts(db)[3] == 1


def test_another_merchants_staff_never_see_this_merchants_versions(client, shop, db):
    assert put(client, shop, V1).status_code == 201
    other = make_shop(db, "other")
    mine = client.get("/api/v1/policy", headers=other.headers()).json()
    assert mine["version"] is None and mine["default"] is True
    assert client.get("/api/v1/policy/versions", headers=other.headers()).json()["items"] == []
    assert client.get("/api/v1/policy/versions/1", headers=other.headers()).status_code == 404
    r = client.get("/api/v1/policy", headers=other.headers(), params={"merchant": shop.code})
    assert r.status_code == 403
    assert put(client, other, V2).json()["version"] == 1  # numbered per merchant
    assert client.get("/api/v1/policy", headers=shop.headers()).json()["source"] == V1


def test_dry_run_within_the_window_is_eligible_citing_cn1(client, shop, db):
    before = counts(db)
    r = dry(client, shop, {**RETURN, "at": IN_WINDOW})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["policy"] == {"version": None, "default": True, "extends": "cn-law", "policy_id": "cn-law"}
    line = body["lines"][0]
    d = line["decision"]
    assert line["sku"] == "SKU-A" and line["fault"] == "customer" and line["category"] == "general"
    assert d["eligible"] is True and "refund" in d["outcomes"] and d["return_required"] is True
    assert d["shipping_payer"] == "customer" and d["refundable"] == "100.00"
    cn1 = next(c for c in d["reasons"] if c["rule"] == "CN1")
    assert cn1["source"] and "七日" in cn1["zh-CN"] and "7 days" in cn1["en"]
    window = next(x for x in d["deadlines"] if x["kind"] == "customer_window")
    assert window["rule"] == "CN1" and window["at"].startswith("2026-11-11")
    assert counts(db) == before


def test_dry_run_past_the_window_is_refused(client, shop):
    d = dry(client, shop, {**RETURN, "at": PAST_WINDOW}).json()["lines"][0]["decision"]
    assert d["eligible"] is False and d["outcomes"] == [] and "CN1" in d["rule_ids"]


def test_dry_run_refuses_custom_made_goods_citing_cn2(client, shop, db):
    with db.transaction() as s:
        s.add(Category(merchant_id=shop.id, code="tailored", name_en="Tailored", attributes={"custom_made": True}))
    make_order(db, shop, "O-2", category="tailored")
    d = dry(client, shop, {**RETURN, "order": "O-2", "at": IN_WINDOW}).json()["lines"][0]["decision"]
    assert d["eligible"] is False and d["rule_ids"][0] == "CN2"
    assert any(c["rule"] == "CN2" and "定制" in c["zh-CN"] for c in d["reasons"])


def test_dry_run_uses_the_saved_or_the_named_version(client, shop):
    assert put(client, shop, V1).status_code == 201  # 15-day merchant window
    late = {**RETURN, "at": "2026-11-15T10:00:00+08:00"}
    body = dry(client, shop, late).json()
    assert body["policy"]["version"] == 1 and body["lines"][0]["decision"]["eligible"] is True
    assert put(client, shop, V2).status_code == 201  # back to the statutory 7 days
    assert dry(client, shop, late).json()["lines"][0]["decision"]["eligible"] is False
    assert dry(client, shop, {**late, "version": 1}).json()["lines"][0]["decision"]["eligible"] is True
    assert dry(client, shop, {**late, "version": 7}).status_code == 404


@pytest.mark.parametrize("body,status,field,code", [
    ({**RETURN, "order": "NOPE"}, 404, "order", "not_found"),
    ({**RETURN, "lines": [{"sku": "NOPE", "quantity": 1}]}, 422, "lines[0].sku", "sku_not_in_order"),
    ({**RETURN, "lines": [{"line_no": 9, "quantity": 1}]}, 422, "lines[0].line_no", "line_not_in_order"),
    ({**RETURN, "reason": "because"}, 422, "reason", "unknown_reason"),
    ({**RETURN, "lines": [{"line_no": 1, "quantity": 5}]}, 422, "lines[0].quantity", "quantity_exceeds"),
])
def test_dry_run_refuses_bad_input_like_the_case_api(client, shop, db, body, status, field, code):
    before = counts(db)
    r = dry(client, shop, body, **{"Accept-Language": "zh-CN"})
    assert r.status_code == status
    err = r.json()["error"]
    assert err["field"] == field and err["code"] == code
    assert counts(db) == before


def test_another_merchants_orders_are_not_found(client, shop, db):
    other = make_shop(db, "other")
    r = dry(client, other, {**RETURN, "at": IN_WINDOW})
    assert r.status_code == 404 and r.json()["error"]["field"] == "order"
