"""Return rates by SKU, category, supplier, country, channel or period; top offenders with their trend;
"not as described" and quality hot spots; supplier scorecards."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..i18n import N_
from ..money import fmt
from .base import bucket_range, label, p, period_keys
from .cube import returned_by, sold_by
from .filters import Filters
from .report import Column, Report, percent, defines
from .unmatched import unmatched

RATE_COLUMNS = [
    Column("key", "Group", "分组"), Column("title", "Title", "名称"), Column("currency", "Currency", "币种"),
    Column("units_sold", "Units sold", "售出件数", "int"), Column("units_returned", "Units returned", "退回件数", "int"),
    Column("unit_rate", "Return rate (units) %", "退货率（件数）%", "percent"),
    Column("value_sold", "Value sold", "销售额", "money"), Column("value_returned", "Value returned", "退货金额", "money"),
    Column("value_rate", "Return rate (value) %", "退货率（金额）%", "percent"),
    Column("value_at_price", "Of which at purchase price", "其中按售价计", "money"),
    Column("cases", "Cases", "售后单数", "int"),
]
# A report's title per grouping and granularity (each a msgid of its own, so every language words it whole).
RATE_TITLES = {"sku": N_("Return rate by SKU"), "category": N_("Return rate by category"),
               "supplier": N_("Return rate by supplier"), "country": N_("Return rate by country/region"),
               "channel": N_("Return rate by sales channel"), "period": N_("Return rate by period")}
REASON_TITLES = {"sku": N_("Reasons per SKU"), "category": N_("Reasons per category"),
                 "supplier": N_("Reasons per supplier"), "country": N_("Reasons per country/region"),
                 "channel": N_("Reasons per sales channel")}
TREND_TITLES = {"day": N_("Returns per day"), "week": N_("Returns per week"), "month": N_("Returns per month")}
# The first column of a report by a dimension (written out so the catalogs find each header).
DIM_COLUMNS = {"sku": Column("key", "SKU", "商品编码"), "category": Column("key", "Category", "品类"),
               "supplier": Column("key", "Supplier", "供应商"), "country": Column("key", "Country/region", "国家/地区"),
               "channel": Column("key", "Sales channel", "销售渠道"), "period": Column("key", "Period", "期间")}


def rate_rows(session: Session, f: Filters, by: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every group's sold and returned figures (not yet cut to the limit) and the totals per currency.

    Kept for the session: the dashboard asks several reports for the same grouping and pays for it once.
    """
    cache = session.info.setdefault("analytics_rates", {})
    memo = (repr(f.with_(limit=0, by="")), by)
    if memo not in cache:
        cache[memo] = _rate_rows(session, f, by)
    rows, totals = cache[memo]
    return [dict(r) for r in rows], totals


def _rate_rows(session: Session, f: Filters, by: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    groups: dict[tuple, dict[str, Any]] = {}

    def row(key, currency):
        k = (label(key), currency)
        if k not in groups:
            groups[k] = {"key": k[0], "currency": currency, "units_sold": 0, "value_sold_minor": 0,
                         "units_returned": 0, "value_returned_minor": 0, "at_price_minor": 0, "cases": 0}
        return groups[k]

    for (key, currency), (units, value) in sold_by(session, f, by).items():
        r = row(key, currency)
        r["units_sold"] += units
        r["value_sold_minor"] += value
    for group, (cases, units, value, at_price) in returned_by(session, f, by).items():
        key, currency = (group[1] if by == "period" else group[0]), group[-1]
        r = row(key, currency)
        r["cases"] += int(cases or 0)
        r["units_returned"] += int(units or 0)
        r["value_returned_minor"] += int(value or 0)
        r["at_price_minor"] += int(at_price or 0)
    totals: dict[str, Any] = {"units_sold": 0, "units_returned": 0, "by_currency": {}}
    for r in groups.values():
        totals["units_sold"] += r["units_sold"]
        totals["units_returned"] += r["units_returned"]
        money = totals["by_currency"].setdefault(r["currency"], [0, 0, 0])
        money[0] += r["value_sold_minor"]
        money[1] += r["value_returned_minor"]
        money[2] += r["at_price_minor"]
    totals["unit_rate"] = percent(totals["units_returned"], totals["units_sold"])
    totals["by_currency"] = {cur: {"value_sold": fmt(s, cur), "value_returned": fmt(rv, cur),
                                   "value_rate": percent(rv, s), "value_at_price": fmt(ap, cur)}
                             for cur, (s, rv, ap) in totals["by_currency"].items()}
    return list(groups.values()), totals


def _present(r: dict[str, Any], by: str, f: Filters) -> dict[str, Any]:
    cur = r["currency"]
    out = {"key": r["key"], "title": r.get("title", ""), "currency": cur, "units_sold": r["units_sold"],
           "units_returned": r["units_returned"], "unit_rate": percent(r["units_returned"], r["units_sold"]),
           "value_sold": fmt(r["value_sold_minor"], cur), "value_returned": fmt(r["value_returned_minor"], cur),
           "value_rate": percent(r["value_returned_minor"], r["value_sold_minor"]),
           "value_at_price": fmt(r["at_price_minor"], cur), "cases": r["cases"]}
    out["drill"] = drill(by, r["key"], f)
    return out


def drill(by: str, key: str, f: Filters) -> dict[str, str] | None:
    """The filters that select the cases behind a row (None when the row's key cannot be filtered on)."""
    if by == "period":
        first, last = bucket_range(key, f.granularity)  # clipped: a week or month may start before the period
        return {"from": max(first, f.first_day.isoformat()), "to": min(last, f.last_day.isoformat())}
    if key == label(None):
        return None
    return {by: key}


def _titles(session: Session, f: Filters, skus: list[str]) -> dict[str, str]:
    if not skus:
        return {}
    stmt = select(p.c.sku, func.max(p.c.title)).where(p.c.sku.in_(skus)).group_by(p.c.sku)
    if f.merchant_ids is not None:
        stmt = stmt.where(p.c.merchant_id.in_(f.merchant_ids))
    return dict(session.execute(stmt).all())


def _order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (-r["value_returned_minor"], -r["units_returned"], -r["units_sold"], r["key"]))


