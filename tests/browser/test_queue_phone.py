"""The agents' queue in headless Chromium: on a phone (390 px) it is a list of cards that never scrolls sideways,
with the deadline marks in words; on a desktop it stays a table. zh-CN and English, screenshots and axe-core."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from returnflow.db import utcnow
from tests.support.portal import recent_order
from tests.support.walk import DESKTOP, PHONE, Walk, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {"zh-CN": {"sign_in": "登录", "overdue": "已超时", "take": "领取"},
         "en": {"sign_in": "Sign in", "overdue": "Overdue", "take": "Take this case"}}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_queue_is_a_list_of_cards_on_a_phone(live, chromium, shots, locale):
    from tests.support.flows import open_for

    base, db = live
    w = WORDS[locale]
    shop = make_shop(db, "phone-" + locale.lower())
    numbers = []
    for i in range(3):
        order = recent_order(db, shop.id, f"PH{shop.id:03d}{i}", customer=f"P{shop.id}-{i}",
                             email=f"p{shop.id}-{i}@example.com", phone=f"1370000{shop.id:02d}{i:02d}")
        numbers.append(open_for(db, shop.actors["agent"], order, "return_refund"))
    with db.engine.begin() as conn:  # one case's review deadline has passed
        conn.execute(text("UPDATE sla_timers SET due_at = :due WHERE kind = 'review.due' AND case_id = "
                          "(SELECT id FROM cases WHERE number = :n)"),
                     {"due": utcnow() - timedelta(hours=3), "n": numbers[0]})
    walk = Walk(locale, shots)
    ctx = chromium.new_context(locale=locale, viewport=PHONE, bypass_csp=True)
    page = ctx.new_page()
    external = watch_requests(base, page)
    staff_signs_in(page, base, f"agent@{shop.code}.test", "pw-agent", w["sign_in"])
    assert re.search(r"/staff/\?view=mine$", page.url)
    page.goto(f"{base}/staff/?view=open")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    row = page.locator("tr", has_text=numbers[0])
    assert row.evaluate("r => getComputedStyle(r).display") == "grid"  # a card, not a table row
    assert w["overdue"] in row.inner_text()  # the mark is a word, not only a colour
    assert page.locator("table.queue thead").evaluate("h => h.getBoundingClientRect().height") <= 1
    walk.page(page, "staff-queue-phone")

    page.set_viewport_size(DESKTOP)
    assert page.locator("tr", has_text=numbers[1]).evaluate("r => getComputedStyle(r).display") == "table-row"
    page.set_viewport_size(PHONE)
    # Taking a case from its card: it then waits on me.
    page.locator("tr", has_text=numbers[1]).get_by_role("button", name=w["take"]).click()
    page.wait_for_load_state("load")
    page.goto(f"{base}/staff/?view=mine")
    assert numbers[1] in page.locator("#queue").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    assert external == [], f"requests left this machine: {external}"
    assert walk.problems == {}, json.dumps(walk.problems, ensure_ascii=False, indent=1)
    ctx.close()
