"""Portal throttles count the requester's own failures: a stranger's wrong guesses throttle the stranger, never the
customer at another address, and successful look-ups from one shared address are never refused."""

from __future__ import annotations

import ipaddress
import re

import orjson
import pytest
from sqlalchemy import text

from returnflow.pages.portal import (
    CODE_ATTEMPTS, CODE_FAILS_PER_REQUESTER, CODES_PER_ORDER, FAILS_PER_REQUESTER, FAILS_PER_REQUESTER_ORDER,
)
from tests.support.asgi import TestClient
from tests.support.portal import count, csrf_of, find_order, last_code, recent_order, sign_in_customer
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.8"}
# Requesters as the server sees them; only loopback addresses are written down (names stand for other hosts).
STRANGER, CUSTOMER, OFFICE = "127.0.0.1", "::1", "127.0.0.1"
NETWORK6 = ipaddress.IPv6Address("::1") + (1 << 64)  # a /64 other than the customer's
TOO_MANY_ZH = "尝试次数过多，请 15 分钟后再试。"
TOO_MANY_EN = "Too many attempts. Wait 15 minutes and try again."


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com", phone="13800001111")
    recent_order(db, shop.id, "O-200", customer="C-2", email="other@example.com", phone="13900002222")
    return shop


def browser(app, address: str, headers=ZH) -> TestClient:
    return TestClient(app, headers=headers, client=(address, 40000))


def alert(page) -> str:
    return re.search(r'role="alert"[^>]*>\s*<p>([^<]+)', page.text).group(1).strip()


def enter(web, challenge: str, code: str):
    return web.post("/p/shop/verify", data={"csrf": csrf_of(web), "challenge": challenge, "code": code},
                    follow_redirects=False)


def otp_count(db) -> int:
    """How many sign-in codes were sent (otp_code notifications in the outbox)."""
    with db.engine.connect() as conn:
        payloads = conn.execute(text("SELECT payload FROM outbox WHERE topic = 'notify'")).scalars().all()
    return sum(1 for p in payloads
               if (orjson.loads(p) if isinstance(p, (str, bytes)) else p).get("template") == "otp_code")


def test_a_strangers_wrong_look_ups_of_an_order_throttle_the_stranger_and_not_the_customer(app, db, shop):
    stranger = browser(app, STRANGER)
    answers = [find_order(stranger, "shop", "O-100", f"1380000{i:04d}").status_code
               for i in range(FAILS_PER_REQUESTER_ORDER + 1)]
    assert answers == [422] * FAILS_PER_REQUESTER_ORDER + [429]
    # The stranger stays refused, in the stranger's language, even with the right contact; no code goes out.
    refused = find_order(stranger, "shop", "O-100", "buyer@example.com")
    assert refused.status_code == 429 and alert(refused) == TOO_MANY_ZH
    refused_en = find_order(browser(app, STRANGER, EN), "shop", "O-100", "13800001111")
    assert refused_en.status_code == 429 and alert(refused_en) == TOO_MANY_EN
    assert otp_count(db) == 0
    # The customer, from home, gets a code at once and signs in.
    customer = browser(app, CUSTOMER, EN)
    sign_in_customer(customer, db, "shop", "O-100", "buyer@example.com")
    assert "O-100" in customer.get("/p/shop/orders").text


def test_a_stranger_guessing_across_order_numbers_is_throttled_by_address_only(app, db, shop):
    stranger = browser(app, STRANGER, EN)
    answers = [find_order(stranger, "shop", f"O-{300 + i}", "buyer@example.com").status_code
               for i in range(FAILS_PER_REQUESTER + 1)]
    assert answers == [422] * FAILS_PER_REQUESTER + [429]
    refused = find_order(stranger, "shop", "O-200", "other@example.com")
    assert refused.status_code == 429 and alert(refused) == TOO_MANY_EN and otp_count(db) == 0
    sign_in_customer(browser(app, CUSTOMER), db, "shop", "O-200", "13900002222")


def test_an_ipv6_stranger_changing_addresses_inside_one_network_is_still_one_requester(app, db, shop):
    answers = [find_order(browser(app, str(NETWORK6 + i * 7919)), "shop", "O-100", "x@example.com").status_code
               for i in range(FAILS_PER_REQUESTER_ORDER + 1)]
    assert answers == [422] * FAILS_PER_REQUESTER_ORDER + [429]
    sign_in_customer(browser(app, CUSTOMER), db, "shop", "O-100", "buyer@example.com")


