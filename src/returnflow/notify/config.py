"""Delivery settings (RETURNFLOW_* environment variables): SMTP, SMS and push providers, retries, the worker."""

from __future__ import annotations

import time
from typing import Literal
from functools import lru_cache

from pydantic import Field, PrivateAttr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..outbound import Allowed, Refused, Unresolved, redact_url, target


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNFLOW_", env_file=".env", extra="ignore")

    smtp_host: str = ""  # empty: email is not configured, and email messages wait with that error
    smtp_port: int = 25
    smtp_from: str = "returnflow@localhost"
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    # SMS and push go to HTTP providers: POST JSON {"to", "text", "subject", "message_id"}, answer JSON {"id": ...}.
    sms_url: str = ""
    sms_token: str = Field(default="", repr=False)
    push_url: str = ""
    push_token: str = Field(default="", repr=False)
    # "aliyun": text messages go out as approved Aliyun SMS templates (SendSms); each merchant sets, per notification
    # template, the Aliyun template code, signature name and parameters (PUT /api/v1/notify/provider-templates).
    sms_provider: Literal["http", "aliyun"] = "http"
    # The provider's endpoints are the deployment's to give (RETURNFLOW_ALIYUN_SMS_URL, RETURNFLOW_WECHAT_API_URL;
    # docs/integrations.md): the repository names no outside address.
    aliyun_sms_url: str = ""
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = Field(default="", repr=False)
    aliyun_region: str = "cn-hangzhou"
    # WeChat template messages (official account) or subscribe messages (mini program), to a customer's openid.
    wechat_api_url: str = ""
    wechat_appid: str = ""
    wechat_secret: str = Field(default="", repr=False)
    wechat_kind: Literal["template", "subscribe"] = "subscribe"
    http_timeout_seconds: float = Field(default=10, gt=0)
    # The same variable as Settings.outbound_allowed_hosts (RETURNFLOW_OUTBOUND_ALLOWED_HOSTS), read by the worker.
    outbound_allowed_hosts: str = ""
    _checked: tuple[float, dict] | None = PrivateAttr(default=None)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_seconds: float = Field(default=30, ge=0)
    outbox_backoff_max_seconds: float = Field(default=3600, ge=0)
    outbox_lease_seconds: float = Field(default=120, gt=0)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_batch: int = Field(default=500, ge=1)
    # Deliveries side by side per worker, each on its own lane (a merchant's destination): see notify.dispatch.
    delivery_threads: int = Field(default=4, ge=1, le=64)
    # `returnflow serve` runs a worker beside the API unless this is false (scale-out runs `returnflow worker`).
    embedded_worker: bool = True

    def sms_on(self) -> bool:
        """Whether text messages can go out at all (templates aside)."""
        if self.sms_provider == "aliyun":
            return bool(self.aliyun_sms_url and self.aliyun_access_key_id and self.aliyun_access_key_secret)
        return bool(self.sms_url)

    def allowed(self) -> Allowed:
        return Allowed.parse(self.outbound_allowed_hosts)

    def __repr_args__(self):
        # Secrets are left out of repr (repr=False); URLs, which may carry a key in their query, are shown redacted.
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name and name.endswith("_url") and value else value

    def problems_in(self, locale: str) -> dict[str, str]:
        """Provider URLs that may not be called, by variable: {name: why, in `locale`}."""
        return {name: exc.said(locale) for name, exc in self._refusals().items()}

    def _refusals(self) -> dict[str, Refused]:
        """The outbound guard's refusal of each provider URL, resolved at most once a minute, so the settings page
        does not wait on the resolver each time."""
        if self._checked is not None and time.monotonic() - self._checked[0] < 60:
            return self._checked[1]
        found = {}
        for name in ("sms_url", "push_url") + (("aliyun_sms_url",) if self.sms_provider == "aliyun" else ()) + (
                ("wechat_api_url",) if self.wechat_appid else ()):
            url = getattr(self, name)
            if url:
                try:
                    target(url, self.allowed())
                except Unresolved:
                    continue  # a name that does not resolve now is checked again at each call
                except Refused as exc:
                    found[f"RETURNFLOW_{name.upper()}"] = exc
        self._checked = (time.monotonic(), found)
        return found


@lru_cache
def get_delivery_settings() -> DeliverySettings:
    return DeliverySettings()
