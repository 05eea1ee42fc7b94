"""The console banner for a working calendar that is running out (sla/calendar_health.py): admins and supervisors
see which year is missing and what to do. Read at most once a minute per merchant and process."""

from __future__ import annotations

from fastapi import Request

from ..caches import CACHES

from ..sla.calendar_health import gaps
from .frame import locale_of

GAPS = CACHES["calendar_gaps"]  # per merchant, at most a minute old (caches.py)


def calendar_gaps(request: Request) -> list[str]:
    """The banner's sentences in the page's language (none for other roles)."""
    actor = getattr(request.state, "staff", None)
    if actor is None or actor.role not in ("admin", "supervisor") or actor.merchant_id is None:
        return []
    found = GAPS.peek(actor.merchant_id)
    if found is None:
        with request.app.state.db.read() as session:
            found = gaps(session, now=request.app.state.clock(), merchant_id=actor.merchant_id)
        GAPS.put(actor.merchant_id, found, actor.merchant_id)
    locale = locale_of(request)
    return [gap.message(locale) for gap in found]


def forget() -> None:
    GAPS.drop()
