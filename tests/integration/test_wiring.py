"""One visible wiring place (returnflow/bootstrap.py): every entry point, started in a fresh interpreter, sees the
whole set of producers, outbox handlers, timer kinds, charge outcomes and reports; importing modules alone fills
nothing; every outbox topic anything writes has a worker handler (or is a declared feed)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from returnflow import bootstrap
from returnflow.cases import side_effects
from tests.support.world import make_order, make_shop

SRC = Path(bootstrap.__file__).parent

# Runs one entry point the way a process starts it, then (at exit, so also after a command that exits) writes what
# the registries hold to $WIRING_OUT.
DRIVER = r'''
import atexit, json, os, sys

def dump():
    from returnflow.analytics.report import REPORTS
    from returnflow.cases.ports import PORTS
    from returnflow.cases.side_effects import AFTER_EVENT, DERIVED, SIDE_EFFECTS
    from returnflow.notify.outbox import HANDLERS, ON_DEAD
    from returnflow.refunds.charges import ON_OUTCOME
    from returnflow.sla.timers import ON_DUE

    def name(f):
        return f"{f.__module__}.{f.__qualname__}"
    with open(os.environ["WIRING_OUT"], "w") as out:
        json.dump({"producers": [name(p) for p in SIDE_EFFECTS], "derived": [name(p) for p in DERIVED],
                   "after_event": [name(h) for h in AFTER_EVENT],
                   "handlers": {k: name(v) for k, v in HANDLERS.items()}, "dead": [name(h) for h in ON_DEAD],
                   "timers": {k: name(v) for k, v in ON_DUE.items()},
                   "outcomes": {k: name(v) for k, v in ON_OUTCOME.items()}, "reports": list(REPORTS),
                   "questions": {k: name(v) for k, v in vars(PORTS).items()}}, out)

atexit.register(dump)
entry, args = sys.argv[1], sys.argv[2:]
if entry == "app":
    from returnflow.app import create_app
    create_app()
elif entry == "worker":
    from returnflow.db import Database
    from returnflow.jobs.worker import Worker
    Worker(Database(os.environ["RETURNFLOW_DATABASE_URL"]))
elif entry == "cli":
    from returnflow.cli import app
    sys.argv = ["returnflow", *args]
    app()  # what the `returnflow` console script runs
else:  # every entry point's module imported, none started
    import returnflow.app, returnflow.cli, returnflow.jobs.worker, returnflow.bootstrap  # noqa: F401
'''


def _name(f) -> str:
    return f"{f.__module__}.{f.__qualname__}"


def declared() -> dict:
    """What returnflow/bootstrap.py declares, in the form the driver reports."""
    return {"producers": [_name(p.run) for p in bootstrap.PRODUCERS if not p.derived],
            "derived": [_name(p.run) for p in bootstrap.PRODUCERS if p.derived],
            "after_event": ["returnflow.derive.after_event"],
            "handlers": {k: _name(v) for k, v in bootstrap.HANDLERS.items()},
            "dead": [_name(h) for h, _topics in bootstrap.ON_DEAD],
            "timers": {k: _name(v) for k, (v, _topics) in bootstrap.TIMER_KINDS.items()},
            "outcomes": {k: _name(v) for k, v in bootstrap.CHARGE_OUTCOMES.items()},
            "reports": [d.name for d in bootstrap.REPORTS],
            "questions": {k: _name(v) for k, v in vars(bootstrap.QUESTIONS).items()}}


def start(tmp_path: Path, entry: str, *args: str) -> dict:
    out = tmp_path / "wiring.json"
    env = {**os.environ, "WIRING_OUT": str(out), "RETURNFLOW_DATA_DIR": str(tmp_path / "data"),
           "RETURNFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'wiring.db'}", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", DRIVER, entry, *args], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=180, input="")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


def test_the_declarations_name_every_area_that_takes_part():
    wiring = declared()
    # In the request's transaction only what the decision needs; the rest is derived from the event log, in the
    # same order as declared (derive.py).
    assert wiring["producers"] == [
        "returnflow.audit.chain.link_event", "returnflow.logistics.advance.on_arrival",
        "returnflow.logistics.hooks.shipment_of_a_recorded_return"]
    assert wiring["derived"] == [
        "returnflow.analytics.rollup.on_event", "returnflow.notify.robots.case_alerts",
        "returnflow.sla.hooks.sla_clocks", "returnflow.notify.hooks.customer_notices",
        "returnflow.notify.hooks.staff_notices", "returnflow.notify.webhooks.webhook_events",
        "returnflow.logistics.hooks.return_instructions_on_approval",
        "returnflow.logistics.subscriptions.subscribe_on_ship_return", "returnflow.marketplace.push.decisions"]
    assert [_name(p.run) for p in bootstrap.PRODUCERS] == [
        "returnflow.analytics.rollup.on_event", "returnflow.audit.chain.link_event",
        "returnflow.notify.robots.case_alerts", "returnflow.sla.hooks.sla_clocks",
        "returnflow.notify.hooks.customer_notices", "returnflow.notify.hooks.staff_notices",
        "returnflow.notify.webhooks.webhook_events", "returnflow.logistics.advance.on_arrival",
        "returnflow.logistics.hooks.return_instructions_on_approval",
        "returnflow.logistics.hooks.shipment_of_a_recorded_return",
        "returnflow.logistics.subscriptions.subscribe_on_ship_return",
        "returnflow.marketplace.push.decisions"]
    assert set(wiring["handlers"]) == {"notify", "webhook", "alert", "customer_charge", "tracking_subscribe",
                                       "marketplace"}
    assert [_name(j) for j in bootstrap.JOBS] == ["returnflow.marketplace.schedule.due_pulls"]
    assert [_name(j) for j in bootstrap.BACKGROUND_JOBS] == ["returnflow.analytics.api.refresh_platform_snapshots"]
    assert wiring["dead"] == ["returnflow.notify.robots.dead_letter_alerts"]
    assert set(wiring["timers"]) == {"remind", "due", "advance_exchange_return"}
    assert wiring["outcomes"] == {"advance_exchange": "returnflow.logistics.advance.on_outcome"}
    assert wiring["questions"] == {"return_address_routable": "returnflow.logistics.hooks.return_address_routable",
                                   "replacement_paid_for": "returnflow.logistics.advance.replacement_paid_for",
                                   "refund_states": "returnflow.refunds.of_case.refund_states",
                                   "assess": "returnflow.assessment.apply.assess",
                                   "handoff_notices": "returnflow.notify.hooks.handoff_notices",
                                   "return_scanned": "returnflow.logistics.hooks.return_scanned"}
    assert sorted(wiring["reports"]) == sorted([
        "customers", "processing_times", "processing_agents", "processing_warehouse", "backlog", "sla", "money",
        "return_rate", "trend", "top_returns", "hotspots", "suppliers", "reasons", "reasons_by", "satisfaction"])


@pytest.mark.parametrize("entry", [
    ("app",), ("worker",), ("cli", "serve", "--help"), ("cli", "worker", "--help"), ("cli", "migrate"),
    ("cli", "report", "list"), ("cli", "tracking", "carriers"), ("cli", "money", "vouchers", "--help"),
], ids=lambda e: " ".join(e))
def test_each_entry_point_in_a_fresh_interpreter_sees_the_whole_wiring(tmp_path, entry):
    assert start(tmp_path, *entry) == declared()


def test_importing_modules_wires_nothing(tmp_path):
    seen = start(tmp_path, "import")
    assert seen == {"producers": [], "derived": [], "after_event": [], "handlers": {}, "dead": [], "timers": {}, "outcomes": {}, "reports": [],
                    "questions": {"return_address_routable": "returnflow.cases.ports._unwired",
                                  "replacement_paid_for": "returnflow.cases.ports._unwired",
                                  "refund_states": "returnflow.cases.ports._unwired",
                                  "assess": "returnflow.cases.ports._unwired",
                                  "handoff_notices": "returnflow.cases.ports._unwired",
                                  "return_scanned": "returnflow.cases.ports._unwired"}}


def test_bootstrap_twice_installs_the_same_once():
    before = declared()
    bootstrap.bootstrap()
    bootstrap.bootstrap()
    assert [_name(p) for p in side_effects.SIDE_EFFECTS] == before["producers"]
    assert [_name(p) for p in side_effects.DERIVED] == before["derived"]


def test_every_topic_a_producer_or_timer_declares_has_a_worker_handler():
    assert bootstrap.topics_written() <= set(bootstrap.HANDLERS)
    assert not set(bootstrap.FEEDS) & set(bootstrap.HANDLERS)


def _topics_in_source() -> dict[str, str]:
    """Every outbox topic written literally anywhere in the package: {"topic": X}, topic=X, TOPIC = X, and the
    (topic, payload) pairs given to enqueue_many; X a string or a TOPIC constant. -> {topic: where}."""
    found: dict[str, str] = {}
    constants: dict[str, str] = {}
    names: list[tuple[str, str]] = []

    def value(node, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.setdefault(node.value, where)
        elif isinstance(node, ast.Name | ast.Attribute):
            names.append((node.id if isinstance(node, ast.Name) else node.attr, where))

    for path in sorted(SRC.rglob("*.py")):
        where = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["TOPIC"]:
                constants[where] = node.value.value
                found.setdefault(node.value.value, where)
            elif isinstance(node, ast.Dict):
                for key, val in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "topic":
                        value(val, where)
            elif isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "topic":
                        value(kw.value, where)
                    if kw.arg == "messages" and getattr(node.func, "attr", getattr(node.func, "id", "")) == \
                            "enqueue_many" and isinstance(kw.value, ast.List):
                        for item in kw.value.elts:
                            if isinstance(item, ast.Tuple):
                                value(item.elts[0], where)
    unknown = {n for n, _ in names if n != "TOPIC" and not n.endswith("TOPIC")} - {"topic"}
    assert not unknown - {"m", "message"}, unknown  # a topic named some other way would escape this scan
    return found


def test_every_topic_written_anywhere_is_delivered_by_a_handler_or_is_a_declared_feed():
    found = _topics_in_source()
    assert {"notify", "webhook", "alert", "customer_charge", "tracking_subscribe", "inventory_movement"} <= set(found)
    unclaimed = {topic: where for topic, where in found.items()
                 if topic not in bootstrap.HANDLERS and topic not in bootstrap.FEEDS}
    assert unclaimed == {}


def test_what_producers_write_on_a_walk_through_a_return_is_what_they_declare(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    declared_topics = {p.run: set(p.topics) for p in bootstrap.PRODUCERS}
    written: dict = {}
    original, derived = list(side_effects.SIDE_EFFECTS), list(side_effects.DERIVED)

    def watched(producer):
        def run(session, case, event):
            items = producer(session, case, event)
            written.setdefault(producer, set()).update(i["topic"] for i in items if isinstance(i, dict))
            return items
        return run

    side_effects.SIDE_EFFECTS[:] = [watched(p) for p in original]
    side_effects.DERIVED[:] = [watched(p) for p in derived]  # (run right after each commit: the suite is inline)
    try:
        r = client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": "O-1", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "lines": [{"line_no": 1, "quantity": 1}]})
        assert r.status_code == 201, r.text
        case = r.json()
        for action, role, payload in [("approve", "agent", {"override_reason": "past the window"}),
                                      ("ship_return", "agent", {"carrier": "SF", "tracking_number": "SF1"}),
                                      ("receive", "warehouse", {}), ("escalate", "agent", {"reason": "slow"})]:
            r = client.post(f"/api/v1/cases/{case['number']}/actions/{action}", headers=shop.headers(role),
                            json={"version": case["version"], "payload": payload})
            assert r.status_code == 200, r.text
            case = r.json()
    finally:
        side_effects.SIDE_EFFECTS[:] = original
        side_effects.DERIVED[:] = derived
    assert set(written) == set(declared_topics)  # every producer ran
    assert any(written.values())  # and some wrote messages
    for producer, topics in written.items():
        assert topics <= declared_topics[producer], (producer.__qualname__, topics)
