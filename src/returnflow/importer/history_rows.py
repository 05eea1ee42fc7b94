"""Reading past cases from CSV (one row per case line) or JSON lines (one case per line, events allowed) into
HistoryCase values; every cell is checked here, before anything is written (docs/import.md, "History import")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..cases.models import CaseState, CaseType
from ..cases.workflow import BY_ACTION
from .mapped import _text
from .messages import Problem
from .tabular import ENCODINGS, check_encoding, csv_rows, detect

CASE_COLUMNS = ("case_id", "order", "type", "state", "opened_at", "closed_at", "reason", "description", "outcome",
                "refund_amount", "currency")
LINE_COLUMNS = ("line_no", "sku", "quantity", "line_reason", "received_quantity", "accepted_quantity")
STATES = tuple(s.value for s in CaseState)
TYPES = tuple(t.value for t in CaseType)
OUTCOMES = ("resolved", "rejected", "cancelled")


@dataclass
class HistoryLine:
    line_no: int | None
    sku: str | None
    quantity: int
    reason: str | None = None
    received: int | None = None
    accepted: int | None = None


@dataclass
class HistoryEvent:
    action: str
    at: datetime
    by: str = ""
    note: str = ""
    state: str | None = None


@dataclass
class HistoryCase:
    row: int  # the first line of the case in the file
    case_id: str
    order: str
    type: str
    state: str
    opened_at: datetime
    closed_at: datetime | None = None
    reason: str | None = None
    description: str = ""
    outcome: str | None = None
    refund_amount: Decimal | None = None
    currency: str | None = None
    lines: list[HistoryLine] = field(default_factory=list)
    events: list[HistoryEvent] = field(default_factory=list)


_OWN = object()  # read the cell of the record itself


class _Cells:
    """Typed reading of one record's cells, each refusal naming the row, the column and the value."""

    def __init__(self, row: int, get, zone: ZoneInfo) -> None:
        self.row, self._get, self.zone = row, get, zone

    def text(self, name: str, required: bool = False) -> str:
        value = self._get(name)
        value = "" if value is None else _text(str(value))
        if required and not value:
            raise Problem("missing_value", row=self.row, column=name, value=value, field=name)
        return value

    def choice(self, name: str, allowed: tuple[str, ...], key: str, default: str | None = None) -> str | None:
        value = self.text(name)
        if not value:
            if default is None:
                return None
            return default
        if value not in allowed:
            raise Problem(key, row=self.row, column=name, value=value, allowed=", ".join(allowed))
        return value

    def when(self, name: str, required: bool = False, value: Any = _OWN) -> datetime | None:
        text = self.text(name, required) if value is _OWN else str(value or "").strip()
        if not text:
            if required:
                raise Problem("missing_value", row=self.row, column=name, value=text, field=name)
            return None
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise Problem("bad_date", row=self.row, column=name, value=text,
                          formats="ISO 8601 (2024-03-01T10:00:00+08:00)") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.zone)  # the --time-zone or the merchant's, never silently UTC
        return at.astimezone(timezone.utc)

    def whole(self, name: str, value: Any = _OWN, required: bool = False) -> int | None:
        text = self.text(name, required) if value is _OWN else str(value if value is not None else "").strip()
        if not text:
            if required:
                raise Problem("missing_value", row=self.row, column=name, value=text, field=name)
            return None
        try:
            number = int(text)
        except ValueError:
            raise Problem("bad_quantity", row=self.row, column=name, value=text) from None
        if number < 0:
            raise Problem("bad_quantity", row=self.row, column=name, value=text)
        return number

    def money(self, name: str) -> Decimal | None:
        text = self.text(name)
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise Problem("bad_number", row=self.row, column=name, value=text) from None
        if not value.is_finite() or value < 0:
            raise Problem("bad_number", row=self.row, column=name, value=text)
        return value


def _case(cells: _Cells) -> HistoryCase:
    case = HistoryCase(row=cells.row, case_id=cells.text("case_id", True), order=cells.text("order", True),
                       type=cells.choice("type", TYPES, "bad_type", "return_refund"),
                       state=cells.choice("state", STATES, "bad_state", None) or "",
                       opened_at=cells.when("opened_at", True), closed_at=cells.when("closed_at"),
                       reason=cells.text("reason") or None, description=cells.text("description"),
                       outcome=cells.choice("outcome", OUTCOMES, "bad_state"), refund_amount=cells.money("refund_amount"),
                       currency=cells.text("currency").upper() or None)
    if not case.state:
        raise Problem("missing_value", row=cells.row, column="state", value="", field="state")
    if case.closed_at is not None and case.closed_at < case.opened_at:
        raise Problem("closed_before_opened", row=cells.row, column="closed_at", value=cells.text("closed_at"),
                      opened=cells.text("opened_at"))
    return case


