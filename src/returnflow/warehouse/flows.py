"""The declared transition tables of the warehouse's records (run by flows.move, drawn by `returnflow workflow`).

The receiving desk and repair services check the person's role and the record first with their own messages; the
tables are the one place the steps and their states are declared. Both records keep their state in `status`."""

from __future__ import annotations

from ..flows import OPENING, Flow, Transition

DESK = ("warehouse", "supervisor", "admin")
REPAIRERS = ("agent", "warehouse", "supervisor", "admin")


def _t(action: str, sources, to: str | None, roles: tuple[str, ...], summary: str) -> Transition:
    return Transition(action=action, sources=frozenset(sources), to=to, roles=roles, summary=summary)


RECEIPT = Flow("receipt", "Parcel at the receiving desk (收货)", ("unmatched", "matched", "received"), (
    _t("receive", [OPENING], "received", DESK, "its scan found a case waiting for goods: received at once"),
    _t("hold", [OPENING], "unmatched", DESK,
       "it matched no case, or its case is not waiting for goods: it waits in the exceptions queue"),
    _t("match", ["unmatched"], "matched", DESK, "matched from the exceptions queue to its case and received"),
), state_attr="status")

REPAIR_ORDER = Flow("repair_order", "Repair work order (维修单)", ("open", "repaired", "failed"), (
    _t("open", [OPENING], "open", REPAIRERS, "one open work order per case at a time"),
    _t("repaired", ["open"], "repaired", REPAIRERS, "the repair held: the case moves on"),
    _t("failed", ["open"], "failed", REPAIRERS, "the repair did not hold: counted by the 三包 rules"),
), state_attr="status")

WAREHOUSE_FLOWS = (RECEIPT, REPAIR_ORDER)
