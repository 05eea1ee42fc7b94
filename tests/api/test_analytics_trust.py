"""Analytics a manager can trust at a glance: the return rate is an order cohort's (never above 100 %), periods and
buckets follow the merchant's time zone, durations read in days and hours, codes in words, each tile states its
definition, and every chart shows the numbers of its table — through the API and the console page."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from returnflow.analytics.words import duration
from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.money import to_minor
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from returnflow.sla import settings as sla_settings
from tests.support.asgi import TestClient
from tests.support.portal import sign_in_staff
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

UTC = timezone.utc
OCT = {"from": "2026-10-01", "to": "2026-10-31"}
SHOPS = itertools.count()


def place(db, shop, number, when: datetime, lines, customer="C-1"):
    """An order placed at `when`: lines are (sku, price, quantity)."""
    record = OrderRecord(number=number, currency="CNY", country="CN", sales_channel="tmall",
                         customer=CustomerRecord(external_id=customer, name="Customer", country="CN"),
                         ordered_at=when, shipped_at=when, delivered_at=when,
                         lines=[LineRecord(line_no=i + 1, sku=sku, title=f"Item {sku}", category="kitchen",
                                           unit_price=to_minor(Decimal(price), "CNY"), quantity=qty,
                                           delivered_quantity=qty) for i, (sku, price, qty) in enumerate(lines)])
    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[record])


def give_back(db, shop, number, line_no, qty, opened: datetime, reason="quality_issue"):
    with db.transaction() as session:
        return open_case(session, actor=shop.actors["agent"], created_at=opened, data=CaseCreate(
            order=number, type="return_refund", reason=reason,
            lines=[CaseLineCreate(line_no=line_no, quantity=qty)])).number


def report(client, shop, name, **params):
    answer = client.get(f"/api/v1/analytics/reports/{name}", headers=shop.headers("supervisor"), params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def by_key(body):
    return {r["key"]: r for r in body["rows"]}


def test_a_week_of_returns_from_earlier_orders_is_not_1000_percent(client, db):
    """The dashboard's 1000 %: ten units sold in one week came back in the next, which sold one. Counted by the
    case's date over the week's sales that week read 10 / 1; by the order cohort it is 100 % and 0 %."""
    shop = make_shop(db, "cohort")
    place(db, shop, "W1", datetime(2026, 10, 6, 3, tzinfo=UTC), [("SKU-A", "20.00", 10)])
    place(db, shop, "W2", datetime(2026, 10, 13, 3, tzinfo=UTC), [("SKU-A", "20.00", 1)])
    give_back(db, shop, "W1", 1, 10, datetime(2026, 10, 14, 3, tzinfo=UTC))
    body = report(client, shop, "trend", granularity="week", **OCT)
    assert "units sold in them" in body["definition"]["en"] and "不会超过 100%" in body["definition"]["zh-CN"]
    weeks = by_key(body)
    assert (weeks["2026-10-05"]["units_sold"], weeks["2026-10-05"]["units_returned"],
            weeks["2026-10-05"]["unit_rate"]) == (10, 10, "100.00")
    assert (weeks["2026-10-12"]["units_sold"], weeks["2026-10-12"]["units_returned"],
            weeks["2026-10-12"]["unit_rate"]) == (1, 0, "0.00")
    assert all(Decimal(r["unit_rate"]) <= 100 for r in weeks.values() if r["unit_rate"] is not None)
    # The week's cases behind the figure are the cohort's: the return of W1's units, listed under W1's week.
    listed = client.get(weeks["2026-10-05"]["cases_url"], headers=shop.headers("supervisor")).json()
    assert listed["total"] == 1 and listed["items"][0]["order"] == "W1"
    assert client.get(weeks["2026-10-12"]["cases_url"], headers=shop.headers("supervisor")).json()["total"] == 0
    # A period holding only the later week sold one unit and none of it came back.
    late = report(client, shop, "return_rate", by="sku", **{"from": "2026-10-12", "to": "2026-10-18"})
    assert late["totals"]["unit_rate"] == "0.00"
    # The page says the same, and says what the rate means.
    web = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_staff(web, "supervisor@cohort.test", "pw-supervisor")
    page = Tiles.read(web.get("/staff/analytics", params={**OCT, "granularity": "week"}).text)
    trend = page.tiles["trend"]
    assert trend.row("2026-10-05")[1:5] == ["CNY", "10", "10", "100.00"]
    assert trend.row("2026-10-12")[1:5] == ["CNY", "1", "0", "0.00"]
    assert "units returned from the orders placed in it" in trend.definition


# Orders: (day of October, hour UTC, [(quantity, returned, days until the case)]).
LINE = st.tuples(st.integers(1, 5), st.integers(0, 5), st.integers(0, 25))
ORDERS = st.lists(st.tuples(st.integers(1, 31), st.integers(0, 23), st.lists(LINE, min_size=1, max_size=3)),
                  min_size=1, max_size=4)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=ORDERS)
def test_the_cohort_rate_stays_within_0_and_100_percent(client, db, orders):
    """For any orders and returns (never more units back than a line sold), every week's, SKU's and the total
    rate is within 0..100 %, and the units add up to what the period's orders sold and had returned."""
    shop = make_shop(db, f"prop{next(SHOPS)}")
    sold = returned = 0
    for n, (day, hour, lines) in enumerate(orders):
        when = datetime(2026, 10, day, hour, tzinfo=UTC)
        place(db, shop, f"P{n}", when, [(f"SKU-{i}", "10.00", qty) for i, (qty, _r, _d) in enumerate(lines)])
        local = when.astimezone(timezone(timedelta(hours=8)))
        counted = local.month == 10  # the shop's days are Shanghai's: 31 Oct 17:00 UTC is in November there
        for i, (qty, back, delay) in enumerate(lines):
            back = min(back, qty)
            sold += qty if counted else 0
            if back:
                give_back(db, shop, f"P{n}", i + 1, back, when + timedelta(days=delay, minutes=5))
                returned += back if counted else 0
    for name, params in (("trend", {"granularity": "week"}), ("trend", {"granularity": "day"}),
                         ("return_rate", {"by": "sku"})):
        body = report(client, shop, name, **OCT, **params)
        for row in body["rows"]:
            assert row["units_returned"] <= row["units_sold"], row
            assert row["unit_rate"] is None or Decimal(0) <= Decimal(row["unit_rate"]) <= Decimal(100), row
        assert (body["totals"]["units_sold"], body["totals"]["units_returned"]) == (sold, returned)
        rate = body["totals"]["unit_rate"]
        assert rate is None or Decimal(0) <= Decimal(rate) <= Decimal(100)


