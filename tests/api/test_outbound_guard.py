"""Outbound calls go only where they should: webhook, provider and gateway URLs that reach loopback, link-local,
private, multicast, reserved or unspecified addresses are refused when saved (API and page, 422 naming the field in
the reader's language, nothing written) and again when called (a name that resolves elsewhere later gains
nothing); the deployment's allowed hosts are honoured; a failing receiver leaves only a short clean excerpt; every
call is bounded in time; secrets are shown masked."""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest
from sqlalchemy import func, select

from returnflow import outbound
from returnflow.app import create_app
from returnflow.cases.store import enqueue
from returnflow.config import Settings
from returnflow.jobs.worker import Worker
from returnflow.notify.config import DeliverySettings
from returnflow.cases.models import WebhookEndpoint
from tests.support.asgi import TestClient
from tests.support.fake_receiver import fake_receiver
from tests.support.portal import csrf_of, sign_in_staff
from tests.support.processes import fake_http, requests_seen, run_returnflow
from tests.support.world import make_order, make_shop

T0 = datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc)  # after everything the tests write at the real now
ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}

# Every address below is derived from what Python's ipaddress knows of the networks (no literal address other than
# 127.0.0.1 in the repository). No test connects to any of them: the guard refuses them before connecting, and the
# names the fake resolver answers are only saved, or called once they resolve to 127.0.0.1.
V4, V6 = ipaddress.IPv4Address._constants, ipaddress.IPv6Address._constants
LOOPBACK = ipaddress.ip_address("127.0.0.1")
NAT64 = ipaddress.IPv6Network((0x64_FF9B << 96, 96))  # RFC 6052's well-known prefix


def first(net):
    return next(iter(net.hosts()), net.network_address)


def host(ip) -> str:
    return f"[{ip}]" if ip.version == 6 else str(ip)


def mapped(ip4):
    return ipaddress.IPv6Address((0xFFFF << 32) | int(ip4))


def mapped_dotted(ip4) -> str:
    return ":".join(mapped(ip4).exploded.split(":")[:6]) + f":{ip4}"


def sixtofour(ip4):
    six = ipaddress.IPv6Address((0x2002 << 112) | (int(ip4) << 80))
    assert six.sixtofour == ip4
    return six


# The networks Python calls private and nothing else (not loopback, link-local, reserved, multicast, Teredo).
PRIVATE = [n for n in (*V4._private_networks, *V6._private_networks)
           if not any(n.overlaps(o) for o in (V4._loopback_network, V4._linklocal_network, V4._reserved_network,
                                              V4._multicast_network, ipaddress.ip_network(V4._unspecified_address),
                                              V6._linklocal_network, V6._multicast_network, *V6._reserved_networks)
                      if o.version == n.version)
           and getattr(first(n), "teredo", None) is None]
PRIVATE_V4 = first(next(n for n in PRIVATE if n.version == 4))
PRIVATE_V6 = first(next(n for n in PRIVATE if n.version == 6))
PUBLIC_V4 = next(a for a in (ipaddress.IPv4Address((n << 24) + 1) for n in range(1, 224)) if a.is_global)
LINK_LOCAL_V4 = first(V4._linklocal_network)
# An office network in CIDR form and the one next to it, inside the first large private network.
OFFICE, NEIGHBOUR = islice(next(n for n in PRIVATE if n.version == 4 and n.prefixlen <= 16).subnets(new_prefix=16), 2)

