"""Delivery settings (RETURNFLOW_* environment variables): SMTP, SMS and push providers, retries, the worker."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETURNFLOW_", env_file=".env", extra="ignore")

    smtp_host: str = ""  # empty: email is not configured, and email messages wait with that error
    smtp_port: int = 25
    smtp_from: str = "returnflow@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 10
    # SMS and push go to HTTP providers: POST JSON {"to", "text", "subject", "message_id"}, answer JSON {"id": ...}.
    sms_url: str = ""
    sms_token: str = ""
    push_url: str = ""
    push_token: str = ""
    http_timeout_seconds: float = 10
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


@lru_cache
def get_delivery_settings() -> DeliverySettings:
    return DeliverySettings()
