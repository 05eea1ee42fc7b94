"""The edges that used to strand shoppers, in headless Chromium, zh-CN and English, phone (shopper) and desktop
(staff): (4) a deployment with no email or SMS provider; (5) a merchant with no return address. Screenshots at both
widths; axe-core finds no serious or critical violations; no request leaves the machine."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import LIVE_APPS
from tests.support.flows import open_for
from tests.support.portal import recent_order
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"send_code": "发送验证码", "continue": "继续", "sign_in": "登录", "approve": "审核通过",
              "no_channel": "邮件和短信都尚未开通", "banner": "尚未配置短信服务", "save_contact": "保存联系方式",
              "settings": "设置 → 退货地址", "save_address": "保存地址", "send_to": "寄往",
              "wrong": "不像顺丰速运的运单号", "saved_tracking": "保存快递单号", "waiting": "等待快递揽收扫描"},
    "en": {"send_code": "Send me a code", "continue": "Continue", "sign_in": "Sign in", "approve": "Approve",
           "no_channel": "neither email nor text messages are set up", "banner": "No SMS provider is set up",
           "save_contact": "Save the contact details", "settings": "Settings → Return addresses",
           "save_address": "Save the address", "send_to": "Send to", "wrong": "does not look like a SF Express",
           "saved_tracking": "Save the tracking number", "waiting": "Waiting for the carrier's first scan"},
}


def contexts(chromium, locale):
    staff = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    shopper = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    return staff, shopper


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_no_provider_the_shopper_is_told_plainly_and_the_admin_sees_why(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    app = LIVE_APPS[base]
    shop = make_shop(db, "quiet-" + locale.lower())
    order = recent_order(db, shop.id, f"Q{shop.id:04d}-A", customer=f"Q{shop.id}", email=f"q{shop.id}@example.com")
    walk = Walk(locale, shots)
    staff_ctx, shopper_ctx = contexts(chromium, locale)
    admin, you = staff_ctx.new_page(), shopper_ctx.new_page()
    external = watch_requests(base, admin, you)
    app.state.code_channels = frozenset()
    try:
        staff_signs_in(admin, base, f"admin@{shop.code}.test", "pw-admin", w["sign_in"])
        assert w["banner"] in admin.locator("#channel-gap").inner_text()
        admin.goto(f"{base}/staff/settings/addresses")
        admin.locator("#shop_phone").fill("400-820-8820")
        admin.locator("#shop_hours").fill("9:00–18:00")
        admin.get_by_role("button", name=w["save_contact"]).click()
        admin.wait_for_url(re.compile(r"/staff/settings/addresses$"))
        walk.page(admin, "edges-console-banner")

        you.goto(f"{base}/p/{shop.code}/")
        you.locator("#order").fill(order.lower())
        you.locator("#contact").fill(f"q{shop.id}@example.com")
        you.get_by_role("button", name=w["send_code"]).click()
        you.wait_for_load_state("load")
        assert w["no_channel"] in you.locator("[role=alert]").inner_text()
        assert "400-820-8820" in you.locator("#contact-shop").inner_text()
        assert "/verify" not in you.url
        walk.page(you, "edges-portal-no-provider")
    finally:
        app.state.code_channels = frozenset({"email", "sms"})
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    for ctx in (staff_ctx, shopper_ctx):
        ctx.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_no_return_address_approval_waits_for_one_then_the_shopper_sees_where_and_tracks(live, chromium, shots,
                                                                                          locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "noaddr-" + locale.lower(), return_address=False)
    customer = f"N{shop.id}"
    order = recent_order(db, shop.id, f"N{shop.id:04d}", customer=customer, email=f"{customer}@example.com")
    number = open_for(db, shop.actors["agent"], order, "return_refund")  # the coat: staff review it
    walk = Walk(locale, shots)
    staff_ctx, shopper_ctx = contexts(chromium, locale)
    admin, you = staff_ctx.new_page(), shopper_ctx.new_page()
    external = watch_requests(base, admin, you)

    staff_signs_in(admin, base, f"admin@{shop.code}.test", "pw-admin", w["sign_in"])
    admin.goto(f"{base}/staff/cases/{number}")
    admin.get_by_role("button", name=w["approve"], exact=True).click()
    admin.wait_for_load_state("load")
    assert w["settings"] in admin.locator("main").inner_text()
    walk.page(admin, "edges-approval-refused")

    admin.goto(f"{base}/staff/settings/addresses")
    for field, value in (("code", "SH"), ("name", "上海退货仓"), ("contact", "李四"), ("phone", "021-12345678"),
                         ("address", "上海市浦东新区张江路 100 号")):
        admin.locator(f"#{field}").fill(value)
    for carrier in ("SF", "ZTO"):  # chosen from the list of carriers
        admin.locator(f'#carriers input[value="{carrier}"]').check()
    admin.locator("#is_default").check()
    admin.get_by_role("button", name=w["save_address"]).click()
    admin.wait_for_url(re.compile(r"/staff/settings/addresses$"))
    admin.goto(f"{base}/staff/cases/{number}")
    admin.get_by_role("button", name=w["approve"], exact=True).click()
    admin.wait_for_url(re.compile(rf"/staff/cases/{number}$"))

    customer_signs_in(you, base, db, shop.code, order, f"{customer}@example.com", w["send_code"], w["continue"])
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    assert "张江路 100 号" in you.locator("#how-to-return").inner_text()
    walk.page(you, "edges-portal-send-to")
    you.locator("#carrier").select_option("SF")
    you.locator("#tracking_number").fill("SF12")
    you.get_by_role("button", name=w["saved_tracking"]).click()
    you.wait_for_load_state("load")
    assert w["wrong"] in you.locator("[role=alert]").inner_text()
    assert you.locator("#tracking_number").input_value() == "SF12"
    walk.page(you, "edges-portal-tracking-refused")
    you.locator("#tracking_number").fill("SF1234567890123")
    you.get_by_role("button", name=w["saved_tracking"]).click()
    you.wait_for_load_state("load")
    assert w["waiting"] in you.locator("#parcel").inner_text()
    walk.page(you, "edges-portal-parcel")
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    for ctx in (staff_ctx, shopper_ctx):
        ctx.close()
