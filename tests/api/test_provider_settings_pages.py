"""Settings → Payments and Settings → Tracking and pickup, through the pages as an admin: saved through the same
functions as the API, secrets read back masked and kept when the mask or nothing is sent, a bad field refused
beside its name with nothing written, hook URLs shown and rotated, other roles refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from returnflow.auth.models import StaffEvent
from returnflow.merchants.models import Merchant
from tests.support.asgi import TestClient
from tests.support.pay_providers import keypair
from tests.support.portal import csrf_of, sign_in_staff
from tests.support.world import make_shop

MASK = "••••••"


@pytest.fixture
def shop(db):
    return make_shop(db, "pst")


def staff(app, role: str = "admin", lang: str = "en") -> TestClient:
    web = TestClient(app, headers={"Accept-Language": lang})
    sign_in_staff(web, f"{role}@pst.test", f"pw-{role}")
    return web


def stored(db, key: str) -> dict:
    with db.read() as session:
        return (session.scalar(select(Merchant.settings).where(Merchant.code == "pst")) or {}).get(key) or {}


def events(db, action: str) -> int:
    with db.read() as session:
        return len(list(session.scalars(select(StaffEvent).where(StaffEvent.action == action))))


STRIPE = {"providers.stripe.secret_key": "sk_test_page_123456", "providers.stripe.webhook_secret": "whsec_page_9876",
          "providers.stripe.api_url": "http://127.0.0.1:9/stripe"}


def test_stripe_credentials_saved_masked_kept_and_then_routable(app, db, shop, monkeypatch):
    web = staff(app)
    token = csrf_of(web)
    page = web.get("/staff/settings/payments")
    assert page.status_code == 200 and ">Stripe <span class=\"badge\">not configured<" in page.text
    # Stripe cannot be the default before it is configured: refused naming the field, nothing written.
    refused = web.post("/staff/settings/payments", data={"csrf": token, "default_gateway": "stripe"})
    assert refused.status_code == 422
    assert "Default gateway: Stripe is not configured yet" in refused.text
    assert 'id="default_gateway-err"' in refused.text and stored(db, "money") == {}
    done = web.post("/staff/settings/payments/stripe", data={"csrf": token, **STRIPE}, follow_redirects=False)
    assert done.status_code == 303
    assert stored(db, "money")["providers"]["stripe"]["secret_key"] == "sk_test_page_123456"
    assert events(db, "payments.save") == 1
    page = web.get("/staff/settings/payments").text
    assert "sk_test_page_123456" not in page and "whsec_page_9876" not in page
    assert f'name="providers.stripe.secret_key" type="text" value="{MASK}"' in page
    assert "http://127.0.0.1:9/stripe" in page and ">configured<" in page
    # The mask sent back (or a blank) keeps the secret; the address changes.
    kept = web.post("/staff/settings/payments/stripe", data={
        "csrf": token, "providers.stripe.secret_key": MASK, "providers.stripe.webhook_secret": "",
        "providers.stripe.api_url": "http://127.0.0.1:9/stripe2"}, follow_redirects=False)
    assert kept.status_code == 303
    saved = stored(db, "money")["providers"]["stripe"]
    assert (saved["secret_key"], saved["webhook_secret"], saved["api_url"]) == (
        "sk_test_page_123456", "whsec_page_9876", "http://127.0.0.1:9/stripe2")
    # Now Stripe is on the list, and routing to it is saved; the same settings read back through the API.
    page = web.get("/staff/settings/payments").text
    assert re.search(r'<select id="default_gateway"[^>]*>.*?<option value="stripe"', page, re.S)
    routed = web.post("/staff/settings/payments", data={"csrf": token, "default_gateway": "stripe",
                                                        "gateways.alipay": "manual", "gateways.card": ""},
                      follow_redirects=False)
    assert routed.status_code == 303
    money = stored(db, "money")
    assert money["default_gateway"] == "stripe" and money["gateways"] == {"alipay": "manual"}
    # An environment reference is kept and shown as the reference; one outside RETURNFLOW_PAY_… is refused.
    env = web.post("/staff/settings/payments/stripe", data={"csrf": token, **STRIPE,
                                                            "providers.stripe.secret_key": "env:HOME"})
    assert env.status_code == 422 and "Secret key: an environment reference must name a RETURNFLOW_PAY_" in env.text
    assert stored(db, "money")["providers"]["stripe"]["secret_key"] == "sk_test_page_123456"
    # A reference to a variable the server does not have leaves Stripe unconfigured while refunds go to it: refused.
    unset = web.post("/staff/settings/payments/stripe", data={
        "csrf": token, **STRIPE, "providers.stripe.secret_key": "env:RETURNFLOW_PAY_STRIPE_KEY"})
    assert unset.status_code == 422 and "Default gateway: Stripe is not configured yet" in unset.text
    monkeypatch.setenv("RETURNFLOW_PAY_STRIPE_KEY", "sk_test_from_env")
    web.post("/staff/settings/payments/stripe", data={"csrf": token, **STRIPE,
                                                      "providers.stripe.secret_key": "env:RETURNFLOW_PAY_STRIPE_KEY"})
    assert 'value="env:RETURNFLOW_PAY_STRIPE_KEY"' in web.get("/staff/settings/payments").text
    assert "Payment settings saved" in web.get("/staff/settings/users").text
    api = TestClient(app).get("/api/v1/money/settings", headers={"Authorization": f"Bearer {shop.tokens['admin']}"})
    assert api.json()["providers"]["stripe"]["secret_key"] == "env:RETURNFLOW_PAY_STRIPE_KEY" and api.json()["default_gateway"] == "stripe"


def test_a_bad_key_is_refused_beside_its_field_in_both_languages_and_nothing_is_saved(app, db, shop):
    private, public = keypair("settings-page")
    for lang, words in (("en", "Private key: not a readable RSA private key"), ("zh-CN", "私钥：不是可读取的 RSA 私钥")):
        web = staff(app, lang=lang)
        bad = web.post("/staff/settings/payments/alipay", data={
            "csrf": csrf_of(web), "providers.alipay.app_id": "2021000000000001",
            "providers.alipay.private_key": "not a key", "providers.alipay.alipay_public_key": public,
            "providers.alipay.api_url": "http://127.0.0.1:9/gateway.do"})
        assert bad.status_code == 422
        beside = re.search(r'<p class="field-error" id="providers-alipay-private_key-err">([^<]*)</p>', bad.text)
        assert beside and words.lower() in beside.group(1).lower(), bad.text[-3000:]
        assert "not a key" not in bad.text  # a secret typed is never echoed
        assert 'value="2021000000000001"' in bad.text  # the rest of what was typed stays
        assert stored(db, "money") == {} and events(db, "payments.save") == 0
    web = staff(app)
    too_long = web.post("/staff/settings/payments/stripe", data={
        "csrf": csrf_of(web), **STRIPE, "providers.stripe.api_url": "http://127.0.0.1:9/" + "x" * 400})
    assert too_long.status_code == 422 and "API address: this text is too long." in too_long.text
    good = web.post("/staff/settings/payments/alipay", data={
        "csrf": csrf_of(web), "providers.alipay.app_id": "2021000000000001", "providers.alipay.private_key": private,
        "providers.alipay.alipay_public_key": public, "providers.alipay.api_url": "http://127.0.0.1:9/gateway.do"},
        follow_redirects=False)
    assert good.status_code == 303 and stored(db, "money")["providers"]["alipay"]["private_key"] == private.strip()


def test_an_unlisted_gateway_is_refused_naming_the_payment_method(app, db, shop):
    web = staff(app, lang="zh-CN")
    bad = web.post("/staff/settings/payments", data={"csrf": csrf_of(web), "default_gateway": "manual",
                                                     "gateways.wechat": "paypal"})
    assert bad.status_code == 422 and 'id="gateways-wechat-err"' in bad.text and stored(db, "money") == {}


def test_tracking_credentials_pickup_and_hook_urls(app, db, shop):
    web = staff(app)
    token = csrf_of(web)
    saved = web.post("/staff/settings/tracking", data={
        "csrf": token, "provider": "kuaidi100", "kuaidi100_key": "K100-key-abcdef123", "kuaidi100_customer": "CUST9",
        "kuaidi100_secret": "", "aftership_secret": "", "pickup_enabled": "on", "pickup_payment": "MONTHLY"},
        follow_redirects=False)
    assert saved.status_code == 303
    values = stored(db, "tracking")
    assert (values["provider"], values["kuaidi100_key"], values["pickup_enabled"], values["pickup_payment"]) == (
        "kuaidi100", "K100-key-abcdef123", True, "MONTHLY")
    assert events(db, "tracking.save") == 1
    page = web.get("/staff/settings/tracking").text
    assert "K100-key-abcdef123" not in page and "Stored: ••••f123. Leave empty to keep it." in page
    hooks = dict(re.findall(r'id="hook-([a-z0-9]+)" type="text" readonly value="([^"]+)"', page))
    assert set(hooks) == {"kuaidi100", "aftership", "generic", "correios"}
    assert hooks["kuaidi100"].startswith("http://testserver/api/v1/logistics/hooks/pst/kuaidi100/")
    assert "only administrators see them" in page
    # Blank secret and the mask sent back keep what is stored; pickup off.
    web.post("/staff/settings/tracking", data={"csrf": token, "provider": "kuaidi100", "kuaidi100_key": "••••f123",
                                               "kuaidi100_customer": "", "pickup_payment": "CONSIGNEE"})
    values = stored(db, "tracking")
    assert (values["kuaidi100_key"], values["kuaidi100_customer"], values["pickup_enabled"]) == (
        "K100-key-abcdef123", "CUST9", False)
    # A choice not on the list: refused naming the field, nothing written.
    bad = web.post("/staff/settings/tracking", data={"csrf": token, "provider": "aftership",
                                                     "pickup_payment": "CONSIGNEE", "pickup_enabled": "on"})
    assert bad.status_code == 422 and "Tracking aggregator: choose from the list." in bad.text
    assert stored(db, "tracking")["pickup_enabled"] is False
    # Rotating needs the box ticked; then every hook URL changes and the old one is refused.
    unconfirmed = web.post("/staff/settings/tracking/rotate", data={"csrf": token})
    assert unconfirmed.status_code == 422 and 'id="confirm-err"' in unconfirmed.text
    assert stored(db, "tracking")["hook_secret"] == values["hook_secret"]
    rotated = web.post("/staff/settings/tracking/rotate", data={"csrf": token, "confirm": "yes"},
                       follow_redirects=False)
    assert rotated.status_code == 303 and stored(db, "tracking")["hook_secret"] != values["hook_secret"]
    after = dict(re.findall(r'id="hook-([a-z0-9]+)" type="text" readonly value="([^"]+)"',
                            web.get("/staff/settings/tracking").text))
    assert after["kuaidi100"] != hooks["kuaidi100"] and events(db, "tracking.rotate") == 1
    old = TestClient(app).post(hooks["generic"].replace("http://testserver", ""), json={})
    assert old.status_code in (401, 403, 404)


@pytest.mark.parametrize("role", ["supervisor", "agent", "finance"])
def test_other_roles_get_a_403_page(app, db, shop, role):
    web = staff(app, role)
    token = csrf_of(web)
    for url in ("/staff/settings/payments", "/staff/settings/tracking"):
        page = web.get(url)
        assert page.status_code == 403 and "Only administrators can open the settings." in page.text
    assert web.post("/staff/settings/payments/stripe", data={"csrf": token, **STRIPE}).status_code == 403
    assert web.post("/staff/settings/tracking/rotate", data={"csrf": token, "confirm": "yes"}).status_code == 403
    assert stored(db, "money") == {} and stored(db, "tracking") == {}
