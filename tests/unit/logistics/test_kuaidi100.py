"""Kuaidi100's protocol pieces: the push read into our seven statuses, its signature, the subscription param."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from returnflow.logistics import kuaidi100
from returnflow.logistics.adapters import UNKNOWN


@pytest.mark.parametrize("code, word, expected", [
    ("0", "", "in_transit"), ("1", "", "in_transit"), ("101", "", "in_transit"), ("5", "", "out_for_delivery"),
    ("501", "", "out_for_delivery"), ("3", "", "delivered"), ("301", "", "delivered"), ("2", "", "failed_attempt"),
    ("209", "", "damaged"), ("202", "", UNKNOWN), ("4", "", "returned_to_sender"), ("6", "", "returned_to_sender"),
    ("14", "", "failed_attempt"), ("1401", "", "failed_attempt"), ("8", "", "in_transit"),
    ("", "签收", "delivered"), ("", "派件", "out_for_delivery"), ("", "退回", "returned_to_sender"),
    ("", "什么", UNKNOWN), ("99", "", UNKNOWN),
])
def test_states_map_to_our_seven(code, word, expected):
    assert kuaidi100.status_of(code, word) == expected


def test_a_push_becomes_one_event_per_entry_in_beijing_time():
    param = json.dumps({"status": "polling", "message": "", "lastResult": {
        "nu": "sf1234567890123", "com": "shunfeng", "state": "3", "data": [
            {"context": "已签收", "time": "2026-11-26 15:00:00", "ftime": "2026-11-26 15:00:00", "status": "签收"},
            {"context": "派送中", "time": "2026-11-26 09:00:00", "status": "派件", "areaName": "北京市"}]}},
        ensure_ascii=False)
    push = kuaidi100.parse_push(param)
    assert push.carrier == "SF" and push.number == "SF1234567890123" and push.status == "polling"
    assert [u.status for u in push.updates] == ["delivered", "out_for_delivery"]
    assert push.updates[0].occurred_at == datetime(2026, 11, 26, 7, 0, tzinfo=timezone.utc)
    assert push.updates[1].location == "北京市" and push.updates[0].source == "kuaidi100"


@pytest.mark.parametrize("param", ["not json", "[]", '{"lastResult": {"nu": "X", "data": [{"time": "yesterday"}]}}',
                                   '{"lastResult": {"nu": "X", "data": "none"}}'])
def test_an_unreadable_push_is_refused(param):
    with pytest.raises(kuaidi100.BadPush):
        kuaidi100.parse_push(param)


def test_the_signatures_are_the_providers():
    param = '{"a":"中文"}'
    assert kuaidi100.push_sign(param, "salt") == hashlib.md5((param + "salt").encode()).hexdigest().upper()
    assert kuaidi100.push_sign_ok(param, kuaidi100.push_sign(param, "salt").lower(), "salt")
    assert not kuaidi100.push_sign_ok(param, kuaidi100.push_sign(param, "salt"), "other")
    assert kuaidi100.order_sign("p", "1", "k", "s") == hashlib.md5(b"p1ks").hexdigest().upper()
    sub = json.loads(kuaidi100.subscribe_param(company="shunfeng", number="SF1", key="K", callback_url="u", salt="s"))
    assert sub == {"company": "shunfeng", "number": "SF1", "key": "K",
                   "parameters": {"callbackurl": "u", "salt": "s", "resultv2": "4"}}
