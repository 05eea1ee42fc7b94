"""Order import from CSV, JSON lines or the UCI Online Retail layout: bad rows reported by line, whole orders only.
Its own package above orders and cases (it writes orders and opens return and history cases).

formats.py reads the rows into order records, store.py writes them CHUNK_ORDERS at a time (one transaction
each) and records refused rows, returns.py matches UCI 'C' invoices to earlier purchases and opens them as
return cases once the orders are stored, run.py ties these together and summary.py shows progress and the
summary (see docs/import.md for the mapping and its assumptions). Any other export is read through a mapping
file (mapping.py, mapped.py, tabular.py: CSV in UTF-8/GBK/GB18030 or XLSX); past cases come in by history.py.
"""

from .formats import CSV_REQUIRED, FORMATS, UCI_COLUMNS, UCI_ZONE, detect_format
from .outcome import ImportResult, Refused, ReturnStats, RowError, UnusableInput
from .returns import CASE_CHUNK, NON_PRODUCT_CODES, open_uci_returns
from .run import ensure_merchant, import_file, import_mapped, resolve_merchant, run_import
from .store import CHUNK_ORDERS
from .summary import ImportProgress, print_summary

__all__ = ["CASE_CHUNK", "CHUNK_ORDERS", "CSV_REQUIRED", "FORMATS", "NON_PRODUCT_CODES", "UCI_COLUMNS", "UCI_ZONE",
           "ImportProgress", "ImportResult", "Refused", "ReturnStats", "RowError", "UnusableInput", "detect_format",
           "ensure_merchant", "import_file", "import_mapped", "resolve_merchant", "open_uci_returns", "print_summary", "run_import"]
