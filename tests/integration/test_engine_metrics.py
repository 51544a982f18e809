"""Prometheus metrics: /metrics on the ping server (per-check gauges computed from Redis
at scrape time) and --metrics-port of the engine processes."""

from __future__ import annotations

import asyncio
import re

import pytest
import requests

from pingserver.store import ProjectKeys, Store, now_ms
from tests.conftest import PingServer
from tests.support.engine import EngineProcess, EngineRedis, eventually
from tests.support.engine_fixtures import receiver, single_redis, sstore
from tests.support.receivers import HttpReceiver
from tests.support.redis_server import free_port

__all__ = ["receiver", "single_redis", "sstore"]

pytestmark = pytest.mark.timeout(60)


def value(text: str, metric: str, **labels: str) -> float | None:
    """The sample of `metric` whose labels include `labels`."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(metric)}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


async def test_per_check_gauges(pingserver: PingServer, store: Store,
                                project: ProjectKeys) -> None:
    saved = await store.save_check(project.id, {"name": "nightly", "timeout": 60, "grace": 60})
    assert saved is not None
    uuid = saved[0].uuid
    at = now_ms() - 90_000  # late by now, though no sweeper ran
    await store.ping(uuid, "start", at=at - 12_000)
    await store.ping(uuid, "success", at=at)
    assert requests.get(f"{pingserver.url}/ping/{uuid}/log", timeout=5).status_code == 200

    anonymous = requests.get(f"{pingserver.url}/metrics", timeout=10).text
    assert uuid not in anonymous and "hb_pings_total" in anonymous  # no check names in public
    stranger = await store.create_project("stranger")
    other = requests.get(f"{pingserver.url}/metrics", timeout=10,
                         headers={"Authorization": f"Bearer {stranger.api_key_readonly}"})
    assert uuid not in other.text

    response = requests.get(f"{pingserver.url}/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {project.api_key_readonly}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    labels = {"project": project.id, "check": uuid, "name": "nightly"}
    assert value(text, "hb_check_state", **labels, state="late") == 1.0
    assert value(text, "hb_check_state", **labels, state="up") is None  # one series
    assert value(text, "hb_check_last_ping_timestamp_seconds", **labels) == at / 1000
    assert value(text, "hb_check_last_duration_seconds", **labels) == 12.0
    assert value(text, "hb_check_started", **labels) == 0.0
    assert value(text, "hb_checks", project=project.id, state="late") == 1.0
    assert value(text, "hb_checks", project=project.id, state="down") == 0.0
    assert (value(text, "hb_pings_total", kind="log") or 0) >= 1


async def test_engine_metrics_port(single_redis: EngineRedis, sstore: Store,
                                   receiver: HttpReceiver) -> None:
    port = free_port()
    worker = EngineProcess("worker", single_redis.env(), "metrics",
                           args=("--metrics-port", str(port)))
    try:
        worker.wait_started()
        project = await sstore.create_project("m")
        hook = await sstore.save_channel(project.id, "webhook", "h", {
            "down": {"url": receiver.url + "/m"}})
        saved = await sstore.save_check(project.id, {"name": "x", "timeout": 60, "grace": 60,
                                                     "channels": hook["id"]})
        assert saved is not None
        await sstore.ping(saved[0].uuid, "success", at=now_ms() - 200_000)
        await asyncio.to_thread(receiver.wait_for, 1, "/m")

        async def scrape() -> str:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            return text if value(text, "hb_flip_to_delivered_seconds_count",
                                 channel_kind="webhook") else ""

        text = await eventually(scrape)
        assert value(text, "hb_flips_total", state="down") == 1.0
        assert value(text, "hb_notification_attempts_total", channel_kind="webhook") == 1.0
        assert value(text, "hb_deadline_to_flip_seconds_count") is None  # no labels
        assert re.search(r"^hb_deadline_to_flip_seconds_count 1\.0$", text, re.M)
        assert re.search(r"^hb_sweeps_total \d+", text, re.M)
        assert re.search(r"^hb_sweeper_lag_seconds ", text, re.M)
    finally:
        assert worker.stop() == 0
