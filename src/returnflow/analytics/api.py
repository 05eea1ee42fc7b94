"""The analytics API: every report as JSON, CSV, XLSX or an SVG chart, the dashboard, and the cases behind a number."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import store
from ..cases.views import present
from ..db import Database
from ..errors import Explained, Forbidden, NotFound
from ..orders.models import Customer
from ..i18n import N_, SUPPORTED, every, match
from ..web import DB, JSON, CurrentActor, locale_of
from . import REPORTS, charts, export, snapshots
from .beside import Beside
from .base import c, counted_case, o
from .cube import returned_by, warm_sold
from .deadlines import breached_cases
from .finance import money_cases
from .satisfaction import DIMENSIONS as SATISFACTION_DIMENSIONS, cases_of
from .filters import Filters, every_merchant, parse
from .process import case_conditions
from .report import Report
from .snapshots import Wanted
from .sql import prepare
from .words import DEFINITIONS

router = APIRouter(tags=["analytics"])
pages = APIRouter(tags=["analytics"])

READERS = ("agent", "warehouse", "finance", "supervisor", "admin", "platform")
# Personal data and abuse signals, and the money given back: for those who act on them, not for every agent or
# warehouse clerk (the dashboard leaves such tiles out for them; a drill-down into money is refused the same way).
MANAGERS = ("finance", "supervisor", "admin", "platform")
PERSONAL = {"customers": MANAGERS, "money": MANAGERS}
DASHBOARD = (("trend", {}), ("top_returns", {"by": "sku", "limit": 10}), ("reasons", {"limit": 10}),
             ("hotspots", {"by": "sku", "limit": 10}), ("processing_times", {}), ("backlog", {}), ("money", {}),
             ("sla", {}), ("satisfaction", {}))
# Tiles that are mostly the database's work (a grouping statement answered by a few rows) and need none of the
# returned lines: the dashboard runs them on a second connection beside the others (analytics/beside.py).
# Per database: SQLite ranks the step times in Python, so they stay on the request's thread there.
BESIDE = {"postgresql": ("processing_times", "backlog", "money", "sla"), "sqlite": ("backlog", "money", "sla")}
FORMATS = ("json", "csv", "xlsx")
DRILL_SOURCES = ("returns", "money", "sla", "satisfaction")
DRILL_EXTRA = ("state", "customer", "offset", "source", "cause", "step", "dimension", "key")


def _check(actor: Actor, name: str | None = None) -> None:
    allowed = PERSONAL.get(name or "", READERS)
    if actor.kind != "staff" or actor.role not in allowed:
        raise Forbidden("forbidden_role", role=actor.role, what=f"read analytics ({name or 'reports'})",
                        allowed=list(allowed))


def _definition(name: str):
    if name not in REPORTS:
        raise NotFound("report", name, field="report", allowed=sorted(REPORTS))
    return REPORTS[name]


def _params(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in out:
            raise Explained(key, N_("was given twice; give each filter once"))
        out[key] = value
    return out


API_CASES = "/api/v1/analytics/cases"


def drill_url(filters: Filters, drill: dict[str, str] | None, base: str = API_CASES) -> str | None:
    """The link to the cases behind a row: the drill-down list with the row's filters added to the report's."""
    if drill is None:
        return None
    return base + "?" + urlencode(filters.query(**drill))


def with_links(report: Report, filters: Filters, base: str = API_CASES) -> dict[str, Any]:
    body = report.as_dict(filters)
    if report.name in DEFINITIONS:  # what the figures count, as the dashboard states it under the title
        body["definition"] = every(DEFINITIONS[report.name])
    for row in body["rows"]:
        if "drill" in row:
            row["cases_url"] = drill_url(filters, row.pop("drill"), base)
    return body


def run_report(session: Session, actor: Actor, name: str, params: dict[str, str]) -> tuple[Report, Filters]:
    _check(actor, name)
    definition = _definition(name)
    prepare(session)
    filters = parse(session, actor, params)
    return definition.run(session, filters), filters


@router.get("/analytics/reports")
def list_reports(actor: CurrentActor) -> dict:
    """The reports there are, with their titles, whether `by` applies and whether they have a chart."""
    _check(actor)
    return {"reports": [{"name": d.name, "title": every(d.title), "by": "by" in d.uses,
                         "chart": d.chart is not None} for d in REPORTS.values()]}


def chosen_language(lang: str | None) -> str | None:
    """A `lang` parameter: a language of the desk or one of its family (zh-TW -> zh-Hant); any other is refused,
    naming the parameter (a header's wish falls back; a parameter is an instruction)."""
    if not lang:
        return None
    found = match(lang)
    if found is None:
        raise Explained("lang", N_("'{lang}' is not a language of this desk; allowed: {choices}"),
                        allowed=list(SUPPORTED),
                        lang=lang, choices=", ".join(SUPPORTED))
    return found


@router.get("/analytics/reports/{name}", responses={200: {"description": "The report", "content": {
    "application/json": {}, "text/csv": {},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
def get_report(name: str, actor: CurrentActor, db: DB, request: Request):
    """One report for the filters (from, to, merchant, by, granularity, limit, category, sku, supplier, country,
    channel, reason) as JSON, or as a file with format=csv|xlsx."""
    params = _params(request)
    fmt = params.get("format") or "json"
    if fmt not in FORMATS:
        raise Explained("format", N_("'{format}' is not a format; allowed: {choices}"), allowed=list(FORMATS),
                        format=fmt,
                        choices=", ".join(FORMATS))
    locale = chosen_language(params.get("lang")) or locale_of(request)
    with db.read() as session:
        report, filters = run_report(session, actor, name, params)
    if fmt == "json":
        return JSON(with_links(report, filters))
    stem = f"{name}_{filters.first_day}_{filters.last_day}"
    if fmt == "csv":
        return Response(export.to_csv(report, locale), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return Response(export.to_xlsx(report, filters, locale),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})


@router.get("/analytics/charts/{name}.svg", responses={200: {"description": "SVG", "content": {"image/svg+xml": {}}}})
def get_chart(name: str, actor: CurrentActor, db: DB, request: Request):
    """The report's chart as SVG (no scripts, no external references)."""
    params = _params(request)
    with db.read() as session:
        report, _ = run_report(session, actor, name, params)
    return Response(charts.render(report, chosen_language(params.get("lang")) or locale_of(request)),
                    media_type="image/svg+xml",
                    headers={"X-Content-Type-Options": "nosniff"})


def wanted_tiles(actor: Actor, params: dict[str, str]) -> Wanted:
    """The dashboard's tiles the actor's role reads, in order, each with the filters it sets (DASHBOARD) that the
    request did not set itself."""
    return [(name, {k: v for k, v in override.items() if k not in params})
            for name, override in DASHBOARD if actor.role in PERSONAL.get(name, READERS)]


def compute_tiles(session: Session, base: Filters, wanted: Wanted) -> list[Report]:
    """The tiles' reports, in order.

    The period's sales and the tiles in BESIDE run on a second read connection (analytics/beside.py) while this one
    reads the returned lines and makes the other tiles from them."""
    prepare(session)
    filters = [(name, base.with_(**applied)) for name, applied in wanted]
    with Beside(session) as beside:
        sold = beside.submit(warm_sold, base, "sku")  # one read of the period's sales, by SKU and period bucket
        there = BESIDE.get(beside.dialect, ())
        later = {name: beside.submit(REPORTS[name].run, f) for name, f in filters if name in there}
        returned_by(session, base, "sku")  # one read of the period's returns serves every tile
        sold.result()
        done = {name: REPORTS[name].run(session, f) for name, f in filters if name not in later}
        done.update((name, future.result()) for name, future in later.items())
    return [done[name] for name, _ in filters]


def _scope(session: Session, actor: Actor, params: dict[str, str]) -> tuple[Filters, Wanted]:
    """The checked filters and the tiles the actor's role reads."""
    _check(actor)
    return parse(session, actor, params), wanted_tiles(actor, params)


def _paired(reports: list[Report], base: Filters, wanted: Wanted) -> list[tuple[Report, Filters]]:
    """Each tile's report beside the filters it was made with (for its links)."""
    return list(zip(reports, (base.with_(**applied) for _, applied in wanted)))


def dashboard(session: Session, actor: Actor, params: dict[str, str]) -> tuple[Filters, list[tuple[Report, Filters]]]:
    """The dashboard's reports for the filters, computed now: trend, top returns, reasons, hot spots, step times,
    backlog, money, SLA, satisfaction (those the actor's role reads)."""
    base, wanted = _scope(session, actor, params)
    return base, _paired(compute_tiles(session, base, wanted), base, wanted)


def dashboard_view(db: Database, session: Session, actor: Actor, params: dict[str, str]
                   ) -> tuple[Filters, list[tuple[Report, Filters]], snapshots.Kept | None]:
    """The dashboard as the API and the console serve it: a merchant's computed now; the platform's (every merchant)
    from its snapshot when one at most snapshots.KEPT seconds old is there, unless `fresh` asks for it computed now
    (analytics/snapshots.py). The third value says when the platform's tiles were computed (None: a merchant's)."""
    params = dict(params)
    fresh = (params.pop("fresh", "") or "0").strip().lower() not in ("0", "false", "no")
    base, wanted = _scope(session, actor, params)
    if base.merchant_ids is not None or not snapshots.can_keep(db):
        return base, _paired(compute_tiles(session, base, wanted), base, wanted), None
    reports, kept = snapshots.served(db, session, base, wanted, compute_tiles, fresh=fresh)
    return base, _paired(reports, base, wanted), kept


def refresh_platform_snapshots(db: Database, now: datetime | None = None) -> int:
    """The worker's background job: keeps the platform views someone looks at fresh (analytics/snapshots.py)."""
    if not snapshots.can_keep(db):
        return 0
    return snapshots.refresh_due(db, compute_tiles, now, merchants=every_merchant)


@router.get("/analytics/dashboard")
def get_dashboard(actor: CurrentActor, db: DB, request: Request):
    """Every dashboard tile as JSON, each with its drill-down links. The platform's view across every merchant is
    served from a snapshot at most five minutes old (`as_of` says when it was computed; `fresh=1` computes it now)."""
    with db.read() as session:
        base, tiles, kept = dashboard_view(db, session, actor, _params(request))
    body = {"filters": base.echo(), "tiles": [with_links(r, f) for r, f in tiles]}
    if kept is not None:
        body["snapshot"] = kept.as_dict()
    return JSON(body)


def drill(session: Session, actor: Actor, params: dict[str, str]) -> tuple[list, int, int, Filters]:
    """The cases behind a number: (cases, total, offset, filters) for the report filters plus state, customer, or
    a source (money, sla, satisfaction) with its row's keys."""
    _check(actor)
    try:
        offset = int(params.get("offset") or 0)
    except ValueError:
        offset = -1
    if offset < 0:
        raise Explained("offset", N_("must be a whole number, 0 or more"))
    source = params.get("source") or "returns"
    if source not in DRILL_SOURCES:
        raise Explained("source", N_("'{source}' is not a drill-down source; allowed: {choices}"),
                        allowed=list(DRILL_SOURCES), source=source, choices=", ".join(DRILL_SOURCES))
    _check(actor, source)
    prepare(session)
    filters = parse(session, actor, {k: v for k, v in params.items() if k not in DRILL_EXTRA}, extra=DRILL_EXTRA)
    state = params.get("state")
    stmt = select(c.c.id).where(*case_conditions(filters.with_(slices={}), period=False))
    if source == "money":
        stmt = stmt.where(*money_cases(filters, params.get("cause") or None))
    elif source == "sla":
        stmt = stmt.where(*breached_cases(filters, _required(params, "step")))
    elif source == "satisfaction":
        dimension = _required(params, "dimension")
        if dimension not in SATISFACTION_DIMENSIONS:
            raise Explained("dimension", N_("'{dimension}' is not allowed; allowed: {choices}"),
                            allowed=list(SATISFACTION_DIMENSIONS), dimension=dimension,
                            choices=", ".join(SATISFACTION_DIMENSIONS))
        stmt = stmt.where(c.c.id.in_(cases_of(session, filters, dimension, _required(params, "key"))))
    else:
        stmt = select(c.c.id).where(*case_conditions(filters, period=False))
        if state:
            stmt = stmt.where(c.c.state == state)
        else:  # the rates' cohort: return cases on the orders placed in the period
            stmt = stmt.where(*counted_case(), c.c.order_id.in_(
                select(o.c.id).where(o.c.ordered_at >= filters.start, o.c.ordered_at < filters.end)))
    if params.get("customer"):
        stmt = stmt.where(c.c.customer_id.in_(select(Customer.id).where(Customer.external_id == params["customer"])))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    ids = list(session.scalars(stmt.order_by(c.c.created_at.desc(), c.c.id.desc())
                               .limit(min(filters.limit, 500)).offset(offset)))
    return store.load_many(session, ids), total, offset, filters


@router.get("/analytics/cases")
def drill_cases(actor: CurrentActor, db: DB, request: Request):
    """The cases behind a number: the report's filters plus state or customer, in the shape of GET /cases.

    Without `state` it lists the return cases the rates count (return, refund-only and exchange cases, not
    cancelled or rejected, on orders placed in the period); with `state` (as the backlog links do) every case in
    that state, opened any time;
    with `source=money|sla|satisfaction` (as those reports' links do) the cases behind that report's row.
    """
    params = _params(request)
    with db.read() as session:
        cases, total, offset, filters = drill(session, actor, params)
        items = present(session, cases, actor)
    return JSON({"items": items, "total": total, "limit": min(filters.limit, 500), "offset": offset,
                 "filters": filters.echo()})


def _required(params: dict[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise Explained(name, N_("is needed for this drill-down"))
    return value


@pages.get("/analytics", include_in_schema=False)
def dashboard_page(request: Request):
    """The dashboard lives in the staff console now (/staff/analytics); old links and bookmarks go there."""
    query = request.url.query
    return RedirectResponse("/staff/analytics" + ("?" + query if query else ""), status_code=303)

