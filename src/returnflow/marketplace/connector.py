"""The connector interface every marketplace platform implements: pull the after-sales requests created or changed
in a window, push the desk's decisions back carrying the platform's version of the request.

A connector speaks one platform's open API and nothing else: it does not touch the database. `sync.py` decides what
becomes a case and what is a conflict; the outbox handler (`push.py`) calls `push` once per decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

DECISIONS = ("agree_refund", "agree_return", "refuse", "received")


@dataclass(frozen=True)
class PlatformRequest:
    """One after-sales request as the platform shows it."""

    external_id: str          # the platform's request id (Taobao refund_id)
    order_ref: str            # the platform's order id (Taobao tid) = our order's number
    status: str               # the platform's status (WAIT_SELLER_AGREE, ...)
    version: str              # what a decision must carry to be accepted (Taobao refund_version)
    created: datetime         # when the buyer asked, aware (the case's clocks start here)
    modified: datetime        # when it last changed on the platform, aware
    goods_return: bool        # the buyer sends goods back (return and refund) or not (refund only)
    amount: Decimal           # what the buyer asks back, in the order's currency
    sku: str = ""             # the shop's code of the item (Taobao outer_id), matched to our order line's SKU
    quantity: int = 1
    reason: str = ""
    description: str = ""
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """A desk decision to send: `version` is the platform version the desk decided on."""

    decision: str             # one of DECISIONS
    external_id: str
    version: str
    amount_minor: int = 0     # agree_refund: what is refunded, in minor units (fen)
    message: str = ""         # refuse: the reason shown to the buyer
    phase: str = ""           # Tmall: onsale | aftersale (as pulled); empty on Taobao


class PlatformError(Exception):
    """The platform answered with an error. `stale`: the version sent is no longer the request's (someone changed it
    on the platform); `signature`: the platform refused our signature (credentials); `retry`: a system error on the
    platform's side that may pass (the others are definite answers)."""

    def __init__(self, message: str, *, code: str = "", stale: bool = False, signature: bool = False,
                 retry: bool = False) -> None:
        super().__init__(message)
        self.code, self.stale, self.signature, self.retry = code, stale, signature, retry


class Connector(Protocol):
    platform: str

    def pull(self, start: datetime, end: datetime) -> list[PlatformRequest]:
        """Every request created or changed in [start, end] (all pages). Raises PlatformError."""
        ...

    def get(self, external_id: str) -> PlatformRequest:
        """One request as the platform shows it now. Raises PlatformError."""
        ...

    def push(self, decision: Decision) -> str:
        """Sends one decision; returns the platform's request id of the call. Raises PlatformError."""
        ...
