"""Goods in motion: return addresses, return instructions and labels, shipments and their tracking."""

from . import hooks  # noqa: F401  (registers the workflow side effects)
