"""The money module's refusal: names the field in the reader's words, and is logged (bad money input is worth a
trace)."""

from __future__ import annotations

import logging

from ..errors import Explained
from ..i18n import ENGLISH

log = logging.getLogger("returnflow.refunds")


def refuse(field: str | None, text: str, /, *, code: str = "validation", status: int = 422, **params) -> Explained:
    """A refusal naming the field (`text` an English msgid with {placeholders} from params), logged (bad money input
    is worth a trace)."""
    refusal = Explained(field, text, code=code, status=status, **params)
    log.warning("refund refused: %s: %s", field, refusal.problem(ENGLISH))
    return refusal
