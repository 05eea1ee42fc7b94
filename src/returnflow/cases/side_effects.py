"""What a case event sets off: a few rows in the event's own transaction, everything else derived from the event
log afterwards (returnflow/derive.py).

Producers look at an event and return what they want written; they write nothing themselves. Each item they return
is either an outbox message (`{"topic", "payload"}`: a webhook delivery per subscribed endpoint, a notice per
channel, ...; deliveries are addressed: no destination, no message) or a `Write` (a row of our own: the event's
chain link, the analytics step summary, the shipment of a recorded return). A producer's writes are executed before
the next producer runs (so it sees them), and its messages go to the outbox in one statement at the end.

Two lists, both filled in one place (returnflow/bootstrap.py):
- `SIDE_EFFECTS` run inside the transaction that writes the event (`write_side_effects`, called by workflow.fire
  and the opening of a case): only what the decision itself needs, so it exists exactly when the event does;
- `DERIVED` run in the derivation step (`derive_effects`), by the worker or, in inline mode, right after the
  request's commit — once per event: their outbox messages carry the event's id and their place (unique together).
`AFTER_EVENT` is told of every event written (the derivation step's hook: in inline mode it derives the case right
after the commit; in worker mode it wakes a worker of this process).
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
SIDE_EFFECTS: list[SideEffects] = []  # in the event's transaction
DERIVED: list[SideEffects] = []  # in the derivation step, once per event
# In the derivation step, once per batch, after its events' producers: (session, {case id: its events derived}).
DERIVED_BATCH: list[Callable[[Session, dict[int, list[dict]]], None]] = []
AFTER_EVENT: list[Callable[[Session, CaseRecord, dict], None]] = []


def _produce(session: Session, producers: list[SideEffects], case: CaseRecord, event: dict) -> list[tuple[str, dict]]:
    messages = []
    for producer in producers:
        for item in producer(session, case, event):
            if isinstance(item, Write):
                run(session, item.statement, item.params)
            else:
                messages.append((item["topic"], item["payload"]))
    return messages


def write_side_effects(session: Session, case: CaseRecord, event: dict) -> None:
    """Writes what the in-transaction producers ask for, then tells the derivation step an event was written."""
    messages = _produce(session, SIDE_EFFECTS, case, event)
    enqueue_many(session, merchant_id=case.merchant_id, case_id=case.id, messages=messages, at=event["created_at"])
    for hook in AFTER_EVENT:
        hook(session, case, event)


def derive_effects(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """Writes the rows the derived producers ask for an event (read back from the log, with its `id`) and returns
    their outbox messages as outbox rows, for the caller to insert with those of the other events of its batch.
    Each is keyed by (event id, its place), so a second derivation of the same event fails on the key instead of
    queueing it again."""
    at = event["created_at"]
    return [{"merchant_id": case.merchant_id, "topic": topic, "case_id": case.id, "status": "pending", "attempts": 0,
             "available_at": at, "lease_until": None, "created_at": at, "payload": payload,
             "event_id": event["id"], "event_item": item}
            for item, (topic, payload) in enumerate(_produce(session, DERIVED, case, event))]
