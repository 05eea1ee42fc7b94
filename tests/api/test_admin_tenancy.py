"""Tenants stay apart in administration: every admin operation of the API, tried by merchant A's admin against
merchant B (naming it, or B's objects), is refused (403/404) and writes nothing, or touches only A and shows
nothing of B; the platform role may act on B. The matrix prints its size."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from returnflow.db import Base
from tests.api.test_policy_api import V1
from tests.support.world import make_order, make_shop, platform_token

B = "bravo"
# What only B's data holds (its staff's emails, its name, its webhook): any answer to A containing one leaks B.
B_MARKS = ("@bravo.test", "Shop bravo", "127.0.0.1:9/hook")
ADDRESS = {"name": "Returns desk", "address": "1 Dock Road, Suzhou", "is_default": True}


def _rows(db, where_b: bool, b_id: int, b_users: list[int]) -> str:
    """A digest of every table (where_b: only B's rows: its merchant row, rows of its merchant, of its users)."""
    digest = hashlib.sha256()
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            stmt = select(table)
            cols = table.c
            if where_b:
                if table.name == "merchants":
                    stmt = stmt.where(cols.id == b_id)
                elif "merchant_id" in cols:
                    stmt = stmt.where(cols.merchant_id == b_id)
                elif "user_id" in cols:
                    stmt = stmt.where(cols.user_id.in_(b_users))
                elif table.name == "sign_in_failures":
                    stmt = stmt.where(cols.key.like(f"account:%@{B}.test"))
                else:
                    continue
            rows = conn.execute(stmt.order_by(*table.primary_key.columns)).all()
            digest.update(table.name.encode() + json.dumps([list(r) for r in rows], default=str).encode())
    return digest.hexdigest()


def _leaks(answer: str) -> bool:
    return any(mark in answer for mark in B_MARKS)


def _world(client, db):
    a = make_shop(db, "alpha")
    b = make_shop(db, B)
    platform, _ = platform_token(db)
    make_order(db, b, "O-1")
    opened = client.post("/api/v1/cases", headers=b.headers("agent"), json={
        "order": "O-1", "type": "return_refund", "reason": "no_reason_7day", "lines": [{"line_no": 1, "quantity": 1}]})
    assert opened.status_code == 201, opened.text
    hook = client.post("/api/v1/webhooks", headers=b.headers("admin"), json={"url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201, hook.text
    assert client.put("/api/v1/policy", headers=b.headers("admin"), json={"source": V1}).status_code == 201
    messages = client.get("/api/v1/outbox", headers=b.headers("admin")).json()
    assert messages, "B has messages waiting"
    return a, b, {"Authorization": f"Bearer {platform}"}, hook.json()["id"], messages[0]["id"]


def _operations(b, hook_id: int, message_id: int) -> list[tuple[str, str, str, dict, str]]:
    """(name, method, path, request kwargs, kind). kind: 'named' names B (`merchant`), 'object' points at B's
    object, 'own' cannot name another merchant at all (the answer must be A's own)."""
    agent, warehouse = b.user_ids["agent"], b.user_ids["warehouse"]
    q = {"params": {"merchant": B}}
    return [
        ("list users", "GET", "/api/v1/users", q, "named"),
        ("invite a user", "POST", "/api/v1/users",
         {"json": {"email": "mole@alpha.test", "name": "Mole", "role": "admin", "merchant": B}}, "named"),
        ("change a user", "PATCH", f"/api/v1/users/{agent}", {"json": {"role": "admin"}}, "object"),
        ("unlock a user", "POST", f"/api/v1/users/{agent}/unlock", {}, "object"),
        ("reset a second factor", "POST", f"/api/v1/users/{agent}/two-factor/reset", {}, "object"),
        ("deactivate a user", "POST", f"/api/v1/users/{warehouse}/deactivate", {}, "object"),
        ("staff audit events", "GET", "/api/v1/users/events", q, "named"),
        ("read sign-in rules", "GET", "/api/v1/settings/security", q, "named"),
        ("set sign-in rules", "PUT", "/api/v1/settings/security", {**q, "json": {"require_two_factor": True}},
         "named"),
        ("read the policy", "GET", "/api/v1/policy", q, "named"),
        ("list policy versions", "GET", "/api/v1/policy/versions", q, "named"),
        ("read a policy version", "GET", "/api/v1/policy/versions/1", q, "named"),
        ("publish a policy", "PUT", "/api/v1/policy", {"json": {"source": V1, "merchant": B}}, "named"),
        ("dry-run the policy", "POST", "/api/v1/policy/dry-run", {"json": {
            "order": "O-1", "merchant": B, "type": "return_refund", "reason": "no_reason_7day",
            "lines": [{"line_no": 1, "quantity": 1}]}}, "named"),
        ("list categories", "GET", "/api/v1/categories", q, "named"),
        ("save a category", "PUT", "/api/v1/categories/general",
         {"json": {"name_zh": "通用", "name_en": "General", "merchant": B}}, "named"),
        ("list reasons", "GET", "/api/v1/reasons", q, "named"),
        ("save a reason", "PUT", "/api/v1/reasons/too_big",
         {"json": {"label_zh": "太大", "label_en": "Too big", "merchant": B}}, "named"),
        ("read SLA settings", "GET", "/api/v1/sla/settings", q, "named"),
        ("save SLA settings", "PUT", "/api/v1/sla/settings", {**q, "json": {}}, "named"),
        ("worker figures", "GET", "/api/v1/sla/worker", q, "named"),
        ("list notification templates", "GET", "/api/v1/notify/templates", q, "named"),
        ("save a notification template", "PUT", "/api/v1/notify/templates/case_opened/en",
         {**q, "json": {"subject": "Opened", "body": "Case {number} opened"}}, "named"),
        ("reset a notification template", "DELETE", "/api/v1/notify/templates/case_opened/en", q, "named"),
        ("add a webhook", "POST", "/api/v1/webhooks",
         {"json": {"url": "http://127.0.0.1:9/mole", "merchant": B}}, "named"),
        ("list webhooks", "GET", "/api/v1/webhooks", q, "named"),
        ("remove a webhook", "DELETE", f"/api/v1/webhooks/{hook_id}", {}, "object"),
        ("delivery attempts of a message", "GET", f"/api/v1/outbox/{message_id}/attempts", {}, "object"),
        ("list reply templates", "GET", "/api/v1/reply-templates", q, "named"),
        ("save a reply template", "PUT", "/api/v1/reply-templates/greeting/en",
         {"json": {"title": "Hello", "body": "Hello", "merchant": B}}, "named"),
        ("list analytics reports", "GET", "/api/v1/analytics/dashboard", q, "named"),
        # No way to name another merchant: the answer is A's own, and B stays as it was.
        ("list the outbox", "GET", "/api/v1/outbox", {}, "own"),
        ("replay deliveries", "POST", "/api/v1/outbox/replay", {"json": {"ids": [message_id]}}, "own"),
        ("read money settings", "GET", "/api/v1/money/settings", {}, "own"),
        ("save money settings", "PUT", "/api/v1/money/settings", {"json": {"default_gateway": "manual"}}, "own"),
        ("list return addresses", "GET", "/api/v1/return-addresses", {}, "own"),
        ("save a return address", "PUT", "/api/v1/return-addresses/main", {"json": ADDRESS}, "own"),
        ("read advance-exchange settings", "GET", "/api/v1/logistics/settings/advance-exchange", {}, "own"),
        ("save advance-exchange settings", "PUT", "/api/v1/logistics/settings/advance-exchange",
         {"json": {"grace_days": 3}}, "own"),
    ]


def test_an_admin_acts_only_inside_its_own_merchant_across_every_admin_operation(client, db):
    a, b, platform, hook_id, message_id = _world(client, db)
    b_users = list(b.user_ids.values())
    operations = _operations(b, hook_id, message_id)
    outcomes: dict[str, int] = {}
    problems = []
    for name, method, path, kwargs, kind in operations:
        whole, b_before = _rows(db, False, b.id, b_users), _rows(db, True, b.id, b_users)
        r = client.request(method, path, headers=a.headers("admin"), **kwargs)
        if kind == "own":
            ok = r.status_code < 300 and _rows(db, True, b.id, b_users) == b_before and not _leaks(r.text)
        else:
            ok = r.status_code in (403, 404) and _rows(db, False, b.id, b_users) == whole and not _leaks(r.text)
        outcomes[f"admin of A, {kind}: {r.status_code}"] = outcomes.get(f"admin of A, {kind}: {r.status_code}", 0) + 1
        if not ok:
            problems.append(f"admin of A: {name} {method} {path} -> {r.status_code} {r.text[:200]}")
        if kind != "own":
            done = client.request(method, path, headers=platform, **kwargs)
            outcomes[f"platform: {done.status_code // 100}xx"] = outcomes.get(f"platform: {done.status_code // 100}xx",
                                                                          0) + 1
            if done.status_code >= 300:
                problems.append(f"platform: {name} {method} {path} -> {done.status_code} {done.text[:200]}")
    print(f"\nadmin tenancy matrix: {len(operations)} operations, {len(operations) * 2 - sum(k == 'own' for *_, k in operations)}"
          f" calls; outcomes {dict(sorted(outcomes.items()))}")
    assert not problems, "\n".join(problems)


def test_the_worker_figures_of_an_admin_are_its_merchants_own(client, db):
    a, b, platform, _hook, _message = _world(client, db)
    mine = client.get("/api/v1/sla/worker", headers=a.headers("admin")).json()
    theirs = client.get("/api/v1/sla/worker", headers=b.headers("admin")).json()
    everyone = client.get("/api/v1/sla/worker", headers=platform).json()
    assert theirs["outbox"]["due"] > 0 and everyone["outbox"]["due"] == theirs["outbox"]["due"]
    assert mine["outbox"] == {"due": 0, "oldest_due_seconds": 0.0, "dead": 0}
    named = client.get("/api/v1/sla/worker", headers=platform, params={"merchant": B}).json()
    assert named["outbox"]["due"] == theirs["outbox"]["due"] and named["timers"]["due"] == theirs["timers"]["due"]
    assert client.get("/api/v1/sla/worker", headers=a.headers("admin"),
                      params={"merchant": B}).status_code == 403


def test_an_admin_cannot_create_a_user_in_another_merchant(client, db):
    a, b, platform, _hook, _message = _world(client, db)
    r = client.post("/api/v1/users", headers=a.headers("admin", **{"Accept-Language": "en"}),
                    json={"email": "mole@alpha.test", "name": "Mole", "role": "admin", "merchant": B})
    assert r.status_code == 403 and r.json()["error"]["field"] == "merchant"
    assert "another merchant" in r.json()["error"]["message"]
    assert all(u["email"] != "mole@alpha.test" for u in client.get("/api/v1/users", headers=b.headers("admin")).json())
    assert all(u["email"] != "mole@alpha.test" for u in client.get("/api/v1/users", headers=a.headers("admin")).json())
    # Naming its own merchant is fine; the platform may create in any.
    own = client.post("/api/v1/users", headers=a.headers("admin"),
                      json={"email": "new@alpha.test", "name": "New", "role": "agent", "merchant": "alpha"})
    assert own.status_code == 201
    made = client.post("/api/v1/users", headers=platform,
                       json={"email": "new@bravo.test", "name": "New", "role": "agent", "merchant": B})
    assert made.status_code == 201
    assert "new@bravo.test" in {u["email"] for u in client.get("/api/v1/users", headers=b.headers("admin")).json()}
