"""Refusals are worded in the catalogs (issue 16 "one error style", issue 19 "languages are data"): a zh-TW reader
gets Traditional Chinese, an English and a zh-CN reader their own words, and bad input still changes nothing.
Also the texts that were chosen in code by language: the importers' messages (--lang / LANG), a merchant's own
policy sentences given per language, and the reason an SLA deadline writes on the timeline."""

from __future__ import annotations

from sqlalchemy import func, select

from returnflow.auth.models import User
from returnflow.cases.views import reason_payload, reason_words
from returnflow.merchants.models import Merchant
from returnflow.i18n import lang_of
from returnflow.importer.messages import Problem, say
from returnflow.policy.models import PolicyVersion
from returnflow.sla.settings import MISSED, LABELS
from tests.support.world import make_order, make_shop, platform_token

EN = {"Accept-Language": "en"}
ZH_CN = {"Accept-Language": "zh-CN"}
ZH_TW = {"Accept-Language": "zh-TW"}


def han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def count(db, model, *where) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_staff_refusal_reads_in_english_simplified_and_traditional_and_writes_nothing(client, db):
    shop = make_shop(db, "lang1")
    before = count(db, User)
    body = {"email": "new@lang1.test", "name": "New", "role": "agent", "password": "short"}
    said = {}
    for name, headers in (("en", EN), ("zh-CN", ZH_CN), ("zh-TW", ZH_TW)):
        r = client.post("/api/v1/users", headers=shop.headers("admin", **headers), json=body)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["field"] == "password"
        said[name] = error["message"]
    assert said["en"].startswith("password: must have at least 10 characters")
    assert "至少 10 个字符" in said["zh-CN"] and "个" in said["zh-CN"]
    # Traditional: the catalog converted from zh-CN (個, 則, 碼 where zh-CN has 个, 则, 码).
    assert han(said["zh-TW"]) and "個" in said["zh-TW"] and "个" not in said["zh-TW"]
    assert said["zh-TW"] != said["zh-CN"]
    assert count(db, User) == before and count(db, User, User.email == "new@lang1.test") == 0


def test_a_setup_refusal_names_the_field_in_the_readers_words_in_every_language(client, db):
    token, _ = platform_token(db, "platform-lang@test")
    said = {}
    for name, headers in (("en", EN), ("zh-CN", ZH_CN), ("zh-TW", ZH_TW)):
        r = client.post("/api/v1/merchants", json={"code": "lang-shop", "country": "XX"},
                        headers={"Authorization": f"Bearer {token}", **headers})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "country"
        said[name] = r.json()["error"]["message"]
    assert said["en"].startswith("Country: 'XX' is not a country code")
    assert said["zh-CN"].startswith("国家/地区：「XX」不是国家/地区代码")
    assert said["zh-TW"].startswith("國家/地區：「XX」") and "国" not in said["zh-TW"]
    assert count(db, Merchant, Merchant.code == "lang-shop") == 0


POLICY_BAD = """[policy]
id = "shop-bad"
extends = "cn-law"

[window]
days = "many"
"""


def test_a_policy_refusal_reads_in_traditional_chinese_with_its_line_and_keeps_the_active_version(client, db):
    shop = make_shop(db, "lang2")
    r = client.put("/api/v1/policy", headers=shop.headers("admin", **ZH_TW), json={"source": POLICY_BAD})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_policy" and error["field"] == "window.days" and error["line"] == 6
    assert error["message"].startswith("window.days：第 6 行：必須是整數") and "'many'" in error["message"]
    en = client.put("/api/v1/policy", headers=shop.headers("admin", **EN), json={"source": POLICY_BAD}).json()
    assert en["error"]["message"] == "window.days: line 6: must be a whole number, got 'many'"
    assert count(db, PolicyVersion) == 0


OWN_WORDS = """[policy]
id = "shop-words"
extends = "cn-law"

[[rules]]
id = "long-window"
kind = "window"
skus = ["SKU-A"]
days = 30
text = { en = "Our own words: 30 days for this item.", zh-Hant = "本店自訂：此商品可於 30 天內退貨。" }
"""


def test_a_merchant_gives_its_rule_sentence_per_language_and_a_language_it_left_out_reads_the_composed_one(
        client, db):
    shop = make_shop(db, "lang3")
    make_order(db, shop)
    assert client.put("/api/v1/policy", headers=shop.headers("admin"), json={"source": OWN_WORDS}).status_code == 201
    body = {"order": "O-1", "type": "return_refund", "reason": "no_reason_7day",
            "lines": [{"line_no": 1, "quantity": 1}]}
    r = client.post("/api/v1/policy/dry-run", headers=shop.headers("agent"), json=body)
    assert r.status_code == 200, r.text
    reasons = r.json()["lines"][0]["decision"]["reasons"]
    own = next(c for c in reasons if c["rule"] == "long-window")
    assert own["en"] == "Our own words: 30 days for this item."
    assert own["zh-Hant"] == "本店自訂：此商品可於 30 天內退貨。"
    # zh-CN was not written: the composed sentence of the rule, in Simplified Chinese, never the zh-Hant one.
    assert han(own["zh-CN"]) and own["zh-CN"] != own["zh-Hant"] and "退货" in own["zh-CN"]


def test_a_language_table_with_a_bad_tag_is_refused_naming_the_field(client, db):
    shop = make_shop(db, "lang4")
    bad = OWN_WORDS.replace("zh-Hant = ", '"no way" = ')
    r = client.put("/api/v1/policy", headers=shop.headers("admin", **EN), json={"source": bad})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "rules[0].text"
    assert "'no way' is not a language tag" in r.json()["error"]["message"]
    assert count(db, PolicyVersion) == 0


def test_the_importers_speak_the_operators_language_traditional_included(monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_TW.UTF-8")
    assert lang_of() == "zh-Hant"
    assert lang_of("zh-CN") == "zh-CN" and lang_of("en") == "en" and lang_of("xx") == "en"
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert lang_of() == "en"
    assert say("stopped", "en").startswith("Nothing was imported")
    assert say("stopped", "zh-CN").startswith("未导入任何数据")
    hant = say("stopped", "zh-Hant")
    assert hant.startswith("未匯入任何資料") and hant != say("stopped", "zh-CN")
    problem = Problem("bad_quantity", row=3, column="qty", value="x")
    assert problem.text("zh-Hant").startswith("第 3 行") and "不是整數" in problem.text("zh-Hant")


def test_an_sla_reason_is_read_in_every_language_and_an_old_bilingual_row_as_it_was_written():
    payload = {"step": "review", **reason_payload(MISSED, step=LABELS["review"])}
    assert payload["reason"] == "deadline missed: review"  # what guards and older readers take
    assert reason_words(payload, "en") == "deadline missed: review"
    assert reason_words(payload, "zh-CN").startswith("截止时限已过：")
    hant = reason_words(payload, "zh-Hant")
    assert hant.startswith("截止時限已過：") and hant != reason_words(payload, "zh-CN")
    old = {"reason": "deadline missed: review (截止时限已过：审核)"}
    assert reason_words(old, "zh-Hant") == old["reason"]
