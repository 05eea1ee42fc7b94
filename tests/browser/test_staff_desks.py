"""The staff's journeys in headless Chromium, in zh-CN and English, at phone and desktop widths (screenshots and
axe-core on every page): each role signs in and lands on its own desk, which fits a phone without scrolling
sideways; and a faulty coat whose customer accepts an exchange plan is walked from the portal request through the
plan, the one-click change of type, the return parcel found at the receiving desk by its waybill, the "all fine"
inspection, to the replacement shipped and seen by the customer. Button names are read from the catalogs, so the
walk clicks what a person reads."""

from __future__ import annotations

import re

import pytest

from returnflow.pages.frame import gettext
from tests.support.flows import open_for, run
from tests.support.portal import recent_order
from tests.support.walk import DESKTOP, PHONE, Walk, customer_signs_in, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

DESKS = {"agent": r"/staff/\?view=mine$", "warehouse": r"/staff/receiving$", "finance": r"/staff/finance\?view=pay$",
         "supervisor": r"/staff/\?view=approvals$", "admin": r"/staff/(\?view=new)?$"}


def t(locale: str, text: str, **values) -> str:
    return gettext(locale, text) % values if values else gettext(locale, text)


def fits_a_phone(page) -> bool:
    page.set_viewport_size(PHONE)
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.set_viewport_size(DESKTOP)
    return fits


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_each_role_lands_on_its_desk_and_it_fits_a_phone(live, chromium, shots, locale):
    base, db = live
    shop = make_shop(db, "desk-" + locale.lower())
    for i, actions in enumerate(([], ["require_approval"], ["approve"])):
        order = recent_order(db, shop.id, f"DK{i}", customer=f"D{i}", email=f"d{i}@example.com",
                             phone=f"1380000{i:04d}")
        number = open_for(db, shop.actors["agent"], order, "return_refund")
        for action in actions:
            run(db, number, action, shop.actors["supervisor"])
    walk = Walk(locale, shots)
    for role, desk in DESKS.items():
        ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)  # axe is injected
        page = ctx.new_page()
        external = watch_requests(base, page)
        staff_signs_in(page, base, f"{role}@{shop.code}.test", "pw-" + role, t(locale, "Sign in"))
        assert re.search(desk, page.url), (role, page.url)
        assert fits_a_phone(page), role
        walk.page(page, f"staff-desk-{role}")
        assert external == []
        ctx.close()
    assert walk.problems == {}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_a_faulty_coat_is_exchanged_after_the_customer_accepts_the_plan(live, chromium, shots, locale):
    base, db = live
    shop = make_shop(db, "swap-" + locale.lower())
    order = recent_order(db, shop.id, "SW100", customer="SW-1", email=f"swap-{locale}@example.com")
    walk = Walk(locale, shots)
    browser = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    you = browser.new_page()
    external = watch_requests(base, you)

    # The shopper asks for a refund of a faulty coat.
    customer_signs_in(you, base, db, shop.code, order, f"swap-{locale}@example.com", t(locale, "Send me a code"),
                      t(locale, "Continue"))
    you.get_by_role("link", name=t(locale, "Start a return or other request")).click()
    you.locator("#qty_1").fill("1")
    you.locator("#reason").select_option("quality_issue")
    you.get_by_role("button", name=t(locale, "See what our policy says")).click()
    you.locator("#type_refund").check()
    you.locator("#description").fill("拉链坏了" if locale == "zh-CN" else "The zip is broken")
    you.get_by_role("button", name=t(locale, "Submit the request")).click()
    number = re.search(r"[A-Z]{2}\d{10}", you.locator("#done-h").inner_text()).group(0)

    # The agent proposes an exchange instead; the customer accepts it in the portal.
    agent_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    agent = agent_ctx.new_page()
    external += watch_requests(base, agent)
    staff_signs_in(agent, base, f"agent@{shop.code}.test", "pw-agent", t(locale, "Sign in"))
    agent.goto(f"{base}/staff/cases/{number}")
    agent.locator("#plan-kind").select_option("exchange")
    agent.locator("#plan-note").fill("换一件新的，同款同码" if locale == "zh-CN" else "A new coat, same size")
    agent.get_by_role("button", name=t(locale, "Send the plan to the customer")).click()
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    walk.page(you, "portal-plan-offered")
    you.get_by_role("button", name=t(locale, "Accept this plan")).click()

    # One click turns the refund into the exchange the customer accepted; then the agent approves it.
    agent.goto(f"{base}/staff/cases/{number}")
    change = agent.locator("form.one-click button")
    assert t(locale, "Change the case to: %(type)s", type=t(locale, "Exchange")) == change.inner_text()
    walk.page(agent, "staff-case-plan-accepted")
    change.click()
    agent.wait_for_load_state()
    assert t(locale, "Exchange") in agent.locator("main").inner_text()
    agent.get_by_role("button", name=t(locale, "Approve"), exact=True).click()
    agent.wait_for_load_state()

    # The shopper sends the coat back with its waybill.
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    you.locator("#carrier").select_option("SF")
    you.locator("#tracking_number").fill("SF1300200300404")
    you.get_by_role("button", name=t(locale, "Save the tracking number")).click()

    # The warehouse lands on its desk, scans the waybill, records the arrival and finds nothing wrong.
    house_ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    house = house_ctx.new_page()
    external += watch_requests(base, house)
    staff_signs_in(house, base, f"warehouse@{shop.code}.test", "pw-warehouse", t(locale, "Sign in"))
    house.keyboard.type("SF 1300 2003 00404")
    with house.expect_navigation():
        house.keyboard.press("Enter")
    assert number in house.locator("#found-h").inner_text()
    walk.page(house, "staff-receiving-waybill")
    house.get_by_role("button", name=t(locale, "Record the arrival")).click()
    house.get_by_role("link", name=t(locale, "Inspect %(number)s", number=number)).click()
    walk.page(house, "staff-inspection-evidence")
    with house.expect_navigation():
        house.get_by_role("button", name=t(locale, "All fine: record with every answer “yes”")).click()
    assert "answer-yes" in house.content()

    # The agent ships the replacement; the customer sees it on the way.
    agent.goto(f"{base}/staff/cases/{number}")
    form = agent.locator("form[action$='/actions/ship_replacement']")
    form.locator("[name=carrier]").first.select_option("SF") if form.locator("select[name=carrier]").count() else \
        form.locator("[name=carrier]").fill("SF")
    form.locator("[name=tracking_number]").fill("SF9900880077066")
    form.get_by_role("button", name=t(locale, "Ship the replacement")).click()
    agent.wait_for_load_state()
    walk.page(agent, "staff-case-replacement-shipped")
    you.goto(f"{base}/p/{shop.code}/cases/{number}")
    assert t(locale, "The shop sent your item.") in you.locator(".timeline").inner_text()
    walk.page(you, "portal-replacement-shipped")
    assert walk.problems == {}
    assert external == []
    for ctx in (browser, agent_ctx, house_ctx):
        ctx.close()
