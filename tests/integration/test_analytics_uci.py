"""The UCI Online Retail data through the product: its analytics figures equal the same figures computed here
straight from the CSV (plain csv + Decimal), to the penny, on SQLite and PostgreSQL, under the definitions of
docs/analytics.md.

The reference below re-derives, from the file alone, what docs/import.md says the import does and what the
reports count: invoices with a bad row are refused whole; only product lines are sales (postage, fees, discounts
and manual adjustments are not); a 'C' line with a customer and a product code is matched to that customer's
earlier purchases of the same StockCode, most recent first; a matched quantity counts in the month of the purchase
(the order cohort) at what the credit note credited for it (its own UnitPrice), and what matches no purchase (no
customer, none bought before, more than was bought) is counted apart as unmatched, in the month of the return.
"""

from __future__ import annotations

import csv
import gzip

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from returnflow.merchants.models import Merchant
from returnflow.sla import settings as sla_settings
from returnflow.importer import import_file
from tests.conftest import SHARED

DATA = Path(__file__).resolve().parents[1] / "data"
UCI_SAMPLE = DATA / "uci_online_retail_sample.csv"
UCI_FULL = SHARED / "datasets" / "uci_online_retail" / "online_retail_I_2010-12_2011-12.csv.gz"
LONDON = ZoneInfo("Europe/London")
NON_PRODUCT = {"M", "POST", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "DOT", "C2", "PADS", "B"}
PERIOD = {"from": "2010-12-01", "to": "2011-12-31"}


@dataclass
class Figures:
    units_sold: int = 0
    value_sold: Decimal = Decimal(0)
    units_returned: int = 0
    value_returned: Decimal = Decimal(0)
    cases: set = field(default_factory=set)


@dataclass
class Unmatched:
    lines: set = field(default_factory=set)
    units: int = 0
    value: Decimal = Decimal(0)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=LONDON).astimezone(timezone.utc)


def _customer(text: str) -> str | None:
    text = text.strip()
    return text[:-2] if text.endswith(".0") else (text or None)


