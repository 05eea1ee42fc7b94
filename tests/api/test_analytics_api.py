"""Analytics through the HTTP API and the CLI: figures of a known history, exports, charts, the dashboard,
drill-down to the cases behind a number, merchant isolation and bad input."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import update

from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.cases.workflow import fire
from returnflow.money import to_minor
from returnflow.orders.models import Product
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from tests.support.processes import run_returnflow
from tests.support.world import make_shop, platform_token

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

OCT = {"from": "2026-10-01", "to": "2026-10-31"}


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=timezone.utc)


def order(db, shop, number, country, customer, day, lines):
    record = OrderRecord(number=number, currency="CNY", country=country, sales_channel="tmall",
                         customer=CustomerRecord(external_id=customer, name=f"Customer {customer}", country=country),
                         ordered_at=at(day), shipped_at=at(day), delivered_at=at(day),
                         lines=[LineRecord(line_no=i + 1, sku=sku, title=f"Item {sku}", category=cat,
                                           unit_price=to_minor(Decimal(price), "CNY"), quantity=qty,
                                           delivered_quantity=qty)
                                for i, (sku, cat, price, qty) in enumerate(lines)])
    with db.transaction() as session:
        upsert_orders(session, merchant_id=shop.id, orders=[record])


def case(db, shop, number, type_, line_no, qty, reason, opened, steps=()):
    """Opens a case at `opened` and fires (action, role, when) steps, through the product's services."""
    with db.transaction() as session:
        record = open_case(session, actor=shop.actors["agent"], created_at=opened, data=CaseCreate(
            order=number, type=type_, reason=reason, lines=[CaseLineCreate(line_no=line_no, quantity=qty)]))
        for action, role, when in steps:
            payload = {"carrier": "SF", "tracking_number": "SF1"} if action == "ship_return" else \
                {"answer": "done"} if action == "resolve" else {}
            fire(session, record, action, shop.actors[role], payload=payload, at=when)
        return record.number


@pytest.fixture
def world(db):
    return build_world(db)


def build_world(db):
    """Three shops (one without data), October's orders and five cases, and the platform's token."""
    shop = make_shop(db, "shop")
    other = make_shop(db, "other")
    empty = make_shop(db, "empty")
    # Every request goes to an agent here (no automatic approval), so each step happens when the test says.
    from returnflow.policy import service as policy_service

    with db.transaction() as session:
        policy_service.save(session, shop.id, '[policy]\nid = "by-hand"\nextends = "cn-law"\n'
                            '[approval]\nauto_max_amount = 0\n', shop.actors["admin"])
    order(db, shop, "O-1", "CN", "C-1", 1, [("SKU-A", "kitchen", "100.00", 2), ("SKU-B", "mugs", "35.50", 1)])
    order(db, shop, "O-2", "US", "C-1", 2, [("SKU-A", "kitchen", "100.00", 3)])
    order(db, shop, "O-3", "CN", "C-2", 3, [("SKU-B", "mugs", "35.50", 4)])
    order(db, other, "X-1", "DE", "D-1", 2, [("SKU-A", "kitchen", "999.00", 1)])
    with db.transaction() as session:
        session.execute(update(Product).where(Product.merchant_id == shop.id, Product.sku == "SKU-A")
                        .values(supplier="Acme Kitchen"))
    cases = {
        "full": case(db, shop, "O-1", "return_refund", 1, 1, "quality_issue", at(5), [
            ("approve", "agent", at(5, 12)), ("ship_return", "agent", at(6)), ("receive", "warehouse", at(8, 10)),
            ("inspect", "warehouse", at(8, 16)), ("resolve", "agent", at(9, 10)), ("close", "agent", at(9, 12))]),
        "waiting": case(db, shop, "O-2", "return_refund", 1, 2, "not_as_described", at(6),
                        [("approve", "agent", at(7))]),
        "cancelled": case(db, shop, "O-3", "return_refund", 1, 1, "wrong_size", at(7), [("cancel", "agent", at(7, 11))]),
        "refund": case(db, shop, "O-1", "refund_only", 2, 1, "not_received", at(8)),
        "other": case(db, other, "X-1", "return_refund", 1, 1, "quality_issue", at(9)),
    }
    token, _ = platform_token(db)
    return shop, other, empty, cases, {"Authorization": f"Bearer {token}"}


