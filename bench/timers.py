#!/usr/bin/env python
"""Due timers processed per second by real `returnflow worker` processes, and the lag under a burst.

    .venv/bin/python bench/timers.py

For SQLite (a temporary file) and PostgreSQL (a fresh database on 127.0.0.1:5432, dropped at the end; skipped with
the reason when unreachable):

1. seeds a merchant with its staff and CASES open cases through the product's own services;
2. for 1 and 2 workers: writes N already-due timers (9 in 10 reminders, each writing a staff notice to the outbox;
   1 in 10 missed deadlines, each firing `escalate` on its case through workflow.fire with its events, side
   effects and notices), starts that many `returnflow worker --no-outbox` processes and times until none is
   pending; rate = N / (time from the first firing until none is pending), start-up excluded;
3. burst (PostgreSQL by default): BURST timers all due at one instant, 2 workers (1 on SQLite); the lag is how long
   after that instant the last one fired, and the workers' own lag report is sampled while they drain it;
4. checks every timer fired exactly once (status, one notice per reminder, one escalation event per missed deadline).

Environment: RF_BENCH_TIMERS=10000, RF_BENCH_BURST=100000, RF_BENCH_BURST_ON=postgresql (or sqlite,postgresql), RF_BENCH_CASES=200, RF_BENCH_DATABASES=sqlite,postgres,
RF_BENCH_PG_ADMIN=postgresql://postgres@127.0.0.1:5432/postgres. Exit status 1 if a check fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from returnflow.bootstrap import bootstrap  # noqa: E402
from returnflow.cases.models import CaseEvent, OutboxMessage  # noqa: E402
from returnflow.db import Database, utcnow  # noqa: E402
from returnflow.jobs.worker import lag  # noqa: E402
from returnflow.schema import migrate  # noqa: E402
from returnflow.sla.models import Timer  # noqa: E402

N = int(os.environ.get("RF_BENCH_TIMERS", "10000"))
BURST = int(os.environ.get("RF_BENCH_BURST", "100000"))
CASES = int(os.environ.get("RF_BENCH_CASES", "200"))
DATABASES = [d.strip() for d in os.environ.get("RF_BENCH_DATABASES", "sqlite,postgres").split(",") if d.strip()]
# The burst runs where the scale-out runs (PostgreSQL, 2 workers); RF_BENCH_BURST_ON=sqlite,postgresql for both.
BURST_ON = [d.strip() for d in os.environ.get("RF_BENCH_BURST_ON", "postgresql").split(",") if d.strip()]
PG_ADMIN = os.environ.get("RF_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
HEADLINE: list[str] = []
T_START = time.monotonic()


def seed(db: Database) -> tuple[int, list[int]]:
    from tests.support.flows import open_for
    from tests.support.world import make_order, make_shop

    shop = make_shop(db, "bench")
    for i in range(CASES):
        make_order(db, shop, number=f"B-{i}")
        open_for(db, shop.actors["agent"], f"B-{i}", "return_refund")
    with db.transaction() as s:
        s.connection().execute(Timer.__table__.delete())
        s.connection().execute(OutboxMessage.__table__.delete())
        ids = list(s.scalars(text("SELECT id FROM cases ORDER BY id")))
    return shop.id, ids


def write_timers(db: Database, merchant_id: int, case_ids: list[int], n: int, due) -> None:
    rows = []
    for k in range(n):
        escalation = k % 10 == 9
        rows.append({"merchant_id": merchant_id, "case_id": case_ids[k % len(case_ids)], "due_at": due,
                     "kind": "review.due" if escalation else "review.remind",
                     "action": "escalate" if escalation else None,
                     "payload": {"step": "review", "reason": "bench: deadline missed"} if escalation
                     else {"step": "review"},
                     "rule": "SLA.review", "status": "pending", "created_at": due})
    for start in range(0, n, 5000):
        with db.transaction() as s:
            s.connection().execute(insert(Timer.__table__), rows[start:start + 5000])


def clear(db: Database) -> None:
    with db.transaction() as s:
        s.connection().execute(Timer.__table__.delete())
        s.connection().execute(OutboxMessage.__table__.delete())


def workers(db: Database, tmp: Path, k: int) -> list[subprocess.Popen]:
    script = Path(sys.executable).parent / "returnflow"
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "RETURNFLOW_DATA_DIR": str(tmp / "data"),
           "RETURNFLOW_WORKER_POLL_SECONDS": "0.05"}
    return [subprocess.Popen([str(script), "worker", "--no-outbox", "--report-every", "3600"], env=env, cwd=tmp,
                             stdout=subprocess.DEVNULL, stderr=open(tmp / f"worker{i}.err", "ab"),
                             start_new_session=True) for i in range(k)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(30)


def pending(db: Database) -> int:
    """Timers due by now and not fired: the bench's (an escalation's event sets the case's next SLA timers, due
    later, which the bench does not wait for)."""
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending",
                                                                       Timer.due_at <= utcnow()))


def drain(db: Database, tmp: Path, k: int, limit: float, sample_lag: bool = False) -> tuple[float, float]:
    """Runs k workers until nothing is pending; returns (seconds between first and last firing, max sampled lag)."""
    procs = workers(db, tmp, k)
    worst = 0.0
    deadline = time.monotonic() + limit
    try:
        while pending(db):
            if time.monotonic() > deadline:
                raise SystemExit(f"not drained within {limit:.0f} s")
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker died: {(tmp / 'worker0.err').read_text()[-2000:]}")
            if sample_lag:
                worst = max(worst, lag(db)["timers"]["oldest_due_seconds"])
            time.sleep(0.25)
        drained = utcnow()
    finally:
        stop(procs)
    with db.read() as s:
        first = s.scalar(select(func.min(Timer.fired_at)))
    # From the first firing (start-up excluded) until the poll saw nothing pending (up to 0.25 s late: conservative).
    return (drained - first).total_seconds(), worst


def check(db: Database, n: int, escalations_before: int) -> None:
    with db.read() as s:
        statuses = Counter(s.scalars(select(Timer.status).where(Timer.due_at <= utcnow())))  # the bench's
        notices = Counter(p.get("timer_id") for p in s.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "notify")) if p.get("timer_id"))
        reminders = s.scalar(select(func.count()).select_from(Timer).where(Timer.action.is_(None),
                                                                           Timer.due_at <= utcnow()))
        escalations = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "escalate"))
    problems = []
    if statuses != {"fired": n}:
        problems.append(f"statuses {dict(statuses)}")
    if len(notices) < reminders or set(notices.values()) != {1}:
        problems.append(f"notices: {len(notices)} timers noticed, counts {set(notices.values())}")
    if escalations - escalations_before != n - reminders:
        problems.append(f"escalation events {escalations - escalations_before}, expected {n - reminders}")
    if problems:
        raise SystemExit("CHECK FAILED: " + "; ".join(problems))


def escalations(db: Database) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "escalate"))


def run(name: str, url: str, tmp: Path) -> list[str]:
    db = Database(url)
    migrate(db)
    merchant_id, case_ids = seed(db)
    lines = []
    for k in (1, 2):
        clear(db)
        before = escalations(db)
        write_timers(db, merchant_id, case_ids, N, utcnow() - timedelta(seconds=1))
        span, _ = drain(db, tmp, k, 240)
        check(db, N, before)
        lines.append(f"{name}: {k} worker{'s' if k > 1 else ''}: {N / span:,.0f} due timers/s ({N:,} in {span:.1f} s)")
        HEADLINE.append(f"{name} {k}w {N / span:,.0f}/s")
        print(lines[-1], flush=True)
    if name not in BURST_ON:
        db.dispose()
        return lines
    k = 2 if name == "postgresql" else 1
    clear(db)
    before = escalations(db)
    instant = utcnow()
    write_timers(db, merchant_id, case_ids, BURST, instant)
    started = time.monotonic()
    span, worst = drain(db, tmp, k, 280, sample_lag=True)
    check(db, BURST, before)
    with db.read() as s:
        last = s.scalar(select(func.max(Timer.fired_at)))
    lines.append(f"{name}: burst of {BURST:,} due timers, {k} worker{'s' if k > 1 else ''}: drained in {span:.1f} s "
                 f"({BURST / span:,.0f}/s); last fired {(last - instant).total_seconds():.1f} s after they fell due "
                 f"(incl. writing them); worst sampled lag {worst:.1f} s; wall {time.monotonic() - started:.1f} s")
    print(lines[-1], flush=True)
    HEADLINE.append(f"burst {BURST:,} on {name} ({k}w): drained in {span:.0f} s, last fired "
                    f"{(last - instant).total_seconds():.0f} s after falling due")
    db.dispose()
    return lines


def main() -> None:
    bootstrap()  # the wiring every entry point installs (what a case event sets off)
    results = []
    for name in DATABASES:
        tmp = Path(tempfile.mkdtemp(prefix=f"rf-bench-timers-{name}-"))
        if name == "sqlite":
            results += run("sqlite", f"sqlite:///{tmp / 'bench.db'}", tmp)
            continue
        import psycopg

        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
                dbname = f"rf_bench_timers_{uuid.uuid4().hex[:8]}"
                conn.execute(f'CREATE DATABASE "{dbname}"')
        except psycopg.OperationalError as exc:
            print(f"postgresql: skipped ({exc})")
            continue
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        try:
            results += run("postgresql", f"{base}/{dbname}", tmp)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    print("timers: " + " | ".join(HEADLINE) + f" (total {time.monotonic() - T_START:.0f} s)")

if __name__ == "__main__":
    main()
