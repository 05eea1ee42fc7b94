"""The staff accounts API: admins invite, change roles and deactivate; every change is an audit event; the last
admin stays; a deactivated user's tokens stop working at once."""

from __future__ import annotations

from sqlalchemy import func, select

from returnflow.auth.models import ApiToken, StaffEvent, User
from tests.support.world import make_shop, platform_token


def _count(db, model, *where) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_an_admin_lists_the_merchants_staff_with_their_authority(client, db):
    shop = make_shop(db, "u1")
    make_shop(db, "other")
    r = client.get("/api/v1/users", headers=shop.headers("admin"))
    assert r.status_code == 200
    by_email = {u["email"]: u for u in r.json()}
    assert set(by_email) == {f"{role}@u1.test" for role in ("agent", "warehouse", "finance", "supervisor", "admin")}
    assert by_email["supervisor@u1.test"]["authority_level"] == 2
    assert by_email["agent@u1.test"]["authority_level"] == 1


def test_only_admins_manage_staff(client, db):
    shop = make_shop(db, "u2")
    for role in ("agent", "supervisor", "finance"):
        assert client.get("/api/v1/users", headers=shop.headers(role)).status_code == 403
    r = client.post("/api/v1/users", headers=shop.headers("supervisor"),
                    json={"email": "x@u2.test", "name": "X", "role": "agent"})
    assert r.status_code == 403
    assert _count(db, User, User.email == "x@u2.test") == 0