def get(client, headers, name, **params):
    answer = client.get(f"/api/v1/analytics/reports/{name}", headers=headers, params={**OCT, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def subset(row: dict, expected: dict) -> bool:
    return {k: row.get(k) for k in expected} == expected


def rows_by(body, key="key"):
    return {r[key]: r for r in body["rows"]}


def test_return_rate_by_sku_and_country_counts_units_and_value(client, world):
    shop, *_ = world
    body = get(client, shop.headers(), "return_rate", by="sku")
    sku = rows_by(body)
    assert subset(sku["SKU-A"], {"units_sold": 5, "units_returned": 3, "unit_rate": "60.00", "value_sold": "500.00",
                                 "value_returned": "300.00", "value_rate": "60.00", "cases": 2, "title": "Item SKU-A"})
    # The cancelled case does not count; the refund-only one does.
    assert (sku["SKU-B"]["units_sold"], sku["SKU-B"]["units_returned"], sku["SKU-B"]["value_returned"]) == (5, 1, "35.50")
    # No refund was paid and no credit recorded: every returned unit is valued at its purchase price, and says so.
    assert body["totals"]["by_currency"] == {"CNY": {"value_sold": "677.50", "value_returned": "335.50",
                                                     "value_rate": "49.52", "value_at_price": "335.50"}}
    country = rows_by(get(client, shop.headers(), "return_rate", by="country"))
    assert (country["CN"]["units_sold"], country["CN"]["units_returned"]) == (7, 2)
    assert (country["CN"]["value_returned"], country["CN"]["value_rate"]) == ("135.50", "35.89")
    assert (country["US"]["unit_rate"], country["US"]["value_returned"]) == ("66.67", "200.00")
    supplier = rows_by(get(client, shop.headers(), "return_rate", by="supplier"))
    assert supplier["Acme Kitchen"]["units_returned"] == 3 and supplier["(none)"]["units_returned"] == 1
    category = rows_by(get(client, shop.headers(), "return_rate", by="category", supplier="Acme Kitchen"))
    assert set(category) == {"kitchen"}


def test_drill_down_lists_exactly_the_cases_behind_a_number(client, world):
    shop, _, _, cases, _ = world
    row = rows_by(get(client, shop.headers(), "return_rate", by="sku"))["SKU-A"]
    listed = client.get(row["cases_url"], headers=shop.headers()).json()
    assert {c["number"] for c in listed["items"]} == {cases["full"], cases["waiting"]} and listed["total"] == 2
    backlog = rows_by(get(client, shop.headers(), "backlog"), "state")
    waiting = client.get(backlog["awaiting_return"]["cases_url"], headers=shop.headers()).json()
    assert [c["number"] for c in waiting["items"]] == [cases["waiting"]]


def test_trend_reasons_hotspots_and_top_returns(client, world):
    shop, *_ = world
    trend = get(client, shop.headers(), "trend", granularity="week")
    weeks = rows_by(trend)
    assert list(weeks)[0] == "2026-09-28" and len(weeks) == 5  # every week of October, empty ones included
    assert sum(r["units_returned"] for r in trend["rows"]) == 4
    assert "from=2026-10-01&to=2026-10-04" in trend["rows"][0]["cases_url"]  # the week clipped to the period
    reasons = rows_by(get(client, shop.headers(), "reasons"), "reason")
    assert {k: r["units"] for k, r in reasons.items()} == {"not_as_described": 2, "quality_issue": 1,
                                                          "not_received": 1}
    # in every language of the desk; zh-Hant is machine-converted and hand-corrected (品質, not 質量)
    assert reasons["quality_issue"]["label"] == {"en": "Quality problem", "zh-CN": "质量问题", "zh-Hant": "品質問題"}
    per_sku = get(client, shop.headers(), "reasons_by", by="sku")["rows"]
    assert {(r["key"], r["reason"], r["share"]) for r in per_sku} == {
        ("SKU-A", "not_as_described", "66.67"), ("SKU-A", "quality_issue", "33.33"), ("SKU-B", "not_received", "100.00")}
    hot = rows_by(get(client, shop.headers(), "hotspots"))
    assert subset(hot["SKU-A"], {"nad_units": 2, "quality_units": 1, "nad_rate": "40.00", "points_at": "listing"})
    assert "SKU-B" not in hot
    top = get(client, shop.headers(), "top_returns", limit="1")["rows"]
    assert [r["key"] for r in top] == ["SKU-A"]
    assert sum(p["units_returned"] for p in top[0]["trend"]) == 3


def test_processing_times_are_exact_percentiles_per_step_and_person(client, world):
    shop, *_ = world
    steps = rows_by(get(client, shop.headers(), "processing_times"), "step")
    # Decisions took 2 h (the full case) and 24 h (the waiting one); nearest rank: p50 = 2 h, p90 = 24 h.
    assert subset(steps["decision"], {"cases": 2, "p50": 7200, "p90": 86400, "p95": 86400, "avg": 46800})
    assert steps["inspected"]["p50"] == 6 * 3600
    assert subset(steps["total"], {"cases": 1, "p50": 4 * 86400 + 2 * 3600})
    agents = rows_by(get(client, shop.headers(), "processing_agents"), "who")
    assert subset(agents["agent of shop"], {"cases": 2, "p50": 7200, "p95": 86400})
    warehouse = rows_by(get(client, shop.headers(), "processing_warehouse"), "who")
    assert warehouse["warehouse of shop"]["p50"] == 6 * 3600


def test_step_percentiles_equal_nearest_rank_over_random_durations(client, db):
    """Both databases give each step's exact nearest-rank p50/p90/p95 and mean (PostgreSQL ranks them itself):
    45 cases with random step times (whole hours, so ties are common), stopping at random steps, against the
    durations recomputed here from the times fired."""
    import random

    from returnflow.analytics.process import nearest_rank
    from returnflow.policy import service as policy_service

    rng = random.Random(17)
    shop = make_shop(db, "ranks")
    with db.transaction() as session:
        policy_service.save(session, shop.id, '[policy]\nid = "by-hand"\nextends = "cn-law"\n'
                            '[approval]\nauto_max_amount = 0\n', shop.actors["admin"])
    order(db, shop, "R-1", "CN", "C-1", 1, [("SKU-R", "kitchen", "10.00", 100)])
    chain = [("approve", "agent", "decision"), ("ship_return", "agent", "shipped"), ("receive", "warehouse", "received"),
             ("inspect", "warehouse", "inspected"), ("resolve", "agent", "resolved"), ("close", "agent", "closed")]
    spans: dict[str, list[float]] = {name: [] for _, _, name in chain} | {"total": []}
    for _ in range(45):
        opened = at(2) + timedelta(hours=rng.randrange(0, 24 * 4))  # inside the return window
        steps, when = [], opened
        for action, role, name in chain[:rng.randrange(0, len(chain) + 1)]:
            later = when + timedelta(hours=rng.choice([1, 1, 2, 5, 24, 30, 72]), seconds=rng.choice([0, 0, 1799]))
            spans[name].append((later - when).total_seconds())
            steps.append((action, role, later))
            when = later
        if len(steps) == len(chain):
            spans["total"].append((when - opened).total_seconds())
        case(db, shop, "R-1", "return_refund", 1, 1, "quality_issue", opened, steps)
    found = rows_by(get(client, shop.headers("supervisor"), "processing_times"), "step")
    for name, values in spans.items():
        if not values:
            assert name not in found
            continue
        expected = nearest_rank(list(values))
        assert {k: found[name][k] for k in expected} == expected, name


def test_backlog_by_state_and_age(client, world):
    shop, *_ = world
    body = get(client, shop.headers(), "backlog")
    assert {r["state"]: r["total"] for r in body["rows"]} == {"awaiting_return": 1, "pending_review": 1}
    assert body["totals"] == {"open": 2}


def test_customer_profiles_flag_serial_returners_with_evidence(client, world):
    shop, _, _, cases, _ = world
    assert client.get("/api/v1/analytics/reports/customers", headers=shop.headers("agent"),
                      params=OCT).status_code == 403
    body = get(client, shop.headers("supervisor"), "customers")
    c1 = rows_by(body, "customer")["C-1"]
    assert (c1["cases"], c1["units_bought"], c1["units_returned"], c1["unit_rate"]) == (3, 6, 4, "66.67")
    serial = next(e for e in c1["evidence"] if e["flag"] == "serial_returner")
    assert set(serial["cases"]) == {cases["full"], cases["waiting"], cases["refund"]}
    assert serial["rule"]["zh-CN"] and serial["observed"] == {"cases": 3, "unit_rate": "66.67"}


def test_merchants_see_only_their_own_figures(client, world):
    shop, other, _, _, platform = world
    mine = get(client, shop.headers(), "return_rate", by="sku")
    assert rows_by(mine)["SKU-A"]["units_sold"] == 5  # not the other merchant's SKU-A
    refused = client.get("/api/v1/analytics/reports/return_rate", headers=shop.headers(),
                         params={**OCT, "merchant": "other"})
    assert refused.status_code == 404 and refused.json()["error"]["field"] == "merchant"
    everyone = rows_by(get(client, platform, "return_rate", by="sku"))
    assert everyone["SKU-A"]["units_sold"] == 6 and everyone["SKU-A"]["cases"] == 3
    theirs = rows_by(get(client, platform, "return_rate", by="sku", merchant="other"))
    assert theirs["SKU-A"]["value_returned"] == "999.00"
    drill = client.get("/api/v1/analytics/cases", headers=other.headers(), params={**OCT, "sku": "SKU-A"}).json()
    assert drill["total"] == 1 and all(c["merchant"] == "other" for c in drill["items"])


def test_the_platform_names_every_merchant_and_gets_the_figures_of_no_condition(db, world):
    """The platform's reads keep rows to `merchant_id IN (every merchant)` so the per-merchant indexes serve them;
    every dashboard tile (and the groupings beside it) must equal what the same filters give without that
    condition, and a merchant left out of the list would show."""
    from returnflow.analytics.api import DASHBOARD, with_links
    from returnflow.analytics.filters import parse
    from returnflow.analytics.report import REPORTS
    from returnflow.analytics.sql import prepare
    from returnflow.actor import Actor

    platform = Actor(kind="staff", role="platform")
    asked = DASHBOARD + (("suppliers", {}), ("return_rate", {"by": "country"}), ("customers", {}),
                         ("processing_agents", {}))

    def tiles(drop: bool, only: int | None = None):
        with db.read() as session:
            prepare(session)
            f = parse(session, platform, OCT)
            if drop:
                f = f.with_(every_merchant=())
            elif only is not None:
                f = f.with_(every_merchant=(only,))
            return f, [with_links(REPORTS[name].run(session, f.with_(**extra)), f) for name, extra in asked]

    named, by_id = tiles(False)
    assert {world[0].id, world[1].id} <= set(named.every_merchant)
    assert by_id == tiles(True)[1]
    rates = {r["key"]: r for r in by_id[1]["rows"]}  # top returns by SKU: both merchants' SKU-A
    assert rates["SKU-A"]["units_sold"] == 6 and rates["SKU-A"]["cases"] == 3
    # The condition is real: naming one merchant only gives that merchant's figures, not the platform's.
    one = {r["key"]: r for r in tiles(False, only=world[0].id)[1][1]["rows"]}
    assert one["SKU-A"]["units_sold"] == 5


BAD = [
    ({"colour": "red"}, "colour"), ({"from": "2026-13-01"}, "from"), ({"from": "2026-11-01", "to": "2026-10-01"}, "from"),
    ({"by": "colour"}, "by"), ({"limit": "0"}, "limit"), ({"granularity": "hour"}, "granularity"),
    ({"from": "2016-01-01", "granularity": "day"}, "granularity"), ({"format": "pdf"}, "format"),
    ({"from": "1900-01-01"}, "from"),
]


def test_bad_filters_are_refused_clearly_in_both_languages(client, world):
    shop, *_ = world
    for params, field in BAD:
        for lang, marker in (("en", ": "), ("zh-CN", "：")):
            answer = client.get("/api/v1/analytics/reports/return_rate", params={**OCT, **params},
                                headers=shop.headers(**{"Accept-Language": lang}))
            assert answer.status_code == 422, (params, answer.text)
            error = answer.json()["error"]
            assert error["field"] == field and error["message"].startswith(field + marker), (params, error)


def test_empty_periods_long_periods_and_merchants_without_data_answer_plainly(client, world):
    shop, _, empty, _, _ = world
    nothing = get(client, shop.headers(), "return_rate", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert nothing["status"] == "empty" and nothing["rows"] == [] and nothing["note"]["zh-CN"]
    decade = get(client, shop.headers(), "trend", **{"from": "2016-11-01", "to": "2026-10-31"})
    assert decade["filters"]["granularity"] == "month" and len(decade["rows"]) == 120
    assert sum(r["units_returned"] for r in decade["rows"]) == 4
    for name in ("return_rate", "trend", "top_returns", "reasons", "processing_times", "backlog", "hotspots",
                 "suppliers", "processing_agents"):
        assert get(client, empty.headers("admin"), name)["status"] == "empty", name
    money = get(client, shop.headers("finance"), "money")  # no refund in this history: a clear "empty", not an error
    assert money["status"] == "empty" and money["rows"] == [] and money["note"]["en"]
    rated = get(client, shop.headers(), "satisfaction")  # no answer yet; the closed case's follow-up is open
    assert rated["totals"]["responses"] == 0 and rated["totals"]["follow_ups"] == {"open": 1}
    unknown = client.get("/api/v1/analytics/reports/nope", headers=shop.headers())
    assert unknown.status_code == 404 and "return_rate" in unknown.json()["error"]["allowed"]
    assert client.get("/api/v1/analytics/reports/trend").status_code == 401


def test_csv_and_xlsx_exports_carry_the_same_figures(client, world):
    import openpyxl

    shop, *_ = world
    body = get(client, shop.headers(), "return_rate", by="sku")
    answer = client.get("/api/v1/analytics/reports/return_rate", headers=shop.headers(),
                        params={**OCT, "by": "sku", "format": "csv", "lang": "zh-CN"})
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table[0][:2] == ["商品编码", "名称"] and "退货率（件数）%" in table[0]
    assert [r[0] for r in table[1:]] == [r["key"] for r in body["rows"]]
    assert table[1][table[0].index("退货金额")] == "300.00"
    xlsx = client.get("/api/v1/analytics/reports/return_rate", headers=shop.headers(),
                      params={**OCT, "by": "sku", "format": "xlsx", "lang": "en"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header = [c.value for c in sheet[4]]
    first = {h: c.value for h, c in zip(header, sheet[5], strict=True)}
    assert first["SKU"] == "SKU-A" and first["Units returned"] == 3
    assert Decimal(str(first["Value returned"])).quantize(Decimal("0.01")) == Decimal("300.00")


def test_charts_are_self_contained_svg(client, world):
    shop, *_ = world
    for name in ("trend", "return_rate", "reasons", "processing_times", "backlog"):
        answer = client.get(f"/api/v1/analytics/charts/{name}.svg", headers=shop.headers(), params=OCT)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(answer.text)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "<script" not in answer.text and "href" not in answer.text
        assert answer.text.count("http") == 1  # the SVG namespace only; nothing is fetched
        assert root.findall(".//{http://www.w3.org/2000/svg}rect") or \
            root.findall(".//{http://www.w3.org/2000/svg}circle")
    empty = client.get("/api/v1/analytics/charts/trend.svg", headers=shop.headers(),
                       params={"from": "2020-01-01", "to": "2020-01-31", "lang": "zh-CN"})
    assert "暂无数据" in empty.text


def test_dashboard_json_and_page(app, client, world):
    shop, _, _, cases, _ = world
    body = client.get("/api/v1/analytics/dashboard", headers=shop.headers("supervisor"), params=OCT).json()
    assert [t["report"] for t in body["tiles"]] == ["trend", "top_returns", "reasons", "hotspots",
                                                    "processing_times", "backlog", "money", "sla", "satisfaction"]
    # The money given back is for managers: an agent's or a clerk's dashboard leaves it out, and the report and its
    # drill-down refuse them, naming the roles that may read it.
    for role in ("agent", "warehouse"):
        tiles = client.get("/api/v1/analytics/dashboard", headers=shop.headers(role), params=OCT).json()["tiles"]
        assert "money" not in [t["report"] for t in tiles] and "trend" in [t["report"] for t in tiles], role
        refused = client.get("/api/v1/analytics/reports/money", headers=shop.headers(role), params=OCT)
        assert refused.status_code == 403 and "finance" in refused.json()["error"]["allowed"], role
        drilled = client.get("/api/v1/analytics/cases", headers=shop.headers(role), params={**OCT, "source": "money"})
        assert drilled.status_code == 403, role
    # The page lives in the staff console: the console's cookie session, managers only, its language.
    from tests.support.asgi import TestClient

    from tests.support.portal import sign_in_staff

    web = TestClient(app, headers={"Accept-Language": "zh-CN"})
    assert web.get("/analytics?from=2026-10-01", follow_redirects=False).headers["location"] == \
        "/staff/analytics?from=2026-10-01"
    assert web.get("/staff/analytics", follow_redirects=False).headers["location"].startswith("/staff/login")
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    assert web.get("/staff/analytics").status_code == 403  # agents work cases; managers read the dashboard
    assert 'href="/staff/analytics"' not in web.get("/staff/").text
    sign_in_staff(web, "supervisor@shop.test", "pw-supervisor")
    assert 'href="/staff/analytics"' in web.get("/staff/").text
    page = web.get("/staff/analytics", params={**OCT, "category": "kitchen"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "售后分析" in html and html.count("<svg") >= 4 and "<style" not in html
    assert "/staff/analytics/cases?" in html and "category=kitchen" in html
    assert "format=xlsx" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    # A tile's table has the drill column only when a figure in it opens its cases (no column of empty cells).
    sections = dict(re.findall(r'<section class="card tile" id="([a-z_]+)"(.*?)</section>', html, re.S))
    assert "数字背后的售后单" in sections["trend"]
    for name, section in sections.items():
        if "<table" in section:
            assert ("数字背后的售后单" in section) == ("/staff/analytics/cases?" in section), name
    links = [m.replace("&amp;", "&") for m in re.findall(r'href="(/staff/analytics/cases\?[^"]+)"', html)]
    listed = [web.get(link) for link in links]
    assert all(answer.status_code == 200 for answer in listed)
    found = {n for answer in listed for n in re.findall(r'href="/staff/cases/([^"]+)"', answer.text)}
    assert cases["full"] in found  # the kitchen return is one click from the figure it is counted in
    csv_file = web.get(re.search(r'href="(/staff/analytics/export/[^"]+format=csv)"', html).group(1)
                       .replace("&amp;", "&"))
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    bad = web.get("/staff/analytics", params={"granularity": "hour"})
    assert bad.status_code == 422 and "granularity" in bad.text and 'name="granularity"' in bad.text


def test_cli_report_prints_the_same_figures(db, world, tmp_path):
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}

    def cli(*args):
        return run_returnflow(["report", *args], env=env, timeout=120)

    out = cli("return-rate", "--merchant", "shop", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "country",
              "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {r["key"]: r for r in json.loads(out.stdout)["rows"]}
    assert rows["US"]["value_returned"] == "200.00"
    xlsx = tmp_path / "top.xlsx"
    made = cli("top_returns", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "xlsx", "--out", str(xlsx))
    assert made.returncode == 0 and xlsx.stat().st_size > 0
    bad = cli("trend", "--from", "2026-11-01", "--to", "2026-10-01")
    assert bad.returncode == 2 and "from" in bad.stdout
    assert "return_rate" in cli("list").stdout



def test_large_scopes_grouped_in_sql_give_the_same_figures(client, world, monkeypatch):
    from returnflow.analytics import cube

    shop, *_ = world
    wanted = [("return_rate", {"by": "sku"}), ("return_rate", {"by": "period"}), ("trend", {}),
              ("top_returns", {}), ("reasons", {}), ("reasons_by", {"by": "category"}), ("hotspots", {}),
              ("suppliers", {}), ("return_rate", {"by": "country", "reason": "quality_issue"})]
    read_lines = [get(client, shop.headers(), name, **params) for name, params in wanted]
    monkeypatch.setattr(cube, "LINE_CAP", -1)  # as if the scope were too large to read its lines
    grouped = [get(client, shop.headers(), name, **params) for name, params in wanted]
    assert grouped == read_lines


ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,'’-]+[A-Za-z]{2,}){2,}")  # three English words in a row


def test_a_traditional_chinese_manager_reads_titles_notes_and_definitions_from_the_catalogs(app, client, world):
    from tests.support.asgi import TestClient

    from returnflow.i18n import SUPPORTED
    from tests.support.portal import sign_in_staff

    shop, *_ = world
    listed = client.get("/api/v1/analytics/reports", headers=shop.headers("supervisor")).json()["reports"]
    assert all(set(r["title"]) == set(SUPPORTED) for r in listed)
    tiles = client.get("/api/v1/analytics/dashboard", headers=shop.headers("supervisor"), params=OCT).json()["tiles"]
    said = []
    for tile in tiles:
        for part in ("title", "note", "definition"):
            if part in tile:
                assert set(tile[part]) == set(SUPPORTED), (tile["report"], part)
                said.append((tile["report"], part, tile[part]))
    assert {part for _, part, _ in said} == {"title", "note", "definition"}
    for report, part, text in said:  # every one of them worded in Traditional, none left in English
        assert text["zh-Hant"] != text["en"] and not ENGLISH_RUN.search(text["zh-Hant"]), (report, part, text)
    assert [t["title"]["zh-Hant"] for t in tiles][:2] == ["按日退貨趨勢", "退貨金額前 10"]
    # The console's dashboard in Traditional shows the same words.
    web = TestClient(app, headers={"Accept-Language": "zh-TW,zh;q=0.9"})
    sign_in_staff(web, "supervisor@shop.test", "pw-supervisor")
    html = web.get("/staff/analytics", params=OCT).text
    for report, part, text in said:
        if part != "note":  # a tile's note is the page's when the report has one
            assert text["zh-Hant"] in html and text["en"] not in html, (report, part)


def test_the_dashboard_equals_its_reports_read_one_by_one(app, client, world, monkeypatch):
    """The dashboard runs its database-bound tiles on a second connection (analytics/beside.py): each tile equals
    its report read alone, and an error in one of them is answered as the report would answer it."""
    from sqlalchemy import event

    from returnflow.analytics import api as analytics_api, finance
    from returnflow.errors import Explained

    shop, *_ = world
    engine = app.state.db.engine
    threads: set[str] = set()

    def seen(*_args) -> None:
        threads.add(threading.current_thread().name)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        body = client.get("/api/v1/analytics/dashboard", headers=shop.headers("supervisor"), params=OCT).json()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert any(name.startswith("analytics-beside") for name in threads), threads
    overrides = dict(analytics_api.DASHBOARD)
    assert [t["report"] for t in body["tiles"]] == list(overrides)
    for tile in body["tiles"]:
        alone = get(client, shop.headers("supervisor"), tile["report"], **overrides[tile["report"]])
        alone["definition"] = tile.get("definition", alone.get("definition"))
        assert tile == alone, tile["report"]

    def refuse(_session, _filters):
        raise Explained("from", "is too early for this test")

    monkeypatch.setitem(analytics_api.REPORTS, "money", dataclasses.replace(finance.money.definition, run=refuse))
    pool = engine.pool
    before = pool.checkedout() if hasattr(pool, "checkedout") else None
    refused = client.get("/api/v1/analytics/dashboard", headers=shop.headers("supervisor"), params=OCT)
    assert refused.status_code == 422 and "too early" in refused.text, refused.text
    if before is not None:
        assert pool.checkedout() == before  # the second connection went back to the pool


def test_a_database_in_memory_reads_the_whole_dashboard_on_its_one_connection():
    """An SQLite database in memory has no second connection to the same data (each connection is a database of
    its own): the dashboard runs every tile on the request's connection there, and answers."""
    from sqlalchemy import event

    from returnflow.actor import Actor
    from returnflow.analytics.api import DASHBOARD, dashboard
    from returnflow.db import Database
    from returnflow.schema import migrate

    db = Database("sqlite://")
    migrate(db)
    threads: set[str] = set()
    event.listen(db.engine, "before_cursor_execute", lambda *_: threads.add(threading.current_thread().name))
    with db.read() as session:
        _base, tiles = dashboard(session, Actor(kind="staff", role="platform", user_id=1), dict(OCT))
    assert [report.name for report, _ in tiles] == [name for name, _ in DASHBOARD]
    assert threads and not any(name.startswith("analytics-beside") for name in threads), threads
    db.dispose()
