"""A one-time portal code is readable only by its customer: supervisors, admins and the platform see that a code
went out, never the code (API and settings page, in their language); failures echoed by a provider are scrubbed;
the code is never replayed; and once delivered, dead-lettered or expired, the database holds no code any more."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import pytest

from returnflow.db import utcnow
from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, find_order, last_code, recent_order, sign_in_staff
from tests.support.processes import fake_http, requests_seen, smtp_server
from tests.support.world import make_order, make_shop, platform_token

pytestmark = pytest.mark.slow
HIDDEN = {"en": "one-time code (hidden)", "zh-CN": "一次性验证码（已隐藏）"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "sec")
    recent_order(db, shop.id, "O-1", email="buyer@example.com", phone="13800001111")
    return shop


def ask_for_code(app, contact: str = "buyer@example.com") -> tuple[TestClient, str, str, dict]:
    """The customer asks the portal for a code; returns their browser, the challenge, the code and its payload."""
    web = TestClient(app, headers={"Accept-Language": "en"})
    found = find_order(web, "sec", "O-1", contact)
    assert found.status_code == 303, found.text
    code, payload = last_code(db_of(app))  # what only the customer's inbox will show
    return web, found.headers["location"].split("c=", 1)[1], code, payload


def db_of(app):
    return app.state.db


def staff_headers(shop, db) -> dict[str, dict]:
    token, _ = platform_token(db)
    return {"supervisor": shop.headers("supervisor"), "admin": shop.headers("admin"),
            "platform": {"Authorization": f"Bearer {token}"}}


def six_digit_runs(text: str) -> set[str]:
    return set(re.findall(r"(?<!\d)\d{6}(?!\d)", text))


def stored_code(db) -> str | None:
    return last_code(db)[1]["data"]["code"]


def test_supervisors_admins_and_the_platform_see_a_hidden_code_in_their_language(app, client, db, shop):
    _web, _challenge, code, _ = ask_for_code(app)
    for role, headers in staff_headers(shop, db).items():
        for locale in ("zh-CN", "en"):
            r = client.get("/api/v1/outbox", headers={**headers, "Accept-Language": locale})
            assert r.status_code == 200, (role, r.text)
            assert code not in six_digit_runs(r.text), (role, locale)
            [message] = [m for m in r.json() if m["payload"].get("template") == "otp_code"]
            assert message["payload"]["data"]["code"] == HIDDEN[locale], (role, locale)
            assert message["secret"] is True and message["priority"] == 0 and message["status"] == "pending"
            # The rest stays readable: staff can tell a code went out, to whom and by which channel.
            assert message["payload"]["to"] == "buyer@example.com" and message["payload"]["channel"] == "email"
    admin = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(admin, "admin@sec.test", "pw-admin")
    page = admin.get("/staff/settings/notifications")
    assert page.status_code == 200 and code not in six_digit_runs(page.text)


def test_the_code_reaches_the_customer_and_then_leaves_the_database(app, client, db, shop, tmp_path):
    web, challenge, code, _ = ask_for_code(app)
    with smtp_server(tmp_path / "mail") as (port, box):
        worker = Worker(db, DeliverySettings(smtp_host="127.0.0.1", smtp_port=port))
        assert worker.run_once(timers=False).messages == {"sent": 1}
        [mail] = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in box]
    assert mail["To"] == "buyer@example.com" and f"Your code is {code}." in mail.get_content()
    assert stored_code(db) is None and last_code(db)[1]["redacted"] is True
    for table in ("outbox", "delivery_attempts"):
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT * FROM {table}").all()
        assert code not in six_digit_runs(repr(rows)), table
    listed = client.get("/api/v1/outbox", headers=shop.headers("admin")).json()
    assert [(m["status"], m["payload"]["data"]["code"]) for m in listed] == [("sent", HIDDEN["zh-CN"])]
    # The customer signs in with the code from their inbox: the portal kept only its hash, and that is enough.
    done = web.post("/p/sec/verify", data={"csrf": csrf_of(web), "challenge": challenge,
                                            "code": re.search(r"code is (\d{6})", mail.get_content()).group(1)},
                    follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/p/sec/orders"


def test_a_provider_echoing_the_code_is_scrubbed_and_a_code_is_never_replayed(app, client, db, shop, tmp_path):
    log = tmp_path / "sms.jsonl"
    with fake_http(log, answer="echo") as url:
        _web, _challenge, code, payload = ask_for_code(app, contact="13800001111")
        assert payload["channel"] == "sms"
        settings = DeliverySettings(sms_url=url, outbox_backoff_seconds=1, outbox_max_attempts=2)
        worker = Worker(db, settings)
        assert worker.run_once(timers=False).messages == {"retry": 1}
        assert code in requests_seen(log)[0]["body"]  # the provider was really asked to send it ... and echoed it
        admin = shop.headers("admin", **{"Accept-Language": "en"})
        [message] = client.get("/api/v1/outbox", headers=admin).json()
        assert "••••••" in message["last_error"] and code not in six_digit_runs(message["last_error"])
        attempts = client.get(f"/api/v1/outbox/{message['id']}/attempts", headers=admin)
        assert attempts.status_code == 200 and code not in six_digit_runs(attempts.text)
        assert stored_code(db) == code  # held until delivered (or dead): the retry still needs it

        for locale, words in (("en", "one-time sign-in code"), ("zh-CN", "一次性验证码")):
            refused = client.post("/api/v1/outbox/replay", json={"ids": [message["id"]]},
                                  headers=shop.headers("admin", **{"Accept-Language": locale}))
            assert refused.status_code == 409 and refused.json()["error"]["field"] == "ids[0]"
            assert refused.json()["error"]["code"] == "secret_not_replayable"
            assert words in refused.json()["error"]["message"]

        assert worker.run_once(utcnow() + timedelta(seconds=5), timers=False).messages == {"dead": 1}
    assert stored_code(db) is None and len(requests_seen(log)) == 2
    assert client.post("/api/v1/outbox/replay", json={"dead": True}, headers=admin).json() == {"replayed": 0}
    [message] = client.get("/api/v1/outbox", headers=admin).json()
    assert message["status"] == "dead"


def test_a_code_that_expires_before_delivery_is_never_sent_and_is_removed(app, client, db, shop, tmp_path):
    _ask = ask_for_code(app)
    with smtp_server(tmp_path / "mail") as (port, box):
        worker = Worker(db, DeliverySettings(smtp_host="127.0.0.1", smtp_port=port))
        assert worker.run_once(utcnow() + timedelta(minutes=11), timers=False).messages == {"dead": 1}
        assert list(box) == []
    assert stored_code(db) is None
    [message] = client.get("/api/v1/outbox", headers=shop.headers("admin", **{"Accept-Language": "en"})).json()
    attempts = client.get(f"/api/v1/outbox/{message['id']}/attempts", headers=shop.headers("admin")).json()
    assert "expired" in attempts[0]["error"] and "new code" in attempts[0]["error"]


def test_sign_in_codes_are_claimed_before_bulk_notices(app, client, db, shop, tmp_path):
    for i in range(3):  # six customer notices waiting (email and in-app), all older than the code
        make_order(db, shop, number=f"B-{i}", customer="C-2")
        r = client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": f"B-{i}", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]})
        assert r.status_code == 201, r.text
    _web, _challenge, code, _ = ask_for_code(app)
    with smtp_server(tmp_path / "mail") as (port, box):
        worker = Worker(db, DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, worker_batch=2))
        assert worker.run_once(timers=False).messages == {"sent": 2}
        subjects = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default)["Subject"] for m in box]
    assert "Your sign-in code" in subjects