def test_days_weeks_and_months_follow_the_merchants_time_zone(client, db):
    """Four orders around midnight in Shanghai (UTC+8) on Saturday 31 October and Sunday 1 November 2026: a shop
    in Shanghai and one on UTC put them in different days, ISO weeks and months."""
    shanghai, london = make_shop(db, "tz-sh"), make_shop(db, "tz-utc")
    with db.transaction() as session:
        sla_settings.save(session, london.id, {"timezone": "UTC"}, by="test")
    instants = {"A": (datetime(2026, 10, 31, 15, 30, tzinfo=UTC), 1),  # Shanghai: Sat 31 Oct 23:30
                "B": (datetime(2026, 10, 31, 16, 30, tzinfo=UTC), 2),  # Shanghai: Sun 1 Nov 00:30
                "C": (datetime(2026, 11, 1, 15, 30, tzinfo=UTC), 4),  # Shanghai: Sun 1 Nov 23:30
                "D": (datetime(2026, 11, 1, 16, 30, tzinfo=UTC), 8)}  # Shanghai: Mon 2 Nov 00:30
    for shop in (shanghai, london):
        for name, (when, qty) in instants.items():
            place(db, shop, name, when, [("SKU-T", "10.00", qty)])
    autumn = {"from": "2026-10-01", "to": "2026-11-30"}

    def sold(shop, **params):
        return {k: r["units_sold"] for k, r in by_key(report(client, shop, "trend", **params)).items()
                if r["units_sold"]}

    assert sold(shanghai, granularity="month", **autumn) == {"2026-10": 1, "2026-11": 14}
    assert sold(london, granularity="month", **autumn) == {"2026-10": 3, "2026-11": 12}
    assert sold(shanghai, granularity="week", **autumn) == {"2026-10-26": 7, "2026-11-02": 8}
    assert sold(london, granularity="week", **autumn) == {"2026-10-26": 15}
    assert sold(shanghai, granularity="day", **{"from": "2026-10-31", "to": "2026-11-02"}) == \
        {"2026-10-31": 1, "2026-11-01": 6, "2026-11-02": 8}
    assert sold(london, granularity="day", **{"from": "2026-10-31", "to": "2026-11-02"}) == \
        {"2026-10-31": 3, "2026-11-01": 12}
    one_day = {"from": "2026-11-01", "to": "2026-11-01"}
    assert report(client, shanghai, "return_rate", by="sku", **one_day)["totals"]["units_sold"] == 6
    assert report(client, london, "return_rate", by="sku", **one_day)["totals"]["units_sold"] == 12
    web = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_staff(web, "supervisor@tz-sh.test", "pw-supervisor")
    page = Tiles.read(web.get("/staff/analytics", params={**autumn, "granularity": "week"}).text)
    assert page.tiles["trend"].row("2026-11-02")[2] == "8"


