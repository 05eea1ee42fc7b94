"""Test helpers for the WeChat Pay and Alipay gateways: RSA keys made for the run, the fake provider processes
(tests.support.fake_wechatpay, tests.support.fake_alipay) and their controls, and the merchant's settings that
point the desk at them."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.processes import ROOT, stop


@lru_cache(maxsize=None)
def keypair(name: str) -> tuple[str, str]:
    """(private PEM, public PEM) of a 2048-bit RSA key, one per name for the whole run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@dataclass
class FakeProvider:
    name: str
    process: subprocess.Popen
    url: str
    settings: dict = field(default_factory=dict)  # what the merchant puts in providers.<name>

    def _call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def config(self, **values) -> dict:
        return self._call("POST", "/_test/config", values)

    def notifications(self, drain: bool = True) -> list[dict]:
        return self._call("GET", "/_test/notifications" + ("?drain=1" if drain else ""))

    def stats(self) -> dict:
        return self._call("GET", "/_test/stats")

    def stop(self) -> None:
        stop(self.process)


def _start(name: str, module: str, args: list[str], settings: dict) -> FakeProvider:
    process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        stop(process)
        raise RuntimeError(f"fake {name} did not start: {line!r}")
    url = f"http://127.0.0.1:{int(line.split()[1])}"
    path = settings.pop("_path", "")
    return FakeProvider(name, process, url, {**settings, "api_url": url + path})


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def start_wechatpay(folder: Path) -> FakeProvider:
    merchant_private, merchant_public = keypair("wechat-merchant")
    platform_private, platform_public = keypair("wechat-platform")
    mchid, serial, platform_serial = "1900000109", secrets.token_hex(20).upper(), "PUB_KEY_ID_" + secrets.token_hex(8)
    api_v3_key = secrets.token_hex(16)  # 32 characters
    args = ["--mchid", mchid, "--serial", serial, "--merchant-public-key", _write(folder, "wx_merchant.pub",
                                                                                 merchant_public),
            "--platform-private-key", _write(folder, "wx_platform.key", platform_private),
            "--platform-serial", platform_serial, "--api-v3-key", api_v3_key]
    return _start("wechatpay", "tests.support.fake_wechatpay", args, {
        "mchid": mchid, "serial_no": serial, "private_key": merchant_private, "api_v3_key": api_v3_key,
        "platform_serial": platform_serial, "platform_public_key": platform_public})


def start_alipay(folder: Path) -> FakeProvider:
    app_private, app_public = keypair("alipay-app")
    alipay_private, alipay_public = keypair("alipay-platform")
    app_id = "2021000123456789"
    args = ["--app-id", app_id, "--app-public-key", _write(folder, "ali_app.pub", app_public),
            "--alipay-private-key", _write(folder, "ali_platform.key", alipay_private)]
    return _start("alipay", "tests.support.fake_alipay", args, {
        "app_id": app_id, "private_key": app_private, "alipay_public_key": alipay_public, "_path": "/gateway.do"})


# ---- the flow through the product's API ----------------------------------------------------------------------

def configure(client, shop, provider: FakeProvider, **extra) -> dict:
    """The merchant's admin puts the provider's credentials into the money settings; returns the answer."""
    r = client.put("/api/v1/money/settings", headers=shop.headers("admin"),
                   json={"providers": {provider.name: {**provider.settings, **extra}}})
    assert r.status_code == 200, r.text
    return r.json()


def request_refund(client, db, shop, provider: FakeProvider, *, method: str, price: str = "100.00",
                   order: str = "M-1") -> str:
    """A paid order (one payment by `method`), the provider configured, a refund-only case approved and its refund
    requested; returns the refund's number."""
    from tests.support.money import paid_order, refund_only_case

    paid_order(db, shop, order, lines=(("SKU-A", price, 1),), discount="0.00", shipping="0.00",
               payments=((method, None),))
    configure(client, shop, provider)
    case = refund_only_case(db, shop, order)
    r = client.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers("agent"), json={})
    assert r.status_code == 201, r.text
    return r.json()["number"]


def execute(client, shop, refund: str) -> dict:
    r = client.post(f"/api/v1/refunds/{refund}/execute", headers=shop.headers("finance"))
    assert r.status_code == 200, r.text
    return r.json()["payments"][0]


def wait_notifications(provider: FakeProvider, n: int = 1, timeout: float = 10) -> list[dict]:
    import time

    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found += provider.notifications()
        if len(found) >= n:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {n} notifications, got {found}")


def deliver(client, shop, provider: FakeProvider, note: dict, **headers):
    return client.post(f"/api/v1/money/webhooks/{provider.name}/{shop.code}", content=note["body"].encode(),
                       headers={**note["headers"], **headers})


def sync(client, shop) -> dict:
    r = client.post("/api/v1/money/sync", params={"older_than_seconds": 0}, headers=shop.headers("finance"))
    assert r.status_code == 200, r.text
    return r.json()


def settlements(db) -> int:
    from sqlalchemy import func, select

    from returnflow.refunds.models import Voucher

    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Voucher).where(Voucher.kind == "refund_settlement"))


def case_state(client, shop, refund: str) -> str:
    r = client.get(f"/api/v1/refunds/{refund}", headers=shop.headers("finance"))
    return r.json()["state"]


def start_stripe(folder: Path, currency: str = "usd") -> FakeProvider:
    secret_key, webhook_secret = "sk_test_" + secrets.token_hex(12), "whsec_" + secrets.token_hex(16)
    args = ["--secret-key", secret_key, "--webhook-secret", webhook_secret, "--currency", currency]
    return _start("stripe", "tests.support.fake_stripe", args, {"secret_key": secret_key,
                                                                "webhook_secret": webhook_secret})
