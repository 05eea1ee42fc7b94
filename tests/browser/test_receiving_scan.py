"""The receiving desk's scan field in headless Chromium, as a barcode scanner uses it (types the code, then Enter):
two scans in a row each find their own case, and after every lookup — found or not, and after "back" — the field
is empty and focused, so a scan is never glued onto the last one. And the inspection's "all fine" button, whose
form the page sends by script."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from returnflow.warehouse import receiving
from returnflow.warehouse.models import Inspection
from tests.support.flows import open_for, run
from tests.support.portal import recent_order
from tests.support.walk import DESKTOP, Walk, staff_signs_in, watch_requests
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

SIGN_IN = {"zh-CN": "登录", "en": "Sign in"}


def awaiting_parcel(db, shop, i: int, carrier: str, waybill: str) -> str:
    order = recent_order(db, shop.id, f"RS{shop.id:03d}{i}", customer=f"R{shop.id}-{i}",
                         email=f"r{shop.id}-{i}@example.com", phone=f"1370000{shop.id:02d}{i:02d}")
    number = open_for(db, shop.actors["agent"], order, "return_refund")
    run(db, number, "approve", shop.actors["agent"])
    # Recorded by staff as a plain action, as the case page does: the desk finds it by this waybill.
    run(db, number, "ship_return", shop.actors["agent"], {"carrier": carrier, "tracking_number": waybill})
    return number


def state_of_field(page) -> tuple[str, str]:
    return page.locator("#code").input_value(), page.evaluate("document.activeElement && document.activeElement.id")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_two_scans_in_a_row_each_find_their_own_case_and_the_field_is_empty_and_focused(
        live, chromium, shots, locale):
    base, db = live
    shop = make_shop(db, "scan-" + locale.lower())
    first = awaiting_parcel(db, shop, 1, "SF", "SF1000200030004")
    second = awaiting_parcel(db, shop, 2, "YTO", "YT2000300040005")
    ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)  # axe is injected
    page = ctx.new_page()
    external = watch_requests(base, page)
    staff_signs_in(page, base, f"warehouse@{shop.code}.test", "pw-warehouse", SIGN_IN[locale])
    page.goto(f"{base}/staff/receiving")
    assert state_of_field(page) == ("", "code")  # ready for the scanner without a click

    for waybill, number in (("SF1000200030004", first), ("yt 2000 3000 4000 5", second)):
        page.keyboard.type(waybill)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "code=" in page.url
        found = page.locator("#found-h").inner_text()
        assert number in found, (waybill, found)
        assert page.locator("input[name=case]").input_value() == number
        assert state_of_field(page) == ("", "code"), waybill

    # A code that matches nothing: said so, and the field is ready for the next parcel all the same.
    page.keyboard.type("NOTHING-42")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("code=NOTHING-42")
    assert "NOTHING-42" in page.locator("#none-h").inner_text()
    assert state_of_field(page) == ("", "code")
    # Back to the last case: the browser shows that page again, its field still empty and focused; the next
    # scan finds its own case.
    page.go_back()
    assert re.search(r"code=yt", page.url)
    assert state_of_field(page) == ("", "code")
    page.keyboard.type("SF1000200030004")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("code=SF1000200030004")
    assert first in page.locator("#found-h").inner_text()
    walk = Walk(locale, shots)
    walk.page(page, "staff-receiving-scan")
    assert walk.problems == {} and external == []
    ctx.close()


def test_all_fine_in_the_browser_answers_yes_to_every_question(live, chromium):
    """The inspection form is sent by script (upload progress); the "all fine" button still says what it is."""
    base, db = live
    shop = make_shop(db, "bench-all-fine")
    number = awaiting_parcel(db, shop, 1, "SF", "SF3000400050006")
    with db.transaction() as s:
        receiving.receive_parcel(s, actor=shop.actors["warehouse"], code=number, condition="intact",
                                 arrived_at=None, note="", photos=[], lines=None)
    ctx = chromium.new_context(locale="en", viewport=DESKTOP)
    page = ctx.new_page()
    staff_signs_in(page, base, f"warehouse@{shop.code}.test", "pw-warehouse", SIGN_IN["en"])
    page.goto(f"{base}/staff/warehouse/cases/{number}")
    with page.expect_navigation():
        page.get_by_role("button", name="All fine: record with every answer “yes”").click()
    assert "answer-yes" in page.content() and "answer-no" not in page.content()
    with db.read() as s:
        row = s.scalars(select(Inspection).where(Inspection.case_id.in_(
            select(receiving.CASES.c.id).where(receiving.CASES.c.number == number)))).one()
    assert set(row.checklist.values()) == {True} and len(row.checklist) == 5
    ctx.close()
