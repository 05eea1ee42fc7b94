"""Server-side SVG charts, written by hand: no script, no external reference, the same in pages, PDFs and tests."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape, quoteattr

from .report import Report

# report -> (label column, value column, value unit shown after the number)
CHART_VALUES = {
    "return_rate": ("key", "unit_rate", "%"), "trend": ("key", "unit_rate", "%"),
    "top_returns": ("key", "value_returned", ""), "hotspots": ("key", "nad_units", ""),
    "suppliers": ("key", "unit_rate", "%"), "reasons": ("reason", "units", ""),
    "processing_times": ("step", "p50", "s"), "processing_agents": ("who", "p50", "s"),
    "processing_warehouse": ("who", "p50", "s"), "backlog": ("state", "total", ""),
    "sla": ("label", "breached", ""),
}
# Reports that give their chart's points themselves (report.extra["chart"]: [{label, value}]), with the unit.
OWN_POINTS = {"money": "", "satisfaction": ""}
BAR_ROWS = 20
FONT = "font-family='sans-serif' font-size='12'"
SVG_OPEN = "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' role='img' " \
           "aria-label={label}>"


def _number(value) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _text(value, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("en") or "")
    return "" if value is None else str(value)


def _empty(title: str, locale: str) -> str:
    words = "暂无数据" if locale == "zh-CN" else "No data for these filters"
    return (SVG_OPEN.format(w=640, h=60, label=quoteattr(title)) + f"<title>{escape(title)}</title>"
            f"<text x='320' y='35' text-anchor='middle' {FONT} fill='#666'>{escape(words)}</text></svg>")


def render(report: Report, locale: str = "en") -> str:
    """The report's chart: a line over time for the trend, horizontal bars for everything else."""
    title = report.title[1] if locale == "zh-CN" else report.title[0]
    if report.name in OWN_POINTS and report.rows:
        points = [(_text(p["label"], locale), _number(p["value"])) for p in report.extra.get("chart") or ()]
        return bars(title, points[:BAR_ROWS], OWN_POINTS[report.name]) if points else _empty(title, locale)
    spec = CHART_VALUES.get(report.name)
    if spec is None or not report.rows:
        return _empty(title, locale)
    label_key, value_key, unit = spec
    points = [(_text(r.get("label") if report.name in ("processing_times", "sla") else r.get(label_key), locale),
               _number(r.get(value_key))) for r in report.rows]
    if report.name == "trend":
        return line(title, points, unit)
    return bars(title, points[:BAR_ROWS], unit)


def bars(title: str, points: list[tuple[str, Decimal]], unit: str = "") -> str:
    """Horizontal bars, longest first as given, each with its label and value."""
    width, label_w, row_h, top = 640, 220, 22, 28
    height = top + row_h * len(points) + 10
    peak = max((v for _, v in points), default=Decimal(0)) or Decimal(1)
    out = [SVG_OPEN.format(w=width, h=height, label=quoteattr(title)), f"<title>{escape(title)}</title>",
           f"<text x='4' y='18' {FONT} font-weight='bold'>{escape(title)}</text>"]
    room = width - label_w - 90
    for i, (name, value) in enumerate(points):
        y = top + i * row_h
        w = max(int(room * value / peak), 0) if value > 0 else 0
        short = name if len(name) <= 30 else name[:29] + "…"
        out.append(f"<text x='{label_w - 6}' y='{y + 15}' text-anchor='end' {FONT}>{escape(short)}</text>")
        out.append(f"<rect x='{label_w}' y='{y + 3}' width='{w}' height='{row_h - 6}' fill='#3b82f6'>"
                   f"<title>{escape(name)}: {value}{escape(unit)}</title></rect>")
        out.append(f"<text x='{label_w + w + 6}' y='{y + 15}' {FONT}>{value}{escape(unit)}</text>")
    out.append("</svg>")
    return "".join(out)


def line(title: str, points: list[tuple[str, Decimal]], unit: str = "") -> str:
    """One series over time with a dot and a tooltip per point; every few x labels so they do not collide."""
    width, height, left, right, top, bottom = 640, 260, 50, 20, 30, 50
    peak = max((v for _, v in points), default=Decimal(0)) or Decimal(1)
    span_x = width - left - right
    span_y = height - top - bottom
    step = span_x / max(len(points) - 1, 1)
    coords = [(left + i * step, top + span_y - float(v / peak) * span_y) for i, (_, v) in enumerate(points)]
    out = [SVG_OPEN.format(w=width, h=height, label=quoteattr(title)), f"<title>{escape(title)}</title>",
           f"<text x='4' y='18' {FONT} font-weight='bold'>{escape(title)}</text>",
           f"<line x1='{left}' y1='{top + span_y}' x2='{width - right}' y2='{top + span_y}' stroke='#999'/>",
           f"<text x='{left - 4}' y='{top + 4}' text-anchor='end' {FONT}>{peak}{escape(unit)}</text>",
           f"<text x='{left - 4}' y='{top + span_y}' text-anchor='end' {FONT}>0</text>"]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(f"<polyline fill='none' stroke='#3b82f6' stroke-width='2' points='{path}'/>")
    every = max(len(points) // 12, 1)
    for i, ((name, value), (x, y)) in enumerate(zip(points, coords, strict=True)):
        out.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#1d4ed8'><title>{escape(name)}: "
                   f"{value}{escape(unit)}</title></circle>")
        if i % every == 0:
            out.append(f"<text x='{x:.1f}' y='{height - bottom + 16}' text-anchor='middle' {FONT}>"
                       f"{escape(name)}</text>")
    out.append("</svg>")
    return "".join(out)
