"""Marketplace sync through the API, the CLI and the staff pages: connector settings checked field by field, the bad
inputs (an unknown order, a refused signature, a platform error answer) recorded with a clear reason and nothing
lost, conflicts shown and settled on the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from returnflow.cases.models import OutboxMessage
from returnflow.db import utcnow
from returnflow.jobs.worker import Worker
from returnflow.marketplace.models import MarketplaceConnector
from returnflow.marketplace.sync import pull
from returnflow.notify.config import DeliverySettings
from returnflow.notify.models import DeliveryAttempt
from returnflow.outbound import Allowed
from tests.conftest import FIXED_NOW
from tests.support.flows import run
from tests.support.marketplace import platform  # noqa: F401  (the fake Taobao fixture)
from tests.support.marketplace import (APP_KEY, ORDERED, calls, connect, control, cst, pushes_of,
                                       refund, requests_of)
from tests.support.portal import sign_in_staff
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.slow
EN, ZH = {"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}
ALLOWED = Allowed.parse("127.0.0.1")


def connector(db, shop_id: int) -> MarketplaceConnector:
    with db.read() as s:
        return s.scalar(select(MarketplaceConnector).where(MarketplaceConnector.merchant_id == shop_id))


def test_connector_settings_are_checked_and_secrets_never_shown(client, db):
    shop = make_shop(db, "tbset")
    good = {"app_key": APP_KEY, "app_secret": "s3cr3t-value", "session_key": "env:RETURNFLOW_MARKET_TB_SESSION",
            "api_url": "http://127.0.0.1:9/router/rest", "every_minutes": 15}
    agent = client.put("/api/v1/marketplace/connectors/taobao", headers=shop.headers("agent"), json=good)
    assert agent.status_code == 403
    bad_env = client.put("/api/v1/marketplace/connectors/taobao", headers=shop.headers("admin", **ZH),
                         json={**good, "app_secret": "env:HOME"})
    assert bad_env.status_code == 422 and bad_env.json()["error"]["field"] == "app_secret"
    assert "RETURNFLOW_MARKET_" in bad_env.json()["error"]["message"] and "环境变量" in bad_env.json()["error"]["message"]
    no_secret = client.put("/api/v1/marketplace/connectors/taobao", headers=shop.headers("admin", **EN),
                           json={**good, "app_secret": None})
    assert no_secret.status_code == 422 and no_secret.json()["error"]["field"] == "app_secret"
    bad_url = client.put("/api/v1/marketplace/connectors/taobao", headers=shop.headers("admin", **EN),
                         json={**good, "api_url": "file:///etc/passwd"})
    assert bad_url.status_code == 422 and bad_url.json()["error"]["field"] == "api_url"
    unknown = client.put("/api/v1/marketplace/connectors/amazon", headers=shop.headers("admin", **EN), json=good)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "platform"
    assert connector(db, shop.id) is None  # nothing was written by any refusal
    saved = client.put("/api/v1/marketplace/connectors/taobao", headers=shop.headers("admin"), json=good)
    assert saved.status_code == 200, saved.text
    assert "s3cr3t-value" not in saved.text and saved.json()["app_secret"] == "••••••"
    assert saved.json()["session_key"] == "env:RETURNFLOW_MARKET_TB_SESSION" and saved.json()["preset"] == \
        "taobao-current"
    again = client.put("/api/v1/marketplace/connectors/taobao", headers=shop.headers("admin"),
                       json={**good, "app_secret": "••••••", "every_minutes": 5})
    assert again.status_code == 200 and connector(db, shop.id).app_secret == "s3cr3t-value"  # the mask kept it
    [shown] = client.get("/api/v1/marketplace/connectors", headers=shop.headers("admin")).json()
    assert shown["every_minutes"] == 5 and "s3cr3t-value" not in str(shown)


def test_a_refused_signature_and_a_platform_error_are_recorded_and_lose_nothing(db, platform):
    url, log = platform
    shop = make_shop(db, "tbbad")
    make_order(db, shop, "T2001", lines=(("COAT", "899.00", 1),), when=ORDERED)
    refund(url, "R21", "T2001", created=FIXED_NOW - timedelta(hours=1))
    connect(db, shop.id, url, secret="not-the-secret")
    refused = pull(db, shop.id, now=FIXED_NOW, allowed=ALLOWED)
    assert "Invalid signature" in refused.error and refused.opened == []
    assert calls(log)[0]["answer"]["error_response"]["code"] == 25  # the platform's own check refused it
    row = connector(db, shop.id)
    assert "Invalid signature" in row.last_error and row.cursor is None and requests_of(db) == {}
    connect(db, shop.id, url)  # the right secret
    control(url, "/_test/config", {"error_next": 1})
    failed = pull(db, shop.id, now=FIXED_NOW, allowed=ALLOWED)
    assert "isp.top-remote-connection-timeout" in failed.error and connector(db, shop.id).cursor is None
    done = pull(db, shop.id, now=FIXED_NOW, allowed=ALLOWED)  # the same window again: nothing was lost
    assert done.error == "" and len(done.opened) == 1 and connector(db, shop.id).cursor == FIXED_NOW

    # A decision that meets a refused signature stays to be sent once the keys are right (replayed), never twice.
    case_number = next(iter(done.opened))
    connect(db, shop.id, url, secret="rotated-wrongly")
    run(db, case_number, "approve", shop.actors["agent"], {})
    worker = Worker(db, DeliverySettings(outbound_allowed_hosts="127.0.0.1"))
    worker.run_once(utcnow() + timedelta(minutes=5), timers=False)
    [push] = pushes_of(db)
    assert push.status == "pending"
    with db.read() as s:
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.topic == "marketplace"))
        error = s.scalar(select(DeliveryAttempt.error).where(DeliveryAttempt.outbox_id == message.id))
    assert message.status == "dead" and "Invalid signature" in error  # said, not retried into the void
    connect(db, shop.id, url)
    from returnflow.notify.outbox import replay

    assert replay(db, ids=[message.id]) == 1
    for _ in range(2):
        worker.run_once(utcnow() + timedelta(minutes=6), timers=False)
    assert pushes_of(db)[0].status == "sent"
    assert len([c for c in calls(log, "taobao.rp.returngoods.agree") if "error_response" not in c["answer"]]) == 1


def test_pages_show_waiting_requests_and_settle_a_conflict_and_the_cli_pulls(client, db, platform, monkeypatch,
                                                                             tmp_path):
    url, log = platform
    shop = make_shop(db, "tbpage")
    make_order(db, shop, "T3001", lines=(("COAT", "899.00", 1),), when=ORDERED)
    refund(url, "R31", "T3001", created=FIXED_NOW - timedelta(hours=2))
    refund(url, "R32", "T3999", created=FIXED_NOW - timedelta(hours=2))
    connect(db, shop.id, url)
    first = pull(db, shop.id, now=FIXED_NOW, allowed=ALLOWED)
    [number] = first.opened
    run(db, number, "reject", shop.actors["agent"], {"reason": "已超过退货期限"})
    control(url, "/_test/change", {"refund_id": "R31", "desc": "补充照片", "modified": cst(FIXED_NOW + timedelta(
        minutes=5))})
    assert pull(db, shop.id, now=FIXED_NOW + timedelta(hours=1), allowed=ALLOWED).conflicts == ["R31"]

    sign_in_staff(client, "agent@tbpage.test", "pw-agent")
    client.get("/lang/zh-CN")
    listing = client.get("/staff/marketplace")
    assert listing.status_code == 200
    assert "本系统没有订单 T3999" in listing.text and "R31" in listing.text and "请选择以哪一方为准" in listing.text
    page = client.get(f"/staff/cases/{number}")
    assert page.status_code == 200 and 'id="marketplace"' in page.text and "请选择以哪一方为准" in page.text
    csrf = client.cookies.get("rf_csrf")
    request_id = requests_of(db)["R31"].id
    bad = client.post(f"/staff/marketplace/requests/{request_id}/resolve", data={"csrf": csrf, "keep": "both"},
                      follow_redirects=False)
    assert bad.status_code == 422 and "keep" in bad.text and requests_of(db)["R31"].conflict is not None
    done = client.post(f"/staff/marketplace/requests/{request_id}/resolve",
                       data={"csrf": csrf, "keep": "desk", "back": f"/staff/cases/{number}#marketplace"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/staff/cases/{number}#marketplace"
    assert requests_of(db)["R31"].conflict is None
    [push] = pushes_of(db)
    assert push.status == "pending" and push.version == requests_of(db)["R31"].version  # the platform's current one

    # The API lists what waits, in the reader's language, and the CLI pulls for a merchant.
    waiting = client.get("/api/v1/marketplace/requests?which=waiting", headers=shop.headers("agent", **EN)).json()
    assert [r["external_id"] for r in waiting] == ["R32"] and "T3999" in waiting[0]["problem"]["en"]
    database_url = str(db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RETURNFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("RETURNFLOW_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
    from returnflow.cli import app as cli_app
    from returnflow.config import get_settings
    from returnflow.notify.config import get_delivery_settings

    get_settings.cache_clear()
    get_delivery_settings.cache_clear()
    make_order(db, shop, "T3999", lines=(("COAT", "899.00", 1),), when=ORDERED)
    result = CliRunner().invoke(cli_app, ["marketplace", "pull", "--merchant", "tbpage"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert requests_of(db)["R32"].case_id is not None  # the unknown order arrived: retried, now a case
    nobody = CliRunner().invoke(cli_app, ["marketplace", "pull", "--merchant", "nobody", "--lang", "en"])
    assert nobody.exit_code == 2 and "no merchant nobody" in nobody.output