def test_an_invited_user_signs_in_with_the_one_time_password_and_the_invite_is_audited(client, db):
    shop = make_shop(db, "u3")
    r = client.post("/api/v1/users", headers=shop.headers("admin"),
                    json={"email": "New.Agent@u3.test", "name": "新客服", "role": "agent", "locale": "zh-CN"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "new.agent@u3.test" and body["role"] == "agent" and body["active"] is True
    signed = client.post("/api/v1/auth/token", json={"email": "new.agent@u3.test",
                                                     "password": body["temporary_password"]})
    assert signed.status_code == 200 and signed.json()["role"] == "agent"
    events = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()
    assert events[0]["action"] == "user.invite" and events[0]["target"] == "new.agent@u3.test"
    assert events[0]["actor"] == f"user:{shop.user_ids['admin']}"
    assert events[0]["details"]["role"] == "agent"


def test_bad_input_names_the_field_in_the_callers_language_and_writes_nothing(client, db):
    shop = make_shop(db, "u4")
    cases = [({"email": "not-an-email", "name": "A", "role": "agent"}, "email"),
             ({"email": "a@u4.test", "name": " ", "role": "agent"}, "name"),
             ({"email": "a@u4.test", "name": "A", "role": "platform"}, "role"),
             ({"email": "a@u4.test", "name": "A", "role": "agent", "password": "short"}, "password"),
             ({"email": "agent@u4.test", "name": "A", "role": "agent"}, "email")]
    before = _count(db, User)
    for payload, field in cases:
        r = client.post("/api/v1/users", headers=shop.headers("admin", **{"Accept-Language": "zh-CN"}), json=payload)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["error"]["field"] == field, r.text
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["error"]["message"]), r.text
    assert _count(db, User) == before
    assert _count(db, StaffEvent) == 0


def test_changing_a_role_applies_at_once_and_is_audited(client, db):
    shop = make_shop(db, "u5")
    agent_id = shop.user_ids["agent"]
    r = client.patch(f"/api/v1/users/{agent_id}", headers=shop.headers("admin"), json={"role": "supervisor"})
    assert r.status_code == 200 and r.json()["role"] == "supervisor" and r.json()["authority_level"] == 2
    # The old token carried the old role: it is revoked, so the new role applies from the next sign-in.
    assert client.get("/api/v1/me", headers=shop.headers("agent")).status_code == 401
    signed = client.post("/api/v1/auth/token", json={"email": "agent@u5.test", "password": "pw-agent"}).json()
    assert signed["role"] == "supervisor"
    event = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()[0]
    assert event["action"] == "user.change" and event["details"]["changed"]["role"] == ["agent", "supervisor"]
    # A new name or language keeps the sessions.
    r = client.patch(f"/api/v1/users/{shop.user_ids['finance']}", headers=shop.headers("admin"),
                     json={"name": "财务 王", "locale": "en"})
    assert r.status_code == 200 and r.json()["name"] == "财务 王" and r.json()["locale"] == "en"
    assert client.get("/api/v1/me", headers=shop.headers("finance")).status_code == 200


def test_deactivating_revokes_every_token_and_refuses_sign_in(client, db):
    shop = make_shop(db, "u6")
    second = client.post("/api/v1/auth/token", json={"email": "finance@u6.test", "password": "pw-finance"}).json()
    r = client.post(f"/api/v1/users/{shop.user_ids['finance']}/deactivate", headers=shop.headers("admin"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/api/v1/me", headers=shop.headers("finance")).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second['token']}"}).status_code == 401
    assert client.post("/api/v1/auth/token", json={"email": "finance@u6.test",
                                                   "password": "pw-finance"}).status_code == 401
    assert _count(db, ApiToken, ApiToken.user_id == shop.user_ids["finance"], ApiToken.revoked.is_(False)) == 0
    event = client.get("/api/v1/users/events", headers=shop.headers("admin")).json()[0]
    assert event["action"] == "user.deactivate" and event["details"]["tokens_revoked"] == 2


def test_the_last_admin_can_neither_be_demoted_nor_deactivated(client, db):
    shop = make_shop(db, "u7")
    admin_id = shop.user_ids["admin"]
    for call in (lambda: client.patch(f"/api/v1/users/{admin_id}", headers=shop.headers("admin"),
                                      json={"role": "agent"}),
                 lambda: client.post(f"/api/v1/users/{admin_id}/deactivate", headers=shop.headers("admin"))):
        r = call()
        assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin", r.text
    with db.read() as session:
        admin = session.get(User, admin_id)
        assert admin.role == "admin" and admin.active
    assert _count(db, StaffEvent) == 0
    # With a second admin, the first may step down.
    client.patch(f"/api/v1/users/{shop.user_ids['supervisor']}", headers=shop.headers("admin"), json={"role": "admin"})
    r = client.post(f"/api/v1/users/{admin_id}/deactivate", headers=shop.headers("admin"))
    assert r.status_code == 200 and r.json()["active"] is False


def test_an_admin_cannot_touch_another_merchants_staff_but_the_platform_can(client, db):
    shop, other = make_shop(db, "u8"), make_shop(db, "u9")
    r = client.patch(f"/api/v1/users/{other.user_ids['agent']}", headers=shop.headers("admin"), json={"role": "admin"})
    assert r.status_code == 404
    token, _ = platform_token(db)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/users", headers=headers).status_code == 422  # must name the merchant
    listed = client.get("/api/v1/users?merchant=u9", headers=headers).json()
    assert {u["email"] for u in listed} >= {"agent@u9.test"}
    r = client.post("/api/v1/users", headers=headers,
                    json={"email": "boss@u9.test", "name": "Boss", "role": "admin", "merchant": "u9",
                          "password": "a-long-password"})
    assert r.status_code == 201
    with db.read() as session:
        assert session.scalar(select(User.merchant_id).where(User.email == "boss@u9.test")) == other.id


def test_two_admins_removing_each_other_at_once_leave_one_admin(db):
    """The first removal's transaction is held open while the second admin removes the first: the second must wait
    for it, then see that it would leave no admin."""
    import threading

    from returnflow.auth import users
    from returnflow.errors import AppError

    shop = make_shop(db, "race")
    with db.transaction() as session:
        users.change(session, actor=shop.actors["admin"], user_id=shop.user_ids["supervisor"], role="admin")
    first = shop.actors["admin"]
    second = first.__class__(kind="staff", role="admin", merchant_id=shop.id, user_id=shop.user_ids["supervisor"],
                             name="second admin")
    outcomes: list[str] = []

    def remove_first():
        try:
            with db.transaction() as session:
                users.deactivate(session, actor=second, user_id=shop.user_ids["admin"])
            outcomes.append("done")
        except AppError as exc:
            outcomes.append(exc.key)

    racer = threading.Thread(target=remove_first)
    with db.transaction() as session:
        users.deactivate(session, actor=first, user_id=shop.user_ids["supervisor"])
        racer.start()
        racer.join(1.5)
        assert racer.is_alive(), "the second removal did not wait for the first"
    racer.join(30)
    assert outcomes == ["last_admin"]
    assert _count(db, User, User.merchant_id == shop.id, User.role == "admin", User.active.is_(True)) == 1
