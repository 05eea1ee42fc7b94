"""The end of a case in headless Chromium, in zh-CN and English: an agent proposes a plan on the case page, the
customer accepts it in the portal and the timeline shows it; after the refund is paid (through the API, as finance
would), the customer sees "refunded" with the amount and route, and rates the service. Screenshots at phone and
desktop widths; axe-core finds no serious or critical violations; no request leaves the machine."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import text

from tests.support.money import paid_order, refund_only_case
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"send_code": "发送验证码", "continue": "继续", "sign_in": "登录", "send_plan": "发送方案给顾客",
              "proposes": "商家提出了处理方案", "accept": "同意此方案", "accepted": "您同意了处理方案。",
              "refunded": "已退款", "route": "原路退回到您的支付账户", "rate": "提交评价", "rated": "您给此申请打了 5 分",
              "note": "保留商品，我们为您退款 50 元"},
    "en": {"send_code": "Send me a code", "continue": "Continue", "sign_in": "Sign in",
           "send_plan": "Send the plan to the customer", "proposes": "The shop proposes a plan",
           "accept": "Accept this plan", "accepted": "You accepted the plan.", "refunded": "Refunded",
           "route": "back to your original payment method", "rate": "Send my rating",
           "rated": "You rated this request 5 out of 5", "note": "Keep the item; we refund 50.00"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_plan_accepted_refund_paid_and_rated(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "more-" + locale.lower())
    order = f"PM{shop.id:04d}"
    customer = f"C{shop.id}"
    paid_order(db, shop, order, payments=(("alipay", None),), customer=customer)
    number = refund_only_case(db, shop, order)
    walk = Walk(locale, shots)
    staff_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    customer_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    agent, you = staff_ctx.new_page(), customer_ctx.new_page()
    external = watch_requests(base, agent, you)

    # The agent proposes a partial refund on the case page.
    staff_signs_in(agent, base, f"agent@{shop.code}.test", "pw-agent", w["sign_in"])
    agent.goto(f"{base}/staff/cases/{number}")
    agent.locator("#plan-kind").select_option("partial_refund")
    agent.locator("#plan-amount").fill("50.00")
    agent.locator("#plan-note").fill(w["note"])
    agent.get_by_role("button", name=w["send_plan"]).click()
    agent.wait_for_url(re.compile(rf"/staff/cases/{number}"))
    walk.page(agent, "staff-case-plan")

    # The customer finds it in the portal and accepts it; the timeline records the confirmation.
    customer_signs_in(you, base, db, shop.code, order, f"{customer}@example.com", w["send_code"], w["continue"])
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    assert w["proposes"] in you.locator("#plan").inner_text()
    assert "50.00" in you.locator("#plan").inner_text()
    walk.page(you, "portal-case-plan")
    you.get_by_role("button", name=w["accept"]).click()
    you.wait_for_load_state("load")
    assert you.locator("#plan").count() == 0
    assert w["accepted"] in you.locator(".timeline").inner_text()

    # Finance pays the agreed refund (the API, as finance's tools would); the case is resolved by the workflow.
    api = httpx.Client(base_url=base, timeout=60)
    made = api.post(f"/api/v1/cases/{number}/refunds", json={"amount": "50.00"},
                    headers={"Authorization": f"Bearer {shop.tokens['agent']}"})
    assert made.status_code == 201, made.text
    leg = made.json()["payments"][0]["number"]
    paid = api.post(f"/api/v1/refund-payments/{leg}/mark-paid", json={"reference": "BANK-7"},
                    headers={"Authorization": f"Bearer {shop.tokens['finance']}"})
    assert paid.status_code == 200, paid.text

    # The customer sees "refunded" with the amount and the route, and rates the service once.
    you.reload()
    refunded = you.locator("#refunded-h + p").inner_text()
    assert "50.00" in refunded and w["route"] in refunded
    timeline = you.locator(".timeline").inner_text()
    assert w["refunded"] in timeline and "50.00" in timeline
    walk.page(you, "portal-case-refunded")
    you.locator("input[name=score][value='5']").check()
    you.locator("#comment").fill("很满意" if locale == "zh-CN" else "Fair and quick")
    you.get_by_role("button", name=w["rate"]).click()
    you.wait_for_load_state("load")
    assert w["rated"] in you.locator("#rating").inner_text()
    assert you.locator("#rating form").count() == 0
    walk.page(you, "portal-case-rated")

    with db.engine.connect() as conn:
        case_id = conn.execute(text("SELECT id FROM cases WHERE number = :n"), {"n": number}).scalar_one()
        actions = [a for (a,) in conn.execute(text("SELECT action FROM case_events WHERE case_id = :c ORDER BY seq"),
                                              {"c": case_id})]
        score = conn.execute(text("SELECT score FROM survey_responses WHERE case_id = :c"), {"c": case_id}).scalar_one()
    # the confirmation is on the record before the refund was carried out
    assert actions.index("accept_plan") < actions.index("resolve") and score == 5
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    api.close()
    for ctx in (staff_ctx, customer_ctx):
        ctx.close()
