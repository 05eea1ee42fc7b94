"""The process drawn from the transition table for the diagram page: for every state, what can happen next,
who may do it and where it leads (the same table `workflow.fire` runs)."""

from __future__ import annotations

from typing import Any

from ..cases.docs import target
from ..cases.models import CaseState
from ..cases.retype import after_change_type
from ..cases.workflow import TRANSITIONS, after_approval, after_arbitration
from . import words
from .frame import gettext

APPROVAL_TARGETS = ("awaiting_return", "in_repair", "resolving")


def _targets(transition, state: CaseState) -> list[str]:
    if transition.to is None:
        return []
    if transition.to is after_change_type:
        # back to review from an approved case still waiting for the goods; elsewhere the state stays
        return [after_change_type(_AwaitingReturn).value] if state == CaseState.AWAITING_RETURN else []
    if transition.to is after_approval:
        return list(APPROVAL_TARGETS)
    if transition.to is after_arbitration:
        return [*APPROVAL_TARGETS, "closed"]
    return [transition.to.value]


class _AwaitingReturn:
    state = CaseState.AWAITING_RETURN.value


def process_table(locale: str) -> list[dict[str, Any]]:
    """One row per state, in the table's order, each with its outgoing transitions."""
    rows = []
    for state in CaseState:
        moves, stays = [], []
        for t in TRANSITIONS:
            if state not in t.sources:
                continue
            item = {"action": t.action, "label": words.word(words.ACTIONS, t.action, locale),
                    "summary": gettext(locale, t.summary),
                    "roles": [words.word(words.ROLES, r, locale) for r in t.roles],
                    "targets": [(s, words.state_label(s, locale)) for s in _targets(t, state)], "rule": target(t)}
            (moves if item["targets"] else stays).append(item)
        rows.append({"state": state.value, "label": words.state_label(state.value, locale), "moves": moves,
                     "stays": stays})
    return rows
