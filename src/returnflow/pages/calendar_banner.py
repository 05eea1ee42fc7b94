"""The console banner for a working calendar that is running out (sla/calendar_health.py): admins and supervisors
see which year is missing and what to do. Read at most once a minute per merchant and process."""

from __future__ import annotations

import time

from fastapi import Request

from ..sla.calendar_health import gaps

TTL = 60.0
_seen: dict[int, tuple[float, list]] = {}


def calendar_gaps(request: Request) -> list[str]:
    """The banner's sentences in the page's language (none for other roles)."""
    from .frame import locale_of

    actor = getattr(request.state, "staff", None)
    if actor is None or actor.role not in ("admin", "supervisor") or actor.merchant_id is None:
        return []
    hit = _seen.get(actor.merchant_id)
    if hit is None or time.monotonic() - hit[0] > TTL:
        with request.app.state.db.read() as session:
            hit = (time.monotonic(), gaps(session, now=request.app.state.clock(), merchant_id=actor.merchant_id))
        _seen[actor.merchant_id] = hit
    locale = locale_of(request)
    return [gap.message(locale) for gap in hit[1]]


def forget() -> None:
    _seen.clear()
