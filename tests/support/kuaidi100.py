"""The fake Kuaidi100 process (tests/support/fake_kuaidi100.py) and a shop that tracks and books pickups through it."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

FAKE = Path(__file__).with_name("fake_kuaidi100.py")
PUBLIC = "http://127.0.0.1:8000"  # what the desk calls itself in callback URLs (the tests deliver by path)


@dataclass
class FakeKuaidi100:
    process: subprocess.Popen
    url: str
    key: str
    secret: str

    def _call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def config(self, **values) -> dict:
        return self._call("POST", "/_test/config", values)

    def push(self, number: str, **values) -> dict:
        """The signed push Kuaidi100 would POST now for `number`: {"url", "form": {"param", "sign"}}."""
        return self._call("POST", "/_test/push", {"number": number, **values})

    def stats(self) -> dict:
        return self._call("GET", "/_test/stats")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_fake_kuaidi100() -> FakeKuaidi100:
    key, secret = secrets.token_hex(8), secrets.token_hex(16)
    process = subprocess.Popen([sys.executable, str(FAKE), "--key", key, "--secret", secret], stdout=subprocess.PIPE,
                               text=True)
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"fake Kuaidi100 did not start: {line!r}")
    return FakeKuaidi100(process, f"http://127.0.0.1:{int(line.split()[1])}", key, secret)


def use_fake(monkeypatch, fake: FakeKuaidi100) -> None:
    monkeypatch.setenv("RETURNFLOW_KUAIDI100_URL", fake.url)
    monkeypatch.setenv("RETURNFLOW_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("RETURNFLOW_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("RETURNFLOW_KUAIDI100_TIMEOUT", "2")


def configure(client, shop, fake: FakeKuaidi100 | None, **extra) -> dict:
    body = {"provider": "kuaidi100", "kuaidi100_key": fake.key, "kuaidi100_secret": fake.secret} if fake else {}
    r = client.put("/api/v1/logistics/settings/tracking", headers=shop.headers("admin"), json={**body, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def deliver(client, push: dict):
    """Posts a push the way Kuaidi100 does: form fields to the callback URL's path."""
    parts = urlsplit(push["url"])
    return client.post(parts.path + (f"?{parts.query}" if parts.query else ""), data=push["form"],
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
