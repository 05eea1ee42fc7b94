"""Questions the case workflow asks areas that build on it, answered by functions returnflow/bootstrap.py installs,
so that cases/ does not import those areas (they import cases/):
- return_address_routable(session, case): does a return address fit the case (logistics)?
- replacement_paid_for(session, case): has the customer paid for an advance exchange's replacement (logistics,
  through the money module's charges)?
- refund_states(session, case): the states of the case's refunds (the money module).
Asked before bootstrap() ran, a question fails loudly instead of answering wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from .store import CaseRecord

Question = Callable[[Session, CaseRecord], bool]


def _unwired(session: Session, case: CaseRecord) -> bool:
    raise RuntimeError("returnflow.bootstrap.bootstrap() was not called: the workflow's questions are not wired")


@dataclass
class Ports:
    return_address_routable: Question = _unwired
    replacement_paid_for: Question = _unwired
    refund_states: Callable[[Session, CaseRecord], set[str]] = _unwired


PORTS = Ports()