def reference(path: Path) -> dict[str, dict]:
    """Return figures by country, SKU and month, and the unmatched returns by month and SKU, computed from the CSV
    without any product code."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        rows = list(enumerate(csv.DictReader(handle), start=2))
    invoices: dict[str, list] = defaultdict(list)
    returns = []
    for line, row in rows:
        number = row["InvoiceNo"].strip()
        if number.startswith("C"):
            returns.append((line, row))
        else:
            invoices[number].append(row)
    # Purchases that import: every row positive, a price in whole pence, a StockCode.
    purchases: dict[tuple[str, str], list[list]] = defaultdict(list)
    by = {"country": defaultdict(Figures), "sku": defaultdict(Figures), "month": defaultdict(Figures)}
    for number, items in invoices.items():
        prices = [Decimal(r["UnitPrice"]) for r in items]
        if any(int(r["Quantity"]) <= 0 or p < 0 or (p * 100) != (p * 100).to_integral_value()
               or not r["StockCode"].strip() for r, p in zip(items, prices, strict=True)):
            continue
        at = _utc(items[0]["InvoiceDate"])
        country = items[0]["Country"].strip()
        customer = _customer(items[0]["CustomerID"])
        month = at.astimezone(LONDON).strftime("%Y-%m")  # the invoice's month in the shop's time
        for line_no, (r, price) in enumerate(zip(items, prices, strict=True), start=1):
            qty = int(r["Quantity"])
            sku = r["StockCode"].strip()
            if sku in NON_PRODUCT:  # not goods: neither sold nor returnable
                continue
            for key, name in ((country, "country"), (sku, "sku"), (month, "month")):
                fig = by[name][key]
                fig.units_sold += qty
                fig.value_sold += qty * price
            if customer:
                purchases[(customer, sku)].append([at, number, line_no, qty, price, country])
    for items in purchases.values():
        items.sort(key=lambda p: (p[0], p[1], p[2]), reverse=True)
    parsed = [(_utc(r["InvoiceDate"]), line, r) for line, r in returns]
    by["unmatched_month"] = defaultdict(Unmatched)
    by["unmatched_sku"] = defaultdict(Unmatched)
    for at, line, r in sorted(parsed, key=lambda x: (x[0], x[1])):
        customer, sku = _customer(r["CustomerID"]), r["StockCode"].strip()
        credited = Decimal(r["UnitPrice"])  # the credit note's own price for each unit it takes back
        if sku in NON_PRODUCT:
            continue
        wanted = -int(r["Quantity"])
        for p in (purchases.get((customer, sku), ()) if customer else ()):
            if p[0] >= at or wanted == 0:
                continue
            take = min(wanted, p[3])
            if take <= 0:
                continue
            p[3] -= take
            wanted -= take
            case = (r["InvoiceNo"].strip(), p[1])
            # The rate is the order cohort's: a return counts in the month its purchase was made (the shop's time).
            for key, name in ((p[5], "country"), (sku, "sku"), (p[0].astimezone(LONDON).strftime("%Y-%m"), "month")):
                fig = by[name][key]
                fig.units_returned += take
                fig.value_returned += take * credited
                fig.cases.add(case)
        if wanted:  # matched no purchase (or more than was bought): counted apart, by the return's own month
            for key, name in ((at.astimezone(LONDON).strftime("%Y-%m"), "unmatched_month"), (sku, "unmatched_sku")):
                fig = by[name][key]
                fig.lines.add(line)
                fig.units += wanted
                fig.value += wanted * credited
    return by


def pct(part, whole) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def imported(db, path: Path) -> str:
    with db.transaction() as session:
        merchant = Merchant(code="uci", name="UCI Online Retail", default_currency="GBP")
        session.add(merchant)
        session.flush()
        merchant_id = merchant.id
        sla_settings.save(session, merchant_id, {"timezone": "Europe/London"}, by="test")  # the shop's own time
    import_file(db, file=path, merchant_id=merchant_id, fmt="uci", currency="GBP")
    return "uci"


def report(client, headers, name, **params):
    answer = client.get(f"/api/v1/analytics/reports/{name}", headers=headers,
                        params={**PERIOD, "merchant": "uci", "limit": "10000", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_matches(rows: list[dict], expected: dict[str, Figures], *, with_zero_returns: bool = True) -> None:
    got = {r["key"]: r for r in rows}
    wanted = {k: v for k, v in expected.items() if with_zero_returns or v.units_returned}
    assert set(got) == set(wanted)
    for key, fig in wanted.items():
        row = got[key]
        assert (row["units_sold"], row["units_returned"]) == (fig.units_sold, fig.units_returned), key
        assert (row["value_sold"], row["value_returned"]) == (cents(fig.value_sold), cents(fig.value_returned)), key
        assert row["unit_rate"] == pct(fig.units_returned, fig.units_sold), key
        assert row["value_rate"] == pct(fig.value_returned, fig.value_sold), key
        assert row["value_at_price"] == "0.00", key  # every UCI return says what it credited
        assert row["cases"] == len(fig.cases), key


def assert_unmatched(figure: dict, expected: dict[str, Unmatched], limit: int | None = None) -> None:
    assert figure["lines"] == sum(len(u.lines) for u in expected.values())
    assert figure["units"] == sum(u.units for u in expected.values())
    assert figure["by_currency"] == {"GBP": cents(sum((u.value for u in expected.values()), Decimal(0)))}
    got = {r["key"]: (r["lines"], r["units"], r["value"]) for r in figure["rows"]}
    wanted = {k: (len(u.lines), u.units, cents(u.value)) for k, u in expected.items()}
    if limit is None:
        assert got == wanted
    else:  # the most credited first
        ranked = sorted(wanted, key=lambda k: (-expected[k].value, k))[:limit]
        assert [r["key"] for r in figure["rows"]] == ranked
        assert got == {k: wanted[k] for k in ranked}


def check_uci(client, db, path: Path, headers) -> None:
    imported(db, path)
    check_uci_figures(client, path, reference(path), headers)


def check_uci_figures(client, path: Path, expected: dict[str, dict], headers) -> None:
    """The reports of the imported `path` (merchant `uci`) against the figures computed from the CSV."""
    assert sum(f.units_returned for f in expected["sku"].values()) > 0  # the file has matched returns to check
    assert expected["unmatched_sku"]  # and returns that match no purchase

    assert_matches(report(client, headers, "return_rate", by="country")["rows"], expected["country"])
    by_sku = report(client, headers, "return_rate", by="sku")
    assert_matches(by_sku["rows"], expected["sku"])
    assert not set(by_sku["rows"][i]["key"] for i in range(len(by_sku["rows"]))) & NON_PRODUCT  # no postage sold
    assert_unmatched(by_sku["unmatched"], expected["unmatched_sku"])
    assert "unmatched" in by_sku["definition"]["en"]

    trend = report(client, headers, "trend", granularity="month")
    months = {r["key"]: r for r in trend["rows"]}
    assert list(months) == ["2010-12"] + [f"2011-{m:02d}" for m in range(1, 13)]
    assert_matches([r for r in trend["rows"] if r["units_sold"] or r["units_returned"]],
                   {k: v for k, v in expected["month"].items()})
    assert_unmatched(trend["unmatched"], expected["unmatched_month"])

    top_answer = report(client, headers, "top_returns", by="sku", limit="10")
    top = top_answer["rows"]
    ranked = sorted((k for k, f in expected["sku"].items() if f.units_returned),
                    key=lambda k: (-expected["sku"][k].value_returned, -expected["sku"][k].units_returned,
                                   -expected["sku"][k].units_sold, k))[:10]
    assert [r["key"] for r in top] == ranked
    assert [r["value_returned"] for r in top] == [cents(expected["sku"][k].value_returned) for k in ranked]
    for r in top:  # its trend adds up to what it returned
        assert sum(p["units_returned"] for p in r["trend"]) == r["units_returned"]
    assert_unmatched(top_answer["unmatched"], expected["unmatched_sku"], limit=10)
    # A CSV export says them too, under the table.
    csv_text = client.get("/api/v1/analytics/reports/top_returns", headers=headers,
                          params={**PERIOD, "merchant": "uci", "limit": "10", "format": "csv", "lang": "en"}).text
    total = cents(sum((u.value for u in expected["unmatched_sku"].values()), Decimal(0)))
    units = sum(u.units for u in expected["unmatched_sku"].values())
    assert f"{units} units, {total} GBP) match no purchase" in csv_text


def test_uci_sample_figures_match_the_csv_to_the_cent(client, db):
    from tests.support.world import platform_token

    token, _ = platform_token(db)
    check_uci(client, db, UCI_SAMPLE, {"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("locale", "words"), [
    ("en", "Also {lines} return lines ({units} units, {value} GBP) match no purchase"),
    ("zh-CN", "另有 {lines} 行退货（{units} 件，{value} GBP）无法匹配到购买记录"),
])
def test_the_dashboard_shows_the_unmatched_returns_in_words(client, db, locale, words):
    from tests.support.asgi import TestClient

    from tests.support.portal import sign_in_staff
    from tests.support.world import make_shop

    shop = make_shop(db, "uci", "GBP")
    with db.transaction() as session:
        sla_settings.save(session, shop.id, {"timezone": "Europe/London"}, by="test")
    import_file(db, file=UCI_SAMPLE, merchant_id=shop.id, fmt="uci", currency="GBP")
    expected = reference(UCI_SAMPLE)["unmatched_month"]
    web = TestClient(client.app, headers={"Accept-Language": locale})
    sign_in_staff(web, "supervisor@uci.test", "pw-supervisor")
    page = web.get("/staff/analytics", params=PERIOD)
    assert page.status_code == 200, page.text
    total = sum((u.value for u in expected.values()), Decimal(0))
    assert words.format(lines=sum(len(u.lines) for u in expected.values()),
                        units=sum(u.units for u in expected.values()), value=cents(total)) in page.text
