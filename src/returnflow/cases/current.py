"""The case a route is about: `CurrentCase` loads the `{number}` of the path for the signed-in actor, scoped to
their merchant (another merchant's case reads as not found), or answers 404 in the caller's language."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict
from ..web import DB, CurrentActor
from . import service
from .models import Case
from .store import CaseRecord

CaseNumber = Annotated[str, Path(description="The case number, e.g. AS2606150001")]


async def current_case(number: CaseNumber, actor: CurrentActor, db: DB) -> CaseRecord:
    """The case `number` as the actor may see it (read in its own short transaction)."""
    with db.read() as session:
        return service.get_case(session, actor=actor, number=number)


CurrentCase = Annotated[CaseRecord, Depends(current_case)]


def still_at(session: Session, case: CaseRecord, version: int | None) -> None:
    """Refuses (409) when the caller sent the version it saw and the case has changed since; None: not checked."""
    if version is None:
        return
    current = session.scalar(select(Case.version).where(Case.id == case.id))
    if current != version:
        raise Conflict("stale_version", field="version", sent=version, current=current)
