"""Refund arithmetic over plain data, in integer minor units: no I/O, no floats, no cent lost or invented.

- An order-level discount is allocated over the lines by largest remainder, so the shares add up exactly.
- A line is refunded unit by unit cumulatively: after k of n units the customer has had exactly
  floor(net * k / n), so partial returns in any order, over any number of cases, add up to the line's net.
- Deductions (policy, inspection) come off the line they belong to and never below zero.
- The total is capped by what the order still has un-refunded, and split back over the payment methods in
  proportion to what each still holds (CN9), each leg capped by its method's remainder.
"""

from __future__ import annotations

from dataclasses import dataclass, field


NOT_CASH = frozenset({"balance", "store_credit", "points", "coupon"})


def allocate(total: int, weights: list[int]) -> list[int]:
    """Splits `total` over `weights` in proportion, by largest remainder; the parts add up to `total` exactly."""
    if total < 0:
        raise ValueError("total must not be negative")
    if not weights:
        if total:
            raise ValueError("nothing to allocate over")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    whole = sum(weights)
    if whole == 0:
        weights, whole = [1] * len(weights), len(weights)
    parts = [total * w // whole for w in weights]
    left = total - sum(parts)
    # Largest remainder first; ties go to the earlier index, so the result is deterministic.
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def cumulative_share(net: int, quantity: int, units: int) -> int:
    """What `units` of `quantity` are worth of a line that cost `net` in all (exact when units == quantity)."""
    return net * units // quantity


@dataclass(frozen=True)
class LineFacts:
    """An order line as paid: its own discount already taken off `paid`."""

    id: int
    quantity: int
    paid: int


@dataclass(frozen=True)
class OrderFacts:
    currency: str
    lines: tuple[LineFacts, ...]
    discount: int  # order-level, over all lines
    shipping_fee: int
    paid_total: int
    payments: tuple[tuple[str, int], ...]  # (method, amount); empty means one payment of paid_total
    shipping_cost: int | None = None  # what a free-shipping order's delivery cost the merchant: the most CN6 takes
    standard_shipping: int | None = None  # EU4: the standard delivery's price under a premium one (refunded instead)

    def line_nets(self) -> dict[int, int]:
        """Each line's paid amount after its share of the order-level discount."""
        paid = [line.paid for line in self.lines]
        shares = allocate(min(self.discount, sum(paid)), paid)
        return {line.id: line.paid - share for line, share in zip(self.lines, shares)}

    def payment_list(self) -> list[tuple[str, int]]:
        return list(self.payments) if self.payments else [("original", self.paid_total)]


@dataclass(frozen=True)
class Prior:
    """What earlier (not rejected) refunds of the same order already took."""

    units: dict[int, int] = field(default_factory=dict)  # order line id -> units refunded
    shipping: int = 0
    total: int = 0  # net refunded over the whole order
    by_payment: dict[int, int] = field(default_factory=dict)  # index into the order's payments -> refunded
    free_shipping: int = 0  # CN6 deductions already taken


@dataclass(frozen=True)
class LineAsk:
    order_line_id: int
    case_line_id: int
    quantity: int
    deductions: tuple[tuple[str, int, str], ...] = ()  # (kind, amount, rule)


@dataclass
class LineResult:
    case_line_id: int
    order_line_id: int
    quantity: int
    gross: int
    deductions: list[dict]
    deducted: int
    net: int


@dataclass
class Quote:
    currency: str
    lines: list[LineResult]
    goods: int
    shipping: int
    deducted: int
    capped: int  # taken off because the order had no more to give
    reduced: int  # taken off because a lower amount was agreed
    total: int
    payments: list[tuple[int, str, int]]  # (payment index, method, amount) legs, amounts > 0
    postage: tuple[int, str, int] | None = None  # CN7: the customer's return postage, its own leg on top


class OverRefund(ValueError):
    """More units asked than the order line has left to refund."""

    def __init__(self, order_line_id: int, asked: int, left: int) -> None:
        super().__init__(f"order line {order_line_id}: {asked} units asked, {left} left to refund")
        self.order_line_id, self.asked, self.left = order_line_id, asked, left


class OverAmount(ValueError):
    """An agreed amount above what may be refunded."""

    def __init__(self, asked: int, most: int) -> None:
        super().__init__(f"{asked} asked, at most {most} may be refunded")
        self.asked, self.most = asked, most


def quote(order: OrderFacts, prior: Prior, asks: list[LineAsk], *, refund_shipping: bool,
          amount: int | None = None, postage: int = 0) -> Quote:
    """The refund for `asks` after `prior`: per line, shipping, deductions, the order cap and the payment split;
    `amount` lowers the total to an agreed figure (never raises it). `postage` (CN7) is not part of what the order
    paid: it comes on top of the cap, as its own leg back along the first cash payment."""
    nets = order.line_nets()
    lines_by_id = {line.id: line for line in order.lines}
    results = []
    # CN6: the free-shipping deduction is taken once per order, whichever lines and cases ask for it.
    if order.shipping_cost is not None:
        shipping_left = max(order.shipping_cost - prior.free_shipping, 0)
    else:  # cost not recorded: the first deduction asked is the cost
        asked = [a for ask in asks for kind, a, _ in ask.deductions if kind == "free_shipping"]
        shipping_left = 0 if prior.free_shipping or not asked else max(asked)
    for ask in asks:
        line = lines_by_id[ask.order_line_id]
        before = prior.units.get(line.id, 0)
        left = line.quantity - before
        if ask.quantity < 0 or ask.quantity > left:
            raise OverRefund(line.id, ask.quantity, left)
        gross = (cumulative_share(nets[line.id], line.quantity, before + ask.quantity)
                 - cumulative_share(nets[line.id], line.quantity, before))
        deductions, deducted = [], 0
        for kind, asked, rule in ask.deductions:
            take = min(asked, gross - deducted)  # a deduction never takes the line below zero
            if kind == "free_shipping":
                take = min(take, shipping_left)
                shipping_left -= take
            deductions.append({"kind": kind, "asked": asked, "amount": take, "rule": rule})
            deducted += take
        results.append(LineResult(ask.case_line_id, line.id, ask.quantity, gross, deductions, deducted,
                                  gross - deducted))
    goods = sum(r.gross for r in results)
    deducted = sum(r.deducted for r in results)
    refundable_shipping = order.shipping_fee if order.standard_shipping is None else min(
        order.standard_shipping, order.shipping_fee)  # EU4: never the premium surcharge
    shipping = max(refundable_shipping - prior.shipping, 0) if refund_shipping else 0
    wanted = goods - deducted + shipping
    room = max(order.paid_total - prior.total, 0)
    total = min(wanted, room)
    methods = order.payment_list()
    remaining = [max(paid - prior.by_payment.get(i, 0), 0) for i, (_, paid) in enumerate(methods)]
    total = min(total, sum(remaining))
    capped = wanted - total
    reduced = 0
    if amount is not None:
        if amount < 0 or amount > total:
            raise OverAmount(amount, total)
        reduced, total = total - amount, amount
    legs = allocate(total, remaining) if total else [0] * len(methods)
    payments = [(i, method, part) for i, ((method, _), part) in enumerate(zip(methods, legs)) if part > 0]
    postage_leg = None
    if postage > 0:
        cash = [i for i, (method, _) in enumerate(methods) if method not in NOT_CASH] or [0]
        postage_leg = (cash[0], methods[cash[0]][0], postage)
        total += postage
    return Quote(order.currency, results, goods, shipping, deducted, capped, reduced, total, payments, postage_leg)
