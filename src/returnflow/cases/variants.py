"""The replacement a customer picks for an exchange: checked against the variants the shop pushed with the order."""

from __future__ import annotations

from ..errors import Explained
from ..i18n import N_
from ..orders.variants import find
from .models import CaseType


def chosen_variants(case_type: CaseType, pairs, currency: str) -> list[dict | None]:
    """Per requested line, the variant it asks for (as stored on the case line), refusing one that is not offered,
    not for an exchange, or no longer available in the quantity asked."""
    chosen: list[dict | None] = []
    for index, (line, item) in enumerate(pairs):
        sku = getattr(item, "variant", None)
        if sku is None:
            chosen.append(None)
            continue
        field = f"lines[{index}].variant"
        if case_type != CaseType.EXCHANGE:
            raise Explained(field, N_("a replacement variant is chosen only for an exchange"),
                            code="variant_not_exchange")
        variant = find(line.exchange_variants, sku)
        if variant is None:
            raise Explained(field, N_("the shop does not offer {wanted} in exchange for {sku}"), code="variant_unknown",
                            wanted=sku, sku=line.sku)
        if int(variant.get("available") or 0) < item.quantity:
            raise Explained(field, N_("{sku} is sold out: {available} available, {asked} asked"),
                            code="variant_sold_out", status=409, sku=sku,
                            available=int(variant.get("available") or 0), asked=item.quantity)
        chosen.append({"sku": variant["sku"], "attributes": variant.get("attributes") or {},
                       "price": int(variant.get("price") or 0), "currency": currency})
    return chosen
