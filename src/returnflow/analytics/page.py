"""Renders the dashboard template (templates/analytics/dashboard.html) with its charts inline."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..auth.actor import Actor
from . import charts
from .api import with_links
from .filters import GRANULARITIES, Filters
from .report import Report


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=PackageLoader("returnflow", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["duration"] = duration
    return env


def duration(seconds) -> str:
    """Seconds as the largest two units: '2d 3h', '45m', '12s'."""
    if seconds is None:
        return "–"
    s = int(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    parts = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")]
    shown = [f"{v}{u}" for v, u in parts if v][:2]
    return sign + (" ".join(shown) or "0s")


def render_dashboard(base: Filters, tiles: list[tuple[Report, Filters]], locale: str, actor: Actor) -> str:
    zh = locale == "zh-CN"
    views = []
    for report, f in tiles:
        body = with_links(report, f)
        query = urlencode(f.query(by=f.by, limit=str(f.limit)))
        views.append({"name": report.name, "title": report.title[1] if zh else report.title[0],
                      "status": report.status, "note": (report.note[1] if zh else report.note[0]) if report.note else "",
                      "columns": [(col.key, col.zh if zh else col.en, col.kind) for col in report.columns
                                  if col.kind != "list"],
                      "rows": body["rows"][:20], "totals": body.get("totals"),
                      "svg": Markup(charts.render(report, locale)),
                      "csv": f"/api/v1/analytics/reports/{report.name}?{query}&format=csv",
                      "xlsx": f"/api/v1/analytics/reports/{report.name}?{query}&format=xlsx"})
    return _env().get_template("analytics/dashboard.html").render(
        zh=zh, locale=locale, filters=base.echo(), tiles=views, granularities=GRANULARITIES,
        platform=actor.merchant_id is None)
