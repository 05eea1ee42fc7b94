"""Rows of a CSV (UTF-8, GBK or GB18030, detected or named; optionally .gz) or XLSX file, for mapped imports.

CSV encodings are detected from the first 64 KiB: a UTF-8 BOM or text that decodes as UTF-8 is UTF-8, anything
else is what charset-normalizer finds (GBK and GB2312 are read as GB18030, their superset). XLSX files are read
by openpyxl in read-only mode, row by row, so a large sheet is never held whole; a cell's date stays a datetime.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .messages import Problem

# What --encoding / a mapping's `encoding` may say, and the codec each is read with.
ENCODINGS = {"auto": None, "utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030",
             "gb18030": "gb18030"}
SAMPLE = 64 * 1024
_GB = {"gbk", "gb2312", "gb18030", "hz", "cp936"}


def is_xlsx(file: Path) -> bool:
    return file.name.lower().endswith((".xlsx", ".xlsm"))


def check_encoding(name: str) -> str:
    key = (name or "auto").strip().lower().replace("_", "-")
    if key not in ENCODINGS:
        raise Problem("unknown_encoding", value=name)
    return key


def _binary(file: Path):
    try:
        raw = open(file, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise Problem("unreadable", problem=exc.strerror) from None
    if file.name.lower().endswith(".gz"):
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def detect(file: Path) -> str:
    """The codec of a CSV file: utf-8-sig or gb18030 (or what charset-normalizer names for other text)."""
    raw, binary = _binary(file)
    try:
        sample = binary.read(SAMPLE)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise Problem("unreadable", problem=str(exc)) from None
    finally:
        raw.close()
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return "gb18030"  # not text in any encoding it knows; the reader then says where decoding fails
    name = best.encoding.lower().replace("_", "")
    return "gb18030" if name in _GB or name.startswith("gb") else best.encoding


def encoding_name(codec: str) -> str:
    return {"utf-8-sig": "UTF-8", "gb18030": "GB18030/GBK"}.get(codec, codec)


def csv_rows(file: Path, codec: str) -> Iterator[tuple[int, list[Any]]]:
    """(line number, fields) for every record, the header first; Problem if the text does not decode."""
    raw, binary = _binary(file)
    counter = _Counting(binary)
    try:
        handle = io.TextIOWrapper(counter, encoding=codec, newline="")
        reader = csv.reader(handle)
        previous = 0
        for row in reader:
            yield previous + 1, row
            previous = reader.line_num
    except UnicodeDecodeError as exc:
        raise Problem("undecodable", encoding=encoding_name(codec), position=f"{counter.before + exc.start:,}") \
            from None
    except (EOFError, gzip.BadGzipFile, csv.Error, OSError) as exc:
        raise Problem("unreadable", problem=str(exc)) from None
    finally:
        raw.close()


class _Counting(io.RawIOBase):
    """Counts the bytes handed to the text decoder, so a decoding error can say where it is in the file."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.before = 0  # bytes before the chunk being decoded
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.inner.read(len(buffer))
        self.before = self.total
        self.total += len(data)
        buffer[:len(data)] = data
        return len(data)


def xlsx_rows(file: Path, sheet: str | None = None) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values) of the sheet (the first, or the one named), read-only; numbers as text."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
        raise Problem("unreadable", problem=str(exc) or type(exc).__name__) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise Problem("unreadable", problem=f"no sheet {sheet!r} ({', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in values]
    finally:
        book.close()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
