"""Optional TOTP second factor for staff: enrol (secret shown once), confirm, then password + code; wrong codes count
towards the sign-in throttle; a merchant can require it of admins and finance; an admin can reset it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import pyotp
import zxingcpp
from PIL import Image, ImageDraw

from returnflow.auth import guard
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

EN = {"Accept-Language": "en"}
TOKEN = "/api/v1/auth/token"


def _code(secret: str, shift_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(datetime.now(timezone.utc) + timedelta(seconds=30 * shift_steps))


def _scanned(svg: str) -> list[str]:
    """What a scanner reads in the enrolment's SVG QR code: its module rects drawn 6 px to a module."""
    side = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    image = Image.new("L", (side * 6, side * 6), 255)
    draw = ImageDraw.Draw(image)
    for x, y, width in re.findall(r'<rect x="(\d+)" y="(\d+)" width="(\d+)" height="1"/>', svg):
        x, y, width = int(x), int(y), int(width)
        draw.rectangle((x * 6, y * 6, (x + width) * 6 - 1, (y + 1) * 6 - 1), fill=0)
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def _enrol(client, headers, used: list | None = None) -> str:
    """Sets up the second factor through the API; returns the secret the app would hold (and notes the code)."""
    begun = client.post("/api/v1/auth/two-factor", headers=headers)
    assert begun.status_code == 200, begun.text
    uri = begun.json()["otpauth_uri"]
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    assert secret == begun.json()["secret"] and uri.startswith("otpauth://totp/")
    code = _code(secret)
    assert client.post("/api/v1/auth/two-factor/confirm", headers=headers,
                       json={"code": code}).json() == {"two_factor": True}
    if used is not None:
        used.append(code)
    return secret


def test_enrolment_shows_the_secret_once_and_never_again(client, db):
    shop = make_shop(db, "t1")
    headers = shop.headers("agent", **EN)
    begun = client.post("/api/v1/auth/two-factor", headers=headers).json()
    assert begun["qr_svg"].startswith("<svg") and _scanned(begun["qr_svg"]) == [begun["otpauth_uri"]]
    wrong = client.post("/api/v1/auth/two-factor/confirm", headers=headers, json={"code": "000000"})
    if wrong.status_code == 200:  # the one-in-a-million chance that 000000 is the current code
        return
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "code"
    assert client.get("/api/v1/me", headers=headers).json()["two_factor"] is False
    secret = parse_qs(urlparse(begun["otpauth_uri"]).query)["secret"][0]
    assert client.post("/api/v1/auth/two-factor/confirm", headers=headers, json={"code": _code(secret)}).status_code == 200
    again = client.post("/api/v1/auth/two-factor", headers=headers)
    assert again.status_code == 409 and secret not in again.text
    for path, who in (("/api/v1/me", "agent"), ("/api/v1/users", "admin"), ("/api/v1/users/events", "admin")):
        seen = client.get(path, headers=shop.headers(who))
        assert seen.status_code == 200 and secret not in seen.text
    assert {u["email"]: u["two_factor"] for u in client.get("/api/v1/users", headers=shop.headers("admin")).json()
            }["agent@t1.test"] is True


def test_sign_in_then_needs_the_code_and_each_code_works_once(client, db):
    shop = make_shop(db, "t2")
    used: list[str] = []
    secret = _enrol(client, shop.headers("agent"), used)
    bare = client.post(TOKEN, json={"email": "agent@t2.test", "password": "pw-agent"}, headers=EN)
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "totp_required"
    assert "6-digit code" in bare.json()["error"]["message"]
    # The code used to confirm was spent; the next step's code works, once.
    replay = client.post(TOKEN, json={"email": "agent@t2.test", "password": "pw-agent", "code": used[0]})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "totp_wrong"
    fresh = _code(secret, 1)
    ok = client.post(TOKEN, json={"email": "agent@t2.test", "password": "pw-agent", "code": fresh})
    assert ok.status_code == 200 and ok.json()["token"].startswith("rf_")
    assert client.post(TOKEN, json={"email": "agent@t2.test", "password": "pw-agent", "code": fresh}).status_code == 401


def test_wrong_codes_count_towards_the_throttle(client, db):
    shop = make_shop(db, "t3")
    secret = _enrol(client, shop.headers("agent"))
    good = {_code(secret, s) for s in (-1, 0, 1)}
    wrong = next(c for c in ("111111", "222222", "333333", "444444") if c not in good)
    answers = [client.post(TOKEN, json={"email": "agent@t3.test", "password": "pw-agent", "code": wrong}).status_code
               for _ in range(guard.ACCOUNT_LIMIT)]
    assert answers == [401] * (guard.ACCOUNT_LIMIT - 1) + [429]
    locked = client.post(TOKEN, json={"email": "agent@t3.test", "password": "pw-agent", "code": _code(secret, 1)})
    assert locked.status_code == 429


