"""Server-side configuration: environment variables with the prefix HB_, validated at start-up."""

from __future__ import annotations

import socket
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """A configuration variable is invalid; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HB_", extra="ignore")

    # Storage
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    redis_timeout: float = Field(2.0, gt=0, le=60)
    # Credentials apart from the URL, so that a password need not be URL-encoded (never
    # both: refused at start-up); used by every connection, sentinel-managed ones included.
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    # Redis Sentinel: "host:port,host:port"; the primary of HB_REDIS_SENTINEL_MASTER is
    # asked for on every (re)connect, and HB_REDIS_URL then only gives the database number.
    redis_sentinels: str = ""
    redis_sentinel_master: str = ""
    redis_sentinel_password: SecretStr = SecretStr("")  # the sentinels' own, if any
    # A ping is acknowledged only after WAIT confirmed this many replicas have it (0: off);
    # below HB_REDIS_TIMEOUT, or the connection would give up on the WAIT first.
    redis_wait_replicas: int = Field(0, ge=0, le=16)
    redis_wait_timeout_ms: int = Field(500, ge=1, le=60_000)

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
    # Each notifier renews a key with this TTL (every third of it); a consumer of the group
    # without one (a pod that got a new name on restart) is gone: its pending entries are
    # taken over at once and it is removed from the group.
    notify_heartbeat_ttl: float = Field(6.0, gt=0, le=600)
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
    # Seconds between re-posts of a firing Alertmanager alert; its endsAt is four of them
    # ahead (engine/channels/alertmanager.py).
    alertmanager_resend: float = Field(60.0, gt=0, le=3600)
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

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_list(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            host, sep, port = item.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{item!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _redis_modes(self) -> Settings:
        if self.redis_sentinels and not self.redis_sentinel_master:
            raise ValueError("HB_REDIS_SENTINEL_MASTER: required with HB_REDIS_SENTINELS")
        if self.redis_cluster and (self.redis_sentinels or self.redis_wait_replicas):
            raise ValueError("HB_REDIS_CLUSTER: cannot be combined with HB_REDIS_SENTINELS "
                             "or HB_REDIS_WAIT_REPLICAS")
        if self.redis_password.get_secret_value() and urlsplit(self.redis_url).password:
            raise ValueError("HB_REDIS_PASSWORD: HB_REDIS_URL has a password already")
        if self.redis_wait_replicas and self.redis_wait_timeout_ms >= self.redis_timeout * 1000:
            raise ValueError("HB_REDIS_WAIT_TIMEOUT_MS: must be below HB_REDIS_TIMEOUT")
        return self


def sentinels(settings: Settings) -> list[tuple[str, int]]:
    """The (host, port) pairs of HB_REDIS_SENTINELS (validated at start-up)."""
    out = []
    for item in filter(None, (part.strip() for part in settings.redis_sentinels.split(","))):
        host, _, port = item.rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


def consumer(settings: Settings) -> str:
    return settings.consumer_name or socket.gethostname()


def load() -> Settings:
    """Read the environment; a bad value raises ConfigError naming the HB_ variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if err["loc"]:
                problems.append(f"HB_{str(err['loc'][0]).upper()}: {err['msg']}")
            else:  # a rule across variables: its message names them
                problems.append(str(err["msg"]).removeprefix("Value error, "))
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load()
