"""Real races on PostgreSQL between separate OS processes, released together by a barrier.

- Two clients send the same action with the same version to a server running `--workers 2`: exactly one wins,
  the other gets 409 stale_version, and the timeline grows by exactly one event (the winner's). Repeated, so
  the race really happens.
- The same through the service layer in two processes, both holding the loaded case when they fire, so the
  version check that decides is the database's `UPDATE ... WHERE version = ...`.
- Two clients open cases for the last returnable unit of the same order line at once: exactly one gets 201,
  the other 422 quantity_exceeds — never both.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import func, select

from returnflow.db import Database
from returnflow.schema import migrate
from tests.conftest import PG_UP, create_pg_database, drop_pg_database
from tests.integration.test_scale_out import serve
from tests.support.world import make_order, make_shop

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not PG_UP and not os.environ.get("CI"), reason="no PostgreSQL at 127.0.0.1:5432"),
]

ROUNDS = 20


# ---- the racing processes (module level: spawned children import it) -----------------------------------------

def racer(me: int, base: str | None, barrier, jobs, results) -> None:
    """Takes jobs until None; for each, waits at the barrier with the other racer, then fires and reports."""
    http = httpx.Client(base_url=base, timeout=30) if base else None
    databases: dict[str, Database] = {}
    try:
        if http is not None:
            http.get("/healthz")  # the keep-alive connection exists before the first race
        while (job := jobs.get()) is not None:
            try:
                results.put((me, _run(job, http, databases, barrier)))
            except Exception as exc:  # reported to the test, which fails with it
                results.put((me, ("error", f"{type(exc).__name__}: {exc}")))
    finally:
        if http is not None:
            http.close()
        for db in databases.values():
            db.dispose()


def _run(job: tuple, http: httpx.Client | None, databases: dict[str, Database], barrier) -> tuple:
    kind = job[0]
    if kind == "http":
        _, path, headers, body = job
        # A fresh keep-alive connection per race, opened before the barrier: with --workers 2 the kernel hands
        # each connection to either worker process, so over the rounds the two requests run in one worker and
        # in both.
        with httpx.Client(base_url=http.base_url, timeout=30) as fresh:
            fresh.get("/healthz")
            barrier.wait(timeout=20)
            r = fresh.post(path, headers=headers, json=body)
        return ("http", r.status_code, r.json())
    if kind == "service":
        from returnflow.cases.service import get_case
        from returnflow.cases.workflow import fire
        from returnflow.errors import AppError

        _, url, actor, number, action, version, payload = job
        db = databases.get(url) or databases.setdefault(url, Database(url))
        loaded = None
        try:
            with db.transaction() as session:
                case = get_case(session, actor=actor, number=number)
                loaded = case.version
                barrier.wait(timeout=20)  # both hold the case as loaded; now both fire
                fire(session, case, action, actor, payload=payload, expected_version=version)
            return ("service", 200, {"loaded": loaded, "version": case.version})
        except AppError as exc:
            return ("service", exc.status, {"loaded": loaded, "code": exc.key})
    raise ValueError(kind)


class Racers:
    def __init__(self, base: str | None) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(2)
        self.jobs = [ctx.Queue(), ctx.Queue()]
        self.results = ctx.Queue()
        self.procs = [ctx.Process(target=racer, args=(i, base, self.barrier, self.jobs[i], self.results),
                                  daemon=True) for i in range(2)]
        for p in self.procs:
            p.start()

    def race(self, job0: tuple, job1: tuple) -> list[tuple]:
        """Runs the two jobs at the same moment in the two processes; their results, racer 0 first."""
        self.jobs[0].put(job0)
        self.jobs[1].put(job1)
        got: dict[int, tuple] = {}
        try:
            for _ in range(2):
                me, result = self.results.get(timeout=40)
                got[me] = result
        except queue.Empty:
            raise AssertionError(f"a racer did not answer: {got}") from None
        for result in got.values():
            assert result[0] != "error", result
        return [got[0], got[1]]

    def close(self) -> None:
        for q in self.jobs:
            q.put(None)
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)


@contextmanager
def racers(base: str | None = None) -> Iterator[Racers]:
    r = Racers(base)
    try:
        yield r
    finally:
        r.close()


# ---- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture
def pg(tmp_path) -> Iterator[tuple[str, Database]]:
    url = create_pg_database("rf_race")
    db = Database(url)
    try:
        migrate(db)
        yield url, db
    finally:
        db.dispose()
        drop_pg_database(url)


def open_case(client: httpx.Client, headers: dict, order: str) -> dict:
    r = client.post("/api/v1/cases", headers=headers, json={
        "order": order, "type": "return_refund", "channel": "agent", "reason": "wrong_size",
        "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    return r.json()


# ---- the races -----------------------------------------------------------------------------------------------

def test_same_version_through_the_api_exactly_one_wins(pg, tmp_path):
    url, db = pg
    shop = make_shop(db)
    make_order(db, shop)
    agent = shop.headers("agent", **{"Accept-Language": "en"})
    with serve(url, tmp_path, workers=2, name="race") as base, httpx.Client(base_url=base, timeout=10) as http, \
            racers(base) as race:
        case = open_case(http, agent, "O-1")
        number, version = case["number"], case["version"]
        path = f"/api/v1/cases/{number}/actions/note"
        for round_ in range(ROUNDS):
            texts = [f"racer {i}, round {round_}" for i in range(2)]
            results = race.race(*(("http", path, agent, {"version": version, "payload": {"text": t}})
                                  for t in texts))
            statuses = sorted(r[1] for r in results)
            assert statuses == [200, 409], results
            winner = next(i for i, r in enumerate(results) if r[1] == 200)
            loser = results[1 - winner][2]["error"]
            assert loser["code"] == "stale_version" and loser["field"] == "version", loser
            assert results[winner][2]["version"] == version + 1

            timeline = http.get(f"/api/v1/cases/{number}/timeline", headers=agent)
            assert timeline.status_code == 200, timeline.text
            events = timeline.json()
            assert [e["seq"] for e in events] == list(range(1, version + 2)), "lost or duplicated event"
            assert events[-1]["action"] == "note" and events[-1]["payload"] == {"text": texts[winner]}
            assert texts[1 - winner] not in {e["payload"].get("text") for e in events}
            version += 1

        # A real transition raced the same way: one approval, one 409, one new event.
        results = race.race(*(("http", f"/api/v1/cases/{number}/actions/approve", agent,
                               {"version": version, "payload": {"override_reason": "past the window"}}),) * 2)
        assert sorted(r[1] for r in results) == [200, 409], results
        body = http.get(f"/api/v1/cases/{number}", headers=agent).json()
        assert body["state"] == "awaiting_return" and body["version"] == version + 1
        assert [e["action"] for e in body["timeline"]] == ["open"] + ["note"] * ROUNDS + ["approve"]


def test_same_version_through_the_service_layer_exactly_one_wins(pg):
    url, db = pg
    shop = make_shop(db)
    make_order(db, shop)
    from returnflow.cases.models import CaseEvent
    from returnflow.cases.schemas import CaseCreate
    from returnflow.cases.service import get_case, open_case as open_service

    actor = shop.actors["agent"]
    with db.transaction() as session:
        number = open_service(session, actor=actor, data=CaseCreate.model_validate({
            "order": "O-1", "type": "return_refund", "lines": [{"line_no": 1, "quantity": 1}]})).number
    version = 1
    with racers() as race:
        for round_ in range(ROUNDS):
            results = race.race(*(("service", url, actor, number, "note", version,
                                   {"text": f"racer {i}, round {round_}"}) for i in range(2)))
            # Both loaded the same version before either fired: the database decided.
            assert [r[2]["loaded"] for r in results] == [version, version], results
            assert sorted(r[1] for r in results) == [200, 409], results
            assert next(r for r in results if r[1] == 409)[2]["code"] == "stale_version"
            version += 1
    with db.read() as session:
        case = get_case(session, actor=actor, number=number)
        seqs = list(session.scalars(select(CaseEvent.seq).where(CaseEvent.case_id == case.id)
                                    .order_by(CaseEvent.seq)))
    assert case.version == ROUNDS + 1
    assert seqs == list(range(1, ROUNDS + 2))


def test_last_unit_of_an_order_line_goes_to_exactly_one_case(pg, tmp_path):
    url, db = pg
    shop = make_shop(db)
    orders = [make_order(db, shop, f"LAST-{i}", lines=(("SKU-L", "10.00", 1),)) for i in range(10)]
    agent = shop.headers("agent", **{"Accept-Language": "en"})
    with serve(url, tmp_path, workers=2, name="race") as base, racers(base) as race:
        for order in orders:
            body = {"order": order, "type": "return_refund", "channel": "agent", "reason": "wrong_size",
                    "lines": [{"line_no": 1, "quantity": 1}]}
            results = race.race(("http", "/api/v1/cases", agent, body), ("http", "/api/v1/cases", agent, body))
            assert sorted(r[1] for r in results) == [201, 422], results
            refusal = next(r for r in results if r[1] == 422)[2]["error"]
            assert refusal["code"] == "quantity_exceeds", refusal
            assert refusal["field"] == "lines[0].quantity"
            assert "only 0 of SKU SKU-L can still be claimed" in refusal["message"], refusal

    from returnflow.cases.models import Case, CaseLine
    from returnflow.cases.guards import returnable_quantity
    from returnflow.orders.models import Order, OrderLine

    with db.read() as session:
        for order in orders:
            order_id = session.scalar(select(Order.id).where(Order.number == order))
            line_id = session.scalar(select(OrderLine.id).where(OrderLine.order_id == order_id))
            assert session.scalar(select(func.count()).select_from(Case).where(Case.order_id == order_id)) == 1
            assert session.scalar(select(func.sum(CaseLine.quantity)).where(CaseLine.order_line_id == line_id)) == 1
            assert returnable_quantity(session, line_id) == 0
