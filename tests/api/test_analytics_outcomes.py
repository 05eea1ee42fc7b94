"""The money, SLA and satisfaction reports over what the refund, SLA and notify modules record.

The rows come from the product's public API and services (refunds, compensations, transitions that start deadline
timers, survey answers, follow-ups); each expected figure is recomputed here in plain Python from the stored rows,
and the reports must equal it exactly (to the cent), besides a few figures written out by hand.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from returnflow.cases.models import Case, CaseEvent
from returnflow.cases.schemas import CaseCreate, CaseLineCreate
from returnflow.cases.service import open_case
from returnflow.i18n import SUPPORTED
from returnflow.money import fmt
from returnflow.notify.models import FollowUpTask, SurveyResponse
from returnflow.refunds.models import Compensation, LedgerEntry, Refund
from returnflow.merchants.clock import DEFAULT_ZONE
from returnflow.sla.models import Timer
from tests.support.flows import open_for, run
from tests.support.money import inspected_case, paid_order, refund_only_case
from tests.support.processes import run_returnflow
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)


def today() -> str:
    """Today on the shops' clock (Asia/Shanghai, the default): the reports read "from" and "to" as the merchant's
    dates, so from 16:00 UTC on the UTC date was the day before the money booked "today"."""
    return datetime.now(ZoneInfo(DEFAULT_ZONE)).date().isoformat()


def get(client, headers, name, **params):
    answer = client.get(f"/api/v1/analytics/reports/{name}", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refund(client, shop, number, **body):
    r = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def pay(client, shop, made):
    for leg in made["payments"]:
        if leg["state"] == "pending":
            paid = client.post(f"/api/v1/refund-payments/{leg['number']}/mark-paid", headers=shop.headers("finance"),
                               json={"reference": "BANK-" + leg["number"]})
            assert paid.status_code == 200, paid.text


@pytest.fixture
def world(client, db):
    shop, other, empty = make_shop(db, "shop"), make_shop(db, "other"), make_shop(db, "empty")
    sold = datetime.now(timezone.utc) - timedelta(days=20)  # inside the reports' default 90 days, whatever today is
    for number, customer in (("M-1", "C-1"), ("M-2", "C-2"), ("M-3", "C-3"), ("M-4", "C-4")):
        paid_order(db, shop, number, customer=customer, when=sold)
    paid_order(db, other, "X-1", customer="D-1", when=sold)
    cases = {}
    # A returned item with a damage deduction, refunded and paid out, closed, rated 5.
    cases["returned"] = inspected_case(db, shop, "M-1", line_no=1, quantity=1, deduction="5.00")
    pay(client, shop, refund(client, shop, cases["returned"]))
    run(db, cases["returned"], "close", shop.actors["agent"])
    # Refund only, with shipping refunded; decided, not paid yet (the manual leg waits); a coupon and store credit.
    cases["refund_only"] = refund_only_case(db, shop, "M-2", line_no=2)
    refund(client, shop, cases["refund_only"], refund_shipping=True)
    for kind, amount in (("coupon", "10.00"), ("credit", "5.50")):
        made = client.post(f"/api/v1/cases/{cases['refund_only']}/compensations", headers=shop.headers("agent"),
                           json={"kind": kind, "amount": amount, "currency": "CNY", "reason": "late"})
        assert made.status_code == 201, made.text
    # Rejected and closed: rated 2 with a comment; its follow-up found the customer dissatisfied.
    cases["rejected"] = open_for(db, shop.actors["agent"], "M-3", "return_refund")
    run(db, cases["rejected"], "reject", shop.actors["supervisor"])
    run(db, cases["rejected"], "close", shop.actors["agent"])
    # Opened three days ago and never reviewed: its review deadline (9 working hours) has passed.
    with db.transaction() as session:
        cases["late"] = open_case(session, actor=shop.actors["agent"],
                                  created_at=datetime.now(timezone.utc) - timedelta(days=3),
                                  data=CaseCreate(order="M-4", type="return_refund",
                                                  lines=[CaseLineCreate(line_no=1, quantity=1)])).number
    # The other merchant's refund must not show in the shop's figures.
    cases["other"] = refund_only_case(db, other, "X-1")
    refund(client, other, cases["other"])
    answers = {"returned": (5, "fast and friendly"), "rejected": (2, "不满意，理由不清楚")}
    for key, (score, comment) in answers.items():
        r = client.post(f"/api/v1/cases/{cases[key]}/survey", headers=shop.headers(), json={"score": score,
                                                                                          "comment": comment})
        assert r.status_code == 201, r.text
    with db.read() as session:
        rejected_id = session.scalar(select(Case.id).where(Case.number == cases["rejected"]))
        task = session.scalars(select(FollowUpTask).where(FollowUpTask.case_id == rejected_id)).one()
    done = client.post(f"/api/v1/follow-ups/{task.id}/done", headers=shop.headers(), json={"outcome": "dissatisfied"})
    assert done.status_code == 200, done.text
    return shop, other, empty, cases


def expected_money(db, merchant_id):
    """Per currency, from the stored rows: refunds not rejected, compensation, positive store credit entries."""
    t = defaultdict(lambda: defaultdict(int))
    with db.read() as s:
        for r in s.scalars(select(Refund).where(Refund.merchant_id == merchant_id, Refund.state != "rejected")):
            x = t[r.currency]
            x["refunds"] += 1
            x["refunded"] += r.amount
            x["paid"] += r.amount if r.state == "completed" else 0
            x["goods"] += r.goods_amount
            x["shipping"] += r.shipping_amount
            x["deductions"] += r.deducted_amount
        for cp in s.scalars(select(Compensation).where(Compensation.merchant_id == merchant_id)):
            t[cp.currency]["compensations"] += 1
            t[cp.currency]["compensation"] += cp.amount
        for e in s.scalars(select(LedgerEntry).where(LedgerEntry.merchant_id == merchant_id,
                                                     LedgerEntry.asset == "store_credit")):
            if e.amount > 0:
                t[e.currency]["store_credit"] += e.amount
    return {cur: {k: v if k in ("refunds", "compensations") else fmt(v, cur) for k, v in x.items()}
            for cur, x in t.items()}


def test_money_report_equals_the_refund_rows_to_the_cent(client, db, world):
    shop, other, _, cases = world
    body = get(client, shop.headers("finance"), "money")
    assert body["status"] == "ok"
    want = expected_money(db, shop.id)
    got = body["totals"]["CNY"]
    assert {k: got[k] for k in want["CNY"]} == want["CNY"]
    assert (got["compensation"], got["store_credit"], got["refunds"]) == ("15.50", "5.50", 2)
    assert got["deductions"] != "0.00" and got["shipping"] == "8.00"  # the damage deduction; shipping refunded once
    # Rows add up to the totals, per cause.
    for key in ("refunded", "paid", "deductions", "compensation"):
        assert sum(Decimal(r[key]) for r in body["rows"]) == Decimal(got[key])
    # The other merchant's refund is in its own figures only.
    assert get(client, other.headers("admin"), "money")["totals"]["CNY"] == expected_money(db, other.id)["CNY"] | {
        "compensations": 0, "compensation": "0.00", "store_credit": "0.00"}
    # Drill-down: the cases behind the money of the period.
    listed = set()
    for row in body["rows"]:
        answer = client.get(row["cases_url"], headers=shop.headers("finance"))
        assert answer.status_code == 200, answer.text
        listed |= {c["number"] for c in answer.json()["items"]}
    assert listed == {cases["returned"], cases["refund_only"]}
    # CSV carries the same numbers.
    text = client.get("/api/v1/analytics/reports/money", headers=shop.headers("finance"),
                      params={"format": "csv", "lang": "en"}).content.decode("utf-8-sig")
    csv_rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(Decimal(r["Refunded"]) for r in csv_rows) == Decimal(got["refunded"])
    xlsx = client.get("/api/v1/analytics/reports/money", headers=shop.headers("finance"), params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def expected_sla(db, merchant_id, now):
    out = defaultdict(lambda: defaultdict(int))
    with db.read() as s:
        for t in s.scalars(select(Timer).where(Timer.merchant_id == merchant_id)):
            if not t.kind.endswith(".due") or (t.status == "cancelled" and t.remaining_seconds is not None):
                continue
            due = t.due_at if t.due_at.tzinfo else t.due_at.replace(tzinfo=timezone.utc)
            state = ("met" if t.status == "cancelled" else "breached" if t.status in ("fired", "moot")
                     or (t.status == "pending" and due <= now) else "running")
            step = out[t.kind[:-4]]
            step["started"] += 1
            step[state] += 1
    return {k: dict(v) for k, v in out.items()}


def test_sla_report_counts_each_deadline_as_met_breached_or_running(client, db, world):
    shop, _, empty, cases = world
    now = datetime.now(timezone.utc)
    body = get(client, shop.headers("supervisor"), "sla")
    want = expected_sla(db, shop.id, now)
    got = {r["step"]: r for r in body["rows"]}
    assert set(got) == set(want)
    for step, figures in want.items():
        assert {k: got[step][k] for k in ("started", "met", "breached", "running")} == \
            {"started": 0, "met": 0, "breached": 0, "running": 0} | figures, step
        n = figures.get("met", 0) + figures.get("breached", 0)
        rate = None if not n else str((Decimal(figures.get("met", 0)) * 100 / n).quantize(Decimal("0.01"),
                                                                                        ROUND_HALF_UP))
        assert got[step]["compliance"] == rate
    review = got["review"]
    assert review["breached"] == 1 and review["overdue_now"] == 1
    with db.read() as s:
        due = s.scalar(select(Timer.due_at).where(Timer.merchant_id == shop.id, Timer.kind == "review.due",
                                                  Timer.status == "pending"))
    due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
    assert review["oldest_overdue_days"] in ((now - due).days, (now - due).days + 1)
    # the step's name in every language of the desk, from the catalogs
    assert {k: review["label"][k] for k in ("en", "zh-CN")} == {"en": "review", "zh-CN": "审核"}
    assert set(review["label"]) == set(SUPPORTED) and review["label"]["zh-Hant"] not in ("review", "审核")
    late = client.get(review["cases_url"], headers=shop.headers("supervisor")).json()
    assert [c["number"] for c in late["items"]] == [cases["late"]]
    assert get(client, empty.headers("admin"), "sla")["status"] == "empty"


def test_satisfaction_per_step_agent_and_outcome_with_comments_and_follow_ups(client, db, world):
    shop, _, _, cases = world
    body = get(client, shop.headers("supervisor"), "satisfaction")
    rows = {(r["dimension"], r["key"]): r for r in body["rows"]}
    # Independently: each answer with its case's close step, decider and outcome.
    with db.read() as s:
        found = []
        for sr in s.scalars(select(SurveyResponse).where(SurveyResponse.merchant_id == shop.id)):
            case = s.get(Case, sr.case_id)
            events = list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))
            step = [e.from_state for e in events if e.action == "close"][-1]
            decider = next(e.actor_name for e in events if e.action in ("approve", "reject"))
            outcome = case.type if case.outcome == "resolved" else case.outcome
            found.append((sr.score, {"overall": "all", "step": step, "agent": decider, "outcome": outcome}))
    groups = defaultdict(list)
    for score, keys in found:
        for dimension, key in keys.items():
            groups[(dimension, key)].append(score)
    for key, scores in groups.items():
        row = rows[key]
        avg = (Decimal(sum(scores)) / len(scores)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert (row["responses"], row["avg_score"]) == (len(scores), str(avg)), key
        assert [row[f"score_{k}"] for k in range(1, 6)] == [scores.count(k) for k in range(1, 6)]
    assert rows[("overall", "all")]["avg_score"] == "3.50" and rows[("overall", "all")]["satisfied"] == "50.00"
    assert rows[("step", "rejected")]["comments"] == [{"case": cases["rejected"], "score": 2,
                                                       "comment": "不满意，理由不清楚"}]
    assert rows[("outcome", "return_refund")]["responses"] == 1 and rows[("outcome", "rejected")]["avg_score"] == "2.00"
    assert rows[("agent", "supervisor of shop")]["avg_score"] == "2.00"
    # Follow-ups: the rejected case's was done (dissatisfied); the two other closed cases' are open.
    assert rows[("follow_up", "dissatisfied")]["responses"] == 1
    assert body["totals"]["follow_ups"] == {"dissatisfied": 1, "open": 1}
    agent = client.get(rows[("agent", "supervisor of shop")]["cases_url"], headers=shop.headers("supervisor")).json()
    assert [c["number"] for c in agent["items"]] == [cases["rejected"]]


def test_bad_input_on_the_new_reports_answers_clearly(client, world):
    shop, _, empty, _ = world
    for name in ("money", "sla", "satisfaction"):
        old = get(client, shop.headers("admin"), name, **{"from": "2020-01-01", "to": "2020-01-31"})
        assert old["status"] == "empty" and old["note"]["zh-CN"], name
        # The SLA report still shows today's queue (open now) when no deadline started in the period.
        assert all(r["started"] == 0 for r in old["rows"]) if name == "sla" else old["rows"] == [], name
        assert get(client, empty.headers("admin"), name)["status"] == "empty", name
        decade = get(client, shop.headers("admin"), name, **{"from": "2016-11-01", "to": today()})
        assert decade["status"] == "ok" and decade["filters"]["granularity"] == "month", name
        bad = client.get(f"/api/v1/analytics/reports/{name}", headers=shop.headers("admin"), params={"colour": "red"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "colour", name
        zh = client.get(f"/api/v1/analytics/reports/{name}", headers=shop.headers("admin", **{"Accept-Language": "zh-CN"}),
                        params={"from": "2026-12-01", "to": "2026-11-01"})
        assert zh.status_code == 422 and "晚于" in json.dumps(zh.json(), ensure_ascii=False), name
    unknown = client.get("/api/v1/analytics/cases", headers=shop.headers("admin"), params={"source": "weather"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "source"
    missing = client.get("/api/v1/analytics/cases", headers=shop.headers("admin"), params={"source": "satisfaction"})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "dimension"
    wrong = client.get("/api/v1/analytics/cases", headers=shop.headers("admin"),
                       params={"source": "satisfaction", "dimension": "mood", "key": "x"})
    assert wrong.status_code == 422 and "agent" in wrong.json()["error"]["allowed"]


def test_cli_prints_the_new_reports(db, world):
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "COLUMNS": "200"}
    # The range is this process's last 90 days: the CLI process keeps the machine's clock when the test's is ahead.
    days = ["--from", (datetime.now(ZoneInfo(DEFAULT_ZONE)) - timedelta(days=90)).date().isoformat(), "--to", today()]
    out = run_returnflow(["report", "money", "--merchant", "shop", "--format", "json", *days], env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    shop = world[0]
    assert json.loads(out.stdout)["totals"]["CNY"]["compensation"] == "15.50"
    table = run_returnflow(["report", "sla", "--merchant", shop.code, *days], env=env, timeout=120)
    assert table.returncode == 0 and "review" in table.stdout


def test_returns_are_valued_at_the_refund_paid_and_marked_where_the_price_stands_in(client, db, world):
    """A paid refund (after a damage deduction) values its return; cases without one are at purchase price, and
    that part is stated apart."""
    from returnflow.cases.models import CaseLine
    from returnflow.orders.models import OrderLine

    shop, *_, cases = world
    with db.read() as session:
        def purchase_value(key: str) -> int:
            return sum(q * p for q, p in session.execute(
                select(CaseLine.quantity, OrderLine.unit_price).join(OrderLine, OrderLine.id == CaseLine.order_line_id)
                .join(Case, Case.id == CaseLine.case_id).where(Case.number == cases[key])))

        paid = sum(session.scalars(select(Refund.amount).join(Case, Case.id == Refund.case_id).where(
            Case.number == cases["returned"], Refund.state == "completed")))
        at_price = purchase_value("refund_only") + purchase_value("late")  # decided but unpaid; no refund at all
        returned_at_price = purchase_value("returned")
    assert 0 < paid < returned_at_price  # the deduction: what was credited is less than the price
    body = get(client, shop.headers("supervisor"), "return_rate", by="sku")
    assert body["totals"]["by_currency"]["CNY"]["value_returned"] == fmt(paid + at_price, "CNY")
    assert body["totals"]["by_currency"]["CNY"]["value_at_price"] == fmt(at_price, "CNY")
    assert sum(Decimal(r["value_at_price"]) for r in body["rows"]) == Decimal(fmt(at_price, "CNY"))
