"""The dashboard in the staff console: /staff/analytics (filters, charts, tables), the cases behind a number
(/staff/analytics/cases, each linking to the console's case page) and CSV/XLSX exports, signed in with the console's
cookie session and shown to managers: supervisors, administrators and the platform's staff."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from ..actor import Actor
from ..errors import AppError, Explained, Forbidden
from ..i18n import N_, gettext, said
from ..money import fmt
from ..pages.frame import locale_of, render
from ..pages.staff_pages import staff_actor
from . import charts, export
from .api import FORMATS, _params, dashboard_view, drill, run_report, with_links
from .filters import GRANULARITIES, Filters
from .report import Report, words
from .unmatched import words as unmatched_words
from .words import HIDDEN, code_word, definition, duration, reason_names

# The console's dashboard pages (app.py includes this router beside analytics.api.pages).
pages = APIRouter(tags=["analytics"])

# Who sees the dashboard in the console (the API keeps its own, wider, list of readers).
MANAGERS = ("supervisor", "admin", "platform")
CASES_PAGE = "/staff/analytics/cases"
NUMERIC = ("int", "money", "percent", "seconds", "decimal")
WIDE, NARROW = 720, 340  # chart widths: a desktop tile, a phone (390 px less the page's padding)


def _manager(request: Request) -> Actor:
    actor = staff_actor(request)
    if actor.role not in MANAGERS:
        raise Forbidden("forbidden_role", role=actor.role, what="open the analytics dashboard", allowed=list(MANAGERS))
    return actor


def _cell(value, kind: str, locale: str) -> str:
    if kind == "seconds":
        return duration(value, locale)
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("en") or "")
    return "–" if value is None else str(value)


def _heading(col, locale: str) -> str:
    """A column's label on the page: durations are shown in days and hours there, so the unit goes."""
    text = col.label(locale)
    return text.replace("（秒）", "").replace(" (seconds)", "") if col.kind == "seconds" else text


def tile_view(report: Report, f: Filters, locale: str, reasons: dict | None = None) -> dict:
    reasons = reasons or {}
    body = with_links(report, f, CASES_PAGE)
    query = urlencode(f.query(by=f.by, limit=str(f.limit)))
    columns = [col for col in report.columns if col.kind != "list" and (report.name, col.key) not in HIDDEN]

    def shown(row, col):
        said = code_word(report.name, col.key, row, locale, reasons)
        return said if said is not None else _cell(row.get(col.key), col.kind, locale)

    # The table lists what the chart draws: every point of the trend, the first 20 bars of the others.
    rows = [{"cells": [(shown(row, col), col.kind in NUMERIC) for col in columns],
             "cases_url": row.get("cases_url")} for row in body["rows"][:None if report.name == "trend" else 20]]
    return {"name": report.name, "title": words(report.title, locale, report.title_params),
            "status": report.status,
            "definition": definition(report.name, locale),
            "unmatched": unmatched_words(report.extra["unmatched"], locale) if "unmatched" in report.extra else "",
            "note": words(report.note, locale),
            "columns": [_heading(col, locale) for col in columns], "rows": rows,
            # One chart laid out for a phone, one for wider screens; the stylesheet shows the one that fits.
            "svg": Markup(charts.render(report, locale, reasons, width=WIDE)),
            "svg_narrow": Markup(charts.render(report, locale, reasons, width=NARROW)),
            "csv": f"/staff/analytics/export/{report.name}?{query}&format=csv",
            "xlsx": f"/staff/analytics/export/{report.name}?{query}&format=xlsx"}


# The filters the dashboard's form has (the template names each in words next to an error about it).
FORM_FIELDS = ("from", "to", "merchant", "category", "granularity")
# The granularity select's words (the form's list and its errors name the choices alike).
GRANULARITY_WORDS = {"auto": N_("Automatic"), "day": N_("Day"), "week": N_("Week"), "month": N_("Month")}
UNKNOWN_FILTER = N_("This link has a filter the dashboard does not know ({name}). Choose the filters in the form "
                    "above, or open the dashboard without filters.")


def granularity_words(locale: str) -> dict[str, str]:
    return {code: gettext(locale, msgid) for code, msgid in GRANULARITY_WORDS.items()}


