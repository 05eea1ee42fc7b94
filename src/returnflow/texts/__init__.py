"""Texts written in English whose translations live in the catalogs (src/returnflow/locale/*)."""
