"""A merchant's credentials for each payment provider, kept in the merchant's money settings.

Secret fields (private keys, the WeChat Pay API v3 key) are given either as the value itself or as a reference
`env:RETURNFLOW_PAY_<NAME>` to an environment variable of the deployment (the existing pattern for gateway secrets:
the operator puts the key into the environment, the merchant names it). They are never returned: reading the
settings shows a secret as `••••••` (or its `env:` reference); sending that mask back, or leaving the field out,
keeps what is stored. Public material (the platform's public key or certificate, ids, serial numbers) is shown.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field

from ...errors import Explained
from ...i18n import N_, every, said
from . import crypto

MASK = "••••••"
ENV_PREFIX = "RETURNFLOW_PAY_"
SECRETS = {"wechatpay": ("private_key", "api_v3_key"), "alipay": ("private_key",),
           "stripe": ("secret_key", "webhook_secret")}
# The keys each provider needs before a refund can be sent to it.
REQUIRED = {"wechatpay": ("mchid", "serial_no", "private_key", "api_v3_key", "platform_public_key", "api_url"),
            "alipay": ("app_id", "private_key", "alipay_public_key", "api_url"),
            "stripe": ("secret_key", "webhook_secret", "api_url")}
NAMES = {"wechatpay": N_("WeChat Pay"), "alipay": N_("Alipay"), "stripe": "Stripe"}  # msgids (a brand: as it is)
# The keys' names as msgids of the catalogs.
KEY_NAMES = {"mchid": N_("merchant id (mchid)"), "serial_no": N_("merchant certificate serial number"),
                  "private_key": N_("private key"), "api_v3_key": N_("API v3 key"),
                  "platform_serial": N_("platform certificate serial number"),
                  "platform_public_key": N_("platform public key"), "app_id": N_("app id"),
                  "alipay_public_key": N_("Alipay public key"), "api_url": N_("API address"),
                  "notify_url": N_("notification address"), "secret_key": N_("secret key"),
                  "webhook_secret": N_("webhook signing secret")}


class WechatPayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mchid: str = Field(default="", max_length=32)
    serial_no: str = Field(default="", max_length=64, description="the merchant API certificate's serial number")
    private_key: str | None = Field(default=None, max_length=8000, description="PEM, or env:RETURNFLOW_PAY_…")
    api_v3_key: str | None = Field(default=None, max_length=200, description="32 characters, or env:RETURNFLOW_PAY_…")
    platform_serial: str = Field(default="", max_length=64, description="the platform key's serial (public key id)")
    platform_public_key: str = Field(default="", max_length=8000, description="PEM public key or certificate")
    api_url: str = Field(default="", max_length=300)
    notify_url: str = Field(default="", max_length=300, description="where WeChat Pay posts refund notifications")


class AlipayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(default="", max_length=32)
    private_key: str | None = Field(default=None, max_length=8000, description="PEM, or env:RETURNFLOW_PAY_…")
    alipay_public_key: str = Field(default="", max_length=8000, description="PEM or base64 public key")
    api_url: str = Field(default="", max_length=300, description="the gateway address (…/gateway.do)")
    notify_url: str = Field(default="", max_length=300)


class StripeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_key: str | None = Field(default=None, max_length=300, description="sk_…, or env:RETURNFLOW_PAY_…")
    webhook_secret: str | None = Field(default=None, max_length=300, description="whsec_…, or env:RETURNFLOW_PAY_…")
    api_url: str = Field(default="", max_length=300)


class ProvidersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wechatpay: WechatPayIn | None = None
    alipay: AlipayIn | None = None
    stripe: StripeIn | None = None


class ConfigProblem(ValueError):
    """A provider key that cannot be used: `field`, and `text` (a msgid with {placeholders} from `values`; `{name}`
    is the key's name, from KEY_NAMES)."""

    def __init__(self, field: str, text: str, /, **values) -> None:
        self.field, self.text, self.values = field, text, values
        super().__init__(self.said("en"))

    def said(self, locale: str) -> str:
        return said(locale, self.text, self.values)

    @property
    def en(self) -> str:
        return self.said("en")

    @property
    def zh(self) -> str:
        return self.said("zh-CN")

    def refusal(self) -> Explained:
        return Explained(self.field, self.text, **self.values)


def resolve(value: str | None) -> str:
    """The secret itself: a literal value, or the environment variable an `env:` reference names."""
    if value and value.startswith("env:"):
        return os.environ.get(value[4:], "")
    return value or ""


def merge(name: str, given: BaseModel, stored: dict | None) -> dict:
    """The provider's settings to store from what was sent: a secret left out or sent back masked keeps the
    stored one. Raises ConfigProblem (naming the field) for a key that cannot be used."""
    stored = stored or {}
    value = given.model_dump()
    for secret in SECRETS[name]:
        if value.get(secret) in (None, "", MASK):
            value[secret] = stored.get(secret, "")
        elif value[secret].startswith("env:") and not re.fullmatch(rf"env:{ENV_PREFIX}[A-Z0-9_]+", value[secret]):
            raise ConfigProblem(f"providers.{name}.{secret}",
                                N_("{name}: an environment reference must name a {prefix}… variable"),
                                name=every(KEY_NAMES[secret]), prefix=ENV_PREFIX)
    _check_keys(name, value)
    return value


def _check_keys(name: str, value: dict) -> None:
    def bad(field: str, text: str):
        return ConfigProblem(f"providers.{name}.{field}", text, name=every(KEY_NAMES[field]))

    private = value.get("private_key") or ""
    if private and not private.startswith("env:"):
        try:
            crypto.private_key(private)
        except crypto.KeyError_:
            raise bad("private_key", N_("{name}: not a readable RSA private key (PEM)")) from None
    public_field = {"wechatpay": "platform_public_key", "alipay": "alipay_public_key"}.get(name)
    if public_field and value.get(public_field):
        try:
            crypto.public_key(value[public_field])
        except crypto.KeyError_:
            raise bad(public_field, N_("{name}: not a readable RSA public key or certificate")) from None
    v3 = value.get("api_v3_key") or ""
    if name == "wechatpay" and v3 and not v3.startswith("env:") and len(v3.encode()) != 32:
        raise bad("api_v3_key", N_("{name}: must be exactly 32 characters"))


def shown(providers: dict | None) -> dict:
    """The providers' settings as they may be read back: secrets masked, references named."""
    out = {}
    for name, value in (providers or {}).items():
        item = dict(value)
        for secret in SECRETS.get(name, ()):
            if item.get(secret):
                item[secret] = item[secret] if item[secret].startswith("env:") else MASK
        item["configured"] = not missing(name, value)
        out[name] = item
    return out


def missing(name: str, value: dict | None) -> list[str]:
    """The settings the provider still needs (their keys), [] when it can be used."""
    value = value or {}
    return [k for k in REQUIRED[name] if not (resolve(value.get(k)) if k in SECRETS[name] else value.get(k))]
