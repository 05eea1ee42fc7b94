"""Server-side SVG charts, written by hand: no script, no external reference, the same in pages, PDFs and tests.

Each chart is laid out for a width (the console renders one for phones and one for wider screens): margins come
from the longest label, x-axis labels are shortened and thinned until they no longer touch, and every value is
written as the table shows it (a percentage, an amount, days and hours) — in its `<title>` and its `data-value`.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape, quoteattr

from ..i18n import N_, gettext
from .report import Report, words
from .words import code_word, duration

# report -> (label column, value column, value kind)
CHART_VALUES = {
    "return_rate": ("key", "unit_rate", "percent"), "trend": ("key", "unit_rate", "percent"),
    "top_returns": ("key", "value_returned", "money"), "hotspots": ("key", "hot_units", "int"),
    "suppliers": ("key", "unit_rate", "percent"), "reasons": ("reason", "units", "int"),
    "processing_times": ("step", "p50", "seconds"), "processing_agents": ("who", "p50", "seconds"),
    "processing_warehouse": ("who", "p50", "seconds"), "backlog": ("state", "total", "int"),
    "sla": ("step", "breached", "int"), "satisfaction": ("key", "avg_score", "decimal"),
}
BAR_ROWS = 20
FONT_SIZE = 12
FONT = f"font-family='sans-serif' font-size='{FONT_SIZE}'"
SVG_OPEN = "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' role='img' " \
           "aria-label={label}>"
WIDTH = 640


def text_width(text: str, size: int = FONT_SIZE) -> float:
    """A generous estimate of the text's width in sans-serif: wide (CJK) characters a full em, others 0.62 em."""
    return sum(size * (1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.62) for ch in text)


def fit(text: str, room: float) -> str:
    """The text, cut with an ellipsis so it fits `room` pixels."""
    if text_width(text) <= room:
        return text
    while text and text_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def _number(value) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def shown(value, kind: str, locale: str) -> str:
    """A value as the dashboard's table shows it (the chart says the same)."""
    if kind == "seconds":
        return duration(value, locale)
    if value is None:
        return "–"
    return f"{value}%" if kind == "percent" else str(value)


def _empty(title: str, locale: str, width: int) -> str:
    words = gettext(locale, N_("No data for these filters"))
    return (SVG_OPEN.format(w=width, h=60, label=quoteattr(title)) + f"<title>{escape(title)}</title>"
            f"<text x='{width // 2}' y='35' text-anchor='middle' {FONT} fill='#666'>{escape(words)}</text></svg>")


def _label(report: Report, row: dict, key: str, locale: str, reasons: dict) -> str:
    words = code_word(report.name, key, row, locale, reasons)
    if report.name == "satisfaction":
        dimension = code_word("satisfaction", "dimension", row, locale, reasons) or ""
        return f"{dimension}: {words}"
    if words is not None:
        return words
    value = row.get(key)
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("en") or "")
    return "" if value is None else str(value)


def points_of(report: Report, locale: str = "en", reasons: dict | None = None) -> list[tuple[str, Decimal, str]]:
    """(label, value, value as shown) of each point the chart draws."""
    reasons = reasons or {}
    if report.name == "money":  # the refunded amount of each row of the table: period, cause (in words), currency
        return [(f"{r['period']} · {code_word('money', 'cause', r, locale, reasons)} ({r['currency']})",
                 _number(r.get("refunded")), str(r.get("refunded"))) for r in report.rows]
    spec = CHART_VALUES.get(report.name)
    if spec is None:
        return []
    key, value_key, kind = spec
    rows = report.rows
    if report.name == "satisfaction":
        rows = [r for r in rows if r.get("dimension") in ("overall", "outcome") and r.get("avg_score") is not None]
    return [(_label(report, r, key, locale, reasons), _number(r.get(value_key)), shown(r.get(value_key), kind, locale))
            for r in rows]


def render(report: Report, locale: str = "en", reasons: dict | None = None, width: int = WIDTH) -> str:
    """The report's chart: a line over time for the trend, horizontal bars for everything else."""
    title = words(report.title, locale, report.title_params)
    points = points_of(report, locale, reasons) if report.rows else []
    if not points:
        return _empty(title, locale, width)
    if report.name == "trend":
        return line(title, points, width)
    return bars(title, points[:BAR_ROWS], width)


def _point_title(name: str, text: str) -> str:
    return f"<title>{escape(name)}: {escape(text)}</title>"


