"""Redis with Sentinel, with real processes: a primary, a replica and three sentinels on
loopback, a real `hb server` and `hb worker` that find the primary through Sentinel
(HB_REDIS_SENTINELS), and WAIT-based acknowledgement (HB_REDIS_WAIT_REPLICAS=1).

The primary is killed with SIGKILL under a bounded ping load: no acknowledged (200) ping is
missing on the new primary, every failure is a 503 (never a 500), pings are accepted again
once the sentinels promoted the replica and the killed node rejoined as a replica (as a
restarted pod does), and the worker follows the new primary. The figures are printed (and
quoted in docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from pingserver.config import Settings
from pingserver.store import Store, now_ms
from tests.conftest import PingServer
from tests.support.api import Api
from tests.support.engine import EngineProcess, eventually
from tests.support.engine_fixtures import receiver
from tests.support.receivers import HttpReceiver
from tests.support.redis_sentinel import MASTER, Sentinels
from tests.support.wait import wait_for

__all__ = ["receiver"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PASSWORD = "fail@over:/#%pw"
MAX_PINGS = 9000  # the ping log keeps them all (HB_PING_LOG_LIMIT)
MAX_SECONDS = 90.0
WAIT_ENV = {"HB_REDIS_WAIT_REPLICAS": "1", "HB_REDIS_WAIT_TIMEOUT_MS": "500",
            "HB_PING_LOG_LIMIT": "10000"}


class PingLoad(threading.Thread):
    """Sequential pings of one check, each numbered in its User-Agent, bounded in count
    and time: (number, status, monotonic time) per ping; status 0 for no answer."""

    def __init__(self, url: str, uuid: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/ping/{uuid}"
        self.results: list[tuple[int, int, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        with requests.Session() as session:
            for n in range(MAX_PINGS):
                if self.halt.is_set() or time.monotonic() > deadline:
                    return
                try:
                    status = session.post(self.url, headers={"User-Agent": f"load-{n}"},
                                          timeout=5).status_code
                except requests.RequestException:
                    status = 0
                self.results.append((n, status, time.monotonic()))

    def acked_since(self, t: float) -> int:
        return sum(1 for _, status, at in list(self.results) if status == 200 and at > t)


@pytest.fixture
def sentinels() -> Iterator[Sentinels]:
    group = Sentinels(password=PASSWORD).start()
    yield group
    group.stop()


def sentinel_settings(group: Sentinels) -> Settings:
    return Settings(redis_url="redis://127.0.0.1/0", redis_sentinels=group.addresses,
                    redis_sentinel_master=MASTER, redis_password=PASSWORD, redis_timeout=1,
                    allow_private_webhooks=True)


async def test_failover_loses_no_acknowledged_ping(sentinels: Sentinels,
                                                   receiver: HttpReceiver) -> None:
    store = Store.from_settings(sentinel_settings(sentinels))
    server = PingServer("redis://127.0.0.1/0", {**sentinels.env(), **WAIT_ENV})
    worker = EngineProcess("worker", sentinels.env(), "sentinel-worker").wait_started()
    load: PingLoad | None = None
    try:
        project = await store.create_project("sentinel")
        api = Api(server.url, project.api_key)
        hook = await asyncio.to_thread(api.channel, "webhook", "hook", **{
            "down": {"method": "GET", "url": receiver.url + "/down/$NAME"}})
        pinged, later = [await asyncio.to_thread(api.create, name=name, timeout=3600,
                                                 grace=60, channels=hook["id"])
                         for name in ("pinged", "later")]
        load = PingLoad(server.url, pinged["uuid"])
        load.start()
        await asyncio.to_thread(wait_for, lambda: load.acked_since(0) >= 300, timeout=30,
                                message="no pings acknowledged before the failover")

        old = sentinels.kill_primary()
        killed = time.monotonic()
        new_port = await asyncio.to_thread(sentinels.wait_promoted, old.port)
        promoted = time.monotonic()
        await asyncio.to_thread(sentinels.rejoin, old)
        rejoined = time.monotonic()
        # Accepted again: 300 more acknowledgements, from the new primary and its replica.
        await asyncio.to_thread(wait_for, lambda: load.acked_since(killed) >= 300,
                                timeout=60, message="pings not accepted after the failover")
        load.halt.set()
        await asyncio.to_thread(load.join, 10)

        results = list(load.results)
        statuses = Counter(status for _, status, _ in results)
        acked = {n for n, status, _ in results if status == 200}
        first_after = min(at for _, status, at in results if status == 200 and at > killed)
        logged = {p["ua"] for p in await store.pings(pinged["uuid"], 10_000)}
        lost = {n for n in acked if f"load-{n}" not in logged}
        check = await asyncio.to_thread(api.check, pinged["uuid"])
        print(f"\nsentinel failover: {len(results)} pings, {len(acked)} acknowledged, "
              f"{len(lost)} acknowledged but lost, statuses {dict(statuses)}; "
              f"promoted {promoted - killed:.1f} s, killed node back as replica "
              f"{rejoined - killed:.1f} s, first 200 after the kill "
              f"{first_after - killed:.1f} s after it; new primary port {new_port}; "
              f"n_pings {check['n_pings']}")
        assert set(statuses) <= {200, 503}, statuses  # never a 500, never no answer
        assert statuses[503] > 0  # the failover was under load
        assert not lost
        assert check["n_pings"] >= len(acked)

        # The worker's sweeper and notifier follow the new primary too.
        await store.ping(later["uuid"], "success", at=now_ms() - 3_661_000)
        await asyncio.to_thread(receiver.wait_for, 1, "/down/", timeout=30)
        assert [r.path for r in receiver.received("/down/")] == ["/down/later"]
    finally:
        if load is not None:
            load.halt.set()
        server.stop()
        assert worker.stop() == 0
        await store.close()
    for log in (server.log.read_text(errors="replace"), worker.output()):
        assert PASSWORD not in log


async def test_without_wait_a_ping_is_acknowledged_by_the_primary_alone(
        sentinels: Sentinels) -> None:
    """The setting is what makes the difference: with the replica stopped, WAIT pings are
    refused with 503 (nothing claimed), plain ones still get 200."""
    store = Store.from_settings(sentinel_settings(sentinels))
    replica_port = next(n.port for n in sentinels.nodes if n.port != sentinels.primary_port())
    with_wait = PingServer("redis://127.0.0.1/0", {**sentinels.env(), **WAIT_ENV})
    without = PingServer("redis://127.0.0.1/0", sentinels.env())
    try:
        project = await store.create_project("wait")
        check = await asyncio.to_thread(Api(with_wait.url, project.api_key).create,
                                        name="w", timeout=3600, grace=60)
        url = f"/ping/{check['uuid']}"
        assert requests.get(with_wait.url + url, timeout=5).status_code == 200
        sentinels.node(replica_port).kill()

        async def refused() -> bool:
            return (await asyncio.to_thread(requests.get, with_wait.url + url,
                                            timeout=5)).status_code == 503

        await eventually(refused, timeout=20, message="WAIT pings still acknowledged")
        assert requests.get(without.url + url, timeout=5).status_code == 200
    finally:
        with_wait.stop()
        without.stop()
        await store.close()
