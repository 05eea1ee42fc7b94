"""What the person at the terminal sees: progress while importing and the summary at the end."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from .outcome import ImportResult


class ImportProgress:
    """Rich progress bars on a terminal, nothing otherwise: the file's bytes, then the return cases as they open."""

    def __init__(self, console: Console, file: Path) -> None:
        self.console = console
        self.total = file.stat().st_size if file.is_file() else 0
        self.bar: Progress | None = None
        self.file_task: TaskID | None = None
        self.case_task: TaskID | None = None

    def __enter__(self) -> ImportProgress:
        if self.console.is_terminal:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.start()
            self.file_task = self.bar.add_task("importing", total=self.total)
        return self

    def file_read(self, position: int) -> None:
        """How far into the file (in bytes) the reader is."""
        if self.bar is not None:
            self.bar.update(self.file_task, completed=position)

    def cases_opened(self, done: int, total: int | None) -> None:
        """How many return cases are open of how many; no total yet while the 'C' lines are being matched."""
        if self.bar is None:
            return
        if self.case_task is None:
            self.bar.update(self.file_task, visible=False)  # the file is read: its bar has done its job
            self.case_task = self.bar.add_task("", total=None)
        description = (f"opening return cases {done:,}/{total:,}" if total is not None
                       else "matching return lines to purchases")
        self.bar.update(self.case_task, description=description, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def print_summary(console: Console, result: ImportResult, errors_file: Path | None) -> None:
    """The end-of-import table, the first refused rows, and what the exit code means."""
    table = Table(title=f"import ({result.format})", show_header=False)
    rate = result.rows / result.seconds if result.seconds else 0
    for label_, value in (("rows read", f"{result.rows:,}"), ("orders inserted", f"{result.orders_inserted:,}"),
                          ("orders updated", f"{result.orders_updated:,}"), ("order lines", f"{result.lines:,}"),
                          ("bad rows", f"{result.bad_rows:,}"), ("skipped rows (same order as a bad row)",
                                                                  f"{result.skipped_rows:,}"),
                          ("seconds (orders)", f"{result.seconds:.1f}"), ("rows/s", f"{rate:,.0f}")):
        table.add_row(label_, value)
    r = result.returns
    if r.lines:
        table.add_row("return lines ('C')", f"{r.lines:,} on {r.invoices:,} invoices")
        table.add_row("  matched fully / partly", f"{r.matched:,} / {r.partly_matched:,} "
                                                  f"({r.quantity_matched:,} units)")
        for why, count in sorted(r.unmatched.items()):
            table.add_row(f"  not matched: {why}", f"{count:,}")
        table.add_row("  with an earlier purchase (same customer, StockCode)", f"{r.with_earlier_purchase:,}")
        if r.invoices_already_opened:
            table.add_row("  invoices already opened before", f"{r.invoices_already_opened:,}")
        table.add_row("cases opened", f"{r.cases_opened:,}")
        table.add_row("  kept as unmatched returns (shown apart in reports)", f"{r.unmatched_kept:,}")
        table.add_row("seconds (cases)", f"{r.seconds:.1f}")
    console.print(table)
    for refused in result.refused[:10]:
        console.print(f"  line {refused.line}: {refused.reason}")
    if result.refused_rows:
        where = f"; all of them are in {errors_file}" if errors_file else "; add --errors-file to list them all"
        console.print(f"[yellow]{result.refused_rows:,} rows were refused[/yellow] ({result.bad_rows:,} bad, "
                      f"{result.skipped_rows:,} skipped with them){where}. Exit code 1.")
    else:
        console.print("[green]every row imported[/green]")
