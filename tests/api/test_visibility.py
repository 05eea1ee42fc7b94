"""Internal stays internal: for each kind of internal item (a note, an escalation reason, a hand-off, a warehouse
photo, an inspection photo) the customer never meets it — not on the portal page, not as a file download, not in
an email (a real SMTP server), SMS or in-app message, not in their copy of the archive — while a shared one of the
same kind reaches every one of them, and staff see both, the internal one marked. On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import uuid
import zipfile

import orjson
import pypdfium2 as pdfium
import pytest
from sqlalchemy import select

from returnflow.cases.models import Attachment, CaseEvent, OutboxMessage
from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from returnflow.notify.models import InAppMessage
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, png, sign_in_customer, sign_in_staff
from tests.support.processes import fake_http, requests_seen, run_returnflow, smtp_server
from tests.support.returns import case_awaiting_return, shop_with_warehouse

pytestmark = pytest.mark.slow  # an SMTP server process per module
EN = {"Accept-Language": "en"}
OK = {"original_item": True, "signs_of_use": False, "accessories_complete": True, "packaging_intact": True,
      "defect_confirmed": None}


@pytest.fixture(scope="module")
def mail(tmp_path_factory):
    with smtp_server(tmp_path_factory.mktemp("mail") / "box") as server:  # aiosmtpd makes the Maildir
        yield server


@pytest.fixture
def shop(db, client):
    """A shop that texts its customers too; its customer C-1 gives a phone number with a later order."""
    shop = shop_with_warehouse(db, client)
    assert client.put("/api/v1/sla/settings", headers=shop.headers("admin"),
                      json={"notify_sms": True}).status_code == 200
    return shop


def with_phone(client, shop) -> None:
    r = client.post("/api/v1/orders", headers=shop.headers(), json={
        "number": "O-PHONE", "currency": "CNY", "delivered_at": "2026-11-04T10:00:00+08:00",
        "customer": {"id": "C-1", "email": "C-1@example.com", "phone": "13800001111"},
        "lines": [{"sku": "SKU-Z", "unit_price": "10.00", "quantity": 1}]})
    assert r.status_code == 200, r.text


def awaiting_return(client, shop, db) -> str:
    number = case_awaiting_return(client, shop, db)["number"]
    with_phone(client, shop)
    return number


def marker(kind: str) -> str:
    """Words no other test writes, so the shared SMTP mailbox is read per test."""
    return f"{kind}-{uuid.uuid4().hex[:10]}"


def staff(app, role: str = "agent") -> TestClient:
    web = TestClient(app, headers=EN)
    sign_in_staff(web, f"{role}@shop.test", f"pw-{role}")
    return web


def current(client, shop, number: str) -> dict:
    return client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()


def act(client, shop, number: str, action: str, role: str = "agent", **body) -> dict:
    r = client.post(f"/api/v1/cases/{number}/actions/{action}", headers=shop.headers(role, **EN),
                    json={"version": current(client, shop, number)["version"], **body})
    assert r.status_code == 200, r.text
    return r.json()


def receive(client, shop, number: str, quantity: int = 2, photos=()) -> None:
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse", **EN),
                    json={"code": number, "lines": [{"sku": "SKU-A", "quantity": quantity}], "photos": list(photos)})
    assert r.status_code == 201, r.text


def inspect(client, shop, number: str, photos=()) -> None:
    line = current(client, shop, number)["lines"][0]["id"]
    r = client.post(f"/api/v1/cases/{number}/inspections", headers=shop.headers("warehouse", **EN),
                    json={"lines": [{"line_id": line, "checklist": OK, "grade": "A", "verdict": "accept",
                                     "photos": list(photos)}]})
    assert r.status_code == 201, r.text


def upload(client, shop, number: str, name: str, data: bytes, visibility: str | None = None) -> int:
    r = client.post(f"/api/v1/cases/{number}/attachments", headers=shop.headers("warehouse", **EN),
                    params={"visibility": visibility} if visibility else {},
                    files={"file": (name, data, "image/png")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def close(client, shop, number: str) -> None:
    """From wherever the return is to closed: received, inspected, resolved, closed."""
    state = current(client, shop, number)["state"]
    if state == "awaiting_return":
        receive(client, shop, number)
        state = "received"
    if state == "received":
        inspect(client, shop, number)
    act(client, shop, number, "resolve")
    assert act(client, shop, number, "close")["state"] == "closed"


def customer_meets(app, db, client, shop, number: str, smtp, tmp) -> dict:
    """Everything the customer can meet of the case: the page, each file link, their emails (delivered through the
    SMTP server), every notice addressed to them (email, SMS, push, in-app), the in-app messages and their copy of
    the archive, as text (files as their SHA-256)."""
    port, box = smtp
    log = tmp / "sms.jsonl"
    with fake_http(log) as sms:
        done = Worker(db, DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="desk@shop.test",
                                           sms_url=f"{sms}/sms")).run_once(timers=False)
    assert done.messages.get("sent"), done
    sms_sent = [orjson.loads(r["body"]) for r in requests_seen(log)]
    assert sms_sent and {t["to"] for t in sms_sent} == {"+8613800001111"}
    with db.read() as s:
        notices = [m.payload for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
                   if str(m.payload.get("to", "")).startswith("customer:") or "@example.com" in str(m.payload)]
        inbox = [f"{m.subject} {m.body}" for m in s.scalars(select(InAppMessage))
                 if m.recipient.startswith("customer:")]
    mails = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in box]
    mails = [f"{m['Subject']}\n{m.get_content()}" for m in mails if m["To"] == "C-1@example.com"
             and number in m["Subject"] + m.get_content()]
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "shop", "O-1", "C-1@example.com")
    page = web.get(f"/p/shop/cases/{number}")
    assert page.status_code == 200
    copy = web.get(f"/p/shop/cases/{number}/copy.zip")
    assert copy.status_code == 200 and copy.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(copy.content))
    texts, hashes = [], set()
    for name in archive.namelist():
        data = archive.read(name)
        hashes.add(hashlib.sha256(data).hexdigest())
        if name.endswith(".json"):
            texts.append(name + "\n" + data.decode())
        elif name.endswith(".pdf"):
            document = pdfium.PdfDocument(data)
            texts.append("".join(document[i].get_textpage().get_text_range() for i in range(len(document))))
        else:
            texts.append(name)
    with db.read() as s:
        files = {a.filename: a for a in s.scalars(select(Attachment))}
    downloads = {name: web.get(f"/p/shop/cases/{number}/files/{a.id}").status_code for name, a in files.items()}
    return {"page": page.text, "mails": "\n".join(mails), "sms": "\n".join(t["text"] for t in sms_sent),
            "notices": orjson.dumps(notices).decode(),
            "inbox": "\n".join(inbox), "copy": "\n".join(texts), "copy_hashes": hashes, "downloads": downloads,
            "files": files}


def assert_only_shared(seen: dict, hidden: str, shared: str, *, photo: bool = False) -> None:
    for surface in ("page", "copy", "notices", "inbox", "mails", "sms"):
        assert hidden not in seen[surface], f"the internal item reached the customer's {surface}"
    # A photo is shown on the page as itself (its link is checked by the caller), not by its file name.
    for surface in ("copy", "notices", "inbox", "mails", "sms") + (() if photo else ("page",)):
        assert shared in seen[surface], f"the shared item is missing from the customer's {surface}"
    if photo:
        files = seen["files"]
        assert seen["downloads"] == {hidden: 404, shared: 200}
        assert files[hidden].sha256 not in seen["copy_hashes"] and files[shared].sha256 in seen["copy_hashes"]
        assert f"/files/{files[hidden].id}" not in seen["page"] and f"/files/{files[shared].id}" in seen["page"]


def item_of(page: str, words: str) -> str:
    """The list item of the staff page that shows `words`."""
    found = [part for part in page.split("<li") if words in part]
    assert found, f"{words} is not on the staff page"
    return found[0]


def staff_sees_both(app, number: str, hidden: str, shared: str) -> str:
    """Staff see both items; the internal one is marked so, the shared one is not."""
    page = staff(app).get(f"/staff/cases/{number}").text
    assert 'class="badge internal"' in item_of(page, hidden)
    assert 'class="badge internal"' not in item_of(page, shared)
    return page


def test_an_internal_note_never_reaches_the_customer_and_a_shared_one_does(app, db, client, shop, mail,
                                                                          tmp_path):
    number = awaiting_return(client, shop, db)
    hidden, shared = marker("note-internal"), marker("note-shared")
    web = staff(app)
    for text, visibility in ((hidden, None), (shared, "customer")):
        form = {"csrf": csrf_of(web), "version": str(current(client, shop, number)["version"]), "text": text}
        done = web.post(f"/staff/cases/{number}/actions/note", data=form | ({"visibility": visibility}
                                                                            if visibility else {}),
                        follow_redirects=False)
        assert done.status_code == 303, done.text
    page = staff_sees_both(app, number, hidden, shared)
    assert "Show this note to the customer" in page
    close(client, shop, number)
    assert_only_shared(customer_meets(app, db, client, shop, number, mail, tmp_path), hidden, shared)
    staff_copy = client.get(f"/api/v1/cases/{number}/archive", headers=shop.headers()).content
    events = orjson.loads(zipfile.ZipFile(io.BytesIO(staff_copy)).read(f"{number}/events.json"))
    assert [(e["payload"]["text"], e["visibility"]) for e in events if e["action"] == "note"] == [
        (hidden, "internal"), (shared, "customer")]


def test_an_escalation_reason_stays_internal_unless_the_agent_shares_it(app, db, client, shop, mail, tmp_path):
    number = awaiting_return(client, shop, db)
    hidden, shared = marker("escalation-internal"), marker("escalation-shared")
    web = staff(app)
    for reason, visibility in ((hidden, None), (shared, "customer")):
        form = {"csrf": csrf_of(web), "version": str(current(client, shop, number)["version"]), "reason": reason}
        done = web.post(f"/staff/cases/{number}/actions/escalate", data=form | ({"visibility": visibility}
                                                                                if visibility else {}),
                        follow_redirects=False)
        assert done.status_code == 303, done.text
    staff_sees_both(app, number, hidden, shared)
    close(client, shop, number)
    seen = customer_meets(app, db, client, shop, number, mail, tmp_path)
    assert_only_shared(seen, hidden, shared)
    assert seen["page"].count("The case went to a supervisor.") == 1  # the internal escalation is no step at all


def test_a_hand_off_is_internal_unless_shared_with_the_customer(app, db, client, shop, mail, tmp_path):
    number = awaiting_return(client, shop, db)
    hidden, shared = marker("handoff-internal"), marker("handoff-shared")
    web = staff(app)
    for note, visibility in ((hidden, None), (shared, "customer")):
        form = {"csrf": csrf_of(web), "team": "qc", "note": note}
        done = web.post(f"/staff/cases/{number}/handoffs", data=form | ({"visibility": visibility}
                                                                        if visibility else {}),
                        follow_redirects=False)
        assert done.status_code == 303, done.text
    staff_sees_both(app, number, hidden, shared)
    close(client, shop, number)
    seen = customer_meets(app, db, client, shop, number, mail, tmp_path)
    assert_only_shared(seen, hidden, shared)
    assert "The shop asked a specialist team to look at your request: Quality control." in seen["page"]


def test_a_warehouse_photo_is_internal_unless_the_desk_shares_it(app, db, client, shop, mail, tmp_path):
    number = awaiting_return(client, shop, db)
    hidden, shared = marker("parcel-internal") + ".png", marker("parcel-shared") + ".png"
    desk = staff(app, "warehouse")
    for name, data, visibility in ((hidden, png(40, 40), None), (shared, png(48, 48), "customer")):
        form = {"csrf": csrf_of(desk), "case": number, "code": number, "condition": "intact",
                f"qty_{current(client, shop, number)['lines'][0]['id']}": "1"}
        done = desk.post("/staff/receiving/parcels", data=form | ({"visibility": visibility} if visibility else {}),
                         files=[("photos", (name, data, "image/png"))], follow_redirects=False)
        assert done.status_code == 303, done.text
    assert 'class="badge shared"' in item_of(staff_sees_both(app, number, hidden, shared), shared)
    close(client, shop, number)
    assert_only_shared(customer_meets(app, db, client, shop, number, mail, tmp_path), hidden, shared, photo=True)


def test_an_inspection_photo_is_internal_unless_shared_through_the_api(app, db, client, shop, mail, tmp_path):
    number = awaiting_return(client, shop, db)
    receive(client, shop, number)
    hidden, shared = marker("inspection-internal") + ".png", marker("inspection-shared") + ".png"
    ids = [upload(client, shop, number, hidden, png(56, 56)),
           upload(client, shop, number, shared, png(64, 64), visibility="customer")]
    inspect(client, shop, number, photos=ids)
    listed = current(client, shop, number)
    detail = client.get(f"/api/v1/cases/{number}", headers=shop.headers()).json()
    assert {a["filename"]: a["visibility"] for a in detail["attachments"]} == {hidden: "internal", shared: "customer"}
    assert listed["state"] == "inspected"
    staff_sees_both(app, number, hidden, shared)
    close(client, shop, number)
    assert_only_shared(customer_meets(app, db, client, shop, number, mail, tmp_path), hidden, shared, photo=True)


def test_the_visibility_field_is_checked_and_a_refusal_changes_nothing(client, db, shop):
    number = case_awaiting_return(client, shop, db)["number"]
    version = current(client, shop, number)["version"]
    bad = client.post(f"/api/v1/cases/{number}/actions/note", headers=shop.headers("agent", **EN),
                      json={"version": version, "payload": {"text": "x"}, "visibility": "everyone"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "visibility"
    assert "customer" in bad.json()["error"]["message"] and "internal" in bad.json()["error"]["message"]
    zh = client.post(f"/api/v1/cases/{number}/actions/escalate", headers=shop.headers("agent", **{
        "Accept-Language": "zh-CN"}), json={"version": version, "payload": {"reason": "r"}, "visibility": "public"})
    assert zh.status_code == 422 and "顾客可见" in zh.json()["error"]["message"]
    # A step that answers the customer cannot be hidden from them.
    hidden = client.post(f"/api/v1/cases/{number}/actions/cancel", headers=shop.headers("agent", **EN),
                         json={"version": version, "visibility": "internal"})
    assert hidden.status_code == 422 and "always shown to the customer" in hidden.json()["error"]["message"]
    refused = client.post(f"/api/v1/cases/{number}/attachments", headers=shop.headers("warehouse", **EN),
                          params={"visibility": "all"}, files={"file": ("a.png", png(), "image/png")})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "visibility"
    with db.read() as s:
        assert s.scalar(select(CaseEvent.seq).order_by(CaseEvent.seq.desc()).limit(1)) == version
        assert s.scalars(select(Attachment)).all() == []
    assert current(client, shop, number)["state"] == "awaiting_return"


def test_the_customers_copy_from_the_command_line_leaves_internal_items_out(client, db, tmp_path):
    import os

    from tests.support.flows import run
    from tests.support.money import paid_order, refund_only_case
    from tests.support.world import make_shop

    shop = make_shop(db, "cli")
    paid_order(db, shop, payments=(("wechat_pay", None),))
    case = refund_only_case(db, shop, "M-1", line_no=2)
    hidden = marker("cli-note")
    run(db, case, "note", shop.actors["agent"], {"text": hidden})
    client.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers(), json={
        "route": "balance", "consent": {"channel": "phone", "statement": "fine"}})
    run(db, case, "close", shop.actors["agent"])
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": db.url, "RETURNFLOW_DATA_DIR": str(tmp_path / "data")}
    done = run_returnflow(["audit", "archive", case, "--customer", "--out", str(tmp_path)], env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    copy = zipfile.ZipFile(tmp_path / f"{case}-customer.zip")
    assert f"{case}/vouchers.json" not in copy.namelist() and f"{case}/chain.json" not in copy.namelist()
    timeline = copy.read(f"{case}/timeline.json").decode()
    assert hidden not in timeline and "Refunded" in timeline
