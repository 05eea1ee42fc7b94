"""The shopper's request form in headless Chromium, phone and desktop, zh-CN and English: (1) a no-reason return
reaches its case number in at most 4 screens after sign-in, is approved at once, refunded and rated; (2) a faulty
item past the no-reason window can only be exchanged or repaired, the shopper picks a size with its price
difference, and staff ship that size. Product photos come from a stand-in image host (its own local process)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from returnflow.db import utcnow
from tests.support.flows import run
from tests.support.portal import png
from tests.support.processes import _wait_port, free_port, stop
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"send_code": "发送验证码", "continue": "继续", "sign_in": "登录", "start": "申请退换货或其他售后",
              "check": "查看售后政策的答复", "submit": "提交申请", "number": "您的售后单号",
              "good": "好消息：我们的政策支持这次申请。", "approved": "您的申请一提交即已按政策自动同意。",
              "refund": "退款最多 ¥35.50。", "refunded": "已退款", "rate": "提交评价", "rated": "您给此申请打了 5 分",
              "window": "退换期截止", "diff_more": "需补差价 ¥60.00", "same": "价格相同", "sold_out": "已售罄",
              "ship": "发出换货/补发", "sent": "商家已给您发货。", "exchange_for": "换成：尺码 L · 颜色 灰",
              "staff_variant": "换成："},
    "en": {"send_code": "Send me a code", "continue": "Continue", "sign_in": "Sign in",
           "start": "Start a return or other request", "check": "See what our policy says",
           "submit": "Submit the request", "number": "Your request number is",
           "good": "Good news: our policy covers this request.",
           "approved": "Our policy approved your request as soon as you sent it.",
           "refund": "A refund can be up to CN¥35.50.", "refunded": "Refunded", "rate": "Send my rating",
           "rated": "You rated this request 5 out of 5", "window": "Return window closes",
           "diff_more": "you pay CN¥60.00 more", "same": "same price", "sold_out": "sold out",
           "ship": "Ship the replacement", "sent": "The shop sent your item.",
           "exchange_for": "exchange for: 尺码 L · 颜色 灰", "staff_variant": "Exchange for:"},
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The shop's image host: a plain HTTP server in its own process, serving one product photo."""
    folder = tmp_path_factory.mktemp("cdn")
    (folder / "coat.png").write_bytes(png(160, 160))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(folder)], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_port(port, proc, "image host")
    yield f"http://127.0.0.1:{port}"
    stop(proc)


def push(base: str, shop, number: str, customer: str, image: str, days_ago: int) -> None:
    delivered = utcnow() - timedelta(days=days_ago)
    body = {"number": number, "currency": "CNY",
            "customer": {"id": customer, "name": "王芳", "email": f"{customer}@example.com"},
            "ordered_at": (delivered - timedelta(days=3)).isoformat(), "delivered_at": delivered.isoformat(),
            "signed_at": delivered.isoformat(),
            "lines": [{"sku": "COAT-M", "title": "羊毛大衣 M", "category": "apparel", "unit_price": "899.00",
                       "quantity": 1, "image_url": f"{image}/coat.png", "variants": [
                           {"sku": "COAT-L", "attributes": {"尺码": "L", "颜色": "灰"}, "price": "899.00",
                            "available": 4},
                           {"sku": "COAT-XL", "attributes": {"尺码": "XL", "颜色": "灰"}, "price": "959.00",
                            "available": 0},
                           {"sku": "COAT-XXL", "attributes": {"尺码": "XXL", "颜色": "灰"}, "price": "959.00",
                            "available": 2}]},
                      {"sku": "MUG", "title": "马克杯", "category": "apparel", "unit_price": "35.50", "quantity": 2}]}
    pushed = httpx.post(f"{base}/api/v1/orders", json=body, headers=shop.headers("admin"), timeout=60)
    assert pushed.status_code == 200, pushed.text


def local_only(*pages) -> list[str]:
    """Every request that leaves 127.0.0.1 (there must be none)."""
    external: list[str] = []
    for page in pages:
        page.on("request", lambda r: None if re.match(r"(https?://127\.0\.0\.1[:/]|data:|blob:)", r.url)
                else external.append(r.url))
    return external


