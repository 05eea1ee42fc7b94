"""Reviews and feedback import: ratings (1-5) with their text, date, order and SKU, not tied to a case, so the
satisfaction report can compare the buyers who returned with all buyers (docs/import.md, "Reviews import").

CSV (UTF-8/GBK/GB18030, detected or --encoding) or JSON lines with the columns review_id, order, sku, rating,
text, reviewed_at. A review is known by its review_id, or else by its order, SKU and day: importing it again
updates it instead of adding it twice. Every cell is checked before anything is written; the first bad one stops
the import, named by row, column and value in the operator's language, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update

from ..analytics.records import Review
from ..db import Database
from ..merchants.models import Merchant
from ..orders.models import Order
from .history_rows import _Cells, json_objects
from ..i18n import lang_of
from .messages import Problem, say
from .tabular import ENCODINGS, check_encoding, csv_rows, detect
from ..merchants.clock import zone_of

COLUMNS = ("review_id", "order", "sku", "rating", "text", "reviewed_at")
MAX_TEXT = 5000


@dataclass
class ReviewRow:
    row: int
    key: str
    source_id: str | None
    order: str | None
    sku: str | None
    rating: int
    text: str
    at: datetime


@dataclass
class ReviewsResult:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    without_order: int = 0  # naming no order, or one this merchant does not have: counted among all buyers only


def _review(cells: _Cells) -> ReviewRow:
    source_id = cells.text("review_id") or None
    order = cells.text("order") or None
    sku = cells.text("sku") or None
    text = cells.text("rating", True)
    try:
        rating = int(text)
    except ValueError:
        rating = 0
    if not 1 <= rating <= 5:
        raise Problem("bad_rating", row=cells.row, column="rating", value=text)
    at = cells.when("reviewed_at", True)
    if source_id is None and order is None:
        raise Problem("missing_value", row=cells.row, column="review_id", value="", field="review_id / order")
    day = at.astimezone(cells.zone).date().isoformat()
    key = f"id:{source_id}" if source_id else f"order:{order}|{sku or ''}|{day}"
    body = cells.text("text")
    if len(body) > MAX_TEXT:
        raise Problem("too_long", row=cells.row, column="text", value=body[:20] + "…", limit=MAX_TEXT)
    return ReviewRow(cells.row, key[:300], source_id, order, sku, rating, body, at)


def read_reviews(file: Path, zone: ZoneInfo, encoding: str | None = None) -> list[ReviewRow]:
    """Every review of the file, checked; a Problem names the first bad cell."""
    name = file.name.lower()
    out: list[ReviewRow] = []
    if name.endswith((".jsonl", ".ndjson")):
        for line, data in json_objects(file):
            out.append(_review(_Cells(line, data.get, zone)))
        return out
    codec = ENCODINGS[check_encoding(encoding or "auto")] or detect(file)
    rows = csv_rows(file, codec)
    _, header = next(rows, (0, None))
    if not header:
        raise Problem("empty_file")
    names = [str(h).strip().lstrip("\ufeff") for h in header]
    for needed in ("rating", "reviewed_at"):
        if needed not in names:
            raise Problem("missing_column", field=needed, column=needed, columns=", ".join(names))
    index = {n: i for i, n in enumerate(names)}
    for line, row in rows:
        if not any(str(c).strip() for c in row):
            continue

        def get(column: str, row=row):
            i = index.get(column)
            return row[i] if i is not None and i < len(row) else ""
        out.append(_review(_Cells(line, get, zone)))
    return out


def import_reviews(db: Database, *, file: Path, merchant: str, time_zone: str | None = None,
                   encoding: str | None = None) -> ReviewsResult:
    """Imports the reviews of `file` for `merchant` in one transaction; a Problem leaves the database as it was."""

    with db.read() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == merchant))
        if merchant_id is None:
            raise Problem("unknown_merchant", value=merchant)
        try:
            zone = ZoneInfo(time_zone) if time_zone else zone_of(session, merchant_id)
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem("bad_mapping", name="--time-zone", problem=f"{time_zone!r} is not a time zone") from None
    found = {r.key: r for r in read_reviews(file, zone, encoding)}  # the same review twice: the later row wins
    result = ReviewsResult(rows=len(found))
    with db.transaction() as session:
        numbers = sorted({r.order for r in found.values() if r.order})
        orders: dict[str, int] = {}
        for start in range(0, len(numbers), 1000):
            orders.update(session.execute(select(Order.number, Order.id).where(
                Order.merchant_id == merchant_id, Order.number.in_(numbers[start:start + 1000]))).all())
        keys = list(found)
        existing: dict[str, int] = {}
        for start in range(0, len(keys), 1000):
            existing.update(session.execute(select(Review.key, Review.id).where(
                Review.merchant_id == merchant_id, Review.key.in_(keys[start:start + 1000]))).all())
        for key, r in found.items():
            values = {"source_id": r.source_id, "order_number": r.order, "order_id": orders.get(r.order or ""),
                      "sku": r.sku, "rating": r.rating, "text": r.text, "reviewed_at": r.at}
            if values["order_id"] is None:
                result.without_order += 1
            if key in existing:
                session.execute(update(Review).where(Review.id == existing[key]).values(**values))
                result.updated += 1
            else:
                session.add(Review(merchant_id=merchant_id, key=key, **values))
                result.inserted += 1
    return result


def run_reviews(db: Database, *, file: Path, merchant: str, time_zone: str | None = None,
                encoding: str | None = None, lang: str | None = None, console=None) -> int:
    """The `import-reviews` command: imports, says what happened in the operator's language; exit code 0 or 2."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    lang = lang_of(lang)
    try:
        result = import_reviews(db, file=file, merchant=merchant, time_zone=time_zone, encoding=encoding)
    except Problem as exc:
        console.print(f"[red]{escape(str(file))}:[/red] {escape(exc.text(lang))}", highlight=False)
        console.print(say("stopped", lang), highlight=False)
        return 2
    console.print(escape(say("reviews_done", lang, inserted=result.inserted, updated=result.updated,
                             rows=result.rows, without_order=result.without_order)), highlight=False)
    return 0
