"""A report as CSV (UTF-8 with BOM, so spreadsheet programs read Chinese right) or XLSX (XlsxWriter)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from ..i18n import pick
from ..sheets import cell, row as safe_row
from .filters import Filters
from .report import Report, words
from .unmatched import words as unmatched_words


def _cell(value, locale: str):
    if isinstance(value, dict):
        return pick(value, locale)
    if isinstance(value, list):
        return "; ".join(v.get("flag", "") if isinstance(v, dict) and "flag" in v else
                         f"{v.get('case') or v.get('order') or '–'} ({v.get('score')}): {v.get('comment')}"
                         if isinstance(v, dict)
                         and "comment" in v else
                         f"{v.get('period')}:{v.get('units_returned')}" if isinstance(v, dict) else str(v)
                         for v in value)
    return "" if value is None else value


def table(report: Report, locale: str) -> tuple[list[str], list[list]]:
    """The header (labels in `locale`) and the rows as cells; drill-down links and evidence are left out."""
    header = [c.label(locale) for c in report.columns]
    rows = [[_cell(r.get(c.key), locale) for c in report.columns] for r in report.rows]
    if report.status != "ok" and report.note:
        rows.append([words(report.note, locale)])
    if "unmatched" in report.extra:  # returns that match no purchase: said under the table, never left out
        said = unmatched_words(report.extra["unmatched"], locale)
        if said:
            rows.append([said])
    return header, rows


def to_csv(report: Report, locale: str = "en") -> bytes:
    header, rows = table(report, locale)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(r) for r in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: Report, filters: Filters, locale: str = "en") -> bytes:
    """One sheet: title, filters, header, rows; money and percentages as numbers with two decimals, text cells
    through sheets.cell."""
    import xlsxwriter  # ~40 ms to import: loaded by the export that uses it

    header, rows = table(report, locale)
    out = io.BytesIO()
    # Text stays text: no string is turned into a formula, a number or a link behind the reader's back.
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                                     "strings_to_urls": False})
    sheet = book.add_worksheet(report.name[:31])
    bold = book.add_format({"bold": True})
    two = book.add_format({"num_format": "0.00"})
    sheet.write(0, 0, cell(words(report.title, locale, report.title_params)), bold)
    sheet.write(1, 0, cell(", ".join(f"{k}={v}" for k, v in filters.echo().items() if v is not None)))
    for col, name in enumerate(header):
        sheet.write(3, col, cell(name), bold)
    kinds = [c.kind for c in report.columns]
    for r, row in enumerate(rows, start=4):
        for col, value in enumerate(row):
            kind = kinds[col] if col < len(kinds) else "text"
            if kind in ("money", "percent", "decimal") and value not in ("", None):
                # A spreadsheet cell holds a binary double; two decimals print back exactly what the report says.
                sheet.write_number(r, col, float(Decimal(str(value))), two)
            elif kind in ("int", "seconds") and value not in ("", None):
                sheet.write_number(r, col, int(value))
            else:
                sheet.write(r, col, cell(value))
    sheet.set_column(0, max(len(header) - 1, 0), 16)
    book.close()
    return out.getvalue()
