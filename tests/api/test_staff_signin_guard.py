"""Staff sign-in resists guessing: failures are throttled per account and per address in the database (so every
server process sees them), with a 429 saying how long to wait, an audit entry and an admin unlock; unknown emails
cost and count the same as known ones."""

from __future__ import annotations

import ipaddress
import statistics
import time

from argon2 import PasswordHasher

from returnflow.app import create_app
from returnflow.auth import guard, service as auth_service
from tests.support.asgi import TestClient
from tests.support.portal import count, csrf_of
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
TOKEN = "/api/v1/auth/token"


def _try(client, email, password, **more):
    return client.post(TOKEN, json={"email": email, "password": password, **more})


def test_five_wrong_passwords_lock_the_account_with_a_clear_429_and_an_audit_entry(client, db):
    shop = make_shop(db, "g1")
    for attempt in range(guard.ACCOUNT_LIMIT - 1):
        assert _try(client, "agent@g1.test", f"wrong-{attempt}").status_code == 401
    locked = client.post(TOKEN, json={"email": "agent@g1.test", "password": "wrong-last"}, headers=EN)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_sign_ins"
    assert "Wait 15 minutes" in locked.json()["error"]["message"]
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    # Locked: even the right password is refused now (in Chinese by default), and it is not counted as a guess.
    right = _try(client, "agent@g1.test", "pw-agent")
    assert right.status_code == 429 and "请等待 15 分钟" in right.json()["error"]["message"]
    assert "token" not in right.json()
    events = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()
    assert [e["action"] for e in events][:1] == ["signin.locked"]
    assert events[0]["target"] == "agent@g1.test" and events[0]["details"]["user_id"] == shop.user_ids["agent"]
    # Other accounts of the shop are not affected.
    assert _try(client, "finance@g1.test", "pw-finance").status_code == 200


def test_a_successful_sign_in_is_never_throttled_and_resets_the_accounts_count(client, db):
    make_shop(db, "g2")
    for _round in range(3):
        for attempt in range(guard.ACCOUNT_LIMIT - 1):
            assert _try(client, "agent@g2.test", f"wrong-{attempt}").status_code == 401
        assert _try(client, "agent@g2.test", "pw-agent").status_code == 200
    assert count(db, "sign_in_failures", "key = 'account:agent@g2.test'") == 0


def test_an_admin_unlocks_the_account_and_it_is_audited(client, db):
    shop = make_shop(db, "g3")
    other = make_shop(db, "g3x")
    for attempt in range(guard.ACCOUNT_LIMIT):
        _try(client, "agent@g3.test", f"wrong-{attempt}")
    assert _try(client, "agent@g3.test", "pw-agent").status_code == 429
    uid = shop.user_ids["agent"]
    # Nobody else may unlock: not an agent, not another shop's admin.
    assert client.post(f"/api/v1/users/{uid}/unlock", headers=shop.headers("supervisor")).status_code == 403
    assert client.post(f"/api/v1/users/{uid}/unlock", headers=other.headers("admin")).status_code == 404
    assert _try(client, "agent@g3.test", "pw-agent").status_code == 429
    done = client.post(f"/api/v1/users/{uid}/unlock", headers=shop.headers("admin"))
    assert done.status_code == 200 and done.json()["failures_cleared"] == guard.ACCOUNT_LIMIT
    assert _try(client, "agent@g3.test", "pw-agent").status_code == 200
    event = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()[0]
    assert event["action"] == "user.unlock" and event["details"]["was_locked"] is True


def test_the_lock_holds_in_another_server_process_sharing_the_database(db, settings):
    make_shop(db, "g4")
    first = TestClient(create_app(settings, db=db))
    second = TestClient(create_app(settings, db=db))
    for attempt in range(guard.ACCOUNT_LIMIT):
        (first if attempt % 2 else second).post(TOKEN, json={"email": "agent@g4.test", "password": f"x{attempt}"})
    assert _try(first, "agent@g4.test", "pw-agent").status_code == 429
    assert _try(second, "agent@g4.test", "pw-agent").status_code == 429


def test_one_address_guessing_many_accounts_is_locked_but_others_are_not(db, app):
    make_shop(db, "g5")
    loopback = ipaddress.ip_address("127.0.0.1")  # two other requesters, on loopback addresses derived at run time
    attacker = TestClient(app, client=(str(loopback + 9), 40000))
    colleague = TestClient(app, client=(str(loopback + 7), 40000))
    for n in range(guard.CLIENT_LIMIT - 1):
        assert _try(attacker, f"guess{n}@g5.test", "password1").status_code == 401
    assert _try(attacker, "someone@g5.test", "password1").status_code == 429
    # The address is locked even for a real account and the right password; another address is not.
    assert _try(attacker, "agent@g5.test", "pw-agent").status_code == 429
    assert _try(colleague, "agent@g5.test", "pw-agent").status_code == 200


def test_unknown_emails_lock_exactly_like_known_ones(client, db):
    make_shop(db, "g6")
    answers = {}
    for email in ("agent@g6.test", "nobody@g6.test"):
        answers[email] = [_try(client, email, f"wrong-{n}").status_code for n in range(guard.ACCOUNT_LIMIT + 1)]
    assert answers["agent@g6.test"] == answers["nobody@g6.test"] == [401] * (guard.ACCOUNT_LIMIT - 1) + [429, 429]


def test_a_wrong_password_costs_the_same_whether_or_not_the_email_exists(client, db, monkeypatch):
    # At argon2's real cost: skipping the hash for unknown emails would make them several times faster.
    monkeypatch.setattr(auth_service, "_hasher", PasswordHasher())
    make_shop(db, "g7")
    known, unknown = [], []
    for n in range(4):
        for email, times in (("agent@g7.test", known), (f"ghost{n}@g7.test", unknown)):
            start = time.perf_counter()
            assert _try(client, email, "not-the-password").status_code == 401
            times.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(known)
    print(f"sign-in timing: known {statistics.median(known) * 1000:.1f} ms, unknown "
          f"{statistics.median(unknown) * 1000:.1f} ms, ratio {ratio:.2f}")
    assert 0.5 < ratio < 2.0


def test_the_sign_in_page_is_throttled_too_and_says_how_long_to_wait(app, db):
    make_shop(db, "g8")
    web = TestClient(app, headers=EN)
    for n in range(guard.ACCOUNT_LIMIT - 1):
        page = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@g8.test", "password": f"w{n}"})
        assert page.status_code == 401
    page = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "agent@g8.test", "password": "w-last"})
    assert page.status_code == 429 and "Wait 15 minutes" in page.text
    assert "rf_staff" not in web.cookies


def test_the_admin_unlocks_from_the_users_settings_page(app, db):
    shop = make_shop(db, "g9")
    for n in range(guard.ACCOUNT_LIMIT):
        app_client = TestClient(app)
        _try(app_client, "agent@g9.test", f"w{n}")
    admin = TestClient(app, headers=EN)
    admin.cookies.set("rf_staff", shop.tokens["admin"])
    uid = shop.user_ids["agent"]
    page = admin.get("/staff/settings/users")
    assert f'id="locked-{uid}"' in page.text and f'action="/staff/settings/users/{uid}/unlock"' in page.text
    done = admin.post(f"/staff/settings/users/{uid}/unlock", data={"csrf": csrf_of(admin)}, follow_redirects=False)
    assert done.status_code == 303
    assert f'id="locked-{uid}"' not in admin.get("/staff/settings/users").text
    assert _try(TestClient(app), "agent@g9.test", "pw-agent").status_code == 200
