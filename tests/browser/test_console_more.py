"""The console's work features in headless Chromium, in zh-CN and English: the due-soon and overdue queues read
from the SLA timers, a reply template (话术) picked into the reply with the case filled in, and a hand-off to the
supplier-appraisal team that shows in that team's queue and never to the customer. Screenshots and axe-core."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from returnflow.db import utcnow
from tests.support.portal import recent_order
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"sign_in": "登录", "due_soon": "即将到期", "overdue": "已超时", "hand_off": "转交", "send": "发送",
              "supplier": "供应商鉴定", "send_code": "发送验证码", "continue": "继续", "note": "开线，请供应商鉴定批次 7"},
    "en": {"sign_in": "Sign in", "due_soon": "Due soon", "overdue": "Overdue", "hand_off": "Hand off",
           "send": "Send", "supplier": "Supplier appraisal", "send_code": "Send me a code", "continue": "Continue", "note": "Seam torn; supplier to appraise lot 7"},
}


def open_case(db, shop, order: str) -> str:
    from tests.support.flows import open_for

    return open_for(db, shop.actors["agent"], order, "return_refund")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_deadline_queues_reply_templates_and_a_hand_off(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "desk-" + locale.lower())
    numbers = []
    for i in range(3):
        order = recent_order(db, shop.id, f"DK{shop.id:03d}{i}", customer=f"K{shop.id}-{i}",
                             email=f"k{shop.id}-{i}@example.com", phone=f"1390000{shop.id:02d}{i:02d}")
        numbers.append(open_case(db, shop, order))
    soon, late, calm = numbers
    # The review clock of one case ends within its reminder window, another's has passed (the worker has not
    # escalated it yet), the third has days left.
    with db.engine.begin() as conn:
        for number, due in ((soon, utcnow() + timedelta(hours=1)), (late, utcnow() - timedelta(hours=5)),
                            (calm, utcnow() + timedelta(days=3))):
            conn.execute(text("UPDATE sla_timers SET due_at = :due WHERE kind = 'review.due' AND case_id = "
                              "(SELECT id FROM cases WHERE number = :n)"), {"due": due, "n": number})
    walk = Walk(locale, shots)
    ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    agent = ctx.new_page()
    external = watch_requests(base, agent)
    staff_signs_in(agent, base, f"agent@{shop.code}.test", "pw-agent", w["sign_in"])

    agent.get_by_role("link", name=w["due_soon"], exact=True).click()
    agent.wait_for_url(re.compile(r"view=due_soon"))
    queue = agent.locator("#queue").inner_text()
    assert soon in queue and late not in queue and calm not in queue
    walk.page(agent, "staff-queue-due-soon")
    agent.get_by_role("link", name=w["overdue"], exact=True).click()
    agent.wait_for_url(re.compile(r"view=overdue"))
    queue = agent.locator("#queue").inner_text()
    assert late in queue and soon not in queue and calm not in queue
    walk.page(agent, "staff-queue-overdue")

    # On the overdue case: a reply from a template, then a hand-off to supplier appraisal.
    agent.get_by_role("link", name=late).click()
    agent.wait_for_url(re.compile(rf"/staff/cases/{late}"))
    # The customer's language is zh-CN: the reply is filled in theirs; the template is named in the agent's.
    assert agent.locator("#template option[value=greeting]").inner_text() == ("问候" if locale == "zh-CN" else "Greeting")
    agent.locator("#template").select_option("greeting")
    reply = agent.locator("#reply").input_value()
    assert late in reply and "{number}" not in reply and "您好" in reply
    agent.get_by_role("button", name=w["send"], exact=True).click()
    agent.wait_for_load_state("load")
    agent.locator("#ho-team").select_option("supplier")
    agent.locator("#ho-note").fill(w["note"])
    agent.get_by_role("button", name=w["hand_off"], exact=True).click()
    agent.wait_for_load_state("load")
    assert w["note"] in agent.locator("#handoffs").inner_text()
    walk.page(agent, "staff-case-handoff")
    agent.goto(f"{base}/staff/handoffs?team=supplier")
    assert late in agent.locator("main").inner_text() and w["note"] in agent.locator("main").inner_text()
    walk.page(agent, "staff-handoffs")

    # The customer sees the reply, never the hand-off.
    customer_ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    you = customer_ctx.new_page()
    external += watch_requests(base, you)
    customer_signs_in(you, base, db, shop.code, f"DK{shop.id:03d}1", f"k{shop.id}-1@example.com", w["send_code"],
                      w["continue"])
    you.goto(f"{base}/p/{shop.code}/cases/{late}")
    page = you.locator("main").inner_text()
    assert late in page and "您的售后单号是" in page and w["note"] not in page

    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    for c in (ctx, customer_ctx):
        c.close()
