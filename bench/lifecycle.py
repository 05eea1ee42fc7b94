#!/usr/bin/env python
"""Case-lifecycle throughput of a real `returnflow serve`, against the FLOOR of the same stack.

    .venv/bin/python bench/lifecycle.py

For SQLite (a fresh temporary data folder) and PostgreSQL (a fresh database on 127.0.0.1:5432, dropped at the end;
skipped with the reason when unreachable):

1. seeds a merchant, staff tokens and N+W delivered one-line orders through the product's own services;
2. FLOOR: serves bench/floor_app.py (one `async def` POST, small pydantic body, one INSERT through
   returnflow.db.make_engine) with uvicorn, one worker, and drives it with the same client at the same concurrency;
3. twice, with derivation in worker mode (RETURNFLOW_DERIVE=worker: a request writes its case, event and chain link;
   the worker derives timers, notices, webhook rows and the rollup from the event log): first `returnflow serve
   --workers 1 --no-worker` with separate `returnflow worker` processes (as at scale: two on PostgreSQL, one on
   SQLite), then `returnflow serve --workers 1` with its own worker (a thread on SQLite, a process it starts on
   PostgreSQL); each walks W warm-up cases, then N timed cases, through open (the policy decides and approves) →
   ship_return → receive → inspect → resolve → close with CONCURRENCY clients
   (one aiohttp keep-alive pool; client, server and worker share the machine's cores);
4. checks that every case is `closed` with exactly 7 events (database for all, API for a sample), that every event
   was derived and every case has the same derived rows (its timers, notices and rollup row with every milestone),
   and that every floor row exists; any non-2xx answer is counted as an error, never as throughput, and fails the
   run.

Besides req/s it prints the server's (and the worker process's) CPU per request, the derivation lag (event written
-> its derived rows written) p50/p99 of the timed run's events (it starts once the workers have derived the
warm-up), `open` p99, and the SQL statements per request of each kind, counted
in-process over 20 more cases walked through the same service calls after the timed runs (the request's own;
the derivation's statements per event beside them). Only successful requests count towards req/s. Environment overrides:
    RF_BENCH_CASES=1000         timed cases per database and worker placement
    RF_BENCH_WARMUP=50          warm-up cases per run (not timed)
    RF_BENCH_CONCURRENCY=16     concurrent clients
    RF_BENCH_FLOOR_REQUESTS=20000
    RF_BENCH_LIFECYCLE_SECONDS=30  time budget of each timed lifecycle phase (no new case is opened after it)
    RF_BENCH_FLOOR_SECONDS=10      time budget of the timed floor phase
    RF_BENCH_WORKER_POLL=0.25      RETURNFLOW_WORKER_POLL_SECONDS of the server and the worker
    RF_BENCH_PG_WORKERS=2          separate `returnflow worker` processes on PostgreSQL (SQLite: one)
    RF_BENCH_DATABASES=sqlite,postgres
    RF_BENCH_IDEMPOTENCY=1      send an Idempotency-Key with every mutating call (default: none)
    RF_BENCH_PG_ADMIN=postgresql://postgres@127.0.0.1:5432/postgres
    RF_BENCH_PROFILE=<folder>   sample the returnflow server with py-spy during the timed run
                                (needs `pip install py-spy`); prints the hottest functions, keeps the raw stacks
    RF_BENCH_PROFILE_IDLE=1     ... idle samples too (where the server waits: SQLite's write lock, PostgreSQL)
Exit status: 0 when every request succeeded and every check held, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import orjson

BENCH = Path(__file__).resolve().parent
N_CASES = int(os.environ.get("RF_BENCH_CASES", "1000"))
N_WARMUP = int(os.environ.get("RF_BENCH_WARMUP", "50"))
CONCURRENCY = int(os.environ.get("RF_BENCH_CONCURRENCY", "16"))
FLOOR_REQUESTS = int(os.environ.get("RF_BENCH_FLOOR_REQUESTS", "20000"))
DATABASES = [d.strip() for d in os.environ.get("RF_BENCH_DATABASES", "sqlite,postgres").split(",") if d.strip()]
IDEMPOTENCY = os.environ.get("RF_BENCH_IDEMPOTENCY", "") not in ("", "0")
PG_ADMIN = os.environ.get("RF_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PROFILE_DIR = os.environ.get("RF_BENCH_PROFILE", "")
PROFILE_IDLE = os.environ.get("RF_BENCH_PROFILE_IDLE", "") not in ("", "0")
# Time budgets (seconds): after them the clients take no new work (cases already opened are walked to the end),
# so the run fits in 5 minutes even on a machine busy with other work; the output says when a budget cut a phase.
LIFECYCLE_BUDGET = float(os.environ.get("RF_BENCH_LIFECYCLE_SECONDS", "30"))
FLOOR_BUDGET = float(os.environ.get("RF_BENCH_FLOOR_SECONDS", "10"))
# Derivation runs in worker mode: with the worker as a separate process, then inside serve.
MODES = ("separate", "in serve")
# How long an idle worker sleeps before it looks for new events again (RETURNFLOW_WORKER_POLL_SECONDS).
WORKER_POLL = os.environ.get("RF_BENCH_WORKER_POLL", "0.25")
# Separate `returnflow worker` processes: on PostgreSQL several share the derivation (a worker is bound by round
# trips, not CPU); on SQLite one (one writer at a time).
PG_WORKERS = int(os.environ.get("RF_BENCH_PG_WORKERS", "2"))
PHASE_TIMEOUT = 150.0  # seconds; a phase that takes longer is a hang, not a measurement

# The policy approves each bench return when it is opened (delivered 3 days ago, 99.00 CNY: inside cn-law's
# 7-day window and its automatic limit), so `open` runs the policy and fires `approve` as the policy actor.
STEPS = (
    ("ship_return", "agent", {"carrier": "SF", "tracking_number": "SF-BENCH"}),  # the number: per case (below)
    ("receive", "warehouse", {}),
    ("inspect", "warehouse", {}),
    ("resolve", "finance", {}),
    ("close", "agent", {}),
)
REQUEST_TYPES = ("open",) + tuple(s[0] for s in STEPS)
EVENTS_PER_CASE = 2 + len(STEPS)  # open + the policy's approve + one per step


def log(text: str) -> None:
    print(text, flush=True)


# ---- CPU accounting: the machine is shared (client, server and whatever else runs), so say who used it -----------

TICK = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / TICK, total / TICK


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu() -> float:
    """CPU seconds of the local PostgreSQL server processes (0 when there are none)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU used by the server, by this client and by everything else while a phase runs."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.m0, self.s0, self.c0, self.p0 = machine_cpu(), process_cpu(self.pid), own_cpu(), postgres_cpu()
        return self

    def __exit__(self, *_exc) -> None:
        self.wall = time.perf_counter() - self.t0
        m1 = machine_cpu()
        self.server = process_cpu(self.pid) - self.s0
        self.client = own_cpu() - self.c0
        self.postgres = postgres_cpu() - self.p0
        self.busy = m1[0] - self.m0[0]
        self.capacity = m1[1] - self.m0[1]
        self.others = max(0.0, self.busy - self.server - self.client - self.postgres)

    def line(self, requests: int) -> str:
        per = 1000 * self.server / requests if requests else float("nan")
        return (f"CPU over {self.wall:.1f}s ({os.cpu_count()} CPUs = {100 * (os.cpu_count() or 1):.0f}%): "
                f"server {100 * self.server / self.wall:.0f}%, client {100 * self.client / self.wall:.0f}%, "
                f"postgres {100 * self.postgres / self.wall:.0f}%, other processes {100 * self.others / self.wall:.0f}%; "
                f"server CPU {per:.3f} ms per request")