def test_a_strangers_wrong_codes_throttle_the_stranger_and_not_the_customer(app, db, shop):
    # The stranger knows the customer's email (the code goes to the customer, not to the stranger) and guesses.
    stranger = browser(app, STRANGER, EN)
    challenge = find_order(stranger, "shop", "O-100", "buyer@example.com").headers["location"].split("c=")[1]
    code, _ = last_code(db)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    guesses = [enter(stranger, challenge, wrong).status_code for _ in range(CODE_ATTEMPTS)]
    guesses += [enter(stranger, f"made-up-{i}", wrong).status_code
                for i in range(CODE_FAILS_PER_REQUESTER - CODE_ATTEMPTS)]
    assert guesses == [422] * (CODE_ATTEMPTS - 1) + [429] + [410] * (CODE_FAILS_PER_REQUESTER - CODE_ATTEMPTS)
    refused = enter(stranger, challenge, code)
    assert refused.status_code == 429 and alert(refused) == TOO_MANY_EN
    assert "rf_portal" not in refused.cookies and count(db, "portal_sessions") == 0
    # The customer, from another address, asks for a code and signs in with it at once.
    customer = browser(app, CUSTOMER)
    sign_in_customer(customer, db, "shop", "O-100", "buyer@example.com")
    assert count(db, "portal_sessions") == 1 and "O-100" in customer.get("/p/shop/orders").text


def test_successful_look_ups_from_one_shared_address_are_never_throttled(app, db, shop):
    customers = FAILS_PER_REQUESTER + 5
    for i in range(customers):
        recent_order(db, shop.id, f"N-{i}", customer=f"N{i}", email=f"n{i}@example.com", phone=f"1370000{i:04d}")
    office = browser(app, OFFICE)
    # One colleague mistypes a few times; everyone still gets their code.
    assert [find_order(office, "shop", "N-0", "n1@example.com").status_code for _ in range(3)] == [422] * 3
    answers = [find_order(office, "shop", f"N-{i}", f"n{i}@example.com" if i % 2 else f"1370000{i:04d}").status_code
               for i in range(customers)]
    assert answers == [303] * customers and otp_count(db) == customers


def test_codes_sent_for_one_order_are_capped_whoever_asks_and_the_last_code_still_works(app, db, shop):
    askers = [browser(app, f"asker-{i}", EN) for i in range(CODES_PER_ORDER + 1)]
    answers = [find_order(web, "shop", "O-100", "buyer@example.com") for web in askers]
    assert [a.status_code for a in answers] == [303] * CODES_PER_ORDER + [429]
    assert alert(answers[-1]) == ("Several codes were sent for this order already. Use the newest one, or wait 15 "
                                  "minutes and ask again.")
    assert otp_count(db) == CODES_PER_ORDER  # the customer got no more than the cap
    code, _ = last_code(db)
    challenge = answers[CODES_PER_ORDER - 1].headers["location"].split("c=")[1]
    signed_in = enter(askers[CODES_PER_ORDER - 1], challenge, code)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/p/shop/orders"
    zh = find_order(browser(app, "another-asker"), "shop", "O-100", "13800001111")
    assert zh.status_code == 429 and alert(zh) == "这个订单已经发送过多次验证码。请使用最新收到的验证码，或 15 分钟后再获取。"


def test_a_nul_byte_in_the_order_number_or_the_challenge_is_refused_in_words_and_writes_nothing(app, db, shop):
    stranger = browser(app, STRANGER, EN)
    looked_up = find_order(stranger, "shop", "O-100\x00", "buyer@example.com")
    assert looked_up.status_code == 422 and alert(looked_up).startswith("Something you typed contains")
    entered = enter(stranger, "abc\x00def", "123456")
    assert entered.status_code == 422 and "invisible control character" in entered.text
    assert stranger.get("/p/shop/verify", params={"c": "abc\x00"}).status_code == 422
    assert count(db, "portal_attempts") == 0  # refused before any look-up: nothing counted, nothing written