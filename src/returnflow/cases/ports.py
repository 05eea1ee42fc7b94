"""Questions the case workflow asks areas that build on it, answered by functions returnflow/bootstrap.py installs,
so that cases/ does not import those areas (they import cases/):
- return_address_routable(session, case): does a return address fit the case (logistics)?
- replacement_paid_for(session, case): has the customer paid for an advance exchange's replacement (logistics,
  through the money module's charges)?
- refund_states(session, case): the states of the case's refunds (the money module).
- assess(session, *, merchant_id, policy_row, policy, preset, order, order_lines, requested, case_type, case_reason,
  now): the policy's decision for a request of these lines (assessment/apply.py; opening a case, changing its type).
- handoff_notices(session, case, team, note): the customer's notices of a hand-off shared with them (notify).
- return_scanned(session, case): has a carrier scanned the case's return parcel (logistics; the money module's EU5
  early refund on dispatch)?
Asked before bootstrap() ran, a question fails loudly instead of answering wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from .store import CaseRecord

Question = Callable[[Session, CaseRecord], bool]


@dataclass(frozen=True, slots=True)
class Requested:
    """One requested line: the order line row (with its facts) and what the customer says about it."""

    line: object  # a row of cases.service._LINES_WITH_CLAIMS
    quantity: int
    reason: str | None
    opened: bool = False
    used: bool = False
    repairs_done: int | None = None  # the dry run may state prior repairs; None: count the recorded ones
    grade: str | None = None  # the dry run may state the inspection grade (restocking fees by grade)
    serial_number: str | None = None  # the unit asked about (CN12 counts that unit's repairs)


def _unwired(*args, **kwargs) -> bool:
    raise RuntimeError("returnflow.bootstrap.bootstrap() was not called: the workflow's questions are not wired")


@dataclass
class Ports:
    return_address_routable: Question = _unwired
    replacement_paid_for: Question = _unwired
    refund_states: Callable[[Session, CaseRecord], set[str]] = _unwired
    assess: Callable[..., Any] = _unwired  # -> assessment.apply.Assessment
    handoff_notices: Callable[[Session, CaseRecord, dict[str, str], str], list[dict]] = _unwired
    return_scanned: Question = _unwired


PORTS = Ports()
