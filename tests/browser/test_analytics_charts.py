"""The dashboard's charts in headless Chromium at phone (390 px) and desktop (1280 px) widths, in zh-CN and English:
a month by day (31 x labels), long product and reason names; no two labels of a chart overlap and none leaves its
chart. Screenshots: docs/screenshots/analytics-charts-*."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.cases.workflow import fire
from returnflow.money import to_minor
from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
from returnflow.orders.service import upsert_orders
from tests.support.walk import DESKTOP, PHONE, Walk, staff_signs_in
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

UTC = timezone.utc
REASONS = ("quality_issue", "not_as_described", "wrong_size", "damaged_in_transit", "changed_mind")
# Every text of each shown chart: its box, the chart's box, and whether it is an axis label.
BOXES = """() => [...document.querySelectorAll('section.tile .chart svg')]
  .filter(svg => svg.getBoundingClientRect().width > 0)
  .map(svg => ({tile: svg.closest('section').id, svg: svg.getBoundingClientRect().toJSON(),
                texts: [...svg.querySelectorAll('text')].map(t => ({text: t.textContent,
                        cls: t.getAttribute('class') || '', box: t.getBoundingClientRect().toJSON()}))}))"""


def _month_of_returns(db, code: str) -> None:
    shop = make_shop(db, code)
    for day in range(1, 32):
        when = datetime(2026, 10, day, 4, tzinfo=UTC)
        sku = f"SKU-{day % 7}-EXTRA-LONG-PRODUCT-CODE"
        record = OrderRecord(number=f"M{day:02d}", currency="CNY", country="CN", sales_channel="tmall",
                             customer=CustomerRecord(external_id=f"C{day % 5}", name="Customer", country="CN"),
                             ordered_at=when, shipped_at=when, delivered_at=when,
                             lines=[LineRecord(line_no=1, sku=sku, title="超长的商品名称 Extra long product title",
                                               category="kitchen", unit_price=to_minor(Decimal("129.90"), "CNY"),
                                               quantity=3 + day % 4, delivered_quantity=3 + day % 4)])
        with db.transaction() as session:
            upsert_orders(session, merchant_id=shop.id, orders=[record])
            if day % 2:
                case = open_case(session, actor=shop.actors["agent"], created_at=when + timedelta(hours=5),
                                 data=CaseCreate(order=record.number, type="return_refund",
                                                 reason=REASONS[day % len(REASONS)],
                                                 lines=[CaseLineCreate(line_no=1, quantity=1 + day % 3)]))
                if case.state == "pending_review":
                    fire(session, case, "approve", shop.actors["agent"], at=when + timedelta(hours=5 + day * 3))


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] - 0.5 and b["x"] < a["x"] + a["width"] - 0.5
            and a["y"] < b["y"] + b["height"] - 0.5 and b["y"] < a["y"] + a["height"] - 0.5)


def _inside(box: dict, frame: dict) -> bool:
    return (box["x"] >= frame["x"] - 0.5 and box["y"] >= frame["y"] - 0.5
            and box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5
            and box["y"] + box["height"] <= frame["y"] + frame["height"] + 0.5)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_chart_labels_never_overlap_nor_leave_the_chart_on_a_phone_or_a_desktop(live, chromium, shots, locale):
    base, db = live
    code = "charts-" + locale.lower()
    _month_of_returns(db, code)
    context = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    staff_signs_in(page, base, f"supervisor@{code}.test", "pw-supervisor", "登录" if locale == "zh-CN" else "Sign in")
    page.goto(f"{base}/staff/analytics?from=2026-10-01&to=2026-10-31&granularity=day")
    seen = {}
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(100)
        charts = page.evaluate(BOXES)
        assert {c["tile"] for c in charts} >= {"trend", "top_returns", "reasons", "processing_times"}, label
        width = page.evaluate("() => document.documentElement.clientWidth")
        for chart in charts:
            where = (label, chart["tile"])
            assert chart["svg"]["x"] >= 0 and chart["svg"]["x"] + chart["svg"]["width"] <= width + 0.5, where
            texts = [t for t in chart["texts"] if t["text"].strip()]
            for t in texts:
                assert _inside(t["box"], chart["svg"]), (where, t)
            for i, a in enumerate(texts):
                for b in texts[i + 1:]:
                    assert not _overlap(a["box"], b["box"]), (where, a, b)
            if chart["tile"] == "trend":
                ticks = [t for t in texts if "tick" in t["cls"]]
                assert 2 <= len(ticks) < 31, where  # thinned out, still there
                # Readable: the chart is not shrunk below 85 % of the size it was laid out for.
                assert all(t["box"]["height"] >= 12 * 0.85 for t in ticks), where
        seen[label] = {c["tile"]: len(c["texts"]) for c in charts}
    assert seen["phone"] and seen["desktop"]
    walk = Walk("analytics-charts-" + locale.lower(), shots)
    walk.page(page, "month-by-day")
    context.close()
    assert walk.problems == {}, walk.problems
