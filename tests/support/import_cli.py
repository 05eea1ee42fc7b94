"""The `returnflow` command run in-process against the test database, as an operator types it."""

from __future__ import annotations

import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from returnflow import cli
from returnflow.cases.models import Case, CaseEvent, OutboxMessage
from returnflow.config import get_settings
from returnflow.merchants.models import Merchant
from returnflow.orders.models import Customer, Order, OrderLine, Product


@pytest.fixture
def run_cli(db, tmp_path, monkeypatch):
    """run_cli(*args, lang=None) -> (exit code, output); LANG is English unless `lang` says otherwise."""
    monkeypatch.setenv("RETURNFLOW_DATABASE_URL", db.url)
    monkeypatch.setenv("RETURNFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli, "console", Console(width=400, highlight=False))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, lang: str | None = None) -> tuple[int, str]:
        for name in ("LC_ALL", "LC_MESSAGES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LANG", lang or "en_GB.UTF-8")
        result = runner.invoke(cli.app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.output

    yield run
    get_settings.cache_clear()


def written(db) -> dict[str, int]:
    """How many rows an import could have written, by kind."""
    with db.read() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return {"merchants": count(Merchant), "orders": count(Order), "lines": count(OrderLine),
                "customers": count(Customer), "products": count(Product), "cases": count(Case),
                "events": count(CaseEvent), "outbox": count(OutboxMessage)}
