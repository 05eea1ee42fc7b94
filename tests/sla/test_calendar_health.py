"""Working calendars that do not run out silently: a yearly calendar missing this year's (or, from November, next
year's) public holidays is reported by /healthz in the caller's language, until the merchant completes the year in
its SLA settings; the EU and UK calendars come from the holidays library and never run out. Times are fixed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from returnflow.sla import calendar
from tests.support.world import make_shop

pytestmark = pytest.mark.clock  # depends on today's date: also run a year ahead (scripts/test)

UTC = timezone.utc


def health(app, client, now: datetime, lang: str = "en") -> list[dict]:
    app.state.clock = lambda: now
    answer = client.get("/healthz", headers={"Accept-Language": lang})
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    return answer.json()["warnings"]


def test_next_years_missing_holidays_are_reported_from_november_until_the_merchant_enters_them(app, client, db):
    shop = make_shop(db, "cal")
    assert health(app, client, datetime(2026, 10, 31, 15, 0, tzinfo=UTC)) == []  # still October in Shanghai
    # 2026-10-31 16:30 UTC is already 1 November in Shanghai, the merchant's time zone.
    [gap] = health(app, client, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    assert (gap["merchant"], gap["calendar"], gap["year"]) == ("cal", "cn-mainland", 2027)
    assert "has no public holidays for 2027" in gap["message"] and "Mainland China" in gap["message"]
    assert "cn-mainland" not in gap["message"]  # the calendar in words, never its code
    [zh] = health(app, client, datetime(2026, 12, 6, 2, 0, tzinfo=UTC), lang="zh-CN")
    assert "缺少 2027 年的节假日" in zh["message"] and "时限设置" in zh["message"]
    # In January the current year itself is missing.
    assert [g["year"] for g in health(app, client, datetime(2027, 1, 4, 2, 0, tzinfo=UTC))] == [2027]

    days = {"holidays": ["2027-01-01", "2027-02-05", "2027-02-08"], "workdays": ["2027-02-20"],
            "calendar_years": [2027]}
    saved = client.put("/api/v1/sla/settings", headers=shop.headers("admin"), json=days)
    assert saved.status_code == 200, saved.text
    assert health(app, client, datetime(2026, 12, 6, 2, 0, tzinfo=UTC)) == []
    assert health(app, client, datetime(2027, 11, 2, 2, 0, tzinfo=UTC))[0]["year"] == 2028


def test_a_bad_year_list_is_refused_naming_the_field_and_nothing_changes(app, client, db):
    shop = make_shop(db, "cal")
    for bad in ([1999], ["2027"], 2027, [True]):
        answer = client.put("/api/v1/sla/settings", headers={**shop.headers("admin"), "Accept-Language": "en"},
                            json={"calendar_years": bad})
        assert answer.status_code == 422 and "calendar_years" in answer.text, (bad, answer.text)
    assert client.get("/api/v1/sla/settings", headers=shop.headers("admin")).json()["settings"].get(
        "calendar_years", []) == []
    assert len(health(app, client, datetime(2026, 12, 6, 2, 0, tzinfo=UTC))) == 1


def test_uk_and_eu_calendars_come_from_the_holidays_library_and_never_run_out(app, client, db):
    shop = make_shop(db, "london", "GBP")
    saved = client.put("/api/v1/sla/settings", headers=shop.headers("admin"),
                       json={"calendar": "gb-eng", "timezone": "Europe/London"})
    assert saved.status_code == 200, saved.text
    assert health(app, client, datetime(2031, 12, 1, 12, 0, tzinfo=UTC)) == []
    cal = calendar.load("gb-eng", "Europe/London")
    # Good Friday 2027 is 26 March, Easter Monday 29 March: 9 working hours from Thursday 17:00 end on Tuesday.
    start = datetime(2027, 3, 25, 17, 0, tzinfo=UTC)
    due = calendar.add_working_time(cal, start, timedelta(hours=9))
    assert due.astimezone(cal.tz).date().isoformat() == "2027-03-30"
    assert not cal.is_working_day(datetime(2027, 12, 27).date())  # the Christmas Day substitute holiday
    assert calendar.load("de", "Europe/Berlin").is_working_day(datetime(2027, 12, 27).date())


def test_admins_and_supervisors_see_the_missing_year_on_the_console_and_agents_do_not(app, db):
    from tests.support.asgi import TestClient

    from returnflow.pages import calendar_banner
    from tests.support.portal import sign_in_staff

    make_shop(db, "cal")
    calendar_banner.forget()
    app.state.clock = lambda: datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    seen = {}
    for role, lang in (("admin", "zh-CN"), ("supervisor", "en"), ("agent", "en")):
        web = TestClient(app, headers={"Accept-Language": lang})
        sign_in_staff(web, f"{role}@cal.test", "pw-" + role)
        seen[role] = web.get("/staff/").text
    assert 'id="calendar-gap"' in seen["admin"] and "缺少 2027 年的节假日" in seen["admin"]
    assert 'href="/staff/settings/sla"' in seen["admin"]
    assert "has no public holidays for 2027" in seen["supervisor"] and 'href="/staff/settings/sla"' not in \
        seen["supervisor"].split('id="calendar-gap"')[1].split("</div>")[0]
    assert 'id="calendar-gap"' not in seen["agent"]
    calendar_banner.forget()


def test_an_admin_completes_a_missing_year_on_the_sla_page_and_the_banner_goes(app, db):
    from tests.support.asgi import TestClient

    from returnflow.pages import calendar_banner
    from tests.support.portal import csrf_of, sign_in_staff

    shop = make_shop(db, "cal")
    calendar_banner.forget()
    app.state.clock = lambda: datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    web = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(web, "admin@cal.test", "pw-admin")
    page = web.get("/staff/settings/sla")
    assert 'id="calendar-gap"' in page.text and 'name="calendar_years"' in page.text
    form = {"csrf": csrf_of(web), "calendar": "cn-mainland", "timezone": "Asia/Shanghai", "work_start": "09:00",
            "work_end": "18:00", "follow_up_days": "7", "holidays": "2027-01-01\n2027-02-05",
            "workdays": "2027-02-20"}
    from returnflow.sla import settings as sla_settings

    for step, conf in sla_settings.DEFAULT_STEPS.items():
        business = "business_hours" in conf
        form.update({f"steps.{step}.clock": "business_hours" if business else "hours",
                     f"steps.{step}.amount": str(conf["business_hours"] if business else conf["hours"]),
                     f"steps.{step}.remind_before_hours": str(conf.get("remind_before_hours") or ""),
                     f"steps.{step}.auto_action": conf.get("auto_action") or ""})
    bad = web.post("/staff/settings/sla", data={**form, "calendar_years": "20x7"})
    assert bad.status_code == 422 and "Enter years such as 2027" in bad.text
    assert health(app, client=web, now=datetime(2026, 12, 6, 2, 0, tzinfo=UTC))[0]["year"] == 2027
    done = web.post("/staff/settings/sla", data={**form, "calendar_years": "2027"})
    assert done.status_code == 200, done.text
    calendar_banner.forget()
    assert 'id="calendar-gap"' not in web.get("/staff/settings/sla").text
    assert health(app, web, datetime(2026, 12, 6, 2, 0, tzinfo=UTC)) == []
    with db.read() as session:
        cal = sla_settings.calendar_of(sla_settings.for_merchant(session, shop.id))
    assert not cal.is_working_day(datetime(2027, 2, 5).date()) and cal.is_working_day(datetime(2027, 2, 20).date())
    # A library calendar lists this year's and next year's holidays only.
    london = web.post("/staff/settings/sla", data={**form, "calendar": "gb-eng", "timezone": "Europe/London",
                                                   "holidays": "", "workdays": "", "calendar_years": ""})
    assert london.status_code == 200, london.text
    assert "2027-03-26" in london.text and "2026-12-25" in london.text and "2030-" not in london.text
    calendar_banner.forget()
