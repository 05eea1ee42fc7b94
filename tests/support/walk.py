"""Browser test helpers shared by the portal and console walks: screenshots at phone and desktop widths, axe-core
on every page, sign-in of customer (one-time code from the outbox) and staff."""

from __future__ import annotations

import os
import re

from tests.browser.conftest import AXE, AXE_URL, LIVE_APPS, SHOTS_ENV
from tests.support.portal import last_code

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


# The outermost elements that reach past the right edge of the window (the page then scrolls sideways on a phone).
WIDER = """() => {
  const edge = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= edge) return [];
  const clipped = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.getBoundingClientRect().right > edge + 0.5 && !out.some(o => o.contains(el)) && !clipped(el)) out.push(el);
  }
  return out.slice(0, 3).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
    + ' ' + Math.round(el.getBoundingClientRect().right - edge) + 'px');
}"""


class Walk:
    """Runs axe on each page visited and checks it fits a phone's width; `problems` holds serious or critical axe
    findings and pages wider than a phone. Screenshots at phone and desktop widths are saved only where
    RETURNFLOW_SCREENSHOTS names a folder (scripts/screenshots): nobody looks at them in a test run, and they cost
    a fifth of a journey's time."""

    def __init__(self, locale: str, folder) -> None:
        self.prefix = locale.lower()
        self.folder = folder
        self.keep = bool(os.environ.get(SHOTS_ENV))
        self.problems: dict[str, list] = {}

    def page(self, page, name: str) -> None:
        # The pages fetch nothing after they load (no XHR but the queue's typed filter): "load" is when they are
        # whole, without networkidle's half-second of quiet.
        page.wait_for_load_state("load")
        size = page.viewport_size
        if size != PHONE:
            page.set_viewport_size(PHONE)
        wider = page.evaluate(WIDER)
        if wider:
            self.problems.setdefault(name, []).append({"id": "wider-than-a-phone", "nodes": wider})
        if self.keep:
            for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                page.set_viewport_size(viewport)
                page.screenshot(path=str(self.folder / f"{self.prefix}-{name}-{label}.png"), full_page=True)
        if page.viewport_size != size:
            page.set_viewport_size(size)
        origin = re.match(r"https?://[^/]+", page.url)
        if origin and origin.group(0) in LIVE_APPS:
            page.add_script_tag(url=origin.group(0) + AXE_URL)
        else:
            page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            self.problems.setdefault(name, []).extend(bad)


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