def bars(title: str, points: list[tuple[str, Decimal, str]], width: int = WIDTH) -> str:
    """Horizontal bars in the order given, each with its label (left, cut to fit) and its value (right)."""
    row_h, top, pad = 22, 28, 6
    value_w = max((text_width(t) for _, _, t in points), default=0) + pad
    label_w = min(max((text_width(n) for n, _, _ in points), default=0) + pad, width * 0.42)
    room = max(width - label_w - value_w - 2 * pad, 10)
    height = top + row_h * len(points) + 10
    peak = max((v for _, v, _ in points), default=Decimal(0)) or Decimal(1)
    out = [SVG_OPEN.format(w=width, h=height, label=quoteattr(title)), f"<title>{escape(title)}</title>",
           f"<text x='4' y='18' {FONT} font-weight='bold'>{escape(fit(title, width - 8))}</text>"]
    x0 = pad + label_w
    for i, (name, value, text) in enumerate(points):
        y = top + i * row_h
        w = max(int(Decimal(room) * value / peak), 0) if value > 0 else 0
        out.append(f"<text class='tick' x='{x0 - pad:.1f}' y='{y + 15}' text-anchor='end' {FONT}>"
                   f"{escape(fit(name, label_w - pad))}</text>")
        out.append(f"<rect x='{x0:.1f}' y='{y + 3}' width='{w}' height='{row_h - 6}' fill='#3b82f6'>"
                   f"{_point_title(name, text)}</rect>")
        out.append(f"<text class='value' data-label={quoteattr(name)} data-value={quoteattr(text)} "
                   f"x='{x0 + w + pad:.1f}' y='{y + 15}' {FONT}>{escape(text)}</text>")
    out.append("</svg>")
    return "".join(out)


def _short(names: list[str]) -> list[str]:
    """Dates shortened when the year is the same for all: '2026-09-28' → '09-28'."""
    years = {n[:4] for n in names}
    if len(years) == 1 and all(len(n) == 10 and n[4] == "-" for n in names):
        return [n[5:] for n in names]
    return names


def line(title: str, points: list[tuple[str, Decimal, str]], width: int = WIDTH) -> str:
    """One series over time with a dot and its value per point; x labels thinned so none touches the next."""
    height, top, gap = 240, 30, 10
    peak = max((v for _, v, _ in points), default=Decimal(0)) or Decimal(1)
    peak_text = f"{peak}%" if points[0][2].endswith("%") else str(peak)
    ticks = _short([n for n, _, _ in points])
    tick_w = max(text_width(t) for t in ticks)
    left = max(text_width(peak_text) + 8, tick_w / 2 + 2)
    right = tick_w / 2 + 4
    bottom = 30
    span_x, span_y = width - left - right, height - top - bottom
    step = span_x / max(len(points) - 1, 1)
    every = 1
    while every < len(points) and every * step < tick_w + gap:
        every += 1
    coords = [(left + i * step if len(points) > 1 else left + span_x / 2,
               top + span_y - float(v / peak) * span_y) for i, (_, v, _) in enumerate(points)]
    base_y = top + span_y
    out = [SVG_OPEN.format(w=width, h=height, label=quoteattr(title)), f"<title>{escape(title)}</title>",
           f"<text x='4' y='18' {FONT} font-weight='bold'>{escape(fit(title, width - 8))}</text>",
           f"<line x1='{left:.1f}' y1='{base_y}' x2='{width - right:.1f}' y2='{base_y}' stroke='#999'/>",
           f"<line x1='{left:.1f}' y1='{top}' x2='{width - right:.1f}' y2='{top}' stroke='#eee'/>",
           f"<text class='axis' x='{left - 4:.1f}' y='{top + 4}' text-anchor='end' {FONT}>{escape(peak_text)}</text>",
           f"<text class='axis' x='{left - 4:.1f}' y='{base_y}' text-anchor='end' {FONT}>0</text>"]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(f"<polyline fill='none' stroke='#3b82f6' stroke-width='2' points='{path}'/>")
    for i, ((name, _value, text), (x, y)) in enumerate(zip(points, coords, strict=True)):
        out.append(f"<circle class='value' data-label={quoteattr(name)} data-value={quoteattr(text)} cx='{x:.1f}' "
                   f"cy='{y:.1f}' r='3' fill='#1d4ed8'>{_point_title(name, text)}</circle>")
        if i % every == 0:
            out.append(f"<text class='tick' x='{x:.1f}' y='{base_y + 18}' text-anchor='middle' {FONT}>"
                       f"{escape(ticks[i])}</text>")
    out.append("</svg>")
    return "".join(out)
