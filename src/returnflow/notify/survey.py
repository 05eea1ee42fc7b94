"""The customer's satisfaction answer (满意度): once per case, at the end (resolved or closed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_
from .models import SurveyResponse

OPEN_STATES = ("resolved", "closed")


def response_of(session: Session, case_id: int) -> SurveyResponse | None:
    return session.scalar(select(SurveyResponse).where(SurveyResponse.case_id == case_id))


def answer(session: Session, *, case: CaseRecord, score: int, comment: str,
           at: datetime | None = None) -> SurveyResponse:
    """Records the answer; refused before the end of the case and the second time."""
    if case.state not in OPEN_STATES:
        raise Explained("number", N_("the survey opens when the case is resolved or closed"), code="survey_not_open",
                        status=409)
    if response_of(session, case.id) is not None:
        raise Explained("number", N_("this case has been rated already"), code="survey_answered", status=409)
    if not 1 <= score <= 5:
        raise Explained("score", N_("the score is a whole number from 1 to 5"), code="survey_score")
    row = SurveyResponse(case_id=case.id, merchant_id=case.merchant_id, score=score, comment=comment[:2000],
                         created_at=at or utcnow())
    session.add(row)
    session.flush()
    return row
