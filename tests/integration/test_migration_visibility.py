"""Migration 0016_visibility marks the rows written before it as the rules mark new ones, on SQLite and PostgreSQL:
the case is worked at head, the migration is undone (the column goes) and done again, and every event, file and
message gets back the visibility it was written with; the events stay immutable."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from returnflow.config import Settings
from returnflow.db import Database
from returnflow.schema import alembic_config, migrate
from tests.support.asgi import TestClient
from tests.conftest import PG_UP, create_pg_database, drop_pg_database
from tests.support.portal import csrf_of, png, recent_order, sign_in_customer
from tests.support.world import make_shop

REVISION = "0016_visibility"


def _alembic(db: Database, verb: str, revision: str) -> None:
    config = alembic_config(db.url)
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)
        connection.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432")])])
def fresh(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if request.param == "sqlite" else create_pg_database("rf_visibility")
    db = Database(url)
    migrate(db)
    yield db
    db.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def _visibility(db: Database) -> dict[str, list]:
    with db.engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT id, visibility FROM {table} ORDER BY id")).all()
                for table in ("case_events", "attachments", "case_messages")}


def test_rows_written_before_get_the_visibility_the_rules_give_them(fresh, tmp_path):
    from returnflow.app import create_app

    shop = make_shop(fresh)
    recent_order(fresh, shop.id, "O-1")
    app = create_app(Settings(data_dir=tmp_path / "data", database_url="unused"), db=fresh)
    app.state.code_channels = frozenset({"email"})  # the code is read from the outbox: email counts as reachable
    with TestClient(app) as api:
        agent = shop.headers("agent")
        number = api.post("/api/v1/cases", headers=agent, json={
            "order": "O-1", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "lines": [{"line_no": 1, "quantity": 1}]}).json()["number"]

        def act(action: str, **payload) -> None:
            version = api.get(f"/api/v1/cases/{number}", headers=agent).json()["version"]
            r = api.post(f"/api/v1/cases/{number}/actions/{action}", headers=agent,
                         json={"version": version, "payload": payload})
            assert r.status_code == 200, r.text

        act("note", text="for colleagues")
        act("escalate", reason="a supervisor should look")
        act("assign", assignee_id=shop.user_ids["agent"])
        staff_file = api.post(f"/api/v1/cases/{number}/attachments", headers=agent,
                              files={"file": ("shelf.png", png(30, 30), "image/png")})
        assert staff_file.status_code == 201
        act("request_info", message="a photo of the label, please")
        web = TestClient(app)
        sign_in_customer(web, fresh, shop.code, "O-1", "buyer@example.com")
        sent = web.post(f"/p/{shop.code}/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "here"},
                        files=[("files", ("label.png", png(20, 20), "image/png"))], follow_redirects=False)
        assert sent.status_code == 303
    before = _visibility(fresh)
    assert {v for _, v in before["case_events"]} == {"customer", "internal"}
    assert [v for _, v in before["attachments"]] == ["internal", "customer"]

    # down to just before the visibility migration (later migrations come down first), then up to it again
    before_visibility = ScriptDirectory.from_config(alembic_config(fresh.url)).get_revision(REVISION).down_revision
    _alembic(fresh, "downgrade", before_visibility)
    with fresh.engine.connect() as conn:
        columns = conn.execute(text("SELECT * FROM case_events")).keys()
    assert "visibility" not in columns
    _alembic(fresh, "upgrade", REVISION)
    assert _visibility(fresh) == before
    with pytest.raises(DBAPIError, match="immutable"), fresh.engine.begin() as conn:
        conn.execute(text("UPDATE case_events SET visibility = 'customer'"))
