"""Server-side configuration: environment variables with the prefix HB_, validated at start-up."""

from __future__ import annotations

import socket
from functools import lru_cache

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """A configuration variable is invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HB_", extra="ignore")

    # Storage
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    redis_timeout: float = Field(2.0, gt=0, le=60)

    # URLs and keys of the default project
    site_root: str = "http://127.0.0.1:8000"
    api_key: str = ""
    api_key_readonly: str = ""
    ping_key: str = ""
    metrics_key: str = ""  # Bearer token for /metrics with every project's checks

    # Ping path
    ping_body_limit: int = Field(100_000, ge=0, le=10_000_000)
    ping_log_limit: int = Field(100, ge=1, le=10_000)

    # Check validation limits (seconds)
    min_timeout: int = Field(60, ge=1)
    max_timeout: int = Field(365 * 86400, ge=60)

    # Sweeper
    sweep_interval: float = Field(0.5, gt=0, le=10)
    sweep_batch: int = Field(1000, ge=1, le=100_000)
    lease_seconds: float = Field(30.0, gt=0)

    # Notifier
    notify_workers: int = Field(32, ge=1, le=1024)
    notify_timeout: float = Field(10.0, gt=0, le=300)
    notify_max_attempts: int = Field(8, ge=1, le=100)
    notify_backoff_base: float = Field(2.0, gt=0)
    notify_backoff_max: float = Field(600.0, gt=0)
    # Name of this notifier in the consumer group. Stable across restarts (a StatefulSet
    # pod name, or the host name by default) so that a restarted notifier first finishes
    # its own pending entries; notifiers on one host need distinct names.
    consumer_name: str = ""
    # Entries another consumer left pending this long are taken over (XAUTOCLAIM).
    notify_claim_idle: float = Field(60.0, gt=0)
    # Flips per XREADGROUP call, and flips in delivery at once per process.
    notify_batch: int = Field(100, ge=1, le=10_000)
    notify_max_inflight: int = Field(10_000, ge=1)
    # Deliveries at once to one channel (0: a quarter of HB_NOTIFY_WORKERS), so that a
    # hung channel cannot take every worker thread.
    notify_channel_concurrency: int = Field(0, ge=0)
    # How long SIGTERM waits for deliveries in progress before leaving them pending.
    notify_drain_timeout: float = Field(15.0, ge=0)
    # Flip streams keep at least this much history (the API's flips feed reads it).
    stream_retention: float = Field(86400.0, ge=0)
    stream_trim_interval: float = Field(60.0, gt=0)
    # Silences (docs/oncall.md): the longest one-off silence or window, how long expired
    # ones stay listable, and how often notifiers look at held alerts.
    silence_max_duration: int = Field(30 * 86400, ge=60)
    silence_retention: int = Field(5 * 86400, ge=0)
    hold_check_interval: float = Field(0.5, gt=0, le=60)
    # `--metrics-port` of the engine binds here; 0.0.0.0 in a pod so Prometheus can scrape.
    metrics_addr: str = "127.0.0.1"
    log_level: str = "INFO"
    allow_private_webhooks: bool = False
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "heartbeat@localhost"
    smtp_starttls: bool = True

    @field_validator("site_root")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


def consumer(settings: Settings) -> str:
    return settings.consumer_name or socket.gethostname()


def load() -> Settings:
    """Read the environment; a bad value raises ConfigError naming the HB_ variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"HB_{field.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load()
