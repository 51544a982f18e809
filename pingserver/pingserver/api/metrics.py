"""`GET /metrics`: Prometheus text format for the whole service.

The process counters and histograms (pings, and in a combined process flips and
notifications) come from prometheus_client's registry, summed over workers when
PROMETHEUS_MULTIPROC_DIR is set. Per-check gauges are computed from Redis at scrape time for
every project, so every replica reports the same, current values:

  hb_check_state{project,check,name,state}      1 for the current state, 0 for the others
  hb_check_started{project,check,name}          1 while a run is in progress
  hb_check_last_ping_timestamp_seconds{...}     unix time of the last success or fail
  hb_check_last_duration_seconds{...}           duration of the last timed run
  hb_checks{project,state}                      number of checks per state
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pingserver import metrics
from pingserver.api.deps import StoreDep
from pingserver.model import STATES, Check

router = APIRouter(tags=["metrics"])

LABELS = ["project", "check", "name"]


class _Families(Collector):
    """A collector that returns metric families computed beforehand (from Redis)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def check_families(checks: list[Check], now_ms: int) -> list[Metric]:
    state = GaugeMetricFamily("hb_check_state", "1 for the check's current state",
                              labels=[*LABELS, "state"])
    started = GaugeMetricFamily("hb_check_started", "1 while a run of the check is in progress",
                                labels=LABELS)
    last_ping = GaugeMetricFamily("hb_check_last_ping_timestamp_seconds",
                                  "Unix time of the check's last success or failure signal",
                                  labels=LABELS)
    duration = GaugeMetricFamily("hb_check_last_duration_seconds",
                                 "Duration of the check's last timed run (start to finish)",
                                 labels=LABELS)
    totals = GaugeMetricFamily("hb_checks", "Checks per project and state",
                               labels=["project", "state"])
    counts: dict[tuple[str, str], int] = {}
    for check in checks:
        labels = [check.project, check.uuid, str(check.config["name"])]
        current = check.effective_status(now_ms)
        for name in STATES:
            state.add_metric([*labels, name], 1.0 if name == current else 0.0)
        started.add_metric(labels, 1.0 if check.started else 0.0)
        if check.last_ping:
            last_ping.add_metric(labels, check.last_ping / 1000)
        if check.last_duration:
            duration.add_metric(labels, check.last_duration / 1000)
        counts[(check.project, current)] = counts.get((check.project, current), 0) + 1
    for (project, name), n in sorted(counts.items()):
        totals.add_metric([project, name], float(n))
    return [state, started, last_ping, duration, totals]


async def render(store: Any) -> bytes:
    checks = await store.all_checks()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(check_families(checks, int(time.time() * 1000))))
    return generate_latest(metrics.registry()) + generate_latest(registry)


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def prometheus_metrics(store: StoreDep) -> Response:
    return Response(await render(store), media_type=CONTENT_TYPE_LATEST)
