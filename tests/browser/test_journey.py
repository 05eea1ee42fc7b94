"""A return walked through in headless Chromium, as people would, in zh-CN and in English: the customer finds
the order with a one-time code, opens a return with a photo after seeing the policy's answer and gets a case
number; an agent approves it from the queue; the customer enters the tracking number; the warehouse scans the parcel
at the receiving desk, records its arrival with a photo and inspects it; the agent requests the refund, a supervisor
approves it and finance pays it in the finance screens; the customer sees "refunded" and rates the service.
Every page is screenshot at phone and desktop widths and checked with axe-core (no serious or critical violations)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from returnflow.logistics.models import ReturnAddress
from tests.support.portal import PNG, last_code, recent_order
from tests.support.returns import WAREHOUSE
from tests.support.walk import DESKTOP, PHONE, Walk, staff_signs_in
from tests.support.world import make_shop

pytestmark = pytest.mark.browser


WORDS = {
    "zh-CN": {"policy_link": "查看本店售后政策", "send_code": "发送验证码", "continue": "继续", "start": "申请退换货或其他售后", "check": "查看售后政策的答复",
              "eligible": "好消息：我们的政策支持这次申请。", "submit": "提交申请", "number": "您的售后单号", "sign_in": "登录", "new_tab": "新申请",
              "approve": "审核通过", "save_tracking": "保存快递单号", "done": "您的申请已处理完成。", "in_transit": "退货运输中",
              "resolved": "已处理", "shop": "示例旗舰店", "receiving": "收货", "desk": "收货台",
              "to_exceptions": "放入异常件队列", "record_arrival": "登记到货", "record_inspection": "登记该行的质检结果",
              "record_disposition": "登记处置方式", "all_disposed": "所有到货商品均已处置。", "refunds": "退款",
              "request_refund": "申请退款 899.00 CNY", "awaiting": "待审批", "finance": "财务",
              "approve_refund": r"批准 RF\d+", "to_pay": "待支付", "pay": r"支付 RF\d+",
              "mark_paid": r"登记 RF\S+ 已付款", "vouchers": "财务凭证", "refunded": "已退款",
              "route": "原路退回到您的支付账户", "rate": "提交评价", "rated": "您给此申请打了 4 分"},
    "en": {"policy_link": "Read our return policy", "send_code": "Send me a code", "continue": "Continue", "start": "Start a return or other request",
           "check": "See what our policy says", "eligible": "Good news: our policy covers this request.", "submit": "Submit the request",
           "number": "Your request number is", "sign_in": "Sign in", "new_tab": "New", "approve": "Approve",
           "save_tracking": "Save the tracking number", "done": "Your request is done.",
           "in_transit": "Return in transit", "resolved": "Resolved",
           "shop": "Demo Outdoor Store", "receiving": "Receiving", "desk": "Receiving desk",
           "to_exceptions": "Put it in the exceptions queue", "record_arrival": "Record the arrival",
           "record_inspection": "Record the inspection of this line", "record_disposition": "Record the disposition",
           "all_disposed": "Every unit that arrived has a disposition.", "refunds": "Refunds",
           "request_refund": "Request the refund of 899.00 CNY", "awaiting": "Awaiting approval",
           "finance": "Finance", "approve_refund": r"Approve RF\d+", "to_pay": "To pay", "pay": r"Pay RF\d+",
           "mark_paid": r"Record RF\S+ as paid", "vouchers": "Vouchers", "refunded": "Refunded",
           "route": "back to your original payment method", "rate": "Send my rating",
           "rated": "You rated this request 4 out of 5"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_return_from_request_to_result(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    code = "demo-" + locale.lower()
    shop = make_shop(db, code, return_address=False)  # the journey sets up its own warehouse below
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE merchants SET name = :n WHERE id = :id"), {"n": w["shop"], "id": shop.id})
    with db.transaction() as session:  # where returns go (the return instructions and the label show it)
        session.add(ReturnAddress(merchant_id=shop.id, code="SH", **WAREHOUSE))
    order = recent_order(db, shop.id, f"DM{shop.id:04d}01", customer=f"C-{locale}", email=f"buyer-{locale}@example.com",
                         lines=(("COAT-M", "羊毛大衣 M码" if locale == "zh-CN" else "Wool coat, M", "899.00", 2),
                                ("MUG", "马克杯" if locale == "zh-CN" else "Enamel mug", "35.50", 1)),
                         paid_total=None)  # paid in full: the refund gives the coat's price back
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

    # Picks the item and the reason, sees the policy's answer in plain words and the outcomes it allows, submits.
    you.get_by_role("link", name=w["start"]).click()
    you.locator("#qty_1").fill("1")
    you.locator("#reason").select_option("no_reason_7day")
    walk.page(you, "portal-return-step1")
    you.get_by_role("button", name=w["check"]).click()
    you.wait_for_url(re.compile(r"/return/check$"))
    lead = you.locator("section.answer-lead").inner_text()
    assert w["eligible"] in lead and "CN1" not in lead  # rule ids stay in staff views
    expect(you.locator("#type_refund")).to_be_checked()
    expect(you.locator("#type_exchange")).to_be_disabled()  # not offered for a no-reason return
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
    agent.wait_for_url(re.compile(r"/staff/\?view=mine$"))  # an agent lands on the cases waiting on them
    agent.locator("nav.tabs").get_by_role("link", name=w["new_tab"], exact=True).click()
    agent.wait_for_url(re.compile(r"view=new"))
    walk.page(agent, "staff-queue")
    agent.get_by_role("link", name=number).click()
    walk.page(agent, "staff-case")
    agent.get_by_role("button", name=w["approve"], exact=True).click()
    agent.wait_for_url(re.compile(rf"/staff/cases/{number}$"))

    # The customer reads how to send it back, prints the label and enters the tracking number.
    you.goto(f"{base}/p/{code}/cases/{number}")
    how = you.locator("#how-to-return").inner_text()
    assert number in how and WAREHOUSE["address"] in how
    label = you.request.get(f"{base}/p/{code}/cases/{number}/return-label.pdf")
    assert label.ok and label.headers["content-type"] == "application/pdf" and label.body().startswith(b"%PDF")
    walk.page(you, "portal-case-approved")
    you.locator("#carrier").select_option("SF")
    you.locator("#tracking_number").fill("SF1029384756123")
    you.get_by_role("button", name=w["save_tracking"]).click()
    you.wait_for_load_state("load")
    assert w["in_transit"] in you.locator("h1 + p").inner_text()

    # The warehouse scans the parcel at the receiving desk (the scanner types the case number and Enter), records
    # its arrival with a photo from the phone camera, and inspects it with the category's checklist and a photo.
    house_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    house = house_ctx.new_page()
    house.on("request", lambda r: None if r.url.startswith(local) else external.append(r.url))
    staff_signs_in(house, base, f"warehouse@{code}.test", "pw-warehouse", w["sign_in"])
    house.locator("nav.nav").get_by_role("link", name=w["receiving"]).click()
    house.wait_for_url(re.compile(r"/staff/receiving$"))
    assert house.evaluate("document.activeElement.id") == "code"  # the scanner types straight in
    house.keyboard.type("YT0000000042")  # a parcel with no case on it first: it goes to the exceptions queue
    house.keyboard.press("Enter")
    house.wait_for_url(re.compile(r"code=YT0000000042"))
    house.get_by_role("button", name=w["to_exceptions"]).click()
    house.wait_for_url(re.compile(r"/staff/receiving/exceptions$"))
    assert "YT0000000042" in house.locator("main").inner_text()
    walk.page(house, "staff-receiving-exceptions")
    house.get_by_role("link", name=w["desk"]).click()
    house.wait_for_url(re.compile(r"/staff/receiving$"))
    walk.page(house, "staff-receiving")
    house.locator("#code").focus()
    house.keyboard.type(number)
    house.keyboard.press("Enter")
    house.wait_for_url(re.compile(rf"code={number}"))
    house.locator("#photos").set_input_files(files=[{"name": "parcel.png", "mimeType": "image/png", "buffer": PNG}])
    walk.page(house, "staff-receiving-found")
    house.get_by_role("button", name=w["record_arrival"]).click()
    house.wait_for_url(re.compile(rf"done={number}"))
    assert house.evaluate("document.activeElement.id") == "code"  # ready for the next parcel
    house.get_by_role("link", name=re.compile(number)).first.click()
    house.wait_for_url(re.compile(rf"/staff/warehouse/cases/{number}$"))
    form = house.locator("form[action$='/inspections']")
    for radio in form.locator("input[type=radio][value=yes]").all():
        radio.check()
    form.locator("select[name=grade]").select_option("A")
    form.locator("input[type=file]").set_input_files(files=[{"name": "coat.png", "mimeType": "image/png",
                                                             "buffer": PNG}])
    walk.page(house, "staff-inspection")
    form.get_by_role("button", name=w["record_inspection"]).click()
    house.locator("select[name=kind]").wait_for()  # inspected: where the unit goes is asked next
    house.locator("select[name=kind]").select_option("restock")
    house.get_by_role("button", name=w["record_disposition"]).click()
    house.wait_for_load_state("load")
    assert w["all_disposed"] in house.locator("main").inner_text()
    walk.page(house, "staff-inspection-done")

    # The agent requests the refund from the case page; it is above the agent's limit, so a supervisor approves
    # it in the finance screen, and finance pays it (by hand: the bank reference) there.
    agent.reload()
    agent.get_by_role("link", name=w["refunds"], exact=True).click()
    agent.wait_for_url(re.compile(rf"/staff/finance/cases/{number}$"))
    walk.page(agent, "staff-case-refunds")
    agent.get_by_role("button", name=re.compile(w["request_refund"])).click()
    agent.wait_for_load_state("load")
    assert w["awaiting"] in agent.locator("main").inner_text()
    boss_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    boss = boss_ctx.new_page()
    staff_signs_in(boss, base, f"supervisor@{code}.test", "pw-supervisor", w["sign_in"])
    boss.locator("nav.nav").get_by_role("link", name=w["finance"]).click()
    walk.page(boss, "staff-finance-approve")
    boss.get_by_role("button", name=re.compile(w["approve_refund"])).click()
    boss.wait_for_load_state("load")
    money_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    money = money_ctx.new_page()
    money.on("request", lambda r: None if r.url.startswith(local) else external.append(r.url))
    staff_signs_in(money, base, f"finance@{code}.test", "pw-finance", w["sign_in"])
    money.locator("nav.nav").get_by_role("link", name=w["finance"]).click()
    money.get_by_role("link", name=re.compile(w["to_pay"])).click()
    # A manual leg is paid by hand and recorded in one step with its reference (no separate Pay button).
    money.locator("input[name=reference]").fill("ICBC-20261125-0001")
    walk.page(money, "staff-finance-pay")
    money.get_by_role("button", name=re.compile(w["mark_paid"])).click()
    money.wait_for_load_state("load")
    money.get_by_role("link", name=w["vouchers"]).click()
    money.wait_for_url(re.compile(r"/staff/finance/vouchers"))
    assert number in money.locator("main").inner_text()
    walk.page(money, "staff-finance-vouchers")

    # The case is resolved by the payment; the customer sees the result.
    agent.goto(f"{base}/staff/workflow")
    walk.page(agent, "staff-process")
    you.reload()
    assert w["resolved"] in you.locator("h1 + p").inner_text()
    assert w["done"] in you.locator(".timeline").inner_text()
    refunded = you.locator("#refunded-h + p").inner_text()
    assert "899.00" in refunded and w["route"] in refunded
    assert w["refunded"] in you.locator(".timeline").inner_text()
    walk.page(you, "portal-case-resolved")
    # ... and rates the service.
    you.locator("input[name=score][value='4']").check()
    you.locator("#comment").fill("退款很快" if locale == "zh-CN" else "Quick refund")
    you.get_by_role("button", name=w["rate"]).click()
    you.wait_for_load_state("load")
    assert w["rated"] in you.locator("#rating").inner_text()

    with db.engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM cases WHERE number = :n"), {"n": number}).scalar_one()
        photos = conn.execute(text("SELECT COUNT(*) FROM attachments a JOIN cases c ON c.id = a.case_id "
                                   "WHERE c.number = :n"), {"n": number}).scalar_one()
        refund = conn.execute(text("SELECT r.state, r.amount FROM refunds r JOIN cases c ON c.id = r.case_id "
                                   "WHERE c.number = :n"), {"n": number}).one()
        paid = conn.execute(text("SELECT p.reference FROM refund_payments p JOIN refunds r ON r.id = p.refund_id "
                                 "JOIN cases c ON c.id = r.case_id WHERE c.number = :n"), {"n": number}).scalars().all()
        score = conn.execute(text("SELECT s.score FROM survey_responses s JOIN cases c ON c.id = s.case_id "
                                  "WHERE c.number = :n"), {"n": number}).scalar_one()
    # the customer's photo, the parcel's and the inspection's; 899.00 refunded and paid with the bank reference
    assert (state, photos) == ("resolved", 3)
    assert tuple(refund) == ("completed", 89900) and paid == ["ICBC-20261125-0001"]
    assert score == 4
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    for ctx in (customer_ctx, staff_ctx, house_ctx, boss_ctx, money_ctx):
        ctx.close()
