"""Engine settings that are not (yet) part of pingserver.config.Settings.

They are read from the same HB_ environment, so a deployment sets them like any other
variable. Kept apart so that the shared Settings class stays owned by one module.
"""

from __future__ import annotations

import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HB_", extra="ignore")

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
    # --metrics-port binds here; 0.0.0.0 in a pod so that Prometheus can scrape it.
    metrics_addr: str = "127.0.0.1"
    log_level: str = "INFO"

    def consumer(self) -> str:
        return self.consumer_name or socket.gethostname()
