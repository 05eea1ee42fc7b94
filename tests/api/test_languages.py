"""Languages are data, through HTTP: the portal, the API's errors and the CSV headers follow the fallback chain
(requested -> family -> merchant default -> English), Traditional Chinese is a third language, labels may be given
in any language, and an unsupported language in a setting is refused naming the field. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select, update

from returnflow.caches import changed
from returnflow.merchants.models import Merchant
from tests.support.asgi import TestClient
from tests.support.portal import recent_order, sign_in_customer
from tests.support.world import make_shop, platform_token

OCT = {"from": "2026-10-01", "to": "2026-10-31"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")  # a Chinese merchant: zh-CN by default
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com", phone="13800001111")
    return shop


def set_default(db, code: str, locale: str) -> None:
    with db.transaction() as session:
        session.execute(update(Merchant).where(Merchant.code == code).values(default_locale=locale))
        # Like every writer, in the change's transaction: processes drop the remembered language (caches.py).
        changed(session, "merchant_language", session.scalar(select(Merchant.id).where(Merchant.code == code)))


def html_lang(page) -> str:
    return re.search(r'<html[^>]*\blang="([^"]+)"', page.text).group(1)


@pytest.mark.parametrize("asked,expected", [
    ("zh-TW,zh;q=0.9", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh-SG", "zh-CN"), ("en-GB", "en"),
    ("fr-FR,fr;q=0.9", "zh-CN"),  # nothing asked that we have: the merchant's default, a Chinese shop's zh-CN
])
def test_the_portal_answers_along_the_chain(app, shop, asked, expected):
    page = TestClient(app, headers={"Accept-Language": asked}).get("/p/shop/")
    assert page.status_code == 200 and html_lang(page) == expected


def test_a_french_browser_at_an_english_merchant_gets_english_never_chinese(app, db, shop):
    set_default(db, "shop", "en")
    page = TestClient(app, headers={"Accept-Language": "fr-FR,de;q=0.8"}).get("/p/shop/")
    assert html_lang(page) == "en"
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(r'<a href="/lang/zh[^<]*</a>', "", page.text))


def test_traditional_chinese_pages_and_the_switcher_offers_all_three(app, shop):
    web = TestClient(app, headers={"Accept-Language": "zh-TW"})
    page = web.get("/p/shop/")
    simplified = TestClient(app, headers={"Accept-Language": "zh-CN"}).get("/p/shop/")
    assert page.text != simplified.text  # converted, not the zh-CN page under another name
    assert "售後" in page.text or "訂單" in page.text
    offered = re.findall(r'href="/lang/([^"?]+)\?', page.text)
    assert offered == ["en", "zh-CN", "zh-Hant"]
    assert "中文 (繁體)" in page.text and "中文 (简体)" in page.text and "English" in page.text
    switched = web.get("/lang/en?next=/p/shop/", follow_redirects=False)
    assert switched.status_code == 303 and "rf_lang=en" in switched.headers["set-cookie"]
    family = web.get("/lang/zh-HK?next=/p/shop/", follow_redirects=False)
    assert "rf_lang=zh-Hant" in family.headers["set-cookie"]
    assert "set-cookie" not in web.get("/lang/klingon?next=/p/shop/", follow_redirects=False).headers
    assert html_lang(TestClient(app, cookies={"rf_lang": "en"}, headers={"Accept-Language": "zh-TW"})
                     .get("/p/shop/")) == "en"


def test_api_errors_follow_the_chain(client, db, shop):
    def said(language: str | None) -> str:
        headers = shop.headers(**({"Accept-Language": language} if language else {}))
        answer = client.get("/api/v1/cases/NOPE-1", headers=headers)
        assert answer.status_code == 404
        return answer.json()["error"]["message"]

    assert said("zh-TW") == "找不到售後單 NOPE-1"
    assert said("zh-HK, en;q=0.5") == "找不到售後單 NOPE-1"
    assert said("zh-SG") == "找不到售后单 NOPE-1"
    assert said("fr-FR") == "找不到售后单 NOPE-1"  # none of ours asked: the caller's merchant's default
    assert said(None) == "找不到售后单 NOPE-1"  # a caller naming no language: the instance's default (zh-CN)
    set_default(db, "shop", "en")
    assert said("fr-FR") == "case NOPE-1 was not found"  # not Chinese because Chinese is the instance default
    assert said(None) == "找不到售后单 NOPE-1"
    bad = client.post("/api/v1/cases", headers=shop.headers(**{"Accept-Language": "zh-Hant"}), json={"order": 5})
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("order：必須是文本")


def test_csv_headers_follow_the_chain_and_an_unknown_lang_is_refused(client, db, shop):
    def header(**kw) -> list[str]:
        headers = shop.headers("supervisor", **kw.pop("headers", {}))
        answer = client.get("/api/v1/analytics/reports/return_rate", headers=headers,
                            params={**OCT, "by": "sku", "format": "csv", **kw})
        assert answer.status_code == 200, answer.text
        return next(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))

    assert header(lang="zh-CN")[:2] == ["商品编码", "名称"]
    assert header(lang="zh-TW")[:2] == ["商品編碼", "名稱"]
    assert header(headers={"Accept-Language": "zh-HK"})[:2] == ["商品編碼", "名稱"]
    assert header(headers={"Accept-Language": "fr"})[:2] == ["商品编码", "名称"]  # the merchant's default
    set_default(db, "shop", "en")
    assert header(headers={"Accept-Language": "fr"})[:2] == ["SKU", "Title"]
    refused = client.get("/api/v1/analytics/reports/return_rate", headers=shop.headers("supervisor"),
                         params={**OCT, "format": "csv", "lang": "klingon"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "lang"
    assert refused.json()["error"]["allowed"] == ["en", "zh-CN", "zh-Hant"]


def test_a_reason_labelled_in_one_language_shows_to_readers_of_another(app, client, db, shop):
    only_en = {"labels": {"en": "Too small for me"}, "case_types": ["return_refund"]}
    assert client.put("/api/v1/reasons/too_small", headers=shop.headers("admin"), json=only_en).status_code == 200
    only_zh = {"labels": {"zh-Hant": "顏色不對"}, "case_types": ["return_refund"]}
    assert client.put("/api/v1/reasons/wrong_colour", headers=shop.headers("admin"), json=only_zh).status_code == 200
    listed = {r["code"]: r["label"] for r in client.get("/api/v1/reasons", headers=shop.headers()).json()}
    assert listed["too_small"] == {"en": "Too small for me"} and listed["wrong_colour"] == {"zh-Hant": "顏色不對"}
    assert set(listed["quality_issue"]) == {"en", "zh-CN", "zh-Hant"}  # the defaults: every language of the desk

    def form(language: str) -> str:
        web = TestClient(app, headers={"Accept-Language": language})
        sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
        return web.get("/p/shop/orders/O-100/return").text

    zh = form("zh-CN")
    assert "Too small for me" in zh and "顏色不對" in zh and "质量问题" in zh
    en = form("en")
    assert "Too small for me" in en and "顏色不對" in en and "Quality problem" in en
    assert "品質問題" in form("zh-TW")


def test_labels_must_be_language_tags_and_one_is_enough(client, shop):
    none = client.put("/api/v1/reasons/nothing", headers=shop.headers("admin"), json={"labels": {"en": "  "}})
    assert none.status_code == 422 and none.json()["error"]["field"] == "labels"
    bad = client.put("/api/v1/reasons/bad_tag", headers=shop.headers("admin"),
                     json={"labels": {"not a language": "x"}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "labels"
    french = client.put("/api/v1/reasons/trop_petit", headers=shop.headers("admin"),
                        json={"labels": {"fr": "Trop petit"}})
    assert french.status_code == 200 and french.json()["label"] == {"fr": "Trop petit"}
    category = client.put("/api/v1/categories/coats", headers=shop.headers("admin"),
                          json={"labels": {"zh-Hant": "大衣"}})
    assert category.status_code == 200, category.text
    assert category.json()["labels"] == {"zh-Hant": "大衣"} and category.json()["name_zh"] == ""


def test_an_unsupported_language_in_a_setting_is_refused_naming_the_field(client, db, shop):
    token, _ = platform_token(db, "platform-languages@test")
    setup = {"Authorization": f"Bearer {token}"}
    answer = client.post("/api/v1/merchants", headers={**setup, "Accept-Language": "en"},
                         json={"code": "fr-shop", "country": "FR", "locale": "fr"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "locale"
    assert answer.json()["error"]["message"].startswith("Language: 'fr' is not a language of this desk")
    assert answer.json()["error"]["allowed"] == ["en", "zh-CN", "zh-Hant"]
    taiwan = client.post("/api/v1/merchants", headers=setup, json={"code": "tw-shop", "country": "TW",
                                                                   "locale": "zh-Hant"})
    assert taiwan.status_code == 201 and taiwan.json()["locale"] == "zh-Hant", taiwan.text
    assert html_lang(client.get("/p/tw-shop/", headers={"Accept-Language": "fr"})) == "zh-Hant"
    platform = shop.headers("admin")
    user = client.post("/api/v1/users", headers={**platform, "Accept-Language": "en"},
                       json={"email": "tw@example.com", "name": "TW", "role": "agent", "locale": "xx"})
    assert user.status_code == 422 and user.json()["error"]["field"] == "locale"
    ok = client.post("/api/v1/users", headers=platform,
                     json={"email": "tw@example.com", "name": "TW", "role": "agent", "locale": "zh-Hant"})
    assert ok.status_code == 201, ok.text


def test_an_admin_changes_the_merchants_language_and_a_bad_one_changes_nothing(app, client, db, shop):
    def put(locale, role="admin"):
        return client.put("/api/v1/merchants/shop/language", headers=shop.headers(role, **{"Accept-Language": "en"}),
                          json={"locale": locale})

    assert put("en", "agent").status_code == 403
    refused = put("fr")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "locale"
    assert refused.json()["error"]["message"] == "Language: 'fr' is not a language of this desk"
    french = TestClient(app, headers={"Accept-Language": "fr"})
    assert html_lang(french.get("/p/shop/")) == "zh-CN"  # unchanged
    assert put("zh-Hant").json() == {"code": "shop", "locale": "zh-Hant"}
    assert html_lang(french.get("/p/shop/")) == "zh-Hant"
    assert client.get("/api/v1/merchants/shop", headers=shop.headers()).json()["locale"] == "zh-Hant"
    # The API too: a French-speaking caller of this merchant reads its errors in the merchant's language.
    missing = client.get("/api/v1/cases/NOPE-1", headers=shop.headers(**{"Accept-Language": "fr"}))
    assert missing.json()["error"]["message"] == "找不到售後單 NOPE-1"


def test_the_languages_endpoint_lists_the_catalogs(client):
    body = client.get("/api/v1/languages").json()
    assert [x["tag"] for x in body["languages"]] == ["en", "zh-CN", "zh-Hant"]
    assert body["fallback"][-1] == "en"
