"""Cells for files people open in a spreadsheet program (CSV and XLSX): text that could run as a formula is defused.

A spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, after trimming, tab or carriage return)
as a formula, so a customer's reason text ``=HYPERLINK(...)`` in an export would run on the finance clerk's machine.
Following OWASP's advice every such text cell gets a leading single quote, which spreadsheets read as "this is
text". Numbers stay numbers: int, Decimal and float values pass unchanged, and so does a string that is nothing but
a plain decimal number (``-12.50``, the way amounts are written in our CSVs) — it cannot be a formula, and quoting it
would turn a refund's negative amount into text nobody can add up.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def cell(value: Any) -> Any:
    """The value as it may go into a CSV or XLSX cell: formula-looking text quoted, numbers untouched."""
    if value is None or isinstance(value, (bool, int, float, Decimal)):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(TRIGGERS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def row(values) -> list[Any]:
    """Every cell of a row through `cell`."""
    return [cell(v) for v in values]
