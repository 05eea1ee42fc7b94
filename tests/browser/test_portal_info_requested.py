"""Information requested and answered with a photo, in headless Chromium, in zh-CN and English: the agent writes an
internal note, escalates with an internal reason and asks the customer for information; the customer (phone width)
reads the request, answers with a photo, and never sees the note or the reason; the agent sees the answer, the photo
and the case back in review, the internal items marked. Screenshots at phone and desktop widths; axe-core finds no
serious or critical violations; no request leaves the machine."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

from tests.support.portal import png, recent_order
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"send_code": "发送验证码", "continue": "继续", "sign_in": "登录", "needs": "商家需要您补充资料",
              "sent": "您已补充资料。", "answered": "顾客已答复", "internal": "仅员工可见", "shared": "顾客可见",
              "ask": "请拍一张吊牌和洗标的照片", "answer": "照片已上传，吊牌完好", "review": "待审核"},
    "en": {"send_code": "Send me a code", "continue": "Continue", "sign_in": "Sign in",
           "needs": "The shop needs more information", "sent": "You sent the information.",
           "answered": "The customer answered", "internal": "Internal", "shared": "Shown to the customer",
           "ask": "Please send a photo of the tag and the care label", "answer": "Here is the photo, the tag is on",
           "review": "Pending review"},
}


def submit(page, action: str) -> None:
    page.locator(f"form[action$='/actions/{action}'] button[type=submit]").click()
    page.wait_for_load_state("load")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_information_requested_and_answered_with_a_photo(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "info-" + locale.lower())
    order, customer = f"IR{shop.id:04d}", f"C{shop.id}"
    recent_order(db, shop.id, order, customer=customer, email=f"{customer}@example.com")
    api = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {shop.tokens['agent']}"})
    opened = api.post("/api/v1/cases", json={"order": order, "type": "return_refund", "channel": "portal",
                                             "reason": "wrong_size", "lines": [{"line_no": 1, "quantity": 1}]})
    assert opened.status_code == 201 and opened.json()["state"] == "pending_review", opened.text
    number = opened.json()["number"]
    note, reason = f"NOTE-{uuid.uuid4().hex[:8]}", f"REASON-{uuid.uuid4().hex[:8]}"
    walk = Walk(locale, shots)
    staff_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    customer_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    agent, you = staff_ctx.new_page(), customer_ctx.new_page()
    external = watch_requests(base, agent, you)

    # The agent notes something for colleagues, escalates with an internal reason, then asks the customer.
    staff_signs_in(agent, base, f"agent@{shop.code}.test", "pw-agent", w["sign_in"])
    agent.goto(f"{base}/staff/cases/{number}")
    agent.locator("#note-text").fill(note)
    submit(agent, "note")
    agent.locator("details:has(form[action$='/actions/escalate']) summary").click()
    agent.locator("#escalate-reason").fill(reason)
    submit(agent, "escalate")
    agent.locator("details:has(form[action$='/actions/request_info']) summary").click()
    agent.locator("#request_info-message").fill(w["ask"])
    submit(agent, "request_info")

    # The customer reads what the shop needs (and nothing internal), answers and adds a photo.
    customer_signs_in(you, base, db, shop.code, order, f"{customer}@example.com", w["send_code"], w["continue"])
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    asked = you.locator("section:has(#asked-h)").inner_text()
    assert w["needs"] in asked and w["ask"] in asked
    assert note not in you.content() and reason not in you.content()
    walk.page(you, "portal-case-info-requested")
    you.locator("#body").fill(w["answer"])
    you.locator("#message-files").set_input_files(files=[{"name": "tag.png", "mimeType": "image/png",
                                                          "buffer": png(120, 90)}])
    you.locator("form[action$='/messages'] button[type=submit]").click()
    you.wait_for_url(re.compile(rf"/cases/{number}"))
    you.wait_for_load_state("load")
    assert you.locator("section:has(#asked-h)").count() == 0  # answered: the request card is gone
    assert w["sent"] in you.locator(".timeline").inner_text()
    messages = you.locator("#messages").inner_text()
    assert w["answer"] in messages and "tag.png" in messages
    assert you.locator("#files img").count() == 1
    assert note not in you.content() and reason not in you.content()
    walk.page(you, "portal-case-info-answered")

    # The agent sees the answer with its photo, the case back in review, and the internal items marked.
    agent.reload()
    assert w["answer"] in agent.locator("#messages").inner_text()
    assert "tag.png" in agent.locator("#messages").inner_text()
    assert w["review"] in agent.locator("h1").inner_text()
    assert w["answered"] in agent.locator(".timeline").inner_text()
    internal = agent.locator(".timeline li.internal").all_inner_texts()
    assert any(note in item for item in internal) and any(reason in item for item in internal)
    assert w["internal"] in " ".join(internal)
    photo = agent.locator("ul.gallery li", has_text="tag.png")
    assert photo.locator(".badge.shared").inner_text() == w["shared"]
    photo.locator("img").scroll_into_view_if_needed()
    agent.wait_for_function("img => img.complete && img.naturalWidth === 120",
                            arg=photo.locator("img").element_handle())
    walk.page(agent, "staff-case-info-answered")

    cookies = {c["name"]: c["value"] for c in customer_ctx.cookies()}
    image = httpx.get(base + you.locator("#files img").get_attribute("src"), cookies=cookies, timeout=60)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    api.close()
    for ctx in (staff_ctx, customer_ctx):
        ctx.close()
