"""The declared transition tables of logistics' records (run by flows.move, drawn by `returnflow workflow`).

A parcel's status follows its carrier: after it is registered, each newer carrier event that says something sets
the status to what the event says, whatever the status was before (events arrive late and out of order; an older
or unknown event never moves it, see adapters.advance), so the table has one `track_<status>` step per tracking
status, from any other state, by the carrier ("gateway"). A courier pickup booking is claimed before the carrier
is asked (one per case) and ends booked or failed; a failed one may be claimed again. The services refuse first
with their own messages; the tables declare the steps. Both records keep their state in `status`."""

from __future__ import annotations

from sqlalchemy import select

from ..cases.models import Case
from ..flows import OPENING, Flow, Transition
from .adapters import STATUSES

REGISTERED = "registered"
# Who records a parcel: whoever may record the return parcel or ship the replacement (the case workflow's
# ship_return and ship_replacement; it refuses the rest with its own words).
REGISTRARS = ("customer", "agent", "warehouse", "supervisor", "admin", "system")
CARRIER = ("gateway",)  # the carrier's tracking event (a webhook, a poll, a file), whoever delivered it to us
# Who books a courier pickup for the return: whoever may record the return parcel.
BOOKERS = ("customer", "agent", "supervisor", "admin", "system")


def _t(action: str, sources, to: str | None, roles: tuple[str, ...], summary: str) -> Transition:
    return Transition(action=action, sources=frozenset(sources), to=to, roles=roles, summary=summary)


def track(status: str) -> str:
    """The action of a carrier event that sets the parcel's status to `status`."""
    return f"track_{status}"


SHIPMENT = Flow(
    "shipment", "Parcel (包裹): its status follows the carrier's newest tracking event", (REGISTERED, *STATUSES), (
        _t("register", [OPENING], REGISTERED, REGISTRARS,
           "the return parcel or the item sent out, recorded with its carrier and number"),
        *(_t(track(status), [s for s in (REGISTERED, *STATUSES) if s != status], status, CARRIER,
             f"a newer carrier event says {status.replace('_', ' ')} (from any other status)") for status in STATUSES),
    ), state_attr="status")

PICKUP_CLAIM = Flow(
    "pickup_claim", "Courier pickup booking (上门取件)", ("booking", "booked", "failed"), (
        _t("claim", [OPENING], "booking", BOOKERS, "claimed before the carrier is asked: one booking per case"),
        _t("reclaim", ["failed"], "booking", BOOKERS, "a failed booking is tried again"),
        _t("book", ["booking"], "booked", BOOKERS, "the carrier booked it: the return parcel is recorded"),
        _t("fail", ["booking"], "failed", BOOKERS, "the carrier refused or did not answer: free for another try"),
    ), state_attr="status", id_attr="case_id", case_of=lambda claim: claim.case_id,
    merchant_of=lambda session, claim: session.scalar(select(Case.merchant_id).where(Case.id == claim.case_id)))

LOGISTICS_FLOWS = (SHIPMENT, PICKUP_CLAIM)
