"""Kuaidi100 tracking against its fake process: the return parcel is subscribed by the worker, pushes are checked
and taken once, forged/tampered/stale pushes are refused, an abort subscribes again, numbers are recognised."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from returnflow.cases.models import OutboxMessage
from returnflow.db import utcnow
from returnflow.jobs.worker import Worker
from tests.support.kuaidi100 import configure, deliver, start_fake_kuaidi100, use_fake
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse
from tests.support.world import make_shop

ACK = {"result": True, "returnCode": "200", "message": "成功"}
NUMBER = "SF1234567890123"
ITEMS = [{"context": "快件正在派送中，派件员：王五", "time": "2026-11-25 09:00:00", "statusCode": "5"},
         {"context": "顺丰速运 已收取快件", "time": "2026-11-24 10:00:00", "statusCode": "1"}]


@pytest.fixture
def fake(monkeypatch):
    provider = start_fake_kuaidi100()
    use_fake(monkeypatch, provider)
    yield provider
    provider.stop()


def subscriptions_queued(db) -> int:
    with db.read() as s:
        return len(s.scalars(select(OutboxMessage.id).where(OutboxMessage.topic == "tracking_subscribe")).all())


def parcel(client, shop, case) -> dict:
    return client.get(f"/api/v1/cases/{case['number']}/shipments", headers=shop.headers()).json()[0]


def subscribed_return(client, db, fake, *, number=NUMBER):
    shop = shop_with_warehouse(db, client)
    configure(client, shop, fake)
    case = case_awaiting_return(client, shop, db)
    ship_back(client, shop, case, "SF", number)
    assert subscriptions_queued(db) == 1
    Worker(db).run_once()
    return shop, case


def test_a_return_parcel_is_subscribed_and_a_push_moves_it_once(client, db, fake):
    shop, case = subscribed_return(client, db, fake)
    sub = fake.stats()["subscriptions"][NUMBER]
    assert sub["company"] == "shunfeng" and sub["count"] == 1 and len(sub["salt"]) == 32
    hooks = client.get("/api/v1/logistics/settings/tracking", headers=shop.headers("admin")).json()["hooks"]
    assert sub["callbackurl"] == "http://127.0.0.1:8000" + hooks["kuaidi100"]
    assert parcel(client, shop, case)["subscription"]["state"] == "subscribed"

    push = fake.push(NUMBER, state="5", items=ITEMS)
    r = deliver(client, push)  # no staff token: the URL and the signature are the credentials
    assert r.status_code == 200 and r.json() == ACK
    got = parcel(client, shop, case)
    assert got["status"] == "out_for_delivery" and len(got["events"]) == 2
    assert got["events"][0]["description"].startswith("快件正在派送中") and got["events"][0]["source"] == "kuaidi100"

    again = deliver(client, push)  # Kuaidi100 delivers again (it did not see our answer): nothing changes
    assert again.status_code == 200 and again.json() == ACK
    assert parcel(client, shop, case)["events"] == got["events"]

    delivered = deliver(client, fake.push(NUMBER, state="3", items=[
        {"context": "已签收，签收人：前台", "time": "2026-11-26 15:00:00", "statusCode": "301"}, *ITEMS]))
    assert delivered.json() == ACK
    final = parcel(client, shop, case)
    assert final["status"] == "delivered" and len(final["events"]) == 3


def test_forged_tampered_and_stale_pushes_are_refused_and_logged_without_secrets(client, db, fake, caplog):
    shop, case = subscribed_return(client, db, fake)
    caplog.set_level(logging.WARNING, logger="returnflow.tracking")
    salt = fake.stats()["subscriptions"][NUMBER]["salt"]

    forged = deliver(client, fake.push(NUMBER, state="3", forge=True))
    assert forged.status_code == 401 and forged.json()["result"] is False

    good = fake.push(NUMBER, state="5", items=ITEMS)
    tampered = {**good, "form": {**good["form"], "param": good["form"]["param"].replace('"state": "5"',
                                                                                      '"state": "3"')}}
    assert tampered["form"]["param"] != good["form"]["param"]
    assert deliver(client, tampered).status_code == 401

    wrong_token = {**good, "url": good["url"][:-4] + "0000"}
    assert deliver(client, wrong_token).status_code == 401

    other = make_shop(db, "other")  # another shop's code with this shop's token opens nothing
    configure(client, other, fake)
    other_code = client.get("/api/v1/logistics/settings/tracking",
                            headers=other.headers("admin")).json()["hooks"]["kuaidi100"].split("/")[5]
    crossed = {**good, "url": good["url"].replace(f"/hooks/{good['url'].split('/')[7]}/", f"/hooks/{other_code}/")}
    assert crossed["url"] != good["url"] and deliver(client, crossed).status_code == 401
    assert parcel(client, shop, case)["events"] == []  # nothing was taken

    configure(client, shop, None, rotate_hooks=True)  # the old URL (and the salt it was subscribed with) retire
    assert deliver(client, good).status_code == 401

    logged = caplog.text
    assert "tracking hook refused" in logged and "signature" in logged
    token = good["url"].rsplit("/", 1)[1]
    for secret in (token, salt, fake.key, fake.secret, good["form"]["sign"]):
        assert secret not in logged


def test_an_abort_subscribes_again_once_however_often_it_is_delivered(client, db, fake):
    shop, case = subscribed_return(client, db, fake)
    abort = fake.push(NUMBER, status="abort", state="0", message="3天查询无记录",
                      items=[{"context": "快件已揽收", "time": "2026-11-24 10:00:00"}])
    assert deliver(client, abort).json() == ACK
    assert subscriptions_queued(db) == 2
    assert deliver(client, abort).json() == ACK  # redelivered: the abort was handled the first time
    assert subscriptions_queued(db) == 2
    assert parcel(client, shop, case)["subscription"]["state"] == "resubscribing"

    Worker(db).run_once()
    assert fake.stats()["subscriptions"][NUMBER]["count"] == 2  # a new subscription, not a 501 duplicate
    sub = parcel(client, shop, case)["subscription"]
    assert sub["state"] == "subscribed" and sub["resubscribed"] == 1

    # After the new subscription, pushes are taken as before.
    assert deliver(client, fake.push(NUMBER, state="5", items=ITEMS)).json() == ACK
    assert parcel(client, shop, case)["status"] == "out_for_delivery"


def test_a_subscription_kuaidi100_does_not_answer_is_retried_by_the_worker(client, db, fake):
    shop = shop_with_warehouse(db, client)
    configure(client, shop, fake)
    case = case_awaiting_return(client, shop, db)
    fake.config(fail_next=1)
    ship_back(client, shop, case, "SF", NUMBER)
    Worker(db).run_once()
    assert NUMBER not in fake.stats()["subscriptions"]
    assert parcel(client, shop, case)["subscription"] is None
    Worker(db).run_once(utcnow() + timedelta(hours=2))  # the retry's time has come
    assert fake.stats()["subscriptions"][NUMBER]["count"] == 1
    assert parcel(client, shop, case)["subscription"]["state"] == "subscribed"


def test_a_merchant_without_kuaidi100_queues_no_subscription(client, db, fake):
    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    ship_back(client, shop, case, "SF", NUMBER)
    assert subscriptions_queued(db) == 0


def test_carrier_detection_asks_kuaidi100_and_falls_back_to_local_rules(client, db, fake):
    shop = shop_with_warehouse(db, client)
    plain = client.get("/api/v1/tracking/detect", params={"number": "731234567890"}, headers=shop.headers())
    assert plain.status_code == 200 and plain.json()["source"] == "rules"
    assert [c["code"] for c in plain.json()["carriers"]][:2] == ["ZTO", "STO"]
    assert plain.json()["carriers"][0]["name"] == "中通快递"

    configure(client, shop, fake)
    asked = client.get("/api/v1/tracking/detect", params={"number": "yt 1234567890123"},
                       headers=shop.headers(**{"Accept-Language": "en"})).json()
    assert asked["source"] == "kuaidi100" and asked["carriers"] == [{"code": "YTO", "name": "YTO Express"}]
    assert fake.stats()["autonumber"] == 1

    fake.config(fail_next=1)  # Kuaidi100 down: the local rules answer
    down = client.get("/api/v1/tracking/detect", params={"number": "JDVA12345678901"}, headers=shop.headers()).json()
    assert down["source"] == "rules" and down["carriers"][0]["code"] == "JD"

    empty = client.get("/api/v1/tracking/detect", params={"number": "  "},
                       headers=shop.headers(**{"Accept-Language": "zh-CN"}))
    assert empty.status_code == 422 and "运单号" in empty.json()["error"]["message"]


def test_aborts_subscribe_again_at_most_three_times_and_an_unreadable_push_is_refused(client, db, fake):
    shop, case = subscribed_return(client, db, fake)
    for day in range(1, 6):  # five different aborts: three new subscriptions, then the parcel is left alone
        abort = fake.push(NUMBER, status="abort", state="0", message="60天无变化",
                          items=[{"context": f"第 {day} 次", "time": f"2026-11-2{day} 10:00:00"}])
        assert deliver(client, abort).json() == ACK
        Worker(db).run_once()
    sub = parcel(client, shop, case)["subscription"]
    assert sub["resubscribed"] == 3 and sub["state"] == "aborted"
    assert fake.stats()["subscriptions"][NUMBER]["count"] == 4

    url = abort["url"]
    broken = deliver(client, {"url": url, "form": {"param": "{not json", "sign": "00"}})
    assert broken.status_code == 400 and broken.json()["result"] is False


def test_a_shutdown_before_the_parcel_arrives_subscribes_again_and_after_it_ends_the_subscription(client, db, fake):
    shop, case = subscribed_return(client, db, fake)
    early = fake.push(NUMBER, status="shutdown", state="0", message="监控结束",
                      items=[{"context": "快件已揽收", "time": "2026-11-24 10:00:00"}])
    assert deliver(client, early).json() == ACK
    assert deliver(client, early).json() == ACK  # redelivered: handled once
    assert subscriptions_queued(db) == 2
    assert parcel(client, shop, case)["subscription"]["state"] == "resubscribing"
    Worker(db).run_once()
    assert fake.stats()["subscriptions"][NUMBER]["count"] == 2
    # Delivered, then shut down: the journey is over and nothing more is asked of Kuaidi100.
    signed = [{"context": "已签收，签收人：仓库", "time": "2026-11-26 10:00:00", "statusCode": "3"}, *ITEMS]
    assert deliver(client, fake.push(NUMBER, state="3", items=signed)).json() == ACK
    assert parcel(client, shop, case)["status"] == "delivered"
    final = fake.push(NUMBER, status="shutdown", state="3", message="签收后结束", items=signed)
    assert deliver(client, final).json() == ACK
    assert subscriptions_queued(db) == 2 and parcel(client, shop, case)["subscription"]["state"] == "ended"
