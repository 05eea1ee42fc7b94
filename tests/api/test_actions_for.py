"""cases/offer.actions_for, called directly: the buttons fit the case's type, outcome and money state, the role,
and the policy (approve primary only within it; outside it an override, and reject primary)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from returnflow.cases import service
from returnflow.cases.offer import MoneyState, actions_for

from tests.support.portal import recent_order
from tests.support.world import make_shop


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100")
    return shop


@pytest.fixture
def case(db, shop, client):
    body = {"order": "O-100", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "lines": [{"line_no": 1, "quantity": 1}]}
    number = client.post("/api/v1/cases", json=body, headers=shop.headers("agent")).json()["number"]
    with db.read() as session:
        return service.get_case(session, actor=shop.actors["agent"], number=number)


def offered(case, actor, decision=None, money=MoneyState()):
    return {o.action: o for o in actions_for(case, actor, decision, money)}


def primary(case, actor, decision=None, money=MoneyState()):
    return [o.action for o in actions_for(case, actor, decision, money) if o.primary]


WITHIN = {"within_policy": True, "eligible": True}
OUTSIDE = {"within_policy": False, "eligible": False, "rule_ids": ["CN1"]}


def test_approve_is_primary_within_the_policy_and_an_override_outside_it(case, shop):
    agent = shop.actors["agent"]
    within = offered(case, agent, WITHIN)
    assert within["approve"].primary and not within["approve"].override
    assert primary(case, agent, WITHIN) == ["approve"]
    outside = offered(case, agent, OUTSIDE)
    assert outside["approve"].override and not outside["approve"].primary
    assert primary(case, agent, OUTSIDE) == ["reject"]
    assert "change_type" in outside  # the other way on: another outcome


def test_roles_only_see_what_they_may_do(case, shop):
    assert "approve" not in offered(case, shop.actors["warehouse"], WITHIN)
    assert "change_type" not in offered(case, shop.actors["finance"], WITHIN)
    waiting = replace(case, state="pending_approval")
    assert "approve" not in offered(waiting, shop.actors["agent"], WITHIN)  # a supervisor approves it
    assert "approve" in offered(waiting, shop.actors["supervisor"], WITHIN)


def test_a_refund_case_offers_no_shipping_or_repair_and_resolves_only_once_a_refund_exists(case, shop):
    agent = shop.actors["agent"]
    inspected = replace(case, state="inspected")
    plain = offered(inspected, agent, WITHIN)
    assert not {"ship_replacement", "start_repair", "resolve"} & set(plain)
    assert "resolve" in offered(inspected, agent, WITHIN, MoneyState(has_refund=True))
    # money moved: the type can no longer change
    assert "change_type" in plain
    assert "change_type" not in offered(inspected, agent, WITHIN, MoneyState(has_refund=True))


def test_an_exchange_ships_before_it_resolves_and_a_repair_starts_its_repair(case, shop):
    agent = shop.actors["agent"]
    exchange = replace(case, type="exchange", state="inspected")
    before = offered(exchange, agent, WITHIN)
    assert "ship_replacement" in before and "resolve" not in before and "start_repair" not in before
    assert primary(exchange, agent, WITHIN) == ["ship_replacement"]
    after = offered(exchange, agent, WITHIN, MoneyState(replacement_shipped=True))
    assert "ship_replacement" not in after and "resolve" in after and "change_type" not in after
    repair = replace(case, type="repair", state="inspected")
    assert "start_repair" in offered(repair, agent, WITHIN)
    assert "ship_replacement" not in offered(repair, agent, WITHIN)  # only once the repair is done


def test_inquiries_are_answered_not_approved(case, shop):
    question = replace(case, type="inquiry", lines=[])
    found = offered(question, shop.actors["agent"], None)
    assert "approve" not in found and "resolve" in found and "change_type" not in found
