"""The money rules in headless Chromium, in zh-CN and English: on a quality return the customer claims the postage
they paid with a photo of the receipt in the portal; once the goods are back, finance sees the refund's legal
deadline (CN8) in its "refunds due" list and on the case, and the quote carries the postage. Screenshots at phone
and desktop widths; axe-core finds no serious or critical violations; no request leaves the machine."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.flows import run
from tests.support.portal import png, recent_order
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"send_code": "发送验证码", "continue": "继续", "sign_in": "登录", "claim": "申请报销运费",
              "claimed": "已申请退货运费：10.00 CNY", "due": "最晚退款时间", "law": "收到退货之日起 7 日内",
              "postage": "顾客垫付的退货运费", "thanks": "运费报销申请已登记"},
    "en": {"send_code": "Send me a code", "continue": "Continue", "sign_in": "Sign in", "claim": "Claim the postage",
           "claimed": "Return postage claimed: 10.00 CNY", "due": "Refund due by",
           "law": "within 7 days of receiving the returned goods", "postage": "Customer's return postage",
           "thanks": "your postage claim was recorded"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_postage_claimed_in_the_portal_and_the_refund_deadline_in_finance(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "mr-" + locale.lower())
    order = f"MR{shop.id:04d}"
    recent_order(db, shop.id, order, customer=f"C{shop.id}", email=f"c{shop.id}@example.com", paid_total=None)
    api = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {shop.tokens['admin']}"})
    assert api.put("/api/v1/money/settings", json={"postage_cap": {"CNY": "10.00"}}).status_code == 200
    opened = api.post("/api/v1/cases", json={"order": order, "type": "return_refund", "reason": "quality_issue",
                                             "lines": [{"line_no": 2, "quantity": 1}]})
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    walk = Walk(locale, shots)
    customer_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    staff_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    you, finance = customer_ctx.new_page(), staff_ctx.new_page()
    external = watch_requests(base, you, finance)

    customer_signs_in(you, base, db, shop.code, order, f"c{shop.id}@example.com", w["send_code"], w["continue"])
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    you.locator("#postage-amount").fill("12.00")
    you.locator("#postage-receipt").set_input_files(
        files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": png()}])
    walk.page(you, "portal-postage-claim")
    you.get_by_role("button", name=w["claim"]).click()
    you.wait_for_load_state("load")
    assert w["claimed"] in you.locator("#postage").inner_text()
    assert w["thanks"] in you.locator("body").inner_text()
    walk.page(you, "portal-postage-claimed")

    if api.get(f"/api/v1/cases/{number}").json()["state"] == "pending_review":
        run(db, number, "approve", shop.actors["agent"])
    run(db, number, "ship_return", shop.actors["agent"])
    run(db, number, "receive", shop.actors["warehouse"], {})
    run(db, number, "inspect", shop.actors["warehouse"], {"lines": [
        {"line_id": api.get(f"/api/v1/cases/{number}").json()["lines"][0]["id"], "quantity": 1, "verdict": "ok"}]})

    staff_signs_in(finance, base, f"finance@{shop.code}.test", "pw-finance", w["sign_in"])
    finance.goto(f"{base}/staff/finance?view=due")
    row = finance.locator("tr", has_text=number)
    assert row.count() == 1
    walk.page(finance, "finance-refunds-due")
    finance.goto(f"{base}/staff/finance/cases/{number}")
    due = finance.locator(".refund-due").inner_text()
    assert w["due"] in due and w["law"] in due
    assert w["postage"] in finance.locator("#q-h + dl").inner_text()
    walk.page(finance, "finance-case-refund-due")

    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    api.close()
    for ctx in (customer_ctx, staff_ctx):
        ctx.close()
