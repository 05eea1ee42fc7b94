"""The declared transition tables of the case's own records beside it: the plans the customer confirms and the
hand-offs to other teams (run by flows.move, drawn by `returnflow workflow`; the case itself has its own workflow).

The services (cases/plans.py, cases/handoffs.py) refuse first with their own worded messages; the tables are the
one place the steps and their states are declared. Both records keep their state in `status`."""

from __future__ import annotations

from ..flows import OPENING, Flow, Transition
from .guards import STAFF_WORK

HANDOFF_ROLES = ("agent", "warehouse", "finance", "supervisor", "admin")


def _t(action: str, sources, to: str | None, roles: tuple[str, ...], summary: str) -> Transition:
    return Transition(action=action, sources=frozenset(sources), to=to, roles=roles, summary=summary)


CASE_PLAN = Flow("case_plan", "Plan the customer confirms (方案)", ("proposed", "accepted", "declined", "withdrawn"), (
    _t("propose", [OPENING], "proposed", STAFF_WORK, "one plan waits for the customer at a time"),
    _t("accept", ["proposed"], "accepted", ("customer",), "the customer accepts it before anything is carried out"),
    _t("decline", ["proposed"], "declined", ("customer",), "the customer declines it: back to the agent"),
    _t("withdraw", ["proposed"], "withdrawn", STAFF_WORK, "the agent takes it back while it waits"),
), state_attr="status")

CASE_HANDOFF = Flow("case_handoff", "Hand-off to another team (转交)", ("open", "accepted", "done"), (
    _t("hand_off", [OPENING], "open", HANDOFF_ROLES, "to quality control, the product team or supplier appraisal"),
    _t("accept", ["open"], "accepted", HANDOFF_ROLES, "the team takes it"),
    _t("finish", ["open", "accepted"], "done", HANDOFF_ROLES, "the team returns the case with what it found"),
), state_attr="status")

CASE_RECORD_FLOWS = (CASE_PLAN, CASE_HANDOFF)
