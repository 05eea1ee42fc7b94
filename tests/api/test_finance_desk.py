"""The finance desk through its pages, on SQLite and PostgreSQL: the refund page names the payment each leg goes back
to (method in words, original transaction, payer) and what is missing to pay it by hand; a manual leg is recorded
paid in one step (exactly once; a stale form changes nothing); vouchers, their CSV and the periods use the merchant's
time zone (fixed clock times across midnight UTC/Asia-Shanghai and across a month end); no raw codes on any finance
page in either language; money approvals use the same forms."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import func, select

from returnflow.flows import history
from returnflow.orders.models import Order
from returnflow.refunds.models import LedgerEntry, Refund, RefundPayment, Voucher
from tests.support.asgi import TestClient
from tests.support.money import paid_order, refund_only_case
from tests.support.portal import csrf_of, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def staff(app, slug: str, role: str, headers=EN) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_staff(web, f"{role}@{slug}.test", f"pw-{role}")
    return web


def clock(monkeypatch, decided: datetime, paid: datetime) -> None:
    """Fixed clocks: the refund is decided at `decided`, its legs are paid at `paid` (never today's date)."""
    monkeypatch.setattr("returnflow.refunds.service.utcnow", lambda: decided)
    monkeypatch.setattr("returnflow.refunds.settle.utcnow", lambda: paid)


def refund_to_pay(app, db, slug: str, method: str = "alipay", amount: str = "100.00"):
    """A shop whose admin requested (and so approved) a refund of one order paid with `method`: one manual leg."""
    shop = make_shop(db, slug)
    paid_order(db, shop, lines=(("SKU-A", amount, 1),), discount="0.00", shipping="0.00", payments=((method, None),))
    number = refund_only_case(db, shop, "M-1")
    admin = staff(app, slug, "admin")
    asked = admin.post(f"/staff/finance/cases/{number}/refunds", data={"csrf": csrf_of(admin)},
                       follow_redirects=False)
    assert asked.status_code == 303, asked.text
    with db.read() as s:
        refund = s.scalars(select(Refund).where(Refund.merchant_id == shop.id)).one()
        leg = s.scalars(select(RefundPayment).where(RefundPayment.refund_id == refund.id)).one()
    assert (refund.state, leg.gateway, leg.state) == ("approved", "manual", "pending")
    return shop, number, refund.number, leg.number


def version_of(page: str, leg: str) -> str:
    return re.search(rf'payments/{leg}/mark-paid".*?name="version" value="(\d+)"', page, re.S)[1]


def pay(web, leg: str, reference: str, version: str, back: str = "/staff/finance?view=pay", **more):
    return web.post(f"/staff/finance/payments/{leg}/mark-paid",
                    data={"csrf": csrf_of(web), "reference": reference, "version": version, "back": back, **more})


def visible(html: str) -> str:
    """The page's text as a reader sees it (no tags, attributes, scripts or styles)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


RAW = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b(?:payload|lines|payments)\.\w+|\[\d+\]\.")


# ---- the payment each leg goes back to, and the one-step manual payment ----------------------------------------

def test_the_refund_page_names_the_original_payment_and_a_manual_leg_is_paid_once_in_one_step(app, db, monkeypatch):
    clock(monkeypatch, at("2026-11-20 02:00"), at("2026-11-20 03:00"))
    shop, number, refund, leg = refund_to_pay(app, db, "route")
    finance = staff(app, "route", "finance")
    page = finance.get(f"/staff/finance/cases/{number}")
    text = visible(page.text)
    assert page.status_code == 200
    assert "How the customer paid" in text and "Alipay" in text and "PAY-M-1" in text  # the original transaction
    assert "Payer" in text and "C-1@example.com" in text
    assert "By hand: finance pays it outside the system and records the reference" in text
    assert "Refund it in the Alipay merchant console against the original transaction." in text
    assert f"/staff/finance/refunds/{refund}/execute" not in page.text  # no second step for a manual leg
    version = version_of(page.text, leg)
    back = f"/staff/finance/cases/{number}"
    done = pay(finance, leg, "ALI-REFUND-42", version, back, note="refunded in the console")
    assert done.status_code == 200 and "The payment was recorded as paid." in done.text
    assert "ALI-REFUND-42" in visible(done.text) and "/mark-paid" not in done.text
    with db.read() as s:
        paid = s.scalars(select(RefundPayment).where(RefundPayment.number == leg)).one()
        assert s.scalar(select(Refund.state).where(Refund.number == refund)) == "completed"
        settlements = s.scalar(select(func.count()).select_from(Voucher).where(
            Voucher.refund_payment_id == paid.id))
        events = history(s, "refund_payment", paid.id)
    assert (paid.state, paid.reference, events[-1]["note"]) == ("succeeded", "ALI-REFUND-42",
                                                                      "refunded in the console")
    assert settlements == 1
    # The same form sent again (a double click, a second tab): refused on the case's page, nothing paid twice.
    again = pay(finance, leg, "ALI-REFUND-43", version, back)
    assert again.status_code == 409 and 'role="alert"' in again.text
    assert f"Payment {leg} is already recorded as paid (reference ALI-REFUND-42); nothing was paid twice." \
        in again.text and "How the customer paid" in again.text
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Voucher).where(Voucher.refund_payment_id == paid.id)) == 1
        assert s.scalar(select(RefundPayment.reference).where(RefundPayment.number == leg)) == "ALI-REFUND-42"


def test_a_stale_form_or_a_missing_reference_records_nothing_and_says_why_on_the_page(app, db, client, monkeypatch):
    clock(monkeypatch, at("2026-11-20 02:00"), at("2026-11-20 03:00"))
    shop, number, refund, leg = refund_to_pay(app, db, "stale")
    finance = staff(app, "stale", "finance")
    shown = version_of(finance.get("/staff/finance?view=pay").text, leg)
    # Meanwhile the leg moves on (the API sends it: manual, so it waits for its reference).
    sent = client.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance"))
    assert sent.status_code == 200, sent.text
    stale = pay(finance, leg, "BANK-1", shown)
    assert stale.status_code == 409 and f"Payment {leg} changed after you opened this page" in stale.text
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state).where(RefundPayment.number == leg)) == "sent"
    fresh = version_of(stale.text, leg)  # the page it answered with shows the leg as it is now
    assert fresh != shown
    empty = pay(finance, leg, "", fresh)
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text
    assert "Payment reference: enter the bank transfer or receipt number of the payment you made." in empty.text
    zh = staff(app, "stale", "finance", ZH)
    missing = pay(zh, leg, "", fresh)
    assert missing.status_code == 422 and "付款凭证号" in missing.text and "reference" not in visible(missing.text)
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state).where(RefundPayment.number == leg)) == "sent"
    assert pay(finance, leg, "BANK-1", fresh).status_code == 200
    with db.read() as s:
        assert s.scalar(select(RefundPayment.state).where(RefundPayment.number == leg)) == "succeeded"


def test_what_is_missing_to_pay_by_hand_is_stated_with_what_to_do(app, db, monkeypatch):
    clock(monkeypatch, at("2026-11-20 02:00"), at("2026-11-20 03:00"))
    shop = make_shop(db, "gaps")
    paid_order(db, shop, lines=(("SKU-A", "60.00", 1),), discount="0.00", shipping="0.00",
               payments=(("bank_transfer", None),))
    with db.transaction() as s:  # an imported order that carries no payment reference
        order = s.scalars(select(Order).where(Order.merchant_id == shop.id)).one()
        order.payments = [{"method": "bank_transfer", "amount": order.paid_total}]
    number = refund_only_case(db, shop, "M-1")
    admin = staff(app, "gaps", "admin")
    admin.post(f"/staff/finance/cases/{number}/refunds", data={"csrf": csrf_of(admin)})
    for headers, words in ((EN, ("Bank transfer", "not recorded on the order",
                                 "The order carries no reference of the original payment",
                                 "No bank account of the customer is on file: ask the customer for it")),
                           (ZH, ("银行转账", "订单上没有记录", "订单没有记录原支付的流水号", "没有顾客的银行账户信息"))):
        page = staff(app, "gaps", "finance", headers).get(f"/staff/finance/cases/{number}")
        text = visible(page.text)
        assert page.status_code == 200 and all(w in text for w in words), (headers, text)
        assert not RAW.findall(text), RAW.findall(text)


# ---- vouchers in the merchant's time zone ------------------------------------------------------------------------

def _csv(web, period: str) -> list[dict]:
    got = web.get("/staff/finance/vouchers.csv", params={"period": period})
    assert got.status_code == 200
    return list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))


def _screen(web, period: str) -> tuple[list[tuple[str, str, str]], dict[str, tuple[Decimal, Decimal]]]:
    """(voucher, date, time) per voucher and the totals table (account name -> debit, credit) of the page."""
    page = web.get("/staff/finance/vouchers", params={"period": period}).text
    rows = re.findall(r'<td rowspan="\d+">(V[\d-]+)</td><td rowspan="\d+"><time[^>]*>([\d-]+) '
                      r'<span class="muted">([^<]+)</span>', page)
    totals = {name: (Decimal(d), Decimal(c)) for name, d, c in re.findall(
        r'<tr class="total"><td>([^<]+)</td><td>CNY</td><td class="num">([\d.]+)</td><td class="num">([\d.]+)</td>',
        page)}
    return rows, totals


def _sums(rows: list[dict]) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for r in rows:
        d, c = out.get(r["account"], (Decimal(0), Decimal(0)))
        out[r["account"]] = (d + Decimal(r["debit"]), c + Decimal(r["credit"]))
    return out


def test_a_refund_paid_after_midnight_in_shanghai_is_dated_and_filed_in_december_on_screen_and_in_csv(app, db,
                                                                                                      monkeypatch):
    # Decided 2026-11-30 15:00 UTC = 23:00 in Shanghai (November); paid 17:30 UTC = 2026-12-01 01:30 (December).
    clock(monkeypatch, at("2026-11-30 15:00"), at("2026-11-30 17:30"))
    shop, number, refund, leg = refund_to_pay(app, db, "cn")
    finance = staff(app, "cn", "finance")
    page = finance.get("/staff/finance?view=pay").text
    assert pay(finance, leg, "BANK-9", version_of(page, leg)).status_code == 200
    november, november_totals = _screen(finance, "2026-11")
    december, december_totals = _screen(finance, "2026-12")
    assert [(d, t) for _, d, t in november] == [("2026-11-30", "23:00 +08:00")]  # the decision
    assert [(d, t) for _, d, t in december] == [("2026-12-01", "01:30 +08:00")]  # the payment
    assert december[0][0].startswith("V202612-")
    for period, shown, totals in (("2026-11", november, november_totals), ("2026-12", december, december_totals)):
        rows = _csv(finance, period)
        assert {(r["voucher"], r["date"], r["time"]) for r in rows} == set(shown)
        names = {"refund_payable": "Refunds payable", "gateway_cash": "Cash at payment gateways",
                 "sales_returns": "Sales returns"}
        assert {names[a]: v for a, v in _sums(rows).items()} == totals
    assert december_totals == {"Refunds payable": (Decimal("100.00"), Decimal("0.00")),
                               "Cash at payment gateways": (Decimal("0.00"), Decimal("100.00"))}
    assert "No vouchers in this period." in finance.get("/staff/finance/vouchers", params={"period": "2026-10"}).text
    zh = staff(app, "cn", "finance", ZH)
    assert "应付退款" in zh.get("/staff/finance/vouchers", params={"period": "2026-12"}).text


def test_another_time_zone_moves_the_same_utc_moment_into_the_previous_month(app, db, client, monkeypatch):
    # 2026-12-01 03:00 UTC is 2026-11-30 22:00 in New York: November's voucher there, December's in Shanghai.
    clock(monkeypatch, at("2026-12-01 02:00"), at("2026-12-01 03:00"))
    shop = make_shop(db, "ny")
    saved = client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json={"timezone": "America/New_York"})
    assert saved.status_code == 200, saved.text
    paid_order(db, shop, lines=(("SKU-A", "80.00", 1),), discount="0.00", shipping="0.00", payments=(("card", None),))
    number = refund_only_case(db, shop, "M-1")
    admin = staff(app, "ny", "admin")
    admin.post(f"/staff/finance/cases/{number}/refunds", data={"csrf": csrf_of(admin)})
    with db.read() as s:
        leg = s.scalar(select(RefundPayment.number).where(RefundPayment.merchant_id == shop.id))
    finance = staff(app, "ny", "finance")
    assert pay(finance, leg, "CARD-1", version_of(finance.get("/staff/finance?view=pay").text, leg)).status_code == 200
    november, totals = _screen(finance, "2026-11")
    assert sorted((d, t) for _, d, t in november) == [("2026-11-30", "21:00 -05:00"), ("2026-11-30", "22:00 -05:00")]
    assert _screen(finance, "2026-12")[0] == []
    rows = _csv(finance, "2026-11")
    assert {(r["date"], r["time"]) for r in rows} == {("2026-11-30", "21:00 -05:00"), ("2026-11-30", "22:00 -05:00")}
    assert totals["Refunds payable"] == (Decimal("80.00"), Decimal("80.00"))
    with db.read() as s:
        assert set(s.scalars(select(Voucher.period).where(Voucher.merchant_id == shop.id))) == {"2026-11"}
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    bad = finance.get("/staff/finance/vouchers", params={"period": "2026-13"})
    assert bad.status_code == 422 and "Period: “2026-13” is not a month" in bad.text


# ---- words, not codes; one approval partial ----------------------------------------------------------------------

def test_every_finance_page_shows_words_not_codes_in_both_languages(app, db, client, monkeypatch):
    clock(monkeypatch, at("2026-11-30 15:00"), at("2026-11-30 17:30"))
    shop, number, refund, leg = refund_to_pay(app, db, "words")
    client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("agent"),
                json={"kind": "credit", "amount": "9000.00", "currency": "CNY", "reason": "late delivery"})
    for headers in (EN, ZH):
        for role in ("finance", "supervisor", "admin"):
            web = staff(app, "words", role, headers)
            for url in ("/staff/finance?view=approve", "/staff/finance?view=pay", "/staff/finance?view=due",
                        "/staff/finance?view=failed", "/staff/finance?view=done", f"/staff/finance/cases/{number}",
                        "/staff/finance/vouchers?period=2026-11", "/staff/finance/vouchers?period=2026-13"):
                page = web.get(url)
                assert page.status_code in (200, 422), (url, page.status_code)
                assert not RAW.findall(visible(page.text)), (role, headers, url, RAW.findall(visible(page.text)))


def test_compensation_decisions_use_the_shared_forms_and_refusals_stay_on_the_queue(app, db, client):
    shop = make_shop(db, "comp")
    paid_order(db, shop)
    number = refund_only_case(db, shop, "M-1")
    made = client.post(f"/api/v1/cases/{number}/compensations", headers=shop.headers("agent"),
                       json={"kind": "coupon", "amount": "900.00", "currency": "CNY", "reason": "late"}).json()
    assert made["state"] == "awaiting_approval"
    boss = staff(app, "comp", "supervisor")
    queue = boss.get("/staff/finance").text
    cid = made["id"]
    assert f'action="/staff/finance/compensations/{cid}/approve"' in queue
    assert f'<textarea id="rej-comp-{cid}" name="reason"' in queue and 'name="version" value="1"' in queue
    empty = boss.post(f"/staff/finance/compensations/{cid}/reject",
                      data={"csrf": csrf_of(boss), "version": "1", "back": "/staff/finance?view=approve"})
    assert empty.status_code == 422 and "Say why the compensation is rejected." in empty.text
    assert 'class="tabs"' in empty.text  # the queue, not a bare error page
    stale = boss.post(f"/staff/finance/compensations/{cid}/approve",
                      data={"csrf": csrf_of(boss), "version": "7", "back": "/staff/finance?view=approve"})
    assert stale.status_code == 409 and 'role="alert"' in stale.text and 'class="tabs"' in stale.text
    ok = boss.post(f"/staff/finance/compensations/{cid}/approve",
                   data={"csrf": csrf_of(boss), "version": "1", "back": "/staff/finance?view=approve"})
    assert ok.status_code == 200 and "The compensation was approved and given to the customer." in ok.text


def test_a_case_not_yet_refundable_says_why_in_words_on_the_finance_page(app, db):
    from tests.support.flows import open_for, run

    shop = make_shop(db, "early")
    paid_order(db, shop)
    number = open_for(db, shop.actors["agent"], "M-1", "return_refund")
    run(db, number, "approve", shop.actors["agent"])  # approved, the goods not back yet
    for headers, expected in ((EN, "Not refundable yet: the case is"), (ZH, "暂不能退款：售后单当前为")):
        page = staff(app, "early", "supervisor", headers).get(f"/staff/finance/cases/{number}")
        text = visible(page.text)
        assert page.status_code == 200 and expected in text, text
        assert "Request the refund" not in text and not RAW.findall(text), RAW.findall(text)
