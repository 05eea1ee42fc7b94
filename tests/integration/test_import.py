"""Order import from files: CSV, JSON lines, gzip and the UCI Online Retail layout, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from dataclasses import replace

import pytest
from rich.console import Console
from sqlalchemy import func, insert, inspect, select, text

from returnflow.actor import Actor
from returnflow.analytics.records import ReturnCredit
from returnflow.audit.chain import verify
from returnflow.cases.models import Case, CaseEvent, CaseLine, CaseType, Channel
from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.cases.workflow import fire
from returnflow.db import Base
from returnflow.importer import import_file, import_mapped, returns, run_import, store
from returnflow.importer.mapping import load
from returnflow.importer.messages import Problem
from returnflow.orders import service as orders_service
from returnflow.orders.models import Customer, Order, OrderLine
from tests.conftest import forget_process_caches
from tests.support.world import make_shop

DATA = Path(__file__).resolve().parents[1] / "data"
UCI_SAMPLE = DATA / "uci_online_retail_sample.csv"

HEADER = ("order_number,customer_id,customer_name,customer_email,customer_phone,customer_locale,country,currency,"
          "order_discount,shipping_fee,paid_total,payments,ordered_at,shipped_at,delivered_at,signed_at,"
          "line_no,sku,title,category,unit_price,quantity,delivered_quantity,line_discount")


def csv_text(*rows: str) -> str:
    return HEADER + "\n" + "\n".join(rows) + "\n"


GOOD = csv_text(
    "T-1,C-7,Li Lei,li@example.com,,zh-CN,CN,CNY,10.00,8.00,217.50,alipay:200.00;balance:17.50,"
    "2026-11-01T10:00:00+08:00,2026-11-02T09:00:00+08:00,2026-11-04T15:00:00+08:00,,1,SKU-A,Kettle,home,"
    "99.90,2,,",
    "T-1,C-7,Li Lei,li@example.com,,zh-CN,CN,CNY,10.00,8.00,217.50,alipay:200.00;balance:17.50,"
    "2026-11-01T10:00:00+08:00,2026-11-02T09:00:00+08:00,2026-11-04T15:00:00+08:00,,2,SKU-B,Mug,home,"
    "19.70,1,,0.00",
    "T-2,,,,,,CN,CNY,,,,,2026-11-03T10:00:00+08:00,,,,,SKU-C,Lamp,,45.00,3,0,",
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def order_of(db, merchant_id: int, number: str) -> Order:
    with db.read() as session:
        order = session.scalar(select(Order).where(Order.merchant_id == merchant_id, Order.number == number))
        assert order is not None, f"order {number} was not imported"
        order.lines  # noqa: B018 - load the lines inside the session
        return order


def counts(db) -> tuple[int, int, int]:
    with db.read() as session:
        return (session.scalar(select(func.count()).select_from(Order)),
                session.scalar(select(func.count()).select_from(OrderLine)),
                session.scalar(select(func.count()).select_from(Customer)))


def test_csv_rows_become_orders_with_minor_units_payments_and_delivery(db, tmp_path):
    shop = make_shop(db)
    result = import_file(db, file=write(tmp_path, "orders.csv", GOOD), merchant_id=shop.id)
    assert (result.rows, result.orders_inserted, result.lines, result.refused_rows) == (3, 2, 3, 0)
    t1 = order_of(db, shop.id, "T-1")
    assert (t1.currency, t1.goods_total, t1.discount, t1.shipping_fee, t1.paid_total) == ("CNY", 21950, 1000, 800,
                                                                                          21750)
    assert t1.payments == [{"method": "alipay", "amount": 20000}, {"method": "balance", "amount": 1750}]
    assert t1.ordered_at == datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
    assert [(line.line_no, line.sku, line.unit_price, line.quantity, line.delivered_quantity) for line in t1.lines] \
        == [(1, "SKU-A", 9990, 2, 2), (2, "SKU-B", 1970, 1, 1)]
    t2 = order_of(db, shop.id, "T-2")
    assert t2.customer_id is None and t2.lines[0].delivered_quantity == 0 and t2.paid_total == 13500
    assert counts(db) == (2, 3, 1)


def test_jsonl_gz_takes_the_api_shape_and_reports_a_bad_line(db, tmp_path):
    shop = make_shop(db)
    good = {"number": "J-1", "currency": "CNY", "customer": {"id": "C-1", "name": "Han Meimei"},
            "delivered_at": "2026-11-05T10:00:00+08:00",
            "lines": [{"sku": "SKU-A", "unit_price": "12.50", "quantity": 4}]}
    bad = {"number": "J-2", "currency": "CNY", "lines": [{"sku": "SKU-B", "unit_price": "1.005", "quantity": 1}]}
    text = json.dumps(good) + "\n\n" + json.dumps(bad) + "\n{not json\n"
    result = import_file(db, file=write(tmp_path, "orders.jsonl.gz", text), merchant_id=shop.id, fmt="auto")
    assert result.format == "jsonl"
    assert (result.rows, result.orders_inserted, result.bad_rows) == (3, 1, 2)
    refused = {r.line: r.reason for r in result.refused}
    assert refused[3] == "lines[0].unit_price: 1.005 has more than 2 decimals for CNY"
    assert refused[4].startswith("not valid JSON")
    order = order_of(db, shop.id, "J-1")
    assert (order.lines[0].unit_price, order.lines[0].delivered_quantity, order.goods_total) == (1250, 4, 5000)


def test_csv_gz_is_read_like_plain_csv(db, tmp_path):
    shop = make_shop(db)
    result = import_file(db, file=write(tmp_path, "orders.csv.gz", GOOD), merchant_id=shop.id)
    assert (result.format, result.orders_inserted, result.lines) == ("csv", 2, 3)
    assert order_of(db, shop.id, "T-1").goods_total == 21950


def _many_orders(price: str, lines: int = 4) -> str:
    rows = [f"M-{n:03d},C-{n % 7},,,,,CN,CNY,,,,,2026-11-01T10:00:00+08:00,,2026-11-03T10:00:00+08:00,,"
            f"{i},SKU-{i},Item {i},,{price},{i},," for n in range(60) for i in range(1, lines + 1)]
    return csv_text(*rows)


def test_reimport_updates_prices_and_lines_and_never_duplicates(db, tmp_path):
    shop = make_shop(db)
    first = import_file(db, file=write(tmp_path, "a.csv", _many_orders("10.00")), merchant_id=shop.id)
    assert (first.orders_inserted, first.orders_updated, first.lines) == (60, 0, 240)
    assert counts(db) == (60, 240, 7)
    second = import_file(db, file=write(tmp_path, "b.csv", _many_orders("12.34")), merchant_id=shop.id)
    assert (second.orders_inserted, second.orders_updated) == (0, 60)
    assert counts(db) == (60, 240, 7)
    order = order_of(db, shop.id, "M-042")
    assert [line.unit_price for line in order.lines] == [1234] * 4
    assert order.goods_total == 1234 * (1 + 2 + 3 + 4)
    # An order re-sent with fewer lines loses the lines no case has claimed.
    third = import_file(db, file=write(tmp_path, "c.csv", _many_orders("12.34", lines=3)), merchant_id=shop.id)
    assert third.orders_updated == 60
    assert counts(db) == (60, 180, 7)


def test_an_import_stopped_midway_keeps_the_whole_chunks_before_and_raises(db, tmp_path, monkeypatch):
    """Each chunk's transaction ends beside the reading (importer/store.py): stopped midway (the operator's
    Ctrl-C), the chunks handed over before are committed whole, nothing after, and the stop is what is raised."""
    shop = make_shop(db)
    monkeypatch.setattr(store, "CHUNK_ORDERS", 10)
    add_record = store.OrderStore.add_record

    def interrupted(self, record):
        if record.number == "M-035":
            raise KeyboardInterrupt
        add_record(self, record)

    monkeypatch.setattr(store.OrderStore, "add_record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_file(db, file=write(tmp_path, "a.csv", _many_orders("10.00")), merchant_id=shop.id)
    assert counts(db) == (30, 120, 7)


def test_a_chunk_that_fails_to_write_stops_the_import_and_leaves_the_chunks_before(db, tmp_path, monkeypatch):
    shop = make_shop(db)
    monkeypatch.setattr(store, "CHUNK_ORDERS", 10)
    monkeypatch.setattr(orders_service, "COPY_FROM", 1)  # PostgreSQL stages these few lines too
    from_stage = orders_service._from_stage
    calls = []

    def failing(cursor, statement):
        calls.append(statement)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        from_stage(cursor, statement)

    monkeypatch.setattr(orders_service, "_from_stage", failing)
    with pytest.raises(RuntimeError, match="the disk is full"):
        import_file(db, file=write(tmp_path, "a.csv", _many_orders("10.00")), merchant_id=shop.id)
    assert len(calls) == 2  # nothing is written after the failed chunk
    assert counts(db) == (10, 40, 7)


def test_a_mapped_import_stopped_after_an_order_was_written_writes_nothing(db, tmp_path, monkeypatch):
    """A mapped import is one transaction: an order already written in it (its last steps run beside the reading)
    goes with it when a later row stops the import."""
    shop = make_shop(db, "us", currency="USD")
    monkeypatch.setattr(store, "CHUNK_ORDERS", 1)  # each order written as soon as its last row is read
    written = []
    upsert = store.upsert_orders
    monkeypatch.setattr(store, "upsert_orders", lambda session, **kw: written.append(kw["orders"]) or upsert(
        session, **kw))
    path = tmp_path / "eur.csv"
    path.write_text((DATA / "exports" / "shopify_orders_sample.csv").read_text(encoding="utf-8")
                    .replace(",USD,25.00", ",EUR,25.00"), encoding="utf-8")  # row 4, the second order
    with pytest.raises(Problem, match="EUR"):
        import_mapped(db, file=path, mapping=load("shopify"), merchant=shop.id)
    assert [[o.number for o in orders] for orders in written] == [["#1001"]]
    assert counts(db) == (0, 0, 0)


def test_imported_lines_stay_in_the_search_index_through_reimports(db, tmp_path):
    """Lines are written in bulk; the case search's index of them (SQLite: FTS5 kept by triggers; PostgreSQL:
    trigram indexes) holds exactly the table's lines after lines are added, retitled and removed."""
    shop = make_shop(db)
    import_file(db, file=write(tmp_path, "a.csv", _many_orders("10.00")), merchant_id=shop.id)
    retitled = _many_orders("10.00").replace(",Item 2,", ",Kettle 2,")
    assert import_file(db, file=write(tmp_path, "b.csv", retitled), merchant_id=shop.id).orders_updated == 60
    fewer = _many_orders("10.00", lines=3).replace(",Item 2,", ",Kettle 2,")
    assert import_file(db, file=write(tmp_path, "c.csv", fewer), merchant_id=shop.id).orders_updated == 60

    def found(title: str) -> int:
        if db.dialect == "sqlite":
            return len(session.execute(text("SELECT rowid FROM order_lines_fts WHERE order_lines_fts MATCH :q"),
                                       {"q": f'"{title}"'}).all())
        return session.scalar(select(func.count()).select_from(OrderLine).where(OrderLine.title.ilike(f"%{title}%")))

    with db.transaction() as session:
        if db.dialect == "sqlite":  # raises if the index and the table differ in any line
            session.execute(text("INSERT INTO order_lines_fts(order_lines_fts, rank) VALUES ('integrity-check', 1)"))
        assert (found("Kettle 2"), found("Item 2"), found("Item 3"), found("Item 4")) == (60, 0, 60, 0)


