"""Browser test helpers shared by the portal and console walks: screenshots at phone and desktop widths, axe-core
on every page, sign-in of customer (one-time code from the outbox) and staff."""

from __future__ import annotations

import re

from tests.browser.conftest import AXE
from tests.support.portal import last_code

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


class Walk:
    """Takes the screenshots and runs axe on each page visited; `problems` holds serious or critical findings."""

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


def watch_requests(base: str, *pages) -> list[str]:
    """Collects every request that leaves 127.0.0.1 (there must be none)."""
    external: list[str] = []
    local = (base, "data:", f"blob:{base}")
    for page in pages:
        page.on("request", lambda r: None if r.url.startswith(local) else external.append(r.url))
    return external


def customer_signs_in(page, base: str, db, merchant: str, order: str, contact: str, send: str, go: str) -> None:
    page.goto(f"{base}/p/{merchant}/")
    page.locator("#order").fill(order)
    page.locator("#contact").fill(contact)
    page.get_by_role("button", name=send).click()
    page.wait_for_url(re.compile(r"/verify\?c="))
    page.locator("#code").fill(last_code(db)[0])
    page.get_by_role("button", name=go).click()
    page.wait_for_url(re.compile(r"/orders$"))


def staff_signs_in(page, base: str, email: str, password: str, button: str) -> None:
    page.goto(f"{base}/staff/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.get_by_role("button", name=button).click()
    # Each role lands on its desk: the queue (/staff/?view=...), the receiving desk or the finance desk.
    page.wait_for_url(re.compile(r"/staff/(\?view=\w+|receiving|finance\?view=pay)?$"))
