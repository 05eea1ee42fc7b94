#!/usr/bin/env python
"""Generates a history for the analytics bench: 1,000,000 cases with about 5,000,000 events.

    .venv/bin/python bench/analytics_data.py sqlite:////tmp/rf-analytics.db [--cases 1000000]

10 merchants, 2,000,000 one-line orders over the last 730 days (200 SKUs per merchant in 20 categories from 25
suppliers, 20,000 customers each), and one return case for every other order, opened 2-20 days after it, with
reasons drawn from the default taxonomy. Cases run the real workflow's paths with realistic step times: 45%
complete a return (open, approve, ship_return, receive, inspect, resolve, close), 30% are refund-only (open,
approve, resolve, close), 10% are rejected and closed, and the cases of the last 30 days are still open in the
state their age gives them. The rows are written in bulk (executemany on SQLite, COPY on PostgreSQL) on a schema
made by the migrations, so the indexes are the product's own. Deterministic: the same seed gives the same rows.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import text

from returnflow.db import Database
from returnflow.schema import migrate

MERCHANTS = 10
SKUS = 200
CUSTOMERS = 20_000
DAYS = 730
REASONS = ["quality_issue", "not_as_described", "wrong_size", "wrong_item", "damaged_in_transit", "no_reason_7day",
           "changed_mind", "defect_after_use", "missing_item", "not_received"]
COUNTRIES = ["CN", "CN", "CN", "CN", "HK", "TW", "SG", "US", "DE", "GB"]
CHANNELS = ["tmall", "jd", "app", "web"]
CHUNK = 100_000  # cases generated and written at a time, so memory stays flat
HOUR = 3600.0
DAY = 86400.0


_DAYS: dict[int, str] = {}


def _ts_sqlite(t: float) -> str:
    """The text SQLAlchemy stores for a UTC datetime on SQLite, made without strftime (millions of calls)."""
    d, rest = divmod(t, 86400.0)
    day = _DAYS.get(int(d))
    if day is None:
        day = _DAYS[int(d)] = datetime.fromtimestamp(int(d) * 86400, timezone.utc).strftime("%Y-%m-%d")
    whole = int(rest)
    h, r = divmod(whole, 3600)
    m, sec = divmod(r, 60)
    return f"{day} {h:02d}:{m:02d}:{sec:02d}.{int((rest - whole) * 1e6):06d}"


def _ts_pg(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


class Writer:
    """Bulk rows into one table: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pg = db.dialect == "postgresql"
        self.ts = _ts_pg if self.pg else _ts_sqlite
        self.json_empty = "{}"

    def write(self, table: str, columns: list[str], rows) -> int:
        count = 0
        raw = self.db.engine.raw_connection()
        try:
            if self.pg:
                cur = raw.cursor()
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                # A bench load, not production: no fsync per commit, a large page cache.
                raw.driver_connection.execute("PRAGMA synchronous=OFF")
                raw.driver_connection.execute("PRAGMA cache_size=-400000")
                raw.driver_connection.execute("BEGIN")
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                batch = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 50_000:
                        raw.driver_connection.executemany(sql, batch)
                        count += len(batch)
                        batch.clear()
                raw.driver_connection.executemany(sql, batch)
                count += len(batch)
            raw.driver_connection.commit()
        finally:
            raw.close()
        return count


def _write_cases(w: Writer, counts: dict, case_rows: list, line_rows: list, event_rows: list) -> None:
    counts["cases"] += w.write("cases", ["id", "merchant_id", "number", "order_id", "customer_id", "type", "channel",
                                        "state", "reason_code", "description", "desired_outcome", "advance",
                                        "needs_return", "holds_quantity", "escalation_level", "reopen_count",
                                        "currency", "claimed_amount", "version", "created_by", "created_at",
                                        "updated_at", "closed_at"], case_rows)
    counts["case_lines"] += w.write("case_lines", ["id", "case_id", "order_line_id", "quantity", "reason_code",
                                                  "received_quantity", "accepted_quantity", "inspection"],
                                   line_rows)
    counts["case_events"] += w.write("case_events", ["id", "case_id", "seq", "action", "from_state", "to_state",
                                                    "actor_kind", "actor_role", "actor_name", "payload", "created_at"],
                                    event_rows)


