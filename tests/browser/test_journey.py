"""A return walked through in headless Chromium, as people would, in zh-CN and in English: the customer finds
the order with a one-time code, opens a return with a photo after seeing the policy's answer and gets a case
number; an agent approves it from the queue; the customer enters the tracking number; the warehouse receives and
inspects; the agent resolves; the customer sees the result. Every page is screenshot at phone and desktop widths
and checked with axe-core (no serious or critical violations)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from tests.browser.conftest import AXE
from tests.support.portal import PNG, last_code, recent_order
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

WORDS = {
    "zh-CN": {"policy_link": "查看本店售后政策", "send_code": "发送验证码", "continue": "继续", "start": "申请退换货或其他售后", "check": "查看售后政策的答复",
              "eligible": "符合售后政策", "submit": "提交申请", "number": "您的售后单号", "sign_in": "登录",
              "approve": "审核通过", "save_tracking": "保存快递单号", "receive": "收货登记", "inspect": "登记质检结果",
              "resolve": "处理完成", "done": "您的申请已处理完成。", "mine": "待我处理", "in_transit": "退货运输中",
              "resolved": "已处理", "shop": "示例旗舰店"},
    "en": {"policy_link": "Read our return policy", "send_code": "Send me a code", "continue": "Continue", "start": "Start a return or other request",
           "check": "See what our policy says", "eligible": "Eligible", "submit": "Submit the request",
           "number": "Your request number is", "sign_in": "Sign in", "approve": "Approve",
           "save_tracking": "Save the tracking number", "receive": "Receive the goods",
           "inspect": "Record the inspection", "resolve": "Resolve", "done": "Your request is done.",
           "mine": "Waiting on me", "in_transit": "Return in transit", "resolved": "Resolved",
           "shop": "Demo Outdoor Store"},
}


class Walk:
    """Takes the screenshots and runs axe on each page visited."""

    def __init__(self, locale: str, folder) -> None:
        self.prefix = locale.lower()
        self.folder = folder
        self.problems: dict[str, list] = {}

    def page(self, page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        size = page.viewport_size
        for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            page.screenshot(path=str(self.folder / f"{self.prefix}-{name}-{label}.png"), full_page=True)
        page.set_viewport_size(size)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            self.problems[name] = bad


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_return_from_request_to_result(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    code = "demo-" + locale.lower()
    shop = make_shop(db, code)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE merchants SET name = :n WHERE id = :id"), {"n": w["shop"], "id": shop.id})
    order = recent_order(db, shop.id, f"DM{shop.id:04d}01", customer=f"C-{locale}", email=f"buyer-{locale}@example.com",
                         lines=(("COAT-M", "羊毛大衣 M码" if locale == "zh-CN" else "Wool coat, M", "899.00", 2),
                                ("MUG", "马克杯" if locale == "zh-CN" else "Enamel mug", "35.50", 1)))
    walk = Walk(locale, shots)
    customer_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    staff_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    you, agent = customer_ctx.new_page(), staff_ctx.new_page()
    external = []
    local = (base, "data:", f"blob:{base}")
    for page in (you, agent):
        page.on("request", lambda r: None if r.url.startswith(local) else external.append(r.url))

    # The customer finds the order and confirms with the code from the notification.
    you.goto(f"{base}/p/{code}/")
    walk.page(you, "portal-find")
    # First the shop's return policy, linked from every portal page and written from the policy itself.
    you.locator("main").get_by_role("link", name=w["policy_link"]).click()
    you.wait_for_url(re.compile(r"/policy$"))
    assert "CN1" in you.locator("main").inner_text()
    walk.page(you, "portal-policy")
    you.go_back()
    you.locator("#order").fill(order)
    you.locator("#contact").fill(f"buyer-{locale}@example.com")
    you.get_by_role("button", name=w["send_code"]).click()
    you.wait_for_url(re.compile(r"/verify\?c="))
    walk.page(you, "portal-code")
    otp, payload = last_code(db)
    assert payload["locale"] == locale
    you.locator("#code").fill(otp)
    you.get_by_role("button", name=w["continue"]).click()
    you.wait_for_url(re.compile(r"/orders$"))
    walk.page(you, "portal-orders")

    # Picks the item, type and reason (htmx swaps the reasons for the type), sees the policy's answer, submits.
    you.get_by_role("link", name=w["start"]).click()
    you.locator("#qty_1").fill("1")
    you.locator("#type").select_option("exchange")
    expect(you.locator("#reason option[value='no_reason_7day']")).to_have_count(0)  # not a reason for exchanges
    you.locator("#type").select_option("return_refund")
    expect(you.locator("#reason option[value='no_reason_7day']")).to_have_count(1)
    you.locator("#reason").select_option("no_reason_7day")
    walk.page(you, "portal-return-step1")
    you.get_by_role("button", name=w["check"]).click()
    you.wait_for_url(re.compile(r"/return/check$"))
    assert w["eligible"] in you.locator("section.decision").first.inner_text()
    assert "CN1" in you.locator("section.decision").first.inner_text()
    walk.page(you, "portal-return-step2")
    you.locator("#description").fill("尺码偏小" if locale == "zh-CN" else "Too small")
    you.locator("#photos").set_input_files(files=[{"name": "tee.png", "mimeType": "image/png", "buffer": PNG}])
    you.get_by_role("button", name=w["submit"]).click()
    you.wait_for_url(re.compile(r"/cases/AS\d+"))
    heading = you.locator("#done-h").inner_text()
    assert w["number"] in heading
    number = re.search(r"AS\d+", heading).group(0)
    walk.page(you, "portal-case-new")

    # An agent signs in and approves it from the queue.
    agent.goto(f"{base}/staff/")
    walk.page(agent, "staff-login")
    agent.locator("#email").fill(f"agent@{code}.test")
    agent.locator("#password").fill("pw-agent")
    agent.get_by_role("button", name=w["sign_in"]).click()
    agent.wait_for_url(re.compile(r"/staff/$"))
    walk.page(agent, "staff-queue")
    agent.get_by_role("link", name=number).click()
    walk.page(agent, "staff-case")
    agent.get_by_role("button", name=w["approve"], exact=True).click()
    agent.wait_for_url(re.compile(rf"/staff/cases/{number}$"))

    # The customer enters the tracking number.
    you.goto(f"{base}/p/{code}/cases/{number}")
    walk.page(you, "portal-case-approved")
    you.locator("#carrier").fill("SF Express 顺丰")
    you.locator("#tracking_number").fill("SF1029384756")
    you.get_by_role("button", name=w["save_tracking"]).click()
    you.wait_for_load_state("networkidle")
    assert w["in_transit"] in you.locator("h1 + p").inner_text()

    # The warehouse finds it waiting, receives and inspects it.
    house_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    house = house_ctx.new_page()
    house.goto(f"{base}/staff/login")
    house.locator("#email").fill(f"warehouse@{code}.test")
    house.locator("#password").fill("pw-warehouse")
    house.get_by_role("button", name=w["sign_in"]).click()
    house.get_by_role("link", name=w["mine"]).click()
    house.get_by_role("link", name=number).click()
    house.get_by_role("button", name=w["receive"]).click()
    house.wait_for_load_state("networkidle")
    walk.page(house, "staff-case-received")
    house.get_by_role("button", name=w["inspect"]).click()
    house.wait_for_load_state("networkidle")

    # The agent carries out the resolution; the customer sees the result.
    agent.reload()
    agent.get_by_role("button", name=w["resolve"], exact=True).click()
    agent.wait_for_load_state("networkidle")
    agent.goto(f"{base}/staff/workflow")
    walk.page(agent, "staff-process")
    you.reload()
    assert w["resolved"] in you.locator("h1 + p").inner_text()
    assert w["done"] in you.locator(".timeline").inner_text()
    walk.page(you, "portal-case-resolved")

    with db.engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM cases WHERE number = :n"), {"n": number}).scalar_one()
        photos = conn.execute(text("SELECT COUNT(*) FROM attachments a JOIN cases c ON c.id = a.case_id "
                                   "WHERE c.number = :n"), {"n": number}).scalar_one()
    assert (state, photos) == ("resolved", 1)
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    for ctx in (customer_ctx, staff_ctx, house_ctx):
        ctx.close()