def test_the_sign_in_page_asks_for_the_code_in_a_second_step(app, db, client):
    shop = make_shop(db, "t4")
    secret = _enrol(client, shop.headers("agent"))
    web = TestClient(app, headers=EN)
    step = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@t4.test", "password": "pw-agent"})
    assert step.status_code == 200 and 'name="code"' in step.text and "rf_staff" not in web.cookies
    pending = re.search(r'name="pending" value="([^"]+)"', step.text).group(1)
    # The pending key is no token: the API refuses it.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {pending}"}).status_code == 401
    wrong = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@t4.test", "pending": pending,
                                           "code": "12345"})
    assert wrong.status_code == 401 and "code is wrong" in wrong.text and 'name="code"' in wrong.text
    done = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@t4.test", "pending": pending,
                                          "code": _code(secret, 1), "next": "/staff/"}, follow_redirects=False)
    assert done.status_code == 303 and web.cookies.get("rf_staff")
    # A pending key is spent once used.
    again = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@t4.test", "pending": pending,
                                           "code": _code(secret, -1)})
    assert again.status_code == 401


def test_a_merchant_can_require_it_of_admins_and_finance_who_enrol_before_anything_else(app, client, db):
    shop = make_shop(db, "t5")
    other = make_shop(db, "t5x")
    on = client.put("/api/v1/settings/security", headers=shop.headers("admin"), json={"require_two_factor": True})
    assert on.status_code == 200 and on.json()["require_two_factor"] is True
    assert client.get("/api/v1/settings/security", headers=other.headers("admin")).json()["require_two_factor"] is False
    refused = client.get("/api/v1/cases", headers=shop.headers("finance", **EN))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "two_factor_enrol_first"
    assert client.get("/api/v1/cases", headers=shop.headers("agent")).status_code == 200
    assert client.get("/api/v1/cases", headers=other.headers("finance")).status_code == 200
    assert client.get("/api/v1/me", headers=shop.headers("finance")).json()["two_factor_required"] is True
    page = TestClient(app)
    page.cookies.set("rf_staff", shop.tokens["finance"])
    assert page.get("/staff/finance", follow_redirects=False).headers["location"] == "/staff/two-factor"
    _enrol(client, shop.headers("finance"))
    assert client.get("/api/v1/cases", headers=shop.headers("finance")).status_code == 200
    assert page.get("/staff/finance", follow_redirects=False).status_code == 200
    # The admin who turned it on is held to it as well.
    assert client.get("/api/v1/users/events", headers=shop.headers("admin")).status_code == 403
    _enrol(client, shop.headers("admin"))
    event = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()
    assert "security.save" in [e["action"] for e in event]


def test_enrolling_on_the_page_shows_a_qr_code_and_turns_it_on(app, db, client):
    shop = make_shop(db, "t6")
    web = TestClient(app, headers=EN)
    web.cookies.set("rf_staff", shop.tokens["supervisor"])
    shown = web.post("/staff/two-factor", data={"csrf": csrf_of(web), "step": "begin"})
    assert shown.status_code == 200 and "<svg" in shown.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', shown.text).group(1)
    done = web.post("/staff/two-factor", data={"csrf": csrf_of(web), "step": "confirm", "code": _code(secret)},
                    follow_redirects=False)
    assert done.status_code == 303
    page = web.get("/staff/two-factor")
    assert 'id="two-factor-on"' in page.text and secret not in page.text


def test_an_admin_resets_a_lost_second_factor_only_in_their_own_merchant(client, db):
    shop = make_shop(db, "t7")
    other = make_shop(db, "t7x")
    _enrol(client, shop.headers("agent"))
    uid = shop.user_ids["agent"]
    assert client.post(f"/api/v1/users/{uid}/two-factor/reset", headers=other.headers("admin")).status_code == 404
    assert client.post(f"/api/v1/users/{uid}/two-factor/reset", headers=shop.headers("agent")).status_code == 403
    assert client.post(TOKEN, json={"email": "agent@t7.test", "password": "pw-agent"}).status_code == 401
    done = client.post(f"/api/v1/users/{uid}/two-factor/reset", headers=shop.headers("admin"))
    assert done.status_code == 200 and done.json()["two_factor"] is False
    assert client.get("/api/v1/me", headers=shop.headers("agent")).status_code == 401  # signed out everywhere
    assert client.post(TOKEN, json={"email": "agent@t7.test", "password": "pw-agent"}).status_code == 200
    event = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()[0]
    assert event["action"] == "user.two_factor_reset" and event["details"]["had_two_factor"] is True