# (URL, the reason's words in zh-CN, in en): each kind of address the guard refuses, in the spellings that sneak past
# naive checks (IPv6, IPv4-mapped IPv6, 6to4, NAT64, a decimal integer host), and every private network Python knows.
FORBIDDEN = [
    (f"http://{LOOPBACK + 1}:8080/hook", "本机回环地址", "loopback"),
    (f"http://{int(LOOPBACK + 1)}/hook", "本机回环地址", "loopback"),  # another loopback address written as one number
    (f"http://[{ipaddress.IPv6Address(1)}]/hook", "本机回环地址", "loopback"),
    (f"http://[{mapped(LOOPBACK + 1)}]/hook", "本机回环地址", "loopback"),
    (f"http://[{mapped_dotted(LOOPBACK + 1)}]/hook", "本机回环地址", "loopback"),
    (f"http://[{sixtofour(LOOPBACK + 1)}]/hook", "本机回环地址", "loopback"),
    (f"http://{V4._linklocal_network[-2]}/latest/meta-data/", "链路本地地址", "link-local"),
    (f"http://{LINK_LOCAL_V4}/hook", "链路本地地址", "link-local"),
    (f"http://[{first(V6._linklocal_network)}]/hook", "链路本地地址", "link-local"),
    *[(f"http://{host(first(n))}/hook", "内网地址", "private network") for n in PRIVATE],
    *[(f"http://{host(n[-1])}/hook", "内网地址", "private network") for n in PRIVATE],
    (f"https://{PRIVATE_V4}/hook", "内网地址", "private network"),
    (f"http://[{mapped(PRIVATE_V4)}]/hook", "内网地址", "private network"),
    (f"http://[{mapped_dotted(PRIVATE_V4)}]/hook", "内网地址", "private network"),
    (f"http://[{NAT64[int(PRIVATE_V4)]}]/hook", "内网地址", "private network"),  # NAT64 around a private address
    (f"http://{first(V4._multicast_network)}/hook", "组播地址", "multicast"),
    (f"http://[{first(V6._multicast_network)}]/hook", "组播地址", "multicast"),
    (f"http://{first(V4._reserved_network)}/hook", "保留地址", "reserved"),
    (f"http://{V4._unspecified_address}:8080/hook", "未指定地址", "unspecified"),
    (f"http://[{ipaddress.IPv6Address(0)}]/hook", "未指定地址", "unspecified"),
    (f"http://{first(V4._public_network)}/hook", "非公网地址", "not on the public internet"),
]
BAD_FORM = ["ftp://example.com/x", "file:///etc/passwd", "http://user:pw@example.com/x", "http:///nohost",
            "http://example.com:99999/x", "http://exa mple.com/x", "gopher://127.0.0.1:70/"]


