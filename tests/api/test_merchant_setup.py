"""Setting up a merchant through the API and the CLI, on SQLite and PostgreSQL: its country decides the policy
preset (never PRC law by default outside China), its time zone is the one clock case and refund numbers are dated
on (fixed times across the Shanghai and New York midnights), and a bad country, zone or preset is refused in the
caller's language, naming the field, with nothing written."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from returnflow.actor import Actor
from returnflow.auth.service import create_user, issue_token
from returnflow.merchants.models import Merchant
from returnflow.sla.models import SlaSettings
from tests.support.flows import run
from tests.support.import_cli import run_cli  # noqa: F401  (fixture)
from tests.support.money import paid_order
from tests.support.world import Shop, platform_token

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
PRC = ("消费者权益保护法", "七日无理由", "网络购买商品", "CN1", "CN6", "CN9", "PRC", "Directive 2011/83/EU")


def setup(client, db, code: str, **fields) -> tuple[int, dict]:
    headers = fields.pop("_headers", EN)
    token, _ = platform_token(db, f"platform-{code}-{len(fields)}-{headers is EN}@test")
    r = client.post("/api/v1/merchants", json={"code": code, **fields},
                    headers={"Authorization": f"Bearer {token}", **headers})
    return r.status_code, r.json()


def staffed(db, code: str) -> Shop:
    """The merchant's agent and admin, as the merchant's staff would be added after setup."""
    with db.transaction() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == code))
        shop = Shop(id=merchant_id, code=code)
        for role in ("agent", "admin"):
            user = create_user(session, email=f"{role}@{code}.test", name=role, role=role, merchant_id=merchant_id,
                               password="pw-" + role)
            shop.tokens[role] = issue_token(session, user=user)
            shop.actors[role] = Actor(kind="staff", role=role, merchant_id=merchant_id, user_id=user.id, name=role)
    return shop


def merchants(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Merchant)) + session.scalar(
            select(func.count()).select_from(SlaSettings))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# ---- one clock per merchant: case and refund numbers --------------------------------------------------------------

@pytest.mark.parametrize("zone, day", [("Asia/Shanghai", "261201"), ("America/New_York", "261130")])
def test_case_and_refund_numbers_are_dated_on_the_merchant_clock(client, db, monkeypatch, zone, day):
    status, body = setup(client, db, "clock", country="US" if zone.startswith("America") else "CN",
                         timezone=zone, currency="USD" if zone.startswith("America") else "CNY")
    assert status == 201, body
    assert body["timezone"] == zone
    shop = staffed(db, "clock")
    currency = body["currency"]
    paid_order(db, shop, "M-1", currency=currency, payments=(("alipay", None),), discount="0.00", shipping="0.00")
    # 2026-11-30 17:30 UTC is 2026-12-01 01:30 in Shanghai and 2026-11-30 12:30 in New York.
    monkeypatch.setattr("returnflow.cases.service.utcnow", lambda: at("2026-11-30T17:30:00"))
    opened = client.post("/api/v1/cases", headers=shop.headers("agent", **EN), json={
        "order": "M-1", "type": "refund_only", "lines": [{"line_no": 1, "quantity": 1}]})
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    assert number[2:8] == day, number
    run(db, number, "approve", shop.actors["agent"])
    monkeypatch.setattr("returnflow.refunds.service.utcnow", lambda: at("2026-11-30T16:10:00"))
    refund = client.post(f"/api/v1/cases/{number}/refunds", json={}, headers=shop.headers("admin", **EN))
    assert refund.status_code == 201, refund.text
    # 16:10 UTC: already 00:10 on 1 December in Shanghai, still the 30th in New York.
    assert refund.json()["number"].startswith("RF" + day), refund.json()["number"]


def test_a_zone_changed_in_the_settings_dates_the_next_number(client, db, monkeypatch):
    status, _ = setup(client, db, "mover", country="CN")
    assert status == 201
    shop = staffed(db, "mover")
    paid_order(db, shop, "M-1", payments=(("alipay", None),))
    monkeypatch.setattr("returnflow.cases.service.utcnow", lambda: at("2026-11-30T17:30:00"))
    body = {"order": "M-1", "type": "refund_only", "lines": [{"line_no": 1, "quantity": 1}]}
    first = client.post("/api/v1/cases", headers=shop.headers("agent"), json=body).json()["number"]
    changed = client.put("/api/v1/sla/settings", headers=shop.headers("admin"),
                         json={"timezone": "America/New_York"})
    assert changed.status_code == 200, changed.text
    body["lines"] = [{"line_no": 2, "quantity": 1}]
    second = client.post("/api/v1/cases", headers=shop.headers("agent"), json=body).json()["number"]
    assert (first[2:8], second[2:8]) == ("261201", "261130")


# ---- the preset follows the country -------------------------------------------------------------------------------

def test_a_gb_merchant_gets_uk_law_and_its_public_page_cites_no_prc_law(client, db):
    status, body = setup(client, db, "brit", country="gb", currency="GBP")
    assert status == 201, body
    assert (body["preset"], body["preset_from_country"], body["timezone"], body["locale"]) == (
        "uk-ccr", True, "Europe/London", "en")
    page = client.get("/api/v1/public/merchants/brit/policy").json()
    assert page["policy_id"] == "uk-ccr"
    sources = " ".join(item["source"] + item["text"]["en"] + item["text"]["zh-CN"]
                       for sec in page["sections"] for item in sec["items"])
    assert "Consumer Contracts Regulations 2013" in sources
    assert not any(word in sources for word in PRC[:4])
    for headers in (EN, ZH):  # the shopper's page, in either language
        html = client.get("/p/brit/policy", headers=headers).text
        assert "Consumer Contracts" in html
        assert not any(word in html for word in PRC[:4] + ("Consumer Rights Protection Law",))


def test_a_us_merchant_in_usd_gets_the_shop_rules_citing_no_law(client, db):
    status, body = setup(client, db, "yank", country="US", timezone="America/Chicago", currency="USD")
    assert status == 201, body
    assert (body["preset"], body["calendar"]) == ("merchant-rules", "weekdays")
    page = client.get("/api/v1/public/merchants/yank/policy").json()
    assert (page["policy_id"], page["currency"], page["timezone"]) == ("merchant-rules", "USD", "America/Chicago")
    text = " ".join(item["rule"] + " " + item["source"] + item["text"]["en"] + item["text"]["zh-CN"]
                    for sec in page["sections"] for item in sec["items"])
    assert all(item["rule"].startswith("M.") for sec in page["sections"] for item in sec["items"])
    assert not any(word in text for word in PRC)
    assert "CNY" not in text and "Every request is reviewed by our staff." in text
    for headers in (EN, ZH):  # the shopper's page, in either language
        html = client.get("/p/yank/policy", headers=headers).text
        assert not any(word in html for word in PRC + ("Consumer Rights Protection Law", "standard rules of the law",
                                                       "法定"))
    page_en = client.get("/p/yank/policy", headers=EN).text.replace("&#39;", "'")
    assert "Source: Our shop's own rule" in page_en and "the shop's own standard return rules" in page_en


def test_a_chosen_preset_wins_over_the_country(client, db):
    status, body = setup(client, db, "tmall", country="CN", preset="taobao-current")
    assert (status, body["preset"], body["preset_from_country"]) == (201, "taobao-current", False)
    assert client.get("/api/v1/public/merchants/tmall/policy").json()["policy_id"] == "taobao-current"


def test_merchants_without_a_country_keep_their_preset(client, db):
    """Merchants set up before the country was asked: CNY keeps PRC law, EUR the directive; USD is not PRC law."""
    with db.transaction() as session:
        for code, currency in (("old-cny", "CNY"), ("old-eur", "EUR"), ("old-usd", "USD")):
            session.add(Merchant(code=code, name=code, default_currency=currency))
    ids = [client.get(f"/api/v1/public/merchants/{c}/policy").json()["policy_id"]
           for c in ("old-cny", "old-eur", "old-usd")]
    assert ids == ["cn-law", "eu-crd", "merchant-rules"]


# ---- bad input: the field named, in the caller's language, nothing written ---------------------------------------

@pytest.mark.parametrize("fields, field, en, zh", [
    ({"country": "XX"}, "country", "Country: 'XX' is not a country code", "国家/地区：「XX」不是国家/地区代码"),
    ({}, "country", "Country: say where the shop sells from", "国家/地区：请填写店铺经营所在的国家/地区"),
    ({"country": "GB", "timezone": "Europe/Londres"}, "timezone", "Time zone: 'Europe/Londres' is not a time zone",
     "时区：「Europe/Londres」不是有效的时区"),
    ({"country": "US"}, "timezone", "Time zone: United States has several time zones", "时区：美国有多个时区"),
    ({"country": "DE", "preset": "de-bgb"}, "preset", "Policy preset: 'de-bgb' is not a policy preset",
     "政策预设：「de-bgb」不是政策预设"),
])
def test_bad_setup_is_refused_naming_the_field_and_writes_nothing(client, db, fields, field, en, zh):
    for headers, expected in ((EN, en), (ZH, zh)):
        status, body = setup(client, db, "bad", _headers=headers, **fields)
        assert status == 422, body
        assert body["error"]["field"] == field
        assert body["error"]["message"].startswith(expected), body["error"]["message"]
    assert merchants(db) == 0


def test_a_taken_code_is_refused_and_the_first_merchant_is_unchanged(client, db):
    assert setup(client, db, "twice", country="CN")[0] == 201
    status, body = setup(client, db, "twice", country="GB", preset="uk-ccr", _headers=ZH)
    assert status == 409 and body["error"]["message"] == "商家代码：商家「twice」已存在", body
    with db.read() as session:
        row = session.scalars(select(Merchant).where(Merchant.code == "twice")).one()
        assert (row.country, row.settings["policy_preset"]) == ("CN", "cn-law")


def test_only_platform_users_set_up_merchants(client, db):
    assert setup(client, db, "first", country="CN")[0] == 201
    shop = staffed(db, "first")
    r = client.post("/api/v1/merchants", json={"code": "second", "country": "CN"}, headers=shop.headers("admin"))
    assert r.status_code == 403
    with db.read() as session:
        assert session.scalar(select(Merchant.id).where(Merchant.code == "second")) is None


# ---- the CLI ------------------------------------------------------------------------------------------------------

def test_cli_derives_the_preset_from_the_country_and_says_so(db, run_cli):
    code, out = run_cli("merchants", "create", "berlin", "--country", "DE", "--currency", "EUR")
    assert code == 0, out
    assert "policy preset eu-crd" in out and "no --preset given: eu-crd was chosen" in out
    assert "Europe/Berlin" in out
    code, out = run_cli("merchants", "create", "austin", "--country", "US", "--timezone", "America/Chicago",
                        "--currency", "USD", lang="zh_CN.UTF-8")
    assert code == 0, out
    assert "未指定 --preset：已按国家/地区选用 merchant-rules" in out
    with db.read() as session:
        rows = {m.code: (m.country, m.settings["policy_preset"]) for m in session.scalars(select(Merchant))}
    assert rows == {"berlin": ("DE", "eu-crd"), "austin": ("US", "merchant-rules")}
    code, out = run_cli("merchants", "list")
    listed = [line.split() for line in out.splitlines()]
    assert listed == [["austin", "US", "America/Chicago", "merchant-rules", "USD"],
                      ["berlin", "DE", "Europe/Berlin", "eu-crd", "EUR"]]


@pytest.mark.parametrize("args, en, zh", [
    (("--country", "ZZ"), "Country: 'ZZ' is not a country code", "国家/地区：「ZZ」不是国家/地区代码"),
    (("--country", "GB", "--timezone", "Mars/Base"), "Time zone: 'Mars/Base' is not a time zone",
     "时区：「Mars/Base」不是有效的时区"),
    (("--country", "GB", "--preset", "uk-law"), "Policy preset: 'uk-law' is not a policy preset",
     "政策预设：「uk-law」不是政策预设"),
])
def test_cli_refuses_bad_values_and_creates_nothing(db, run_cli, args, en, zh):
    code, out = run_cli("merchants", "create", "nope", *args)
    assert code == 2 and en in out and "nothing was created" in out, out
    code, out = run_cli("merchants", "create", "nope", *args, lang="zh_CN.UTF-8")
    assert code == 2 and zh in out and "未创建任何内容" in out, out
    assert merchants(db) == 0


def test_a_merchant_an_import_creates_takes_its_country_clock_and_law(client, db, run_cli):
    """The UCI history (a UK shop, GBP): created by the import, it is on UK law and the London clock, not PRC law."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "data" / "uci_online_retail_sample.csv"
    code, out = run_cli("import-orders", sample, "--mapping", "uci", "--merchant", "uk-retail", "--create-merchant",
                        "--currency", "GBP", "--country", "GB", "--no-open-returns")
    assert code in (0, 1), out
    staff = staffed(db, "uk-retail")
    body = client.get("/api/v1/merchants/uk-retail", headers=staff.headers("agent")).json()
    assert (body["country"], body["timezone"], body["preset"]) == ("GB", "Europe/London", "uk-ccr")
    assert client.get("/api/v1/public/merchants/uk-retail/policy").json()["policy_id"] == "uk-ccr"
