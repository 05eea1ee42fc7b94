"""The case event log is hash-chained: `returnflow audit verify` passes an untouched log and names every tampered
event — changed, deleted or inserted — even when someone bypasses the database's immutability trigger."""

from __future__ import annotations

import os

from sqlalchemy import text

from returnflow.refunds.gateways import GatewaySettings  # noqa: F401  (the app and its hooks are importable)
from tests.support.flows import open_for, run
from tests.support.processes import run_returnflow
from tests.support.world import make_order, make_shop


def _verify(db, *args):
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}
    return run_returnflow(["audit", "verify", *args], env=env, timeout=120)


def _bypass(db, statement: str) -> None:
    """Changes case_events behind the trigger's back, the way an attacker with database access would."""
    with db.transaction() as tx:
        conn = tx.connection()
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE case_events DISABLE TRIGGER case_events_no_update"))
            conn.execute(text(statement))
            conn.execute(text("ALTER TABLE case_events ENABLE TRIGGER case_events_no_update"))
        else:
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'case_events_no_update'")).scalar()
            conn.execute(text("DROP TRIGGER case_events_no_update"))
            conn.execute(text(statement))
            conn.execute(text(sql))


def _cases(db):
    shop = make_shop(db)
    make_order(db, shop)
    a = open_for(db, shop.actors["agent"], "O-1", "return_refund")
    for action in ("approve", "ship_return"):
        run(db, a, action, shop.actors["agent"])
    b = open_for(db, shop.actors["agent"], "O-1", "refund_only", line_no=2)
    run(db, b, "note", shop.actors["agent"], {"text": "called"})
    return a, b


def test_an_untouched_log_verifies(db):
    a, b = _cases(db)
    result = _verify(db)
    assert result.returncode == 0 and "chain intact: 2 case(s), 5 events" in result.stdout, result.stdout
    assert _verify(db, "--case", a).returncode == 0


def test_a_changed_event_is_named(db):
    a, b = _cases(db)
    _bypass(db, f"UPDATE case_events SET actor_name = 'someone else' WHERE seq = 2 AND case_id = "
                f"(SELECT id FROM cases WHERE number = '{a}')")
    result = _verify(db)
    assert result.returncode == 1
    assert f"TAMPERED case {a} event 2: event differs from what was chained" in result.stdout, result.stdout
    assert b not in result.stdout


def test_a_deleted_event_is_named(db):
    a, b = _cases(db)
    with db.transaction() as tx:
        tx.connection().execute(text(f"DELETE FROM case_events WHERE seq = 2 AND case_id = "
                                     f"(SELECT id FROM cases WHERE number = '{b}')"))
    result = _verify(db, "--case", b)
    assert result.returncode == 1 and f"case {b} event 2: a chained event is missing" in result.stdout, result.stdout


def test_an_inserted_event_is_named(db):
    a, b = _cases(db)
    with db.transaction() as tx:
        tx.connection().execute(text(
            "INSERT INTO case_events (case_id, seq, action, from_state, to_state, actor_kind, actor_role, actor_id, "
            "actor_name, payload, created_at) SELECT case_id, 99, 'note', to_state, to_state, actor_kind, actor_role, "
            f"actor_id, actor_name, payload, created_at FROM case_events WHERE seq = 1 AND case_id = "
            f"(SELECT id FROM cases WHERE number = '{a}')"))
    result = _verify(db)
    assert result.returncode == 1 and f"case {a} event 99: event has no link" in result.stdout, result.stdout
