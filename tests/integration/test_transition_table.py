"""Every (state, action) pair: the table allows exactly what it declares, and refuses the rest with 409."""

from __future__ import annotations

import pytest

from returnflow.cases.models import CaseState
from returnflow.cases.service import get_case
from returnflow.cases.guards import GuardFailed
from returnflow.cases.workflow import BY_ACTION, TRANSITIONS
from returnflow.errors import AppError, Conflict, Forbidden
from tests.support.flows import PATHS, actor_for, open_for, run
from tests.support.world import make_order, make_shop

STATES = [s.value for s in CaseState]
ACTIONS = [t.action for t in TRANSITIONS]


def test_every_state_has_a_path_in_the_tests():
    assert set(PATHS) == set(STATES)


@pytest.mark.parametrize("state", STATES)
def test_each_state_allows_exactly_its_declared_actions(db, state):
    shop = make_shop(db)
    type_, extra, path = PATHS[state]
    outcomes = {}
    for i, action in enumerate(ACTIONS):
        order = make_order(db, shop, f"O-{i}")
        number = open_for(db, shop.actors["agent"], order, type_, **extra)
        for step in path:
            role = next(r for r in BY_ACTION[step].roles if r in shop.actors or r in ("system", "policy"))
            run(db, number, step, actor_for(role, shop.id, shop.actors))
        with db.read() as session:
            before = get_case(session, actor=shop.actors["admin"], number=number)
        assert before.state == state
        transition = BY_ACTION[action]
        role = transition.roles[0]
        actor = actor_for(role, shop.id, shop.actors)
        try:
            after = run(db, number, action, actor)
            outcomes[action] = "ok"
            assert before.state in transition.sources
            assert after.version == before.version + 1
        except Conflict as exc:
            outcomes[action] = "refused"
            assert exc.key == "illegal_transition"
            assert CaseState(before.state) not in transition.sources
        except (GuardFailed, Forbidden, AppError) as exc:
            # Declared for this state but its guard said no (e.g. wrong case type): not a table refusal.
            outcomes[action] = f"guard:{exc.key}"
            assert CaseState(before.state) in transition.sources
        with db.read() as session:
            now = get_case(session, actor=shop.actors["admin"], number=number)
        if outcomes[action] != "ok":
            assert now.version == before.version and now.state == before.state
    declared = {t.action for t in TRANSITIONS if CaseState(state) in t.sources}
    assert {a for a, o in outcomes.items() if o != "refused"} == declared


def test_roles_outside_the_table_are_refused_with_403(db):
    shop = make_shop(db)
    make_order(db, shop)
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    for role in ("warehouse", "finance"):
        with pytest.raises(Forbidden) as err:
            run(db, number, "approve", shop.actors[role])
        assert err.value.key == "forbidden_role" and "agent" in err.value.allowed


def test_pending_approval_needs_a_supervisor(db):
    shop = make_shop(db)
    make_order(db, shop)
    number = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    run(db, number, "require_approval", shop.actors["agent"])
    with pytest.raises(Forbidden):
        run(db, number, "approve", shop.actors["agent"])
    assert run(db, number, "approve", shop.actors["supervisor"]).state == "awaiting_return"
