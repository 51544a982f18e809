"""Prometheus metrics of the ping server, sweeper and notifier processes.

Counters live in the process that counts; with several uvicorn workers set
PROMETHEUS_MULTIPROC_DIR so that /metrics adds them up (prometheus_client multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter

PINGS = Counter("hb_pings", "Pings received, by the kind they were classified as", ["kind"])