def test_durations_read_in_days_and_hours():
    assert [duration(s) for s in (None, 20, 45 * 60, 2 * 3600, 36 * 3600, 53 * 3600, 48 * 3600)] == \
        ["–", "< 1 min", "45 min", "2 h", "36 h", "2 d 5 h", "2 d"]
    assert [duration(s, "zh-CN") for s in (45 * 60, 36 * 3600, 53 * 3600)] == ["45分钟", "36小时", "2天5小时"]


class Tiles(HTMLParser):
    """The dashboard page as tiles: each section's definition, table rows (cell texts) and the wide chart's
    (label, value) points."""

    class Tile:
        def __init__(self):
            self.definition = ""
            self.header: list[str] = []
            self.rows: list[list[str]] = []
            self.points: list[tuple[str, str]] = []
            self.ticks: list[str] = []

        def row(self, first: str) -> list[str]:
            return next(r for r in self.rows if r[0] == first)

    def __init__(self):
        super().__init__()
        self.tiles: dict[str, Tiles.Tile] = {}
        self.tile: Tiles.Tile | None = None
        self.cell: list[str] | None = None
        self.row_cells: list[str] | None = None
        self.grab = None
        self.chart = None

    @classmethod
    def read(cls, html: str) -> Tiles:
        parser = cls()
        parser.feed(html)
        return parser

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "section" and "tile" in classes:
            self.tile = self.tiles.setdefault(a["id"], Tiles.Tile())
        if self.tile is None:
            return
        if tag == "p" and "definition" in classes:
            self.grab = "definition"
        elif tag == "div" and "chart" in classes:
            self.chart = "wide" if "chart-wide" in classes else "narrow"
        elif tag in ("text", "circle") and "value" in classes and self.chart == "wide":
            self.tile.points.append((a["data-label"], a["data-value"]))
        elif tag == "text" and "tick" in classes and self.chart == "wide":
            self.grab = "tick"
        elif tag == "tr":
            self.row_cells = []
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "section":
            self.tile = None
        elif tag in ("td", "th") and self.cell is not None and self.row_cells is not None:
            self.row_cells.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row_cells is not None and self.tile is not None:
            if not self.tile.header:
                self.tile.header = self.row_cells
            else:
                self.tile.rows.append(self.row_cells)
            self.row_cells = None
        elif tag in ("p", "text"):
            self.grab = None
        elif tag == "svg":
            self.chart = None

    def handle_data(self, data):
        if self.tile is None:
            return
        if self.grab == "definition":
            self.tile.definition += data
        elif self.grab == "tick":
            self.tile.ticks.append(data)
        elif self.cell is not None:
            self.cell.append(data)


