"""History import: past cases with their own dates, states, lines, reasons, amounts, outcome and events.

Each case is opened as the import channel opens cases (cases/service.open_case with created_at = its opened_at:
its number and every analytics period follow that date), then its events are appended with their own times and
its state, outcome and line quantities set as the file says. Nothing goes through the live workflow: no guard,
no policy, no timer, no notification or webhook (the notify, webhook and SLA producers skip the import channel),
so customers hear nothing of history. One transaction for the whole file: a bad cell stops it and nothing is
written. Re-running is harmless: a case id already imported for the merchant is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import insert, select, update
import csv

from ..actor import Actor
from ..cases.models import Case, CaseLine, CaseType, Channel
from ..cases.schemas import CaseCreate, CaseLineCreate
from ..cases.store import append_event
from ..cases.workflow import RELEASING_STATES, TERMINAL_STATES, BY_ACTION
from ..db import Database
from ..errors import AppError
from ..i18n import SUPPORTED, lang_of
from ..merchants.models import Merchant
from ..money import MoneyError, to_minor
from .history_rows import HistoryCase, HistoryEvent, read_history
from .messages import Problem, say
from ..merchants.clock import zone_of
from ..cases.service import open_case
from ..analytics.records import ReturnCredit

# Without events, a case gets its opening and the step that put it in its state (closed: its outcome, then close).
LAST_STEP = {"awaiting_customer": "request_info", "pending_approval": "require_approval",
             "awaiting_return": "approve", "return_in_transit": "ship_return", "received": "receive",
             "inspected": "inspect", "in_repair": "start_repair", "resolving": "complete_repair",
             "resolved": "resolve", "rejected": "reject", "disputed": "dispute", "cancelled": "cancel"}
GOODS_IN = {"received", "inspected", "in_repair", "resolving", "resolved", "closed", "disputed"}
CHECKED = {"inspected", "in_repair", "resolving", "resolved", "closed", "disputed"}


@dataclass
class HistoryResult:
    rows: int = 0  # cases read
    inserted: int = 0
    kept: int = 0  # already imported before (same case id)
    zone: str = ""


def import_history(db: Database, *, file: Path, merchant: str, time_zone: str | None = None,
                   encoding: str | None = None) -> HistoryResult:
    """Imports the past cases of `file` for `merchant`; a Problem leaves the database as it was."""
    with db.read() as session:
        row = session.scalar(select(Merchant).where(Merchant.code == merchant))
        if row is None:
            raise Problem("unknown_merchant", value=merchant)
        merchant_id = row.id

        try:
            zone = ZoneInfo(time_zone) if time_zone else zone_of(session, merchant_id)
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem("bad_mapping", name="--time-zone", problem=f"{time_zone!r} is not a time zone") from None
    cases = read_history(file, zone, encoding)
    result = HistoryResult(rows=len(cases), zone=zone.key)
    actor = Actor(kind="system", role="system", merchant_id=merchant_id, name="history import")
    with db.transaction() as session:
        ids = [c.case_id for c in cases]
        done: set[str] = set()
        for start in range(0, len(ids), 1000):
            done.update(session.scalars(select(Case.external_ref).where(
                Case.merchant_id == merchant_id, Case.channel == Channel.IMPORT.value,
                Case.external_ref.in_(ids[start:start + 1000]))))
        for case in cases:
            if case.case_id in done:
                result.kept += 1
                continue
            done.add(case.case_id)
            _store(session, actor, case)
            result.inserted += 1
    return result


def run_history(db: Database, *, file: Path, merchant: str, time_zone: str | None = None,
                encoding: str | None = None, lang: str | None = None, errors_file: Path | None = None,
                console=None) -> int:
    """The `import-cases` command: imports, says what happened in the operator's language; exit code 0 or 2."""
    from rich.console import Console
    from rich.markup import escape


    console = console or Console()
    lang = lang_of(lang)
    try:
        result = import_history(db, file=file, merchant=merchant, time_zone=time_zone, encoding=encoding)
    except Problem as exc:
        console.print(f"[red]{escape(str(file))}:[/red] {escape(exc.text(lang))}", highlight=False)
        console.print(say("stopped", lang), highlight=False)
        if errors_file is not None:
            try:
                with open(errors_file, "w", encoding="utf-8", newline="") as handle:
                    csv.writer(handle).writerows([["line", "reason"], [exc.row or "", exc.text(lang)]])
            except OSError as error:
                console.print(escape(say("unreadable", lang, problem=f"{errors_file}: {error.strerror}")))
        return 2
    console.print(escape(say("history_done", lang, inserted=result.inserted, kept=result.kept, rows=result.rows)),
                  highlight=False)
    return 0


def _refusal(case: HistoryCase, exc: AppError) -> Problem:
    field = exc.field or ""
    column = {"order": "order", "reason": "reason"}.get(field.split(".")[0].split("[")[0], field or "-")
    if field.startswith("lines"):
        column = "line_reason" if field.endswith("reason") else ("quantity" if field.endswith("quantity") else "sku")
    return Problem("refused", row=case.row, column=column, value=case.order if column == "order" else field,
                   problem={lang: exc.render(lang)["message"] for lang in SUPPORTED})  # the words the API gives


