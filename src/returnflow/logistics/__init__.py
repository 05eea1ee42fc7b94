"""Goods in motion: return addresses, return instructions and labels, shipments and their tracking."""

from . import advance, hooks  # noqa: F401  (register the workflow side effects and the deadline handler)
