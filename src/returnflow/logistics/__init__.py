"""Goods in motion: return addresses, return instructions and labels, shipments and their tracking."""

from . import advance, hooks, subscriptions  # noqa: F401  (register the side effects, the deadline and subscriptions)
