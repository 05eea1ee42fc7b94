"""Mapping files (TOML): which column of an order export holds which of our fields, how its dates read, in which
time zone, its currency, what its order statuses and line kinds mean. Shipped ones live in mappings/*.toml and
are named by their stem (`--mapping taobao`); docs/import.md describes every key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..money import is_currency
from ..orders.records import LINE_KINDS, ORDER_STATUSES
from .messages import Problem
from .tabular import check_encoding

SHIPPED = Path(__file__).resolve().parent / "mappings"

ORDER_FIELDS = ("order_number", "ordered_at", "paid_at", "shipped_at", "delivered_at", "signed_at", "cancelled_at",
                "customer_id", "customer_name", "customer_email", "customer_phone", "country", "currency", "status",
                "order_discount", "shipping_fee", "paid_total")
LINE_FIELDS = ("sku", "title", "category", "unit_price", "line_total", "quantity", "line_discount", "kind")
DATE_FIELDS = ("ordered_at", "paid_at", "shipped_at", "delivered_at", "signed_at", "cancelled_at")
MONEY_FIELDS = ("order_discount", "shipping_fee", "paid_total", "unit_price", "line_total", "line_discount")
KEYS = {"name", "format", "encoding", "sheet", "currency", "time_zone", "date_formats", "sales_channel",
        "returns_prefix", "columns", "status", "kind", "kind_default"}


@dataclass
class Mapping:
    name: str
    columns: dict[str, list[str]]  # our field -> the export's column(s); the first non-empty one is read
    date_formats: list[str] = field(default_factory=lambda: ["iso"])
    time_zone: ZoneInfo | None = None  # None: the merchant's time zone
    currency: str | None = None  # None: the merchant's default currency
    encoding: str = "auto"
    format: str = "auto"  # auto (by extension) | csv | xlsx
    sheet: str | None = None
    sales_channel: str | None = None
    returns_prefix: str | None = None  # order numbers starting with it are returns (UCI 'C' invoices)
    status: dict[str, str] = field(default_factory=dict)
    kind: dict[str, str] = field(default_factory=dict)
    kind_default: str = "product"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def load(ref: str) -> Mapping:
    """The mapping in the file `ref`, or the shipped mapping of that name."""
    path = Path(ref)
    if not path.is_file():
        path = SHIPPED / f"{ref.lower()}.toml"
        if not path.is_file():
            raise Problem("no_mapping", value=ref, shipped=", ".join(shipped_names()))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise Problem("bad_mapping", name=path.name, problem=str(exc)) from None
    return parse(data, path.name)


def parse(data: dict, name: str) -> Mapping:
    def bad(problem: str) -> Problem:
        return Problem("bad_mapping", name=name, problem=problem)

    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}")
    columns: dict[str, list[str]] = {}
    for key, value in (data.get("columns") or {}).items():
        if key not in ORDER_FIELDS + LINE_FIELDS:
            raise bad(f"[columns] {key} is not one of our fields ({', '.join(ORDER_FIELDS + LINE_FIELDS)})")
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise bad(f"[columns] {key} must be a column name or a list of them")
        columns[key] = names
    for needed in ("order_number", "sku", "quantity"):
        if needed not in columns:
            raise bad(f"[columns] needs {needed}")
    if "unit_price" not in columns and "line_total" not in columns:
        raise bad("[columns] needs unit_price or line_total")
    formats = data.get("date_formats", ["iso"])
    if isinstance(formats, str):
        formats = [formats]
    if not formats or not all(isinstance(f, str) and f for f in formats):
        raise bad("date_formats must be a list of formats such as \"%Y-%m-%d %H:%M:%S\" (or \"iso\")")
    zone = None
    if data.get("time_zone"):
        try:
            zone = ZoneInfo(str(data["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise bad(f"time_zone {data['time_zone']!r} is not a time zone such as Asia/Shanghai") from None
    currency = data.get("currency")
    if currency is not None and not is_currency(str(currency).upper()):
        raise bad(f"currency {currency!r} is not a currency code such as CNY")
    status = {str(k): str(v) for k, v in (data.get("status") or {}).items()}
    wrong = sorted({v for v in status.values() if v not in ORDER_STATUSES})
    if wrong:
        raise bad(f"[status] maps to {', '.join(wrong)}; allowed: {', '.join(ORDER_STATUSES)}")
    kind = {str(k): str(v) for k, v in (data.get("kind") or {}).items()}
    kind_default = str(data.get("kind_default", "product"))
    wrong = sorted({v for v in [*kind.values(), kind_default] if v not in LINE_KINDS})
    if wrong:
        raise bad(f"[kind] maps to {', '.join(wrong)}; allowed: {', '.join(LINE_KINDS)}")
    if "status" in columns and not status:
        raise bad("[columns] status is read but the [status] table is empty")
    fmt = str(data.get("format", "auto"))
    if fmt not in ("auto", "csv", "xlsx"):
        raise bad(f"format {fmt!r}: use auto, csv or xlsx")
    return Mapping(name=str(data.get("name") or name), columns=columns, date_formats=list(formats), time_zone=zone,
                   currency=str(currency).upper() if currency else None,
                   encoding=check_encoding(str(data.get("encoding", "auto"))), format=fmt,
                   sheet=data.get("sheet"), sales_channel=data.get("sales_channel"),
                   returns_prefix=data.get("returns_prefix") or None, status=status, kind=kind,
                   kind_default=kind_default)