def _store(session, actor: Actor, case: HistoryCase) -> None:
    try:
        data = CaseCreate(order=case.order, type=CaseType(case.type), channel=Channel.IMPORT, reason=case.reason,
                          description=case.description, external_ref=case.case_id,
                          lines=[CaseLineCreate(line_no=li.line_no, sku=li.sku, quantity=li.quantity,
                                                reason=li.reason) for li in case.lines])
    except ValidationError as exc:
        err = exc.errors()[0]
        column = str(err["loc"][-1]) if err["loc"] else "-"
        raise Problem("refused", row=case.row, column=column, value=err.get("input"),
                      problem=err["msg"]) from None
    try:
        record = open_case(session, actor=actor, data=data, created_at=case.opened_at)
    except AppError as exc:
        raise _refusal(case, exc) from None
    if case.currency and case.currency != record.currency:
        raise Problem("wrong_currency", row=case.row, column="currency", value=case.currency,
                      expected=record.currency)
    credited = None
    if case.refund_amount is not None:
        try:
            credited = to_minor(case.refund_amount, record.currency)
        except MoneyError as exc:
            raise Problem("refused", row=case.row, column="refund_amount", value=str(case.refund_amount),
                          problem={lang: exc.said(lang) for lang in SUPPORTED}) from None
    outcome = case.outcome or _outcome(case)
    last_at = case.closed_at or (case.events[-1].at if case.events else case.opened_at)
    for step in case.events or _steps(case, outcome, last_at):
        source = record.state
        record.state = step.state or _target(step.action, source, record)
        record.version += 1
        payload = {"imported": True, **({"message": step.note} if step.note else {})}
        append_event(session, record, action=step.action, actor=Actor(kind="system", role="system",
                     merchant_id=actor.merchant_id, name=step.by or actor.name), source=source, payload=payload,
                     at=step.at, visibility="internal")
    record.state = case.state
    if credited is not None:
        record.version += 1
        append_event(session, record, action="note", actor=actor, source=case.state,
                     payload={"imported": True, "refund_amount": credited, "currency": record.currency,
                              "text": f"credited {case.refund_amount} {record.currency}"},
                     at=last_at, visibility="internal")
        _credit_lines(session, record, credited)
    holds = outcome not in ("rejected", "cancelled") and not (case.type == "repair" and case.state in
                                                               ("resolved", "closed"))
    if case.state in {s.value for s in RELEASING_STATES}:
        holds = False
    terminal = case.state in {s.value for s in TERMINAL_STATES}
    session.execute(update(Case).where(Case.id == record.id).values(
        state=case.state, outcome=outcome, version=record.version, holds_quantity=holds,
        closed_at=last_at if terminal else None, updated_at=max(last_at, case.opened_at)),
        execution_options={"synchronize_session": False})
    back = record.needs_return and outcome not in ("rejected", "cancelled")
    for source, line in zip(case.lines, record.lines):
        received = source.received if source.received is not None else (
            line.quantity if back and case.state in GOODS_IN else 0)
        accepted = source.accepted if source.accepted is not None else (
            received if case.state in CHECKED and outcome == "resolved" else 0)
        session.execute(update(CaseLine).where(CaseLine.id == line.id).values(
            received_quantity=received, accepted_quantity=accepted),
            execution_options={"synchronize_session": False})


def _credit_lines(session, record, credited: int) -> None:
    """The credited amount shared over the case's lines by purchase value (cumulative shares, so they add up to
    it exactly), kept for the reports (analytics `return_credits`): returns are valued at what was credited."""
    values = [(line.id, (line.unit_price or 0) * line.quantity) for line in record.lines]
    whole = sum(v for _, v in values)
    if not values:
        return
    before = 0
    rows = []
    for line_id, value in values:
        share = (credited * (before + value) // whole - credited * before // whole) if whole else 0
        if not whole and line_id == values[0][0]:
            share = credited
        before += value
        rows.append({"case_line_id": line_id, "case_id": record.id, "merchant_id": record.merchant_id,
                     "amount": share, "source": "history"})
    session.execute(insert(ReturnCredit), rows)


def _outcome(case: HistoryCase) -> str | None:
    if case.state in ("resolved", "rejected", "cancelled"):
        return case.state
    if case.state == "closed":
        return "rejected" if any(e.action == "reject" for e in case.events) else "resolved"
    return None


def _steps(case: HistoryCase, outcome: str | None, at) -> list[HistoryEvent]:
    if case.state == "closed":
        first = "reject" if outcome == "rejected" else ("cancel" if outcome == "cancelled" else "resolve")
        if first == "cancel":
            return [HistoryEvent("cancel", at, state="cancelled")]
        return [HistoryEvent(first, at, state="rejected" if first == "reject" else "resolved"),
                HistoryEvent("close", at, state="closed")]
    step = LAST_STEP.get(case.state)
    return [HistoryEvent(step, at, state=case.state)] if step else []


def _target(action: str, source: str, record) -> str:
    """Where the step took the case: the workflow's target (approval: by type and return); none keeps it."""
    to = BY_ACTION[action].to
    if callable(to):
        to = to(record, {})
    return source if to is None else to.value
