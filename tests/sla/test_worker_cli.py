"""`returnflow worker --once/--lag` and `returnflow outbox list/replay` against a real database."""

from __future__ import annotations

import json
import os
import subprocess

from sqlalchemy import select, update

from returnflow.cases.models import OutboxMessage
from tests.support.processes import run_returnflow
from tests.support.world import make_order, make_shop


def cli(db, tmp_path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "RETURNFLOW_DATA_DIR": str(tmp_path / "data"),
           "RETURNFLOW_SMTP_HOST": ""}
    return run_returnflow(list(args), env=env, cwd=tmp_path, timeout=120)


def test_the_worker_reports_its_lag_and_dead_letters_can_be_listed_and_replayed(client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]})
    assert r.status_code == 201
    lag = json.loads(cli(db, tmp_path, "worker", "--lag").stdout)
    assert lag["outbox"]["due"] == 2 and lag["timers"]["due"] == 0
    once = json.loads(cli(db, tmp_path, "worker", "--once").stdout)
    assert once["messages"] == {"sent": 1, "retry": 1}  # in-app stored; email not configured
    with db.transaction() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.status == "pending").values(status="dead"))
    listed = cli(db, tmp_path, "outbox", "list", "--status", "dead")
    assert "email is not configured" in listed.stdout
    assert "replayed 1" in cli(db, tmp_path, "outbox", "replay", "--dead").stdout
    with db.read() as s:
        assert sorted(s.scalars(select(OutboxMessage.status))) == ["pending", "sent"]
    refused = cli(db, tmp_path, "outbox", "replay")
    assert refused.returncode == 2
