"""The warehouse's and finance's screens through their pages (HTTP, as a browser without JavaScript), on SQLite
and PostgreSQL: scan → receive (partial, photos) → exceptions → inspect → dispose; refunds requested, approved by
authority, paid, marked paid; vouchers and CSV; who may see which screen."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from returnflow.cases.models import Attachment
from returnflow.flows import history
from returnflow.refunds.models import Refund, RefundPayment
from returnflow.warehouse.models import Disposition, Inspection, Receipt
from tests.support.asgi import TestClient
from tests.support.portal import PNG, csrf_of, sign_in_staff
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
LINES = (("SKU-A", "800.00", 2), ("SKU-B", "35.50", 1))
CHECKLIST = ("original_item", "no_signs_of_use", "accessories_complete", "packaging_intact", "defect_confirmed")


def count(db, model, *where):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def browser(app, role, headers=EN):
    web = TestClient(app, headers=headers)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


def line_ids(client, shop, number):
    case = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()
    return [line["id"] for line in case["lines"]]


def inspect_form(web, line_id, **more):
    data = {"csrf": csrf_of(web), "line_id": str(line_id), "grade": "A", "verdict": "accept",
            **{f"ck_{k}": "yes" for k in CHECKLIST}, "ck_no_signs_of_use": "no", "ck_defect_confirmed": "na"}
    data.update(more)
    return data


@pytest.fixture
def shop(db, client):
    return shop_with_warehouse(db, client)


def test_the_desk_scans_records_a_partial_arrival_with_a_photo_and_then_the_rest(app, db, client, shop):
    case = ship_back(client, shop, case_awaiting_return(client, shop, db, lines=LINES))
    a, b = line_ids(client, shop, case["number"])
    web = browser(app, "warehouse")
    page = web.get("/staff/receiving")
    assert page.status_code == 200 and 'id="code"' in page.text and "autofocus" in page.text
    assert 'accept="image/*" capture="environment" multiple' not in page.text  # no case yet: no parcel form
    found = web.get("/staff/receiving", params={"code": "sf1234567890123"})  # the tracking number, lower case
    assert case["number"] in found.text and "Found by its tracking number" in found.text
    assert 'capture="environment"' in found.text and f'name="qty_{a}"' in found.text
    done = web.post("/staff/receiving/parcels", data={
        "csrf": csrf_of(web), "case": case["number"], "code": "SF1234567890123", "condition": "damaged_packaging",
        f"qty_{a}": "1", f"cond_{a}": "as_expected", f"qty_{b}": "0", "note": "box dented"},
        files=[("photos", ("box.png", PNG, "image/png"))], follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/staff/receiving?done={case['number']}"
    after = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers("agent")).json()
    assert after["state"] == "received" and [x["received_quantity"] for x in after["lines"]] == [1, 0]
    with db.read() as s:
        receipt = s.scalars(select(Receipt)).one()
        assert receipt.condition == "damaged_packaging" and len(receipt.photos) == 1
        assert s.get(Attachment, receipt.photos[0]).filename == "box.png"
    # The rest comes in a second parcel; the desk offers only what is still expected.
    again = web.get("/staff/receiving", params={"code": case["number"]})
    assert f'max="1" step="1" value="1"' in again.text
    too_many = web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "case": case["number"],
                                                          "condition": "intact", f"qty_{a}": "5"})
    assert too_many.status_code == 422 and "only 1 more of SKU-A expected" in too_many.text
    assert count(db, Receipt) == 1
    nothing = web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "case": case["number"],
                                                         "condition": "intact", f"qty_{a}": "0"})
    assert nothing.status_code == 422 and "Enter how many of at least one line arrived" in nothing.text
    web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "case": case["number"], "condition": "intact",
                                               f"qty_{a}": "1", f"qty_{b}": "1"})
    after = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers("agent")).json()
    assert [x["received_quantity"] for x in after["lines"]] == [2, 1]


def test_an_order_number_with_several_cases_asks_which_and_an_unknown_code_goes_to_exceptions(app, db, client, shop):
    first = case_awaiting_return(client, shop, db, "O-1", lines=LINES, claim=[(1, 1)])
    second = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-1", "type": "return_refund", "lines": [{"line_no": 2, "quantity": 1}]}).json()
    client.post(f"/api/v1/cases/{second['number']}/actions/approve", headers=shop.headers(),
                json={"version": second["version"], "payload": {"override_reason": "test order"}})
    web = browser(app, "warehouse", ZH)
    several = web.get("/staff/receiving", params={"code": "O-1"})
    assert "对应多个售后单" in several.text
    assert {first["number"], second["number"]} <= set(re.findall(r"code=(AS\w+)", several.text))
    unknown = web.get("/staff/receiving", params={"code": "YT0000000001"})
    assert "没有匹配 YT0000000001 的售后单" in unknown.text
    # A photo cannot go on a parcel without a case: refused, nothing recorded.
    refused = web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "code": "YT0000000001",
                                                         "condition": "wet"},
                       files=[("photos", ("x.png", PNG, "image/png"))])
    assert refused.status_code == 422 and "请先将包裹匹配到售后单" in refused.text and count(db, Receipt) == 0
    queued = web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "code": "YT0000000001",
                                                        "condition": "wet", "note": "寄件人 张三"},
                      follow_redirects=False)
    assert queued.status_code == 303 and queued.headers["location"] == "/staff/receiving/exceptions"
    queue = web.get("/staff/receiving/exceptions")
    assert "YT0000000001" in queue.text and "寄件人 张三" in queue.text and "受潮" in queue.text
    receipt_id = int(re.search(r"/staff/receiving/exceptions/(\d+)/match", queue.text).group(1))
    wrong = web.post(f"/staff/receiving/exceptions/{receipt_id}/match", data={"csrf": csrf_of(web), "case": "AS0"})
    assert wrong.status_code == 404 and count(db, Receipt, Receipt.status == "unmatched") == 1
    matched = web.post(f"/staff/receiving/exceptions/{receipt_id}/match",
                       data={"csrf": csrf_of(web), "case": first["number"]}, follow_redirects=False)
    assert matched.status_code == 303
    assert client.get(f"/api/v1/cases/{first['number']}", headers=shop.headers()).json()["state"] == "received"
    assert first["number"] in web.get("/staff/receiving/exceptions").text  # matched recently


def test_inspection_per_line_with_checklist_deduction_photo_then_disposition_once(app, db, client, shop):
    case = ship_back(client, shop, case_awaiting_return(client, shop, db, lines=LINES))
    number = case["number"]
    a, b = line_ids(client, shop, number)
    web = browser(app, "warehouse")
    web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "case": number, "condition": "intact",
                                               f"qty_{a}": "2", f"qty_{b}": "0"})
    bench = web.get(f"/staff/warehouse/cases/{number}")
    assert "Is it the original item (not swapped)?" in bench.text and "Nothing of this line has arrived." in bench.text
    # A line that never arrived cannot be inspected: a clear error, nothing stored.
    never = web.post(f"/staff/warehouse/cases/{number}/inspections", data=inspect_form(web, b))
    assert never.status_code == 409 and "SKU-B never arrived" in never.text and count(db, Inspection) == 0
    zh = browser(app, "warehouse", ZH)
    assert "SKU-B 尚未到货" in zh.post(f"/staff/warehouse/cases/{number}/inspections",
                                     data=inspect_form(zh, b)).text
    # An unanswered checklist item is named.
    partial = inspect_form(web, a, verdict="accept_with_deduction", deduction="20.00")
    del partial["ck_packaging_intact"]
    missing = web.post(f"/staff/warehouse/cases/{number}/inspections", data=partial)
    assert missing.status_code == 422 and count(db, Inspection) == 0
    assert "Answer every question of the checklist: “Packaging present and intact?”" in missing.text
    too_much = web.post(f"/staff/warehouse/cases/{number}/inspections",
                        data=inspect_form(web, a, verdict="accept_with_deduction", deduction="9999"))
    assert too_much.status_code == 422 and "at most 1,600.00" in too_much.text.replace("1600.00", "1,600.00")
    ok = web.post(f"/staff/warehouse/cases/{number}/inspections",
                  data=inspect_form(web, a, verdict="accept_with_deduction", deduction="20.00", grade="B"),
                  files=[("photos", ("scuff.png", PNG, "image/png"))], follow_redirects=False)
    assert ok.status_code == 303
    with db.read() as s:
        row = s.scalars(select(Inspection)).one()
        assert (row.verdict, row.grade, row.deduction, len(row.photos)) == ("accept_with_deduction", "B", 2000, 1)
        assert row.checklist["no_signs_of_use"] is False and row.checklist["defect_confirmed"] is None
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["state"] == "inspected"
    page = web.get(f"/staff/warehouse/cases/{number}")
    assert "Accept with a deduction" in page.text and "deduction 20.00 CNY" in page.text
    one = web.post(f"/staff/warehouse/cases/{number}/dispositions",
                   data={"csrf": csrf_of(web), "line_id": str(a), "kind": "return_to_vendor", "quantity": "1",
                         "supplier": "宁波工厂"}, follow_redirects=False)
    assert one.status_code == 303
    rest = web.post(f"/staff/warehouse/cases/{number}/dispositions",
                    data={"csrf": csrf_of(web), "line_id": str(a), "kind": "restock", "quantity": "1"},
                    follow_redirects=False)
    assert rest.status_code == 303
    twice = web.post(f"/staff/warehouse/cases/{number}/dispositions",
                     data={"csrf": csrf_of(web), "line_id": str(a), "kind": "scrap", "quantity": "1"})
    assert twice.status_code == 409 and "only 0 unit(s) of SKU-A are left" in twice.text
    assert "SKU-A 仅剩 0 件待处置" in zh.post(f"/staff/warehouse/cases/{number}/dispositions", data={
        "csrf": csrf_of(zh), "line_id": str(a), "kind": "scrap", "quantity": "1"}).text
    with db.read() as s:
        assert sorted((d.unit_no, d.kind, d.supplier) for d in s.scalars(select(Disposition))) == [
            (1, "return_to_vendor", "宁波工厂"), (2, "restock", None)]
    assert "Every unit that arrived has a disposition." in web.get(f"/staff/warehouse/cases/{number}").text


def inspected_case(app, db, client, shop, order="O-1"):
    case = ship_back(client, shop, case_awaiting_return(client, shop, db, order, lines=LINES, claim=[(1, 1)]))
    (a,) = line_ids(client, shop, case["number"])
    web = browser(app, "warehouse")
    web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "case": case["number"], "condition": "intact",
                                               f"qty_{a}": "1"})
    done = web.post(f"/staff/warehouse/cases/{case['number']}/inspections", data=inspect_form(web, a),
                    follow_redirects=False)
    assert done.status_code == 303, done.text
    return case["number"]


def test_refund_requested_by_an_agent_is_approved_by_authority_paid_by_finance_and_marked_paid(app, db, client,
                                                                                               shop):
    number = inspected_case(app, db, client, shop)
    agent = browser(app, "agent")
    assert f'href="/staff/finance/cases/{number}"' in agent.get(f"/staff/cases/{number}").text
    page = agent.get(f"/staff/finance/cases/{number}")
    assert "Request the refund of 800.00 CNY" in page.text
    asked = agent.post(f"/staff/finance/cases/{number}/refunds", data={"csrf": csrf_of(agent), "note": "n"},
                       follow_redirects=False)
    assert asked.status_code == 303
    with db.read() as s:
        refund = s.scalars(select(Refund)).one()
    assert refund.state == "awaiting_approval"  # 800.00 is above the agent's 500.00
    # Finance sees it but may not approve it; the supervisor may; the requester never sees the queues.
    finance = browser(app, "finance")
    queue = finance.get("/staff/finance")
    assert refund.number in queue.text and "Only a supervisor or an administrator approves refunds." in queue.text
    assert f"/staff/finance/refunds/{refund.number}/approve" not in queue.text
    forged = finance.post(f"/staff/finance/refunds/{refund.number}/approve", data={"csrf": csrf_of(finance)})
    assert forged.status_code == 403
    assert agent.get("/staff/finance").status_code == 403
    boss = browser(app, "supervisor")
    queue = boss.get("/staff/finance")
    assert f"/staff/finance/refunds/{refund.number}/approve" in queue.text
    no_csrf = boss.post(f"/staff/finance/refunds/{refund.number}/approve", data={"csrf": "x" * 40})
    assert no_csrf.status_code == 403
    boss.post(f"/staff/finance/refunds/{refund.number}/approve", data={"csrf": csrf_of(boss)})
    twice = boss.post(f"/staff/finance/refunds/{refund.number}/approve", data={"csrf": csrf_of(boss)})
    assert twice.status_code == 409 and f"Refund {refund.number} is no longer waiting for approval (it is Approved)" \
        in twice.text and 'role="alert"' in twice.text
    # Supervisors approve but do not pay; finance pays. A manual leg has no Pay button: one form records it paid
    # with its reference, and the page shows what it goes back to (method, original transaction, payer).
    assert "/mark-paid" not in boss.get("/staff/finance?view=pay").text
    to_pay = finance.get("/staff/finance?view=pay")
    assert f"/staff/finance/refunds/{refund.number}/execute" not in to_pay.text
    with db.read() as s:
        leg = s.scalars(select(RefundPayment)).one()
    assert leg.state == "pending" and f"/staff/finance/payments/{leg.number}/mark-paid" in to_pay.text
    assert "By hand: finance pays it outside the system" in to_pay.text and "Original transaction" in to_pay.text
    version = re.search(rf'payments/{leg.number}/mark-paid".*?name="version" value="(\d+)"', to_pay.text, re.S)[1]
    empty = finance.post(f"/staff/finance/payments/{leg.number}/mark-paid",
                         data={"csrf": csrf_of(finance), "version": version, "back": "/staff/finance?view=pay"})
    assert empty.status_code == 422 and "Payment reference: enter the bank transfer" in empty.text
    assert 'aria-invalid="true"' in empty.text and count(db, RefundPayment, RefundPayment.state == "pending") == 1
    paid = finance.post(f"/staff/finance/payments/{leg.number}/mark-paid",
                        data={"csrf": csrf_of(finance), "reference": "BANK-778899", "note": "ICBC transfer",
                              "version": version, "back": "/staff/finance?view=done"})
    assert paid.status_code == 200 and "BANK-778899" in paid.text and refund.number in paid.text
    with db.read() as s:
        assert s.scalars(select(Refund)).one().state == "completed"
        leg = s.scalars(select(RefundPayment)).one()
        events = history(s, "refund_payment", leg.id)
    assert events[-1]["note"] == "ICBC transfer" and leg.reference == "BANK-778899"
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["state"] == "resolved"
    again = finance.post(f"/staff/finance/payments/{leg.number}/mark-paid",
                         data={"csrf": csrf_of(finance), "reference": "BANK-2", "version": version,
                               "back": "/staff/finance?view=pay"})
    assert again.status_code == 409 and count(db, RefundPayment, RefundPayment.reference == "BANK-2") == 0
    assert f"Payment {leg.number} is already recorded as paid (reference BANK-778899)" in again.text


def test_vouchers_by_period_with_csv_and_a_bad_period_named(app, db, client, shop):
    number = inspected_case(app, db, client, shop)
    admin = browser(app, "admin")
    admin.post(f"/staff/finance/cases/{number}/refunds", data={"csrf": csrf_of(admin)})  # admin: approved at once
    with db.read() as s:
        refund = s.scalars(select(Refund)).one()
        period = refund.created_at.strftime("%Y-%m")
    assert refund.state == "approved"
    page = admin.get("/staff/finance/vouchers", params={"period": period})
    assert "Refund decided" in page.text and number in page.text
    csv = admin.get("/staff/finance/vouchers.csv", params={"period": period})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "refund_decision" in csv.text and number in csv.text
    assert "No vouchers in this period." in admin.get("/staff/finance/vouchers", params={"period": "2001-01"}).text
    bad = admin.get("/staff/finance/vouchers", params={"period": "2026-13"})
    assert bad.status_code == 422 and "period" in bad.text


def test_roles_see_only_their_screens_and_others_get_a_translated_403(app, db, client, shop):
    number = case_awaiting_return(client, shop, db)["number"]
    expect = {"agent": (403, 403), "warehouse": (200, 403), "finance": (403, 200), "supervisor": (200, 200),
              "admin": (200, 200)}
    for role, (desk, money) in expect.items():
        web = browser(app, role)
        assert web.get("/staff/receiving").status_code == desk, role
        assert web.get(f"/staff/warehouse/cases/{number}").status_code == desk, role
        assert web.get("/staff/finance").status_code == money, role
        assert web.get("/staff/finance/vouchers").status_code == money, role
        nav = web.get("/staff/").text
        assert ('href="/staff/receiving"' in nav) == (desk == 200), role
        assert ('href="/staff/finance"' in nav) == (money == 200), role
    zh = browser(app, "agent", ZH)
    refused = zh.get("/staff/receiving")
    assert refused.status_code == 403 and "您的角色（客服）不能使用收货与质检页面" in refused.text
    assert "仓库、主管、管理员" in refused.text
    en = browser(app, "warehouse")
    refused = en.post("/staff/finance/refunds/RF0/approve", data={"csrf": csrf_of(en)})
    assert refused.status_code == 403 and "may not use the finance screens" in refused.text
    assert en.get("/staff/finance/vouchers.csv?period=2026-11").status_code == 403
    assert TestClient(app).get("/staff/receiving", follow_redirects=False).status_code == 303  # sign in first


@pytest.fixture
def fake_pay(app):
    from returnflow.refunds.gateways import GatewaySettings
    from tests.support.money import start_fake_pay

    provider = start_fake_pay()
    app.state.pay_settings = GatewaySettings(http_url=provider.url, http_api_key=provider.api_key,
                                             http_webhook_secret=provider.secret, http_timeout=2.0)
    yield provider
    provider.stop()


def test_a_failed_gateway_payment_waits_under_failed_payments_and_the_retry_sends_it_once_more(app, db, client,
                                                                                              fake_pay):
    from tests.support.money import paid_order, refund_only_case
    from tests.support.world import make_shop

    shop = make_shop(db, "pay")
    paid_order(db, shop, lines=(("SKU-A", "100.00", 1),), discount="0.00", shipping="0.00",
               payments=(("alipay", None),))
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"gateways": {"alipay": "http"}}).status_code == 200
    number = refund_only_case(db, shop, "M-1")
    web = TestClient(app, headers=EN)
    sign_in_staff(web, "finance@pay.test", "pw-finance")
    agent = TestClient(app, headers=EN)
    sign_in_staff(agent, "agent@pay.test", "pw-agent")
    agent.post(f"/staff/finance/cases/{number}/refunds", data={"csrf": csrf_of(agent)})  # 100.00: approved at once
    with db.read() as s:
        refund = s.scalars(select(Refund)).one()
    assert refund.state == "approved"
    fake_pay.config(fail_next=1)
    web.post(f"/staff/finance/refunds/{refund.number}/execute", data={"csrf": csrf_of(web)})
    with db.read() as s:
        leg = s.scalars(select(RefundPayment)).one()
    assert (leg.state, leg.attempt) == ("failed", 1)
    failed = web.get("/staff/finance?view=failed")
    assert f"Retry {refund.number}" in failed.text and "Failed payments (1)" in failed.text
    assert "/mark-paid" not in failed.text  # a gateway leg is retried, not marked paid by hand
    retried = web.post(f"/staff/finance/refunds/{refund.number}/execute",
                       data={"csrf": csrf_of(web), "back": "/staff/finance?view=failed"})
    assert retried.status_code == 200 and "Nothing here." in retried.text
    with db.read() as s:
        leg = s.scalars(select(RefundPayment)).one()
    assert (leg.state, leg.attempt) == ("sent", 2) and fake_pay.stats()["created"] == 1


def test_property_parcels_at_the_desk_add_up_per_line_and_never_beyond_the_claim(app, db, client, shop):
    """Any sequence of parcels typed at the desk (random per-line quantities, some too many): each accepted parcel
    adds exactly its quantities, a parcel asking for more than is still expected is refused whole, and the
    received quantities never pass the claim."""
    import itertools

    from hypothesis import HealthCheck, given, settings, strategies as st

    web = browser(app, "warehouse")
    orders = itertools.count(1)

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(parcels=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=4))
    def run(parcels):
        order = f"P-{next(orders)}"
        case = case_awaiting_return(client, shop, db, order, lines=(("SKU-A", "10.00", 3), ("SKU-B", "5.00", 1)))
        a, b = line_ids(client, shop, case["number"])
        got = {a: 0, b: 0}
        claim = {a: 3, b: 1}
        for qa, qb in parcels:
            r = web.post("/staff/receiving/parcels", data={"csrf": csrf_of(web), "case": case["number"],
                                                           "condition": "intact", f"qty_{a}": str(qa),
                                                           f"qty_{b}": str(qb)}, follow_redirects=False)
            fits = got[a] + qa <= claim[a] and got[b] + qb <= claim[b]
            if qa + qb == 0 or not fits:
                assert r.status_code in (409, 422), r.text
            else:
                assert r.status_code == 303, r.text
                got[a] += qa
                got[b] += qb
            lines = client.get(f"/api/v1/cases/{case['number']}", headers=shop.headers()).json()["lines"]
            assert {x["id"]: x["received_quantity"] for x in lines} == got

    run()