def test_a_bad_row_is_reported_by_line_and_column_and_refuses_its_whole_order(db, tmp_path):
    shop = make_shop(db)
    text = csv_text(
        "B-1,,,,,,CN,CNY,,,,,2026-11-01T10:00:00+08:00,,,,1,SKU-A,ok,,10.00,1,,",
        "B-1,,,,,,CN,CNY,,,,,2026-11-01T10:00:00+08:00,,,,2,SKU-B,three decimals,,10.005,1,,",
        "B-1,,,,,,CN,CNY,,,,,2026-11-01T10:00:00+08:00,,,,3,SKU-C,ok,,10.00,1,,",
        "G-1,,,,,,CN,CNY,,,,,2026-11-01T10:00:00+08:00,,,,1,SKU-A,ok,,10.00,1,,",
        "G-2,,,,,,CN,CNY,,,,,yesterday,,,,1,SKU-A,bad date,,10.00,1,,",
        "G-3,,,,,,CN,CNY,,,,,2026-11-01T10:00:00+08:00,,,,1,,no sku,,10.00,1,,",
    )
    errors = tmp_path / "errors.csv"
    out = io.StringIO()
    code = run_import(db, file=write(tmp_path, "mixed.csv", text), merchant=shop.code, errors_file=errors,
                      console=Console(file=out, width=200))
    assert code == 1
    assert "3 bad" in out.getvalue() and "rows were refused" in out.getvalue()
    with errors.open(newline="") as handle:
        refused = {int(row["line"]): row for row in csv.DictReader(handle)}
    assert sorted(refused) == [2, 3, 4, 6, 7]
    assert refused[3]["reason"] == "unit_price: 10.005 has more than 2 decimals for CNY"
    assert refused[2]["reason"].startswith("skipped: order B-1 has a bad row at line 3")
    assert refused[4]["reason"].startswith("skipped: order B-1 has a bad row at line 3")
    assert refused[6]["reason"].startswith("ordered_at:") and "'yesterday'" in refused[6]["reason"]
    assert refused[7]["reason"].startswith("sku:")
    assert refused[3]["row"].startswith("B-1,") and "10.005" in refused[3]["row"]
    with db.read() as session:
        assert list(session.scalars(select(Order.number))) == ["G-1"]


