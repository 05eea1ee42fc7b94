"""The variants an order line offers in exchange, read from the JSON text the push stored."""

from __future__ import annotations

import json
from typing import Any

from ..money import fmt


def variants_of(stored: str | None) -> list[dict[str, Any]]:
    """The stored variants (sku, attributes, price in minor units, available); [] when none were pushed."""
    if not stored:
        return []
    try:
        data = json.loads(stored)
    except ValueError:
        return []
    return [v for v in data if isinstance(v, dict) and "sku" in v] if isinstance(data, list) else []


def find(stored: str | None, sku: str) -> dict[str, Any] | None:
    return next((v for v in variants_of(stored) if v["sku"] == sku), None)


def as_api(stored: str | None, currency: str) -> list[dict[str, Any]]:
    """The variants as the API shows them: price as a decimal string."""
    return [{"sku": v["sku"], "attributes": v.get("attributes") or {}, "price": fmt(int(v.get("price") or 0), currency),
             "available": int(v.get("available") or 0)} for v in variants_of(stored)]
