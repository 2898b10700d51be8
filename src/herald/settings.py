"""Configuration from ``HERALD_*`` environment variables (and an optional ``.env`` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means SQLite at {var_dir}/herald.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = Field(
        default="",
        description="The URL providers reach Herald at (for status callbacks and their signatures); "
        "empty means http://{host}:{port}.",
    )
    secret_key: str = Field(
        default="",
        description="Encrypts provider secrets and signs tokens; empty means a key generated once "
        "and kept in {var_dir}/secret.key.",
    )
    old_secret_keys: str = Field(default="", description="Comma-separated previous keys, for rotation.")
    default_region: str = Field(default="US", description="Region for phone numbers without a + prefix.")
    token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    max_import_bytes: int = Field(default=256 * 1_048_576, ge=1024, description="Largest CSV upload (413 above)")
    sms_max_segments: int = Field(default=10, ge=1, le=50, description="Longer SMS are refused")
    template_output_limit: int = Field(default=262_144, ge=1024, description="Bytes a template may render to")

    # First start: the credentials to create (otherwise generated and printed once).
    admin_email: str = "admin@herald.localhost"
    admin_password: str = ""
    client_id: str = ""
    client_secret: str = ""

    # Dispatcher
    worker_concurrency: int = Field(default=200, ge=1, le=5000)
    claim_batch: int = Field(default=200, ge=1, le=5000)
    campaign_plan_batch: int = Field(default=20_000, ge=100, le=100_000,
                                     description="Recipients a campaign plans per committed batch")
    lease_seconds: float = Field(default=60.0, ge=5)
    poll_interval: float = Field(default=0.25, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=50)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)

    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        import phonenumbers

        v = v.upper()
        if v not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {v!r}")
        return v

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'herald.db'}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"
