#!/usr/bin/env python
"""Refunds executed per second, end to end, through the manual, HTTP, WeChat Pay and Alipay gateways of a real
`returnflow serve`.

    .venv/bin/python bench/refunds.py

For SQLite (a fresh temporary folder) and PostgreSQL (a fresh database on 127.0.0.1:5432, dropped at the end;
skipped with the reason when unreachable):
1. seeds a merchant, staff tokens and 4N delivered orders (alipay or wechat + points) with a refund-only case
   each, approved (state `resolving`), through the product's own services;
2. starts the fake payment provider (tests/support/fake_pay.py) and `returnflow serve` on loopback; the provider
   delivers its signed webhooks to the server;
3. MANUAL: N cases, CONCURRENCY clients: POST /cases/{n}/refunds (alipay leg to the manual gateway, points leg
   settled on the ledger) → POST /refund-payments/{leg}/mark-paid;
4. HTTP: N cases: POST /cases/{n}/refunds → POST /refunds/{r}/execute; the clock stops when the last webhook has
   completed its refund;
5. WECHATPAY and ALIPAY (bench/refunds_providers.py): N cases each through the fake WeChat Pay (signed requests,
   signed answers, encrypted notifications carried to the server) and the fake Alipay (RSA2 both ways, settled
   by the answer);
6. checks every case is `resolved`, every refund `completed`, one settlement voucher per leg, the provider created
   exactly one refund per leg it was sent, and debits equal credits. Any error fails the run;
7. FLOOR, in the same run: bench/floor_app.py (one POST, one INSERT, same stack) on the same kind of database with
   the same clients, as bench/lifecycle.py does. The last line is the headline:
   `refunds sqlite: N refunds/s = X% of floor (M/s); refunds postgres: ...` — N is every refund of the four
   gateways over their summed time; a refund is two or more requests, the floor one.

Orders are dated relative to the run (delivered 1 day ago), so it runs whatever the date.

Environment: RF_BENCH_REFUNDS=200 (per gateway and database), RF_BENCH_CONCURRENCY=8, RF_BENCH_FLOOR_REQUESTS=3000,
RF_BENCH_DATABASES=sqlite,postgres, RF_BENCH_PG_ADMIN=postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import lifecycle
import refunds_providers as providers

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "support" / "fake_pay.py"
N = int(os.environ.get("RF_BENCH_REFUNDS", "200"))
CONCURRENCY = int(os.environ.get("RF_BENCH_CONCURRENCY", "8"))
DATABASES = [d.strip() for d in os.environ.get("RF_BENCH_DATABASES", "sqlite,postgres").split(",") if d.strip()]
PG_ADMIN = os.environ.get("RF_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
FLOOR_REQUESTS = int(os.environ.get("RF_BENCH_FLOOR_REQUESTS", "3000"))


def log(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, count: int, wechat_from: int | None = None) -> tuple[dict[str, str], list[str]]:
    """Merchant, tokens per role, and `count` approved refund-only cases; returns (tokens, case numbers)."""
    from returnflow.actor import Actor
    from returnflow.auth.service import create_user, issue_token
    from returnflow.bootstrap import bootstrap
    from returnflow.cases.schemas import CaseCreate, CaseLineCreate
    from returnflow.cases.service import act, open_case
    from returnflow.db import Database
    from returnflow.merchants.models import Merchant
    from returnflow.orders.records import CustomerRecord, LineRecord, OrderRecord
    from returnflow.orders.service import upsert_orders
    from returnflow.schema import migrate

    bootstrap()  # every side effect, as in the server (returnflow/bootstrap.py)

    db = Database(url)
    migrate(db)
    tokens, actors = {}, {}
    with db.transaction() as session:
        merchant = Merchant(code="bench", name="Bench shop", default_currency="CNY")
        session.add(merchant)
        session.flush()
        for role in ("agent", "finance", "admin"):
            user = create_user(session, email=f"{role}@bench.test", name=role, role=role, merchant_id=merchant.id,
                               password=None)
            tokens[role] = issue_token(session, user=user)
            actors[role] = Actor(kind="staff", role=role, merchant_id=merchant.id, user_id=user.id, name=role)
        merchant_id = merchant.id
    when = datetime.now(timezone.utc) - timedelta(days=3)  # within the 7-day no-reason window whenever it runs
    orders = [OrderRecord(number=f"B-{i}", currency="CNY", customer=CustomerRecord(external_id=f"C-{i % 50}"),
                          discount=500, shipping_fee=800, paid_total=19_900 + 3_550 - 500 + 800,
                          payments=[{"method": "wechat" if wechat_from is not None and i >= wechat_from
                                     else "alipay", "amount": 22_750, "reference": f"PAY-{i}"},
                                    {"method": "points", "amount": 1_000}],
                          ordered_at=when, delivered_at=when + timedelta(days=2),
                          lines=[LineRecord(1, "SKU-A", "Kettle", "general", 9_950, 2, 2),
                                 LineRecord(2, "SKU-B", "Filter", "general", 3_550, 1, 1)]) for i in range(count)]
    with db.transaction() as session:
        upsert_orders(session, merchant_id=merchant_id, orders=orders)
    numbers = []
    for i in range(count):
        with db.transaction() as session:
            case = open_case(session, actor=actors["agent"], data=CaseCreate(
                order=f"B-{i}", type="refund_only", lines=[CaseLineCreate(line_no=1, quantity=1)]))
            if case.state != "resolving":  # within the no-reason window the policy approves it on opening
                act(session, actor=actors["agent"], number=case.number, action="approve", version=case.version,
                    payload={})
            numbers.append(case.number)
    db.dispose()
    return tokens, numbers


def start_fake(webhook_url: str) -> tuple[subprocess.Popen, str, str, str]:
    api_key, secret = secrets.token_hex(8), secrets.token_hex(16)
    proc = subprocess.Popen([sys.executable, str(FAKE), "--api-key", api_key, "--secret", secret,
                             "--webhook-url", webhook_url], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, f"http://127.0.0.1:{int(line.split()[1])}", api_key, secret


def start_server(url: str, port: int, pay_url: str, api_key: str, secret: str, data_dir: str) -> subprocess.Popen:
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": url, "RETURNFLOW_DATA_DIR": data_dir,
           "RETURNFLOW_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",  # the fake providers listen on loopback
           "RETURNFLOW_PAY_HTTP_URL": pay_url, "RETURNFLOW_PAY_HTTP_API_KEY": api_key,
           "RETURNFLOW_PAY_HTTP_WEBHOOK_SECRET": secret}
    proc = subprocess.Popen([sys.executable, "-m", "returnflow.cli", "serve", "--port", str(port),
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


async def run_phase(base: str, tokens: dict, cases: list[str], gateway: str) -> tuple[float, list[str]]:
    errors: list[str] = []
    queue: asyncio.Queue = asyncio.Queue()
    for number in cases:
        queue.put_nowait(number)
    agent = {"Authorization": f"Bearer {tokens['admin']}"}
    finance = {"Authorization": f"Bearer {tokens['finance']}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            async with session.post(f"{base}/api/v1/cases/{number}/refunds", json={}, headers=agent) as r:
                body = await r.json()
                if r.status != 201:
                    errors.append(f"refund {number}: {r.status} {body}")
                    continue
            if gateway == "manual":
                leg = next(p["number"] for p in body["payments"] if p["destination"] == "gateway")
                async with session.post(f"{base}/api/v1/refund-payments/{leg}/mark-paid",
                                        json={"reference": f"BANK-{leg}"}, headers=finance) as r:
                    if r.status != 200:
                        errors.append(f"mark-paid {leg}: {r.status} {await r.text()}")
            else:
                async with session.post(f"{base}/api/v1/refunds/{body['number']}/execute", headers=finance) as r:
                    if r.status != 200:
                        errors.append(f"execute {body['number']}: {r.status} {await r.text()}")

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return start, errors


def wait_resolved(url: str, cases: list[str], timeout: float = 120) -> float:
    from sqlalchemy import func, select

    from returnflow.cases.models import Case
    from returnflow.db import Database

    db = Database(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with db.read() as s:
                done = s.scalar(select(func.count()).select_from(Case).where(Case.number.in_(cases),
                                                                             Case.state == "resolved"))
            if done == len(cases):
                return time.perf_counter()
            time.sleep(0.05)
    finally:
        db.dispose()
    raise RuntimeError(f"only {done} of {len(cases)} cases resolved in {timeout}s")


def check(url: str, fake_url: str, http_cases: int) -> list[str]:
    import json
    import urllib.request

    from sqlalchemy import func, select

    from returnflow.db import Database
    from returnflow.refunds.models import Refund, RefundPayment, Voucher, VoucherLine

    problems = []
    db = Database(url)
    with db.read() as s:
        states = dict(s.execute(select(Refund.state, func.count()).group_by(Refund.state)).all())
        legs = s.scalar(select(func.count()).select_from(RefundPayment))
        settled = s.scalar(select(func.count()).select_from(Voucher).where(Voucher.kind == "refund_settlement"))
        debit, credit = s.execute(select(func.sum(VoucherLine.debit), func.sum(VoucherLine.credit))).one()
    db.dispose()
    if set(states) != {"completed"}:
        problems.append(f"refund states {states}")
    if settled != legs:
        problems.append(f"{settled} settlement vouchers for {legs} legs")
    if debit != credit:
        problems.append(f"debits {debit} != credits {credit}")
    with urllib.request.urlopen(fake_url + "/_test/stats") as r:
        created = json.loads(r.read())["created"]
    if created != http_cases:
        problems.append(f"provider created {created} refunds for {http_cases} HTTP refunds")
    return problems


def floor(kind: str, url: str, tmp: str) -> float:
    """Inserts/s of bench/floor_app.py on the same kind of database, with the same number of clients."""
    floor_url = f"sqlite:///{tmp}/floor.db" if kind == "sqlite" else url
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(ROOT / "bench"), "--host",
            "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    with lifecycle.server(f"floor-{kind}", argv, {"FLOOR_DATABASE_URL": floor_url}, port, Path(tmp)):
        base = f"http://127.0.0.1:{port}"
        warm = min(500, FLOOR_REQUESTS)
        warm_tally, _ = asyncio.run(lifecycle.drive_floor(base, warm, CONCURRENCY))
        tally, elapsed = asyncio.run(lifecycle.drive_floor(base, FLOOR_REQUESTS, CONCURRENCY, 15.0, start=warm))
    if warm_tally.errors or tally.errors or lifecycle.floor_rows(floor_url) != warm_tally.ok + tally.ok:
        raise SystemExit(f"[{kind}] floor FAILED: {dict(warm_tally.errors + tally.errors)}")
    rate = tally.ok / elapsed
    log(f"[{kind}] floor: {tally.ok} inserts in {elapsed:.2f}s = {rate:.0f}/s")
    return rate


def bench(kind: str) -> tuple[float, ...]:
    tmp = tempfile.mkdtemp(prefix="rf_bench_refunds_")
    pg_name = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp}/bench.db"
    else:
        import psycopg

        pg_name = f"rf_bench_refunds_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"postgresql+psycopg://{PG_ADMIN.split('://', 1)[1].rsplit('/', 1)[0]}/{pg_name}"
    floor_rate = floor(kind, url, tmp)
    t0 = time.perf_counter()
    tokens, cases = seed(url, 4 * N, wechat_from=3 * N)
    log(f"[{kind}] seeded {len(cases)} approved refund-only cases in {time.perf_counter() - t0:.1f}s")
    port = free_port()
    fake, fake_url, api_key, secret = start_fake(f"http://127.0.0.1:{port}/api/v1/money/webhooks/http")
    server = start_server(url, port, fake_url, api_key, secret, tmp)
    base = f"http://127.0.0.1:{port}"
    fakes = providers.start(tmp)
    try:
        import urllib.request

        req = urllib.request.Request(f"{base}/api/v1/money/settings", method="PUT",
                                     data=b'{"gateways": {"alipay": "http"}, "default_gateway": "manual"}',
                                     headers={"Authorization": f"Bearer {tokens['admin']}",
                                              "Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
        # manual first: the merchant setting is read per refund, so switch it between the phases
        req_manual = urllib.request.Request(f"{base}/api/v1/money/settings", method="PUT",
                                            data=b'{"default_gateway": "manual"}',
                                            headers={"Authorization": f"Bearer {tokens['admin']}",
                                                     "Content-Type": "application/json"})
        urllib.request.urlopen(req_manual).read()
        manual, http = cases[:N], cases[N:2 * N]
        start, errors = asyncio.run(run_phase(base, tokens, manual, "manual"))
        end = wait_resolved(url, manual)
        busy = end - start  # seconds the four gateways took, summed
        manual_rate = len(manual) / (end - start)
        log(f"[{kind}] manual: {len(manual)} refunds (refund + mark-paid) in {end - start:.2f}s = "
            f"{manual_rate:.0f} refunds/s")
        urllib.request.urlopen(req).read()
        start, more = asyncio.run(run_phase(base, tokens, http, "http"))
        errors += more
        end = wait_resolved(url, http)
        busy += end - start
        http_rate = len(http) / (end - start)
        log(f"[{kind}] http: {len(http)} refunds (refund + execute + signed webhook) in {end - start:.2f}s = "
            f"{http_rate:.0f} refunds/s")
        providers.configure(base, tokens["admin"], fakes)
        rates = {}
        for name, chunk in (("alipay", cases[2 * N:3 * N]), ("wechatpay", cases[3 * N:])):
            courier = providers.Courier(fakes[name], base, "bench")
            start, more = asyncio.run(run_phase(base, tokens, chunk, name))
            errors += more
            end = wait_resolved(url, chunk)
            outcomes = courier.stop()
            busy += end - start
            rates[name] = len(chunk) / (end - start)
            log(f"[{kind}] {name}: {len(chunk)} refunds (refund + execute + signed answer"
                f"{' + encrypted notification' if name == 'wechatpay' else ''}) in {end - start:.2f}s = "
                f"{rates[name]:.0f} refunds/s; notifications {outcomes}")
            if providers.created(fakes[name]) != len(chunk):
                errors.append(f"{name} created {providers.created(fakes[name])} refunds for {len(chunk)}")
        problems = errors + check(url, fake_url, len(http))
        if problems:
            raise SystemExit(f"[{kind}] FAILED: {problems[:5]}")
        log(f"[{kind}] checks: all refunds completed, one settlement voucher per leg, one provider refund per "
            "refund sent, books balance")
        return manual_rate, http_rate, rates["wechatpay"], rates["alipay"], len(cases) / busy, floor_rate
    finally:
        for fake_provider in fakes.values():
            fake_provider.stop()
        server.terminate()
        fake.terminate()
        server.wait(timeout=30)
        fake.wait(timeout=30)
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def main() -> None:
    results = {}
    for kind in DATABASES:
        if kind == "postgres":
            try:
                import psycopg

                psycopg.connect(PG_ADMIN, connect_timeout=3).close()
            except Exception as exc:  # noqa: BLE001
                log(f"[postgres] skipped: {exc}")
                continue
        results[kind] = bench(kind)
    log(f"{N} refunds per gateway, {CONCURRENCY} clients, 2-leg refunds (alipay or wechat + points)")
    log("refunds/s end to end: " + "; ".join(f"{k}: manual {m:.0f}, http {h:.0f}, wechatpay {w:.0f}, alipay {a:.0f}"
                                             for k, (m, h, w, a, _, _) in results.items()))
    log("; ".join(f"refunds {k}: {total:.0f} refunds/s = {100 * total / fl:.0f}% of floor ({fl:.0f}/s)"
                  for k, (_, _, _, _, total, fl) in results.items()))


if __name__ == "__main__":
    main()
