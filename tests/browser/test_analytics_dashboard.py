"""The analytics dashboard in the staff console, in headless Chromium, in zh-CN and English: a manager signs in,
opens the dashboard from the navigation, filters it by category, drills down from a figure to the cases behind it
and from there to a case page. Each page is screenshot at phone and desktop widths and checked with axe-core."""

from __future__ import annotations

import re

import pytest

from tests.support.walk import DESKTOP, Walk
from tests.support.flows import open_for, run
from tests.support.portal import recent_order
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"analytics": "数据分析", "title": "售后分析", "category": "品类", "apply": "应用", "view": "查看售后单",
              "behind": "数字背后的售后单", "sign_in": "登录"},
    "en": {"analytics": "Analytics", "title": "Returns analytics", "category": "Category", "apply": "Apply",
           "view": "View cases", "behind": "Cases behind the figure", "sign_in": "Sign in"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_manager_filters_the_dashboard_and_drills_down_to_a_case(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    code = "stats-" + locale.lower()
    shop = make_shop(db, code)
    numbers = []
    for i in range(3):
        order = recent_order(db, shop.id, f"ST{shop.id:03d}{i}", customer=f"S-{locale}-{i}",
                             email=f"s{i}-{locale}@example.com")
        numbers.append(open_for(db, shop.actors["agent"], order, "return_refund", reason="quality_issue"))
    run(db, numbers[0], "approve", shop.actors["agent"])
    walk = Walk("analytics-" + locale.lower(), shots)
    context = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    external = []
    page.on("request", lambda r: None if r.url.startswith((base, "data:")) else external.append(r.url))

    page.goto(f"{base}/staff/analytics")
    page.wait_for_url(re.compile(r"/staff/login\?next=/staff/analytics"))
    page.locator("#email").fill(f"supervisor@{code}.test")
    page.locator("#password").fill("pw-supervisor")
    page.get_by_role("button", name=w["sign_in"]).click()
    page.wait_for_url(re.compile(r"/staff/analytics$"))
    nav = page.get_by_role("navigation").first
    assert nav.get_by_role("link", name=w["analytics"]).get_attribute("aria-current") == "page"
    assert page.get_by_role("heading", level=1).inner_text() == w["title"]
    walk.page(page, "dashboard")

    page.get_by_label(w["category"]).fill("apparel")
    page.get_by_role("button", name=w["apply"]).click()
    page.wait_for_url(re.compile(r"category=apparel"))
    assert page.get_by_label(w["category"]).input_value() == "apparel"
    top = page.locator("section#top_returns")
    assert "COAT-M" in top.inner_text()
    walk.page(page, "dashboard-filtered")

    top.get_by_role("link", name=re.compile(w["view"])).first.click()
    page.wait_for_url(re.compile(r"/staff/analytics/cases\?"))
    assert page.get_by_role("heading", level=1).inner_text() == w["behind"]
    listed = page.locator("main table").inner_text()
    assert all(number in listed for number in numbers)
    walk.page(page, "cases")

    page.get_by_role("link", name=numbers[0]).click()
    page.wait_for_url(re.compile(rf"/staff/cases/{numbers[0]}$"))
    assert numbers[0] in page.locator("main").inner_text()
    context.close()
    assert external == [], external
    assert walk.problems == {}, walk.problems
