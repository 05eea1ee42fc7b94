"""The declared transition table of the follow-up task (回访) (run by flows.move, drawn by `returnflow workflow`).

Closing a case schedules one when the merchant sets follow-up days (the system's move); staff record how the
contact went. The API refuses a recorded one first with its own message; the table declares the steps."""

from __future__ import annotations

from ..flows import OPENING, Flow, Transition

RECORDERS = ("agent", "warehouse", "finance", "supervisor", "admin", "platform")

FOLLOW_UP = Flow("follow_up", "Follow-up with the customer (回访)", ("open", "done"), (
    Transition("schedule", frozenset([OPENING]), "open", ("system",),
               summary="the case closed and the merchant follows up after its follow-up days"),
    Transition("record", frozenset(["open"]), "done", RECORDERS,
               summary="staff record how the contact went (its outcome and note)"),
), state_attr="status")