@pytest.fixture
def history(db):
    """A shop with returns in October: decided, shipped, received, inspected, in several reasons and states."""
    from returnflow.cases.workflow import fire
    from returnflow.policy import service as policy_service

    shop = make_shop(db, "trust")
    with db.transaction() as session:
        policy_service.save(session, shop.id, '[policy]\nid = "by-hand"\nextends = "cn-law"\n'
                            '[approval]\nauto_max_amount = 0\n', shop.actors["admin"])
    day = lambda d, h=10: datetime(2026, 10, d, h, tzinfo=UTC)  # noqa: E731
    place(db, shop, "H-1", day(1), [("SKU-A", "100.00", 4), ("SKU-B", "35.50", 2)])
    place(db, shop, "H-2", day(9), [("SKU-A", "100.00", 3)])
    place(db, shop, "H-3", day(20), [("SKU-C", "12.00", 5)])
    with db.transaction() as session:
        record = open_case(session, actor=shop.actors["agent"], created_at=day(3), data=CaseCreate(
            order="H-1", type="return_refund", reason="quality_issue", lines=[CaseLineCreate(line_no=1, quantity=2)]))
        fire(session, record, "approve", shop.actors["agent"], at=day(5, 15))
    give_back(db, shop, "H-1", 2, 1, day(4), reason="not_as_described")
    give_back(db, shop, "H-3", 1, 1, day(22), reason="wrong_size")
    return shop


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_each_chart_shows_its_tables_numbers_in_words_and_days(client, history, locale):
    web = TestClient(client.app, headers={"Accept-Language": locale})
    sign_in_staff(web, "supervisor@trust.test", "pw-supervisor")
    answer = web.get("/staff/analytics", params=OCT)
    assert answer.status_code == 200
    page = Tiles.read(answer.text)
    checked = 0
    for name in ("trend", "top_returns", "reasons", "hotspots", "processing_times", "backlog"):
        tile = page.tiles[name]
        assert len(tile.definition.strip()) > 20, name  # each report says what it counts, in the reader's language
        assert ("本期间" in tile.definition or "当前" in tile.definition or "按下单" in tile.definition) == \
            (locale == "zh-CN"), name
        assert tile.points, name
        for label, value in tile.points:
            row = tile.row(label)  # the chart's label is the table's first cell
            assert value.rstrip("%") in row, (name, label, value, row)
            checked += 1
    assert checked >= 10
    html = answer.text
    # No code and no seconds where words and days belong.
    for code in ("quality_issue", "not_as_described", "wrong_size", "awaiting_return", "pending_review"):
        assert f">{code}<" not in html and f"{code}:" not in html, code
    assert "(s)" not in html and "（秒）" not in html and "(seconds)" not in html
    decision = page.tiles["processing_times"].rows[0]
    assert decision[2:4] == (["2天5小时", "2天5小时"] if locale == "zh-CN" else ["2 d 5 h", "2 d 5 h"])
    reasons = {r[0] for r in page.tiles["reasons"].rows}
    assert reasons == ({"质量问题", "描述不符", "尺码不符"} if locale == "zh-CN" else
                       {"Quality problem", "Not as described", "Wrong size or fit"})
    # A bad filter names the form's field in words, linked to it, never its parameter code alone.
    bad = web.get("/staff/analytics", params={**OCT, "granularity": "hour"})
    assert bad.status_code == 422
    assert f'<a href="#a-granularity">{"统计粒度" if locale == "zh-CN" else "Granularity"}</a>' in bad.text
    # The message is the problem alone: the parameter's code is not put in front of it.
    for params, field in (({"granularity": "hour"}, "granularity"), ({"from": "2026-13-01"}, "from"),
                          ({"to": "2026-02-30"}, "to")):
        bad = web.get("/staff/analytics", params={**OCT, **params})
        message = re.search(r'<div class="error" role="alert">\s*<p>(.*?)</p>', bad.text, re.S).group(1)
        assert bad.status_code == 422 and field not in message and message.strip(), message
        assert ("2026-13-01" in message or "2026-02-30" in message) if field != "granularity" else "hour" in message
    # Choices are named as the form's list names them, not by their codes.
    too_many = web.get("/staff/analytics", params={"from": "2024-01-01", "to": "2026-10-31", "granularity": "day"})
    message = re.search(r'<div class="error" role="alert">\s*<p>(.*?)</p>', too_many.text, re.S).group(1)
    assert too_many.status_code == 422 and "week" not in message and "month" not in message
    assert ("按周、按月" in message and "按天" in message) if locale == "zh-CN" else "Week, Month" in message
    # A filter the page has no field for (an old bookmark, a hand-edited link): said in words, with a way out.
    unknown = web.get("/staff/analytics", params={**OCT, "colour": "red"})
    message = re.search(r'<div class="error" role="alert">\s*<p>(.*?)</p>', unknown.text, re.S).group(1)
    assert unknown.status_code == 422 and "colour" in message and "granularity" not in message
    assert ('看板' if locale == "zh-CN" else "dashboard") in message
    assert '<a href="/staff/analytics">' in unknown.text
    # The trend's x labels are shortened dates that all fit (31 days at desktop width: thinned out).
    ticks = page.tiles["trend"].ticks
    assert ticks and all(len(t) == 5 for t in ticks) and len(ticks) < 31