def count(db, model) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolves the names in `answers` (each call takes the next address; the last one repeats) in this process;
    returns the log of names looked up."""
    asked: list[str] = []
    real = outbound._getaddrinfo

    def resolve(host: str, port: int):
        if host not in answers:
            return real(host, port)
        asked.append(host)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(outbound, "_getaddrinfo", resolve)
    return asked


def errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="field-error" id="([^"]+)-err">([^<]+)<', html))


def test_every_kind_of_forbidden_address_is_refused_when_a_webhook_is_saved_through_the_api(client, db):
    shop = make_shop(db)
    for url, zh, en in FORBIDDEN:
        r = client.post("/api/v1/webhooks", headers=shop.headers("admin", **ZH), json={"url": url})
        assert r.status_code == 422, (url, r.text)
        error = r.json()["error"]
        assert error["field"] == "url" and error["code"] == "outbound_refused", url
        assert error["message"].startswith("url：") and zh in error["message"], (url, error)
        r = client.post("/api/v1/webhooks", headers=shop.headers("admin", **EN), json={"url": url})
        assert r.status_code == 422 and en in r.json()["error"]["message"], (url, r.text)
    for url in BAD_FORM:
        r = client.post("/api/v1/webhooks", headers=shop.headers("admin", **EN), json={"url": url})
        assert r.status_code == 422 and r.json()["error"]["field"] == "url", (url, r.text)
    assert count(db, WebhookEndpoint) == 0


def test_every_kind_of_forbidden_address_is_refused_on_the_settings_page_with_nothing_saved(app, db):
    make_shop(db, "cfg")
    web = TestClient(app, headers=ZH)
    sign_in_staff(web, "admin@cfg.test", "pw-admin")
    token = csrf_of(web)
    for url, zh, _en in FORBIDDEN:
        r = web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": url})
        assert r.status_code == 422 and zh in errors(r.text).get("url", ""), (url, errors(r.text))
        assert f'value="{url}"' in r.text  # the form keeps what was typed
    assert count(db, WebhookEndpoint) == 0


def test_the_deployments_allowed_hosts_are_honoured_by_name_address_and_network(db, tmp_path, monkeypatch):
    shop = make_shop(db)
    inside = str(first(NEIGHBOUR) + 9)
    fake_dns(monkeypatch, {"erp.internal.test": [inside], "other.internal.test": [inside],
                           "shop.example.test": [str(PUBLIC_V4)]})

    def save(allowed: str, url: str) -> int:
        app = create_app(Settings(data_dir=tmp_path / "data", database_url="unused",
                                  outbound_allowed_hosts=allowed), db=db)
        with TestClient(app) as c:
            return c.post("/api/v1/webhooks", headers=shop.headers("admin"), json={"url": url}).status_code

    assert save("", "http://127.0.0.1:9/h") == 422  # nothing allowed: loopback refused
    assert save("", "https://shop.example.test/h") == 201  # a public address needs no allowing
    assert save("erp.internal.test", "http://erp.internal.test/h") == 201
    assert save("erp.internal.test", "http://other.internal.test/h") == 422  # same address, name not allowed
    assert save(str(OFFICE), f"http://{OFFICE[3 * 256 + 4]}/h") == 201
    assert save(str(OFFICE), f"http://{first(NEIGHBOUR)}/h") == 422
    assert save("127.0.0.1", f"http://[{mapped(LOOPBACK)}]:9/h") == 201  # the mapped form of an allowed address
    assert count(db, WebhookEndpoint) == 4


def _deliveries(client, shop) -> list[dict]:
    return client.get("/api/v1/outbox?topic=webhook", headers=shop.headers("admin")).json()


def test_a_name_that_resolves_to_a_forbidden_address_when_called_is_refused_then_the_checked_address_is_used(
        client, db, tmp_path, monkeypatch):
    shop = make_shop(db)
    make_order(db, shop)
    log = tmp_path / "hook.jsonl"
    with fake_http(log) as base:
        port = int(base.rsplit(":", 1)[1])
        # Public when saved; the receiver on 127.0.0.1 at every look-up after that (DNS rebinding).
        asked = fake_dns(monkeypatch, {"hooks.rebind.test": [str(PUBLIC_V4), "127.0.0.1"]})
        r = client.post("/api/v1/webhooks", headers=shop.headers("admin"),
                        json={"url": f"http://hooks.rebind.test:{port}/erp", "events": ["open"]})
        assert r.status_code == 201, r.text
        assert client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]}).status_code == 201
        strict = DeliverySettings(outbox_backoff_seconds=1, outbound_allowed_hosts="")
        Worker(db, strict).run_once(T0, timers=False)
        [hook] = _deliveries(client, shop)
        assert hook["status"] == "pending" and "refused" in hook["last_error"], hook
        assert "loopback" in hook["last_error"] and "127.0.0.1" in hook["last_error"]
        assert requests_seen(log) == []  # nothing reached the address behind the name
        # Where the deployment allows the address, the call goes to the address that was checked, under the name.
        asked.clear()
        allowing = DeliverySettings(outbox_backoff_seconds=1, outbound_allowed_hosts="127.0.0.1")
        assert Worker(db, allowing).run_once(T0 + timedelta(seconds=5), timers=False).messages.get("sent") == 1
    [seen] = requests_seen(log)
    assert seen["headers"]["Host"] == f"hooks.rebind.test:{port}" and seen["path"] == "/erp"
    assert asked == ["hooks.rebind.test"]  # resolved once for the call: the connection used that answer


def test_a_provider_url_is_refused_when_called_and_when_a_server_or_worker_starts(client, db, tmp_path):
    import os

    shop = make_shop(db)
    with db.transaction() as s:
        enqueue(s, merchant_id=shop.id, case_id=None, topic="notify", at=T0, payload={
            "channel": "sms", "to": "+8613800000000", "locale": "en", "template": "case_update",
            "data": {"number": "AS1", "state": "approved", "state_label": "Approved"}})
    log = tmp_path / "sms.jsonl"
    with fake_http(log) as url:
        worker = Worker(db, DeliverySettings(sms_url=f"{url}/sms", outbound_allowed_hosts=""))
        assert worker.run_once(T0, timers=False).messages == {"retry": 1}
    [message] = client.get("/api/v1/outbox?topic=notify", headers=shop.headers("admin")).json()
    assert "refused" in message["last_error"] and "loopback" in message["last_error"]
    assert requests_seen(log) == []
    env = {**os.environ, "RETURNFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
           "COLUMNS": "300", "RETURNFLOW_SMS_URL": f"http://{LINK_LOCAL_V4}/sms",
           "RETURNFLOW_PAY_HTTP_URL": f"http://[{PRIVATE_V6 + 4}]/pay"}
    done = run_returnflow(["worker", "--once"], env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    assert "RETURNFLOW_SMS_URL points at a link-local address" in said
    assert "RETURNFLOW_PAY_HTTP_URL points at a private network address" in said


def test_a_failing_receiver_leaves_only_a_short_clean_excerpt_in_the_delivery_log(app, client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    with fake_receiver(tmp_path / "dirty.jsonl", "dirty") as url:
        client.post("/api/v1/webhooks", headers=shop.headers("admin"), json={"url": url, "events": ["open"]})
        client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]})
        Worker(db, DeliverySettings()).run_once(T0, timers=False)
    [hook] = _deliveries(client, shop)
    [attempt] = client.get(f"/api/v1/outbox/{hook['id']}/attempts", headers=shop.headers("admin")).json()
    error = attempt["error"]
    assert attempt["status_code"] == 500 and error.startswith("endpoint answered HTTP 500: <html>FATAL stack at")
    assert len(error) <= len("endpoint answered HTTP 500: ") + 200 and error.endswith("…")
    assert not re.search(r"[\x00-\x1f\x7f\u202e]|\[31m", error)
    web = TestClient(app, headers=EN)
    sign_in_staff(web, "admin@shop.test", "pw-admin")
    page = web.get("/staff/settings/notifications").text
    # The answer repeats its leaked line 250 times; the log keeps the first few lines at most.
    assert 1 <= page.count("hunter2") <= 4 and "\x1b" not in page and "\u202e" not in page


def test_a_receiver_that_never_answers_fails_within_the_timeout(client, db, tmp_path):
    shop = make_shop(db)
    make_order(db, shop)
    with fake_receiver(tmp_path / "hang.jsonl", "hang") as url:
        client.post("/api/v1/webhooks", headers=shop.headers("admin"), json={"url": url, "events": ["open"]})
        client.post("/api/v1/cases", headers=shop.headers(), json={
            "order": "O-1", "type": "refund_only", "lines": [{"line_no": 2, "quantity": 1}]})
        started = time.monotonic()
        Worker(db, DeliverySettings(http_timeout_seconds=0.5)).run_once(T0, timers=False)
        took = time.monotonic() - started
    [hook] = _deliveries(client, shop)
    assert "timed out" in hook["last_error"] and took < 5, (took, hook)


def test_webhook_secrets_are_shown_once_then_masked_in_answers_pages_and_audit_events(app, client, db):
    shop = make_shop(db)
    r = client.post("/api/v1/webhooks", headers=shop.headers("admin"),
                    json={"url": "http://127.0.0.1:9/erp?token=abc123secret"})
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    hint = f"whsec_••••{secret[-4:]}"
    listed = client.get("/api/v1/webhooks", headers=shop.headers("supervisor"))
    assert listed.json()[0]["secret"] == hint and secret not in listed.text
    removed = client.delete(f"/api/v1/webhooks/{r.json()['id']}", headers=shop.headers("admin"))
    assert removed.json()["secret"] == hint and secret not in removed.text
    web = TestClient(app, headers=EN)
    sign_in_staff(web, "admin@shop.test", "pw-admin")
    token = csrf_of(web)
    added = web.post("/staff/settings/notifications/webhooks", data={"csrf": token, "url": "http://127.0.0.1:9/p"})
    page_secret = re.search(r'id="webhook-secret">([^<]+)<', added.text).group(1)
    page = web.get("/staff/settings/notifications").text
    assert page_secret not in page and f"whsec_••••{page_secret[-4:]}" in page
    events = client.get("/api/v1/users/events", headers=shop.headers("admin"))
    assert [e["action"] for e in events.json()] == ["webhook.add", "webhook.remove", "webhook.add"]
    assert secret not in events.text and page_secret not in events.text and "abc123secret" not in events.text
    assert events.json()[2]["details"]["secret"] == hint


@pytest.fixture
def provider_env(monkeypatch):
    from returnflow.notify.config import get_delivery_settings

    monkeypatch.setenv("RETURNFLOW_SMS_URL", "http://127.0.0.1:9/sms?key=qk-7Hs9-provider")
    monkeypatch.setenv("RETURNFLOW_SMS_TOKEN", "tok-provider-9f8e7d")
    monkeypatch.setenv("RETURNFLOW_PUSH_URL", f"http://{PRIVATE_V4 + 6}/push")
    monkeypatch.setenv("RETURNFLOW_SMTP_PASSWORD", "smtp-pass-5521")
    get_delivery_settings.cache_clear()
    yield get_delivery_settings()
    monkeypatch.undo()
    get_delivery_settings.cache_clear()


def test_provider_secrets_never_appear_on_the_settings_page_in_errors_or_in_logged_settings(
        app, client, db, provider_env, tmp_path):
    make_shop(db)
    web = TestClient(app, headers=ZH)
    sign_in_staff(web, "admin@shop.test", "pw-admin")
    page = web.get("/staff/settings/notifications").text
    for secret in ("qk-7Hs9-provider", "tok-provider-9f8e7d", "smtp-pass-5521"):
        assert secret not in page
        assert secret not in repr(provider_env) and secret not in str(provider_env)
    assert "http://127.0.0.1:9/sms?key=•••" in page
    assert "内网地址" in page and str(PRIVATE_V4 + 6) in page  # the push URL the guard refuses is marked with the reason
    try:
        outbound.request("POST", provider_env.sms_url, allowed=provider_env.allowed(), timeout=1)
    except outbound.OutboundError as exc:  # nothing listens on port 9: the error names the URL without the key
        assert "127.0.0.1:9/sms" in str(exc) and "qk-7Hs9" not in str(exc)
    else:
        raise AssertionError("port 9 answered")


def test_a_gateway_behind_a_forbidden_address_is_not_called_and_the_leg_says_why(app, client, db):
    from returnflow.refunds.gateways import GatewaySettings
    from tests.support.money import paid_order, refund_only_case, start_fake_pay

    shop = make_shop(db)
    paid_order(db, shop, lines=(("SKU-A", "100.00", 1),), discount="0.00", shipping="0.00",
               payments=(("alipay", None),))
    assert client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                      json={"gateways": {"alipay": "http"}}).status_code == 200
    case = refund_only_case(db, shop, "M-1")
    refund = client.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={}).json()["number"]
    fake = start_fake_pay()
    try:
        app.state.pay_settings = GatewaySettings(http_url=fake.url, http_api_key=fake.api_key,
                                                 http_webhook_secret=fake.secret, http_timeout=1.0,
                                                 outbound_allowed_hosts="")
        r = client.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance"))
        stats = fake.stats()
    finally:
        fake.stop()
    assert r.status_code == 200, r.text
    [leg] = r.json()["payments"]
    assert leg["state"] == "sent" and leg["provider_ref"] is None
    assert "refused" in leg["last_error"] and "loopback" in leg["last_error"] and fake.api_key not in r.text
    assert stats["posts"] == 0 and stats["refunds"] == {}  # the provider saw nothing
