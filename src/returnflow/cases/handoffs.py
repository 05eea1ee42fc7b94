"""Hand-offs of a case to another team (QC, product, supplier appraisal 鉴定): internal work with a note and a
status, listed on the staff case page and in a queue per team; the customer sees one only when it is shared.

open → accepted (the team took it) → done (the team returns it with a note); an open one may be returned at once.
The staff pages and the JSON API (cases/conversation_api.py) call these functions alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import utcnow
from ..errors import Worded
from ..flows import move
from ..i18n import N_, every
from .conversation import CaseHandoff
from .models import Case as CaseRow
from .ports import PORTS
from .record_flows import CASE_HANDOFF, HANDOFF_ROLES
from .store import CaseRecord, enqueue_many
from .visibility import CUSTOMER, INTERNAL, choice

TEAMS = {"qc": N_("Quality control"), "product": N_("Product team"), "supplier": N_("Supplier appraisal")}
STATUSES = {"open": N_("Open"), "accepted": N_("Taken by the team"), "done": N_("Done")}
NOT_DONE = ("open", "accepted")  # still with the team: listed under "open" in the queues
ROLES = HANDOFF_ROLES


def may_hand_off(actor: Actor) -> None:
    if actor.role not in ROLES:
        raise Worded("forbidden", N_("Your role cannot hand cases off."), status=403)


def create(session: Session, *, case: CaseRecord, actor: Actor, team: str, note: str, at: datetime,
           visibility: str | None = None) -> CaseHandoff:
    """A hand-off, internal unless `visibility` is "customer" (the customer then sees the team and the note)."""
    may_hand_off(actor)
    if team not in TEAMS:
        raise Worded("team", N_("Team: choose quality control, product team or supplier appraisal."), field="team")
    if not note.strip():
        raise Worded("required", N_("Note: say what the team should look at."), field="handoff_note")
    row = CaseHandoff(case_id=case.id, merchant_id=case.merchant_id, team=team, note=note.strip()[:4000],
                      created_by=actor.ref, created_name=actor.name, created_at=at,
                      visibility=choice(visibility, "handoff_visibility") or INTERNAL)
    move(session, CASE_HANDOFF, row, "hand_off", by=actor.ref, role=actor.role, at=at,
         data={"team": team, "visibility": row.visibility})
    if row.visibility == CUSTOMER:
        notices = PORTS.handoff_notices(session, case, every(TEAMS[team]), row.note)
        enqueue_many(session, merchant_id=case.merchant_id, case_id=case.id, at=at,
                     messages=[(m["topic"], m["payload"]) for m in notices])
    return row


def _of_case(session: Session, case: CaseRecord, handoff_id: int) -> CaseHandoff:
    row = session.get(CaseHandoff, handoff_id)
    if row is None or row.case_id != case.id:
        raise Worded("not_found", N_("This hand-off does not exist."), field="handoff", status=404)
    if row.status == "done":
        raise Worded("handoff_done", N_("This hand-off is already done. Nothing was changed."), field="handoff",
                     status=409)
    return row


def accept(session: Session, *, case: CaseRecord, actor: Actor, handoff_id: int) -> CaseHandoff:
    """The team takes the hand-off (open → accepted)."""
    may_hand_off(actor)
    row = _of_case(session, case, handoff_id)
    if row.status != "open":
        raise Worded("handoff_taken", N_("This hand-off was already taken by the team. Nothing was changed."),
                     field="handoff", status=409)
    move(session, CASE_HANDOFF, row, "accept", by=actor.ref, role=actor.role, at=utcnow())
    return row


def finish(session: Session, *, case: CaseRecord, actor: Actor, handoff_id: int, note: str,
           at: datetime) -> CaseHandoff:
    """The team returns the case with what it found (open or accepted → done)."""
    may_hand_off(actor)
    row = _of_case(session, case, handoff_id)
    row.done_note, row.done_by, row.done_at = note.strip()[:4000], actor.ref, at
    move(session, CASE_HANDOFF, row, "finish", by=actor.ref, role=actor.role, at=at,
         data={"note": row.done_note} if row.done_note else None)
    return row


def of_case(session: Session, case_id: int, *, customer: bool = False) -> list[CaseHandoff]:
    """The case's hand-offs; `customer`: only those shared with the customer."""
    stmt = select(CaseHandoff).where(CaseHandoff.case_id == case_id)
    if customer:
        stmt = stmt.where(CaseHandoff.visibility == CUSTOMER)
    return list(session.scalars(stmt.order_by(CaseHandoff.id)))


def _statuses(status: str) -> tuple[str, ...]:
    return NOT_DONE if status == "open" else (status,)


def queue(session: Session, *, actor: Actor, team: str, status: str = "open", limit: int = 50,
          offset: int = 0) -> tuple[list[tuple[CaseHandoff, str, str]], int]:
    """(hand-off, case number, case state) of a team, oldest first, within the actor's merchant; "open": every
    hand-off still with the team (taken or not)."""
    stmt = (select(CaseHandoff, CaseRow.number, CaseRow.state).join(CaseRow, CaseRow.id == CaseHandoff.case_id)
            .where(CaseHandoff.team == team, CaseHandoff.status.in_(_statuses(status))))
    if actor.merchant_id is not None:
        stmt = stmt.where(CaseHandoff.merchant_id == actor.merchant_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(CaseHandoff.created_at, CaseHandoff.id).limit(limit).offset(offset)).all()
    return [(r[0], r[1], r[2]) for r in rows], total


def open_counts(session: Session, actor: Actor) -> dict[str, int]:
    stmt = select(CaseHandoff.team, func.count()).where(CaseHandoff.status.in_(NOT_DONE))
    if actor.merchant_id is not None:
        stmt = stmt.where(CaseHandoff.merchant_id == actor.merchant_id)
    return {team: n for team, n in session.execute(stmt.group_by(CaseHandoff.team))}