def test_csv_headers_name_the_unit_and_follow_the_language(client, history):
    import csv
    import io

    for lang, header in (("zh-CN", "中位数 p50（秒）"), ("en", "Median p50 (seconds)")):
        answer = client.get("/api/v1/analytics/reports/processing_times", headers=history.headers("supervisor"),
                            params={**OCT, "format": "csv", "lang": lang})
        table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert header in table[0]
        p50 = table[1][table[0].index(header)]
        assert p50 == str((2 * 24 + 5) * 3600)  # the file keeps the number, its header says the unit


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_policy_engine_that_decided_a_case_is_named_in_words(client, db, locale):
    """A case the shop's policy approved by itself, rated by its customer: the satisfaction tile groups the answer
    under who decided, and names the policy engine in the reader's words, never by its code."""
    from returnflow.cases.models import Case
    from tests.support.flows import open_for, run
    from tests.support.money import paid_order

    shop = make_shop(db, f"machine-{locale.lower()}")
    # Delivered two days ago (ordered five): inside the return window, so the policy approves the case when it is opened.
    paid_order(db, shop, "P-1", when=datetime.now(UTC) - timedelta(days=5))
    period = {"from": (datetime.now(UTC) - timedelta(days=30)).date().isoformat(),
              "to": (datetime.now(UTC) + timedelta(days=2)).date().isoformat(), "granularity": "month"}
    number = open_for(db, shop.actors["agent"], "P-1", "return_refund")
    with db.read() as session:
        from sqlalchemy import select
        assert session.scalar(select(Case.state).where(Case.number == number)) == "awaiting_return"  # approved by the policy
    run(db, number, "ship_return", shop.actors["agent"])
    case = run(db, number, "receive", shop.actors["warehouse"], {})
    run(db, number, "inspect", shop.actors["warehouse"],
        {"lines": [{"line_id": case.lines[0].id, "quantity": 1, "verdict": "ok"}]})
    run(db, number, "resolve", shop.actors["agent"])
    run(db, number, "close", shop.actors["agent"])
    rated = client.post(f"/api/v1/cases/{number}/survey", headers=shop.headers(), json={"score": 4})
    assert rated.status_code == 201, rated.text
    # The API keeps the code (machines read it) ...
    body = report(client, shop, "satisfaction", **period)
    assert ("agent", "policy") in {(r["dimension"], r["key"]) for r in body["rows"]}
    # ... the console says it in words.
    web = TestClient(client.app, headers={"Accept-Language": locale})
    sign_in_staff(web, f"supervisor@machine-{locale.lower()}.test", "pw-supervisor")
    answer = web.get("/staff/analytics", params=period)
    assert answer.status_code == 200
    tile = Tiles.read(answer.text).tiles["satisfaction"]
    decided = [row[1] for row in tile.rows if row[0] == ("审核客服" if locale == "zh-CN" else "Agent who decided")]
    assert decided == ["售后政策" if locale == "zh-CN" else "Policy"], tile.rows
    assert ">policy<" not in answer.text
    # The tile's note names the follow-ups "not done yet" as its row does, not by their code.
    assert "open =" not in answer.text and "(open" not in answer.text