@defines("return_rate", N_("Return rate"), by=True, chart="bar")
def return_rate(session: Session, f: Filters) -> Report:
    """Units and value returned / sold per group, most returned value first (periods in time order)."""
    rows, totals = rate_rows(session, f, f.by)
    if f.by == "period":
        have = {(r["key"], r["currency"]) for r in rows}
        currencies = sorted({r["currency"] for r in rows})
        for key in period_keys(f):
            for cur in currencies:
                if (key, cur) not in have:
                    rows.append({"key": key, "currency": cur, "units_sold": 0, "value_sold_minor": 0,
                                 "units_returned": 0, "value_returned_minor": 0, "at_price_minor": 0, "cases": 0})
        rows.sort(key=lambda r: (r["key"], r["currency"]))
    else:
        rows = _order(rows)
    total_groups = len(rows)
    rows = rows[:f.limit]
    if f.by == "sku":
        titles = _titles(session, f, [r["key"] for r in rows])
        for r in rows:
            r["title"] = titles.get(r["key"], "")
    columns = [DIM_COLUMNS[f.by]] + RATE_COLUMNS[1 if f.by == "sku" else 2:]
    title = RATE_TITLES[f.by]
    has_data = any(r["units_sold"] or r["units_returned"] for r in rows)
    report = Report("return_rate", title, columns, [_present(r, f.by, f) for r in rows] if has_data else [],
                    totals=totals, extra={"groups": total_groups, "unmatched": unmatched(
                        session, f, f.by if f.by in ("sku", "period") else None)})
    return report.finish()


@defines("trend", N_("Monthly trend of returns"), chart="line")
def trend(session: Session, f: Filters) -> Report:
    """Return rate per day, week or month of the period (empty buckets shown as zero)."""
    report = return_rate(session, f.with_(by="period", limit=10_000))
    report.name = "trend"
    report.title = TREND_TITLES[f.granularity]
    return report


@defines("top_returns", N_("Top returned products by value"), by=True, chart="bar")
def top_returns(session: Session, f: Filters) -> Report:
    """The groups (SKUs by default) with the most value returned, with units returned per bucket as their trend."""
    by = f.by if f.by != "period" else "sku"
    rows, totals = rate_rows(session, f, by)
    rows = [r for r in _order(rows) if r["units_returned"]][:f.limit]
    if by == "sku":
        titles = _titles(session, f, [r["key"] for r in rows])
        for r in rows:
            r["title"] = titles.get(r["key"], "")
    keys = {r["key"] for r in rows}
    series: dict[str, dict[str, int]] = defaultdict(dict)
    for (key, bucket_key, _cur), (_cases, units, _value, _at_price) in returned_by(session, f, by, "bucket").items():
        if key in keys:
            series[key][bucket_key] = series[key].get(bucket_key, 0) + units
    buckets = period_keys(f)
    out = []
    for r in rows:
        item = _present(r, by, f)
        points = [series[r["key"]].get(b, 0) for b in buckets]
        item["trend"] = [{"period": b, "units_returned": n} for b, n in zip(buckets, points, strict=True)]
        half = len(points) // 2
        first, second = sum(points[:half]), sum(points[half:])
        item["direction"] = "rising" if second > first else "falling" if second < first else "flat"
        out.append(item)
    columns = [DIM_COLUMNS[by]] + RATE_COLUMNS[1 if by == "sku" else 2:] + [
        Column("direction", "Trend (2nd half vs 1st)", "趋势（后半段对比前半段）"),
        Column("trend", "Units returned per period", "各期退回件数", "list")]
    return Report("top_returns", N_("Top {limit} returned by value"), columns, out, totals=totals,
                  title_params={"limit": f.limit},
                  extra={"unmatched": _cut(unmatched(session, f, "sku" if by == "sku" else None), f.limit)}).finish()


