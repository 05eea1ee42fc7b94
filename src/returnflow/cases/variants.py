"""The replacement a customer picks for an exchange: checked against the variants the shop pushed with the order."""

from __future__ import annotations

from ..errors import Explained
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
            raise Explained(field, "a replacement variant is chosen only for an exchange",
                            "只有换货才能选择换成的款式", code="variant_not_exchange")
        variant = find(line.exchange_variants, sku)
        if variant is None:
            raise Explained(field, f"the shop does not offer {sku} in exchange for {line.sku}",
                            f"商家未提供 {sku} 作为 {line.sku} 的换货款式", code="variant_unknown")
        if int(variant.get("available") or 0) < item.quantity:
            raise Explained(field, f"{sku} is sold out: {variant.get('available') or 0} available, "
                                   f"{item.quantity} asked", f"{sku} 已售罄：可换 {variant.get('available') or 0} 件，"
                                                              f"申请 {item.quantity} 件", code="variant_sold_out",
                            status=409)
        chosen.append({"sku": variant["sku"], "attributes": variant.get("attributes") or {},
                       "price": int(variant.get("price") or 0), "currency": currency})
    return chosen