def test_unknown_and_mixed_currencies_are_refused_naming_the_currency(db, tmp_path):
    shop = make_shop(db)
    text = csv_text(
        "X-1,,,,,,CN,XYZ,,,,,,,,,1,SKU-A,,,10.00,1,,",
        "X-2,,,,,,CN,CNY,,,,,,,,,1,SKU-A,,,10.00,1,,",
        "X-2,,,,,,CN,USD,,,,,,,,,2,SKU-B,,,10.00,1,,",
        "X-3,,,,,,JP,JPY,,,,,,,,,1,SKU-A,,,10.50,1,,",
        "X-4,,,,,,JP,jpy,,,,,,,,,1,SKU-A,,,1050,1,,",
    )
    result = import_file(db, file=write(tmp_path, "cur.csv", text), merchant_id=shop.id)
    refused = {r.line: r.reason for r in result.refused}
    assert refused[2] == "currency: unknown currency 'XYZ'"
    assert refused[4] == "currency: USD on this row but CNY on the order's first row"
    assert refused[3].startswith("skipped: order X-2")
    assert refused[5] == "unit_price: 10.50 has more than 0 decimals for JPY"
    assert result.orders_inserted == 1
    assert order_of(db, shop.id, "X-4").goods_total == 1050


def test_unusable_input_exits_2_and_writes_nothing(db, tmp_path):
    shop = make_shop(db)
    console = Console(file=io.StringIO())
    good = write(tmp_path, "orders.csv", GOOD)
    assert run_import(db, file=good, merchant="nobody", console=console) == 2
    assert run_import(db, file=good, merchant=shop.code, fmt="xml", console=console) == 2
    assert run_import(db, file=write(tmp_path, "x.csv", "number,price\nA,1\n"), merchant=shop.code,
                      fmt="csv", console=console) == 2
    assert run_import(db, file=write(tmp_path, "broken.csv.gz", "x"), merchant=shop.code, fmt="csv",
                      console=console) == 2
    assert counts(db) == (0, 0, 0)
    assert run_import(db, file=good, merchant="newshop", create_merchant=True, console=console) == 0
    assert counts(db) == (2, 3, 1)


