"""Following a case in the portal: plans the customer accepts or declines, "refunded" on the timeline, the rating
at the end, messages with files — and the bad input the issue lists. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select, text

from returnflow.db import utcnow
from returnflow.sla.models import Timer

from tests.support.asgi import TestClient
from tests.support.money import paid_order, refund_only_case
from tests.support.portal import PNG, count, csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    recent_order(db, shop.id, "O-200", customer="C-2", email="other@example.com")
    return shop


def open_case(client, shop, order: str = "O-100") -> str:
    body = {"order": order, "type": "return_refund", "channel": "portal", "reason": "wrong_size",
            "lines": [{"line_no": 1, "quantity": 1}]}
    return client.post("/api/v1/cases", json=body, headers=shop.headers("agent")).json()["number"]


def customer(app, db, order="O-100", email="buyer@example.com", headers=EN) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_customer(web, db, "shop", order, email)
    return web


def agent(app, headers=EN) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    return web


def shown_version(web, number) -> str:
    """The case version the staff case page shows (every action form sends it back)."""
    return re.search(r'name="version" value="(\d+)"', web.get(f"/staff/cases/{number}").text).group(1)


def propose(web, number, kind="partial_refund", amount="120.00", note="Keep the coat, we refund 120.00"):
    return web.post(f"/staff/cases/{number}/plans", data={"csrf": csrf_of(web), "kind": kind, "amount": amount,
                                                          "note": note, "version": shown_version(web, number)})


def plan_id(html: str) -> str:
    return re.search(r"/plans/(\d+)/accept", html).group(1)


def test_agent_proposes_a_plan_the_customer_accepts_and_the_timeline_records_it(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    assert propose(staff, number).status_code == 200
    web = customer(app, db)
    page = web.get(f"/p/shop/cases/{number}")
    assert "The shop proposes a plan" in page.text and "Partial refund (keep the item)" in page.text
    assert "120.00" in page.text and "Keep the coat, we refund 120.00" in page.text
    done = web.post(f"/p/shop/cases/{number}/plans/{plan_id(page.text)}/accept", data={"csrf": csrf_of(web)})
    assert done.status_code == 200 and "you accepted the plan" in done.text
    assert "You accepted the plan." in done.text and "The shop proposes a plan" not in done.text
    timeline = [e["action"] for e in client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["timeline"]]
    assert timeline[-2:] == ["propose_plan", "accept_plan"]
    assert "Accepted by the customer" in staff.get(f"/staff/cases/{number}").text


def test_a_declined_plan_goes_back_to_the_agent_in_the_plan_declined_queue(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    propose(staff, number, kind="exchange", amount="", note="We send a new one in size L")
    web = customer(app, db, headers=ZH)
    page = web.get(f"/p/shop/cases/{number}")
    assert "商家提出了处理方案" in page.text
    web.post(f"/p/shop/cases/{number}/plans/{plan_id(page.text)}/decline",
             data={"csrf": csrf_of(web), "note": "I want my money back"})
    queue = staff.get("/staff/?view=plan_declined")
    assert number in queue.text
    case_page = staff.get(f"/staff/cases/{number}")
    assert "Declined by the customer" in case_page.text and "I want my money back" in case_page.text
    # a new plan takes the case out of that queue
    propose(staff, number, kind="full_refund", amount="", note="Full refund then")
    assert number not in staff.get("/staff/?view=plan_declined").text


def test_accepting_a_withdrawn_plan_is_refused_in_the_customers_language_and_changes_nothing(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    propose(staff, number)
    web = customer(app, db, headers=ZH)
    pid = plan_id(web.get(f"/p/shop/cases/{number}").text)
    staff.post(f"/staff/cases/{number}/plans/{pid}/withdraw",
               data={"csrf": csrf_of(staff), "version": shown_version(staff, number)})
    events = count(db, "case_events")
    late = web.post(f"/p/shop/cases/{number}/plans/{pid}/accept", data={"csrf": csrf_of(web)})
    assert late.status_code == 409 and "该方案已撤回或已答复" in late.text
    assert count(db, "case_events") == events
    assert count(db, "case_plans", "status = 'withdrawn'") == 1
    # a second plan while one is open is refused too
    propose(staff, number)
    again = propose(staff, number)
    assert again.status_code == 409 and "Withdraw it before proposing another" in again.text
    assert count(db, "case_plans") == 2


def test_bad_plan_amounts_are_refused_naming_the_field(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    for amount in ("abc", "-5", "0", "1.234", "99999999"):
        refused = propose(staff, number, amount=amount)
        assert refused.status_code == 422 and "Amount" in refused.text, amount
    assert propose(staff, number, kind="teleport").status_code == 422
    assert count(db, "case_plans") == 0


def test_another_customers_case_and_plan_are_not_found_and_nothing_leaks(app, db, shop, client):
    mine, theirs = open_case(client, shop, "O-100"), open_case(client, shop, "O-200")
    staff = agent(app)
    propose(staff, theirs, note="secret plan for C-2")
    web = customer(app, db)
    page = web.get(f"/p/shop/cases/{theirs}")
    assert page.status_code == 404 and "secret plan" not in page.text
    with db.engine.connect() as conn:
        pid = conn.execute(text("SELECT id FROM case_plans")).scalar_one()
    for path in (f"/p/shop/cases/{theirs}/plans/{pid}/accept", f"/p/shop/cases/{mine}/plans/{pid}/accept",
                 f"/p/shop/cases/{theirs}/survey"):
        refused = web.post(path, data={"csrf": csrf_of(web), "score": "5"})
        assert refused.status_code in (404, 409) and "secret plan" not in refused.text, path
    assert count(db, "case_plans", "status = 'proposed'") == 1


def test_forged_posts_without_the_csrf_token_change_nothing(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    propose(staff, number)
    web = customer(app, db)
    pid = plan_id(web.get(f"/p/shop/cases/{number}").text)
    events = count(db, "case_events")
    for path, data in ((f"/p/shop/cases/{number}/plans/{pid}/accept", {}),
                       (f"/p/shop/cases/{number}/survey", {"score": "5"}),
                       (f"/p/shop/cases/{number}/messages", {"body": "hi"})):
        forged = web.post(path, data={**data, "csrf": "x" * 43})
        assert forged.status_code == 403 and "Reload the page" in forged.text
    for path, data in ((f"/staff/cases/{number}/plans", {"kind": "repair", "note": "x"}),
                       (f"/staff/cases/{number}/handoffs", {"team": "qc", "note": "x"})):
        assert staff.post(path, data=data).status_code == 403
    assert count(db, "case_events") == events and count(db, "case_handoffs") == 0
    assert count(db, "case_messages") == 0 and count(db, "survey_responses") == 0


def test_after_the_refund_is_paid_the_customer_sees_refunded_and_rates_once(app, db, client):
    shop = make_shop(db, "shop")
    paid_order(db, shop, "M-1", payments=(("alipay", None),))
    number = refund_only_case(db, shop, "M-1")
    web = customer(app, db, order="M-1", email="C-1@example.com")
    early = web.post(f"/p/shop/cases/{number}/survey", data={"csrf": csrf_of(web), "score": "5"})
    assert early.status_code == 409 and "once your request is done" in early.text
    refund = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={}).json()
    leg = refund["payments"][0]["number"]
    paid = client.post(f"/api/v1/refund-payments/{leg}/mark-paid", headers=shop.headers("finance"),
                       json={"reference": "BANK-1"})
    assert paid.status_code == 200, paid.text
    page = web.get(f"/p/shop/cases/{number}")
    assert "Refunded" in page.text and f"{refund['amount']} CNY" in page.text
    assert "back to your original payment method" in page.text and "Rate our service" in page.text
    assert "accepted:" not in page.text  # a refund without return has nothing inspected to count
    assert web.post(f"/p/shop/cases/{number}/survey", data={"csrf": csrf_of(web), "score": "9"}).status_code == 422
    rated = web.post(f"/p/shop/cases/{number}/survey",
                     data={"csrf": csrf_of(web), "score": "4", "comment": "quick and polite"})
    assert rated.status_code == 200 and "You rated this request 4 out of 5" in rated.text
    zh = TestClient(app, headers=ZH, cookies=web.cookies)
    twice = zh.post(f"/p/shop/cases/{number}/survey", data={"csrf": csrf_of(web), "score": "1"})
    assert twice.status_code == 409 and "您已评价过此申请" in twice.text
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT score, comment FROM survey_responses")).one() == (4, "quick and polite")


def test_a_refund_waits_for_the_customers_answer_and_then_follows_the_accepted_plan(app, db, client):
    shop = make_shop(db, "shop")
    paid_order(db, shop, "M-1", payments=(("alipay", None),))
    number = refund_only_case(db, shop, "M-1")
    staff = agent(app)
    assert propose(staff, number, amount="30.00", note="Keep it, we refund 30.00").status_code == 200
    early = client.post(f"/api/v1/cases/{number}/refunds", headers={**shop.headers("agent"), **ZH}, json={})
    assert early.status_code == 409 and early.json()["error"]["code"] == "plan_awaiting_customer"
    assert "等待顾客确认" in early.text and count(db, "refunds") == 0
    quoted = client.post(f"/api/v1/cases/{number}/refunds/quote", headers=shop.headers("agent"), json={})
    assert quoted.status_code == 409
    finance = TestClient(app, headers=EN)
    sign_in_staff(finance, "supervisor@shop.test", "pw-supervisor")
    assert "waiting for the customer's answer" in finance.get(f"/staff/finance/cases/{number}").text.replace("&#39;", "'")
    web = customer(app, db, order="M-1", email="C-1@example.com")
    page = web.get(f"/p/shop/cases/{number}").text
    web.post(f"/p/shop/cases/{number}/plans/{plan_id(page)}/accept", data={"csrf": csrf_of(web)})
    over = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={"amount": "30.01"})
    assert over.status_code == 422 and over.json()["error"]["code"] == "over_agreed" and "30.00" in over.text
    assert count(db, "refunds") == 0
    quoted = client.post(f"/api/v1/cases/{number}/refunds/quote", headers=shop.headers("agent"), json={})
    assert quoted.status_code == 200 and quoted.json()["total"] == "30.00", quoted.text
    refund = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={})
    assert refund.status_code == 201, refund.text
    assert refund.json()["amount"] == "30.00"


def test_an_accepted_store_credit_plan_is_the_customers_consent_to_that_route(app, db, client):
    shop = make_shop(db, "shop")
    paid_order(db, shop, "M-1", payments=(("alipay", None),))
    number = refund_only_case(db, shop, "M-1")
    without = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={"route": "balance"})
    assert without.status_code == 422 and without.json()["error"]["field"] == "consent"
    staff = agent(app)
    propose(staff, number, kind="store_credit", amount="45.00", note="45.00 as store credit")
    web = customer(app, db, order="M-1", email="C-1@example.com")
    page = web.get(f"/p/shop/cases/{number}").text
    web.post(f"/p/shop/cases/{number}/plans/{plan_id(page)}/accept", data={"csrf": csrf_of(web)})
    refund = client.post(f"/api/v1/cases/{number}/refunds", headers=shop.headers("agent"), json={"route": "balance"})
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["amount"] == "45.00" and body["route"] == "balance"
    assert body["consent"]["channel"] == "portal" and "store credit of 45.00" in body["consent"]["statement"]


def test_a_reply_carries_a_photo_and_a_pdf_and_refuses_other_files(app, db, shop, client, settings):
    number = open_case(client, shop)
    web = customer(app, db)
    sent = web.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "receipt attached"},
                    files=[("files", ("receipt.pdf", PDF, "application/pdf")),
                           ("files", ("tag.png", PNG, "image/png"))])
    assert sent.status_code == 200 and "receipt.pdf" in sent.text and "tag.png" in sent.text
    assert count(db, "attachments") == 2
    staff = agent(app)
    assert "receipt.pdf" in staff.get(f"/staff/cases/{number}").text
    before = (count(db, "attachments"), count(db, "case_messages"))
    wrong = web.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "see this"},
                     files=[("files", ("virus.exe", b"MZ\x90\x00" + b"\0" * 200, "application/octet-stream"))])
    assert wrong.status_code == 415 and "virus.exe" in wrong.text and "PDF" in wrong.text
    zh = TestClient(app, headers=ZH, cookies=web.cookies)
    video = zh.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "video"},
                    files=[("files", ("clip.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 100, "video/mp4"))])
    assert video.status_code == 415 and "clip.mp4" in video.text and "只能发送" in video.text
    big = PDF + b"0" * settings.max_image_bytes
    too_big = web.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "big"},
                       files=[("files", ("scan.pdf", big, "application/pdf"))])
    assert too_big.status_code == 413 and "scan.pdf" in too_big.text and "10 MB" in too_big.text
    assert (count(db, "attachments"), count(db, "case_messages")) == before


def test_due_soon_and_overdue_queues_follow_the_sla_timers(app, db, shop, client):
    recent_order(db, shop.id, "O-300", customer="C-3", email="third@example.com")
    soon, late, fresh = (open_case(client, shop, order) for order in ("O-100", "O-200", "O-300"))
    with db.engine.begin() as conn:
        ids = dict(conn.execute(text("SELECT number, id FROM cases")).all())
        assert conn.execute(text("SELECT COUNT(*) FROM sla_timers WHERE kind = 'review.due' AND status = 'pending'")
                            ).scalar_one() == 3
    with db.transaction() as session:
        for timer in session.scalars(select(Timer).where(Timer.kind == "review.due")):
            if timer.case_id == ids[soon]:
                timer.due_at = utcnow() + timedelta(hours=1)
            elif timer.case_id == ids[late]:
                timer.due_at = utcnow() - timedelta(hours=3)
            else:
                timer.due_at = utcnow() + timedelta(days=3)
    staff = agent(app)
    due_soon = staff.get("/staff/?view=due_soon").text
    overdue = staff.get("/staff/?view=overdue").text
    assert soon in due_soon and late not in due_soon and fresh not in due_soon
    assert late in overdue and soon not in overdue and fresh not in overdue and "overdue" in overdue
    # the step ends (approved): the case leaves the overdue queue
    client.post(f"/api/v1/cases/{late}/actions/reject", headers=shop.headers("agent"),
                json={"version": 1, "payload": {"reason": "not eligible"}})
    assert late not in staff.get("/staff/?view=overdue").text
    # filters still apply inside the queue
    assert soon not in staff.get(f"/staff/?view=due_soon&q={fresh}").text
    zh = agent(app, headers=ZH)
    assert "即将到期" in zh.get("/staff/?view=due_soon").text


def test_an_agents_reply_carries_a_pdf_the_customer_opens_and_bad_files_change_nothing(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    page = staff.get(f"/staff/cases/{number}").text
    assert 'name="files"' in page and 'enctype="multipart/form-data"' in page
    guide = PDF + b"% packing guide\n"
    sent = staff.post(f"/staff/cases/{number}/messages", data={"csrf": csrf_of(staff), "body": "How to pack it"},
                      files=[("files", ("packing-guide.pdf", guide, "application/pdf"))])
    assert sent.status_code == 200 and "packing-guide.pdf" in sent.text
    assert count(db, "attachments") == 1 and count(db, "case_messages") == 1
    web = customer(app, db)
    mine = web.get(f"/p/shop/cases/{number}").text
    link = re.search(rf"/p/shop/cases/{number}/files/(\d+)", mine)
    assert "How to pack it" in mine and "packing-guide.pdf" in mine and link
    fetched = web.get(link.group(0))
    assert fetched.status_code == 200 and fetched.content == guide
    other = customer(app, db, order="O-200", email="other@example.com")
    assert other.get(link.group(0)).status_code == 404
    before = (count(db, "attachments"), count(db, "case_messages"))
    zh = TestClient(app, headers=ZH, cookies=staff.cookies)
    wrong = zh.post(f"/staff/cases/{number}/messages", data={"csrf": csrf_of(staff), "body": "see this"},
                    files=[("files", ("tool.exe", b"MZ\x90\x00" + b"\0" * 200, "application/octet-stream"))])
    assert wrong.status_code == 415 and "tool.exe" in wrong.text and "只能发送" in wrong.text
    four = staff.post(f"/staff/cases/{number}/messages", data={"csrf": csrf_of(staff), "body": "many"},
                      files=[("files", (f"p{i}.pdf", PDF, "application/pdf")) for i in range(4)])
    assert four.status_code == 422 and "at most 3" in four.text
    assert (count(db, "attachments"), count(db, "case_messages")) == before


def test_hand_offs_are_listed_per_team_shown_to_staff_and_never_to_the_customer(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    made = staff.post(f"/staff/cases/{number}/handoffs",
                      data={"csrf": csrf_of(staff), "team": "supplier", "note": "seam torn on arrival; check lot 7"})
    assert made.status_code == 200 and "seam torn on arrival" in made.text
    assert number in staff.get("/staff/handoffs?team=supplier").text
    assert number not in staff.get("/staff/handoffs?team=qc").text
    web = customer(app, db)
    assert "seam torn" not in web.get(f"/p/shop/cases/{number}").text
    detail = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()
    assert "seam torn" not in str(detail)
    bad = staff.post(f"/staff/cases/{number}/handoffs", data={"csrf": csrf_of(staff), "team": "legal", "note": "x"})
    assert bad.status_code == 422 and "Team" in bad.text
    empty = staff.post(f"/staff/cases/{number}/handoffs", data={"csrf": csrf_of(staff), "team": "qc", "note": " "})
    assert empty.status_code == 422
    with db.engine.connect() as conn:
        hid = conn.execute(text("SELECT id FROM case_handoffs")).scalar_one()
    done = staff.post(f"/staff/cases/{number}/handoffs/{hid}/done",
                      data={"csrf": csrf_of(staff), "note": "supplier credits the unit"})
    assert done.status_code == 200 and "supplier credits the unit" in done.text
    twice = staff.post(f"/staff/cases/{number}/handoffs/{hid}/done", data={"csrf": csrf_of(staff), "note": "again"})
    assert twice.status_code == 409
    assert count(db, "case_handoffs", "status = 'done'") == 1


def test_reply_templates_are_filled_with_the_case_and_the_case_page_shows_money_and_approvals(app, db, shop, client):
    number = open_case(client, shop)
    staff = agent(app)
    page = staff.get(f"/staff/cases/{number}?template=greeting")
    # the customer's language is zh-CN: the template is theirs, with the case number filled in
    assert f"您的售后单号是 {number}" in page.text
    assert "{number}" not in page.text
    assert "Approvals" in page.text and "Money" in page.text and "Shipments" in page.text
    assert "Inspection results" in page.text


def test_plan_events_cannot_be_forged_through_the_api(app, db, shop, client):
    number = open_case(client, shop)
    events = count(db, "case_events")
    for payload in ({"plan": 999, "kind": "exchange"}, {"plan": "1", "kind": "exchange"}, {"kind": "exchange"}):
        forged = client.post(f"/api/v1/cases/{number}/actions/propose_plan", headers=shop.headers("agent"),
                             json={"version": 1, "payload": payload})
        assert forged.status_code == 422 and "payload.plan" in forged.text
    staff = agent(app)
    propose(staff, number)
    with db.engine.connect() as conn:
        pid = conn.execute(text("SELECT id FROM case_plans")).scalar_one()
    # the plan is proposed once, through the plan form: the same step again is refused
    again = client.post(f"/api/v1/cases/{number}/actions/propose_plan", headers=shop.headers("agent"),
                        json={"version": 2, "payload": {"plan": pid, "kind": "partial_refund"}})
    assert again.status_code == 422
    withdraw = client.post(f"/api/v1/cases/{number}/actions/withdraw_plan", headers=shop.headers("agent"),
                           json={"version": 2, "payload": {"plan": pid}})
    assert withdraw.status_code == 422  # the row is still proposed: withdraw through the page
    assert count(db, "case_events") == events + 1


def test_while_the_items_go_back_the_customer_sees_how_and_prints_the_label(app, db, client):
    from tests.support.returns import case_awaiting_return, shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db, order="O-1")
    number = case["number"]
    with db.read() as s:
        email = s.execute(text("SELECT c.email FROM customers c JOIN cases k ON k.customer_id = c.id "
                               "WHERE k.number = :n"), {"n": number}).scalar_one()
    web = TestClient(app, headers=ZH)
    sign_in_customer(web, db, shop.code, "O-1", email)
    page = web.get(f"/p/{shop.code}/cases/{number}").text
    instructions = client.get(f"/api/v1/cases/{number}/return-instructions", headers=shop.headers()).json()
    assert "如何寄回商品" in page and f"请在包裹上写明 {number}" in page
    assert instructions["address"]["address"] in page and instructions["packing_advice"][0] in page
    label = web.get(f"/p/{shop.code}/cases/{number}/return-label.pdf")
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(label.content)
    assert number in document[0].get_textpage().get_text_range()
    document.close()
    # another customer's session cannot print it
    recent_order(db, shop.id, "O-900", customer="C-9", email="someone@example.com")
    other = TestClient(app, headers=EN)
    sign_in_customer(other, db, shop.code, "O-900", "someone@example.com")
    assert other.get(f"/p/{shop.code}/cases/{number}/return-label.pdf").status_code == 404
