"""The case event log, hash-chained: each event's link is SHA-256(previous link + the event in canonical JSON).

Links are written in the event's own transaction (`link_event`, a workflow side-effect producer installed by
returnflow/bootstrap.py), so an event exists exactly when its link does. `verify` recomputes every chain: a changed, removed or inserted event, or a changed link, shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from ..cases import store
from ..cases.models import Case, CaseEvent
from ..cases.side_effects import Write
from ..cases.models import EventLink
from ..prepared import prepared

GENESIS = "0" * 64
FIELDS = ("case_id", "seq", "action", "from_state", "to_state", "actor_kind", "actor_role", "actor_id", "actor_name",
          "payload")


def canonical(event: dict) -> bytes:
    """The event as the chain sees it: its fields in a fixed order, the time in UTC to the microsecond."""
    at: datetime = event["created_at"]
    body = {name: event.get(name) for name in FIELDS}
    body["created_at"] = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def link(prev: str, event: dict) -> str:
    return hashlib.sha256(prev.encode() + canonical(event)).hexdigest()


_PREV = prepared(select(EventLink.__table__.c.hash).where(EventLink.__table__.c.case_id == bindparam("case_id"),
                                                          EventLink.__table__.c.seq == bindparam("seq")))
_INSERT = prepared(insert(EventLink.__table__))


def link_event(session: Session, case, event: dict) -> list[Write]:
    """The event's link in its case's chain (the core writes it)."""
    seq = event["seq"]
    context = getattr(case, "context", None)
    prev = GENESIS
    if seq > 1:
        head = context.chain_head if context is not None else None
        if head is not None and head[0] == seq - 1:
            prev = head[1] or GENESIS  # the link before, read with the case (or written just now)
        else:
            prev = store.run(session, _PREV, {"case_id": event["case_id"], "seq": seq - 1}).scalar() or GENESIS
    digest = link(prev, event)
    if context is not None:
        context.chain_head = (seq, digest)
    return [Write(_INSERT, {"case_id": event["case_id"], "seq": seq, "prev_hash": prev, "hash": digest})]


@dataclass
class Finding:
    case: str
    seq: int | None
    problem: str


def _event_dict(e: CaseEvent) -> dict:
    return {name: getattr(e, name) for name in FIELDS} | {"created_at": e.created_at}


def verify_case(session: Session, case_id: int, number: str) -> tuple[int, list[Finding]]:
    """(events checked, problems) for one case."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)).all()
    links = {x.seq: x for x in session.scalars(select(EventLink).where(EventLink.case_id == case_id))}
    found: list[Finding] = []
    prev = GENESIS
    seqs = [e.seq for e in events]
    for e in events:
        stored = links.get(e.seq)
        if stored is None:
            found.append(Finding(number, e.seq, "event has no link in the chain (inserted afterwards?)"))
            continue
        if stored.prev_hash != prev:
            found.append(Finding(number, e.seq, "link does not follow the one before (an event removed or a link "
                                                "changed?)"))
        if link(stored.prev_hash, _event_dict(e)) != stored.hash:
            found.append(Finding(number, e.seq, "event differs from what was chained (changed afterwards)"))
        prev = stored.hash
    for seq in sorted(set(links) - set(seqs)):
        found.append(Finding(number, seq, "a chained event is missing from the log (deleted)"))
    if seqs != list(range(1, len(seqs) + 1)) and not any("deleted" in f.problem for f in found):
        found.append(Finding(number, None, f"event numbers are not consecutive: {seqs}"))
    return len(events), found


def verify(session: Session, *, number: str | None = None) -> Iterator[tuple[str, int, list[Finding]]]:
    """Every case's chain (or one case's), as (case number, events checked, problems)."""
    stmt = select(Case.id, Case.number).order_by(Case.id)
    if number:
        stmt = stmt.where(Case.number == number)
    for case_id, case_number in session.execute(stmt).all():
        checked, found = verify_case(session, case_id, case_number)
        yield case_number, checked, found


def head(session: Session, case_id: int) -> str:
    """The newest link of a case (what an archive seals)."""
    return session.scalar(select(EventLink.hash).where(EventLink.case_id == case_id)
                          .order_by(EventLink.seq.desc()).limit(1)) or GENESIS
