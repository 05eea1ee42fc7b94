"""Past cases through `returnflow import-cases`, on SQLite and PostgreSQL: their own dates, numbers, states,
lines, amounts and events; idempotent; no notification; analytics count them in their own month; bad cells stop
the import before anything is written."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from returnflow.cases.models import Case, CaseEvent
from tests.support.import_cli import run_cli, written  # noqa: F401 - run_cli is a fixture
from tests.support.world import make_shop

EXPORTS = Path(__file__).resolve().parents[1] / "data" / "exports"
UTC = timezone.utc
HEADER = ("case_id,order,type,state,opened_at,closed_at,reason,description,outcome,refund_amount,currency,"
          "line_no,sku,quantity,line_reason")
HISTORY = "\n".join([
    HEADER,
    '1001,="3301234567890123",return_refund,closed,2024-03-05 09:00:00,2024-03-12 18:00:00,wrong_size,Too small,'
    'resolved,110.00,CNY,,TS-WHITE-L,2,',
    "1001,,,,,,,,,,,,BAG-CANVAS,1,changed_mind",
    "1002,3301234567890789,return_refund,rejected,2024-03-10T10:00:00+08:00,,,,,,,1,,1,",
]) + "\n"


@pytest.fixture
def shop(db, run_cli):
    make_shop(db, "tb")
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", "taobao",
                        "--merchant", "tb")
    assert code == 0, out
    return "tb"


def cases_of(db) -> dict[str, Case]:
    with db.read() as session:
        cases = session.scalars(select(Case)).all()
        for case in cases:
            case.lines  # noqa: B018
        return {c.external_ref: c for c in cases}


def events_of(db, case_id: int) -> list[tuple]:
    with db.read() as session:
        return [(e.seq, e.action, e.from_state, e.to_state, e.created_at, e.actor_name, e.payload)
                for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                         .order_by(CaseEvent.seq))]


def test_csv_history_lands_on_its_own_dates_once_and_tells_nobody(db, run_cli, shop, tmp_path):
    file = tmp_path / "history.csv"
    file.write_text(HISTORY, encoding="utf-8")
    before = written(db)["outbox"]
    code, out = run_cli("import-cases", file, "--merchant", shop)
    assert code == 0, out
    assert "2 cases imported, 0 already there" in out
    cases = cases_of(db)
    first = cases["1001"]
    # 09:00 without an offset is the merchant's time (Asia/Shanghai), so 01:00 UTC, and the number carries the day
    assert first.created_at == datetime(2024, 3, 5, 1, 0, tzinfo=UTC)
    assert first.number.startswith("AS240305")
    assert (first.state, first.outcome, first.channel, first.reason_code) == ("closed", "resolved", "import",
                                                                              "wrong_size")
    assert first.closed_at == datetime(2024, 3, 12, 10, 0, tzinfo=UTC)
    assert sorted((li.quantity, li.received_quantity, li.accepted_quantity, li.reason_code) for li in first.lines) \
        == [(1, 1, 1, "changed_mind"), (2, 2, 2, None)]
    events = events_of(db, first.id)
    assert [(e[0], e[1], e[3]) for e in events] == [(1, "open", "pending_review"), (2, "resolve", "resolved"),
                                                    (3, "close", "closed"), (4, "note", "closed")]
    assert events[1][4] == datetime(2024, 3, 12, 10, 0, tzinfo=UTC)
    assert events[3][6]["refund_amount"] == 11000  # what was credited, in minor units
    assert first.version == 4
    second = cases["1002"]
    assert (second.state, second.outcome, second.holds_quantity) == ("rejected", "rejected", False)
    assert second.number.startswith("AS240310")
    assert written(db)["outbox"] == before  # history notifies no customer and calls no webhook

    counts = written(db)
    code, out = run_cli("import-cases", file, "--merchant", shop)
    assert code == 0 and "0 cases imported, 2 already there" in out
    assert written(db) == counts

    # Analytics count the returns in March 2024, the cases' own month.
    code, out = run_cli("report", "trend", "--merchant", shop, "--from", "2024-01-01", "--to", "2024-06-30",
                        "--granularity", "month", "--format", "json")
    assert code == 0, out
    rows = {r["key"]: r for r in json.loads(out[out.index("{"):])["rows"]}
    assert rows["2024-03"]["units_returned"] == 3 and rows["2024-03"]["cases"] == 1
    assert all(rows[m]["units_returned"] == 0 for m in ("2024-01", "2024-02", "2024-04", "2024-05", "2024-06"))


def test_json_lines_with_events_keep_their_times_actors_and_final_state(db, run_cli, shop, tmp_path):
    case = {"case_id": "JD-9", "order": "3301234567890789", "type": "return_refund", "state": "inspected",
            "opened_at": "2024-03-04T09:00:00+08:00", "reason": "quality_issue",
            "lines": [{"sku": "TS-WHITE-L", "quantity": 1, "received_quantity": 1, "accepted_quantity": 0}],
            "events": [{"action": "approve", "at": "2024-03-04T11:00:00+08:00", "by": "Li Na", "note": "ok"},
                       {"action": "receive", "at": "2024-03-08T15:30:00+08:00", "by": "Warehouse 2"},
                       {"action": "inspect", "at": "2024-03-09T10:00:00+08:00", "by": "Warehouse 2"}]}
    file = tmp_path / "history.jsonl"
    file.write_text(json.dumps(case, ensure_ascii=False) + "\n", encoding="utf-8")
    code, out = run_cli("import-cases", file, "--merchant", shop)
    assert code == 0, out
    imported = cases_of(db)["JD-9"]
    assert imported.state == "inspected" and imported.outcome is None and imported.closed_at is None
    assert [(li.received_quantity, li.accepted_quantity) for li in imported.lines] == [(1, 0)]
    events = events_of(db, imported.id)
    assert [(e[1], e[2], e[3], e[5]) for e in events] == [
        ("open", None, "pending_review", "history import"), ("approve", "pending_review", "awaiting_return", "Li Na"),
        ("receive", "awaiting_return", "received", "Warehouse 2"), ("inspect", "received", "inspected",
                                                                    "Warehouse 2")]
    assert events[2][4] == datetime(2024, 3, 8, 7, 30, tzinfo=UTC)
    assert events[1][6]["message"] == "ok"
    assert imported.updated_at == datetime(2024, 3, 9, 2, 0, tzinfo=UTC)


BAD = [
    ("unknown order", "1001,NOPE,return_refund,closed,2024-03-05 09:00:00,,,,,,,,TS-WHITE-L,1,",
     ["row 2", "column order", "NOPE"]),
    ("bad state", "1001,3301234567890789,return_refund,done,2024-03-05 09:00:00,,,,,,,,TS-WHITE-L,1,",
     ["row 2", "column state", "'done'", "not a case state"]),
    ("bad date", "1001,3301234567890789,return_refund,closed,05/03/2024,,,,,,,,TS-WHITE-L,1,",
     ["row 2", "column opened_at", "'05/03/2024'", "not a date in the format ISO 8601"]),
    ("unknown reason", "1001,3301234567890789,return_refund,closed,2024-03-05 09:00:00,,broken,,,,,,TS-WHITE-L,1,",
     ["row 2", "column reason", "'broken' is not a reason of this merchant"]),
    ("closed before opened",
     "1001,3301234567890789,return_refund,closed,2024-03-05 09:00:00,2024-03-01 09:00:00,,,,,,,TS-WHITE-L,1,",
     ["row 2", "column closed_at", "closed before it was opened"]),
    ("too many", "1001,3301234567890789,return_refund,closed,2024-03-05 09:00:00,,,,,,,,TS-WHITE-L,5,",
     ["row 2", "column quantity", "5 asked"]),
    ("wrong currency", "1001,3301234567890789,return_refund,closed,2024-03-05 09:00:00,,,,,1.00,USD,,TS-WHITE-L,1,",
     ["row 2", "column currency", "'USD'", "the order is in CNY"]),
]


@pytest.mark.parametrize("name,row,parts", BAD, ids=[b[0] for b in BAD])
def test_a_bad_cell_stops_the_history_import_before_anything_is_written(db, run_cli, shop, tmp_path, name, row,
                                                                        parts):
    file = tmp_path / "history.csv"
    # A good case first: it is not written either, since the file stops on the bad one.
    file.write_text("\n".join([HEADER, HISTORY.splitlines()[3].replace("1002", "0999"), row.replace("1001", "1003")
                               .replace("row 2", "row 3")]) + "\n", encoding="utf-8")
    before = written(db)
    errors = tmp_path / "errors.csv"
    code, out = run_cli("import-cases", file, "--merchant", shop, "--errors-file", errors)
    assert code == 2, out
    for part in parts:
        assert part.replace("row 2", "row 3") in out, out
    assert "Nothing was imported" in out
    assert written(db) == before and before["cases"] == 0
    assert "row 3" in errors.read_text(encoding="utf-8")


def test_history_problems_read_in_chinese(db, run_cli, shop, tmp_path):
    file = tmp_path / "history.csv"
    file.write_text(HEADER + "\n1001,NOPE,return_refund,closed,2024-03-05 09:00:00,,,,,,,,TS-WHITE-L,1,\n",
                    encoding="utf-8")
    code, out = run_cli("import-cases", file, "--merchant", shop, lang="zh_CN.UTF-8")
    assert code == 2
    assert "第 2 行，列「order」" in out and "找不到订单 NOPE" in out and "未导入任何数据" in out
    assert written(db)["cases"] == 0
