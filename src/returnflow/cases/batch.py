"""Many cases opened and taken through their steps in one transaction with a few statements: the return cases of an
order import (importer/returns.py), thousands of them, each opened and closed at once.

Each case goes the way open_case and workflow.fire take one: its record built by service.new_case from the same
reads and checks (match_lines, chosen_variants), each step checked and applied by workflow.step, each event made by
store.new_event and handed at once to the producers of the event's transaction (cases/side_effects.py), the chain
link among them. Only the writing differs: a batch's cases and their lines are inserted as they are opened (one
INSERT each, for their ids); `write` then writes every event, every row the producers asked for and their outbox
messages in the order one case after the other would have (one statement per run of the same statement, so the
ids come out the same), the cases' and lines' state by one UPDATE each, guarded by the version each case was opened
at, and tells the AFTER_EVENT hooks (the derivation step) of each event.

What that cannot show: a producer that reads the database sees it as it was before the batch's events (those of
the event's transaction decide from the case and the event; the chain link follows the case's head in memory), and
a case opened in a batch sees the quantities the batch's earlier cases claimed when they were opened, not what
their later steps released. The policy decides no case opened so: only channels it leaves alone (Channel.IMPORT:
history was decided long ago) are taken.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import utcnow
from ..errors import Conflict, InvalidInput, NotFound
from ..merchants.scope import merchant_of
from . import retype
from .models import Channel
from .schemas import CaseCreate
from .service import (GOODS_TYPES, case_lines, check_reasons, lines_of_orders, match_lines, new_case, next_numbers,
                      opening_payload, orders_to_open)
from .side_effects import AFTER_EVENT, SIDE_EFFECTS, Write
from .store import (CaseRecord, insert_cases, insert_events, insert_outbox, line_state, new_event, outbox_rows, run,
                    save_many)
from .variants import chosen_variants
from .workflow import step


class Batch:
    """Cases opened (`open`) and moved on (`fire`) in the caller's transaction, written by `write`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cases: list[CaseRecord] = []  # opened, in order
        self._opened: dict[int, tuple[int, list[tuple]]] = {}  # case id -> (version, lines' state) as inserted
        # case id -> its events, each with the producers' rows and outbox messages, in order
        self._events: dict[int, list[tuple[dict, list[Write], list[tuple[str, dict]]]]] = {}

    def open(self, actor: Actor, requests: list[tuple[CaseCreate, datetime | None]]) -> list[CaseRecord]:
        """Opens a case for each (request, when), in this order, as open_case opens one; all for one merchant. The
        cases and their lines are written now, their `open` events by `write`."""
        session = self.session
        if not requests:
            return []
        if any(data.channel != Channel.IMPORT for data, _ in requests):
            raise ValueError("a batch opens only cases the policy does not decide (channel import)")
        merchants = {merchant_of(session, actor, data.merchant) for data, _ in requests}
        if len(merchants) != 1:
            raise ValueError("a batch opens the cases of one merchant")
        ((merchant_id, merchant_code),) = merchants
        orders = {row.number: row for row in run(session, orders_to_open(), {
            "merchant_id": merchant_id, "numbers": sorted({data.order for data, _ in requests})})}
        # Each order's lines with what is claimed of each, kept up to date as the batch's cases claim them.
        lines = lines_of_orders(session, sorted(order.id for order in orders.values()))
        chosen_lines = []
        for data, _ in requests:
            order = orders.get(data.order)
            if order is None or (actor.kind == "customer" and order.customer_id != actor.customer_id):
                raise NotFound("order", data.order, field="order")
            check_reasons(session, merchant_id, data.type, data.reason, data.lines)
            if data.type in GOODS_TYPES and not data.lines:
                raise InvalidInput("lines_required", field="lines", type=data.type.value)
            pairs = match_lines(order.number, lines[order.id] if data.lines else [], data.lines, data.type)
            chosen_lines.append(case_lines(pairs, chosen_variants(data.type, pairs, order.currency)))
            for line, item in pairs:
                line.claimed += item.quantity  # a new case holds its quantities
        times = [at or utcnow() for _, at in requests]
        numbers = next_numbers(session, times, merchant_id=merchant_id)
        records = [new_case(actor=actor, data=data, merchant_id=merchant_id, merchant_code=merchant_code,
                            order=orders[data.order], lines=chosen, number=number, now=now)
                   for (data, _), chosen, number, now in zip(requests, chosen_lines, numbers, times, strict=True)]
        insert_cases(session, records)
        for record in records:
            self._cases.append(record)
            self._opened[record.id] = (record.version, line_state(record))
            self._event(record, action="open", actor=actor, source=None, payload=opening_payload(record),
                        at=record.created_at, visibility="customer")
        return records

    def fire(self, case: CaseRecord, action: str, actor: Actor, *, payload: dict | None = None,
             at: datetime | None = None, visibility: str | None = None) -> dict:
        """workflow.fire for a case opened in this batch: checked and applied now, written by `write`."""
        done = step(self.session, case, action, actor, payload=payload, at=at, visibility=visibility)
        if done.retyped is not None:
            retype.save(self.session, case, done.retyped)
        case.version += 1  # as save_changes counts it; `write` saves the state, guarded by the version opened at
        return self._event(case, action=action, actor=actor, source=done.source, payload=done.payload, at=done.at,
                           visibility=done.audience)

    def _event(self, case: CaseRecord, *, action: str, actor: Actor, source: str | None, payload: dict,
               at: datetime, visibility: str) -> dict:
        event = new_event(case, action=action, actor=actor, source=source, payload=payload, at=at,
                          visibility=visibility)
        writes: list[Write] = []
        messages: list[tuple[str, dict]] = []
        for producer in SIDE_EFFECTS:
            for item in producer(self.session, case, event):
                if isinstance(item, Write):
                    writes.append(item)
                else:
                    messages.append((item["topic"], item["payload"]))
        self._events.setdefault(case.id, []).append((event, writes, messages))
        return event

    def write(self) -> None:
        """Writes what the batch holds (see the module's docstring); Conflict if a case moved on meanwhile."""
        session = self.session
        done = [(case, entry) for case in self._cases for entry in self._events.get(case.id, ())]
        insert_events(session, [event for _, (event, _, _) in done])
        statement, rows = None, []
        for write in (write for _, (_, writes, _) in done for write in writes):
            if write.statement is not statement and rows:
                run(session, statement, rows)
                rows = []
            statement = write.statement
            rows.append(write.params)
        if rows:
            run(session, statement, rows)
        insert_outbox(session, [row for case, (event, _, messages) in done for row in outbox_rows(
            merchant_id=case.merchant_id, case_id=case.id, messages=messages, at=event["created_at"])])
        if not save_many(session, [(case, *self._opened[case.id]) for case in self._cases]):
            raise Conflict("stale_version", field="version", sent=min(v for v, _ in self._opened.values()),
                           current="newer")
        for case, (event, _, _) in done:
            for hook in AFTER_EVENT:
                hook(session, case, event)
        self._cases, self._opened, self._events = [], {}, {}
