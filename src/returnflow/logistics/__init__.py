"""Goods in motion: return addresses, return instructions and labels, shipments and their tracking."""