def _line(cells: _Cells, item) -> HistoryLine:
    line_no = cells.whole("line_no", item("line_no"))
    sku = str(item("sku") or "").strip() or None
    if line_no is None and sku is None:
        raise Problem("missing_value", row=cells.row, column="sku", value="", field="sku / line_no")
    quantity = cells.whole("quantity", item("quantity"), required=True)
    if not quantity:
        raise Problem("bad_quantity", row=cells.row, column="quantity", value=item("quantity"))
    return HistoryLine(line_no, sku, quantity, str(item("reason") or "").strip() or None,
                       cells.whole("received_quantity", item("received_quantity")),
                       cells.whole("accepted_quantity", item("accepted_quantity")))


def read_history(file: Path, zone: ZoneInfo, encoding: str | None = None) -> list[HistoryCase]:
    """Every case of the file, checked; a Problem names the first bad cell."""
    name = file.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return _read_jsonl(file, zone)
    codec = ENCODINGS[check_encoding(encoding or "auto")] or detect(file)
    rows = csv_rows(file, codec)
    _, header = next(rows, (0, None))
    if not header:
        raise Problem("empty_file")
    names = [h.strip().lstrip("\ufeff") for h in header]
    for needed in ("case_id", "order", "state", "opened_at", "quantity"):
        if needed not in names:
            raise Problem("missing_column", field=needed, column=needed, columns=", ".join(names))
    index = {n: i for i, n in enumerate(names)}
    cases: dict[str, HistoryCase] = {}
    for line, row in rows:
        if not any(c.strip() for c in row):
            continue

        def get(column: str, row=row):
            i = index.get(column)
            return row[i] if i is not None and i < len(row) else ""
        cells = _Cells(line, get, zone)
        case_id = cells.text("case_id", True)
        case = cases.get(case_id)
        if case is None:
            case = cases[case_id] = _case(cells)
        elif cells.text("order") and cells.text("order") != case.order:
            raise Problem("conflicting_rows", row=line, column="order", value=case_id)
        case.lines.append(_line(cells, lambda key, get=get: get("line_reason" if key == "reason" else key)))
    return list(cases.values())


def json_objects(file: Path):
    """(line number, object) for each non-blank line of a JSON-lines file; a line that is not a JSON object stops
    the import naming its row (the history and reviews imports read the same way)."""
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise Problem("unreadable", problem=exc.strerror) from None
    with handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise Problem("bad_json", row=line, column="-", value=raw[:40].decode("utf-8", "replace"),
                              problem=str(exc)) from None
            if not isinstance(data, dict):
                raise Problem("bad_json", row=line, column="-", value=str(data)[:40], problem="not an object")
            yield line, data


def _read_jsonl(file: Path, zone: ZoneInfo) -> list[HistoryCase]:
    cases: list[HistoryCase] = []
    for line, data in json_objects(file):
        cells = _Cells(line, data.get, zone)
        case = _case(cells)
        items = data.get("lines") or []
        if not isinstance(items, list):
            raise Problem("bad_json", row=line, column="lines", value=str(items)[:40], problem="not a list")
        for item in items:
            if not isinstance(item, dict):
                raise Problem("bad_json", row=line, column="lines", value=str(item)[:40],
                              problem="not an object")
            case.lines.append(_line(cells, item.get))
        if not case.lines:
            raise Problem("missing_value", row=line, column="lines", value="", field="lines")
        for event in data.get("events") or []:
            if not isinstance(event, dict):
                raise Problem("bad_json", row=line, column="events", value=str(event)[:40],
                              problem="not an object")
            action = str(event.get("action") or "")
            if action not in BY_ACTION:
                raise Problem("bad_state", row=line, column="events.action", value=action,
                              allowed=", ".join(BY_ACTION))
            state = str(event.get("state") or "") or None
            if state is not None and state not in STATES:
                raise Problem("bad_state", row=line, column="events.state", value=state,
                              allowed=", ".join(STATES))
            case.events.append(HistoryEvent(action, cells.when("events.at", True, event.get("at")),
                                            str(event.get("by") or ""), str(event.get("note") or ""), state))
        cases.append(case)
    return cases
