"""Random action sequences never break the invariants: quantities, versions, events, refusals that change nothing."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from returnflow.actor import Actor
from returnflow.cases.models import Case, CaseEvent, CaseLine
from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import act, get_case, open_case
from returnflow.cases.workflow import BY_ACTION, RELEASING_STATES, TRANSITIONS
from returnflow.errors import AppError, Conflict, Forbidden
from returnflow.orders.models import Customer, OrderLine
from tests.support.flows import PAYLOADS
from tests.support.world import make_order, make_shop

DELIVERED = {1: 3, 2: 2, 3: 1}
ROLES = ["agent", "warehouse", "finance", "supervisor", "admin", "customer", "system", "policy", "platform"]
GOODS = ["refund_only", "return_refund", "exchange", "repair", "reship"]


def machine_for(db):
    class CaseMachine(RuleBasedStateMachine):
        cases = Bundle("cases")

        @initialize()
        def setup(self):
            self.shop = make_shop(db, "m" + uuid.uuid4().hex[:8])
            make_order(db, self.shop, "O-1", lines=[(f"SKU-{n}", "10.00", q) for n, q in DELIVERED.items()],
                       customer="C-" + self.shop.code)
            with db.read() as s:
                self.customer_id = s.scalar(select(Customer.id).where(Customer.merchant_id == self.shop.id))
            self.platform = Actor(kind="staff", role="platform", name="platform")

        def actor(self, role: str) -> Actor:
            if role in self.shop.actors:
                return self.shop.actors[role]
            if role == "platform":
                return self.platform
            if role == "customer":
                return Actor(kind="customer", role="customer", merchant_id=self.shop.id,
                             customer_id=self.customer_id)
            return Actor(kind=role, role=role, merchant_id=self.shop.id, name=role)

        def held(self) -> dict[int, int]:
            with db.read() as s:
                rows = s.execute(select(OrderLine.line_no, func.coalesce(func.sum(CaseLine.quantity), 0))
                                 .join(CaseLine, CaseLine.order_line_id == OrderLine.id)
                                 .join(Case, Case.id == CaseLine.case_id)
                                 .where(Case.merchant_id == self.shop.id, Case.holds_quantity.is_(True))
                                 .group_by(OrderLine.line_no)).all()
            return {line_no: qty for line_no, qty in rows}

        @rule(target=cases, type_=st.sampled_from(GOODS),
              lines=st.dictionaries(st.sampled_from(list(DELIVERED)), st.integers(1, 4), min_size=1, max_size=3))
        def open(self, type_, lines):
            held = self.held()
            fits = all(q <= DELIVERED[n] - held.get(n, 0) for n, q in lines.items())
            try:
                with db.transaction() as s:
                    number = open_case(s, actor=self.shop.actors["agent"], data=CaseCreate(
                        order="O-1", type=type_, lines=[CaseLineCreate(line_no=n, quantity=q)
                                                        for n, q in lines.items()])).number
            except AppError as exc:
                assert not fits and exc.key == "quantity_exceeds", exc.key
                return None
            assert fits, "opened a case the quantities did not allow"
            return number

        @rule(number=cases, action=st.sampled_from([t.action for t in TRANSITIONS]),
              role=st.sampled_from(ROLES), stale=st.booleans())
        def fire(self, number, action, role, stale):
            if number is None:
                return
            actor = self.actor(role)
            with db.read() as s:
                before = get_case(s, actor=self.platform, number=number)
                events_before = s.scalar(select(func.count()).where(CaseEvent.case_id == before.id))
            version = before.version - 1 if stale else before.version
            transition = BY_ACTION[action]
            try:
                with db.transaction() as s:
                    after = act(s, actor=actor, number=number, action=action, version=version,
                                payload=dict(PAYLOADS.get(action, {})))
            except Conflict as exc:
                if stale:
                    assert exc.key == "stale_version"
                else:
                    assert exc.key == "illegal_transition" and before.state not in transition.sources
                self.unchanged(number, before, events_before)
                return
            except Forbidden:
                assert role not in transition.roles or action in ("approve", "assign")
                self.unchanged(number, before, events_before)
                return
            except AppError:
                assert not stale and before.state in transition.sources
                self.unchanged(number, before, events_before)
                return
            assert not stale and before.state in transition.sources and role in transition.roles
            assert after.version == before.version + 1

        def unchanged(self, number, before, events_before):
            with db.read() as s:
                now = get_case(s, actor=self.platform, number=number)
                assert (now.version, now.state, now.holds_quantity) == (
                    before.version, before.state, before.holds_quantity)
                assert s.scalar(select(func.count()).where(CaseEvent.case_id == now.id)) == events_before

        @invariant()
        def quantities_never_exceed_delivery(self):
            if not hasattr(self, "shop"):
                return
            for line_no, qty in self.held().items():
                assert qty <= DELIVERED[line_no]

        @invariant()
        def every_version_has_exactly_one_event(self):
            if not hasattr(self, "shop"):
                return
            with db.read() as s:
                for case in s.scalars(select(Case).where(Case.merchant_id == self.shop.id)):
                    seqs = list(s.scalars(select(CaseEvent.seq).where(CaseEvent.case_id == case.id)
                                          .order_by(CaseEvent.seq)))
                    assert seqs == list(range(1, case.version + 1))
                    last = s.scalar(select(CaseEvent.to_state).where(CaseEvent.case_id == case.id,
                                                                     CaseEvent.seq == case.version))
                    assert last == case.state
                    if case.state in RELEASING_STATES:
                        assert not case.holds_quantity

    return CaseMachine


def test_random_action_sequences_keep_the_invariants(db):
    examples = 25 if db.dialect == "sqlite" else 12
    run_state_machine_as_test(machine_for(db), settings=settings(
        max_examples=examples, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
