"""Helpers of the marketplace sync tests: a shop connected to the fake Taobao, the fake's controls, its call log."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from returnflow.marketplace.models import MarketplacePush, MarketplaceRequest
from returnflow.marketplace.settings import ConnectorIn, save
from returnflow.outbound import Allowed
from tests.conftest import FIXED_NOW
from tests.support.processes import fake_taobao, requests_seen

APP_KEY, SECRET, SESSION = "23456789", "tb-secret-0123456789", "6102a-shop-session"
CST = timezone(timedelta(hours=8))
ORDERED = FIXED_NOW - timedelta(days=6)  # delivered three days later: the 7-day window is open on FIXED_NOW


def cst(at: datetime) -> str:
    return at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def control(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def refund(url: str, refund_id: str, tid: str, *, created: datetime, goods: bool = True, fee: str = "899.00",
           sku: str = "COAT", **more) -> dict:
    """A buyer's request on the platform."""
    return control(url, "/_test/refunds", {"refund_id": refund_id, "tid": tid, "oid": tid, "created": cst(created),
                                           "has_good_return": goods, "refund_fee": fee, "total_fee": fee,
                                           "outer_id": sku, "num": 1, "reason": "尺码不合适", "desc": "想退货",
                                           "title": "Wool coat", **more})


def connect(db, shop_id: int, url: str, *, secret: str = SECRET) -> None:
    with db.transaction() as session:
        save(session, shop_id, "taobao", ConnectorIn(app_key=APP_KEY, app_secret=secret, session_key=SESSION,
                                                     api_url=f"{url}/router/rest"),
             Allowed.parse("127.0.0.1"), FIXED_NOW)


def calls(log: Path, method: str | None = None) -> list[dict]:
    return [c for c in requests_seen(log) if method is None or c["method"] == method]


def requests_of(db) -> dict[str, MarketplaceRequest]:
    with db.read() as s:
        return {r.external_id: r for r in s.query(MarketplaceRequest).all()}


def pushes_of(db) -> list[MarketplacePush]:
    with db.read() as s:
        return list(s.query(MarketplacePush).order_by(MarketplacePush.id).all())


@pytest.fixture
def platform(tmp_path):
    """The fake Taobao, a separate process whose clock reads half an hour after FIXED_NOW: (its URL, its call log)."""
    log = tmp_path / "top.jsonl"
    with fake_taobao(log, app_key=APP_KEY, secret=SECRET, session=SESSION) as url:
        control(url, "/_test/config", {"now": cst(FIXED_NOW + timedelta(minutes=30))})
        yield url, log