# ---- processes ---------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def returnflow_command() -> list[str]:
    script = Path(sys.executable).parent / "returnflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "returnflow.cli"]


@contextmanager
def server(name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path):
    """Runs a server process on 127.0.0.1:`port` until the block ends (always terminated)."""
    logfile = workdir / f"{name}.log"
    with open(logfile, "wb") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(proc, port, logfile)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def wait_ready(proc: subprocess.Popen, port: int, logfile: Path, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{logfile.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f}s:\n"
                       f"{logfile.read_text(errors='replace')[-3000:]}")


@contextmanager
def pyspy(pid: int, out: Path):
    """Samples `pid` with py-spy (raw collapsed stacks) while the block runs."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        log("  (profile skipped: py-spy is not installed — pip install py-spy)")
        yield None
        return
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--format", "raw",
                             "--output", str(out)] + (["--idle"] if PROFILE_IDLE else []), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# Library frames worth naming in a profile summary (besides every returnflow function).
WATCH = ("Session.flush", "Session._autoflush", "DefaultDialect.do_execute", "DefaultDialect.do_commit",
         "Connection.wait (psycopg", "_do_ping_w_event", "Pool._create_connection", "run_in_threadpool",
         "Condition.wait", "RequestResponseCycle.send", "HasCacheKey._generate_cache_key",
         "_compile_w_cache", "solve_dependencies", "request_body_to_args", "JSON.render", "Result.scalar (")


def summarise_profile(path: Path, top: int = 40) -> None:
    """Prints the share of (non-idle) samples under each returnflow function and a few telling library frames."""
    if not path.exists():
        log(f"  (no profile written to {path})")
        return
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for raw in path.read_text(errors="replace").splitlines():
        stack, _, count = raw.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = []
        for f in stack.split(";"):
            name, _, where = f.partition(" (")
            frames.append(f"{name} ({where.rsplit(':', 1)[0]})")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        log("  (profile empty)")
        return
    log(f"  profile: {total} samples (non-idle), stacks in {path}")
    log("  inclusive %  returnflow functions and selected library frames")
    shown = 0
    for frame, n in inclusive.most_common():
        if ("returnflow/" in frame and "cli.py" not in frame) or any(w in frame for w in WATCH):
            log(f"  {100 * n / total:10.1f}  {frame}")
            shown += 1
            if shown >= top:
                break
    log("  self %       function")
    for frame, n in own.most_common(15):
        log(f"  {100 * n / total:10.1f}  {frame}")


# ---- seeding (through the product's services, straight into the database) ----------------------------------------

@dataclass
class Seeded:
    tokens: dict[str, str]
    orders: list[str]


def seed(url: str, n_orders: int) -> Seeded:
    from returnflow.actor import Actor
    from returnflow.auth.service import create_user, issue_token
    from returnflow.logistics.addresses import save_address
    from returnflow.db import Database
    from returnflow.merchants.models import Merchant
    from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
    from returnflow.orders.service import upsert_orders
    from returnflow.schema import migrate

    db = Database(url)
    try:
        migrate(db)
        when = datetime.now(timezone.utc) - timedelta(days=5)
        orders = [OrderRecord(
            number=f"B-{i:06d}", currency="CNY",
            customer=CustomerRecord(external_id=f"C-{i % 97}", name=f"Customer {i % 97}",
                                    email=f"c{i % 97}@example.com"),
            ordered_at=when, shipped_at=when + timedelta(days=1), delivered_at=when + timedelta(days=2),
            lines=[LineRecord(line_no=1, sku="SKU-BENCH", title="Bench item", category="general", unit_price=9900,
                              quantity=1, delivered_quantity=1)]) for i in range(n_orders)]
        tokens: dict[str, str] = {}
        with db.transaction() as session:
            merchant = Merchant(code="bench", name="Bench shop", default_currency="CNY")
            session.add(merchant)
            session.flush()
            for role in ("agent", "warehouse", "finance"):
                user = create_user(session, email=f"{role}@bench.test", name=f"{role} (bench)", role=role,
                                   merchant_id=merchant.id)
                tokens[role] = issue_token(session, user=user, label="bench")
            # A default return address: a return is only approved (by the policy, too) when it can be routed.
            admin = create_user(session, email="admin@bench.test", name="admin (bench)", role="admin",
                                merchant_id=merchant.id)
            save_address(session, actor=Actor(kind="staff", role="admin", merchant_id=merchant.id, user_id=admin.id,
                                              name="admin (bench)"), code="MAIN", data={
                "name": "Returns desk", "contact": "Desk", "phone": "021-00000000",
                "address": "上海市浦东新区示例路 1 号", "postcode": "200000", "is_default": True})
            upsert_orders(session, merchant_id=merchant.id, orders=orders)
        return Seeded(tokens=tokens, orders=[o.number for o in orders])
    finally:
        db.dispose()


# ---- the client --------------------------------------------------------------------------------------------------

@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    ok: int = 0
    numbers: list[str] = field(default_factory=list)
    cut: bool = False  # the time budget ended the phase before all its work was taken

    def fail(self, kind: str, status: int | str, text: str) -> None:
        self.errors[(kind, status)] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind} -> {status}: {text[:300]}")

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def session_for(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60, ttl_dns_cache=None)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60),
                                 json_serialize=lambda o: orjson.dumps(o).decode())


async def post(http: aiohttp.ClientSession, tally: Tally, kind: str, url: str, body: dict, headers: dict,
               expect: int) -> dict | None:
    data = orjson.dumps(body)
    t0 = time.perf_counter()
    try:
        async with http.post(url, data=data, headers=headers) as r:
            raw = await r.read()
            status = r.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        tally.fail(kind, type(exc).__name__, str(exc))
        return None
    tally.latencies[kind].append(time.perf_counter() - t0)
    if status != expect:
        tally.fail(kind, status, raw.decode(errors="replace"))
        return None
    tally.ok += 1
    return orjson.loads(raw) if raw else {}


async def drive_lifecycle(base: str, seeded: Seeded, orders: list[str], concurrency: int,
                          budget: float = PHASE_TIMEOUT) -> tuple[Tally, float]:
    """Walks one case per order through the whole lifecycle (no new case after `budget` seconds)."""
    tally = Tally()
    deadline = time.perf_counter() + budget
    auth = {role: {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
            for role, tok in seeded.tokens.items()}
    todo = iter(orders)

    def headers(role: str) -> dict:
        return {**auth[role], "Idempotency-Key": uuid.uuid4().hex} if IDEMPOTENCY else auth[role]

    async def client(http: aiohttp.ClientSession) -> None:
        for order in todo:  # one shared iterator: each order is taken by exactly one client
            if time.perf_counter() > deadline:
                tally.cut = True
                return
            case = await post(http, tally, "open", f"{base}/api/v1/cases", {
                "order": order, "type": "return_refund", "channel": "portal", "reason": "wrong_size",
                "description": "bench", "lines": [{"line_no": 1, "quantity": 1}]}, headers("agent"), 201)
            if case is None:
                continue
            tally.numbers.append(case["number"])
            for action, role, payload in STEPS:
                if action == "ship_return":  # each parcel its own waybill
                    payload = {**payload, "tracking_number": f"SF{case['number'][2:]}"}
                case = await post(http, tally, action, f"{base}/api/v1/cases/{case['number']}/actions/{action}",
                                  {"version": case["version"], "payload": payload}, headers(role), 200)
                if case is None:
                    break

    async with session_for(concurrency) as http:
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(client(http) for _ in range(concurrency))), PHASE_TIMEOUT)
        elapsed = time.perf_counter() - t0
    return tally, elapsed


async def drive_floor(base: str, total: int, concurrency: int, budget: float = PHASE_TIMEOUT,
                      start: int = 0) -> tuple[Tally, float]:
    tally = Tally()
    todo = iter(range(start, start + total))
    headers = {"Content-Type": "application/json"}
    deadline = time.perf_counter() + budget

    async def client(http: aiohttp.ClientSession) -> None:
        for i in todo:
            if time.perf_counter() > deadline:
                tally.cut = True
                return
            await post(http, tally, "insert", f"{base}/items",
                       {"ref": f"R-{i:07d}", "quantity": 1 + i % 5, "note": "bench"}, headers, 201)

    async with session_for(concurrency) as http:
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(client(http) for _ in range(concurrency))), PHASE_TIMEOUT)
        elapsed = time.perf_counter() - t0
    return tally, elapsed


async def check_via_api(base: str, seeded: Seeded, numbers: list[str]) -> list[str]:
    problems = []
    headers = {"Authorization": f"Bearer {seeded.tokens['agent']}"}
    async with session_for(4) as http:
        for number in numbers:
            async with http.get(f"{base}/api/v1/cases/{number}", headers=headers) as r:
                body = orjson.loads(await r.read())
                if r.status != 200:
                    problems.append(f"GET {number}: {r.status} {body}")
                    continue
            actions = [e["action"] for e in body["timeline"]]
            if body["state"] != "closed" or actions != ["open", "approve", *(s[0] for s in STEPS)]:
                problems.append(f"{number}: state {body['state']}, timeline {actions}")
    return problems


def check_in_database(url: str, numbers: list[str]) -> list[str]:
    """Every case of the run is closed with exactly its events, and every event is derived: each case has the same
    derived rows as the others (it walked the same steps): its timers, its notices and webhook rows, its rollup row
    with every milestone."""
    from sqlalchemy import func, select

    from returnflow.analytics.rollup import CaseSteps
    from returnflow.cases.models import Case, CaseEvent, OutboxMessage
    from returnflow.db import Database
    from returnflow.derive import EventDerivation
    from returnflow.sla.models import Timer

    db = Database(url)
    problems = []
    expected_cases = len(numbers)
    try:
        with db.read() as s:
            ids = [i for chunk in range(0, len(numbers), 500) for i in s.scalars(
                select(Case.id).where(Case.number.in_(numbers[chunk:chunk + 500])))]
            mine = Case.id.in_(ids)
            states = dict(s.execute(select(Case.state, func.count()).where(mine).group_by(Case.state)).all())
            if states != {"closed": expected_cases}:
                problems.append(f"case states {states}, expected {{'closed': {expected_cases}}}")
            events = dict(s.execute(select(CaseEvent.case_id, func.count()).where(CaseEvent.case_id.in_(ids))
                                    .group_by(CaseEvent.case_id)).all())
            wrong = sum(1 for i in ids if events.get(i) != EVENTS_PER_CASE)
            if wrong:
                problems.append(f"{wrong} cases do not have exactly {EVENTS_PER_CASE} events")
            derived = dict(s.execute(select(CaseEvent.case_id, func.count())
                                     .join(EventDerivation, EventDerivation.event_id == CaseEvent.id)
                                     .where(CaseEvent.case_id.in_(ids)).group_by(CaseEvent.case_id)).all())
            timers = dict(s.execute(select(Timer.case_id, func.count()).where(Timer.case_id.in_(ids))
                                    .group_by(Timer.case_id)).all())
            notices = dict(s.execute(select(OutboxMessage.case_id, func.count())
                                     .where(OutboxMessage.case_id.in_(ids), OutboxMessage.topic == "notify")
                                     .group_by(OutboxMessage.case_id)).all())
            steps = {r.case_id: r for r in s.scalars(select(CaseSteps).where(CaseSteps.case_id.in_(ids)))}
        milestones = ("intake_at", "decision_at", "shipped_at", "received_at", "inspected_at", "resolved_at",
                      "closed_at")
        shapes = Counter((derived.get(i, 0), timers.get(i, 0), notices.get(i, 0),
                          tuple(getattr(steps[i], m) is not None for m in milestones) if i in steps else None)
                         for i in ids)
        (want, _n), = shapes.most_common(1) or [((0, 0, 0, None), 0)]
        if want[0] != EVENTS_PER_CASE or not want[1] or not want[2] or want[3] != (True,) * len(milestones):
            problems.append(f"the usual case has derived rows {want} (derived events, timers, notices, rollup)")
        odd = sum(n for shape, n in shapes.items() if shape != want)
        if odd:
            problems.append(f"{odd} cases differ in their derived rows: {dict(shapes)}")
    finally:
        db.dispose()
    return problems


N_COUNTED = 20  # cases walked in-process after the timed run, counting SQL statements


def count_statements(url: str, seeded: Seeded, orders: list[str]) -> dict[str, float]:
    """SQL statements per request of each kind (and their mean), over `orders` walked through the same service
    calls the API makes (server-side, in this process: the server's own statements are not visible from here)."""
    from sqlalchemy import event

    from returnflow.auth.service import actor_for_token
    from returnflow.bootstrap import bootstrap
    from returnflow.cases import service
    from returnflow.cases.schemas import CaseCreate
    from returnflow.cases.views import present
    from returnflow.db import Database

    from returnflow import derive

    bootstrap()  # every side effect, as in the server (returnflow/bootstrap.py)
    os.environ["RETURNFLOW_DERIVE"] = "worker"  # the request's own statements; its derivation is counted apart
    derive.get_derive_settings.cache_clear()

    db = Database(url)
    counts: Counter[str] = Counter()
    current = ["-"]

    def count(*_args) -> None:
        counts[current[0]] += 1

    try:
        actors = {role: actor_for_token(db.reader, token) for role, token in seeded.tokens.items()}
        event.listen(db.engine, "before_cursor_execute", count)
        for order in orders:
            current[0] = "open"
            with db.transaction() as session:
                case = service.open_case(session, actor=actors["agent"], data=CaseCreate(
                    order=order, type="return_refund", channel="portal", reason="wrong_size", description="bench",
                    lines=[{"line_no": 1, "quantity": 1}]))
                present(session, [case], actors["agent"])
            for action, role, payload in STEPS:
                current[0] = action
                if action == "ship_return":  # each parcel its own waybill, as in the timed run
                    payload = {**payload, "tracking_number": f"SF{case.number[2:]}"}
                with db.transaction() as session:
                    case = service.act(session, actor=actors[role], number=case.number, action=action,
                                       version=case.version, payload=payload)
                    present(session, [case], actors[role])
        current[0] = "derive"
        events = 0
        while True:
            done = derive.derive_batch(db.engine, limit=500).events
            events += done
            if not done:
                break
    finally:
        db.dispose()
    n = max(len(orders), 1)
    per = {kind: counts[kind] / n for kind in REQUEST_TYPES}
    per["mean"] = sum(counts[k] for k in REQUEST_TYPES) / (n * len(REQUEST_TYPES))
    per["derivation per event"] = counts["derive"] / max(events, 1)
    return per


def floor_rows(url: str) -> int:
    from sqlalchemy import text

    from returnflow.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM bench_floor_items")).scalar_one()
    finally:
        engine.dispose()


# ---- one database ------------------------------------------------------------------------------------------------

@dataclass
class ModeResult:
    mode: str
    rps: float = 0.0
    cases_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    open_p99_ms: float = 0.0
    cpu_ms: float = 0.0
    worker_cpu_ms: float = 0.0
    lag_p50_ms: float = 0.0
    lag_p99_ms: float = 0.0


@dataclass
class Result:
    name: str
    floor_rps: float = 0.0
    floor_cpu_ms: float = 0.0
    modes: list[ModeResult] = field(default_factory=list)
    statements: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report_errors(label: str, tally: Tally, result: Result) -> None:
    if tally.failed:
        result.problems.append(f"{label}: {tally.failed} failed requests {dict(tally.errors)}")
        for sample in tally.samples:
            log(f"  ! {sample}")


def bench_database(name: str, url: str, workdir: Path) -> Result:
    result = Result(name)
    log(f"== {name}: seeding {len(MODES) * (N_CASES + N_WARMUP) + N_COUNTED} orders")
    t0 = time.perf_counter()
    seeded = seed(url, len(MODES) * (N_CASES + N_WARMUP) + N_COUNTED)
    log(f"   seeded in {time.perf_counter() - t0:.1f}s")

    # FLOOR: the minimal app on the same kind of database, same client, same concurrency.
    floor_url = f"sqlite:///{(workdir / 'floor.db').as_posix()}" if name == "sqlite" else url
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    with server(f"floor-{name}", argv, {"FLOOR_DATABASE_URL": floor_url}, port, workdir) as proc:
        base = f"http://127.0.0.1:{port}"
        warm = min(1000, FLOOR_REQUESTS)
        warm_tally, _ = asyncio.run(drive_floor(base, warm, CONCURRENCY))
        report_errors("floor warm-up", warm_tally, result)
        with CpuMeter(proc.pid) as floor_cpu:
            tally, elapsed = asyncio.run(drive_floor(base, FLOOR_REQUESTS, CONCURRENCY, FLOOR_BUDGET, start=warm))
    report_errors("floor", tally, result)
    result.floor_rps = tally.ok / elapsed
    rows = floor_rows(floor_url)
    if rows != warm_tally.ok + tally.ok:
        result.problems.append(f"floor: {rows} rows, expected {warm_tally.ok + tally.ok}")
    lat = tally.latencies["insert"]
    log(f"   floor: {tally.ok} inserts{' (cut by the time budget)' if tally.cut else ''} in {elapsed:.2f}s = {result.floor_rps:,.0f} req/s, "
        f"p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms")
    log(f"   floor {floor_cpu.line(tally.ok)}")
    result.floor_cpu_ms = 1000 * floor_cpu.server / max(tally.ok, 1)

    # The product, twice: derivation in `worker` mode, the worker first as a separate `returnflow worker` process
    # (as at scale), then inside `serve` (a thread beside the API).
    per_mode = N_WARMUP + N_CASES
    for k, mode in enumerate(MODES):
        orders = seeded.orders[k * per_mode:(k + 1) * per_mode]
        result.modes.append(run_mode(name, url, workdir, seeded, orders, mode, result))
    result.statements = count_statements(url, seeded, seeded.orders[len(MODES) * per_mode:])
    log("   SQL statements per request (in-process, the same service calls as the API; derivation in worker mode, "
        "so the request's own): " + ", ".join(f"{kind} {n:.1f}" for kind, n in result.statements.items()))
    for problem in result.problems:
        log(f"   PROBLEM: {problem}")
    for m in result.modes:
        log(f"lifecycle {name} ({m.mode}): {m.rps:,.0f} req/s = {100 * m.rps / result.floor_rps:.0f}% of floor "
            f"({result.floor_rps:,.0f} req/s), {m.cases_per_s:,.0f} cases/s, p50 {m.p50_ms:.2f} ms, "
            f"p99 {m.p99_ms:.2f} ms, open p99 {m.open_p99_ms:.1f} ms; server CPU {m.cpu_ms:.2f} ms/request "
            f"(floor {result.floor_cpu_ms:.2f}), worker CPU {m.worker_cpu_ms:.2f} ms/request; "
            f"derivation lag p50 {m.lag_p50_ms:.0f} ms, p99 {m.lag_p99_ms:.0f} ms; "
            f"{result.statements.get('mean', float('nan')):.1f} SQL statements/request")
    return result


def run_mode(name: str, url: str, workdir: Path, seeded: Seeded, orders: list[str], mode: str,
             result: Result) -> ModeResult:
    """One timed lifecycle run of `returnflow serve` with derivation in worker mode; `mode`: "separate" (serve
    --no-worker and one `returnflow worker` process) or "in serve" (serve's own worker: a thread on SQLite, a process
    it starts on PostgreSQL)."""
    out = ModeResult(mode)
    port = free_port()
    argv = returnflow_command() + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                   "--log-level", "warning"] + (["--no-worker"] if mode == "separate" else [])
    env = {"RETURNFLOW_DATABASE_URL": url, "RETURNFLOW_DATA_DIR": str(workdir / "data"), "RETURNFLOW_DERIVE": "worker",
           "RETURNFLOW_WORKER_POLL_SECONDS": WORKER_POLL}
    n_workers = (PG_WORKERS if name == "postgres" else 1) if mode == "separate" else 0
    out.mode = f"{n_workers} separate worker{'s' if n_workers > 1 else ''}" if n_workers else mode
    mode = out.mode
    with server(f"returnflow-{name}-{mode.replace(' ', '-')}", argv, env, port, workdir) as proc, \
            worker_processes(name, env, workdir, n_workers) as workers:
        base = f"http://127.0.0.1:{port}"
        warm_tally, _ = asyncio.run(drive_lifecycle(base, seeded, orders[:N_WARMUP], CONCURRENCY))
        report_errors(f"{mode}: warm-up", warm_tally, result)
        # The workers are up and caught up before the timed run: the warm-up (a second or so) can end before a worker
        # process has finished starting (its imports), and the timed run's first events then waited for it.
        wait_derived(url)
        # The lag is the timed run's.
        first_event = last_event_id(url)
        profile_out = Path(PROFILE_DIR).resolve() / f"returnflow-{name}-{mode}.txt" if PROFILE_DIR else None
        if profile_out:
            profile_out.parent.mkdir(parents=True, exist_ok=True)
            profile_out.unlink(missing_ok=True)
        # With the worker inside serve: on PostgreSQL serve runs it as a process of its own (its CPU is the worker's).
        worker_pids = [w.pid for w in workers] + (serve_workers(proc.pid) if not workers else [])
        worker_cpu0 = sum(process_cpu(pid) for pid in worker_pids)
        with (pyspy(proc.pid, profile_out) if profile_out else _nothing()), CpuMeter(proc.pid) as cpu:
            tally, elapsed = asyncio.run(drive_lifecycle(base, seeded, orders[N_WARMUP:], CONCURRENCY,
                                                         LIFECYCLE_BUDGET))
        worker_cpu = sum(process_cpu(pid) for pid in worker_pids) - worker_cpu0
        report_errors(f"{mode}: lifecycle", tally, result)
        sample = random.Random(7).sample(tally.numbers, min(25, len(tally.numbers)))
        result.problems += asyncio.run(check_via_api(base, seeded, sample))
        waited = wait_derived(url)
    numbers = warm_tally.numbers + tally.numbers
    if len(numbers) < len(orders) and not tally.cut:
        result.problems.append(f"{mode}: only {len(numbers)} of {len(orders)} cases were opened")
    result.problems += [f"{mode}: {p}" for p in check_in_database(url, numbers)]
    out.lag_p50_ms, out.lag_p99_ms = derivation_lags(url, first_event)

    closed = len(tally.latencies["close"]) - sum(n for (k, _), n in tally.errors.items() if k == "close")
    out.rps = tally.ok / elapsed
    out.cases_per_s = closed / elapsed
    every = [v for values in tally.latencies.values() for v in values]
    out.p50_ms, out.p99_ms = pct(every, .5), pct(every, .99)
    out.open_p99_ms = pct(tally.latencies["open"], .99)
    cut = f" (time budget: {len(tally.numbers)} of {len(orders) - N_WARMUP} cases)" if tally.cut else ""
    log(f"   {mode}: {len(tally.numbers)} cases{cut}, {tally.ok} requests ok, {tally.failed} failed, in "
        f"{elapsed:.2f}s (concurrency {CONCURRENCY}{', Idempotency-Key on every write' if IDEMPOTENCY else ''}); "
        f"everything derived {waited:.1f}s after the last request")
    log(f"   {mode}: {cpu.line(tally.ok)}")
    out.cpu_ms = 1000 * cpu.server / max(tally.ok, 1)
    out.worker_cpu_ms = 1000 * worker_cpu / max(tally.ok, 1)
    log(f"   {mode}: server CPU per request {out.cpu_ms:.3f} ms vs floor {result.floor_cpu_ms:.3f} ms "
        f"= {result.floor_cpu_ms / out.cpu_ms:.0%} of floor by CPU (less sensitive to other load)"
        + (f"; the worker processes {out.worker_cpu_ms:.3f} ms per request" if worker_pids else ""))
    log(f"   {'request':<12}{'count':>7}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind in REQUEST_TYPES:
        lat = tally.latencies[kind]
        log(f"   {kind:<12}{len(lat):>7}{pct(lat, .5):>9.2f}{pct(lat, .9):>9.2f}{pct(lat, .99):>9.2f}"
            f"{max(lat) * 1000 if lat else float('nan'):>9.2f}")
    log(f"   derivation lag (event written -> all its derived rows written): p50 {out.lag_p50_ms:.0f} ms, "
        f"p99 {out.lag_p99_ms:.0f} ms")
    if profile_out:
        summarise_profile(profile_out)
    return out


def serve_workers(pid: int) -> list[int]:
    """The `returnflow worker` processes `returnflow serve` (pid) started itself (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            if b"worker" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                found.append(int(child))
    return found


@contextmanager
def worker_processes(name: str, env: dict[str, str], workdir: Path, n: int):
    """`n` `returnflow worker` processes beside the server (terminated at the end of the block)."""
    procs = []
    try:
        for k in range(n):
            with open(workdir / f"worker-{name}-{k}.log", "wb") as out:
                procs.append(subprocess.Popen(returnflow_command() + ["worker", "--report-every", "3600"],
                                              env={**os.environ, **env}, cwd=workdir, stdout=out,
                                              stderr=subprocess.STDOUT))
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def last_event_id(url: str) -> int:
    from sqlalchemy import func, select

    from returnflow.cases.models import CaseEvent
    from returnflow.db import Database

    db = Database(url)
    try:
        with db.read() as s:
            return s.scalar(select(func.max(CaseEvent.id))) or 0
    finally:
        db.dispose()


def wait_derived(url: str, timeout: float = 60.0) -> float:
    """Seconds until no event is left to derive (the workers catch up after the last request)."""
    from returnflow import derive
    from returnflow.db import Database

    db = Database(url)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < timeout:
            with db.read() as s:
                if derive.backlog(s)["underived"] == 0:
                    break
            time.sleep(0.1)
    finally:
        db.dispose()
    return time.perf_counter() - t0


def derivation_lags(url: str, after_event: int) -> tuple[float, float]:
    """p50 and p99 (ms) of event written -> derived, over the events after `after_event`."""
    from sqlalchemy import select

    from returnflow.cases.models import CaseEvent
    from returnflow.db import Database
    from returnflow.derive import EventDerivation

    db = Database(url)
    try:
        with db.read() as s:
            rows = s.execute(select(CaseEvent.created_at, EventDerivation.derived_at)
                             .join(EventDerivation, EventDerivation.event_id == CaseEvent.id)
                             .where(CaseEvent.id > after_event)).all()
    finally:
        db.dispose()
    lags = [(d - c).total_seconds() for c, d in rows]
    return pct(lags, .5), pct(lags, .99)


@contextmanager
def _nothing():
    yield None


def run_sqlite() -> Result:
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{(workdir / 'data' / 'returnflow.db').as_posix()}"
        return bench_database("sqlite", url, workdir)


def run_postgres() -> Result:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL unreachable at {PG_ADMIN.rsplit('@', 1)[-1]}: {str(exc).strip().splitlines()[0]}"
        log(f"== postgres: skipped ({reason})")
        return Result("postgres", skipped=reason)
    name = f"rf_bench_{uuid.uuid4().hex[:10]}"
    host_part = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    url = f"postgresql+psycopg://{host_part}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
            return bench_database("postgres", url, Path(tmp))
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - the venv has it through uvicorn[standard]
        pass
    started = time.perf_counter()
    load = os.getloadavg()
    log(f"returnflow lifecycle bench: {N_CASES} cases (+{N_WARMUP} warm-up) per database, "
        f"{len(REQUEST_TYPES)} requests per case, concurrency {CONCURRENCY}, floor {FLOOR_REQUESTS} inserts, "
        f"{os.cpu_count()} CPUs shared by client and server; load average before: {load[0]:.2f}")
    runners = {"sqlite": run_sqlite, "postgres": run_postgres}
    results = []
    for name in DATABASES:
        if name not in runners:
            raise SystemExit(f"unknown database {name!r}; choose from {', '.join(runners)}")
        try:
            results.append(runners[name]())
        except Exception as exc:  # a crash is a failed run, reported, not a traceback lost in the middle
            log(f"== {name}: FAILED: {type(exc).__name__}: {exc}")
            results.append(Result(name, problems=[f"{type(exc).__name__}: {exc}"]))
    log(f"total {time.perf_counter() - started:.0f}s")
    parts = []
    for r in results:
        if r.skipped:
            parts.append(f"{r.name} skipped ({r.skipped})")
        elif r.floor_rps and r.modes and all(m.rps for m in r.modes):
            modes = ", ".join(f"{m.mode}: {m.rps:,.0f} req/s = {100 * m.rps / r.floor_rps:.0f}%, lag p50/p99 "
                              f"{m.lag_p50_ms:.0f}/{m.lag_p99_ms:.0f} ms, open p99 {m.open_p99_ms:.0f} ms"
                              for m in r.modes)
            parts.append(f"{r.name} floor {r.floor_rps:,.0f} req/s; {modes}; "
                         f"{r.statements.get('mean', float('nan')):.1f} SQL/request (+"
                         f"{r.statements.get('derivation per event', float('nan')):.1f}/event derived)"
                         + (" [WITH ERRORS]" if r.problems else ""))
        else:
            parts.append(f"{r.name} failed")
    log(f"load average after: {os.getloadavg()[0]:.2f}")
    log("lifecycle: " + "; ".join(parts))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
