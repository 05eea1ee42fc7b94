"""Reply templates (话术) from the settings pages: added, edited, hidden and deleted in the console, named in both
languages, refused with the field named in words and nothing written; the case page's picker reads the same
store (the API listing a case's replies offers only what agents may see)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from returnflow.notify.models import ReplyTemplate
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, recent_order, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
NEW = {"title_zh": "发货延迟致歉", "body_zh": "您好{customer_name}，售后单 {number} 的处理稍有延迟，非常抱歉。",
       "title_en": "Sorry for the delay", "body_en": "Hello {customer_name}, case {number} is taking longer; sorry.",
       "step": "review", "outcome": "", "visibility": "agents"}


@pytest.fixture
def shop(db):
    shop = make_shop(db, "rep", return_address=False)
    recent_order(db, shop.id, "O-R", days_ago=2)
    return shop


def admin(app, headers=EN) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_staff(web, "admin@rep.test", "pw-admin")
    return web


def rows(db) -> list[ReplyTemplate]:
    with db.read() as s:
        return list(s.scalars(select(ReplyTemplate).order_by(ReplyTemplate.locale)))


def errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="field-error" id="([^"]+)-err">([^<]+)<', html))


def test_a_reply_is_added_edited_hidden_and_deleted_from_the_console(app, client, db, shop):
    web = admin(app)
    token = csrf_of(web)
    listing = web.get("/staff/settings/replies")
    assert listing.status_code == 200 and "Greeting" in listing.text and "First contact" in listing.text
    assert "need_photos" not in listing.text.replace('href="/staff/settings/replies/need_photos"', "")
    r = web.post("/staff/settings/replies/new", data={"csrf": token, **NEW})
    assert r.status_code == 200 and "The reply template was saved" in r.text and "Sorry for the delay" in r.text
    saved = rows(db)
    assert [(x.locale, x.title, x.step, x.visibility) for x in saved] == [
        ("en", "Sorry for the delay", "review", "agents"), ("zh-CN", "发货延迟致歉", "review", "agents")]
    code = saved[0].code
    assert code not in re.sub(r'href="[^"]*"', "", r.text)  # named in words, never by its code
    # The case page's store offers it to agents, filled in for the case.
    picked = client.get("/api/v1/reply-templates", headers=shop.headers("agent"), params={"locale": "en"}).json()
    assert any(t["code"] == code and t["visibility"] == "agents" for t in picked)
    # Edited: only Chinese, hidden from agents.
    edit = web.get(f"/staff/settings/replies/{code}")
    assert edit.status_code == 200 and "Sorry for the delay" in edit.text
    r = web.post(f"/staff/settings/replies/{code}", data={"csrf": token, **NEW, "title_en": "", "body_en": "",
                                                         "visibility": "hidden", "outcome": "approved"})
    assert r.status_code == 200 and "Hidden (kept, not offered on the case page)" in r.text
    assert [(x.locale, x.visibility, x.outcome) for x in rows(db)] == [("zh-CN", "hidden", "approved")]
    case = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": "O-R", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]})
    assert case.status_code == 201, case.text
    for_case = client.get("/api/v1/reply-templates", headers=shop.headers("agent"),
                          params={"case": case.json()["number"]}).json()
    assert for_case and code not in {t["code"] for t in for_case}  # hidden: not offered on a case
    r = web.post(f"/staff/settings/replies/{code}/delete", data={"csrf": token})
    assert "The reply template was deleted" in r.text and rows(db) == []
    assert web.get(f"/staff/settings/replies/{code}").status_code == 404


def test_hidden_replies_are_not_offered_on_a_case(db, shop):
    from returnflow.notify import replies

    with db.transaction() as s:
        replies.save(s, shop.id, code="own_1", locale="en", step="", outcome="", title="Quiet", body="Hi {number}",
                     visibility="hidden")
        replies.save(s, shop.id, code="greeting", locale="en", step="intake", outcome="", title="Hello",
                     body="Hello {number}", visibility="hidden")
    with db.read() as s:
        offered = {t["code"] for t in replies.listing(s, shop.id, locale="en", step=None, outcome=None, case=None,
                                                       hidden=False)}
        every = {t["code"] for t in replies.listing(s, shop.id, locale="en", step=None, outcome=None, case=None)}
    assert "own_1" not in offered and "greeting" not in offered and "need_photos" in offered
    assert {"own_1", "greeting"} <= every


def test_bad_reply_input_names_the_field_in_words_and_writes_nothing(app, db, shop):
    web = admin(app, ZH)
    token = csrf_of(web)
    cases = [
        ({**NEW, "body_zh": ""}, {"body_zh": "请填写中文回复，或把中文名称也留空。"}),
        ({**NEW, "title_en": ""}, {"title_en": "请填写英文名称，或把英文回复也留空。"}),
        ({**NEW, "title_zh": "", "body_zh": "", "title_en": "", "body_en": ""},
         {"title_zh": "请至少用一种语言填写名称和回复。"}),
        ({**NEW, "step": "teleport", "visibility": "everyone"},
         {"step": "请从列表中选择适用环节。", "visibility": "请从列表中选择谁能看到这条回复。"}),
    ]
    for form, expected in cases:
        r = web.post("/staff/settings/replies/new", data={"csrf": token, **form})
        assert r.status_code == 422 and errors(r.text) == expected, (form, errors(r.text))
    bad = web.post("/staff/settings/replies/new", data={"csrf": token, **NEW, "body_en": "Hi {nmber}"})
    assert bad.status_code == 422 and errors(bad.text)["body_en"].startswith("英文回复：{nmber} 不是可用的占位符")
    assert "{number}" in errors(bad.text)["body_en"]
    en = admin(app)
    bad = en.post("/staff/settings/replies/new", data={"csrf": csrf_of(en), **NEW, "title_zh": "致歉 {x.y}"})
    assert errors(bad.text) == {"title_zh": "Name in Chinese: {x.y} is not a placeholder you may use; use {number}, "
                                            "{customer_name}, {order}, {state_label}, {merchant}."}
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(ReplyTemplate)) == 0
    assert web.post("/staff/settings/replies/new", data={**NEW, "csrf": "x" * 40}).status_code == 403


def test_replies_are_offered_and_written_in_every_language_of_the_desk(client, db, shop):
    """The built-in replies come from the catalogs, so Traditional Chinese (zh-TW asks for zh-Hant) has them too; a
    merchant writes its own in any language of the desk; a language the desk lacks is refused naming `locale`."""
    hant = client.get("/api/v1/reply-templates", headers=shop.headers("agent"), params={"locale": "zh-TW"})
    assert hant.status_code == 200, hant.text
    greeting = next(r for r in hant.json() if r["code"] == "greeting")
    assert greeting["locale"] == "zh-Hant" and greeting["title"] == "問候" and "售後" in greeting["body"]
    saved = client.put("/api/v1/reply-templates/delay_sorry/zh-Hant", headers=shop.headers("admin"),
                       json={"step": "review", "title": "處理延遲致歉", "body": "您好{customer_name}，售後單 {number} 稍有延遲。"})
    assert saved.status_code == 200 and saved.json()["locale"] == "zh-Hant"
    refused = client.put("/api/v1/reply-templates/delay_sorry/fr", headers=shop.headers("admin", **ZH),
                         json={"title": "Désolé", "body": "Bonjour"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "locale"
    assert "「fr」不是本系统支持的语言" in refused.json()["error"]["message"]
    assert [(r.code, r.locale) for r in rows(db)] == [("delay_sorry", "zh-Hant")]


def test_the_console_form_has_a_section_for_every_language_of_the_desk(app, db, shop):
    """A merchant writes its own reply in Traditional Chinese from the console too: the form has a section per
    language of the catalogs; a name without its text is refused in the reader's words, naming the language."""
    web = admin(app, headers={"Accept-Language": "zh-TW"})
    form = web.get("/staff/settings/replies/new")
    assert form.status_code == 200 and 'name="title_zh_hant"' in form.text and 'name="body_zh_hant"' in form.text
    token = csrf_of(web)
    half = web.post("/staff/settings/replies/new", data={"csrf": token, "title_zh_hant": "延遲致歉", "step": "review",
                                                          "outcome": "", "visibility": "agents"})
    assert half.status_code == 422 and errors(half.text)["body_zh_hant"].startswith("請輸入") and "繁體" in errors(half.text)["body_zh_hant"]
    assert rows(db) == []
    done = web.post("/staff/settings/replies/new", follow_redirects=False, data={
        "csrf": token, "title_zh_hant": "延遲致歉", "body_zh_hant": "您好{customer_name}，售後單 {number} 稍有延遲。",
        "step": "review", "outcome": "", "visibility": "agents"})
    assert done.status_code == 303
    assert [(r.locale, r.title) for r in rows(db)] == [("zh-Hant", "延遲致歉")]
