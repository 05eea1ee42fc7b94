"""The WeChat Pay and Alipay phases of bench/refunds.py: the fake provider processes (tests/support/fake_wechatpay.py,
tests/support/fake_alipay.py, with RSA keys made for the run), the merchant's credentials put through the money
settings API, and a courier that carries WeChat Pay's signed, encrypted notifications to the server as the
platform would (Alipay answers each refund at once: fund_change Y)."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.pay_providers import FakeProvider, start_alipay, start_wechatpay  # noqa: E402

PROVIDER_METHOD = {"wechatpay": "wechat", "alipay": "alipay"}


def start(folder: str) -> dict[str, FakeProvider]:
    return {"wechatpay": start_wechatpay(Path(folder)), "alipay": start_alipay(Path(folder))}


def configure(base: str, admin_token: str, fakes: dict[str, FakeProvider]) -> None:
    """Both providers' credentials; no gateway chosen per method, so wechat and alipay legs go to their provider."""
    body = {"default_gateway": "manual", "providers": {name: fake.settings for name, fake in fakes.items()}}
    request = urllib.request.Request(f"{base}/api/v1/money/settings", method="PUT", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {admin_token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        settings = json.loads(answer.read())
    if not all(settings["providers"][name]["configured"] for name in fakes):
        raise SystemExit(f"providers not configured: {settings['providers']}")


class Courier:
    """Carries a provider's queued notifications to the server until stopped; counts what the server said."""

    def __init__(self, fake: FakeProvider, base: str, merchant: str) -> None:
        self.fake, self.url = fake, f"{base}/api/v1/money/webhooks/{fake.name}/{merchant}"
        self.stopped = threading.Event()
        self.outcomes: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            notes = self.fake.notifications()
            for note in notes:
                request = urllib.request.Request(self.url, data=note["body"].encode(), method="POST",
                                                 headers=note["headers"])
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        outcome = json.loads(answer.read()).get("outcome", "ok") if self.fake.name == "wechatpay" \
                            else answer.read().decode()
                except urllib.error.HTTPError as exc:
                    outcome = f"http {exc.code}"
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if not notes:
                self.stopped.wait(0.02)

    def stop(self) -> dict[str, int]:
        self.stopped.set()
        self.thread.join(timeout=30)
        return self.outcomes


def created(fake: FakeProvider) -> int:
    return fake.stats()["created"]
