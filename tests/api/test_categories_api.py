"""Product categories carry their legal attributes and inspection checklist; the policy reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from returnflow.orders.models import Category
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

RETURN = {"order": "O-1", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]}


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_order(db, shop, when=datetime.now(UTC) - timedelta(days=4), category="tailored")
    return shop


def put(client, shop, code, body, role="admin", **headers):
    return client.put(f"/api/v1/categories/{code}", headers=shop.headers(role, **headers), json=body)


def test_a_category_marked_custom_made_makes_the_policy_cite_cn2(client, shop):
    before = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json=RETURN).json()
    assert before["lines"][0]["decision"]["eligible"] is True

    r = put(client, shop, "tailored", {"name_zh": "定制", "name_en": "Tailored",
                                       "attributes": {"custom_made": True, "checklist": ["measurements tag", " "]}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["attributes"]["custom_made"] is True and body["attributes"]["checklist"] == ["measurements tag"]
    assert body["attributes"]["warranty_months"] == 0

    after = client.post("/api/v1/policy/dry-run", headers=shop.headers(), json=RETURN).json()
    decision = after["lines"][0]["decision"]
    assert decision["eligible"] is False and "CN2" in decision["rule_ids"]
    assert decision["checklist"] == ["measurements tag"]
    listed = client.get("/api/v1/categories", headers=shop.headers()).json()["items"]
    assert [c["code"] for c in listed] == ["tailored"]


@pytest.mark.parametrize("body,field", [
    ({"attributes": {"custom_mad": True}}, "attributes.custom_mad"),
    ({"attributes": {"warranty_months": -1}}, "attributes.warranty_months"),
    ({"attributes": {"warranty_months": 500}}, "attributes.warranty_months"),
    ({"attributes": {"sanbao": "yes"}}, "attributes.sanbao"),
])
def test_unknown_or_wrong_attributes_are_refused_and_nothing_changes(client, shop, db, body, field):
    r = put(client, shop, "tailored", body, **{"Accept-Language": "zh-CN"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == field
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Category)) == 0


def test_a_bad_code_and_a_wrong_role_are_refused(client, shop):
    assert put(client, shop, "bad code!", {}).json()["error"]["field"] == "code"
    assert put(client, shop, "tailored", {}, role="agent").status_code == 403