TABLES = ("customers", "products", "orders", "order_lines", "cases", "case_lines", "case_events")


def _drop_indexes(db: Database) -> list[str]:
    """Drops the secondary indexes of the bulk tables (built once at the end instead); returns how to rebuild."""
    names = ", ".join(f"'{t}'" for t in TABLES)
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            found = conn.execute(text(
                f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({names}) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)")).all()
        else:
            found = conn.execute(text(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({names})")).all()
        for name, _ in found:
            conn.execute(text(f"DROP INDEX {name}"))
    return [sql for _, sql in found]


def generate(url: str, cases: int = 1_000_000, seed: int = 8, now: datetime | None = None, log=print) -> dict:
    """Fills an empty database at `url`; returns the row counts."""
    rnd = random.Random(seed)
    db = Database(url)
    migrate(db)
    w = Writer(db)
    ts = w.ts
    rebuild = _drop_indexes(db)
    now_t = (now or datetime.now(timezone.utc)).timestamp()
    start_t = now_t - DAYS * DAY
    orders = cases * 2
    started = time.perf_counter()
    counts: dict[str, int] = {}

    w.write("merchants", ["id", "code", "name", "default_currency", "default_locale", "settings", "created_at"],
            ((m, f"m{m}", f"Merchant {m}", "CNY", "zh-CN", "{}", ts(start_t)) for m in range(1, MERCHANTS + 1)))
    counts["customers"] = w.write(
        "customers", ["id", "merchant_id", "external_id", "name", "country"],
        ((i, (i - 1) // CUSTOMERS + 1, f"C{i}", f"Customer {i}", COUNTRIES[i % len(COUNTRIES)])
         for i in range(1, MERCHANTS * CUSTOMERS + 1)))
    counts["products"] = w.write(
        "products", ["id", "merchant_id", "sku", "title", "category", "supplier"],
        ((i, (i - 1) // SKUS + 1, f"SKU-{(i - 1) % SKUS:04d}", f"Product {(i - 1) % SKUS}",
          f"cat-{(i - 1) % SKUS % 20:02d}", f"Supplier {(i - 1) % SKUS % 25:02d}")
         for i in range(1, MERCHANTS * SKUS + 1)))
    log(f"  reference rows in {time.perf_counter() - started:.1f} s")

    # Orders and lines: order i belongs to merchant i % 10, spread evenly over the period.
    prices = [rnd.randrange(990, 59_900) for _ in range(SKUS)]
    span = DAYS * DAY
    plan = []  # per order: (merchant, customer, sku index, qty, price, ordered_t)
    for i in range(orders):
        m = i % MERCHANTS + 1
        plan.append((m, (m - 1) * CUSTOMERS + rnd.randrange(CUSTOMERS) + 1, rnd.randrange(SKUS),
                     rnd.choice((1, 1, 1, 2, 3)), start_t + span * i / orders + rnd.random() * 600))

    def order_rows():
        for i, (m, cust, sku, qty, t) in enumerate(plan, start=1):
            total = qty * prices[sku]
            yield (i, m, f"O{i:08d}", cust, "CNY", total, 0, 0, total, "[]", COUNTRIES[cust % len(COUNTRIES)],
                   CHANNELS[i % len(CHANNELS)], ts(t), ts(t + DAY), ts(t + 3 * DAY), ts(start_t))
    counts["orders"] = w.write("orders", ["id", "merchant_id", "number", "customer_id", "currency", "goods_total",
                                          "discount", "shipping_fee", "paid_total", "payments", "country",
                                          "sales_channel", "ordered_at", "shipped_at", "delivered_at", "imported_at"],
                               order_rows())

    def line_rows():
        for i, (_m, _c, sku, qty, t) in enumerate(plan, start=1):
            yield (i, i, 1, f"SKU-{sku:04d}", f"Product {sku}", None, prices[sku], qty, qty, 0, qty * prices[sku])
    counts["order_lines"] = w.write("order_lines", ["id", "order_id", "line_no", "sku", "title", "category",
                                                    "unit_price", "quantity", "delivered_quantity", "discount",
                                                    "paid_amount"], line_rows())
    log(f"  {orders:,} orders and lines in {time.perf_counter() - started:.1f} s")

    # Cases: every other order; events follow the workflow's paths.
    case_rows, line_rows_, event_rows = [], [], []
    counts.update(cases=0, case_lines=0, case_events=0)
    ev_id = 0
    agents = [f"agent {k}" for k in range(8)]
    inspectors = [f"inspector {k}" for k in range(4)]
    for n in range(cases):
        oid = 2 * n + 1 + rnd.randrange(2)
        m, cust, sku, qty, t_order = plan[oid - 1]
        t0 = t_order + 2 * DAY + rnd.random() * 18 * DAY
        if t0 > now_t:
            t0 = now_t - rnd.random() * DAY
        age = now_t - t0
        roll = rnd.random()
        ctype = "refund_only" if 0.45 <= roll < 0.75 else "return_refund"
        reason = REASONS[rnd.randrange(len(REASONS))]
        agent = agents[rnd.randrange(len(agents))]
        inspector = inspectors[rnd.randrange(len(inspectors))]
        t = t0
        steps = [("open", None, "pending_review", "system", "")]
        if roll >= 0.85 and age > 5 * DAY:
            steps += [("reject", "pending_review", "rejected", "agent", agent), ("close", "rejected", "closed", "agent", agent)]
        elif ctype == "refund_only":
            steps += [("approve", "pending_review", "resolving", "agent", agent),
                      ("resolve", "resolving", "resolved", "agent", agent), ("close", "resolved", "closed", "system", "")]
        else:
            steps += [("approve", "pending_review", "awaiting_return", "agent", agent),
                      ("ship_return", "awaiting_return", "return_in_transit", "customer", ""),
                      ("receive", "return_in_transit", "received", "warehouse", inspector),
                      ("inspect", "received", "inspected", "warehouse", inspector),
                      ("resolve", "inspected", "resolved", "agent", agent), ("close", "resolved", "closed", "system", "")]
        gaps = {"approve": 6 * HOUR, "reject": 8 * HOUR, "ship_return": 1.5 * DAY, "receive": 3 * DAY,
                "inspect": 5 * HOUR, "resolve": 10 * HOUR, "close": 2 * DAY}
        events = []
        for seq, (action, frm, to, role, who) in enumerate(steps, start=1):
            if seq > 1:
                t += rnd.expovariate(1 / gaps[action])
                if t > now_t:
                    break
            events.append((seq, action, frm, to, role, who, t))
        state = events[-1][3]
        closed = events[-1][6] if state == "closed" else None
        cid = n + 1
        case_rows.append((cid, m, f"AS{cid:09d}", oid, cust, ctype, "portal", state, reason, "", "refund", False,
                          ctype != "refund_only", True, 0, 0, "CNY", qty * prices[sku], len(events),
                          "bench", ts(t0), ts(events[-1][6]), ts(closed) if closed else None))
        line_rows_.append((cid, cid, oid, 1, reason, 0, 0, "{}"))
        for seq, action, frm, to, role, who, at in events:
            ev_id += 1
            kind = "staff" if who else ("customer" if role == "customer" else "system")
            event_rows.append((ev_id, cid, seq, action, frm, to, kind, role, who, w.json_empty, ts(at)))
        if len(case_rows) == CHUNK or n == cases - 1:
            _write_cases(w, counts, case_rows, line_rows_, event_rows)
            case_rows, line_rows_, event_rows = [], [], []
    with db.engine.begin() as conn:
        for sql in rebuild:
            conn.execute(text(sql))
    log(f"  indexes rebuilt at {time.perf_counter() - started:.1f} s")
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            for table in ("merchants", "customers", "products", "orders", "order_lines", "cases", "case_lines",
                          "case_events"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    log(f"  {counts['cases']:,} cases, {counts['case_events']:,} events in {time.perf_counter() - started:.1f} s")
    db.dispose()
    return counts


OUTCOME_TABLES = ("refunds", "compensations", "customer_ledger", "sla_timers", "survey_responses", "follow_up_tasks")


def add_outcomes(url: str, now: datetime | None = None, log=print) -> dict:
    """Adds what the money, SLA and notify modules record to a generated history, derived from its cases in SQL:
    a refund for every resolved case (1 in 20 still awaiting payout, 1 in 6 with a 10 % deduction, 1 in 4 with
    shipping refunded, 1 in 10 to store credit), compensation for 1 case in 50 (coupon or credit), a review
    deadline for every case and a return-shipping deadline for every approved return (met, breached or running
    by the real step times), a survey answer for 1 closed case in 5 and a follow-up for 1 in 10."""
    db = Database(url)
    pg = db.dialect == "postgresql"
    now_t = (now or datetime.now(timezone.utc))
    now_sql = f"TIMESTAMPTZ '{now_t.isoformat()}'" if pg else f"'{now_t.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    json_empty = "'{}'::json" if pg else "'{}'"

    def plus(col: str, hours: int) -> str:
        return f"({col} + interval '{hours} hours')" if pg else f"strftime('%Y-%m-%d %H:%M:%f', {col}, '+{hours} hours')"

    started = time.perf_counter()
    statements = [
        ("refunds", f"""INSERT INTO refunds (merchant_id, case_id, order_id, number, currency, route, state, goods_amount,
            shipping_amount, deducted_amount, capped_amount, amount, breakdown, note, requested_by, requested_role,
            approved_by, created_at, updated_at)
            SELECT c.merchant_id, c.id, c.order_id, 'RF' || c.id, c.currency,
                   CASE WHEN c.id % 10 = 1 THEN 'balance' ELSE 'original' END,
                   CASE WHEN c.id % 20 = 0 THEN 'approved' ELSE 'completed' END,
                   c.claimed_amount, CASE WHEN c.id % 4 = 0 THEN 800 ELSE 0 END,
                   CASE WHEN c.id % 6 = 0 THEN c.claimed_amount / 10 ELSE 0 END, 0,
                   c.claimed_amount + CASE WHEN c.id % 4 = 0 THEN 800 ELSE 0 END
                       - CASE WHEN c.id % 6 = 0 THEN c.claimed_amount / 10 ELSE 0 END,
                   {json_empty}, '', 'bench', 'agent', 'bench', e.created_at, e.created_at
            FROM cases c JOIN case_events e ON e.case_id = c.id AND e.action = 'resolve'"""),
        ("customer_ledger", """INSERT INTO customer_ledger (merchant_id, customer_id, asset, currency, amount, memo,
            created_by, created_at)
            SELECT r.merchant_id, c.customer_id, 'store_credit', r.currency, r.amount, 'refund ' || r.number, 'bench',
                   r.created_at
            FROM refunds r JOIN cases c ON c.id = r.case_id WHERE r.route = 'balance'"""),
        ("compensations", f"""INSERT INTO compensations (merchant_id, case_id, customer_id, kind, currency, amount, code,
            reason, created_by, created_at)
            SELECT c.merchant_id, c.id, c.customer_id, CASE WHEN c.id % 100 = 7 THEN 'credit' ELSE 'coupon' END,
                   c.currency, 500 + (c.id % 5) * 100,
                   CASE WHEN c.id % 100 = 7 THEN NULL ELSE 'CPB' || c.id END, 'late', 'bench', c.updated_at
            FROM cases c WHERE c.id % 50 = 7"""),
        ("customer_ledger", """INSERT INTO customer_ledger (merchant_id, customer_id, asset, currency, amount,
            compensation_id, memo, created_by, created_at)
            SELECT merchant_id, customer_id, 'store_credit', currency, amount, id, 'compensation', 'bench', created_at
            FROM compensations WHERE kind = 'credit'"""),
        ("sla_timers", f"""INSERT INTO sla_timers (merchant_id, case_id, kind, due_at, action, payload, rule, status,
            result, created_at, fired_at)
            SELECT c.merchant_id, c.id, 'review.due', {plus('c.created_at', 24)}, 'escalate', {json_empty},
                   'SLA.review',
                   CASE WHEN d.created_at IS NULL THEN 'pending'
                        WHEN d.created_at <= {plus('c.created_at', 24)} THEN 'cancelled' ELSE 'fired' END,
                   NULL, c.created_at,
                   CASE WHEN d.created_at > {plus('c.created_at', 24)} THEN {plus('c.created_at', 24)} END
            FROM cases c LEFT JOIN case_events d ON d.case_id = c.id AND d.seq = 2"""),
        ("sla_timers", f"""INSERT INTO sla_timers (merchant_id, case_id, kind, due_at, action, payload, rule, status,
            result, created_at, fired_at)
            SELECT c.merchant_id, c.id, 'customer_shipping.due', {plus('a.created_at', 72)}, 'cancel', {json_empty},
                   'TB5',
                   CASE WHEN s.created_at IS NULL THEN 'pending'
                        WHEN s.created_at <= {plus('a.created_at', 72)} THEN 'cancelled' ELSE 'fired' END,
                   NULL, a.created_at,
                   CASE WHEN s.created_at > {plus('a.created_at', 72)} THEN {plus('a.created_at', 72)} END
            FROM cases c JOIN case_events a ON a.case_id = c.id AND a.seq = 2 AND a.to_state = 'awaiting_return'
            LEFT JOIN case_events s ON s.case_id = c.id AND s.seq = 3"""),
        ("survey_responses", f"""INSERT INTO survey_responses (case_id, merchant_id, score, comment, created_at)
            SELECT c.id, c.merchant_id, 1 + ((c.id / 5) * 7) % 5,
                   CASE WHEN c.id % 15 = 0 THEN 'comment on case ' || c.number ELSE '' END, {plus('c.closed_at', 1)}
            FROM cases c WHERE c.state = 'closed' AND c.id % 5 = 0 AND c.closed_at < {now_sql}"""),
        ("follow_up_tasks", f"""INSERT INTO follow_up_tasks (merchant_id, case_id, due_at, status, outcome, note,
            done_by, done_at, created_at)
            SELECT c.merchant_id, c.id, {plus('c.closed_at', 72)},
                   CASE WHEN {plus('c.closed_at', 72)} < {now_sql} THEN 'done' ELSE 'open' END,
                   CASE WHEN {plus('c.closed_at', 72)} < {now_sql} THEN
                       CASE c.id % 4 WHEN 0 THEN 'satisfied' WHEN 1 THEN 'neutral' WHEN 2 THEN 'dissatisfied'
                       ELSE 'unreachable' END END, '', NULL, NULL, c.closed_at
            FROM cases c WHERE c.state = 'closed' AND c.id % 10 = 3"""),
    ]
    counts: dict[str, int] = {}
    with db.engine.begin() as conn:
        if not pg:
            conn.exec_driver_sql("PRAGMA cache_size=-400000")
        for table, sql in statements:
            counts[table] = counts.get(table, 0) + conn.execute(text(sql)).rowcount
            log(f"  {table}: {counts[table]:,} rows at {time.perf_counter() - started:.1f} s")
        for table in OUTCOME_TABLES:
            if pg:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    # Bulk-loaded tables are vacuumed (visibility map set, so index-only reads stay index-only) and analysed, as
    # autovacuum would have done on a server that had grown this history over two years.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if pg else "ANALYZE"))
    db.dispose()
    return counts


if __name__ == "__main__":
    size = int(sys.argv[sys.argv.index("--cases") + 1]) if "--cases" in sys.argv else 1_000_000
    generate(sys.argv[1], cases=size)
