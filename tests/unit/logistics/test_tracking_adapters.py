"""Carrier formats and tracking numbers: the real samples parse and normalise to our small status set."""

from __future__ import annotations

import csv
from datetime import timezone
from pathlib import Path

import pytest

from returnflow.errors import Explained
from returnflow.logistics import adapters
from returnflow.logistics.carriers import check_tracking, s10_valid
from tests.support.tracking_samples import aftership_bodies, aftership_rows, correios_body

MANUAL = Path(adapters.__file__).with_name("data") / "correios_status_codes_from_manual.csv"


def test_every_code_of_the_correios_table_normalises_to_a_known_status():
    with MANUAL.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 197
    for row in rows:
        status = adapters.correios_status(row["Tipos"], row["Status"])
        assert status in adapters.STATUSES + (adapters.UNKNOWN,), row
        expected = {"delivered": "delivered", "returned": "returned_to_sender", "lost": "lost",
                    "damaged": "damaged"}.get(row["Category"].strip())
        if expected and row["Tipos"] != "OEC":
            assert status == expected, row


def test_the_real_correios_return_to_sender_flow_normalises_step_by_step():
    parsed = adapters.parse("correios", correios_body())
    flow = [u for u in parsed.updates if u.tracking_number == "BE058714266BR"]
    assert len(flow) == 11
    oldest_first = sorted(flow, key=lambda u: u.occurred_at)
    assert [u.status for u in oldest_first] == [
        "in_transit",  # PO/09 posted after the cut-off
        "out_for_delivery", "failed_attempt",  # OEC/01, BDE/20 carteiro não atendido
        "out_for_delivery", "failed_attempt",
        "out_for_delivery", "failed_attempt",
        "failed_attempt",  # BDE/21 will be returned to the sender
        "in_transit",  # RO/01 forwarded
        "out_for_delivery",  # OEC/09 out for delivery to the sender
        "returned_to_sender",  # BDE/23
    ]
    assert adapters.latest(flow).status == "returned_to_sender"
    last = oldest_first[-1]
    assert last.raw_code == "BDE/23" and "GUARULHOS" in last.location
    # 23/07/2018 09:48 in São Paulo (UTC-3) is 12:48 UTC
    assert last.occurred_at.tzinfo == timezone.utc and (last.occurred_at.hour, last.occurred_at.minute) == (12, 48)
    assert {m["tracking_number"] for m in parsed.not_found} == {"FJ064849483BR", "DU055087593BR"}
    posted = [u for u in parsed.updates if u.tracking_number == "JT365572014BR"]
    assert [u.status for u in posted] == ["in_transit"]


EXPECTED_AFTERSHIP = {
    "15502370264989N": ("delivered", "out_for_delivery"),  # (last, second to last)
    "15501498140350": ("delivered", "in_transit"),  # "will now be delivered on Mon" is not a delivery
    "15501733652085": ("delivered", "out_for_delivery"),
    "07081002031105O": ("delivered", "out_for_delivery"),
}


def test_the_real_aftership_checkpoints_normalise_from_their_messages():
    bodies = aftership_bodies()
    assert len(bodies) == 11
    seen = 0
    for body in bodies:
        parsed = adapters.parse("aftership", body)
        ordered = sorted(parsed.updates, key=lambda u: u.occurred_at)
        number = body["msg"]["tracking_number"]
        assert all(u.status in adapters.STATUSES for u in ordered)
        if number in EXPECTED_AFTERSHIP:
            assert (ordered[-1].status, ordered[-2].status) == EXPECTED_AFTERSHIP[number]
            seen += 1
        elif number == "RC933607107HK":
            assert ordered[-1].status == "in_transit"
        else:
            assert ordered[-1].status == "delivered", number
    assert seen == 4
    assert sum(len(adapters.parse("aftership", b).updates) for b in bodies) == len(aftership_rows())


def test_a_tag_wins_over_the_message():
    body = {"msg": {"slug": "usps", "tracking_number": "9400109699939938223564", "checkpoints": [
        {"checkpoint_time": "2026-11-24T10:00:00+08:00", "message": "Delivered", "tag": "AttemptFail"}]}}
    assert adapters.parse("aftership", body).updates[0].status == "failed_attempt"


def test_the_same_event_has_the_same_key_and_a_different_one_does_not():
    body = {"carrier": "SF", "tracking_number": "SF1234567890123", "events": [
        {"status": "in_transit", "occurred_at": "2026-11-24T10:00:00+08:00", "description": "a"},
        {"status": "in_transit", "occurred_at": "2026-11-24T02:00:00Z", "description": "a"},
        {"status": "delivered", "occurred_at": "2026-11-25T10:00:00+08:00", "description": "a"}]}
    keys = [u.key for u in adapters.parse("generic", body).updates]
    assert keys[0] == keys[1] != keys[2]


@pytest.mark.parametrize("body,field", [
    ({"carrier": "NOPE", "tracking_number": "X", "events": []}, "carrier"),
    ({"carrier": "SF", "tracking_number": "SF1234567890123", "events": [{"status": "teleported",
                                                                           "occurred_at": "2026-11-24T10:00:00Z"}]},
     "events[0].status"),
    ({"carrier": "SF", "tracking_number": "SF1234567890123", "events": [{"status": "delivered",
                                                                           "occurred_at": "yesterday"}]},
     "events[0].occurred_at"),
    ({"carrier": "SF", "tracking_number": "SF1234567890123", "events": "x"}, "events"),
])
def test_malformed_generic_events_name_the_field(body, field):
    with pytest.raises(Explained) as err:
        adapters.parse("generic", body)
    assert err.value.field == field


@pytest.mark.parametrize("number", ["BE058714266BR", "JT365572014BR", "LK059460815HK", "RC933607107HK",
                                    "RT224265042HK"])
def test_real_s10_numbers_pass_their_check_digit(number):
    assert s10_valid(number)


def test_tracking_numbers_are_checked_per_carrier():
    assert check_tracking("correios", "be 058714266br") == ("CORREIOS", "BE058714266BR")
    assert check_tracking("DPDUK", "15502370264989N") == ("DPDUK", "15502370264989N")
    for carrier, bad in (("CORREIOS", "BE058714267BR"), ("SF", "SF123"), ("UPS", "1Z12"), ("HKPOST", "LK059460815CN")):
        with pytest.raises(Explained) as err:
            check_tracking(carrier, bad)
        assert err.value.key == "malformed_tracking_number" and err.value.field == "tracking_number"
    with pytest.raises(Explained) as err:
        check_tracking("PIGEON", "123456")
    assert err.value.key == "unknown_carrier" and "SF" in err.value.allowed
