"""Each role lands on its desk; the queue's tabs count, its rows are marked due soon / overdue in words; the first
reply or a claim assigns a case; the case page shows the customer's other cases (on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, text

from tests.support.asgi import TestClient
from tests.api.test_staff_pages import open_cases
from tests.support.portal import csrf_of, recent_order, sign_in_staff
from tests.support.world import make_shop

EN = {"Accept-Language": "en"}
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)  # the queue's clock in these tests


@pytest.fixture
def shop(db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    recent_order(db, shop.id, "O-200", customer="C-2", email="other@example.com")
    recent_order(db, shop.id, "O-300", customer="C-1", email="buyer@example.com")
    return shop


@pytest.fixture
def clock(monkeypatch):
    from returnflow.pages import queue_pages

    monkeypatch.setattr(queue_pages, "utcnow", lambda: NOW)
    return NOW


def staff(app, role: str, headers=EN) -> TestClient:
    web = TestClient(app, headers=headers)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


def case_of(client, shop, number):
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()


LANDING = {"agent": "/staff/?view=mine", "warehouse": "/staff/receiving", "finance": "/staff/finance?view=pay",
           "supervisor": "/staff/?view=approvals", "admin": "/staff/"}


@pytest.mark.parametrize("role", list(LANDING))
def test_each_role_lands_on_its_desk_and_sees_only_its_desks(app, db, shop, role):
    web = TestClient(app, headers=EN)
    done = web.post("/staff/login", data={"csrf": csrf_of(web), "email": f"{role}@shop.test",
                                          "password": f"pw-{role}", "next": "/staff/"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == LANDING[role]
    page = web.get(done.headers["location"])
    assert page.status_code == 200
    heading = {"warehouse": "Receiving", "finance": "Finance"}.get(role, "Work queues")
    assert heading in re.search(r"<h1[^>]*>(.*?)</h1>", page.text, re.S).group(1)
    nav = re.search(r'<nav class="nav".*?</nav>|<nav[^>]*>.*?Sign out', page.text, re.S).group(0)
    assert ('href="/staff/receiving"' in nav) == (role in ("warehouse", "supervisor", "admin"))
    assert ('href="/staff/finance' in nav) == (role in ("finance", "supervisor", "admin"))
    assert ("view=approvals" in nav) == (role in ("supervisor", "admin"))
    assert ('href="/staff/settings' in nav) == (role == "admin")
    # /staff/ without a chosen queue is the desk too; a chosen queue or an explicit next= wins
    bare = web.get("/staff/", follow_redirects=False)
    if role in ("warehouse", "finance"):
        assert bare.status_code == 303 and bare.headers["location"] == LANDING[role]
        assert web.get("/staff/?view=all").status_code == 200
    else:
        assert bare.status_code == 200 and "Work queues" in bare.text


def test_an_explicit_next_wins_over_the_desk(app, db, shop, client):
    number, = open_cases(client, shop, "O-100")
    web = TestClient(app, headers=EN)
    done = web.post("/staff/login", data={"csrf": csrf_of(web), "email": "warehouse@shop.test",
                                          "password": "pw-warehouse", "next": f"/staff/cases/{number}"},
                    follow_redirects=False)
    assert done.headers["location"] == f"/staff/cases/{number}"


def _set_due(db, number: str, due: datetime) -> None:
    with db.transaction() as session:
        session.execute(text("UPDATE sla_timers SET due_at = :due WHERE kind = 'review.due' AND case_id = "
                             "(SELECT id FROM cases WHERE number = :n)"),
                        {"due": due if db.dialect == "postgresql" else due.replace(tzinfo=None), "n": number})


def test_tabs_count_in_one_query_and_rows_say_due_soon_or_overdue(app, db, shop, client, clock):
    late, soon, later = open_cases(client, shop, "O-100", "O-200", "O-300")
    _set_due(db, late, clock - timedelta(hours=1))
    _set_due(db, soon, clock + timedelta(hours=1))  # the review step reminds 2 hours before
    _set_due(db, later, clock + timedelta(days=3))
    client.post(f"/api/v1/cases/{later}/actions/escalate", headers=shop.headers("agent"),
                json={"version": case_of(client, shop, later)["version"], "payload": {"reason": "called twice"}})
    web = staff(app, "agent")
    counted = []

    def seen(conn, cursor, statement, *args):
        if "FILTER (WHERE" in statement.upper():
            counted.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = web.get("/staff/?view=open").text
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(counted) == 1  # every tab's count from one query
    count = lambda key: int(re.search(rf'id="count-{key}"[^>]*>(\d+)<', page).group(1))  # noqa: E731
    assert (count("new"), count("open"), count("overdue"), count("due_soon"), count("escalated"),
            count("mine"), count("all")) == (3, 3, 1, 1, 1, 0, 3)
    assert 'id="count-approvals"' not in page  # approving is not an agent's desk
    boss = staff(app, "supervisor").get("/staff/").text  # a supervisor lands on approvals and escalations
    assert int(re.search(r'id="count-approvals"[^>]*>(\d+)<', boss).group(1)) == 1
    assert later in boss and late not in boss
    rows = {n: re.search(rf'<tr[^>]*>\s*<td class="sel"><input type="checkbox" name="cases" value="{n}".*?</tr>',
                         page, re.S).group(0) for n in (late, soon, later)}
    assert "row-overdue" in rows[late] and ">Overdue</span>" in rows[late]
    assert "row-due_soon" in rows[soon] and ">Due soon</span>" in rows[soon]
    assert "due-mark" not in rows[later]
    overdue = web.get("/staff/?view=overdue").text
    assert late in overdue and soon not in overdue


def test_claiming_takes_an_unassigned_case_once(app, db, shop, client):
    number, = open_cases(client, shop, "O-100")
    agent = staff(app, "agent")
    queue = agent.get("/staff/?view=new").text
    assert f'form="claim-{number}"' in queue
    version = re.search(rf'id="claim-{number}" hidden>.*?name="version" value="(\d+)"', queue, re.S).group(1)
    done = agent.post(f"/staff/cases/{number}/claim", data={"csrf": csrf_of(agent), "version": version,
                                                            "back": "/staff/?view=mine"})
    assert done.status_code == 200 and "The case is yours now" in done.text and number in done.text
    case = case_of(client, shop, number)
    assert case["assignee_id"] == shop.user_ids["agent"]
    events = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()["timeline"]
    assert [e["action"] for e in events][-1] == "assign" and events[-1]["actor"]["role"] == "agent"
    other = staff(app, "supervisor")
    refused = other.post(f"/staff/cases/{number}/claim", data={"csrf": csrf_of(other), "version": version})
    assert refused.status_code == 409 and "Someone else took this case" in refused.text
    assert case_of(client, shop, number)["assignee_id"] == shop.user_ids["agent"]
    assert f'form="claim-{number}"' not in other.get("/staff/?view=new").text


def test_the_first_reply_assigns_the_case_and_later_replies_do_not_reassign(app, db, shop, client):
    number, = open_cases(client, shop, "O-100")
    supervisor = staff(app, "supervisor")
    supervisor.post(f"/staff/cases/{number}/messages", data={"csrf": csrf_of(supervisor), "body": "We are on it."})
    assert case_of(client, shop, number)["assignee_id"] == shop.user_ids["supervisor"]
    agent = staff(app, "agent")
    agent.post(f"/staff/cases/{number}/messages", data={"csrf": csrf_of(agent), "body": "A second reply."})
    case = case_of(client, shop, number)
    assert case["assignee_id"] == shop.user_ids["supervisor"]
    timeline = client.get(f"/api/v1/cases/{number}", headers=shop.headers("agent")).json()["timeline"]
    assert sum(e["action"] == "assign" for e in timeline) == 1


def test_the_case_page_shows_the_customers_other_cases(app, db, shop, client):
    mine, stranger, earlier = open_cases(client, shop, "O-100", "O-200", "O-300")
    with db.transaction() as session:  # 20:30 UTC on 30 November is 04:30 on 1 December in Shanghai
        at = datetime(2026, 11, 30, 20, 30, tzinfo=timezone.utc)
        session.execute(text("UPDATE cases SET created_at = :at WHERE number = :n"),
                        {"at": at if db.dialect == "postgresql" else at.replace(tzinfo=None), "n": earlier})
    page = staff(app, "agent").get(f"/staff/cases/{mine}").text
    panel = re.search(r'<section class="card customer-history".*?</section>', page, re.S).group(0)
    assert f'href="/staff/cases/{earlier}"' in panel and stranger not in panel and f">{mine}<" not in panel
    from returnflow.pages import words

    assert words.word(words.TYPES, "return_refund", "en") in panel
    assert "Pending review" in panel and "2026-12-01 04:30" in panel
    alone = staff(app, "agent").get(f"/staff/cases/{stranger}").text
    assert "first case here" in re.search(r'<section class="card customer-history".*?</section>', alone, re.S).group(0)