def _cases(db) -> dict[tuple[str, str], dict[str, int]]:
    """{(C invoice, original order): {sku@line_no: quantity}} of every case, plus a check they are all closed."""
    with db.read() as session:
        rows = session.execute(
            select(Case.external_ref, Order.number, OrderLine.sku, OrderLine.line_no, CaseLine.quantity, Case.state,
                   Case.channel, Case.type)
            .join(CaseLine, CaseLine.case_id == Case.id).join(OrderLine, OrderLine.id == CaseLine.order_line_id)
            .join(Order, Order.id == OrderLine.order_id)).all()
    assert {(r.state, r.channel, r.type) for r in rows} == {("closed", "import", "return_refund")}
    cases: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        cases.setdefault((r.external_ref, r.number), {})[f"{r.sku}@{r.line_no}"] = r.quantity
    return cases


def test_uci_sample_imports_orders_and_opens_matched_returns_once(db):
    shop = make_shop(db, code="uci", currency="GBP")
    result = import_file(db, file=UCI_SAMPLE, merchant_id=shop.id)
    assert result.format == "uci"
    assert (result.rows, result.orders_inserted, result.lines) == (320, 13, 204)
    refused = {r.line: r.reason for r in result.refused}
    assert refused[145] == "UnitPrice: 0.001 has more than 2 decimals for GBP"
    assert refused[9].startswith("Quantity: -10 is not positive and 536589 is not a return ('C') invoice")
    assert refused[232] == refused[233] == "UnitPrice: -11062.06 is negative"  # A563186-7, 'Adjust bad debt'
    assert result.bad_rows == 6 and result.skipped_rows == 92  # the other 92 lines of invoice 550193
    assert refused[56].startswith("skipped: order 550193 has a bad row at line 145")

    returns = result.returns
    assert (returns.lines, returns.invoices) == (18, 9)
    assert returns.unmatched == Counter({"no customer": 3, "non-product code": 2, "no earlier purchase": 2})
    assert (returns.matched, returns.partly_matched, returns.cases_opened) == (9, 2, 6)
    # Worked out by hand from the sample: most recent earlier purchase first, split when it runs out.
    assert _cases(db) == {
        ("C541245", "541244"): {"85036C@12": 6, "85036C@13": 6},
        ("C555271", "554935"): {"23172@23": 2, "23081@27": 2},  # 3 returned, only 2 bought
        ("C558899", "554935"): {"22927@10": 1},
        ("C573092", "562332"): {"20727@1": 38, "20728@2": 100, "20724@3": 40, "22356@4": 76},
        ("C573092", "558074"): {"21928@2": 40, "20728@5": 12, "23207@6": 66},
        ("C579092", "577492"): {"16054@2": 36},  # 108 returned, 36 bought
    }
    with db.read() as session:
        case = session.scalar(select(Case).where(Case.external_ref == "C579092"))
        assert case.created_at == datetime(2011, 11, 28, 10, 50, tzinfo=timezone.utc)  # GMT in November
        actions = list(session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                                       .order_by(CaseEvent.seq)))
        assert actions == ["open", "approve", "receive", "inspect", "resolve", "close"]
        summer = session.scalar(select(Order).where(Order.number == "562332"))
        assert summer.ordered_at == datetime(2011, 8, 4, 10, 44, tzinfo=timezone.utc)  # 11:44 BST
        assert summer.delivered_at == summer.ordered_at

    again = import_file(db, file=UCI_SAMPLE, merchant_id=shop.id)
    assert (again.orders_inserted, again.orders_updated) == (0, 13)
    assert again.returns.cases_opened == 0 and again.returns.invoices_already_opened == 5
    assert len(_cases(db)) == 6


