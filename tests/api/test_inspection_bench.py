"""Inspection that is quick to do right, through the pages on SQLite and PostgreSQL: every checklist question reads
"yes = fine" and none is asked twice, "all fine" answers yes to every question without JavaScript, the customer's
evidence is shown beside the checklist, and the saved result reads in words (questions, answers, grade, verdict)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from returnflow.demo import CATEGORIES
from returnflow.i18n import SUPPORTED
from returnflow.warehouse import checklists
from returnflow.warehouse.models import Inspection
from tests.support.asgi import TestClient
from tests.support.portal import PNG, csrf_of, sign_in_staff
from tests.support.returns import case_awaiting_return, ship_back, shop_with_warehouse

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
# Questions where "yes" would be the bad answer (asked before the checklist read "yes = fine").
BAD_WHEN_YES = ("signs_of_use", "activation_traces", "activated")


def browser(app, role, headers=EN):
    web = TestClient(app, headers=headers)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


@pytest.mark.parametrize("attributes", [{}] + [attrs for _code, _zh, _en, attrs in CATEGORIES] + [
    {"checklist": ["serial number", "CCC mark"], "sanbao": True},
    {"one_time_seal": True, "checklist": ["Seal", "signs of use", "Accessories", "activation traces", "unworn"]}])
def test_no_category_asks_a_question_twice_and_yes_is_always_fine(attributes):
    keys = checklists.for_attributes(attributes)
    assert len(keys) == len(set(keys)), keys
    assert not set(keys) & set(BAD_WHEN_YES), keys
    for locale in SUPPORTED:
        labels = [item["label"] for item in checklists.describe(keys, locale)]
        assert len(labels) == len(set(labels)), labels
    assert set(checklists.BASE) <= set(keys)


def received(app, client, db, shop, category="electronics"):
    case = ship_back(client, shop, case_awaiting_return(client, shop, db, category=category,
                                                        lines=(("PHONE-1", "2999.00", 1),)))
    desk = browser(app, "warehouse")
    line = case["lines"][0]["id"]
    r = desk.post("/staff/receiving/parcels", data={"csrf": csrf_of(desk), "case": case["number"],
                                                    "condition": "intact", f"qty_{line}": "1"},
                  follow_redirects=False)
    assert r.status_code == 303
    return case, line, desk


def test_all_fine_answers_yes_to_every_question_beside_the_customers_evidence(app, client, db):
    shop = shop_with_warehouse(db, client)
    case, line, desk = received(app, client, db, shop)
    number = case["number"]
    shared = client.post(f"/api/v1/cases/{number}/attachments", params={"visibility": "customer"},
                         headers=shop.headers(), files={"file": ("crack.png", PNG, "image/png")}).json()
    internal = client.post(f"/api/v1/cases/{number}/attachments", headers=shop.headers(),
                           files={"file": ("desk-note.png", PNG, "image/png")}).json()
    bench = desk.get(f"/staff/warehouse/cases/{number}").text
    # The customer-visible photo beside the checklist (a thumbnail that opens it), never the internal one.
    evidence = bench[bench.index('class="evidence"'):]
    assert f'<img src="/staff/cases/{number}/files/{shared["id"]}"' in evidence
    assert f"/files/{internal['id']}" not in evidence
    # Electronics adds its own checks; its "accessories" is the base question, asked once.
    assert bench.count("Accessories, manuals and gifts complete?") == 1 and "Serial number matches the order?" in bench
    assert "Free of signs of use beyond trying it?" in bench and "Signs of use beyond trying it?" not in bench
    assert 'name="all_fine" value="yes" formnovalidate' in bench
    assert "B – light signs of handling, resellable" in bench  # the grades in words
    # "All fine": no question answered one by one (as a browser without JavaScript sends it).
    done = desk.post(f"/staff/warehouse/cases/{number}/inspections", data={
        "csrf": csrf_of(desk), "line_id": str(line), "grade": "B", "verdict": "accept", "all_fine": "yes"},
        follow_redirects=False)
    assert done.status_code == 303, done.text
    with db.read() as s:
        row = s.scalars(select(Inspection)).one()
        assert row.checklist == {key: True for key in checklists.for_attributes(
            {"checklist": ["serial number", "CCC mark"]})} and row.grade == "B"
    assert client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()["state"] == "inspected"
    # The saved result in words: each question with its answer, the grade and the verdict.
    page = desk.get(f"/staff/warehouse/cases/{number}").text
    saved = page[page.index('class="answers"'):]
    assert re.search(r"Free of signs of use beyond trying it\? <strong class=\"answer-yes\">Yes</strong>", saved)
    assert "CCC mark present and unaltered? <strong" in saved
    assert "<dd>B – light signs of handling, resellable</dd>" in page and "<dd>Accept</dd>" in page
    zh = browser(app, "warehouse", ZH).get(f"/staff/warehouse/cases/{number}").text
    assert "是否无超出试用的使用痕迹" in zh and "序列号是否与订单一致" in zh
    assert "<dd>B – 轻微拿取痕迹，可再售</dd>" in zh
    # A Traditional Chinese desk reads every question from the catalogs, none left in English.
    hant = browser(app, "warehouse", {"Accept-Language": "zh-TW,zh;q=0.9"}).get(f"/staff/warehouse/cases/{number}").text
    assert "是否無超出試用的使用痕跡" in hant and "序列號是否與訂單一致" in hant
    assert not [question for question in checklists.LABELS.values() if question in hant]
    # The case page shows the same saved answers and the grade in words.
    case_page = browser(app, "warehouse", ZH).get(f"/staff/cases/{number}").text
    answers = case_page[case_page.index('class="answers"'):]
    assert re.search(r"是否无超出试用的使用痕迹 <strong class=\"answer-yes\">是</strong>", answers)
    assert "B – 轻微拿取痕迹，可再售" in case_page


def test_a_question_left_out_is_named_in_words_and_nothing_is_saved(app, client, db):
    shop = shop_with_warehouse(db, client)
    case, line, desk = received(app, client, db, shop, category="general")
    answers = {f"ck_{k}": "yes" for k in checklists.BASE}
    del answers["ck_no_signs_of_use"]
    for web, words in ((desk, "Answer every question of the checklist: “Free of signs of use beyond trying it?”"),
                       (browser(app, "warehouse", ZH), "请回答检查单中的每个问题：“是否无超出试用的使用痕迹”")):
        r = web.post(f"/staff/warehouse/cases/{case['number']}/inspections", data={
            "csrf": csrf_of(web), "line_id": str(line), "grade": "A", "verdict": "accept", **answers})
        alert = re.search(r'<div class="error" role="alert".*?</div>', r.text, re.S).group(0)
        assert r.status_code == 422 and words in alert and "_" not in alert
    with db.read() as s:
        assert s.scalars(select(Inspection)).first() is None
    # A "no" is saved and shown as the answer to the question as asked.
    r = desk.post(f"/staff/warehouse/cases/{case['number']}/inspections", data={
        "csrf": csrf_of(desk), "line_id": str(line), "grade": "C", "verdict": "accept", **answers,
        "ck_no_signs_of_use": "no", "ck_defect_confirmed": "na"}, follow_redirects=False)
    assert r.status_code == 303
    page = desk.get(f"/staff/warehouse/cases/{case['number']}").text
    assert 'Free of signs of use beyond trying it? <strong class="answer-no">No</strong>' in page
    assert '<strong class="answer-na">n/a</strong>' in page and "<dd>C – visible wear" in page


def test_answers_under_the_old_question_are_read_the_right_way_round(client, db):
    shop = shop_with_warehouse(db, client)
    case = ship_back(client, shop, case_awaiting_return(client, shop, db, lines=(("SKU-A", "100.00", 1),)))
    number, line = case["number"], case["lines"][0]["id"]
    assert client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse"),
                       json={"code": number}).status_code == 201
    # An API client still sending "signs of use? no" means "free of signs of use? yes".
    r = client.post(f"/api/v1/cases/{number}/inspections", headers=shop.headers("warehouse"), json={"lines": [{
        "line_id": line, "grade": "A", "verdict": "accept", "checklist": {
            "original_item": True, "signs_of_use": False, "accessories_complete": True, "packaging_intact": True,
            "defect_confirmed": None}}]})
    assert r.status_code == 201, r.text
    with db.read() as s:
        assert s.scalars(select(Inspection)).one().checklist["no_signs_of_use"] is True
