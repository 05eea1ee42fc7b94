"""The merchant's public return policy page: written from the active policy, in the reader's language."""

from __future__ import annotations

from tests.support.asgi import TestClient

from returnflow.i18n import SUPPORTED
from tests.support.world import make_shop

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}

LONGER = """[policy]
id = "shop-30"
extends = "jd-pop"

[window]
days = 30
counted_from = "delivery"
"""


def test_the_policy_page_says_what_the_active_policy_does_in_both_languages(app, db):
    shop = make_shop(db, "shop")
    zh = TestClient(app, headers=ZH).get("/p/shop/policy")
    assert zh.status_code == 200
    assert "自签收次日起 7 天内" in zh.text and "CN1" in zh.text and "消费者权益保护法" in zh.text
    assert "本店遵循法定标准规则" in zh.text and "《消费者权益保护法》第 25 条" in zh.text
    assert "PROCESS.md" not in zh.text and "cn-law" not in zh.text
    en = TestClient(app, headers=EN).get("/p/shop/policy")
    assert "within 7 days from the day after you sign for the parcel" in en.text
    assert "Consumer Rights Protection Law Art. 25" in en.text and "消费者" not in en.text
    # The amounts approved without a person are internal, unless the merchant chooses to publish them.
    assert "approved at once, automatically" not in en.text
    from returnflow.merchants.models import Merchant

    with db.transaction() as session:
        session.get(Merchant, shop.id).settings = {"policy_page": {"show_thresholds": True}}
    assert "approved at once, automatically" in TestClient(app, headers=EN).get("/p/shop/policy").text

    admin = TestClient(app)
    assert admin.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": LONGER}).status_code == 201
    after = TestClient(app, headers=EN).get("/p/shop/policy").text
    assert "within 30 days from the day you (or someone you name) receive the goods" in after
    assert "policy version 1" in after and "JD2" in after and "PP1" in after  # the platform rules it extends
    assert "7 days from the day after you sign" not in after


def test_an_unknown_merchant_has_no_policy_page(app, db):
    r = TestClient(app, headers=EN).get("/p/nobody/policy")
    assert r.status_code == 404


def test_a_traditional_chinese_reader_reads_the_policy_from_the_catalogs(app, db):
    make_shop(db, "shop")
    page = TestClient(app, headers={"Accept-Language": "zh-TW,zh;q=0.9"}).get("/p/shop/policy")
    assert page.status_code == 200
    # The composed sentences (a clock, the window, the law's exclusions) in Traditional, none left in English.
    assert "自簽收次日起 7 天內" in page.text and "逾期系統自動退款" in page.text
    assert "within 7 days" not in page.text and "we answer within" not in page.text
    assert "自签收次日起" not in page.text  # nor in the Simplified of the merchant's default
    # The public JSON carries every sentence in every language of the desk, side by side.
    public = TestClient(app).get("/api/v1/public/merchants/shop/policy").json()
    window = public["sections"][0]
    assert set(window["title"]) == set(SUPPORTED) and "zh-Hant" in SUPPORTED
    assert window["items"][0]["text"]["zh-Hant"].startswith("自簽收次日起 7 天內")
    assert window["items"][0]["text"]["en"].startswith("You may return or exchange without giving a reason")
