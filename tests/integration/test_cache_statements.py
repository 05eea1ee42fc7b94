"""Statements per request on the hot paths (GET a case, open a case), counted as bench/lifecycle.py counts them:
with warm caches, what every request used to re-read (the token's staff member, the merchant's settings and zone,
its active policy, its reasons) is not read again."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.support.world import make_order, make_shop

BODY = {"order": "O-1", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
        "lines": [{"line_no": 1, "quantity": 1}]}
# What the remembered reads select first (the token's staff member, the merchant row with its active policy, its
# SLA settings, its reasons); a statement that only mentions one in a subquery reads something else.
CACHED_TABLES = ("users", "api_tokens", "merchants", "sla_settings", "policy_versions", "reasons")


@contextmanager
def counted(db):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def tables_read(statements: list[str]) -> set[str]:
    return {t for s in statements for t in CACHED_TABLES if re.match(rf"\s*SELECT {t}\.", s)}


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_order(db, shop)
    make_order(db, shop, "O-2")
    return shop


def test_warm_requests_do_not_re_read_what_is_cached(client, shop, db, capsys):
    first = client.post("/api/v1/cases", headers=shop.headers(), json=BODY)
    assert first.status_code == 201, first.text
    client.get(f"/api/v1/cases/{first.json()['number']}", headers=shop.headers())
    with counted(db) as opening:
        opened = client.post("/api/v1/cases", headers=shop.headers(), json={**BODY, "order": "O-2"})
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    with counted(db) as reading:
        got = client.get(f"/api/v1/cases/{number}", headers=shop.headers())
    assert got.status_code == 200 and got.json()["number"] == number
    with capsys.disabled():
        print(f"\n[{db.dialect}] statements: open {len(opening)}, GET case {len(reading)}")
    assert tables_read(reading) == set(), reading
    assert tables_read(opening) == set(), opening