def _one_by_one(session, merchant_id, items) -> None:
    """How the import opened its return cases before they were written together (cases/batch.py): open_case, then
    each step fired, every row written as it comes."""
    system = Actor(kind="system", role="system", merchant_id=merchant_id, name="import")
    warehouse = Actor(kind="system", role="warehouse", merchant_id=merchant_id, name="import")
    for invoice, at, number, lines in items:
        data = CaseCreate(order=number, type=CaseType.RETURN_REFUND, channel=Channel.IMPORT, external_ref=invoice,
                          description=f"Return invoice {invoice} (imported)", desired_outcome="refund",
                          lines=[CaseLineCreate(line_no=no, sku=sku, quantity=qty)
                                 for no, (sku, qty, _credit) in sorted(lines.items())])
        case = open_case(session, actor=system, data=data, created_at=at)
        credits = [{"case_line_id": line.id, "case_id": case.id, "merchant_id": merchant_id, "amount": item[2],
                    "source": "credit_note"}
                   for line, (_no, item) in zip(sorted(case.lines, key=lambda li: li.line_no or 0),
                                                sorted(lines.items()), strict=True) if item[2] is not None]
        if credits:
            session.connection().execute(insert(ReturnCredit.__table__), credits)
        for action, actor in (("approve", system), ("receive", warehouse), ("inspect", warehouse),
                              ("resolve", system), ("close", system)):
            fire(session, case, action, actor, at=at)


