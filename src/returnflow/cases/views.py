"""Turns cases into the dicts the API returns (batched: one query per kind of row, not per case)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..i18n import SUPPORTED, gettext, pgettext
from ..texts.labels import STATE_CONTEXT, STATES
from ..money import fmt
from .models import Attachment, CaseEvent
from .store import CaseLineRecord, CaseRecord
from .workflow import allowed_actions

# {state: {language: label}} in every language of the desk, from the catalogs (texts/labels.py, context
# "case state").
STATE_LABELS: dict[str, dict[str, str]] = {state: {tag: pgettext(tag, STATE_CONTEXT, text) for tag in SUPPORTED}
                                           for state, text in STATES.items()}


# Other areas add sections to the case detail (e.g. refunds): name -> fn(session, case) -> JSON-able value.
DETAIL_SECTIONS: dict[str, Callable[[Session, CaseRecord], Any]] = {}


def present(session: Session, cases: Sequence[CaseRecord], actor: Actor, *, detail: bool = False) -> list[dict[str, Any]]:
    """The API shape of each case (loaded with its names already); with `detail`, its evidence and timeline too."""
    result = []
    for case in cases:
        body: dict[str, Any] = {
            "number": case.number, "merchant": case.merchant_code, "order": case.order_number,
            "customer": case.customer, "type": case.type, "channel": case.channel, "state": case.state,
            "state_label": STATE_LABELS.get(case.state, {tag: case.state for tag in SUPPORTED}),
            "reason": case.reason_code, "description": case.description, "desired_outcome": case.desired_outcome,
            "advance": case.advance, "needs_return": case.needs_return, "outcome": case.outcome,
            "currency": case.currency, "claimed_amount": fmt(case.claimed_amount, case.currency),
            "assignee_id": case.assignee_id, "escalation_level": case.escalation_level,
            "reopen_count": case.reopen_count, "external_ref": case.external_ref, "version": case.version,
            "created_at": case.created_at, "updated_at": case.updated_at, "closed_at": case.closed_at,
            "policy_version": case.policy_version,
            "policy_verdict": (case.policy_decision or {}).get("verdict"),
            "allowed_actions": allowed_actions(case, actor),
            "lines": [_line(line, case.currency) for line in case.lines],
        }
        if detail:
            body["policy"] = case.policy_decision
            body["attachments"] = [attachment_dict(a) for a in session.scalars(
                select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id))]
            body["timeline"] = [event_dict(e) for e in session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))]
            for name, section in DETAIL_SECTIONS.items():
                body[name] = section(session, case)
        result.append(body)
    return result


def _line(line: CaseLineRecord, currency: str) -> dict[str, Any]:
    return {
        "id": line.id, "order_line_id": line.order_line_id, "line_no": line.line_no, "sku": line.sku,
        "title": line.title, "unit_price": fmt(line.unit_price, currency) if line.unit_price is not None else None,
        "quantity": line.quantity, "reason": line.reason_code, "received_quantity": line.received_quantity,
        "accepted_quantity": line.accepted_quantity, "inspection": line.inspection or {},
        "variant": ({**line.variant, "price": fmt(line.variant["price"], line.variant["currency"])}
                    if line.variant else None),
    }


def reason_payload(text: str, /, **params: str) -> dict[str, Any]:
    """A reason written on the timeline by the system, as the event's payload keeps it: `reason_said` holds the
    msgid `text` and its params (each a msgid too, e.g. a step's name), read in any language by reason_words;
    `reason` holds the English sentence (what guards and older readers take)."""
    return {"reason": text.format(**params), "reason_said": {"text": text, "params": params}}


def reason_words(payload: dict | None, locale: str) -> str:
    """The reason of a timeline event in `locale`: a system's reason (reason_said) from the catalogs; a person's
    reason, or a row written before reasons were msgids (then bilingual), as it was written."""
    payload = payload or {}
    said = payload.get("reason_said")
    if isinstance(said, dict) and isinstance(said.get("text"), str):
        params = {k: gettext(locale, v) if isinstance(v, str) else v for k, v in (said.get("params") or {}).items()}
        try:
            return gettext(locale, said["text"]).format(**params)
        except (KeyError, IndexError, ValueError):
            pass
    reason = payload.get("reason")
    return reason if isinstance(reason, str) else ""


def event_dict(event: CaseEvent) -> dict[str, Any]:
    return {"seq": event.seq, "action": event.action, "from_state": event.from_state, "to_state": event.to_state,
            "actor": {"kind": event.actor_kind, "role": event.actor_role, "id": event.actor_id,
                      "name": event.actor_name},
            "payload": event.payload, "at": event.created_at, "visibility": event.visibility}


def attachment_dict(a: Attachment) -> dict[str, Any]:
    return {"id": a.id, "filename": a.filename, "content_type": a.content_type, "kind": a.kind, "size": a.size,
            "sha256": a.sha256, "uploaded_by": a.uploaded_by, "created_at": a.created_at, "visibility": a.visibility}
