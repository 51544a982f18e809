"""Prometheus metrics of the ping server, sweeper and notifier processes.

Counters live in the process that counts; with several uvicorn workers set
PROMETHEUS_MULTIPROC_DIR so that /metrics adds them up (prometheus_client multiprocess mode).
Per-check gauges are not kept here: /metrics computes them from Redis at scrape time
(pingserver.api.metrics), so they are right whichever process changed a check.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

# Latencies that matter for alerting are seconds, not milliseconds: buckets from 10 ms to
# 10 minutes, dense around the 1-2 s targets.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
                   30.0, 60.0, 120.0, 300.0, 600.0)

# Ping server
PINGS = Counter("hb_pings", "Pings received, by the kind they were classified as", ["kind"])

# Sweeper
FLIPS = Counter("hb_flips", "State changes made by the sweeper, by new state", ["state"])
SWEEPS = Counter("hb_sweeps", "sweep.lua calls (one shard, one batch)")
SWEEP_ERRORS = Counter("hb_sweep_errors", "Sweeps that failed (Redis unreachable, ...)")
SWEEPER_LAG = Gauge("hb_sweeper_lag_seconds",
                    "Now minus the oldest due deadline found at the last sweep round (0 when "
                    "nothing was due)", multiprocess_mode="max")
DEADLINE_TO_FLIP = Histogram("hb_deadline_to_flip_seconds",
                             "From a computed deadline to the flip recorded by the sweeper",
                             buckets=LATENCY_BUCKETS)
RETICKS = Counter("hb_sweeper_reticks", "Cron/OnCalendar checks whose ticks were recomputed")

# Notifier
EVENTS = Counter("hb_notifier_events", "Stream entries the notifier processed, by flip reason",
                 ["reason"])
NOTIFY_ATTEMPTS = Counter("hb_notification_attempts", "Delivery attempts, by channel kind",
                          ["channel_kind"])
NOTIFY_FAILURES = Counter("hb_notification_failures", "Failed delivery attempts, by channel kind",
                          ["channel_kind"])
NOTIFY_DEAD = Counter("hb_notification_dead_letters",
                      "Deliveries given up after the last attempt, by channel kind",
                      ["channel_kind"])
NOTIFY_DURATION = Histogram("hb_notification_duration_seconds",
                            "Duration of one delivery attempt", ["channel_kind"],
                            buckets=LATENCY_BUCKETS)
FLIP_TO_DELIVERED = Histogram("hb_flip_to_delivered_seconds",
                              "From the flip entering the stream to its successful delivery",
                              ["channel_kind"], buckets=LATENCY_BUCKETS)
DEADLINE_TO_DELIVERED = Histogram("hb_deadline_to_delivered_seconds",
                                  "From the flip time (the computed deadline for timeouts) to "
                                  "its successful delivery", ["channel_kind"],
                                  buckets=LATENCY_BUCKETS)
ALERTS_HELD = Counter("hb_alerts_held", "Alerts held by a silence or a dependency, by kind",
                      ["kind"])
ALERTS_RELEASED = Counter("hb_alerts_released",
                          "Held alerts handed back when their silence or dependency ended")
NOTIFIER_INFLIGHT = Gauge("hb_notifier_inflight_flips",
                          "Flips being delivered (including retries waiting for backoff)",
                          multiprocess_mode="livesum")
NOTIFIER_LAG = Gauge("hb_notifier_lag_entries",
                     "Stream entries the consumer group has not read yet, by shard", ["shard"],
                     multiprocess_mode="max")


def registry() -> CollectorRegistry:
    """The registry to expose: the process's own, or the sum over processes when
    PROMETHEUS_MULTIPROC_DIR is set (several uvicorn workers)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return combined
    return REGISTRY