# Columns the clock fills in when the row is written, not the import.
WALL_CLOCK = {"imported_at", "derived_at"}


def _everything(db) -> dict[str, list[tuple]]:
    """Every row of every table but the merchant's own (users, tokens, address), ids and all."""
    own = {"merchants", "users", "api_tokens", "return_addresses", "reasons", "alembic_version"}
    present = set(inspect(db.engine).get_table_names())
    rows = {}
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in present and table.name not in own:
                columns = [c for c in table.c if c.name not in WALL_CLOCK]
                rows[table.name] = session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
    return rows


def test_return_cases_written_together_are_the_rows_one_case_at_a_time_wrote(db, emptier, monkeypatch):
    """The import opens its return cases in batches (cases/batch.py): the same cases, lines, events with their
    chain links, derived rows, credits and case numbers, with the same ids, as opening them one by one wrote."""
    shop = make_shop(db, code="uci", currency="GBP")
    with monkeypatch.context() as patched:
        patched.setattr(returns, "_open_completed_returns", _one_by_one)
        one_by_one = import_file(db, file=UCI_SAMPLE, merchant_id=shop.id)
    expected = _everything(db)
    assert len(expected["case_events"]) == len(expected["case_event_chain"]) == 6 * 6

    with db.engine.begin() as conn:
        emptier.empty(conn)
    forget_process_caches()
    shop = make_shop(db, code="uci", currency="GBP")
    together = import_file(db, file=UCI_SAMPLE, merchant_id=shop.id)
    assert replace(together.returns, seconds=0) == replace(one_by_one.returns, seconds=0)
    assert _everything(db) == expected
    with db.read() as session:
        checked = [(events, found) for _number, events, found in verify(session)]
    assert checked == [(6, [])] * 6


def test_uci_without_open_returns_opens_no_case(db):
    shop = make_shop(db, code="uci", currency="GBP")
    result = import_file(db, file=UCI_SAMPLE, merchant_id=shop.id, open_returns=False)
    assert result.orders_inserted == 13 and result.returns.lines == 18 and result.returns.cases_opened == 0
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_terminal_sees_the_return_cases_being_opened(db):
    make_shop(db, code="uci", currency="GBP")
    out = io.StringIO()
    code = run_import(db, file=UCI_SAMPLE, merchant="uci", console=Console(file=out, width=200, force_terminal=True))
    assert code == 1  # the sample's bad rows
    assert "opening return cases 6/6" in out.getvalue()
    assert "cases opened" in out.getvalue()
