"""The chart's PrometheusRule, as rendered, evaluated by a real Prometheus scraping a real ping
server's /metrics (with HB_METRICS_KEY): a down check fires HeartbeatCheckDown, an up check
does not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pingserver.store import Store, now_ms
from tests.conftest import PingServer
from tests.support.monitoring import Prometheus
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_for
from tests.unit.test_chart_render import render

pytestmark = pytest.mark.timeout(180)

METRICS_KEY = "scrape-key-for-tests"


def shipped_rules() -> dict[str, Any]:
    """The rule groups exactly as the chart ships them (a rule file has the same shape)."""
    [rule] = [d for d in render("prometheusRule.enabled=true") if d["kind"] == "PrometheusRule"]
    return {"groups": rule["spec"]["groups"]}


@pytest.fixture
def metrics_server(redis_server: RedisServer) -> Iterator[PingServer]:
    server = PingServer(redis_server.url, {"HB_METRICS_KEY": METRICS_KEY})
    yield server
    server.stop()


async def test_down_check_fires_in_prometheus(store: Store, metrics_server: PingServer) -> None:
    project = await store.create_project("prom")
    down = await store.save_check(project.id, {"name": "nightly backup", "timeout": 60,
                                               "grace": 60})
    up = await store.save_check(project.id, {"name": "hourly sync", "timeout": 3600,
                                             "grace": 60})
    assert down is not None and up is not None
    # No sweeper runs: the scrape reports the deadline's state by itself (effective state).
    await store.ping(down[0].uuid, "success", at=now_ms() - 130_000)
    await store.ping(up[0].uuid, "success")
    target = metrics_server.url.removeprefix("http://")
    prometheus = Prometheus(target, METRICS_KEY, shipped_rules())
    try:
        prometheus.start()
        wait_for(prometheus.targets_up, 60, 0.5, "Prometheus scraping the ping server")

        def firing() -> list[dict[str, Any]]:
            # HB_METRICS_KEY shows every project's checks: other tests' too, in this Redis.
            return [a for a in prometheus.alerts() if a["state"] == "firing"
                    and a["labels"]["alertname"] == "HeartbeatCheckDown"
                    and a["labels"].get("project") == project.id]

        [alert] = wait_for(firing, 60, 0.5, "HeartbeatCheckDown firing")
        assert alert["labels"]["name"] == "nightly backup"
        assert alert["labels"]["check"] == down[0].uuid
        assert alert["labels"]["project"] == project.id
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] == "Check nightly backup is down"
        assert all(a["labels"]["name"] != "hourly sync" for a in prometheus.alerts())
    finally:
        prometheus.cleanup()
