"""Returned figures for several reports from one read of the period's returned lines.

The dashboard asks for returns by SKU, by period, by reason and by reason group over the same filters. Reading the
lines once (case id, group, bucket, reason, currency, units, value) and aggregating them here costs one scan
instead of five, and counts distinct cases exactly for any grouping. When the scope holds more than LINE_CAP
cases (a platform-wide decade, say), the lines are not kept: each grouping streams them through the same sums.
The lines come from the returned-lines summary (returned.py): one range of its key, each line valued ahead with
base.line_value (the amount credited when known), so every report's figures agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, func, null, select
from sqlalchemy.orm import Session

from . import sold as sold_lines
from .base import NOT_AS_DESCRIBED, QUALITY, c, keyed, label, needs_product, p
from .filters import Filters
from .returned import LINES as L
from .sql import plain_rows

LINE_CAP = 150_000
EXTRAS = ("bucket", "reason", "reason_group")


def _scope(f: Filters) -> str:
    return repr(f.with_(limit=0, by=""))


def _group_of(reason: str | None) -> str:
    return "quality" if reason in QUALITY else "nad" if reason in NOT_AS_DESCRIBED else "other"


def _lines(session: Session, f: Filters, by: str | None) -> list[tuple] | None:
    """(case id, key, bucket, reason, currency, units, value, value at price) per returned line, or None above
    LINE_CAP."""
    cache = session.info.setdefault("analytics_lines", {})
    scope = _scope(f)
    if (scope, by) in cache:
        return cache[(scope, by)]
    if by is None:  # any grouping's lines will do
        for (other_scope, _by), rows in cache.items():
            if other_scope == scope and rows is not None:
                return rows
    # Cases on the period's orders were opened after the period began: count those (an upper bound, cheaply).
    count = select(func.count()).select_from(c).where(c.c.created_at >= f.start)
    count = count.where(*f.merchant_in(c.c.merchant_id))
    rows = None
    if (session.scalar(count) or 0) <= LINE_CAP:
        rows = sorted(_read_all(session, f, by), key=_case_id)  # by case: each grouping counts a case's lines once
    cache[(scope, by)] = rows
    return rows


# The summary's columns by what a report groups or slices by (base.keyed joins the product's category and supplier).
SUMMARY = {"sku": L.c.sku, "category": L.c.category, "country": L.c.country, "channel": L.c.channel,
           "ordered_at": L.c.ordered_at, "reason": L.c.reason}


def _key(by: str, f: Filters):
    return keyed(by, f, SUMMARY)


def _read(session: Session, f: Filters, by: str | None) -> Iterable[tuple]:
    """The returned lines of the scope, valued, one at a time: one range of the returned-lines summary."""
    for r in session.execute(_statement(f, by)).yield_per(5000):
        yield (r[0], label(r[1]) if by else None, r[2], r[3], r[4], r[5], r[6], r[7])


def _read_all(session: Session, f: Filters, by: str | None) -> list[tuple]:
    """`_read`'s lines at once, as the driver hands them over (every column a number or text: no conversion by
    type, and no SQLAlchemy Row per line; a platform's period is 120,000 lines)."""
    rows = plain_rows(session, _statement(f, by))
    if not by:
        return [(r[0], None, r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]
    return [(r[0], label(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


def _statement(f: Filters, by: str | None):
    key = _key(by, f) if by else null()
    frm = L
    if needs_product(f, by):
        frm = L.outerjoin(p, and_(p.c.merchant_id == L.c.merchant_id, p.c.sku == L.c.sku))
    stmt = select(L.c.case_id, key.label("k"), _key("period", f).label("b"), L.c.reason, L.c.currency, L.c.units,
                  L.c.value, L.c.at_price).select_from(frm).where(
        *f.merchant_in(L.c.merchant_id), L.c.ordered_at >= f.start, L.c.ordered_at < f.end)
    s = f.slices
    for name in ("sku", "category", "supplier", "country", "channel", "reason"):
        if name in s:
            stmt = stmt.where(_key(name, f) == s[name])
    return stmt


def returned_by(session: Session, f: Filters, by: str | None, extra: str | None = None
                ) -> dict[tuple, list[int]]:
    """{(key, [extra], currency): [cases, units, value, value at price]} of the returns in scope; key is None when
    `by` is None. Value is what was credited; "at price" the part valued at purchase price (base.line_value).

    `extra` adds a second grouping: the period bucket, the reason, or the reason group (quality / nad / other).
    The answer is shared by the reports of one request (kept in the session): read it, do not change it.
    """
    if by == "period":
        by, extra = None, "bucket"
    done = session.info.setdefault("analytics_returned", {})
    memo = (_scope(f), by, extra)
    if memo in done:
        return done[memo]
    lines = _lines(session, f, by)
    if lines is not None:
        done[memo] = _aggregate_sorted(lines, by is not None, extra)
    else:
        done[memo] = _aggregate(_read(session, f, by), by is not None, extra)
    return done[memo]


def _case_id(line: tuple) -> int:
    return line[0]


def _group_key(keyed: bool, extra: str | None):
    """The function giving a line's group: (key, currency) or (key, extra, currency)."""
    pick = {"bucket": 2, "reason": 3, "reason_group": 3}.get(extra or "")
    if pick is None:
        return (lambda line: (line[1], line[4])) if keyed else (lambda line: (None, line[4]))
    if extra == "reason_group":
        return ((lambda line: (line[1], _group_of(line[3]), line[4])) if keyed
                else (lambda line: (None, _group_of(line[3]), line[4])))
    return ((lambda line: (line[1], line[pick], line[4])) if keyed
            else (lambda line: (None, line[pick], line[4])))


def _aggregate(lines: Iterable[tuple], keyed: bool, extra: str | None) -> dict[tuple, list[int]]:
    """One pass over the lines: sums per group, and distinct cases per group from the (group, case) pairs."""
    sums: dict[tuple, list[int]] = {}
    pairs: set[tuple] = set()
    group_of = _group_key(keyed, extra)
    for line in lines:
        group = group_of(line)
        s = sums.get(group)
        if s is None:
            s = sums[group] = [0, 0, 0, 0]
        s[1] += line[5]
        s[2] += line[6]
        s[3] += line[7]
        pairs.add((group, line[0]))
    for group, _case in pairs:
        sums[group][0] += 1
    return sums


def _aggregate_sorted(lines: list[tuple], keyed: bool, extra: str | None) -> dict[tuple, list[int]]:
    """`_aggregate` over lines ordered by case id: a case's lines come together, so a group counts a case when
    its last counted case differs (no set of pairs). The same sums."""
    sums: dict[tuple, list] = {}
    group_of = _group_key(keyed, extra)
    for line in lines:
        group = group_of(line)
        s = sums.get(group)
        if s is None:
            s = sums[group] = [0, 0, 0, 0, None]
        if s[4] != line[0]:
            s[4] = line[0]
            s[0] += 1
        s[1] += line[5]
        s[2] += line[6]
        s[3] += line[7]
    for s in sums.values():
        del s[4]
    return sums


def warm_sold(session: Session, f: Filters, by: str) -> None:
    """Reads sold figures by `by` and period bucket at once, so both groupings come from one scan."""
    rows = [tuple(r) for r in session.execute(sold_lines.statement(
        f, [sold_lines.key(by, f).label("k"), sold_lines.key("period", f).label("b")], product=needs_product(f, by)))]
    session.info.setdefault("analytics_sold", {})[(_scope(f), by)] = rows


def sold_by(session: Session, f: Filters, by: str) -> dict[tuple, list[int]]:
    """{(key, currency): [units, value]} sold; from a warmed (group, bucket) read when there is one."""
    cache = session.info.get("analytics_sold", {})
    scope = _scope(f)
    rows = cache.get((scope, by))
    if rows is None and by == "period":
        rows = next((r for (s, _by), r in cache.items() if s == scope), None)
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    if rows is not None:
        for key, bucket_key, currency, units, value in rows:
            s = out[(bucket_key if by == "period" else label(key), currency)]
            s[0] += int(units or 0)
            s[1] += int(value or 0)
        return dict(out)
    found = session.execute(sold_lines.statement(f, [sold_lines.key(by, f).label("k")],
                                                 product=needs_product(f, by))).all()
    for key, currency, units, value in found:
        s = out[(label(key), currency)]
        s[0] += int(units or 0)
        s[1] += int(value or 0)
    return dict(out)
