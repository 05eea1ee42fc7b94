"""What a case event sets off, written in the event's own transaction (so a side effect exists exactly when its
event does).

Producers look at a new event and return what they want written; they write nothing themselves. Each item they
return is either an outbox message (`{"topic", "payload"}`: a webhook delivery per subscribed endpoint, a notice
per channel, ...; deliveries are addressed: no destination, no message) or a `Write` (a row of our own: the event's
chain link, the analytics step summary, the shipment of a recorded return). `write_side_effects` runs the producers
in order; a producer's writes are executed before the next producer runs (so it sees them), and all messages go to
the outbox in one statement at the end. The list of producers is filled in one place: returnflow/bootstrap.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from .store import CaseRecord, enqueue_many, run


@dataclass(frozen=True)
class Write:
    """A row a producer wants written: a Core INSERT or UPDATE and its parameters."""

    statement: Any
    params: dict


SideEffects = Callable[[Session, CaseRecord, dict], list["dict | Write"]]
SIDE_EFFECTS: list[SideEffects] = []


def write_side_effects(session: Session, case: CaseRecord, event: dict) -> None:
    """Writes what every installed producer asks for: its rows at once, the outbox messages in one statement."""
    messages = []
    for producer in SIDE_EFFECTS:
        for item in producer(session, case, event):
            if isinstance(item, Write):
                run(session, item.statement, item.params)
            else:
                messages.append((item["topic"], item["payload"]))
    enqueue_many(session, merchant_id=case.merchant_id, case_id=case.id, messages=messages, at=event["created_at"])
