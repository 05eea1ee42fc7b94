"""Refusals of the receiving desk and of the return parcel read in every language of the desk (English, zh-CN and
zh-Hant for zh-TW readers) from the catalogs, and a refused request changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from returnflow.logistics.models import Shipment
from returnflow.warehouse.models import Receipt
from tests.support.returns import case_awaiting_return, shop_with_warehouse

TWO_LINES = (("SKU-A", "100.00", 2), ("SKU-B", "35.50", 1))


def count(db, model):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def said(client, shop, language, method, url, **kw):
    headers = shop.headers("warehouse", **{"Accept-Language": language})
    return client.request(method, url, headers=headers, **kw)


def test_an_ambiguous_scan_is_refused_in_english_simplified_and_traditional_chinese_and_records_nothing(client, db):
    shop = shop_with_warehouse(db, client)
    first = case_awaiting_return(client, shop, db, "O-1", lines=TWO_LINES, claim=[(1, 2)])
    second = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 2, "quantity": 1}]}).json()
    client.post(f"/api/v1/cases/{second['number']}/actions/approve", headers=shop.headers(),
                json={"version": second["version"], "payload": {"override_reason": "past the window"}})
    messages = {}
    for language in ("en", "zh-CN", "zh-TW"):
        r = said(client, shop, language, "POST", "/api/v1/receiving/parcels", json={"code": "O-1"})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "ambiguous_scan" and error["field"] == "code"
        assert set(error["allowed"]) == {first["number"], second["number"]}
        messages[language] = error["message"]
    assert "O-1 matches 2 cases; scan the case number on the parcel instead" in messages["en"]
    assert "O-1 对应 2 个售后单；请改扫包裹上的售后单号" in messages["zh-CN"]
    # zh-TW readers get the Traditional catalog (zh-Hant), not English and not Simplified characters.
    assert "O-1 對應 2 個售後單" in messages["zh-TW"] and "售后单" not in messages["zh-TW"]
    assert count(db, Receipt) == 0
    # The scan (no refusal, a hint) lists the candidates with the reader's list separator.
    hint = said(client, shop, "zh-TW", "GET", "/api/v1/receiving/scan", params={"code": "O-1"}).json()
    numbers = "、".join(hint["candidates"])
    assert hint["matched"] is False and f"（{numbers}）" in hint["message"] and "拆包" in hint["message"]
    english = said(client, shop, "en", "GET", "/api/v1/receiving/scan", params={"code": "O-1"}).json()
    assert f"({', '.join(english['candidates'])})" in english["message"]


def test_an_unknown_parcel_condition_is_named_in_each_language_and_no_parcel_is_recorded(client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    texts = {}
    for language in ("en", "zh-CN", "zh-TW"):
        r = said(client, shop, language, "POST", "/api/v1/receiving/parcels",
                 json={"code": case["number"], "condition": "smashed"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "condition"
        texts[language] = r.json()["error"]["message"]
    assert "'smashed' is not a known condition" in texts["en"]
    assert "「smashed」不是可选的状况" in texts["zh-CN"]
    assert "「smashed」不是可選的狀況" in texts["zh-TW"]
    assert count(db, Receipt) == 0


def test_a_malformed_tracking_number_names_the_carrier_in_the_readers_language_and_the_case_does_not_move(
        client, db):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    texts = {}
    for language in ("en", "zh-CN", "zh-TW"):
        r = client.post(f"/api/v1/cases/{case['number']}/return-shipment",
                        headers=shop.headers(**{"Accept-Language": language}),
                        json={"version": case["version"], "carrier": "SF", "tracking_number": "SF12"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "malformed_tracking_number"
        texts[language] = r.json()["error"]["message"]
    assert "'SF12' is not a SF Express tracking number (e.g. SF1234567890123)" in texts["en"]
    assert "「SF12」不是有效的顺丰速运运单号" in texts["zh-CN"]
    assert "「SF12」不是有效的順豐速運運單號" in texts["zh-TW"]
    assert count(db, Shipment) == 0
    again = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()
    assert again["state"] == "awaiting_return" and again["version"] == case["version"]
