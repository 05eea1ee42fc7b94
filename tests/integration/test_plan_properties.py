"""Random sequences of proposing, accepting, declining and withdrawing plans: at most one plan is open, every answer
is to a plan that was open, each change leaves exactly one timeline event, and a refusal changes nothing."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from returnflow.actor import Actor
from returnflow.cases.models import CaseEvent
from returnflow.cases.service import get_case
from returnflow.db import utcnow
from returnflow.errors import AppError
from returnflow.cases import plans
from returnflow.cases.conversation import CasePlan
from tests.support.flows import open_for
from tests.support.world import make_order, make_shop

PLAN_EVENTS = ("propose_plan", "accept_plan", "decline_plan", "withdraw_plan")


def machine_for(db):
    class PlanMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.shop = make_shop(db, "p" + uuid.uuid4().hex[:8])
            make_order(db, self.shop, "O-1", customer="C-" + self.shop.code)
            self.number = open_for(db, self.shop.actors["agent"], "O-1", "return_refund")
            with db.read() as s:
                case = get_case(s, actor=self.shop.actors["agent"], number=self.number)
                self.customer = Actor(kind="customer", role="customer", merchant_id=self.shop.id,
                                      customer_id=case.customer_id)
            self.expected = {}  # plan id -> status
            self.changes = 0

        def _snapshot(self):
            with db.read() as s:
                case_id = get_case(s, actor=self.shop.actors["agent"], number=self.number).id
                events = s.scalar(select(func.count()).select_from(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.action.in_(PLAN_EVENTS)))
                rows = {p.id: p.status for p in s.scalars(select(CasePlan).where(CasePlan.case_id == case_id))}
            return events, rows

        def _try(self, work):
            before = self._snapshot()
            try:
                with db.transaction() as s:
                    case = get_case(s, actor=self.shop.actors["agent"], number=self.number)
                    result = work(s, case)
            except AppError:
                assert self._snapshot() == before  # refused: nothing changed
                return None
            self.changes += 1
            return result

        @rule(kind=st.sampled_from(list(plans.KINDS) + ["bogus"]),
              amount=st.sampled_from(["", "10.00", "0", "-1", "abc", "5000.00", "0.001"]))
        def propose(self, kind, amount):
            plan = self._try(lambda s, case: plans.propose(s, case=case, actor=self.shop.actors["agent"], kind=kind,
                                                           amount=amount, note="plan", at=utcnow()))
            if plan is not None:
                assert "proposed" not in self.expected.values()
                self.expected[plan.id] = "proposed"

        @rule(pick=st.integers(0, 5), accept=st.booleans())
        def answer(self, pick, accept):
            ids = sorted(self.expected) or [pick + 1]
            plan_id = ids[pick % len(ids)]

            def work(s, case):
                customer_case = get_case(s, actor=self.customer, number=self.number)
                return plans.answer(s, case=customer_case, actor=self.customer, plan_id=plan_id, accept=accept,
                                    note="", at=utcnow())

            done = self._try(work)
            if done is not None:
                assert self.expected.get(plan_id) == "proposed"
                self.expected[plan_id] = "accepted" if accept else "declined"

        @rule(pick=st.integers(0, 5))
        def withdraw(self, pick):
            ids = sorted(self.expected) or [pick + 1]
            plan_id = ids[pick % len(ids)]
            done = self._try(lambda s, case: plans.withdraw(s, case=case, actor=self.shop.actors["agent"],
                                                            plan_id=plan_id, at=utcnow()))
            if done is not None:
                assert self.expected.get(plan_id) == "proposed"
                self.expected[plan_id] = "withdrawn"

        @invariant()
        def matches_the_record(self):
            if not hasattr(self, "number"):
                return
            events, rows = self._snapshot()
            assert rows == self.expected
            assert events == self.changes
            assert list(rows.values()).count("proposed") <= 1

    return PlanMachine


def test_plan_sequences_keep_one_open_plan_and_refusals_change_nothing(db):
    run_state_machine_as_test(machine_for(db), settings=settings(
        max_examples=8, stateful_step_count=10, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