def _cut(figure, limit: int):
    if figure is not None:
        figure["rows"] = figure["rows"][:limit]
    return figure


def _reason_split(session: Session, f: Filters, by: str) -> dict[tuple, dict[str, int]]:
    """Units returned per (group, currency) for quality, not-as-described and all reasons."""
    out: dict[tuple, dict[str, int]] = defaultdict(lambda: {"quality": 0, "nad": 0, "other": 0})
    for (key, g, cur), (_cases, units, _value, _at_price) in returned_by(session, f, by, "reason_group").items():
        out[(key, cur)][g] += units
    return out


@defines("hotspots", N_('"Not as described" and quality hot spots'), by=True, chart="bar")
def hotspots(session: Session, f: Filters) -> Report:
    """Where 'not as described' (fix the listing) and quality (talk to the supplier) returns concentrate."""
    by = f.by if f.by in ("sku", "category", "supplier") else "sku"
    rows, _ = rate_rows(session, f, by)
    split = _reason_split(session, f, by)
    out = []
    for r in rows:
        s = split.get((r["key"], r["currency"]), {"quality": 0, "nad": 0})
        if not (s["quality"] or s["nad"]):
            continue
        out.append({"key": r["key"], "currency": r["currency"], "units_sold": r["units_sold"],
                    "nad_units": s["nad"], "nad_rate": percent(s["nad"], r["units_sold"]),
                    "quality_units": s["quality"], "quality_rate": percent(s["quality"], r["units_sold"]),
                    "hot_units": s["nad"] + s["quality"], "units_returned": r["units_returned"],
                    "points_at": "listing" if s["nad"] >= s["quality"] else "supplier",
                    "drill": drill(by, r["key"], f)})
    out.sort(key=lambda r: (-r["hot_units"], r["key"]))
    out = out[:f.limit]
    if by == "sku":
        titles = _titles(session, f, [r["key"] for r in out])
        for r in out:
            r["title"] = titles.get(r["key"], "")
    columns = [DIM_COLUMNS[by], Column("title", "Title", "名称"),
               Column("units_sold", "Units sold", "售出件数", "int"),
               Column("nad_units", "Not as described (units)", "描述不符（件）", "int"),
               Column("nad_rate", "Not as described %", "描述不符率 %", "percent"),
               Column("quality_units", "Quality (units)", "质量问题（件）", "int"),
               Column("quality_rate", "Quality %", "质量问题率 %", "percent"),
               Column("hot_units", "Both (units)", "两者合计（件）", "int"),
               Column("units_returned", "All units returned", "全部退回件数", "int"),
               Column("points_at", "Points at", "指向")]
    return Report("hotspots", N_('"Not as described" and quality hot spots'), columns,
                  out).finish()


@defines("suppliers", N_("Supplier scorecard"), chart="bar")
def suppliers(session: Session, f: Filters) -> Report:
    """Per supplier: units sold and returned, return rate, defect (quality) rate; return-to-vendor once recorded."""
    rows, totals = rate_rows(session, f, "supplier")
    split = _reason_split(session, f, "supplier")
    out = []
    for r in _order(rows)[:f.limit]:
        s = split.get((r["key"], r["currency"]), {"quality": 0, "nad": 0})
        item = _present(r, "supplier", f)
        item.update(defect_units=s["quality"], defect_rate=percent(s["quality"], r["units_sold"]),
                    nad_units=s["nad"], rtv_units=None)
        out.append(item)
    columns = [DIM_COLUMNS["supplier"]] + RATE_COLUMNS[2:] + [
        Column("defect_units", "Defective units (quality)", "质量问题件数", "int"),
        Column("defect_rate", "Defect rate %", "次品率 %", "percent"),
        Column("nad_units", "Not as described (units)", "描述不符（件）", "int"),
        Column("rtv_units", "Returned to vendor (units)", "退供应商件数", "int")]
    note = N_("Products without a supplier are grouped as (none). Return-to-vendor volumes need the warehouse's "
              "disposition records, which are not recorded yet.")
    return Report("suppliers", N_("Supplier scorecard"), columns, out, note=note,
                  totals=totals).finish()
