"""Who may see an item of a case: the customer (and staff), or staff only. Decided once, when the item is written.

Every timeline event, message, file and hand-off carries `visibility`. What the customer writes is theirs to see;
staff work (notes, escalation reasons, assignment, hand-offs, warehouse and inspection photos) is internal unless
the staff member who writes it chooses to share it; the steps that answer the customer are always visible.
"""

from __future__ import annotations

from ..actor import Actor
from ..errors import Explained
from ..i18n import N_

CUSTOMER = "customer"
INTERNAL = "internal"
CHOICES = (CUSTOMER, INTERNAL)

# Timeline steps written for staff; `SHAREABLE` ones may be shown to the customer when staff choose so.
INTERNAL_ACTIONS = frozenset({"note", "escalate", "assign", "settle_advance_exchange"})
SHAREABLE = frozenset({"note", "escalate"})


def choice(value, field: str = "visibility") -> str | None:
    """A staff member's explicit choice (None: none given); anything else is refused naming the field."""
    if value is None or value == "":
        return None
    if value not in CHOICES:
        raise Explained(field, N_("choose 'customer' (the customer sees it) or 'internal' (staff only)"),
                        allowed=list(CHOICES))
    return value


def of_event(action: str, actor: Actor, chosen: str | None) -> str:
    """The visibility of a new timeline event: the customer's own steps are theirs; a staff choice where the step
    may be shared; otherwise what the kind of step is."""
    if actor.kind == "customer":
        return CUSTOMER
    default = INTERNAL if action in INTERNAL_ACTIONS else CUSTOMER
    if chosen is None or chosen == default or action == "attach":
        return chosen or default
    if action not in SHAREABLE:
        raise Explained("visibility", N_("this step is always shown to the customer") if default == CUSTOMER
                        else N_("this step is always internal"), allowed=[default])
    return chosen


def of_file(actor: Actor, chosen: str | None) -> str:
    """A file the customer sends is theirs; a file staff add (warehouse and inspection photos, evidence) is internal
    unless they choose to share it."""
    if actor.kind == "customer":
        return CUSTOMER
    return chosen or INTERNAL


def shown(row) -> bool:
    """Whether the customer may see this row (an event, message, attachment or hand-off)."""
    return getattr(row, "visibility", None) == CUSTOMER
