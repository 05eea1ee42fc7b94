"""Side effects of case transitions that logistics adds (registered with the workflow at import)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..cases.workflow import SIDE_EFFECTS


def return_instructions_on_approval(session: Session, case: CaseRecord, event: dict) -> list[dict]:
    """When a case starts waiting for the goods, the customer is sent the return instructions (contract 1).
    No return address set up, or no email on file: no message (the instructions stay readable in the portal)."""
    if event["to_state"] != "awaiting_return" or event["from_state"] == "awaiting_return":
        return []
    email = (case.customer or {}).get("email")
    if not email:
        return []
    from .service import instructions, route

    address = route(session, case)
    if address is None:
        return []
    locale = (case.customer or {}).get("locale") or "zh-CN"
    body = instructions(session, case, locale, address=address, before_shipping=True)
    data = {**body, "deadline": body["deadline"].isoformat(), "shipment": None}
    return [{"topic": "notify", "payload": {"channel": "email", "to": email, "locale": locale,
                                            "template": "return_instructions", "data": data}}]


if return_instructions_on_approval not in SIDE_EFFECTS:
    SIDE_EFFECTS.append(return_instructions_on_approval)
