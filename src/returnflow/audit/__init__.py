"""Audit: the hash-chained case event log and the closed-case archive (归档)."""
