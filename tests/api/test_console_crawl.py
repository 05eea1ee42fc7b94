"""Every console page a staff member can reach by following links, as each role and in both languages, read as
staff read it: no snake_case code, no dotted field path, no MIME type, no untranslated words, and never a 5xx.
The crawl starts at each role's landing page and follows every same-site link (GET) below /staff and /analytics."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.support.asgi import TestClient
from tests.api.test_portal_crawl import HEADERS, PROBLEMS, Visible
from tests.support.flows import PATHS, actor_for, open_for, run
from tests.support.portal import recent_order, sign_in_staff
from tests.support.world import ROLES, make_shop

STATES = ("pending_review", "awaiting_customer", "pending_approval", "awaiting_return", "return_in_transit",
          "received", "inspected", "in_repair", "resolving", "resolved", "rejected", "disputed", "cancelled",
          "closed")
BY = {"approve": "supervisor", "reject": "supervisor", "request_info": "agent", "ship_return": "agent",
      "receive": "warehouse", "inspect": "warehouse", "start_repair": "warehouse", "resolve": "supervisor",
      "cancel": "agent", "dispute": "customer", "close": "supervisor", "require_approval": "agent"}
LINES = (("COAT-M", "羊毛大衣 M", "899.00", 2), ("MUG", "马克杯", "35.50", 1))
# What the test itself wrote: names, addresses, free text and identifiers are data, not interface words.
DATA = ("羊毛大衣 M", "马克杯", "Shop crawl", "Returns desk crawl", "上海市浦东新区示例路 1 号", "please send a photo",
        "here it is", "outside the policy", "I disagree", "approved against the policy for the test", "done",
        "中文", "(简体)", "(繁體)", "English", "returnflow", "YYYY-MM-DD",
        # Deliberate glosses: the Chinese term beside its English name, as merchants say it.
        "(调休)", "(话术)", "(发票)") + tuple(f"{r} of crawl" for r in ROLES) + tuple(
        f"{r}@crawl.test" for r in ROLES)
SKIP = re.compile(r"/files/|\.csv\b|\.svg\b|\.pdf\b|/logout|/login|/export")
MAX_PER_SHAPE = 2  # pages of the same shape (numbers and ids aside) say the same words


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and not href.startswith(("#", "mailto:", "tel:", "javascript:")):
            self.hrefs.append(href)


class StaffVisible(Visible):
    """As the shopper's reader, minus what staff edit or type: a textarea's content is the text being edited (a
    template in the other language), and `<code>` holds placeholders such as {case_number} that staff type."""

    SKIP = Visible.SKIP | {"textarea", "code"}


def problems(html: str, locale: str) -> list[str]:
    parser = StaffVisible()
    parser.feed(html)
    text = " | ".join(parser.parts)
    for value in DATA:
        text = text.replace(value, " ")
    text = re.sub(r"\bdocs/[a-z-]+\.md\b", " ", text)  # admins are pointed to the shipped documentation by its path
    text = re.sub(r"\b[A-Z]{2}\d{6,}\b|\bO-\d+\b|\bSF\d+\b|\bC-\d+\b|Customer C-\d+|\bC-\d+@example\.com", " ",
                  text)
    found = [f"{kind}: {m.group(0)!r}" for kind, rx in PROBLEMS.items() if kind != "rule id"
             for m in rx.finditer(text)]
    if locale == "zh-CN":
        found += [f"untranslated: {m.group(0)!r}" for m in re.finditer(r"\b[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){2,}",
                                                                          text)]
    else:
        found += [f"untranslated: {m.group(0)!r}" for m in re.finditer(r"[\u4e00-\u9fff]+", text)]
    return found


def shape(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/[A-Z]{2}\d{6,}\b|/\d+\b", "/#", parts.path)
    keys = sorted(k.split("=")[0] for k in parts.query.split("&") if k)
    return path + "?" + "&".join(keys)


@pytest.fixture
def world(db):
    shop = make_shop(db, "crawl")
    for i, state in enumerate(STATES):
        order = recent_order(db, shop.id, f"O-{100 + i}", lines=LINES)
        case_type, extra, actions = PATHS[state]
        number = open_for(db, shop.actors["agent"], order, case_type, **extra)
        for action in actions:
            run(db, number, action, actor_for(BY.get(action, "supervisor"), shop.id, shop.actors))
    return shop


def crawl(web: TestClient) -> dict[str, tuple[int, str]]:
    seen_shapes: dict[str, int] = {}
    pages: dict[str, tuple[int, str]] = {}
    queue = ["/staff/"]
    while queue:
        url = queue.pop(0)
        if url in pages or SKIP.search(url):
            continue
        key = shape(url)
        if seen_shapes.get(key, 0) >= MAX_PER_SHAPE:
            continue
        seen_shapes[key] = seen_shapes.get(key, 0) + 1
        answer = web.get(url)
        pages[url] = (answer.status_code, answer.text)
        if "html" not in answer.headers.get("content-type", ""):
            continue
        links = Links()
        links.feed(answer.text)
        base = str(answer.url)
        for href in links.hrefs:
            target = urljoin(base, href)
            parts = urlsplit(target)
            if parts.netloc != urlsplit(base).netloc:
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.path.startswith(("/staff", "/analytics")) and local not in pages:
                queue.append(local)
    return pages


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_console_page_speaks_the_staff_members_language(app, db, world, locale):
    bad: dict[str, list[str]] = {}
    for role in ROLES:
        web = TestClient(app, headers=HEADERS[locale])
        sign_in_staff(web, f"{role}@crawl.test", "pw-" + role)
        pages = crawl(web)
        assert len(pages) >= 3, (role, list(pages))
        errors = {url: status for url, (status, _) in pages.items() if status >= 500}
        assert not errors, (role, errors)
        for url, (status, html) in pages.items():
            found = problems(html, locale)
            if found:
                bad[f"{role} {url}"] = found
    assert not bad, "\n".join(f"{where}: {found[:6]}" for where, found in bad.items())