def page_error(exc: AppError, locale: str) -> dict:
    """A refused filter as the page shows it: the problem in words, above the form's field it names (the template
    adds "Field: <the field's label>"), never the API's parameter codes or lists of them."""
    error = exc.render(locale)
    if not isinstance(exc, Explained):
        return error
    if exc.field in FORM_FIELDS:
        values = dict(exc.values)
        if exc.field == "granularity":
            words = granularity_words(locale)
            values["granularity"] = words.get(values.get("granularity"), values.get("granularity"))
            if exc.allowed:
                values["choices"] = gettext(locale, N_(", ")).join(words.get(c, c) for c in exc.allowed)
        error["message"] = said(locale, exc.msgid, values)
    elif exc.key == "invalid_filter" and "known" in exc.values:  # a parameter the page has no field for
        error = {"code": exc.key, "message": gettext(locale, UNKNOWN_FILTER).format(name=exc.field),
                 "field": None, "reset": True}
    return error


@pages.get("/staff/analytics", include_in_schema=False)
def dashboard_page(request: Request):
    """The dashboard: filters by period, merchant (platform staff), category and granularity; every tile with its
    chart, its table with a link to the cases behind each row, and its exports."""
    actor = _manager(request)
    locale = locale_of(request)
    params = _params(request)
    context = {"staff": actor, "area": "staff", "platform": actor.merchant_id is None,
               "granularities": GRANULARITIES, "granularity_words": granularity_words(locale), "tiles": [],
               "error": None, "kept": None,
               "filters": {k: params.get(k, "") for k in FORM_FIELDS}}
    try:
        with request.app.state.db.read() as session:
            base, tiles, kept = dashboard_view(request.app.state.db, session, actor, params)
            reasons = reason_names(session, base.merchant_ids)
    except AppError as exc:
        # Bad filters come back on the same page, explained next to the form, so they can be corrected there.
        return render(request, "analytics/dashboard.html", {**context, "error": page_error(exc, locale)},
                      status=exc.status)
    if kept is not None and "fresh" in params:
        # "Update now" computed the figures and kept them: back to the page's own address, which now serves them,
        # so a reload, a bookmark or a shared link does not compute them again.
        return RedirectResponse(_address(params), status_code=303)
    context["filters"] = {**context["filters"], **base.echo()}
    context["tiles"] = [tile_view(report, f, locale, reasons) for report, f in tiles]
    if kept is not None:  # the platform's view: when its figures were computed, and a way to have them now
        context["kept"] = {"as_of": kept.as_of, "minutes": kept.kept // 60,
                           "update_url": _address(params, fresh="1")}
    return render(request, "analytics/dashboard.html", context)


def _address(params: dict[str, str], **more: str) -> str:
    """The dashboard page's address for these filters (without a `fresh` asked before), plus `more`."""
    query = urlencode({**{k: v for k, v in params.items() if k != "fresh"}, **more})
    return "/staff/analytics" + (f"?{query}" if query else "")


@pages.get("/staff/analytics/cases", include_in_schema=False)
def cases_page(request: Request):
    """The cases behind a number of the dashboard, each linking to its case page."""
    actor = _manager(request)
    params = _params(request)
    with request.app.state.db.read() as session:
        cases, total, offset, filters = drill(session, actor, params)
    limit = min(filters.limit, 500)
    more = urlencode({**params, "offset": str(offset + limit)}) if offset + limit < total else None
    back = urlencode({k: v for k, v in filters.query().items()
                      if k in ("from", "to", "merchant", "category")})
    return render(request, "analytics/cases.html", {"staff": actor, "area": "staff", "cases": cases, "total": total,
                                                    "filters": filters.echo(), "more": more, "back": back,
                                                    "money": fmt})


@pages.get("/staff/analytics/export/{name}", include_in_schema=False)
def export_file(name: str, request: Request):
    """One report as CSV or XLSX, labels in the console's language."""
    actor = _manager(request)
    params = _params(request)
    fmt = params.pop("format", "csv")
    if fmt not in FORMATS[1:]:
        raise Explained("format", N_("'{format}' is not a file format; allowed: csv, xlsx"), allowed=["csv", "xlsx"],
                        format=fmt)
    locale = locale_of(request)
    with request.app.state.db.read() as session:
        report, filters = run_report(session, actor, name, params)
    stem = f"{name}_{filters.first_day}_{filters.last_day}"
    if fmt == "csv":
        return Response(export.to_csv(report, locale), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return Response(export.to_xlsx(report, filters, locale),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})

