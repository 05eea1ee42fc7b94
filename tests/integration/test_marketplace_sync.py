"""Taobao refunds synced with the desk against a fake TOP router process that checks the signature and keeps its own
refunds with versions: two pulls and pushes with changes on both sides in between."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from returnflow.cases.models import Case, OutboxMessage
from returnflow.db import utcnow
from returnflow.jobs.worker import Worker
from returnflow.marketplace.push import resolve
from returnflow.marketplace.sync import pull
from returnflow.notify.config import DeliverySettings
from returnflow.outbound import Allowed
from tests.conftest import FIXED_NOW
from tests.support.flows import run
from tests.support.marketplace import platform  # noqa: F401  (the fake Taobao fixture)
from tests.support.marketplace import ORDERED, calls, connect, control, cst, pushes_of, refund, requests_of
from tests.support.world import make_order, make_shop

pytestmark = pytest.mark.slow
ALLOWED = Allowed.parse("127.0.0.1")
LATER = FIXED_NOW + timedelta(hours=1)


def case_of(db, number_or_ref: str) -> Case:
    with db.read() as s:
        return s.scalar(select(Case).where((Case.number == number_or_ref) | (Case.external_ref == number_or_ref)))


def test_two_pulls_and_pushes_with_changes_on_both_sides(db, platform):
    url, log = platform
    shop = make_shop(db, "tb")
    for tid in ("T1001", "T1003", "T1004", "T1005"):
        make_order(db, shop, tid, lines=(("COAT", "899.00", 1),), when=ORDERED)
    connect(db, shop.id, url)
    asked = FIXED_NOW - timedelta(hours=3)
    for rid, tid in (("R1", "T1001"), ("R2", "T9999"), ("R3", "T1003"), ("R5", "T1005")):
        refund(url, rid, tid, created=asked)

    first = pull(db, shop.id, now=FIXED_NOW, allowed=ALLOWED)
    assert first.error == "" and len(first.opened) == 3 and first.waiting == ["R2"]
    synced = requests_of(db)
    assert synced["R2"].case_id is None and synced["R2"].problem["code"] == "order_unknown"
    assert "T9999" in synced["R2"].problem["en"] and "T9999" in synced["R2"].problem["zh-CN"]
    # Kept in every language of the desk (zh-Hant too), so a Traditional reader is not shown English.
    assert "本系統沒有訂單 T9999" in synced["R2"].problem["zh-Hant"]
    c1 = case_of(db, "taobao:R1")
    assert c1.channel == "api" and c1.type == "return_refund" and c1.state == "pending_review"
    assert c1.created_at == asked  # the platform's clock: the case starts when the buyer asked
    assert c1.policy_decision["policy"]["policy_id"] == "taobao-current"
    # Every TOP call was signed as the platform checks it (the fake answers error 25 otherwise).
    assert calls(log) and all("error_response" not in c["answer"] for c in calls(log))

    # The desk decides two requests; meanwhile the buyer changes one of them on the platform, a new request
    # arrives and the unknown order is imported.
    run(db, c1.number, "approve", shop.actors["agent"], {})
    c3 = case_of(db, "taobao:R3")
    run(db, c3.number, "reject", shop.actors["agent"], {"reason": "商品已穿着，不支持退货"})
    control(url, "/_test/change", {"refund_id": "R3", "refund_fee": "800.00", "modified": cst(FIXED_NOW + timedelta(
        minutes=10))})
    refund(url, "R4", "T1004", created=FIXED_NOW + timedelta(minutes=20))
    make_order(db, shop, "T9999", lines=(("COAT", "899.00", 1),), when=ORDERED)

    second = pull(db, shop.id, now=LATER, allowed=ALLOWED)
    assert second.error == "" and second.conflicts == ["R3"] and second.changed == ["R3"]
    assert sorted(case_of(db, n).external_ref for n in second.opened) == ["taobao:R2", "taobao:R4"]
    synced = requests_of(db)
    assert synced["R2"].problem is None and synced["R2"].tries == 2  # retried, and now a case
    assert synced["R3"].conflict["seen"] != synced["R3"].conflict["platform"]
    by_decision = {(p.case_id, p.decision): p for p in pushes_of(db)}
    assert by_decision[(c3.id, "refuse")].status == "held"  # not sent, not lost
    assert by_decision[(c1.id, "agree_return")].status == "pending"

    # Another decision on the version the desk saw, and the buyer changes that request before it goes out.
    c5 = case_of(db, "taobao:R5")
    run(db, c5.number, "approve", shop.actors["agent"], {})
    control(url, "/_test/change", {"refund_id": "R5", "desc": "改成换货", "modified": cst(LATER + timedelta(minutes=1))})

    control(url, "/_test/config", {"now": cst(LATER + timedelta(minutes=20))})  # the platform's clock moves on
    worker = Worker(db, DeliverySettings(outbound_allowed_hosts="127.0.0.1"))
    for _ in range(2):  # a second run sends nothing again
        worker.run_once(utcnow() + timedelta(minutes=5), timers=False)  # decisions are dated now
    agreed = calls(log, "taobao.rp.returngoods.agree")
    ok = [c for c in agreed if "rp_returngoods_agree_response" in c["answer"]]
    assert [c["params"]["refund_id"] for c in ok] == ["R1"]
    assert ok[0]["params"]["refund_version"] == synced["R1"].version  # the version the desk decided on
    refused = [c for c in agreed if "error_response" in c["answer"]]
    assert [c["params"]["refund_id"] for c in refused] == ["R5"]
    assert refused[0]["answer"]["error_response"]["sub_code"] == "isv.refund-version-changed"
    assert calls(log, "taobao.refund.refuse") == []  # the held refusal stayed here
    by_decision = {(p.case_id, p.decision): p for p in pushes_of(db)}
    assert by_decision[(c1.id, "agree_return")].status == "sent"
    assert by_decision[(c5.id, "agree_return")].status == "stale"
    assert "refund version changed" in by_decision[(c5.id, "agree_return")].error
    assert requests_of(db)["R5"].conflict is not None  # surfaced to staff
    with db.read() as s:
        dead = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "marketplace",
                                                     OutboxMessage.status == "dead")).all()
    assert [(m.payload["case_id"], m.payload["decision"]) for m in dead] == [(c5.id, "agree_return")]

    # Staff settle the conflicts: the refusal stands (sent with the platform's current version), R5 keeps the
    # platform's side (nothing is sent).
    r3_now = requests_of(db)["R3"].version  # the platform's version, as the second pull saw it
    with db.transaction() as s:
        resolve(s, shop.id, requests_of(db)["R3"].id, "desk", utcnow())
        resolve(s, shop.id, requests_of(db)["R5"].id, "platform", utcnow())
    for _ in range(2):
        worker.run_once(utcnow() + timedelta(minutes=10), timers=False)
    [refusal] = calls(log, "taobao.refund.refuse")
    assert refusal["params"]["refund_version"] == r3_now != synced["R3"].conflict["seen"]
    assert refusal["params"]["refuse_message"] == "商品已穿着，不支持退货"
    assert "refund_refuse_response" in refusal["answer"]
    statuses = {(p.case_id, p.decision): p.status for p in pushes_of(db)}
    assert statuses[(c3.id, "refuse")] == "sent" and statuses[(c5.id, "agree_return")] == "dropped"
    assert len(calls(log, "taobao.rp.returngoods.agree")) == 2  # R5 was not tried again

    # Once the platform took a decision the request is read again: the next decision carries the new version, and
    # a third pull does not take our own changes for the buyer's. Only R5's change (the platform's side) is news.
    assert requests_of(db)["R1"].status == "WAIT_BUYER_RETURN_GOODS"
    assert requests_of(db)["R3"].status == "SELLER_REFUSE_BUYER"
    third = pull(db, shop.id, now=LATER + timedelta(hours=1), allowed=ALLOWED)
    assert third.conflicts == [] and third.changed == ["R5"] and third.opened == []


def test_the_worker_pulls_each_connector_on_its_schedule(db, platform):
    url, log = platform
    shop = make_shop(db, "tbtimer")
    make_order(db, shop, "T6001", lines=(("COAT", "899.00", 1),), when=ORDERED)
    connect(db, shop.id, url)  # due at once, then every 10 minutes
    refund(url, "R61", "T6001", created=FIXED_NOW - timedelta(hours=1))
    worker = Worker(db, DeliverySettings(outbound_allowed_hosts="127.0.0.1"))
    assert worker.run_once(FIXED_NOW, messages=False).jobs == 1
    assert case_of(db, "taobao:R61") is not None
    assert worker.run_once(FIXED_NOW + timedelta(minutes=1), messages=False).jobs == 0  # not due yet
    assert len(calls(log, "taobao.refunds.receive.get")) == 1
    assert worker.run_once(FIXED_NOW + timedelta(minutes=11), messages=False).jobs == 1
    assert len(calls(log, "taobao.refunds.receive.get")) == 2
