"""Every action button the staff case page offers, pressed as each staff role on every case the demo creates: it
either succeeds or shows its reason on the same console page, in words (no dead end, no 5xx, no bare error page,
no field path or code), in both languages."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from returnflow.demo import DEFAULT_PASSWORD, load
from tests.support.asgi import TestClient
from tests.support.portal import sign_in_staff

HEADERS = {"en": {"Accept-Language": "en"}, "zh-CN": {"Accept-Language": "zh-CN"}}
ROLES = ("agent", "warehouse", "finance", "supervisor", "admin")
FILL = {"carrier": "SF", "tracking_number": "SF300400500600", "amount": "1.00"}
ACTION_FORM = re.compile(r"^/staff/cases/[^/]+/(actions/[a-z_]+|plans(/\d+/withdraw)?)$")
CODE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
# Steps that end or move the case on go last, so the others are pressed on the case as the demo left it.
LATE = ("require_approval", "request_info", "approve", "reject", "cancel", "resolve", "close")
PATH = re.compile(r"\bpayload\.[a-z_]+|\b[a-z_]+\[\d+\]")


class Forms(HTMLParser):
    """The case page's forms (action, fields as a browser would send them) and its visible text by region."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.form: dict | None = None
        self.select: str | None = None
        self.textarea: str | None = None
        self.alert = 0
        self.alert_text: list[str] = []
        self.flash: list[str] = []
        self.in_flash = False
        self.text: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self.form = {"action": a.get("action") or "", "fields": {}}
            self.forms.append(self.form)
        elif self.form is not None and tag == "input" and a.get("name"):
            kind = a.get("type") or "text"
            if kind == "hidden":
                self.form["fields"][a["name"]] = a.get("value") or ""
            elif kind not in ("checkbox", "file", "submit"):
                self.form["fields"][a["name"]] = FILL.get(a["name"], "Checked by the test")
        elif self.form is not None and tag == "select" and a.get("name"):
            self.select = a["name"]
        elif self.form is not None and tag == "option" and self.select:
            self.form["fields"].setdefault(self.select, a.get("value") or "")
        elif self.form is not None and tag == "textarea" and a.get("name"):
            self.form["fields"][a["name"]] = "Checked by the test"
        if a.get("role") == "alert":
            self.alert += 1
        if "flash" in (a.get("class") or "").split():
            self.in_flash = True

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if tag == "form":
            self.form = None
        elif tag == "select":
            self.select = None
        elif tag == "div" and self.alert:
            self.alert -= 1
        elif tag == "p":
            self.in_flash = False

    def handle_data(self, data):
        if self.skip or not data.strip():
            return
        self.text.append(data.strip())
        if self.alert:
            self.alert_text.append(data.strip())
        if self.in_flash:
            self.flash.append(data.strip())


def parse(html: str) -> Forms:
    parser = Forms()
    parser.feed(html)
    return parser


def key_of(form: dict) -> tuple:
    return form["action"], form["fields"].get("type", "")


def press_every_button(web: TestClient, number: str, role: str) -> list[str]:
    """Presses each action form of the case page once, on the page as it is before each press; returns what
    each press came to (for the assertion messages)."""
    first = web.get(f"/staff/cases/{number}")
    assert first.status_code == 200, (role, number, first.text[:500])
    assert not CODE.findall(" ".join(parse(first.text).text)), (role, number, "a code on the case page")
    keys = [key_of(f) for f in parse(first.text).forms if ACTION_FORM.match(f["action"])]
    keys.sort(key=lambda k: next((i + 1 for i, a in enumerate(LATE) if k[0].endswith("/" + a)), 0))
    seen = []
    for key in keys:
        page = web.get(f"/staff/cases/{number}")
        form = next((f for f in parse(page.text).forms if key_of(f) == key), None)
        if form is None:
            continue  # an earlier press moved the case on: this button is no longer offered
        done = web.post(form["action"], data=form["fields"], follow_redirects=False)
        where = f"{role} pressed {key} on {number}"
        assert done.status_code < 500, (where, done.text[:800])
        if done.status_code == 303:
            assert done.headers["location"].startswith(f"/staff/cases/{number}"), where
            after = web.get(done.headers["location"])
            assert after.status_code == 200 and parse(after.text).flash, (where, after.text[:500])
            assert not CODE.findall(" ".join(parse(after.text).text)), (where, "a code on the case page")
            seen.append(f"{key[0]}: done")
            continue
        assert done.status_code in (403, 409, 422), (where, done.status_code)
        shown = parse(done.text)
        assert f"{number}</h1>" in done.text or f"{number} <span" in done.text, (where, "not the case page")
        assert "/staff/logout" in done.text, (where, "not inside the console")
        message = " ".join(shown.alert_text)
        assert message, (where, "no reason shown")
        assert not CODE.search(message) and not PATH.search(message), (where, message)
        assert not PATH.search(" ".join(shown.text)), (where, "a field path on the page")
        assert not CODE.findall(" ".join(shown.text)), (where, CODE.findall(" ".join(shown.text)))
        seen.append(f"{key[0]}: {message}")
    return seen


@pytest.mark.parametrize("role", ROLES)
def test_every_button_on_every_demo_case_succeeds_or_says_why_on_the_case_page(app, db, role):
    cases = load(db)["cases"]
    pressed = 0
    for locale, headers in HEADERS.items():
        web = TestClient(app, headers=headers)
        sign_in_staff(web, f"{role}@demo.example", DEFAULT_PASSWORD)
        for number in cases:
            pressed += len(press_every_button(web, number, role))
        if role in ("warehouse", "finance"):
            break  # their buttons are few; one language is enough to press them all
    assert pressed > (0 if role in ("warehouse", "finance") else 10)