def step_to_returned(db, shop, number: str) -> None:
    """The parcel comes back and passes inspection (the warehouse's own screens are walked elsewhere)."""
    run(db, number, "ship_return", shop.actors["agent"])
    case = run(db, number, "receive", shop.actors["warehouse"], {})
    run(db, number, "inspect", shop.actors["warehouse"],
        {"lines": [{"line_id": case.lines[0].id, "quantity": case.lines[0].quantity, "verdict": "ok"}]})


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_no_reason_return_in_four_screens_to_refund_and_rating(live, chromium, images, shots, locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "j1-" + locale.lower())
    order, customer = f"J1{shop.id:04d}", f"C{shop.id}"
    push(base, shop, order, customer, images, days_ago=2)
    walk = Walk(locale, shots)
    ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    you = ctx.new_page()
    external = local_only(you)
    customer_signs_in(you, base, db, shop.code, order, f"{customer}@example.com", w["send_code"], w["continue"])

    screens = [you.url]  # the orders list is the first screen after sign-in
    you.on("framenavigated", lambda frame: screens.append(frame.url) if frame == you.main_frame else None)
    expect(you.locator("p.window")).to_contain_text(w["window"])
    walk.page(you, "form-orders")
    you.get_by_role("link", name=w["start"]).click()
    you.wait_for_url(re.compile(r"/return$"))
    expect(you.locator("img.thumb")).to_have_attribute("src", f"{images}/coat.png")
    assert you.locator("img.thumb").evaluate("img => img.naturalWidth") == 160  # the shop's photo loaded
    you.locator("[data-stepper]").nth(1).locator("button[data-step='1']").click()  # + on the mug, no typing
    expect(you.locator("#qty_2")).to_have_value("1")
    you.locator("#reason").select_option("no_reason_7day")
    walk.page(you, "form-step1")
    you.get_by_role("button", name=w["check"]).click()
    you.wait_for_url(re.compile(r"/return/check$"))
    lead = you.locator("section.answer-lead").inner_text()
    assert w["good"] in lead and w["refund"] in lead and "CN1" not in lead
    expect(you.locator("details.why")).not_to_have_attribute("open", "")  # the reasons fold under "why"
    expect(you.locator("#type_refund")).to_be_checked()
    expect(you.locator("#type_exchange")).to_be_disabled()
    walk.page(you, "form-step2")
    you.get_by_role("button", name=w["submit"]).click()
    you.wait_for_url(re.compile(r"/cases/AS\d+"))
    heading = you.locator("#done-h").inner_text()
    assert w["number"] in heading and w["approved"] in you.locator("section.success").inner_text()
    number = re.search(r"AS\d+", heading).group(0)
    walk.page(you, "form-case-new")
    unique = list(dict.fromkeys(screens))
    assert len(unique) <= 4, unique  # landing (signed in) to case number: orders, items, answer, case

    # Back at the warehouse, inspected; finance pays the refund; the shopper sees it and rates the service.
    step_to_returned(db, shop, number)
    api = httpx.Client(base_url=base, timeout=60)
    made = api.post(f"/api/v1/cases/{number}/refunds", json={"amount": "35.50"}, headers=shop.headers("agent"))
    assert made.status_code == 201, made.text
    leg = made.json()["payments"][0]["number"]
    paid = api.post(f"/api/v1/refund-payments/{leg}/mark-paid", json={"reference": "BANK-9"},
                    headers=shop.headers("finance"))
    assert paid.status_code == 200, paid.text
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    assert w["refunded"] in you.locator("#refunded-h").inner_text()
    # The rating is the first card under the request; no uploader on a finished case.
    expect(you.locator("section.rating-card")).to_be_visible()
    first = you.locator("main section.card").first
    assert first.get_attribute("id") == "rating"
    expect(you.locator("input[type=file]")).to_have_count(0)
    walk.page(you, "form-case-resolved")
    you.locator("input[name=score][value='5']").check()
    you.get_by_role("button", name=w["rate"]).click()
    you.wait_for_load_state("load")
    assert w["rated"] in you.locator("#rating").inner_text()
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    api.close()
    ctx.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_faulty_item_past_the_window_exchanged_for_a_size_and_shipped(live, chromium, images, shots, locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "j2-" + locale.lower())
    order, customer = f"J2{shop.id:04d}", f"C{shop.id}"
    push(base, shop, order, customer, images, days_ago=10)
    walk = Walk(locale, shots)
    you_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    staff_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    you, agent = you_ctx.new_page(), staff_ctx.new_page()
    external = local_only(you, agent)
    customer_signs_in(you, base, db, shop.code, order, f"{customer}@example.com", w["send_code"], w["continue"])

    you.get_by_role("link", name=w["start"]).click()
    you.locator("[data-stepper]").first.locator("button[data-step='1']").click()
    expect(you.locator("#qty_1")).to_have_value("1")
    you.locator("#reason").select_option("quality_issue")
    you.get_by_role("button", name=w["check"]).click()
    you.wait_for_url(re.compile(r"/return/check$"))
    # Past the no-reason window a refund is not offered; the sentence says why.
    expect(you.locator("#type_refund")).to_be_disabled()
    assert you.locator("#why_refund").inner_text().strip()
    expect(you.locator("#type_exchange")).to_be_enabled()
    expect(you.locator("#type_exchange")).to_be_checked()  # the first outcome the policy allows
    expect(you.locator(".variant-pick")).to_be_visible()  # sizes are shown while an exchange is chosen
    picks = you.locator(".variant-pick").inner_text()
    assert w["same"] in picks and w["diff_more"] in picks and w["sold_out"] in picks
    expect(you.locator("input[value='COAT-XL']")).to_be_disabled()
    you.locator("input[value='COAT-L']").check()
    you.locator("#description").fill("袖口开线" if locale == "zh-CN" else "The cuff seam came apart")
    walk.page(you, "form-exchange-step2")
    you.get_by_role("button", name=w["submit"]).click()
    you.wait_for_url(re.compile(r"/cases/AS\d+"))
    number = re.search(r"AS\d+", you.locator("#done-h").inner_text()).group(0)
    assert w["exchange_for"] in you.locator("ul.lines").inner_text()
    walk.page(you, "form-exchange-case")

    # The agent sees the chosen size, approves; once the original is back and inspected, ships the new size.
    staff_signs_in(agent, base, f"agent@{shop.code}.test", "pw-agent", w["sign_in"])
    agent.goto(f"{base}/staff/cases/{number}")
    assert "COAT-L" in agent.locator(".variant-chosen").inner_text()
    assert w["staff_variant"] in agent.locator(".variant-chosen").inner_text()
    run(db, number, "approve", shop.actors["agent"])
    step_to_returned(db, shop, number)
    agent.reload()
    if not agent.locator("#ship_replacement-carrier").is_visible():  # the next step's form is open already
        agent.locator("details.action summary", has_text=w["ship"]).click()
    agent.locator("#ship_replacement-carrier").fill("SF")
    agent.locator("#ship_replacement-tracking_number").fill("SF2233445566778")
    agent.locator("details.action[open] button[type=submit]").click()
    agent.wait_for_url(re.compile(rf"/staff/cases/{number}$"))
    walk.page(agent, "form-exchange-staff")
    with db.engine.connect() as conn:
        payload = conn.execute(text("SELECT e.payload FROM case_events e JOIN cases c ON c.id = e.case_id "
                                    "WHERE c.number = :n AND e.action = 'ship_replacement'"), {"n": number}).scalar_one()
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert [(i["sku"], i["returned_sku"], i["quantity"]) for i in payload["items"]] == [("COAT-L", "COAT-M", 1)]
    you.reload()
    assert w["sent"] in you.locator(".timeline").inner_text()
    walk.page(you, "form-exchange-shipped")
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    for ctx in (you_ctx, staff_ctx):
        ctx.close()
