"""Settings, read from RETURNFLOW_* environment variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a deployment can configure."""

    model_config = SettingsConfigDict(env_prefix="RETURNFLOW_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    # Evidence files: "local" (a folder under data_dir) or "s3" (any S3-compatible object store).
    storage: str = "local"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "returnflow-evidence"
    s3_region: str = "us-east-1"
    s3_connect_timeout_seconds: float = Field(default=5, gt=0)
    s3_read_timeout_seconds: float = Field(default=60, gt=0)
    # Hosts outbound calls (webhooks, SMS/push providers, the payment gateway) may reach although they resolve to a
    # loopback, private or link-local address: names, addresses or networks, comma-separated (e.g. "127.0.0.1,
    # erp.internal" and an office network in CIDR form). Empty: public addresses only.
    outbound_allowed_hosts: str = ""
    max_image_bytes: int = 10 * 1024 * 1024
    max_video_bytes: int = 200 * 1024 * 1024
    # Photos declaring more pixels (width × height, read from the header) are refused as decompression bombs.
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    default_locale: str = "zh-CN"
    case_number_prefix: str = "AS"
    max_reopens: int = Field(default=3, ge=0)
    token_ttl_hours: int = 24 * 30
    # `returnflow serve --demo` only: a marked page shows the messages sent (there is no mail server in a demo).
    demo_inbox: bool = False

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        # Plain postgres:// URLs (as many hosts print them) mean psycopg 3 here.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix):]
        return value

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file under the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'returnflow.db').as_posix()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
